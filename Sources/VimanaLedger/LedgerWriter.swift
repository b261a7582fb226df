import Dispatch
import Synchronization
import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// What the writer tells the event loop (delivered on the loop thread).
public enum WriterEvent: Sendable {
    /// Frames appended to the active segment: everything up to `sequence`
    /// (exclusive) is in the file; `bytes` of batches are no longer pending.
    case written(sequence: UInt64, segment: String, frames: [WrittenFrame], bytes: Int)
    /// Everything before `sequence` is on stable storage (fsync), after `latency` ns.
    case durable(sequence: UInt64, latencyNanos: Int64)
    /// The active segment was sealed (its final index is attached) and a new one begun.
    case rolled(sealed: String, index: SegmentIndex, size: Int, next: String, nextFirstSequence: UInt64)
    /// A write or fsync failed; the writer retries every second.
    case failed(String)
}

/// One frame as written, for the loop's view of the active segment.
public struct WrittenFrame: Sendable {
    public var offset: Int
    public var header: FrameHeader
    public var minMs: UInt64
    public var maxMs: UInt64
    public var minTimestamp: Int64 = .max
    public var maxTimestamp: Int64 = .min
    public var topics: [[UInt8]: TopicStats]
}

/// The writer thread: turns committed batches into frames on the active
/// segment, syncs by policy, rolls segments, and keeps the active segment's
/// index checkpoint fresh so a restart need not inflate the whole segment.
///
/// Promises: batches are written in commit order, each pass's queue as one
/// frame (group commit); `.durable` is reported only after the fsync that
/// covers it; the event loop never waits on any of this.
final class LedgerWriter: @unchecked Sendable {
    struct Settings: Sendable {
        var directory: String
        var fsync: FsyncPolicyKind
        var compressionLevel: Int
        var segmentBytes: Int
        var segmentAgeNanos: Int64
        /// Largest raw size of one frame; a bigger queue is split.
        var maxFrameBytes = 8 << 20
    }

    enum FsyncPolicyKind: Sendable { case always, everysec, no }

    private let settings: Settings
    private let notify: @Sendable (WriterEvent) -> Void
    private let queue = Mutex<[Batch]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    /// True while the writer is (about to be) blocked on `wakeup`: only then
    /// does `submit` signal, so a busy writer costs the loop no syscall.
    private let idle = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let thread: Mutex<pthread_t?> = Mutex(nil)
    private let done = DispatchSemaphore(value: 0)

    // Writer-thread state (touched only by the writer thread after start).
    private var fd: Int32
    private var segmentName: String
    private var segmentPath: String
    private var segmentSize: Int
    private var segmentOpenedNanos: Int64
    private var index: SegmentIndex
    private var encoder: FrameEncoder
    private var staging = ByteBuffer(capacity: 64 << 10)
    private var unsyncedSequence: UInt64
    private var syncedSequence: UInt64
    private var lastSyncNanos: Int64 = 0
    private var lastCheckpointNanos: Int64 = 0
    private var checkpointedBytes: UInt64 = 0

    init(settings: Settings, active: ActiveSegment, notify: @escaping @Sendable (WriterEvent) -> Void) throws(ZlibError) {
        self.settings = settings
        self.notify = notify
        fd = active.fd
        segmentName = active.name
        segmentPath = active.path
        segmentSize = active.size
        segmentOpenedNanos = Clock.monotonicNanos()
        index = active.index
        encoder = try FrameEncoder(level: settings.compressionLevel)
        unsyncedSequence = active.index.nextSequence
        syncedSequence = active.index.nextSequence
        checkpointedBytes = active.index.coveredBytes
    }

    /// The active segment as recovery left it, handed to the writer.
    struct ActiveSegment {
        var fd: Int32
        var name: String
        var path: String
        var size: Int
        var index: SegmentIndex
    }

