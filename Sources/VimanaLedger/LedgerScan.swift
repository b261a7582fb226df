import Synchronization
import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

// LEDGER SCAN (Protocol/LEDGER.md §8, PROTOCOL.md §6): every record of the
// ledger in sequence order from a cursor, as metadata only. The cursor is a
// sequence number (LEDGER.md §2: sequences strictly increase and are never
// reused for a record that was confirmed), so a reader that keeps it reads
// each confirmed record exactly once, across restarts of either side.

/// One record as LEDGER SCAN tells it: never its fields' bytes.
public struct ScanEntry: Sendable, Equatable {
    public var sequence: UInt64
    public var topic: [UInt8]
    public var id: StreamID
    public var publisher: [UInt8]
    /// The sum of the lengths of its field values (a PUBLISH: its payload's).
    public var bytes: Int
    public var timestampMicros: Int64
    /// Where it was first published (LEDGER.md §3): empty and 0 here; for
    /// a scanner in the server (LEDGER SCAN's reply does not carry them).
    public var origin: [UInt8]
    public var originSequence: UInt64

    public init(sequence: UInt64, topic: [UInt8], id: StreamID, publisher: [UInt8], bytes: Int, timestampMicros: Int64,
                origin: [UInt8] = [], originSequence: UInt64 = 0) {
        self.sequence = sequence
        self.topic = topic
        self.id = id
        self.publisher = publisher
        self.bytes = bytes
        self.timestampMicros = timestampMicros
        self.origin = origin
        self.originSequence = originSequence
    }

    init(_ r: LedgerRecord) {
        self.init(sequence: r.sequence, topic: r.topic, id: r.id, publisher: r.publisher,
                  bytes: r.fields.reduce(0) { $0 &+ $1.value.count }, timestampMicros: r.timestampMicros,
                  origin: r.origin, originSequence: r.originSequence)
    }
}

/// What one LEDGER SCAN found.
public struct ScanResult: Sendable, Equatable {
    public var entries: [ScanEntry] = []
    /// Where the next call starts: after the last entry, or `end` when the
    /// scan reached it.
    public var cursor: UInt64
    /// Sequences from the cursor given up to `cursor` that the ledger no
    /// longer holds (retired by retention, lost to damage or a repair).
    public var skipped: UInt64 = 0
    /// Every record before it is confirmed (`Ledger.confirmedSequence`) and
    /// may be scanned now.
    public var end: UInt64
    /// A frame could not be read and nothing before it was returned: the
    /// segment is examined, and the same call done again passes its damage.
    public var problem: String?
}

/// A LEDGER SCAN's disk work, planned on the loop, done on the reader thread.
final class ScanJob: ReaderJob, @unchecked Sendable {
    let start: UInt64
    let end: UInt64
    /// Where this page stops at the latest: `end`, or the first sequence of
    /// a segment not planned (not opened, or past what `count` needs).
    let limit: UInt64
    let count: Int
    /// Sequences skipped before `start` (below the oldest record kept).
    let skippedBefore: UInt64
    let plans: [SegmentReadPlan]
    /// Encodes the reply on the reader thread (the loop only hands the bytes
    /// on); nil: the caller writes it from `result`.
    let encode: (@Sendable (ScanResult) -> ByteBuffer)?
    let done: (ScanResult, ByteBuffer?) -> Void
    // Set by the reader thread, read by the loop once handed back.
    var result: ScanResult
    /// The reply, when the scan met no problem (then `result.entries` is emptied).
    var encoded: ByteBuffer?
    var failedSegment: String?
    var failure: FrameProblem?
    var frames = 0

    init(start: UInt64, end: UInt64, limit: UInt64, count: Int, skippedBefore: UInt64, plans: [SegmentReadPlan],
         encode: (@Sendable (ScanResult) -> ByteBuffer)?, done: @escaping (ScanResult, ByteBuffer?) -> Void) {
        self.start = start
        self.end = end
        self.limit = limit
        self.count = count
        self.skippedBefore = skippedBefore
        self.plans = plans
        self.encode = encode
        self.done = done
        result = ScanResult(cursor: start, end: end)
    }

    func closeFiles() { for plan in plans { close(plan.fd) } }

    /// Reads from `start` up to `limit`, `count` entries or a page's bytes (reader thread, or
    /// the loop when there is no reader thread).
    func run(_ scanner: SegmentScanner) {
        defer { closeFiles() }
        var expected = start
        var entries: [ScanEntry] = []
        // The reply's size, counted as it grows: a page is full at `count`
        // entries or at `LedgerLimits.scanPageBytes`, whichever comes first.
        var pageBytes = 0
        var full = false
        entries.reserveCapacity(min(count, LedgerLimits.scanReserve))
        walk: for plan in plans {
            for span in plan.spans {
                var offset = span.start
                while offset < span.end {
                    if let skip = plan.lost.first(where: { $0.start <= offset && offset < $0.end }) {
                        offset = skip.end
                        continue
                    }
                    let (start, end) = (self.start, self.limit)
                    switch scanner.readFrame(fd: plan.fd, path: plan.path, at: offset, size: plan.size,
                                             skip: { $0.nextSequence <= start || $0.firstSequence >= end }) {
                    case .success(let (header, records)):
                        if header.firstSequence >= end { break walk }
                        offset += header.frameLength
                        guard let records else { continue }
                        frames += 1
                        for r in records where r.sequence >= expected && r.sequence < end {
                            entries.append(ScanEntry(r))
                            expected = r.sequence + 1
                            pageBytes += r.topic.count + r.publisher.count + LedgerLimits.scanEntryBytes
                            if entries.count >= count || pageBytes >= LedgerLimits.scanPageBytes {
                                full = true
                                break walk
                            }
                        }
                    case .failure(let problem):
                        failedSegment = plan.name
                        failure = problem
                        break walk
                    }
                }
            }
        }
        result.entries = entries
        if failure != nil {
            // Stop before the frame that failed: nothing after it is skipped.
            result.cursor = expected
            if entries.isEmpty { result.problem = failure?.description }
        } else {
            result.cursor = full ? expected : limit
        }
        result.skipped = skippedBefore + Self.gaps(entries, from: start, to: result.cursor)
        if result.problem == nil, let encode {
            encoded = encode(result)
            result.entries = []
        }
    }

