import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Why the ledger cannot open.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// Set when another process holds the directory's lock (`LedgerLock`).
    public let directoryInUse: Bool
    public init(_ description: String, directoryInUse: Bool = false) {
        self.description = description
        self.directoryInUse = directoryInUse
    }
}

extension Ledger {
    /// Locks the directory, recovers it and starts the writer. `notify` runs
    /// a closure on the event-loop thread (the kernel passes its waker).
    ///
    /// The lock comes first: nothing in the directory is read or changed
    /// while another process holds it (`directoryInUse`), and it is held
    /// until `close()`.
    public func open(notify: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) throws(LedgerError) -> RecoveryReport {
        try lockDirectories()
        do throws(LedgerError) {
            let report = try recover(notify: notify)
            countListedKeys()
            return report
        } catch {
            locks = []
            throw error
        }
    }

    /// Takes `LedgerLock` on the directory and on the archive directory,
    /// creating them: two servers on one directory truncate and append over
    /// each other's frames, and a server whose archive is another's ledger
    /// renames segments into it. The pid goes into the lock files only once
    /// both are held.
    private func lockDirectories() throws(LedgerError) {
        var places = [(config.dir, "ledger directory")]
        if let archive = config.archiveDir { places.append((archive, "ledger archive directory")) }
        var taken: [LedgerLock] = []
        for (path, what) in places {
            do throws(LedgerIOError) { try FileIO.makeDirectories(path) } catch { throw LedgerError("\(what): \(error)") }
            if taken.contains(where: { $0.covers(path) }) { continue }
            do throws(LedgerLock.Failure) {
                taken.append(try LedgerLock.acquire(path, what: what))
            } catch {
                if case .inUse = error { throw LedgerError(error.description, directoryInUse: true) }
                throw LedgerError(error.description)
            }
        }
        do throws(LedgerLock.Failure) { for lock in taken { try lock.recordPid() } } catch { throw LedgerError(error.description) }
        locks = taken
    }

    /// Why `open` could not make or use the ledger's directories, found
    /// without creating or changing anything (`vimana check`, and `start`
    /// before it binds): a path that is not a directory, or one that does
    /// not exist and cannot be created, or that cannot be written. A lock
    /// held by another server is not reported here: that is the state of the
    /// moment, not of the configuration.
    public static func directoryProblems(_ config: LedgerConfig) -> [String] {
        var places = [(config.dir, "ledger directory")]
        if let archive = config.archiveDir { places.append((archive, "ledger archive directory")) }
        return places.compactMap { path, what in directoryProblem(path).map { "\(what) '\(path)': \($0)" } }
    }

