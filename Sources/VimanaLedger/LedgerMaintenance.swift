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
    /// A sealed segment left the ledger (moved to `archived`, or deleted when nil).
    case retired(name: String, archived: String?)
    case failed(String)
}

/// The second ledger thread: rewrites sealed segments into large frames
/// (compaction) and retires them (retention), so that neither ever delays
/// the writer. Works only on sealed segments; the active one is the writer's.
final class LedgerMaintenance: @unchecked Sendable {
    enum Task: Sendable {
        case compact(String)
        case retire(String)
    }

    /// Frames written by compaction hold at least this much raw record data.
    static let compactedFrameBytes = 1 << 20

    private let directory: String
    private let compactionLevel: Int
    private let archiveDirectory: String?
    private let notify: @Sendable (MaintenanceEvent) -> Void
    private let queue = Mutex<[Task]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    init(directory: String, compactionLevel: Int, archiveDirectory: String?,
         notify: @escaping @Sendable (MaintenanceEvent) -> Void) {
        self.directory = directory
        self.compactionLevel = compactionLevel
        self.archiveDirectory = archiveDirectory
        self.notify = notify
    }

    func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<LedgerMaintenance>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            notify(.failed("cannot start the ledger maintenance thread (error \(rc))"))
            return
        }
        started.store(true, ordering: .releasing)
    }

    func submit(_ task: Task) {
        queue.withLock { $0.append(task) }
        wakeup.signal()
    }

    /// Finishes the task in progress, drops the rest (they are redone at the next start).
    func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
        if started.load(ordering: .acquiring) { done.wait() }
    }

    private func run() {
        while !stopping.load(ordering: .acquiring) {
            wakeup.wait()
            while !stopping.load(ordering: .acquiring) {
                guard let task = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { break }
                switch task {
                case .compact(let name): compact(name)
                case .retire(let name): retire(name)
                }
            }
        }
        done.signal()
    }

    // MARK: - Compaction

    private func compact(_ name: String) {
        let path = directory + "/" + name
        let tmp = path + ".tmp"
        guard let first = LedgerDirectory.firstSequence(ofSegment: name), FileIO.exists(path) else { return }
        do throws(LedgerIOError) {
            let input = try FileIO.open(path, O_RDONLY)
            defer { close(input) }
            let size = FileIO.size(input)
            let output = try FileIO.open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
            var closed = false
            defer { if !closed { close(output); try? FileIO.unlink(tmp) } }
            guard let scanner = try? SegmentScanner(), let encoder = try? FrameEncoder(level: compactionLevel) else {
                notify(.failed("compaction of \(name): zlib initialisation failed"))
                return
            }
            var staging = ByteBuffer(capacity: Self.compactedFrameBytes + (64 << 10))
            defer { staging.release() }
            var index = SegmentIndex(firstSequence: first)
            var written = 0
            var stagedFirst = first
            var stagedCount = 0
            var failure: LedgerIOError?
            func flush() {
                guard stagedCount > 0, failure == nil else { return }
                do throws(LedgerIOError) {
                    guard let frame = try? encoder.encode(records: staging.readPointer, length: staging.readableBytes,
                                                          count: stagedCount, firstSequence: stagedFirst),
                          let base = frame.baseAddress, case .success(let header) = FrameHeader.decode(base) else {
                        throw LedgerIOError("compress", path, errno: EIO)
                    }
                    try FileIO.writeAll(output, base, frame.count, path: tmp)
                    index.addFrame(offset: UInt64(written), header: header,
                                   records: RecordSummaries(staging.readPointer, staging.readableBytes, count: stagedCount))
                    written += frame.count
                } catch {
                    failure = error
                }
                staging.clear()
                stagedFirst += UInt64(stagedCount)
                stagedCount = 0
            }
            let outcome = scanner.scan(fd: input, path: path, size: size, sequence: first) { _, records in
                for r in records ?? [] {
                    RecordCodec.append(r, to: &staging)
                    stagedCount += 1
                    if staging.readableBytes >= Self.compactedFrameBytes { flush() }
                }
            }
            flush()
            if let failure { throw failure }
            if let problem = outcome.problem {
                notify(.failed("compaction of \(name) skipped: \(problem)"))
                return
            }
            try FileIO.fsync(output, path: tmp)
            close(output)
            closed = true
            index.sealed = true
            index.compacted = true
            try FileIO.rename(tmp, path)
            try FileIO.fsyncDirectory(directory)
            let indexBytes = index.encoded()
            var indexFailure: LedgerIOError?
            indexBytes.withUnsafeBytes { raw in
                do throws(LedgerIOError) {
                    try FileIO.replace(directory + "/" + LedgerDirectory.indexName(forSegment: name),
                                       with: raw, durable: true, directory: directory)
                } catch {
                    indexFailure = error
                }
            }
            if let indexFailure { throw indexFailure }
            notify(.compacted(name: name, index: index, size: written, before: size))
        } catch {
            notify(.failed("compaction of \(name): \(error)"))
        }
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
        let input = try FileIO.open(from, O_RDONLY)
        defer { close(input) }
        let output = try FileIO.open(to + ".tmp", O_WRONLY | O_CREAT | O_TRUNC)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { FileIO.pread(input, $0.baseAddress!, $0.count, at: offset) }
            if n <= 0 { break }
            var failure: LedgerIOError?
            buffer.withUnsafeBytes { raw in
                do throws(LedgerIOError) {
                    if let base = raw.baseAddress { try FileIO.writeAll(output, base, n, path: to) }
                } catch {
                    failure = error
                }
            }
            if let failure {
                close(output)
                throw failure
            }
            offset += n
        }
        try FileIO.fsync(output, path: to)
        close(output)
        try FileIO.rename(to + ".tmp", to)
        try FileIO.unlink(from)
    }
}
