import Dispatch
import Synchronization
import VimanaCore
import VimanaConfig
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
    /// A sealed segment's index file has been written (or could not be):
    /// compaction may rewrite the segment now without racing that write.
    case sealed(String)
    /// A write or fsync of records failed: nothing more is written until
    /// the writer has restored the segment (it retries every second).
    case failed(LedgerIOError)
    /// The segment is restored (cut back, the frames the last good fsync did
    /// not cover written again, fsynced) and the failed writes are done.
    case recovered
    /// An index file could not be written: records are safe (recovery
    /// rebuilds indexes from the segments), only restarts are slower.
    case indexFailed(LedgerIOError)
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
/// frame (group commit); `.written` is reported only for whole frames and
/// `.durable` only after the fsync that covers them; after a failed write or
/// fsync nothing more is appended until the segment has been cut back to its
/// last whole frame, every frame the last good fsync does not cover has been
/// written again from memory, and an fsync has succeeded (`.recovered`).
///
/// The file and the state below belong to whoever holds `state`: normally
/// the writer thread; the sync thread, which makes the policy's fsyncs on a
/// `dup` of the segment's descriptor so that writes go on meanwhile, to
/// record one; the event loop only with `writeInline` (when a reply waits
/// and nothing is in the way), and it never waits for the lock.
final class LedgerWriter: @unchecked Sendable {
    private let config: LedgerConfig
    /// `config.segmentAgeSeconds`, in the clock's unit.
    private let segmentAgeNanos: Int64
    /// Queues an event for the loop; `wakeLoop` false while `writeInline`
    /// runs (the loop drains the queue itself right after). One queue for
    /// both threads, filled under `state`: the loop applies events in the
    /// order they happened (a recovery the writer thread makes at once
    /// after an inline write failed is applied after that failure).
    private let notify: @Sendable (_ event: WriterEvent, _ wakeLoop: Bool) -> Void
    private let queue = Mutex<[Batch]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    /// True while the writer is (about to be) blocked on `wakeup`: only then
    /// does `submit` signal, so a busy writer costs the loop no syscall.
    private let idle = Atomic<Bool>(false)
    /// True while the writer pauses to gather; an urgent submit signals it.
    private let gathering = Atomic<Bool>(false)
    /// A queued batch has a reply waiting on it: do not gather.
    private let urgentQueued = Atomic<Bool>(false)
    /// The writer thread; its stop flag is `stop`'s.
    private let thread = LedgerThread()
    /// The sync thread: it ends when woken with no fsync in flight.
    private let syncThread = LedgerThread()
    /// The sync thread waits here for `syncInFlight`.
    private let syncWakeup = DispatchSemaphore(value: 0)
    /// Held while the file and the state below are used.
    private let state = Mutex<Void>(())

    // State behind `state`.
    private var fd: Int32
    private var segmentName: String
    private var segmentPath: String
    /// End of the last whole frame written: the segment's good length.
    private var segmentSize: Int
    /// Bytes of the active segment the last successful fsync covers.
    private var syncedSize: Int
    /// The frames in [syncedSize, segmentSize), as written.
    private var unsynced = ByteBuffer(capacity: LedgerLimits.writerBufferCapacity)
    private var segmentOpenedNanos: Int64
    private var index: SegmentIndex
    private var encoder: FrameEncoder
    private var staging = ByteBuffer(capacity: LedgerLimits.writerBufferCapacity)
    private var unsyncedSequence: UInt64
    private var syncedSequence: UInt64
    private var lastSyncNanos: Int64 = 0
    private var lastCheckpointNanos: Int64 = 0
    private var checkpointedBytes: UInt64 = 0
    /// Set by a failed write or fsync, cleared once the segment is restored.
    private var failure: LedgerIOError?
    /// While `writeInline` runs: its events are queued without waking the
    /// loop, which is the caller and drains them itself.
    private var writingInline = false
    /// Batches taken from the queue and not yet written: a failed
    /// attempt's, or those behind a full segment whose seal waits for the
    /// fsync in flight.
    private var taken: [Batch] = []
    /// The fsync the sync thread is making (or about to), if any.
    private var syncInFlight: DueSync?
    /// Bumped by every fsync made under the lock (restoring, sealing,
    /// stopping): an fsync that began before one of those is stale.
    private var syncGeneration = 0
    /// The active segment's directory entry is not yet known durable (it
    /// was just created): the next fsync of the segment includes the directory.
    private var directorySyncPending = false
    /// A seal is due and waits for the fsync in flight. Until it is made no
    /// other fsync starts: under a steady stream of appends the sync thread
    /// chains one fsync after another, and a seal that only looked for an
    /// idle moment never found one (a 1.2 GB active segment under `fsync:
    /// no`, restarts 60 times slower).
    private var sealWaiting = false
    /// An operator asked to seal the active segment now (LEDGER SEAL): the
    /// writer's step seals it once it holds a record and no fsync is in
    /// flight (the next step after one); cleared by any seal.
    private let sealRequested = Atomic<Bool>(false)
    /// A sealed segment whose final index is still to be written.
    private var sealedIndexPending: (name: String, index: SegmentIndex)?
    /// After `stop`: everything before this sequence is on stable storage.
    private(set) var stoppedAtSequence: UInt64 = 0

