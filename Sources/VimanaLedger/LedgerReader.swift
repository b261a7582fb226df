import Dispatch
import Synchronization
import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// An XRANGE or XREVRANGE planned on the loop thread and done on the
/// reader thread: everything it needs is copied or immutable (segment plans
/// with their own descriptors, committed batches, the current batch's
/// records decoded at once), so the loop goes on serving while the disk is
/// read and frames are inflated.
final class BackgroundRead: ReaderJob, @unchecked Sendable {
    let id: Int
    let filter: ReadFilter
    let reverse: Bool
    let count: Int
    /// The disk part, in the read's order.
    let plans: [SegmentReadPlan]
    /// The part in memory: committed batches, oldest first, and the current
    /// batch's records in the read's order (forward: batches, then
    /// `pending`; backward: `pending`, then batches newest first).
    let batches: [Batch]
    let pending: [LedgerRecord]
    /// Called on the reader thread with each record, in the read's order;
    /// false: no more (the reply has grown past what the client may hold).
    let visit: @Sendable (LedgerRecord) -> Bool

    // Set by the reader thread, read by the loop once the read is handed back.
    var returned = 0
    var lastID: StreamID?
    var frames = 0
    /// Records in memory looked at (`LedgerStats.tailRecordsExamined`).
    var examined = 0
    var problem: (segment: String, FrameProblem)?

    init(id: Int, filter: ReadFilter, reverse: Bool, count: Int, plans: [SegmentReadPlan], batches: [Batch],
         pending: [LedgerRecord], visit: @escaping @Sendable (LedgerRecord) -> Bool) {
        self.id = id
        self.filter = filter
        self.reverse = reverse
        self.count = count
        self.plans = plans
        self.batches = batches
        self.pending = pending
        self.visit = visit
    }

    func closeFiles() { for plan in plans { close(plan.fd) } }

    /// Runs the read (reader thread).
    func run(_ scanner: SegmentScanner) {
        let take = { (r: LedgerRecord) -> Bool in
            self.returned += 1
            self.lastID = r.id
            return self.visit(r) && self.returned < self.count
        }
        func disk() -> Bool {
            for plan in plans {
                let outcome = plan.read(filter, reverse: reverse, scanner: scanner, visit: take)
                frames += outcome.frames
                if let p = outcome.problem {
                    problem = (plan.name, p)
                    return false
                }
                if outcome.stopped { return false }
            }
            return true
        }
        func memory() -> Bool {
            let inMemory = ReadFilter(topic: filter.topic, from: filter.from, to: filter.to,
                                      fromSequence: filter.fromSequence, below: .max, places: filter.places,
                                      deleted: filter.deleted)
            if reverse {
                for r in pending where !take(r) { return false }
                if !Batch.read(batches, inMemory, reverse: true, examined: &examined, visit: take) { return false }
            } else {
                if !Batch.read(batches, inMemory, reverse: false, examined: &examined, visit: take) { return false }
                for r in pending where !take(r) { return false }
            }
            return true
        }
        if reverse { _ = memory() && disk() } else { _ = disk() && memory() }
        closeFiles()
    }
}

/// Work for the reader thread: an XRANGE's (`BackgroundRead`) or a LEDGER
/// SCAN's (`ScanJob`).
protocol ReaderJob: AnyObject, Sendable {
    /// Does the reads (reader thread); closes the job's descriptors.
    func run(_ scanner: SegmentScanner)
    /// Closes the job's descriptors when it will never run.
    func closeFiles()
}

/// The third ledger thread: does `BackgroundRead`s and `ScanJob`s one after another and
/// hands each back to the loop through `notify` (as the writer and the
/// maintenance thread do), so that a read that must go to the disk never
/// stalls the other clients.
final class LedgerReader: @unchecked Sendable {
    private let notify: @Sendable (any ReaderJob) -> Void
    private let queue = Mutex<[any ReaderJob]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    private let thread = LedgerThread()

    init(notify: @escaping @Sendable (any ReaderJob) -> Void) {
        self.notify = notify
    }

    /// False when the thread cannot be started (reads are then done on the loop).
    func start() -> Bool {
        thread.start(name: "vimana-reader", { self.run() }) == nil
    }

    func submit(_ read: any ReaderJob) {
        queue.withLock { $0.append(read) }
        wakeup.signal()
    }

    /// Finishes the read in progress; the rest are dropped (their clients are closing).
    func stop() {
        thread.requestStop()
        wakeup.signal()
        thread.join()
        for read in queue.withLock({ q in defer { q.removeAll() }; return q }) { read.closeFiles() }
    }

