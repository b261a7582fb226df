import Dispatch
import Synchronization
import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// What the maintenance thread tells the event loop.
public enum MaintenanceEvent: Sendable {
    /// A sealed segment was rewritten in large frames (new index and size).
    case compacted(name: String, index: SegmentIndex, size: Int, before: Int)
    /// Compaction found a frame of a sealed segment unreadable (the segment is left as it is).
    case damaged(name: String, offset: Int)
    /// A sealed segment left the ledger (moved to `archived`, or deleted when nil).
    case retired(name: String, archived: String?)
    case failed(String)
    /// The answer to a housekeeping request (`Ledger.housekeeping`), by its id.
    case answered(Int, HousekeepingAnswer)
}

/// The second ledger thread: rewrites sealed segments into large frames
/// (compaction) and retires them (retention), so that neither ever delays
/// the writer. Works only on sealed segments; the active one is the writer's.
final class LedgerMaintenance: @unchecked Sendable {
    enum Task: Sendable {
        /// Rewrites a sealed segment in large frames; with cuts, also empties
        /// the records they remove (Ledger+Removals.swift), even when its
        /// frames are large already.
        case compact(String, RemovalCuts = RemovalCuts())
        case retire(String)
        case housekeeping(Int, HousekeepingRequest)
    }

    private let directory: String
    /// nil: compaction is off, and `.compact` tasks are ignored.
    private let compactionLevel: Int?
    private let archiveDirectory: String?
    private let notify: @Sendable (MaintenanceEvent) -> Void
    private let queue = Mutex<[Task]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    private let thread = LedgerThread()

    init(directory: String, compactionLevel: Int?, archiveDirectory: String?,
         notify: @escaping @Sendable (MaintenanceEvent) -> Void) {
        self.directory = directory
        self.compactionLevel = compactionLevel
        self.archiveDirectory = archiveDirectory
        self.notify = notify
    }

    func start() {
        if let rc = thread.start(name: "vimana-maint", { self.run() }) {
            notify(.failed("cannot start the ledger maintenance thread (error \(rc))"))
        }
    }

    func submit(_ task: Task) {
        queue.withLock { $0.append(task) }
        wakeup.signal()
    }

    /// Finishes the task in progress, drops the rest (they are redone at the next start).
    func stop() {
        thread.requestStop()
        wakeup.signal()
        thread.join()
    }

    private func run() {
        while !thread.isStopping {
            wakeup.wait()
            while !thread.isStopping {
                guard let task = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { break }
                switch task {
                case .compact(let name, let cuts): compact(name, cuts)
                case .retire(let name): retire(name)
                case .housekeeping(let id, let request):
                    notify(.answered(id, Housekeeping.answer(request, directory: directory, archive: archiveDirectory)))
                }
            }
        }
    }

    // MARK: - Compaction

