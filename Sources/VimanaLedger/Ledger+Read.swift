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
        guard count > 0, from <= to, stream(topic) != nil else { return [] }
        let out = reverse ? backward(topic, from, to, count) : forward(topic, from, to, count, fromSequence: 0)
        guard examineSuspects() else { return out }
        return reverse ? backward(topic, from, to, count) : forward(topic, from, to, count, fromSequence: 0)
    }

    /// Entries after `id` (XREAD). When the caller knows the sequence of the
    /// entry with `id` (a consumer group delivering in order does), reads
    /// skip everything before it without looking.
    public func entries(topic: [UInt8], after id: StreamID, afterSequence: UInt64 = 0, count: Int) -> [LedgerRecord] {
        guard let next = id.successor, count > 0, stream(topic) != nil else { return [] }
        let fromSequence = afterSequence == 0 ? 0 : afterSequence + 1
        let out = forward(topic, next, .max, count, fromSequence: fromSequence)
        guard examineSuspects() else { return out }
        return forward(topic, next, .max, count, fromSequence: fromSequence)
    }

    private func matches(_ r: LedgerRecord, _ topic: [UInt8], _ from: StreamID, _ to: StreamID) -> Bool {
        r.id >= from && r.id <= to && r.topic == topic
    }

    /// The frames of `view` that may hold `topic` entries in [from, to], as
    /// (start, end) byte ranges, in file order: one per index entry, or
    /// adjacent ones merged (`merge`) for reads that go forward.
    private func stretches(_ view: SegmentView, _ topic: [UInt8], _ from: StreamID, _ to: StreamID,
                           merge: Bool = true) -> [(Int, Int)] {
        guard let t = view.index.topics[topic], t.count > 0, t.last >= from, t.first <= to else { return [] }
        // The topic's entries here lie between its first and last: a stretch
        // outside them holds only other topics' records (a sparse topic, such
        // as the group journal, among a busy one's is not read with them).
        let lo = max(from, t.first).ms, hi = min(to, t.last).ms
        let entries = view.index.entries
        let covered = min(Int(clamping: view.index.coveredBytes), view.size)
        var out: [(Int, Int)] = []
        for (k, e) in entries.enumerated() {
            let end = k + 1 < entries.count ? Int(entries[k + 1].offset) : covered
            if e.maxMs < lo || e.minMs > hi || Int(e.offset) >= end { continue }
            if merge, let last = out.last, last.1 == Int(e.offset) {
                out[out.count - 1].1 = end
            } else {
                out.append((Int(e.offset), end))
            }
        }
        return out
    }

    /// Decoded records of the frames in [start, end) of `view` below `cutoff`.
    private func frames(_ view: SegmentView, _ start: Int, _ end: Int, cutoff: UInt64,
                        _ body: ([LedgerRecord]) -> Bool) {
        guard let scanner, let fd = view.fd() else { return }
        var offset = start
        while offset < end {
            if let d = view.damage, let lost = d.stretches.first(where: { $0.offset <= offset && offset < $0.end }) {
                offset = lost.end
                continue
            }
            switch scanner.readFrame(fd: fd, path: view.path, at: offset, size: view.size) {
            case .success(let (header, records)):
                stats.framesRead += 1
                if header.firstSequence >= cutoff { return }
                if !body(records) { return }
                offset += header.frameLength
            case .failure(let problem):
                log.error("ledger read failed", ["segment": .string(view.name), "offset": .int(problem.offset),
                                                 "error": .string(problem.error.description)])
                noteUnreadable(view)
                return
            }
        }
    }

    private func forward(_ topic: [UInt8], _ from: StreamID, _ to: StreamID, _ count: Int,
                         fromSequence: UInt64) -> [LedgerRecord] {
        var out: [LedgerRecord] = []
        let cutoff = tailFirstSequence
        // Reads at the head (agents' next task, XREAD after the last ID) start
        // in memory: the disk is not consulted at all.
        if fromSequence < cutoff {
            disk: for view in segments {
                if view.index.firstSequence >= cutoff { break }
                if view.index.nextSequence <= fromSequence { continue }
                for (start, end) in stretches(view, topic, from, to) {
                    var full = false
                    frames(view, start, end, cutoff: cutoff) { records in
                        for r in records where r.sequence < cutoff && r.sequence >= fromSequence && matches(r, topic, from, to) {
                            out.append(r)
                            if out.count == count { full = true; return false }
                        }
                        return true
                    }
                    if full { return out }
                }
            }
        }
        // Batches are in sequence order: start at the one holding `fromSequence`.
        let batches = tail.live
        var lo = batches.startIndex, hi = batches.endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if batches[mid].nextSequence <= fromSequence { lo = mid + 1 } else { hi = mid }
        }
        for batch in batches[lo...] {
            if collect(batch, topic, from, to, count, fromSequence, &out) { return out }
        }
        if let current { _ = collect(current, topic, from, to, count, fromSequence, &out) }
        return out
    }

    /// Appends `batch`'s matching records from `fromSequence` on; true once `out` has `count`.
    private func collect(_ batch: Batch, _ topic: [UInt8], _ from: StreamID, _ to: StreamID, _ count: Int,
                         _ fromSequence: UInt64, _ out: inout [LedgerRecord]) -> Bool {
        var s = max(batch.firstSequence, fromSequence)
        while s < batch.nextSequence {
            if let summary = batch.summary(s), summary.topic == topic, summary.id >= from, summary.id <= to,
               let r = batch.record(s) {
                out.append(r)
                if out.count == count { return true }
            }
            s += 1
        }
        return false
    }

    private func backward(_ topic: [UInt8], _ from: StreamID, _ to: StreamID, _ count: Int) -> [LedgerRecord] {
        var out: [LedgerRecord] = []
        for batch in (current.map { [$0] } ?? []) + tail.live.reversed() {
            var s = batch.nextSequence
            while s > batch.firstSequence {
                s -= 1
                if let summary = batch.summary(s), summary.topic == topic, summary.id >= from, summary.id <= to,
                   let r = batch.record(s) {
                    out.append(r)
                    if out.count == count { return out }
                }
            }
        }
        let cutoff = tailFirstSequence
        for view in segments.reversed() where view.index.firstSequence < cutoff {
            // Unmerged: a read of the last few entries reads the last stretches, not all before them.
            for (start, end) in stretches(view, topic, from, to, merge: false).reversed() {
                var stretch: [LedgerRecord] = []
                frames(view, start, end, cutoff: cutoff) { records in
                    stretch.append(contentsOf: records.lazy.filter { $0.sequence < cutoff && self.matches($0, topic, from, to) })
                    return true
                }
                for r in stretch.reversed() {
                    out.append(r)
                    if out.count == count { return out }
                }
            }
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
