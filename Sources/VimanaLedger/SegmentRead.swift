#if canImport(Glibc)
import Glibc
#endif

/// Which records a read wants: one topic, an ID range, and the sequences
/// it may take them from.
struct ReadFilter: Sendable {
    let topic: [UInt8]
    let from: StreamID
    let to: StreamID
    /// Records from `fromSequence` up to (not including) `below` only: the
    /// disk part of a read stops where the batches in memory begin.
    let fromSequence: UInt64
    let below: UInt64
    /// Where the topic's entries are (TopicRuns.swift): frames and batches
    /// outside it hold none and are not looked at.
    var places = TopicPlaces.anywhere
    /// At most this many records are wanted (a forward read's COUNT): a
    /// frame read forward is decoded until it has that many in the range.
    var wanted = Int.max
    /// Sequences of entries removed one by one (XDEL: Ledger+Removals.swift),
    /// passed over; those below the stream's floor are below `fromSequence`.
    var deleted: Set<UInt64> = []

    @inline(__always)
    func matches(_ r: LedgerRecord) -> Bool {
        r.sequence >= fromSequence && r.sequence < below && r.id >= from && r.id <= to && r.topic == topic
            && (deleted.isEmpty || !deleted.contains(r.sequence))
    }
}

/// One segment's share of a read, as plain values, so that the reader
/// thread can do it while the loop goes on (a segment compacted or retired
/// meanwhile is still read whole through `fd`, which names the file as it
/// was when the read was planned).
struct SegmentReadPlan: @unchecked Sendable {
    let name: String
    let path: String
    let fd: Int32
    let size: Int
    /// Byte spans to read, in the read's order: stretches of adjacent index
    /// entries oldest first (forward), one index entry each newest first (backward).
    let spans: [(start: Int, end: Int)]
    /// Unreadable stretches of a damaged segment (Ledger+Damage.swift), skipped.
    let lost: [(start: Int, end: Int)]
}

/// What reading one segment's plan did.
struct SegmentReadOutcome {
    /// Frames inflated (INFO `ledger_frames_read`).
    var frames = 0
    /// `visit` asked for no more records.
    var stopped = false
    /// The frame that could not be read, if any (the rest of the plan is skipped).
    var problem: FrameProblem?
}

extension SegmentReadPlan {
    /// Reads the plan's spans and hands matching records to `visit` in the
    /// read's order until it returns false. A backward read walks each index
    /// entry's frame headers first and inflates its frames newest first, so
    /// `XREVRANGE … COUNT n` inflates about the frames it returns, not the topic.
    func read(_ filter: ReadFilter, reverse: Bool, scanner: SegmentScanner,
              visit: (LedgerRecord) -> Bool) -> SegmentReadOutcome {
        var out = SegmentReadOutcome()
        let ids = filter.from <= filter.to ? filter.from...filter.to : nil
        // The decoder counts the entries XDEL removed among those it keeps
        // (`matches` drops them after): it decodes as many more, or a frame
        // holding some would give fewer than wanted and the rest of it be passed over.
        let (more, overflow) = filter.wanted.addingReportingOverflow(filter.deleted.count)
        let decodeLimit = overflow ? Int.max : more
        for span in spans {
            let offsets = reverse ? frameOffsets(span, filter) : nil
            var k = offsets.map { $0.count } ?? 0
            var offset = span.start
            while true {
                if let offsets {
                    guard k > 0 else { break }
                    k -= 1
                    offset = offsets[k]
                } else {
                    guard offset < span.end else { break }
                    if let skip = lost.first(where: { $0.start <= offset && offset < $0.end }) {
                        offset = skip.end
                        continue
                    }
                }
                // Frames before the read's first sequence, or without the
                // topic's entries, are passed over on their headers.
                let places = filter.places, from = filter.fromSequence
                switch scanner.readFrame(fd: fd, path: path, at: offset, size: size, only: filter.topic,
                                         from: from, ids: ids, limit: reverse ? .max : decodeLimit,
                                         skip: { $0.nextSequence <= from || !places.mayHold($0.firstSequence, $0.nextSequence) }) {
                case .success(let (header, read)):
                    if !reverse && header.firstSequence >= filter.below { return out }
                    // Skipped on its header alone: none of the topic's entries is in it.
                    guard let records = read else {
                        if !reverse { offset += header.frameLength }
                        continue
                    }
                    out.frames += 1
                    if reverse {
                        for r in records.reversed() where filter.matches(r) {
                            if !visit(r) { out.stopped = true; return out }
                        }
                    } else {
                        for r in records where filter.matches(r) {
                            if !visit(r) { out.stopped = true; return out }
                        }
                        offset += header.frameLength
                    }
                case .failure(let problem):
                    out.problem = problem
                    return out
                }
            }
        }
        return out
    }

