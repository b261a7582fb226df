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
        let cutoff = tailFirstSequence
        for view in segments {
            if view.index.firstSequence >= cutoff { break }
            // Only the stretches whose ID milliseconds hold a wanted ID.
            let spans = stretches(view, topic, first, last) { minMs, maxMs in
                let k = Self.lowerBound(ids, StreamID(ms: minMs, seq: 0))
                return k < ids.count && ids[k].ms <= maxMs
            }
            for (start, end) in spans {
                frames(view, start, end, cutoff: cutoff) { records in
                    for r in records where r.sequence < cutoff && r.topic == topic { place(r.id) { r } }
                    return missing > 0
                }
                if missing == 0 { return out }
            }
        }
        topic.withUnsafeBytes { name in
            for batch in tail.live + (current.map { [$0] } ?? []) {
                var s = batch.firstSequence
                while s < batch.nextSequence {
                    if let id = batch.id(s, on: name) {
                        // A topic's IDs grow with its sequences: nothing wanted lies further on.
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

    /// The index of the first of `ids` (ascending) not below `id`.
    static func lowerBound(_ ids: [StreamID], _ id: StreamID) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private func matches(_ r: LedgerRecord, _ topic: [UInt8], _ from: StreamID, _ to: StreamID) -> Bool {
        r.id >= from && r.id <= to && r.topic == topic
    }

    /// The frames of `view` that may hold `topic` entries in [from, to], as
    /// (start, end) byte ranges, in file order.
    /// `wanted`, when given, further keeps only the stretches whose ID
    /// milliseconds (min, max) it accepts; stretches wholly before
    /// `fromSequence` are skipped (a reader resuming where it stopped must
    /// not inflate the segment up to there again).
    private func stretches(_ view: SegmentView, _ topic: [UInt8], _ from: StreamID, _ to: StreamID,
                           fromSequence: UInt64 = 0, wanted: ((UInt64, UInt64) -> Bool)? = nil) -> [(Int, Int)] {
        guard let t = view.index.topics[topic], t.count > 0, t.last >= from, t.first <= to else { return [] }
        let entries = view.index.entries
        let covered = min(Int(clamping: view.index.coveredBytes), view.size)
        var out: [(Int, Int)] = []
        for (k, e) in entries.enumerated() {
            let end = k + 1 < entries.count ? Int(entries[k + 1].offset) : covered
            if e.maxMs < from.ms || e.minMs > to.ms || Int(e.offset) >= end { continue }
            if k + 1 < entries.count && entries[k + 1].firstSequence <= fromSequence { continue }
            if let wanted, !wanted(e.minMs, e.maxMs) { continue }
            if let last = out.last, last.1 == Int(e.offset) {
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
                for (start, end) in stretches(view, topic, from, to, fromSequence: fromSequence) {
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
        return topic.withUnsafeBytes { name in
            while s < batch.nextSequence {
                if let id = batch.id(s, on: name), id >= from, id <= to, let r = batch.record(s) {
                    out.append(r)
                    if out.count == count { return true }
                }
                s += 1
            }
            return false
        }
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
            for (start, end) in stretches(view, topic, from, to).reversed() {
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