    /// Why `path` cannot be used or created as a directory, or nil.
    static func directoryProblem(_ path: String) -> String? {
        guard !path.isEmpty else { return "empty path" }
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { return "exists and is not a directory" }
            guard access(path, W_OK | X_OK) == 0 else { return "not writable (\(String(cString: strerror(errno))))" }
            return nil
        }
        guard errno == ENOENT else { return String(cString: strerror(errno)) }
        // Created as `FileIO.makeDirectories` would: the nearest existing
        // ancestor must be a directory this process can write.
        var ancestor = path
        while true {
            if let slash = ancestor.lastIndex(of: "/") {
                ancestor = slash == ancestor.startIndex ? "/" : String(ancestor[..<slash])
            } else {
                ancestor = "."
            }
            if stat(ancestor, &st) == 0 { break }
            guard errno == ENOENT, ancestor != ".", ancestor != "/" else {
                return "cannot be created: '\(ancestor)': \(String(cString: strerror(errno)))"
            }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "cannot be created: '\(ancestor)' is not a directory" }
        guard access(ancestor, W_OK | X_OK) == 0 else {
            return "cannot be created: '\(ancestor)' is not writable (\(String(cString: strerror(errno))))"
        }
        return nil
    }

    /// Only the active segment is scanned: its frames are CRC-checked, those
    /// after the index checkpoint are inflated, and a torn tail is truncated.
    /// Damage that is not a torn tail (valid frames follow it) stops the open
    /// before any file is changed (Protocol/LEDGER.md §5). Sealed segments are
    /// trusted through their index when it is valid, and rebuilt by scanning
    /// when it is not; one found damaged is served around its damage.
    private func recover(notify: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) throws(LedgerError) -> RecoveryReport {
        let started = Clock.monotonicNanos()
        var report = RecoveryReport()
        let dir = config.dir
        do throws(LedgerIOError) {
            for name in try FileIO.list(dir) where name.hasSuffix(".tmp") { try FileIO.unlink(dir + "/" + name) }
        } catch {
            throw LedgerError("ledger directory: \(error)")
        }
        guard let scanner = try? SegmentScanner() else { throw LedgerError("zlib initialisation failed") }
        self.scanner = scanner
        var names: [String]
        do throws(LedgerIOError) { names = try LedgerDirectory.segments(in: dir) } catch { throw LedgerError("\(error)") }
        if names.isEmpty { names = [LedgerDirectory.segmentName(1)] }

        // The active segment first: corruption there stops the open before
        // any file is touched. Then sealed segments: index when valid, else a full scan.
        let activeName = names[names.count - 1]
        let active = try recoverActive(activeName, scanner: scanner, report: &report)
        for name in names.dropLast() {
            let view = openSealed(name, scanner: scanner, report: &report)
            segments.append(view)
        }
        segments.append(active.view)
        let repaired = LedgerDirectory.repairedGaps(in: dir)
        for i in 1..<segments.count where segments[i - 1].index.nextSequence != segments[i].index.firstSequence {
            let gap = SequenceGap(first: segments[i - 1].index.nextSequence, next: segments[i].index.firstSequence)
            // Damage at the end of a segment, or a repair (LEDGER.md §1), explains a gap.
            if segments[i - 1].damage != nil || repaired.contains(gap) { continue }
            report.problems.append("gap between \(segments[i - 1].name) (ends before \(segments[i - 1].index.nextSequence)) and \(segments[i].name)")
        }
        nextSequence = active.view.index.nextSequence
        runsFrom = nextSequence
        writtenSequence = nextSequence
        durableSequence = nextSequence
        // Saturating: each index is checked alone, and a damaged directory
        // (overlapping segments) must not make the sum trap.
        for view in segments {
            report.records = report.records.addingSaturating(view.readableRecords)
            for (topic, t) in view.index.topics where t.count > 0 {
                topic.withUnsafeBytes { raw in
                    let i = streamIndex(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, raw.count)
                    if streams[i].first == nil { streams[i].first = t.first }
                    streams[i].length = streams[i].length.addingSaturating(t.count)
                    streams[i].entriesAdded = streams[i].entriesAdded.addingSaturating(t.count)
                    streams[i].lastID = max(streams[i].lastID, t.last)
                }
            }
        }
        report.segments = segments.count

        let writer: LedgerWriter
        do {
            writer = try LedgerWriter(config: config, active: active.writerState) { [unowned self] event, wakeLoop in
                post(event, wakeLoop: wakeLoop, notify: notify)
            }
        } catch {
            throw LedgerError("zlib initialisation failed: \(error)")
        }
        self.writer = writer
        writer.start()
        let maintenance = LedgerMaintenance(directory: dir, compactionLevel: config.compactionLevel,
                                            archiveDirectory: config.archiveDir) { [unowned self] event in
            notify { self.handle(event) }
        }
        self.maintenance = maintenance
        maintenance.start()
        startReader(notify: notify)
        recoverRemovals()
        // Segments sealed before a restart and not yet rewritten in large frames.
        for view in segments.dropLast() where view.damage == nil && !view.index.compacted && view.index.recordCount > 0 {
            maintenance.submit(.compact(view.name))
        }
        report.nanos = Clock.monotonicNanos() - started
        return report
    }

    private func openSealed(_ name: String, scanner: SegmentScanner, report: inout RecoveryReport) -> SegmentView {
        let path = config.dir + "/" + name
        let first = LedgerDirectory.firstSequence(ofSegment: name) ?? 0
        let size = FileIO.size(path: path) ?? 0
        let indexPath = config.dir + "/" + LedgerDirectory.indexName(forSegment: name)
        if let bytes = Self.readFile(indexPath), let index = SegmentIndex.decode(bytes),
           index.firstSequence == first, index.coveredBytes == UInt64(size), index.sealed {
            return SegmentView(name: name, path: path, index: index, size: size)
        }
        // Rebuild from the segment itself, past any damage.
        let view = SegmentView(name: name, path: path, index: SegmentIndex(firstSequence: first), size: size)
        guard let (index, damage) = surveySealed(view, scanner: scanner) else {
            report.problems.append("\(name): cannot open for reading")
            markDamaged(view, unreadableSegment(view))
            return view
        }
        view.index = index
        if let damage {
            // Its index stays unwritten: it would describe a segment with holes.
            markDamaged(view, damage)
            let first = damage.stretches[0]
            report.problems.append("damaged sealed segment \(name): frame \(first.frame) at offset \(first.offset): \(first.reason)"
                                   + (damage.stretches.count > 1 ? " (and \(damage.stretches.count - 1) more damaged stretches)" : "")
                                   + "; its valid frames are served, reads across the damage answer an error "
                                   + "(run vimana ledger verify, then vimana ledger repair)")
        } else {
            let bytes = index.encoded()
            bytes.withUnsafeBytes { raw in
                try? FileIO.replace(indexPath, with: raw, durable: true, directory: config.dir)
            }
        }
        return view
    }

    struct RecoveredActive {
        var view: SegmentView
        var writerState: LedgerWriter.ActiveSegment
    }

    private func recoverActive(_ name: String, scanner: SegmentScanner, report: inout RecoveryReport) throws(LedgerError) -> RecoveredActive {
        let dir = config.dir
        let path = dir + "/" + name
        let first = LedgerDirectory.firstSequence(ofSegment: name) ?? 1
        let fd: Int32
        do throws(LedgerIOError) { fd = try FileIO.open(path, O_RDWR | O_CREAT) } catch { throw LedgerError("\(error)") }
        defer { Glibc.close(fd) }
        let size = FileIO.size(fd)
        let indexPath = dir + "/" + LedgerDirectory.indexName(forSegment: name)
        var checkpoint: SegmentIndex?
        if let bytes = Self.readFile(indexPath), let index = SegmentIndex.decode(bytes),
           index.firstSequence == first, index.coveredBytes <= UInt64(size) {
            checkpoint = index
        }
        func survey(from checkpoint: SegmentIndex?) -> (SegmentIndex, SegmentSurvey) {
            var index = checkpoint ?? SegmentIndex(firstSequence: first)
            index.sealed = false
            let decodeFrom = Int(checkpoint?.coveredBytes ?? 0)
            let outcome = scanner.survey(fd: fd, path: path, size: size, sequence: first, active: true,
                                         decodeFrom: decodeFrom) { location, records in
                guard let records else { return }
                index.addFrame(offset: UInt64(location.offset), header: location.header,
                               records: records.map { RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic) })
            }
            return (index, outcome)
        }
        var (index, outcome) = survey(from: checkpoint)
        if let cp = checkpoint, (outcome.damage.first?.offset ?? outcome.validEnd) < Int(cp.coveredBytes) || outcome.nextSequence < cp.nextSequence {
            // The checkpoint describes frames that are no longer whole: distrust it.
            (index, outcome) = survey(from: nil)
        } else if checkpoint != nil {
            report.usedCheckpoint = true
        }
        if outcome.isCorrupt {
            throw corruption(outcome, segment: name, path: path)
        }
        if let torn = outcome.tornTail, case .tornTail(let records, let exact) = torn.kind {
            let dropped = size - torn.offset
            do throws(LedgerIOError) {
                try FileIO.truncate(fd, to: torn.offset, path: path)
                try FileIO.fsync(fd, path: path)
            } catch {
                throw LedgerError("cannot truncate the torn tail: \(error)")
            }
            report.truncatedBytes = dropped
            report.droppedRecords = Int(clamping: records)
            report.droppedRecordsExact = exact
            log.warn("ledger tail truncated", ["segment": .string(name), "offset": .int(torn.offset),
                                               "bytes_dropped": .int(dropped), "records_dropped": .int(Int(clamping: records)),
                                               "records_dropped_exact": .bool(exact),
                                               "reason": .string(torn.error.description)])
        }
        let writeFD: Int32
        do throws(LedgerIOError) { writeFD = try FileIO.open(path, O_WRONLY | O_APPEND) } catch { throw LedgerError("\(error)") }
        let view = SegmentView(name: name, path: path, index: index, size: outcome.validEnd)
        return RecoveredActive(view: view, writerState: .init(fd: writeFD, name: name, path: path,
                                                              size: outcome.validEnd, index: index))
    }

    /// Why the active segment is not opened: damage that a torn tail does
    /// not explain. Names the segment, frame, offset, what failed and what
    /// follows, and the command that repairs it; nothing has been changed.
    private func corruption(_ survey: SegmentSurvey, segment: String, path: String) -> LedgerError {
        guard let bad = survey.damage.first(where: { !$0.isTornTail }) else { return LedgerError("corrupt active segment \(path)") }
        var why: String
        switch bad.kind {
        case .followed(let next):
            why = "\(bad.framesAfter) valid frames (\(bad.recordsAfter) records) follow it, so it is not a torn tail"
            why += next > bad.firstSequence ? " (\(SequenceGap(first: bad.firstSequence, next: next)) in the damaged bytes)" : ""
        case .trailing(let whole):
            why = "it is the last frame but was written whole (its data holds \(whole ?? 0) records), so it is not a torn tail"
        case .tornTail:
            why = ""
        }
        let more = survey.damage.count - 1
        log.error("ledger corrupt", ["segment": .string(segment), "frame": .int(bad.frame), "offset": .int(bad.offset),
                                     "error": .string(bad.error.description), "valid_frames_after": .int(bad.framesAfter),
                                     "records_after": .int(Int(clamping: bad.recordsAfter)),
                                     "repair": .string("vimana ledger repair \(config.dir)")])
        return LedgerError("corrupt active segment \(path): frame \(bad.frame) at offset \(bad.offset): \(bad.error); \(why)"
                           + (more > 0 ? "; \(more) more damaged stretch\(more == 1 ? "" : "es") after it" : "")
                           + ". No file was changed. Run `vimana ledger repair \(config.dir)`: it moves the damaged "
                           + "bytes to \(config.dir)/\(LedgerDirectory.damagedDirectory)/ and keeps every valid frame")
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let fd = try? FileIO.open(path, O_RDONLY) else { return nil }
        defer { Glibc.close(fd) }
        let size = FileIO.size(fd)
        guard size > 0, size < LedgerLimits.maxIndexFileBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let n = bytes.withUnsafeMutableBytes { FileIO.pread(fd, $0.baseAddress!, size, at: 0) }
        return n == size ? bytes : nil
    }

    /// Writes what is queued, syncs, and stops the threads (at shutdown).
    public func close() {
        commit()
        reader?.stop()
        reader = nil
        backgroundReads.removeAll()
        maintenance?.stop()
        if let writer {
            // The writer wrote and fsynced what it could before stopping; its
            // last reports will never be delivered (the loop has stopped).
            let durable = writer.stop()
            if durable < nextSequence {
                log.error("ledger closed with records not on disk", ["durable_sequence": .int(Int(durable)),
                          "next_sequence": .int(Int(nextSequence)), "error": .string(writeError?.description ?? "")])
            }
            writtenSequence = durable
            durableSequence = durable
            pendingBytes = 0
        }
        writer = nil
        maintenance = nil
        // Only now that nothing writes to the directory any more.
        locks = []
    }
}
