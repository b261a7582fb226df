import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// Why the ledger cannot open.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Ledger {
    /// Recovers the directory and starts the writer. `notify` runs a closure
    /// on the event-loop thread (the kernel passes its waker).
    ///
    /// Only the active segment is scanned: its frames are CRC-checked, those
    /// after the index checkpoint are inflated, and a torn or corrupt tail is
    /// truncated. Sealed segments are trusted through their index when it is
    /// valid, and rebuilt by scanning when it is not.
    public func open(notify: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) throws(LedgerError) -> RecoveryReport {
        let started = Clock.monotonicNanos()
        var report = RecoveryReport()
        let dir = options.directory
        do throws(LedgerIOError) {
            try FileIO.makeDirectories(dir)
            for name in try FileIO.list(dir) where name.hasSuffix(".tmp") { try FileIO.unlink(dir + "/" + name) }
        } catch {
            throw LedgerError("ledger directory: \(error)")
        }
        guard let scanner = try? SegmentScanner() else { throw LedgerError("zlib initialisation failed") }
        self.scanner = scanner
        var names: [String]
        do throws(LedgerIOError) { names = try LedgerDirectory.segments(in: dir) } catch { throw LedgerError("\(error)") }
        if names.isEmpty { names = [LedgerDirectory.segmentName(1)] }

        // Sealed segments: index when valid, else a full scan.
        for name in names.dropLast() {
            let view = openSealed(name, scanner: scanner, report: &report)
            segments.append(view)
        }
        // The active segment: scan, truncate a torn tail.
        let activeName = names[names.count - 1]
        let active = try recoverActive(activeName, scanner: scanner, report: &report)
        segments.append(active.view)
        for i in 1..<segments.count where segments[i - 1].index.nextSequence != segments[i].index.firstSequence {
            report.problems.append("gap between \(segments[i - 1].name) (ends before \(segments[i - 1].index.nextSequence)) and \(segments[i].name)")
        }
        nextSequence = active.view.index.nextSequence
        writtenSequence = nextSequence
        durableSequence = nextSequence
        for view in segments {
            report.records += view.index.recordCount
            for (topic, t) in view.index.topics where t.count > 0 {
                topic.withUnsafeBytes { raw in
                    let i = streamIndex(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, raw.count)
                    if streams[i].first == nil { streams[i].first = t.first }
                    streams[i].length += t.count
                    streams[i].entriesAdded += t.count
                    streams[i].lastID = max(streams[i].lastID, t.last)
                }
            }
        }
        report.segments = segments.count

        let fsync: LedgerWriter.FsyncPolicyKind = switch options.fsync {
        case .always: .always
        case .everysec: .everysec
        case .no: .no
        }
        let settings = LedgerWriter.Settings(directory: dir, fsync: fsync, compressionLevel: options.compressionLevel,
                                             segmentBytes: options.segmentBytes,
                                             segmentAgeNanos: Int64(options.segmentAgeSeconds) * 1_000_000_000)
        let writer: LedgerWriter
        do {
            writer = try LedgerWriter(settings: settings, active: active.writerState) { [unowned self] event in
                post(event, notify: notify)
            }
        } catch {
            throw LedgerError("zlib initialisation failed: \(error)")
        }
        self.writer = writer
        writer.start()
        let maintenance = LedgerMaintenance(directory: dir, compactionLevel: options.compactionLevel,
                                            archiveDirectory: options.archiveDirectory) { [unowned self] event in
            notify { self.handle(event) }
        }
        self.maintenance = maintenance
        maintenance.start()
        // Segments sealed before a restart and not yet rewritten in large frames.
        for view in segments.dropLast() where view.damaged == nil && !view.index.compacted && view.index.recordCount > 0 {
            maintenance.submit(.compact(view.name))
        }
        report.nanos = Clock.monotonicNanos() - started
        return report
    }

    private func openSealed(_ name: String, scanner: SegmentScanner, report: inout RecoveryReport) -> SegmentView {
        let path = options.directory + "/" + name
        let first = LedgerDirectory.firstSequence(ofSegment: name) ?? 0
        let size = FileIO.size(path: path) ?? 0
        let indexPath = options.directory + "/" + LedgerDirectory.indexName(forSegment: name)
        if let bytes = Self.readFile(indexPath), let index = SegmentIndex.decode(bytes),
           index.firstSequence == first, index.coveredBytes == UInt64(size), index.sealed {
            return SegmentView(name: name, path: path, index: index, size: size)
        }
        // Rebuild from the segment itself.
        var index = SegmentIndex(firstSequence: first)
        let view = SegmentView(name: name, path: path, index: index, size: size)
        guard let fd = view.fd() else {
            view.damaged = "cannot open"
            report.problems.append("\(name): cannot open for reading")
            return view
        }
        let outcome = scanner.scan(fd: fd, path: path, size: size, sequence: first) { location, records in
            index.addFrame(offset: UInt64(location.offset), header: location.header,
                           records: (records ?? []).map { RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic) })
        }
        index.sealed = true
        view.index = index
        if let problem = outcome.problem {
            view.damaged = problem.description
            report.problems.append("corrupt sealed segment: \(problem); records after offset \(problem.offset) are not served")
            log.error("ledger segment corrupt", ["segment": .string(name), "frame": .int(problem.frame),
                                                 "offset": .int(problem.offset), "error": .string(problem.error.description)])
        } else {
            let bytes = index.encoded()
            bytes.withUnsafeBytes { raw in
                try? FileIO.replace(indexPath, with: raw, durable: true, directory: options.directory)
            }
        }
        return view
    }

    struct RecoveredActive {
        var view: SegmentView
        var writerState: LedgerWriter.ActiveSegment
    }

    private func recoverActive(_ name: String, scanner: SegmentScanner, report: inout RecoveryReport) throws(LedgerError) -> RecoveredActive {
        let dir = options.directory
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
        func scan(from checkpoint: SegmentIndex?) -> (SegmentIndex, SegmentScanner.Outcome) {
            var index = checkpoint ?? SegmentIndex(firstSequence: first)
            index.sealed = false
            let decodeFrom = Int(checkpoint?.coveredBytes ?? 0)
            let outcome = scanner.scan(fd: fd, path: path, size: size, sequence: first, decodeFrom: decodeFrom) { location, records in
                guard let records else { return }
                index.addFrame(offset: UInt64(location.offset), header: location.header,
                               records: records.map { RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic) })
            }
            return (index, outcome)
        }
        var (index, outcome) = scan(from: checkpoint)
        if let cp = checkpoint, outcome.validEnd < Int(cp.coveredBytes) || outcome.nextSequence < cp.nextSequence {
            // The checkpoint describes frames that are no longer whole: distrust it.
            (index, outcome) = scan(from: nil)
        } else if checkpoint != nil {
            report.usedCheckpoint = true
        }
        if let problem = outcome.problem {
            let dropped = size - outcome.validEnd
            var droppedRecords = 0
            if let h = scanner.readHeader(fd: fd, at: outcome.validEnd, size: size) { droppedRecords = Int(h.recordCount) }
            do throws(LedgerIOError) {
                try FileIO.truncate(fd, to: outcome.validEnd, path: path)
                try FileIO.fsync(fd, path: path)
            } catch {
                throw LedgerError("cannot truncate the torn tail: \(error)")
            }
            report.truncatedBytes = dropped
            report.droppedRecords = droppedRecords
            log.warn("ledger tail truncated", ["segment": .string(name), "offset": .int(outcome.validEnd),
                                               "bytes_dropped": .int(dropped), "records_dropped": .int(droppedRecords),
                                               "reason": .string(problem.error.description)])
        }
        let writeFD: Int32
        do throws(LedgerIOError) { writeFD = try FileIO.open(path, O_WRONLY | O_APPEND) } catch { throw LedgerError("\(error)") }
        let view = SegmentView(name: name, path: path, index: index, size: outcome.validEnd)
        return RecoveredActive(view: view, writerState: .init(fd: writeFD, name: name, path: path,
                                                              size: outcome.validEnd, index: index))
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let fd = try? FileIO.open(path, O_RDONLY) else { return nil }
        defer { Glibc.close(fd) }
        let size = FileIO.size(fd)
        guard size > 0, size < 1 << 30 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let n = bytes.withUnsafeMutableBytes { FileIO.pread(fd, $0.baseAddress!, size, at: 0) }
        return n == size ? bytes : nil
    }

    /// Writes what is queued, syncs, and stops the threads (at shutdown).
    public func close() {
        commit()
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
    }
}