    init(config: LedgerConfig, active: ActiveSegment,
         notify: @escaping @Sendable (_ event: WriterEvent, _ wakeLoop: Bool) -> Void) throws(ZlibError) {
        self.config = config
        segmentAgeNanos = Int64(config.segmentAgeSeconds) * 1_000_000_000
        self.notify = notify
        fd = active.fd
        segmentName = active.name
        segmentPath = active.path
        segmentSize = active.size
        syncedSize = active.size
        segmentOpenedNanos = Clock.monotonicNanos()
        index = active.index
        encoder = try FrameEncoder(level: config.compressionLevel, storeBelow: LedgerLimits.storedFrameMaxBytes)
        unsyncedSequence = active.index.nextSequence
        syncedSequence = active.index.nextSequence
        checkpointedBytes = active.index.coveredBytes
        // Frames go to explicit offsets (pwrite), which on Linux an O_APPEND
        // descriptor would ignore: rewriting in place needs it off.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_APPEND != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_APPEND) }
    }

    /// The active segment as recovery left it, handed to the writer.
    struct ActiveSegment {
        var fd: Int32
        var name: String
        var path: String
        var size: Int
        var index: SegmentIndex
    }

    /// Starts the writer thread, and the sync thread it hands its fsyncs to
    /// (so that writes go on while the disk flushes).
    func start() {
        if let rc = syncThread.start(name: "vimana-fsync", { self.runSyncs() }) {
            // Refused from here on: without the sync thread nothing would ever be fsynced.
            state.withLock { _ in fail(LedgerIOError("start the sync thread for", config.dir, errno: rc)) }
            return
        }
        if let rc = thread.start(name: "vimana-writer", { self.run() }) {
            notify(.failed(LedgerIOError("start the writer thread for", config.dir, errno: rc)), true)
            stopSyncThread()
        }
    }

    /// Hands a batch to the writer (loop thread). `urgent`: a reply waits
    /// until it is written, so the writer does not pause to gather more.
    /// `wake: false` when the caller tries `writeInline` next.
    func submit(_ batch: Batch, urgent: Bool, wake: Bool = true) {
        queue.withLock { $0.append(batch) }
        if urgent { urgentQueued.store(true, ordering: .sequentiallyConsistent) }
        if wake { self.wake(urgent: urgent) }
    }

    /// Seals the active segment as soon as it holds a record (loop thread);
    /// the seal is reported as every seal is (`.rolled`).
    func requestSeal() {
        sealRequested.store(true, ordering: .sequentiallyConsistent)
        wake(urgent: true)
    }

    /// Wakes the writer thread if it sleeps (or, for urgent work, gathers).
    func wake(urgent: Bool = true) {
        if idle.exchange(false, ordering: .acquiringAndReleasing) {
            wakeup.signal()
        } else if urgent && gathering.exchange(false, ordering: .sequentiallyConsistent) {
            wakeup.signal()
        }
    }

    /// Writes the queue on the calling thread (the event loop, when a reply
    /// waits on it), as Redis writes its append-only file before replying:
    /// no hand-off to the writer thread and back. Only when nothing is in
    /// the way: the writer thread busy or in an fsync, a failure being
    /// retried, a segment to seal (that fsyncs) or more than
    /// `inlineWriteMaxBytes` queued.
    /// Never fsyncs. Its events are queued without a wake-up: the caller
    /// drains the queue next. Returns whether the writer thread must be
    /// woken (work left to it).
    func writeInline() -> Bool {
        state.withLockIfAvailable { _ -> Bool in
            writingInline = true
            defer { writingInline = false }
            return writeInlineLocked()
        } ?? true
    }