    private func compact(_ name: String, _ cuts: RemovalCuts) {
        let path = directory + "/" + name
        let tmp = path + ".tmp"
        guard let compactionLevel, let first = LedgerDirectory.firstSequence(ofSegment: name),
              FileIO.exists(path) else { return }
        do throws(LedgerIOError) {
            let input = try FileIO.open(path, O_RDONLY)
            defer { close(input) }
            let size = FileIO.size(input)
            // A header-only pass: a segment already in large frames (every one
            // but the last of at least `LedgerLimits.compactedFrameBytes`, LEDGER.md §2) is
            // left as it is. Not an average: one small frame before a large one
            // would pass it.
            var smallBeforeLast = false, lastWasSmall = false
            var headers = FrameIterator(fd: input, size: size)
            while case .success(let f)? = headers.next() {
                if lastWasSmall { smallBeforeLast = true }
                lastWasSmall = Int(f.header.uncompressedLength) < LedgerLimits.compactedFrameBytes
            }
            if !smallBeforeLast && cuts.isEmpty {
                markCompacted(name, size: size)
                return
            }
            guard let inflater = try? Inflater(), let encoder = try? FrameEncoder(level: compactionLevel) else {
                notify(.failed("compaction of \(name): zlib initialisation failed"))
                return
            }
            let output = try FileIO.open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
            var finished = false
            defer { if !finished { close(output); try? FileIO.unlink(tmp) } }
            var staging = ByteBuffer(capacity: LedgerLimits.compactedFrameBytes + LedgerLimits.copyChunk)
            var data = ByteBuffer(capacity: LedgerLimits.copyChunk)
            defer { staging.release(); data.release() }
            var index = SegmentIndex(firstSequence: first)
            var written = 0
            var stagedFirst = first
            var stagedCount = 0
            // A new frame holds records of one layout: frames of both format
            // versions (a ledger written before version 2) are merged each with its own.
            var stagedLayout = RecordLayout.current
            func flush() throws(LedgerIOError) {
                guard stagedCount > 0 else { return }
                guard let frame = try? encoder.encode(records: staging.readPointer, length: staging.readableBytes,
                                                      count: stagedCount, firstSequence: stagedFirst, layout: stagedLayout),
                      let base = frame.baseAddress else {
                    throw LedgerIOError("compress", path, errno: EIO)
                }
                try FileIO.writeAll(output, base, frame.count, path: tmp)
                index.addWritten(WrittenFrame.summarize(offset: written, header: encoder.header, records: staging.readPointer,
                                                        length: staging.readableBytes))
                written += frame.count
                staging.clear()
                stagedFirst += UInt64(stagedCount)
                stagedCount = 0
            }
            // Inflate each frame straight into the staging buffer: records are
            // copied as bytes, never decoded.
            var frames = FrameIterator(fd: input, size: size, sequence: first)
            while let step = frames.next() {
                if thread.isStopping { return }  // redone at the next start
                guard case .success(let f) = step else {
                    notify(.damaged(name: name, offset: frames.offset))
                    return
                }
                let h = f.header, length = Int(h.compressedLength)
                if h.layout != stagedLayout {
                    try flush()
                    stagedLayout = h.layout
                }
                data.clear()
                data.reserve(length)
                guard frames.readData(of: f, into: data.writePointer), h.dataMatches(data.writePointer) else {
                    notify(.damaged(name: name, offset: f.offset))
                    return
                }
                staging.reserve(Int(h.uncompressedLength))
                do {
                    try inflater.decompress(data.writePointer, length, into: staging.writePointer, expected: Int(h.uncompressedLength))
                } catch {
                    notify(.damaged(name: name, offset: f.offset))
                    return
                }
                let start = staging.writeIndex
                staging.writeIndex += Int(h.uncompressedLength)
                if !cuts.isEmpty {
                    guard cuts.empty(&staging, from: start, count: Int(h.recordCount), layout: h.layout) else {
                        notify(.damaged(name: name, offset: f.offset))
                        return
                    }
                }
                stagedCount += Int(h.recordCount)
                if staging.readableBytes >= LedgerLimits.compactedFrameBytes { try flush() }
            }
            try flush()
            if written >= size {
                // Larger frames did not pay: keep the segment as written.
                markCompacted(name, size: size)
                return
            }
            try FileIO.fsync(output, path: tmp)
            close(output)
            finished = true
            index.sealed = true
            index.compacted = true
            try FileIO.rename(tmp, path)
            try FileIO.fsyncDirectory(directory)
            try writeIndex(index, name: name)
            notify(.compacted(name: name, index: index, size: written, before: size))
        } catch {
            notify(.failed("compaction of \(name): \(error)"))
        }
    }

    /// Records that `name` needs no rewriting (its index gains the compacted flag).
    private func markCompacted(_ name: String, size: Int) {
        let indexPath = directory + "/" + LedgerDirectory.indexName(forSegment: name)
        guard let bytes = Ledger.readFile(indexPath), var index = SegmentIndex.decode(bytes),
              index.coveredBytes == UInt64(size) else { return }
        index.compacted = true
        do throws(LedgerIOError) {
            try writeIndex(index, name: name)
            notify(.compacted(name: name, index: index, size: size, before: size))
        } catch {
            notify(.failed("compaction of \(name): \(error)"))
        }
    }

    private func writeIndex(_ index: SegmentIndex, name: String) throws(LedgerIOError) {
        var failure: LedgerIOError?
        index.encoded().withUnsafeBytes { raw in
            do throws(LedgerIOError) {
                try FileIO.replace(directory + "/" + LedgerDirectory.indexName(forSegment: name),
                                   with: raw, durable: true, directory: directory)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    // MARK: - Retention

    private func retire(_ name: String) {
        let path = directory + "/" + name
        let indexName = LedgerDirectory.indexName(forSegment: name)
        do throws(LedgerIOError) {
            if let archive = archiveDirectory {
                try FileIO.makeDirectories(archive)
                try move(path, to: archive + "/" + name)
                if FileIO.exists(directory + "/" + indexName) {
                    try move(directory + "/" + indexName, to: archive + "/" + indexName)
                }
                try FileIO.fsyncDirectory(archive)
                try FileIO.fsyncDirectory(directory)
                notify(.retired(name: name, archived: archive + "/" + name))
            } else {
                try FileIO.unlink(path)
                try FileIO.unlink(directory + "/" + indexName)
                try FileIO.fsyncDirectory(directory)
                notify(.retired(name: name, archived: nil))
            }
        } catch {
            notify(.failed("retiring \(name): \(error)"))
        }
    }

    /// rename(2), or copy + fsync + unlink across file systems.
    private func move(_ from: String, to: String) throws(LedgerIOError) {
        if Glibc.rename(from, to) == 0 { return }
        guard errno == EXDEV else { throw LedgerIOError("rename", "\(from) -> \(to)") }
        let tmp = to + ".tmp"
        try Housekeeping.copy(from, to: tmp)
        try FileIO.rename(tmp, to)
        try FileIO.unlink(from)
    }
}
