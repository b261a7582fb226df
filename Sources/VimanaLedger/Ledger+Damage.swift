import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// A stretch of a sealed segment whose records cannot be read.
struct LostStretch: Sendable {
    var frame: Int
    var offset: Int
    var end: Int
    /// The first sequence lost.
    var firstSequence: UInt64
    /// The first sequence of the valid frame after the stretch; nil when the
    /// stretch runs to the end of the segment (the next segment says where it ends).
    var resumeSequence: UInt64?
    var reason: String
}

/// What the loop knows of a damaged sealed segment: its unreadable
/// stretches, and enough about each topic around them to tell which reads
/// they spoil (Protocol/LEDGER.md §5).
final class DamagedSegment {
    let stretches: [LostStretch]
    /// For each stretch: every topic's last readable ID before it, and first after it, in this segment.
    let before: [[[UInt8]: StreamID]]
    let after: [[[UInt8]: StreamID]]
    /// Records lost per topic, when known: the segment's index described it
    /// whole before the damage was found. Nil: which topics lost records is unknown.
    var lost: [[UInt8]: UInt64]?
    /// Each topic's span in the segment as that index had it (empty when `lost` is nil).
    var spans: [[UInt8]: TopicStats] = [:]

    init(stretches: [LostStretch], before: [[[UInt8]: StreamID]], after: [[[UInt8]: StreamID]]) {
        self.stretches = stretches
        self.before = before
        self.after = after
    }

    /// Sequences lost between valid frames (those counted by the index's first..next span).
    var lostInside: UInt64 {
        stretches.reduce(0) { n, s in n + (s.resumeSequence.map { $0 >= s.firstSequence ? $0 - s.firstSequence : 0 } ?? 0) }
    }
}

/// A read that would cross records the ledger cannot read. `message` follows
/// the error code `DAMAGED` on the wire (Protocol/PROTOCOL.md §8).
public struct LedgerDamageError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension SegmentView {
    /// Records this segment holds that can be read.
    var readableRecords: UInt64 { index.recordCount - min(index.recordCount, damage?.lostInside ?? 0) }
}

extension Ledger {
    // MARK: - Finding damage