    /// Sequences in `from..<to` that no entry has (entries ascending, all in it).
    static func gaps(_ entries: [ScanEntry], from: UInt64, to: UInt64) -> UInt64 {
        to >= from ? (to - from) - UInt64(entries.count) : 0
    }
}

extension Ledger {
    /// LEDGER SCAN from `cursor` (0: from the oldest record kept; nil: from
    /// the end, returning nothing): up to `count` entries of the records
    /// confirmed so far, in sequence order. The result now when it needs no
    /// reading of the files (or there is no reader thread: read on the loop,
    /// bounded by `count`); else nil, and `done` gets it later on the loop
    /// thread, with the reply `encode` made of it on the reader thread (nil
    /// when the result has a `problem`). Records before the oldest segment
    /// kept are counted in `skipped`, as are sequences lost to damage.
    public func scan(from cursor: UInt64?, count: Int, encode: @escaping @Sendable (ScanResult) -> ByteBuffer,
                     done: @escaping (ScanResult, ByteBuffer?) -> Void) -> ScanResult? {
        let end = confirmedSequence
        let oldest = firstSequence
        guard let cursor else { return ScanResult(cursor: end, end: end) }
        let start = max(cursor, oldest)
        let skippedBefore = oldest > max(cursor, 1) ? oldest - max(cursor, 1) : 0
        guard start < end, count > 0 else { return ScanResult(cursor: start, skipped: skippedBefore, end: end) }
        // Confirmed records are all in segment files (written), so only
        // they are read: from the frame that holds `start` on, and only as
        // many segments as can hold `count` sequences. The page ends before
        // a segment not planned (`limit`): one that could not be opened is
        // never passed (its records would be lost to this reader), and the
        // loop opens no more descriptors than the page needs.
        var plans: [SegmentReadPlan] = []
        var limit = end
        for view in segments where view.index.nextSequence > start {
            if view.index.firstSequence >= end { break }
            let entries = view.index.entries
            guard !entries.isEmpty else { continue }
            var k = 0
            while k + 1 < entries.count && entries[k + 1].firstSequence <= start { k += 1 }
            let covered = min(Int(clamping: view.index.coveredBytes), view.size)
            let from = Int(clamping: entries[k].offset)
            guard from < covered else { continue }
            guard let fd = view.fd() else {
                limit = max(start, view.index.firstSequence)
                break
            }
            let owned = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard owned >= 0 else {
                limit = max(start, view.index.firstSequence)
                break
            }
            plans.append(SegmentReadPlan(name: view.name, path: view.path, fd: owned, size: view.size,
                                         spans: [(from, covered)],
                                         lost: view.damage?.stretches.map { ($0.offset, $0.end) } ?? []))
            if view.index.nextSequence >= end { break }
            if view.index.nextSequence - start >= UInt64(count) {
                limit = view.index.nextSequence
                break
            }
        }
        if limit <= start {
            // The segment holding `start` could not be opened (nothing was
            // planned): a clear error, nothing passed.
            return ScanResult(cursor: start, skipped: 0, end: end,
                              problem: "segment \(segments.first { $0.index.nextSequence > start }?.name ?? "?") could not be opened")
        }
        guard let reader else {
            // No reader thread: on the loop, bounded by `count`, the reply written by the caller.
            let job = ScanJob(start: start, end: end, limit: limit, count: count, skippedBefore: skippedBefore, plans: plans,
                              encode: nil, done: { _, _ in })
            if let scanner { job.run(scanner) } else { job.closeFiles() }
            settle(job)
            return job.result
        }
        let job = ScanJob(start: start, end: end, limit: limit, count: count, skippedBefore: skippedBefore, plans: plans,
                          encode: encode, done: done)
        reader.submit(job)
        return nil
    }

    /// A scan handed back by the reader thread (loop thread).
    func finish(_ job: ScanJob) {
        settle(job)
        job.done(job.result, job.encoded)
    }

    /// Counts a scan's frames; a frame it could not read has its segment examined.
    private func settle(_ job: ScanJob) {
        stats.framesRead += job.frames
        if let name = job.failedSegment, let problem = job.failure,
           let view = segments.first(where: { $0.name == name }) {
            readFailed(view, problem)
            _ = examineSuspects()
        }
    }
}
