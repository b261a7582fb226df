#if canImport(Glibc)
import Glibc
#endif

/// Reads by topic and ID range (XRANGE, XREVRANGE, XREAD): segments on disk
/// through their indexes, then the batches still in memory.
///
/// Only frames that can hold the range are read: a segment whose topic
/// stats do not overlap it is skipped whole, and within a segment each index
/// stretch carries the smallest and largest ID milliseconds it holds.
extension Ledger {
    ///
    /// Records in damaged stretches of sealed segments are passed over; a
    /// read that finds new damage has the segment examined and is done again
    /// (Ledger+Damage.swift). `readRange` says when a range crosses damage.
    public func range(topic: [UInt8], from: StreamID, to: StreamID, count: Int, reverse: Bool = false) -> [LedgerRecord] {
        // Nothing after the stream's last ID: an agent's catch-up (XRANGE
        // from after the last entry it read) mostly asks that, and the
        // active segment's unindexed frames would be inflated to learn it.
        guard count > 0, from <= to, let state = stream(topic), from <= state.lastID else { return [] }
        let out = reverse ? backward(topic, from, to, count) : forward(topic, from, to, count, fromSequence: 0)
        guard examineSuspects() else { return out }
        return reverse ? backward(topic, from, to, count) : forward(topic, from, to, count, fromSequence: 0)
    }

    /// Entries after `id` (XREAD). When the caller knows the sequence of the
    /// entry with `id` (a consumer group delivering in order does), reads
    /// skip everything before it without looking.
    public func entries(topic: [UInt8], after id: StreamID, afterSequence: UInt64 = 0, count: Int) -> [LedgerRecord] {
        // Nothing after the stream's last ID: woken blocked readers mostly ask that.
        guard let next = id.successor, count > 0, let state = stream(topic), id < state.lastID else { return [] }
        let fromSequence = afterSequence == 0 ? 0 : afterSequence + 1
        let out = forward(topic, next, .max, count, fromSequence: fromSequence)
        guard examineSuspects() else { return out }
        return forward(topic, next, .max, count, fromSequence: fromSequence)
    }

    /// The entries of `topic` with the given IDs, which must be ascending:
    /// `out[k]` is the entry with `ids[k]`, or nil when it cannot be read (cut
    /// by retention, or in a damaged stretch). XAUTOCLAIM, XCLAIM and an
    /// XREADGROUP of a consumer's history look up many scattered entries:
    /// one by one, each lookup walked the in-memory tail from its start, and
    /// 10,000 of them on a 200,000-entry topic took a minute (issue 9). Here
    /// each index stretch that may hold a wanted ID is inflated once, and the
    /// tail walked once.
    public func records(topic: [UInt8], ids: [StreamID]) -> [LedgerRecord?] {
        guard !ids.isEmpty, stream(topic) != nil else { return Array(repeating: nil, count: ids.count) }
        let out = lookup(topic, ids)
        guard examineSuspects() else { return out }
        return lookup(topic, ids)
    }

    private func lookup(_ topic: [UInt8], _ ids: [StreamID]) -> [LedgerRecord?] {
        var out = [LedgerRecord?](repeating: nil, count: ids.count)
        guard let first = ids.first, let last = ids.last else { return out }
        var missing = ids.count
        func place(_ id: StreamID, _ record: () -> LedgerRecord?) {
            let k = Self.lowerBound(ids, id)
            guard k < ids.count, ids[k] == id, out[k] == nil, let r = record() else { return }
            out[k] = r
            missing -= 1
        }
        let below = tailFirstSequence, at = places(topic)
        var examined = 0
        defer { stats.tailRecordsExamined += examined }
        // IDs the memory holds from the first on: no segment, and the walk
        // of memory starts at the first (memoryStart).
        let start = memoryStart(topic, first, below: below, places: at, examined: &examined)
        // One forward pass over the stretches between the first and the last ID.
        let cut = removals(of: topic)
        let filter = ReadFilter(topic: topic, from: first, to: last, fromSequence: cut.floor, below: below, deleted: cut.deleted)
        for view in segments where start == nil {
            if view.index.firstSequence >= filter.below { break }
            // Only the stretches that can hold a wanted ID: one old task among
            // recent ones must not inflate the whole topic between them.
            guard let plan = readPlan(view, filter, reverse: false, ids: ids) else { continue }
            _ = readNow(plan, view, filter, reverse: false) { r in
                place(r.id) { r }
                return missing > 0
            }
            if missing == 0 { return out }
        }
        let limit = lastTailSequence(topic), from = max(start ?? 0, cut.floor)
        topic.withUnsafeBytes { name in
            for batch in tail.live + (current.map { [$0] } ?? []) {
                if batch.firstSequence > limit { return }
                // None of the topic's entries in it (TopicRuns.swift), or none wanted.
                if batch.nextSequence <= from || !at.mayHold(batch.firstSequence, batch.nextSequence) { continue }
                var s = max(batch.firstSequence, from)
                while s < batch.nextSequence && s <= limit {
                    examined += 1
                    // Entries XDEL removed are passed over first: one removed from the
                    // top may have a higher ID than those an XSETID let in after it.
                    if let id = batch.id(s, on: name), cut.deleted.isEmpty || !cut.deleted.contains(s) {
                        // A topic's IDs grow with its sequences (from its floor on): nothing wanted lies further on.
                        if id > last { return }
                        place(id) { batch.record(s) }
                        if missing == 0 { return }
                    }
                    s += 1
                }
            }
        }
        return out
    }