    /// Start offsets of the frames in `span` below `filter.below`, from
    /// their headers alone (nothing inflated).
    private func frameOffsets(_ span: (start: Int, end: Int), _ filter: ReadFilter) -> [Int] {
        var offsets: [Int] = []
        var frames = FrameIterator(fd: fd, size: size, from: span.start)
        while frames.offset < span.end {
            if let skip = lost.first(where: { $0.start <= frames.offset && frames.offset < $0.end }) {
                frames = FrameIterator(fd: fd, size: size, from: skip.end)
                continue
            }
            // An invalid frame ends the walk: it is read (and reported) like
            // any other, from the offsets found so far on.
            guard case .success(let f)? = frames.next() else {
                offsets.append(frames.offset)
                break
            }
            if f.header.firstSequence >= filter.below { break }
            if filter.places.mayHold(f.header.firstSequence, f.header.nextSequence) { offsets.append(f.offset) }
        }
        return offsets
    }
}

/// Reading committed batches (immutable: safe from the reader thread too).
extension Batch {
    /// Hands `filter`'s records in this batch within `within` to `visit`,
    /// in order or newest first; false once `visit` asked for no more.
    /// Records of other topics are passed over in place (nothing decoded).
    /// `examined` grows by the records looked at.
    func read(_ filter: ReadFilter, reverse: Bool, within: Range<UInt64> = 0..<UInt64.max, examined: inout Int,
              visit: (LedgerRecord) -> Bool) -> Bool {
        let lo = max(firstSequence, filter.fromSequence, within.lowerBound), hi = min(nextSequence, within.upperBound)
        guard lo < hi else { return true }
        examined += Int(hi - lo)
        return filter.topic.withUnsafeBytes { topic in
            var s = reverse ? hi : lo
            while reverse ? s > lo : s < hi {
                if reverse { s -= 1 }
                if let id = self.id(s, on: topic), id >= filter.from, id <= filter.to,
                   filter.deleted.isEmpty || !filter.deleted.contains(s), let r = record(s) {
                    if !visit(r) { return false }
                }
                if !reverse { s += 1 }
            }
            return true
        }
    }

    /// Reads `filter`'s records in `batches` (consecutive, oldest first), in
    /// the read's order, looking only at the sequences `filter.places` says
    /// may hold the topic: a sparse topic's read costs its own entries, not
    /// the tail's length. False once `visit` asked for no more.
    static func read(_ batches: some RandomAccessCollection<Batch>, _ filter: ReadFilter, reverse: Bool,
                     examined: inout Int, visit: (LedgerRecord) -> Bool) -> Bool {
        guard let first = batches.first, let last = batches.last else { return true }
        let spans = filter.places.spans(max(first.firstSequence, filter.fromSequence), last.nextSequence)
        for span in reverse ? spans.reversed() : spans {
            // The first batch that ends after the span's start.
            var lo = batches.startIndex, hi = batches.endIndex
            while lo < hi {
                let mid = batches.index(lo, offsetBy: batches.distance(from: lo, to: hi) / 2)
                if batches[mid].nextSequence <= span.lowerBound { lo = batches.index(after: mid) } else { hi = mid }
            }
            var end = lo
            while end < batches.endIndex && batches[end].firstSequence < span.upperBound { end = batches.index(after: end) }
            let overlapping = batches[lo..<end]
            if reverse {
                for b in overlapping.reversed() where !b.read(filter, reverse: true, within: span, examined: &examined, visit: visit) { return false }
            } else {
                for b in overlapping where !b.read(filter, reverse: false, within: span, examined: &examined, visit: visit) { return false }
            }
        }
        return true
    }
}