    private func writeInlineLocked() -> Bool {
        // During an fsync an append can block in the kernel for a while
        // (Redis postpones its AOF writes then for the same reason): the
        // writer thread writes it then, and may wait; the loop never does.
        guard failure == nil, taken.isEmpty, syncInFlight == nil, !shouldRoll() else { return true }
        let batches = queue.withLock { q -> [Batch] in
            guard q.reduce(0, { $0 + $1.byteCount }) <= LedgerLimits.inlineWriteMaxBytes else { return [] }
            let all = q
            q.removeAll(keepingCapacity: true)
            return all
        }
        guard !batches.isEmpty else { return true }
        do throws(LedgerIOError) {
            let written = try write(batches)
            if written < batches.count {
                // The segment is full: the seal (an fsync) is the writer thread's.
                taken = Array(batches[written...])
                return true
            }
        } catch {
            taken = batches
            fail(error)
            return true
        }
        // The fsync that bounds the kept frames is the writer thread's.
        return unsynced.readableBytes >= LedgerLimits.maxUnsyncedBytes
    }

    /// Writes everything queued, syncs, checkpoints, and stops the thread;
    /// returns the sequence before which everything is on stable storage.
    func stop() -> UInt64 {
        thread.requestStop()
        wakeup.signal()
        thread.join()
        return state.withLock { _ in stoppedAtSequence }
    }

    // MARK: - Writer thread

    private func run() {
        var retrying = false
        while true {
            if retrying {
                // `idle` stays false: commits do not cut the pause short; stop does.
                if !thread.isStopping {
                    _ = wakeup.wait(timeout: .now() + .seconds(LedgerLimits.retrySeconds))
                }
            } else {
                idle.store(true, ordering: .releasing)
                // Nothing to write, or nothing that may be written before the
                // fsync in flight ends (its end signals `wakeup`). Batches an
                // inline write left in `taken` (a segment it filled) are work:
                // its wake may have come before `idle` was set.
                let (takenEmpty, waitsForSeal) = state.withLock { _ in (taken.isEmpty, writesWaitForSeal) }
                if (queue.withLock({ $0.isEmpty }) && takenEmpty && !thread.isStopping) || waitsForSeal {
                    let timeout: DispatchTime = config.fsync == .everysec ? .now() + .milliseconds(LedgerLimits.everysecIdleWaitMillis)
                        : .now() + .seconds(LedgerLimits.idleWaitSeconds)
                    _ = wakeup.wait(timeout: timeout)
                }
                // A signal sent after the check above is consumed by the next wait,
                // which then returns at once: harmless.
                idle.store(false, ordering: .releasing)
                if config.fsync != .always && !thread.isStopping
                    && !urgentQueued.load(ordering: .sequentiallyConsistent) {
                    gathering.store(true, ordering: .sequentiallyConsistent)
                    if !urgentQueued.load(ordering: .sequentiallyConsistent) {
                        _ = wakeup.wait(timeout: .now() + .nanoseconds(LedgerLimits.gatherNanos))
                    }
                    gathering.store(false, ordering: .sequentiallyConsistent)
                }
            }
            urgentQueued.store(false, ordering: .sequentiallyConsistent)
            retrying = state.withLock { _ in step() }
            // A batch a reply waits on, queued while the lock was held (so the
            // loop could not write it), goes before a long fsync, not after.
            if !retrying && urgentQueued.exchange(false, ordering: .sequentiallyConsistent) {
                retrying = state.withLock { _ in step() }
            }
            if let (name, index) = state.withLock({ _ in sealedIndexPending.take() }) {
                writeSealedIndex(index, name: name)
            }
            if !retrying && state.withLock({ _ in startSyncIfDue() }) { syncWakeup.signal() }
            if thread.isStopping && (retrying || (queue.withLock({ $0.isEmpty }) && state.withLock({ _ in taken.isEmpty }))) {
                stopSyncThread()
                state.withLock { _ in finish() }
                return
            }
        }
    }

    // MARK: - Sync thread