    /// Reads a sealed segment past its damage: the index of its valid frames
    /// and, when it has unreadable stretches, what is known of them. Nil when
    /// the file cannot be opened.
    func surveySealed(_ view: SegmentView, scanner: SegmentScanner) -> (SegmentIndex, DamagedSegment?)? {
        guard let fd = try? FileIO.open(view.path, O_RDONLY) else { return nil }
        defer { Glibc.close(fd) }
        let size = FileIO.size(fd)
        var index = SegmentIndex(firstSequence: view.index.firstSequence)
        // Each valid frame's offset and its topics' first and last IDs.
        var frames: [(offset: Int, topics: [[UInt8]: (first: StreamID, last: StreamID)])] = []
        let survey = scanner.survey(fd: fd, path: view.path, size: size, sequence: view.index.firstSequence,
                                    active: false) { location, records in
            let records = records ?? []
            index.addFrame(offset: UInt64(location.offset), header: location.header,
                           records: records.map { RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic) })
            var topics: [[UInt8]: (first: StreamID, last: StreamID)] = [:]
            for r in records { topics[r.topic] = (topics[r.topic]?.first ?? r.id, r.id) }
            frames.append((location.offset, topics))
        }
        index.sealed = true
        view.size = size
        guard !survey.damage.isEmpty else { return (index, nil) }
        let stretches = survey.damage.map {
            LostStretch(frame: $0.frame, offset: $0.offset, end: $0.end, firstSequence: $0.firstSequence,
                        resumeSequence: $0.resumeSequence, reason: $0.error.description)
        }
        var before: [[[UInt8]: StreamID]] = [], after: [[[UInt8]: StreamID]] = []
        var seen: [[UInt8]: StreamID] = [:], k = 0
        for s in stretches {
            while k < frames.count && frames[k].offset < s.offset {
                for (topic, ids) in frames[k].topics { seen[topic] = ids.last }
                k += 1
            }
            before.append(seen)
        }
        seen = [:]
        k = frames.count - 1
        for s in stretches.reversed() {
            while k >= 0 && frames[k].offset >= s.end {
                for (topic, ids) in frames[k].topics { seen[topic] = ids.first }
                k -= 1
            }
            after.append(seen)
        }
        return (index, DamagedSegment(stretches: stretches, before: before, after: after.reversed()))
    }

    /// A segment that cannot be opened at all: one stretch, the whole file.
    func unreadableSegment(_ view: SegmentView) -> DamagedSegment {
        DamagedSegment(stretches: [LostStretch(frame: 0, offset: 0, end: view.size, firstSequence: view.index.firstSequence,
                                               resumeSequence: nil, reason: "cannot open the file")],
                       before: [[:]], after: [[:]])
    }

    /// Records `damage` on `view` and says so in the log.
    func markDamaged(_ view: SegmentView, _ damage: DamagedSegment) {
        view.damage = damage
        if !damagedViews.contains(where: { $0 === view }) { damagedViews.append(view) }
        for s in damage.stretches {
            log.error("ledger segment damaged", ["segment": .string(view.name), "frame": .int(s.frame),
                                                 "offset": .int(s.offset), "bytes": .int(s.end - s.offset),
                                                 "error": .string(s.reason), "lost": .string(lostSequences(view, s))])
        }
    }

    /// A read failed in `view`: examine it once the read is over.
    func noteUnreadable(_ view: SegmentView) {
        guard view.damage == nil, view !== segments.last, !suspects.contains(where: { $0 === view }) else { return }
        suspects.append(view)
    }

    /// Examines the segments reads failed in; true when damage was found
    /// (the read that failed must be done again).
    func examineSuspects() -> Bool {
        guard !suspects.isEmpty else { return false }
        let list = suspects
        suspects.removeAll()
        var found = false
        for view in list where examine(view) { found = true }
        return found
    }

    /// Finds what a sealed segment lost once a read (or compaction) failed
    /// in it: scans it past the damage, serves its valid frames through a
    /// rebuilt index, and takes the records it cannot read out of the
    /// streams' lengths, so XLEN and XINFO count only what can be read. Runs
    /// on the loop thread, once per damaged segment.
    @discardableResult
    func examine(_ view: SegmentView) -> Bool {
        guard view.damage == nil, view !== segments.last, segments.contains(where: { $0 === view }),
              let scanner else { return false }
        guard let (index, found) = surveySealed(view, scanner: scanner) else {
            markDamaged(view, unreadableSegment(view))
            return true
        }
        guard let found else { return false }  // it reads now: the failure was not in the file
        // The index in use described the whole segment: what it counted
        // beyond the readable frames is what was lost, topic by topic.
        var lost: [[UInt8]: UInt64] = [:]
        for (topic, t) in view.index.topics where t.count > (index.topics[topic]?.count ?? 0) {
            lost[topic] = t.count - (index.topics[topic]?.count ?? 0)
        }
        found.lost = lost
        found.spans = view.index.topics
        view.index = index
        view.reopen()
        markDamaged(view, found)
        for (topic, n) in lost {
            guard let i = topic.withUnsafeBytes({ topics.find($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }) else { continue }
            streams[i].length -= min(streams[i].length, n)
            streams[i].first = segments.lazy.compactMap { $0.index.topics[topic]?.first }.first ?? firstInMemory(topic)
        }
        return true
    }

    // MARK: - Reads that cross damage

    /// The first damaged stretch that may hold entries of `topic` in
    /// [from, to], as the error a read of that range answers; nil when none does.
    func damage(covering topic: [UInt8], from: StreamID, to: StreamID) -> LedgerDamageError? {
        guard !damagedViews.isEmpty, from <= to else { return nil }
        for (k, view) in segments.enumerated() {
            guard let d = view.damage else { continue }
            if let lost = d.lost, (lost[topic] ?? 0) == 0 { continue }
            for (r, stretch) in d.stretches.enumerated() {
                guard let w = window(topic, segment: k, d, r), w.low <= to, from <= w.high else { continue }
                let name = String(decoding: topic, as: UTF8.self)
                return LedgerDamageError(message:
                    "entries of '\(name)' \(w.lowText) \(w.highText) are in a damaged part of the ledger "
                    + "(segment \(view.name), frame \(stretch.frame) at offset \(stretch.offset): \(stretch.reason); "
                    + "\(lostSequences(view, stretch)) lost) and cannot be read; run vimana ledger verify")
            }
        }
        return nil
    }

    /// The IDs `topic`'s lost entries in stretch `r` of segment `k` can have:
    /// after its last readable entry before the stretch and before its first
    /// after it (or within the topic's span in the segment, when the index
    /// gave it). Nil when the topic cannot have lost entries there.
    private func window(_ topic: [UInt8], segment k: Int, _ d: DamagedSegment, _ r: Int)
        -> (low: StreamID, high: StreamID, lowText: String, highText: String)? {
        let span = d.spans[topic]
        let lower: (id: StreamID, inclusive: Bool)
        if let b = d.before[r][topic] { lower = (b, false) }
        else if let span { lower = (span.first, true) }
        else if let b = segments[..<k].reversed().lazy.compactMap({ $0.index.topics[topic]?.last }).first { lower = (b, false) }
        else { lower = (.zero, true) }
        let upper: (id: StreamID, inclusive: Bool)
        if let a = d.after[r][topic] { upper = (a, false) }
        else if let span { upper = (span.last, true) }
        else if let a = segments[(k + 1)...].lazy.compactMap({ $0.index.topics[topic]?.first }).first ?? firstInMemory(topic) { upper = (a, false) }
        else { upper = (stream(topic)?.lastID ?? .zero, true) }
        if d.lost == nil {
            // Which topics the stretch held is unknown: those around it may have lost entries.
            let around = d.before[r][topic] != nil || d.after[r][topic] != nil
                || (!lower.inclusive && !upper.inclusive)
            guard around else { return nil }
        }
        guard let low = lower.inclusive ? lower.id : lower.id.successor,
              let high = upper.inclusive ? upper.id : upper.id.predecessor, low <= high else { return nil }
        return (low, high, (lower.inclusive ? "from " : "after ") + lower.id.description,
                (upper.inclusive ? "to " : "before ") + upper.id.description)
    }

    /// The sequences a stretch lost, as `sequences 21-30` (the next segment
    /// ends a stretch that runs to the end of its segment).
    func lostSequences(_ view: SegmentView, _ s: LostStretch) -> String {
        var next = s.resumeSequence
        if next == nil, let k = segments.firstIndex(where: { $0 === view }), k + 1 < segments.count {
            next = segments[k + 1].index.firstSequence
        }
        guard let next else { return "sequences from \(s.firstSequence)" }
        return SequenceGap(first: s.firstSequence, next: next).description
    }

    /// XRANGE and XREVRANGE: `range`, or the error when the part of the
    /// range the read covered (up to its last entry, when COUNT stopped it)
    /// may hold entries that cannot be read.
    public func readRange(topic: [UInt8], from: StreamID, to: StreamID, count: Int,
                          reverse: Bool = false) -> Result<[LedgerRecord], LedgerDamageError> {
        let out = range(topic: topic, from: from, to: to, count: count, reverse: reverse)
        return checked(out, topic, from, to, count, reverse)
    }

    /// XREAD: `entries`, or the error as for `readRange`.
    public func readEntries(topic: [UInt8], after id: StreamID, afterSequence: UInt64 = 0,
                            count: Int) -> Result<[LedgerRecord], LedgerDamageError> {
        let out = entries(topic: topic, after: id, afterSequence: afterSequence, count: count)
        guard let from = id.successor else { return .success(out) }
        return checked(out, topic, from, .max, count, false)
    }

    private func checked(_ out: [LedgerRecord], _ topic: [UInt8], _ from: StreamID, _ to: StreamID,
                         _ count: Int, _ reverse: Bool) -> Result<[LedgerRecord], LedgerDamageError> {
        if let error = damageCrossed(returned: out.count, last: out.last?.id, topic, from, to, count, reverse) {
            return .failure(error)
        }
        return .success(out)
    }

    /// The error for a read of [from, to] that returned `returned` records,
    /// the last `last`, when the part it covered (up to `last`, when COUNT
    /// stopped it) may hold records that cannot be read.
    func damageCrossed(returned: Int, last: StreamID?, _ topic: [UInt8], _ from: StreamID, _ to: StreamID,
                       _ count: Int, _ reverse: Bool) -> LedgerDamageError? {
        guard !damagedViews.isEmpty else { return nil }
        var low = from, high = to
        if returned >= count, let last {
            if reverse { low = last } else { high = last }
        }
        return damage(covering: topic, from: low, to: high)
    }

    // MARK: - Summary for /health and INFO

    /// Sealed segments with frames that cannot be read.
    public var damagedSegments: Int { damagedViews.count }

    /// One line per damaged segment (empty when the ledger reads whole).
    public var damageReport: [String] {
        damagedViews.map { view in
            let d = view.damage
            let first = d?.stretches.first
            return "segment \(view.name): " + (first.map { "frame \($0.frame) at offset \($0.offset): \($0.reason); " } ?? "")
                + "\(d?.stretches.count ?? 0) damaged stretch\(d?.stretches.count == 1 ? "" : "es"), "
                + (d?.stretches.map { lostSequences(view, $0) }.joined(separator: ", ") ?? "")
                + " cannot be read (run vimana ledger verify)"
        }
    }

    /// Records in damaged stretches of sealed segments (as their sequences count them).
    public var unreadableRecords: UInt64 {
        var n: UInt64 = 0
        for view in damagedViews {
            guard let d = view.damage, let k = segments.firstIndex(where: { $0 === view }) else { continue }
            for s in d.stretches {
                let next = s.resumeSequence ?? (k + 1 < segments.count ? segments[k + 1].index.firstSequence : s.firstSequence)
                if next > s.firstSequence { n += next - s.firstSequence }
            }
        }
        return n
    }
}