    private func run() {
        guard let scanner = try? SegmentScanner() else { return }
        while !thread.isStopping {
            wakeup.wait()
            while !thread.isStopping {
                guard let read = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { break }
                read.run(scanner)
                notify(read)
            }
        }
    }
}

/// How a background read ended, as the loop sees it.
public enum BackgroundReadResult: Sendable {
    /// Every record went to `visit`; `returned` of them.
    case done(returned: Int)
    /// The range may hold records that cannot be read (as `readRange`).
    case damaged(LedgerDamageError)
    /// A frame could not be read: its segment has been examined; do the read
    /// again with `readRange` (what it returned is to be discarded).
    case redo
}

extension Ledger {

    /// Starts XRANGE (`reverse` false) or XREVRANGE on the reader thread when
    /// it must read the disk or many records; false when it is better done
    /// at once with `readRange` (nothing was started). Otherwise `visit` gets
    /// each record on the reader thread (and may stop the read by returning
    /// false), then `done` runs on the loop thread.
    public func readInBackground(topic: [UInt8], from: StreamID, to: StreamID, count: Int, reverse: Bool,
                                 visit: @escaping @Sendable (LedgerRecord) -> Bool,
                                 done: @escaping (BackgroundReadResult) -> Void) -> Bool {
        guard let reader, count > 0, from <= to, stream(topic) != nil else { return false }
        let below = tailFirstSequence, at = places(topic)
        // A forward read from an ID the memory holds needs no segment (memoryStart).
        var probed = 0
        let start = reverse ? nil : memoryStart(topic, from, below: below, places: at, examined: &probed)
        stats.tailRecordsExamined += probed
        let cut = removals(of: topic)
        let filter = ReadFilter(topic: topic, from: from, to: to, fromSequence: max(start ?? 0, cut.floor), below: below,
                                places: at, deleted: cut.deleted)
        var views = start == nil ? segments.filter { $0.index.firstSequence < below } : []
        if reverse { views.reverse() }
        // Planned without descriptors first: most reads of recent entries need none.
        let wanted = views.filter { readPlan($0, filter, reverse: reverse) != nil }
        let inMemory = nextSequence - (start ?? below)
        guard !wanted.isEmpty || (count > LedgerLimits.backgroundReadRecords && inMemory > UInt64(LedgerLimits.backgroundReadRecords))
        else { return false }
        var plans: [SegmentReadPlan] = []
        for view in wanted {
            guard let plan = readPlan(view, filter, reverse: reverse, owned: true) else {
                for p in plans { Glibc.close(p.fd) }
                return false
            }
            plans.append(plan)
        }
        let batches = Array(tail.live)
        var pending: [LedgerRecord] = []
        if let current {
            let all = ReadFilter(topic: topic, from: from, to: to, fromSequence: max(start ?? 0, cut.floor), below: .max,
                                 places: at, deleted: cut.deleted)
            _ = Batch.read(CollectionOfOne(current), all, reverse: reverse, examined: &stats.tailRecordsExamined) {
                pending.append($0)
                return true
            }
        }
        nextReadID += 1
        let read = BackgroundRead(id: nextReadID, filter: filter, reverse: reverse, count: count, plans: plans,
                                  batches: batches, pending: pending, visit: visit)
        backgroundReads[read.id] = done
        stats.backgroundReads += 1
        reader.submit(read)
        return true
    }

    /// Reads started and not yet handed back (INFO `ledger_reads_in_progress`).
    public var readsInProgress: Int { backgroundReads.count }

    /// A read handed back by the reader thread (loop thread).
    func finish(_ read: BackgroundRead) {
        stats.framesRead += read.frames
        stats.tailRecordsExamined += read.examined
        guard let done = backgroundReads.removeValue(forKey: read.id) else { return }
        if let (name, problem) = read.problem {
            if let view = segments.first(where: { $0.name == name }) { readFailed(view, problem) }
            _ = examineSuspects()
            done(.redo)
            return
        }
        if let error = damageCrossed(returned: read.returned, last: read.lastID, read.filter.topic,
                                     read.filter.from, read.filter.to, read.count, read.reverse) {
            done(.damaged(error))
            return
        }
        done(.done(returned: read.returned))
    }

    /// Starts the reader thread (from `open`).
    func startReader(notify: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) {
        let reader = LedgerReader { [unowned self] job in
            notify {
                if let read = job as? BackgroundRead { self.finish(read) } else if let scan = job as? ScanJob { self.finish(scan) }
            }
        }
        if reader.start() {
            self.reader = reader
        } else {
            log.warn("cannot start the ledger reader thread: reads from disk are done on the loop")
        }
    }
}