    /// Makes the fsyncs the writer thread hands over, one at a time, each on
    /// a descriptor of its own (a `dup`, so a roll may close the writer's).
    private func runSyncs() {
        while true {
            syncWakeup.wait()
            guard let due = state.withLock({ _ in syncInFlight }) else { break }  // nil: stop
            let started = Clock.monotonicNanos()
            let result = Result { () throws(LedgerIOError) in
                try FileIO.fsync(due.fd, path: due.path)
                if due.directory { try FileIO.fsyncDirectory(config.dir) }
            }
            close(due.fd)
            // The next fsync starts at once when one is due already (`always`:
            // frames written while this one ran).
            let (failed, next, seal) = state.withLock { _ in
                let failed = synced(due, result, started: started)
                return (failed, startSyncIfDue(), sealWaiting)
            }
            if next { syncWakeup.signal() }
            // A failure is the writer thread's to repair, a seal that waited
            // for this fsync is made, and a batch left to it while this ran
            // is written now.
            if seal {
                // Unconditionally: the writer may be between its step and its
                // idle wait, where `wake` would not signal, and then sleep a
                // whole wait with replies held on the seal (a spare signal
                // only makes a wait return at once).
                wakeup.signal()
            } else if failed || !queue.withLock({ $0.isEmpty }) {
                wake()
            }
        }
    }

    /// Waits for the fsync in flight, if any, and ends the sync thread.
    private func stopSyncThread() {
        while state.withLock({ _ in syncInFlight != nil }) { usleep(1000) }
        syncWakeup.signal()
        syncThread.join()
    }

    /// One round of the writer's work: restores the segment after a
    /// failure, writes what is queued (sealing the segment when due) and
    /// checkpoints; the policy's fsync follows, on the sync thread
    /// (`startSyncIfDue`). True when it failed and must be tried again.
    private func step() -> Bool {
        do throws(LedgerIOError) {
            if failure != nil {
                // Not while the sync thread's fsync of the same file is in
                // flight: a write-back error reaches only one of the two
                // fsyncs, and restore's must be the one that sees it.
                if syncInFlight != nil { return true }
                try restore()
            }
            taken += queue.withLock { q -> [Batch] in
                let all = q
                q.removeAll(keepingCapacity: true)
                return all
            }
            if !taken.isEmpty {
                try writeTaken()
            } else if sealWaiting && shouldRoll() {
                // The fsync it waited for has ended and nothing was queued since.
                try roll()
            }
            // An operator's seal (LEDGER SEAL): checked here only, never on
            // the inline write's path; an inline write before it is sealed with it.
            if taken.isEmpty && index.recordCount > 0 && syncInFlight == nil
                && sealRequested.load(ordering: .sequentiallyConsistent) {
                try roll()
            }
            if failure != nil {
                failure = nil
                emit(.recovered)
            }
            let now = Clock.monotonicNanos()
            if UInt64(segmentSize) > checkpointedBytes && now - lastCheckpointNanos >= 1_000_000_000 {
                checkpoint(durable: false)
            }
            return false
        } catch {
            fail(error)
            return true
        }
    }

    /// An fsync handed to the sync thread: what it covers when it began.
    private struct DueSync {
        var fd: Int32
        var path: String
        var size: Int
        var sequence: UInt64
        var keptBytes: Int
        /// The segment's directory entry is fsynced too.
        var directory: Bool
        var generation: Int
    }

    /// Hands an fsync to the sync thread when the policy wants one and none
    /// is in flight; true when the caller must signal it.
    private func startSyncIfDue() -> Bool {
        guard failure == nil, syncInFlight == nil, !sealWaiting,
              unsyncedSequence > syncedSequence || directorySyncPending else { return false }
        let due = config.fsync == .always || unsynced.readableBytes >= LedgerLimits.maxUnsyncedBytes
            || (config.fsync == .everysec && Clock.monotonicNanos() - lastSyncNanos >= LedgerLimits.everysecIntervalNanos)
        guard due else { return false }
        let copy = dup(fd)
        guard copy >= 0 else {
            fail(LedgerIOError("dup", segmentPath))
            return false
        }
        syncInFlight = DueSync(fd: copy, path: segmentPath, size: segmentSize, sequence: unsyncedSequence,
                               keptBytes: unsynced.readableBytes, directory: directorySyncPending,
                               generation: syncGeneration)
        return true
    }