    /// Whether one of `ids` (ascending) has its milliseconds in `msFrom...to`.
    static func someID(_ ids: [StreamID], msFrom: UInt64, to: UInt64) -> Bool {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid].ms < msFrom { lo = mid + 1 } else { hi = mid }
        }
        return lo < ids.count && ids[lo].ms <= to
    }

    /// The index of the first of `ids` (ascending) not below `id`.
    static func lowerBound(_ ids: [StreamID], _ id: StreamID) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The frames of `view` that may hold `filter`'s entries, as byte spans:
    /// stretches of adjacent index entries (forward), or one index entry
    /// each, newest first (backward). nil when the segment holds none.
    /// `owned`: the plan gets its own descriptor (for the reader thread).
    /// `ids` (ascending), when given: only the stretches whose time span
    /// holds one of them, not every stretch between the first and the last.
    func readPlan(_ view: SegmentView, _ filter: ReadFilter, reverse: Bool, owned: Bool = false,
                  ids: [StreamID] = []) -> SegmentReadPlan? {
        guard let t = view.index.topics[filter.topic], t.count > 0,
              view.index.nextSequence > filter.fromSequence, view.index.firstSequence < filter.below else { return nil }
        // The topic's entries here lie between its first and last: a stretch
        // outside them holds only other topics' records (a sparse topic, such
        // as the group journal, among a busy one's is not read with them).
        // Unless removals broke the order of its IDs here: the segment holds
        // entries of a life of the topic before its latest DEL (made again
        // with lower IDs), or an XDEL removed its top entries and an XSETID
        // took the last ID below them (the index's first and last are the
        // first and last written, not the lowest and highest).
        var lowest = t.first, highest = t.last
        if !removalsInUse.isEmpty {
            let cut = removals(of: filter.topic)
            if cut.deletedAt > view.index.firstSequence || !cut.deleted.isEmpty { (lowest, highest) = (.zero, .max) }
        }
        guard highest >= filter.from, lowest <= filter.to else { return nil }
        let lo = max(filter.from, lowest).ms, hi = min(filter.to, highest).ms
        let entries = view.index.entries
        let covered = min(Int(clamping: view.index.coveredBytes), view.size)
        var spans: [(start: Int, end: Int)] = []
        for (k, e) in entries.enumerated() {
            let end = k + 1 < entries.count ? Int(clamping: entries[k + 1].offset) : covered
            let start = Int(clamping: e.offset)
            if e.maxMs < lo || e.minMs > hi || start >= end { continue }
            // No entry of the topic among this stretch's sequences (TopicRuns.swift).
            let next = k + 1 < entries.count ? entries[k + 1].firstSequence : view.index.nextSequence
            if !filter.places.mayHold(e.firstSequence, next) { continue }
            if !ids.isEmpty && !Self.someID(ids, msFrom: e.minMs, to: e.maxMs) { continue }
            if k + 1 < entries.count && entries[k + 1].firstSequence <= filter.fromSequence { continue }
            if e.firstSequence >= filter.below { break }
            if !reverse, let last = spans.last, last.end == start {
                spans[spans.count - 1].end = end
            } else {
                spans.append((start, end))
            }
        }
        guard !spans.isEmpty, var fd = view.fd() else { return nil }
        if owned {
            // Close-on-exec, as every descriptor here: agents are spawned from this process.
            fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { return nil }
        }
        return SegmentReadPlan(name: view.name, path: view.path, fd: fd, size: view.size,
                               spans: reverse ? spans.reversed() : spans,
                               lost: view.damage?.stretches.map { ($0.offset, $0.end) } ?? [])
    }

    /// Reads `plan` on the loop thread; a frame that cannot be read has its
    /// segment examined once the read is over.
    private func readNow(_ plan: SegmentReadPlan, _ view: SegmentView, _ filter: ReadFilter, reverse: Bool,
                         visit: (LedgerRecord) -> Bool) -> Bool {
        guard let scanner else { return false }
        let outcome = plan.read(filter, reverse: reverse, scanner: scanner, visit: visit)
        stats.framesRead += outcome.frames
        if let problem = outcome.problem { readFailed(view, problem) }
        return outcome.stopped
    }

    func readFailed(_ view: SegmentView, _ problem: FrameProblem) {
        log.error("ledger read failed", ["segment": .string(view.name), "offset": .int(problem.offset),
                                         "error": .string(problem.error.description)])
        noteUnreadable(view)
    }

    func forward(_ topic: [UInt8], _ from: StreamID, _ to: StreamID, _ count: Int,
                         fromSequence: UInt64) -> [LedgerRecord] {
        var out: [LedgerRecord] = []
        let below = tailFirstSequence, at = places(topic)
        let cut = removals(of: topic)
        let fromSequence = max(fromSequence, cut.floor)
        var examined = 0
        defer { stats.tailRecordsExamined += examined }
        // Reads at the head (agents' next task, XREAD after the last ID) start
        // in memory: the disk is not consulted at all. So do reads from an ID
        // the memory holds (memoryStart).
        var start = fromSequence
        if fromSequence < below, let s = memoryStart(topic, from, below: below, places: at, examined: &examined) {
            start = max(s, fromSequence)
        }
        let filter = ReadFilter(topic: topic, from: from, to: to, fromSequence: start, below: below, places: at,
                                wanted: count, deleted: cut.deleted)
        let collect = { (r: LedgerRecord) -> Bool in
            out.append(r)
            return out.count < count
        }
        if start < filter.below {
            for view in segments {
                if view.index.firstSequence >= filter.below { break }
                guard let plan = readPlan(view, filter, reverse: false) else { continue }
                if readNow(plan, view, filter, reverse: false, visit: collect) { return out }
            }
        }
        // Only the batches holding the topic's runs (TopicRuns.swift).
        if !Batch.read(tail.live, filter, reverse: false, examined: &examined, visit: collect) { return out }
        if let current { _ = Batch.read(CollectionOfOne(current), filter, reverse: false, examined: &examined, visit: collect) }
        return out
    }

    // MARK: - Where a forward read starts in memory

    /// The sequence a forward read of `topic` from `from` can start at in
    /// memory without consulting the disk; nil when the disk may hold some
    /// of its entries. `below`: the first sequence in memory.
    ///
    /// A topic's IDs grow with its sequences: when its first entry in memory
    /// has an ID no greater than `from`, every entry of it on disk is below
    /// the range (and when it is the stream's first entry kept, there is
    /// none on disk), and so are those in memory before the sequence returned,
    /// found by bisection (about 2 log2 n probes of the n records in memory,
    /// each looking only where `places` says the topic may be). A kit
    /// agent's catch-up after each task (XRANGE from just before its own new
    /// events) walked every entry of its events in memory, up to
    /// `LedgerLimits.tailBytes` of them, a few milliseconds a task, and read
    /// the active segment's last stretch first. `examined` grows by the
    /// records looked at.
    func memoryStart(_ topic: [UInt8], _ from: StreamID, below: UInt64, places: TopicPlaces,
                     examined: inout Int) -> UInt64? {
        let end = nextSequence
        // From past the stream's last entry (a catch-up or a blocked read that
        // finds nothing new: the common case), nothing is to be read anywhere.
        if let s = stream(topic), s.lastID < from { return end }
        // Entries below the floor are removed (Ledger+Removals.swift); from it on, IDs grow with sequences.
        let floor = removals(of: topic).floor
        guard let first = firstEntry(topic, places, from: max(below, floor), before: end, examined: &examined) else {
            return floor >= below && floor <= end ? floor : nil
        }
        // The stream's first entry kept is in memory: so is every other.
        if from < first.id { return floor >= below || stream(topic)?.first == first.id ? first.sequence : nil }
        if first.id == from { return first.sequence }
        // Every entry in `below..<lo` is below `from`; the first from `hi` on is not (or there is none).
        var lo = first.sequence + 1, hi = end
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if let e = firstEntry(topic, places, from: mid, before: hi, examined: &examined), e.id < from {
                lo = e.sequence + 1
            } else {
                hi = mid
            }
        }
        return lo
    }

    /// The first entry of `topic` in memory in `from..<end`: its sequence and ID.
    private func firstEntry(_ topic: [UInt8], _ places: TopicPlaces, from: UInt64, before end: UInt64,
                            examined: inout Int) -> (sequence: UInt64, id: StreamID)? {
        let live = tail.live
        var looked = 0
        defer { examined += looked }
        return topic.withUnsafeBytes { name -> (sequence: UInt64, id: StreamID)? in
            for span in places.spans(from, end) {
                var s = span.lowerBound
                while s < span.upperBound {
                    guard let batch = memoryBatch(holding: s, live) else { return nil }
                    let stop = min(batch.nextSequence, span.upperBound)
                    while s < stop {
                        looked += 1
                        if let id = batch.id(s, on: name) { return (s, id) }
                        s += 1
                    }
                }
            }
            return nil
        }
    }

    /// The batch in memory (`live`, the tail, or the current one) holding `sequence`.
    private func memoryBatch(holding sequence: UInt64, _ live: ArraySlice<Batch>) -> Batch? {
        if let current, sequence >= current.firstSequence {
            return sequence < current.nextSequence ? current : nil
        }
        var lo = live.startIndex, hi = live.endIndex
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if live[mid].nextSequence <= sequence { lo = mid + 1 } else { hi = mid }
        }
        return lo < live.endIndex && live[lo].firstSequence <= sequence ? live[lo] : nil
    }

    /// The highest sequence in memory that can hold an entry of `topic`: its
    /// last entry's, 0 when it has had none since the ledger opened (memory
    /// holds only what was appended since). Walks of the in-memory tail stop
    /// there: records of other topics appended after it (a stream of dead
    /// letters after a lookup's task, say) are not looked at one by one.
    private func lastTailSequence(_ topic: [UInt8]) -> UInt64 {
        stream(topic)?.lastSequence ?? 0
    }

    private func backward(_ topic: [UInt8], _ from: StreamID, _ to: StreamID, _ count: Int) -> [LedgerRecord] {
        var out: [LedgerRecord] = []
        let cut = removals(of: topic)
        let filter = ReadFilter(topic: topic, from: from, to: to, fromSequence: cut.floor, below: tailFirstSequence,
                                places: places(topic), deleted: cut.deleted)
        let collect = { (r: LedgerRecord) -> Bool in
            out.append(r)
            return out.count < count
        }
        var examined = 0
        defer { stats.tailRecordsExamined += examined }
        if let current, !Batch.read(CollectionOfOne(current), filter, reverse: true, examined: &examined, visit: collect) {
            return out
        }
        if !Batch.read(tail.live, filter, reverse: true, examined: &examined, visit: collect) { return out }
        for view in segments.reversed() where view.index.firstSequence < filter.below {
            guard let plan = readPlan(view, filter, reverse: true) else { continue }
            if readNow(plan, view, filter, reverse: true, visit: collect) { return out }
        }
        return out
    }

    /// Where `topic`'s entries lie, oldest first: the ID span of each segment
    /// that holds some (from its index), then one for those only in memory.
    /// Lets a reader look for something near the end a segment at a time.
    public func topicSpans(_ topic: [UInt8]) -> [(first: StreamID, last: StreamID)] {
        var spans: [(first: StreamID, last: StreamID)] = []
        for view in segments {
            if let t = view.index.topics[topic], t.count > 0 { spans.append((t.first, t.last)) }
        }
        if let last = stream(topic)?.lastID, spans.isEmpty || last > spans[spans.count - 1].last {
            let from = spans.last.flatMap { $0.last.successor } ?? .zero
            spans.append((from, last))
        }
        return spans
    }

    // MARK: - Summary for INFO

    public var segmentCount: Int { segments.count }
    public var diskBytes: Int { segments.reduce(0) { $0 + $1.size } }
    public var recordsOnDisk: UInt64 { segments.reduce(0) { $0 + $1.readableRecords } }
    public var firstSequence: UInt64 { segments.first?.index.firstSequence ?? nextSequence }
}