    func start() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            guard let raw else { return nil }
            let writer = Unmanaged<LedgerWriter>.fromOpaque(raw).takeRetainedValue()
            writer.run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            notify(.failed("cannot start the ledger writer thread (error \(rc))"))
            return
        }
        thread.withLock { $0 = tid }
    }

    /// Hands a batch to the writer (loop thread).
    func submit(_ batch: Batch) {
        queue.withLock { $0.append(batch) }
        if idle.exchange(false, ordering: .acquiringAndReleasing) { wakeup.signal() }
    }

    /// Under `everysec` and `no`, how long the writer lets batches gather
    /// after it wakes: under load it writes (and reports to the loop) at most
    /// this often, in larger frames, instead of once per loop pass. Nothing
    /// waits on these writes (`always` does not gather).
    static let gatherNanos = 1_000_000

    /// Writes everything queued, syncs, checkpoints, and stops the thread.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
        if thread.withLock({ $0 }) != nil { done.wait() }
    }

    // MARK: - Writer thread

    private func run() {
        while true {
            idle.store(true, ordering: .releasing)
            if queue.withLock({ $0.isEmpty }) && !stopping.load(ordering: .acquiring) {
                let timeout: DispatchTime = settings.fsync == .everysec ? .now() + .milliseconds(200) : .now() + .seconds(1)
                _ = wakeup.wait(timeout: timeout)
            }
            // A signal sent after the check above is consumed by the next wait,
            // which then returns at once: harmless.
            idle.store(false, ordering: .releasing)
            if settings.fsync != .always && !stopping.load(ordering: .acquiring) {
                var pause = timespec(tv_sec: 0, tv_nsec: Self.gatherNanos)
                nanosleep(&pause, nil)
            }
            let batches = queue.withLock { q -> [Batch] in
                let taken = q
                q.removeAll(keepingCapacity: true)
                return taken
            }
            if !batches.isEmpty { writeWithRetry(batches) }
            let now = Clock.monotonicNanos()
            if settings.fsync == .everysec && unsyncedSequence > syncedSequence && now - lastSyncNanos >= 1_000_000_000 {
                sync()
            }
            if UInt64(segmentSize) > checkpointedBytes && now - lastCheckpointNanos >= 1_000_000_000 {
                checkpoint(durable: false)
            }
            if stopping.load(ordering: .acquiring) && queue.withLock({ $0.isEmpty }) {
                // Whatever the policy, a clean shutdown leaves everything on stable storage.
                if unsyncedSequence > syncedSequence { sync() }
                checkpoint(durable: true)
                staging.release()
                done.signal()
                return
            }
        }
    }

    private func writeWithRetry(_ batches: [Batch]) {
        while true {
            do throws(LedgerIOError) {
                try write(batches)
                return
            } catch {
                notify(.failed(error.description))
                if stopping.load(ordering: .acquiring) { return }
                sleep(1)
            }
        }
    }

    private func write(_ batches: [Batch]) throws(LedgerIOError) {
        if shouldRoll() { try roll() }
        var frames: [WrittenFrame] = []
        var bytes = 0
        var i = 0
        while i < batches.count {
            // Gather batches into one frame up to the size cap.
            staging.clear()
            let first = batches[i].firstSequence
            var count = 0
            repeat {
                let b = batches[i]
                staging.append(b.bytes.readPointer, b.bytes.readableBytes)
                count += b.count
                bytes += b.byteCount
                i += 1
            } while i < batches.count && staging.readableBytes + batches[i].byteCount <= settings.maxFrameBytes
            let frame: UnsafeRawBufferPointer
            do {
                frame = try encoder.encode(records: staging.readPointer, length: staging.readableBytes,
                                           count: count, firstSequence: first)
            } catch {
                throw LedgerIOError("compress", segmentPath, errno: EIO)
            }
            let offset = segmentSize
            guard let frameBase = frame.baseAddress else { throw LedgerIOError("encode frame", segmentPath, errno: EIO) }
            try FileIO.writeAll(fd, frameBase, frame.count, path: segmentPath)
            segmentSize += frame.count
            guard let base = frame.baseAddress, case .success(let header) = FrameHeader.decode(base) else {
                throw LedgerIOError("encode frame", segmentPath, errno: EIO)
            }
            let written = WrittenFrame.summarize(offset: offset, header: header,
                                                 records: staging.readPointer, length: staging.readableBytes)
            index.addWritten(written)
            frames.append(written)
            unsyncedSequence = header.nextSequence
        }
        notify(.written(sequence: unsyncedSequence, segment: segmentName, frames: frames, bytes: bytes))
        if settings.fsync == .always { sync() }
    }

    private func sync() {
        let started = Clock.monotonicNanos()
        do throws(LedgerIOError) {
            try FileIO.fsync(fd, path: segmentPath)
        } catch {
            notify(.failed(error.description))
            return
        }
        lastSyncNanos = Clock.monotonicNanos()
        syncedSequence = unsyncedSequence
        notify(.durable(sequence: syncedSequence, latencyNanos: lastSyncNanos - started))
    }

    private func shouldRoll() -> Bool {
        guard index.recordCount > 0 else { return false }
        return segmentSize >= settings.segmentBytes
            || Clock.monotonicNanos() - segmentOpenedNanos >= settings.segmentAgeNanos
    }

    /// Seals the active segment (sync, final index) and starts the next one.
    private func roll() throws(LedgerIOError) {
        try FileIO.fsync(fd, path: segmentPath)
        syncedSequence = unsyncedSequence
        index.sealed = true
        let sealedName = segmentName
        let sealedIndex = index
        let sealedSize = segmentSize
        try writeIndex(index, name: segmentName, durable: true)
        close(fd)
        let next = index.nextSequence
        let name = LedgerDirectory.segmentName(next)
        let path = settings.directory + "/" + name
        fd = try FileIO.open(path, O_WRONLY | O_CREAT | O_APPEND)
        try FileIO.fsyncDirectory(settings.directory)
        segmentName = name
        segmentPath = path
        segmentSize = 0
        segmentOpenedNanos = Clock.monotonicNanos()
        index = SegmentIndex(firstSequence: next)
        checkpointedBytes = 0
        notify(.durable(sequence: syncedSequence, latencyNanos: 0))
        notify(.rolled(sealed: sealedName, index: sealedIndex, size: sealedSize, next: name, nextFirstSequence: next))
    }

    /// Rewrites the active segment's index so recovery can skip inflating
    /// what it covers. Not fsynced while active: a stale or lost checkpoint
    /// only makes recovery slower, never wrong (it is validated).
    private func checkpoint(durable: Bool) {
        lastCheckpointNanos = Clock.monotonicNanos()
        do throws(LedgerIOError) {
            try writeIndex(index, name: segmentName, durable: durable)
            checkpointedBytes = UInt64(segmentSize)
        } catch {
            notify(.failed(error.description))
        }
    }

    private func writeIndex(_ index: SegmentIndex, name: String, durable: Bool) throws(LedgerIOError) {
        let bytes = index.encoded()
        let path = settings.directory + "/" + LedgerDirectory.indexName(forSegment: name)
        var failure: LedgerIOError?
        bytes.withUnsafeBytes { raw in
            do throws(LedgerIOError) {
                try FileIO.replace(path, with: raw, durable: durable, directory: settings.directory)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}

extension WrittenFrame {
    /// One pass over a frame's encoded records: ID and time ranges and
    /// per-topic stats. Runs of records on the same topic (the common case)
    /// share one key array instead of allocating one per record.
    static func summarize(offset: Int, header: FrameHeader, records: UnsafeRawPointer, length: Int) -> WrittenFrame {
        var frame = WrittenFrame(offset: offset, header: header, minMs: .max, maxMs: 0, topics: [:])
        var reader = ByteReader(records, length)
        var runTopic: [UInt8] = []
        var runStats: TopicStats?
        func closeRun() {
            guard let stats = runStats else { return }
            if var existing = frame.topics[runTopic] {
                existing.count += stats.count
                existing.last = stats.last
                frame.topics[runTopic] = existing
            } else {
                frame.topics[runTopic] = stats
            }
        }
        for _ in 0..<header.recordCount {
            let start = reader.offset
            guard let recordLength = reader.u32(), reader.skip(8), let ms = reader.u64(), let seq = reader.u64(),
                  let ts = reader.u64(), reader.skip(8), let topicLength = reader.u32() else { break }
            let topicStart = records + reader.offset
            let id = StreamID(ms: ms, seq: seq)
            let micros = Int64(bitPattern: ts)
            frame.minMs = min(frame.minMs, ms)
            frame.maxMs = max(frame.maxMs, ms)
            frame.minTimestamp = min(frame.minTimestamp, micros)
            frame.maxTimestamp = max(frame.maxTimestamp, micros)
            let sameTopic = runStats != nil && runTopic.count == Int(topicLength)
                && runTopic.withUnsafeBytes { memcmp($0.baseAddress ?? topicStart, topicStart, Int(topicLength)) == 0 }
            if sameTopic {
                runStats?.add(id)
            } else {
                closeRun()
                runTopic = Array(UnsafeRawBufferPointer(start: topicStart, count: Int(topicLength)))
                runStats = TopicStats(count: 1, first: id, last: id)
            }
            reader.offset = start + 4 + Int(recordLength)
        }
        closeRun()
        return frame
    }
}