    /// Records the sync thread's fsync: what it covers (the frames written
    /// before it began) is durable, unless an fsync under the lock has moved
    /// things on since (then it only counts if it failed). True when it failed.
    private func synced(_ due: DueSync, _ result: Result<Void, LedgerIOError>, started: Int64) -> Bool {
        syncInFlight = nil
        switch result {
        case .failure(let error):
            // Even a stale one: the pages it covered may be gone.
            fail(error)
            return true
        case .success:
            guard due.generation == syncGeneration else { return false }
            lastSyncNanos = Clock.monotonicNanos()
            syncedSize = due.size
            unsynced.consume(due.keptBytes)
            syncedSequence = due.sequence
            if due.directory { directorySyncPending = false }
            emit(.durable(sequence: due.sequence, latencyNanos: lastSyncNanos - started))
            return false
        }
    }

    /// At stop: whatever the policy, a clean shutdown leaves everything on stable storage.
    private func finish() {
        if let (name, index) = sealedIndexPending.take() { writeSealedIndex(index, name: name) }
        if failure == nil && (unsyncedSequence > syncedSequence || directorySyncPending) {
            do throws(LedgerIOError) { try sync() } catch { fail(error) }
        }
        if failure == nil { checkpoint(durable: true) }
        stoppedAtSequence = syncedSequence
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        staging.release()
        unsynced.release()
    }

    private func emit(_ event: WriterEvent) {
        notify(event, !writingInline)
    }

    private func fail(_ error: LedgerIOError) {
        failure = error
        emit(.failed(error))
    }

    /// After a failed write or fsync: cuts the segment back to its last whole
    /// frame, writes again every frame the last good fsync does not cover
    /// (after a failed fsync the kernel may have dropped those pages or
    /// marked them clean, so the page cache is not trusted), and fsyncs.
    private func restore() throws(LedgerIOError) {
        try FileIO.truncate(fd, to: segmentSize, path: segmentPath)
        if unsynced.readableBytes > 0 {
            try FileIO.pwriteAll(fd, unsynced.readPointer, unsynced.readableBytes, at: syncedSize, path: segmentPath)
        }
        try sync()
    }

    /// Writes `taken`, sealing the segment each time it fills. When a seal
    /// waits for the fsync in flight, the rest stays in `taken` until that
    /// fsync ends (the sync thread then wakes this one): so a segment
    /// exceeds `segment_bytes` by at most one frame, however much was
    /// queued meanwhile.
    private func writeTaken() throws(LedgerIOError) {
        while !taken.isEmpty {
            if shouldRoll() { try roll() } else if sealWaiting { return }
            let written = try write(taken)
            taken.removeFirst(written)
        }
    }

    /// True while nothing can be written: a seal is due and waits for the
    /// fsync in flight.
    private var writesWaitForSeal: Bool { sealWaiting && syncInFlight != nil && !taken.isEmpty }

    /// Appends `batches` as frames, from the first, until they are all
    /// written or the segment reaches `segment_bytes`; returns how many
    /// were written (at least one). All or nothing as far as anyone can
    /// tell: on an error nothing is reported, and the writer's view of the
    /// segment stays at the last whole frame before them (`restore` cuts
    /// the rest). The caller seals (`shouldRoll`, `roll`) before.
    private func write(_ batches: [Batch]) throws(LedgerIOError) -> Int {
        var frames: [WrittenFrame] = []
        var bytes = 0
        var offset = segmentSize
        let keptBefore = unsynced.readableBytes
        var i = 0
        do throws(LedgerIOError) {
            while i < batches.count {
                // Gather batches into one frame up to the size cap, and no
                // more than the segment has room for (raw bytes: a frame is
                // never much larger compressed), so that a backlog does not
                // make one frame that overfills the segment.
                let room = min(LedgerLimits.maxFrameBytes, max(config.segmentBytes - offset, 0))
                staging.clear()
                let first = batches[i].firstSequence
                var count = 0
                repeat {
                    let b = batches[i]
                    staging.append(b.bytes.readPointer, b.bytes.readableBytes)
                    count += b.count
                    bytes += b.byteCount
                    i += 1
                } while i < batches.count && staging.readableBytes + batches[i].byteCount <= room
                let frame: UnsafeRawBufferPointer
                do {
                    frame = try encoder.encode(records: staging.readPointer, length: staging.readableBytes,
                                               count: count, firstSequence: first)
                } catch {
                    throw LedgerIOError("compress", segmentPath, errno: EIO)
                }
                guard let base = frame.baseAddress else { throw LedgerIOError("encode frame", segmentPath, errno: EIO) }
                try FileIO.pwriteAll(fd, base, frame.count, at: offset, path: segmentPath)
                unsynced.append(base, frame.count)
                frames.append(WrittenFrame.summarize(offset: offset, header: encoder.header,
                                                     records: staging.readPointer, length: staging.readableBytes))
                offset += frame.count
                if offset >= config.segmentBytes { break }
            }
        } catch {
            unsynced.writeIndex = unsynced.readIndex + keptBefore
            throw error
        }
        segmentSize = offset
        for f in frames { index.addWritten(f) }
        if let last = frames.last { unsyncedSequence = last.header.nextSequence }
        emit(.written(sequence: unsyncedSequence, segment: segmentName, frames: frames, bytes: bytes))
        return i
    }

    /// fsyncs the active segment holding the lock (restoring, sealing,
    /// stopping); the frames kept for a rewrite are then dropped.
    private func sync() throws(LedgerIOError) {
        syncGeneration += 1
        let started = Clock.monotonicNanos()
        try FileIO.fsync(fd, path: segmentPath)
        if directorySyncPending {
            try FileIO.fsyncDirectory(config.dir)
            directorySyncPending = false
        }
        lastSyncNanos = Clock.monotonicNanos()
        syncedSize = segmentSize
        unsynced.clear()
        syncedSequence = unsyncedSequence
        emit(.durable(sequence: syncedSequence, latencyNanos: lastSyncNanos - started))
    }

    private func shouldRoll() -> Bool {
        guard index.recordCount > 0, segmentSize >= config.segmentBytes
            || Clock.monotonicNanos() - segmentOpenedNanos >= segmentAgeNanos else { return false }
        // Sealing waits for the fsync in flight (one fsync of a segment at a
        // time), and keeps the next one from starting (`sealWaiting`).
        guard syncInFlight == nil else {
            sealWaiting = true
            return false
        }
        return true
    }

    /// Seals the active segment and starts the next one. The sealed segment
    /// is fsynced before the next one's file exists, so a crash never leaves
    /// a newer segment after an unsynced one; nothing changes until that file
    /// is open, so a failure leaves the active segment as it was. The rest
    /// waits, outside the lock: the new file's directory entry is fsynced
    /// with its first fsync (before anything in it is reported durable), the
    /// sealed index is written after the step (`writeSealedIndex`).
    private func roll() throws(LedgerIOError) {
        try sync()
        sealWaiting = false
        sealRequested.store(false, ordering: .sequentiallyConsistent)
        var sealedIndex = index
        sealedIndex.sealed = true
        let next = index.nextSequence
        let name = LedgerDirectory.segmentName(next)
        let path = config.dir + "/" + name
        let newFD = try FileIO.open(path, O_WRONLY | O_CREAT)
        close(fd)
        directorySyncPending = true
        sealedIndexPending = (segmentName, sealedIndex)
        let sealedName = segmentName
        let sealedSize = segmentSize
        fd = newFD
        segmentName = name
        segmentPath = path
        segmentSize = 0
        syncedSize = 0
        segmentOpenedNanos = Clock.monotonicNanos()
        index = SegmentIndex(firstSequence: next)
        checkpointedBytes = 0
        emit(.rolled(sealed: sealedName, index: sealedIndex, size: sealedSize, next: name, nextFirstSequence: next))
    }

    /// A sealed segment's final index (fsynced). Not writing it loses
    /// nothing: recovery rebuilds it by scanning the segment.
    private func writeSealedIndex(_ index: SegmentIndex, name: String) {
        // Notified directly: this runs on the writer thread, never inline.
        do throws(LedgerIOError) {
            try writeIndex(index, name: name, durable: true)
        } catch {
            notify(.indexFailed(error), true)
        }
        notify(.sealed(name), true)
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
            emit(.indexFailed(error))
        }
    }

    private func writeIndex(_ index: SegmentIndex, name: String, durable: Bool) throws(LedgerIOError) {
        let bytes = index.encoded()
        let path = config.dir + "/" + LedgerDirectory.indexName(forSegment: name)
        var failure: LedgerIOError?
        bytes.withUnsafeBytes { raw in
            do throws(LedgerIOError) {
                try FileIO.replace(path, with: raw, durable: durable, directory: config.dir)
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
