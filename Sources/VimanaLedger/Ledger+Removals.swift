import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// What has been removed from one stream (XDEL, XTRIM, XADD's trimming,
/// DEL): the ledger stays append-only, and a removal is a record too, a
/// marker on the internal topic `_vimana.removals` (Protocol/LEDGER.md §9).
/// Reads pass removed entries over (`ReadFilter`); the stream's figures
/// (XLEN, XINFO) count what is left.
///
/// Two things describe it, both by ledger sequence, which no removal can
/// reuse (IDs can be: a stream deleted and made again starts at 0-0):
/// a floor below which every entry of the stream is gone, and the entries
/// removed one by one above it. A trim raises the floor to the first entry
/// it keeps; XDEL of the oldest entries raises it past them, so that a
/// consumer that deletes what it has processed keeps the set small.
public struct Removals: Sendable, Equatable {
    /// Every entry of the stream with a lower sequence is removed.
    public internal(set) var floor: UInt64 = 0
    /// The sequence of the stream's latest DEL: its entries from here on are
    /// another life of the stream (`entries-added` counts them alone).
    public internal(set) var deletedAt: UInt64 = 0
    /// Entries removed one by one (XDEL), all at or above `floor`.
    public internal(set) var deleted: Set<UInt64> = []
    /// A marker names the stream (XSETID too): its figures are written again at each seal.
    public internal(set) var marked = false

    public init() {}

    public var isEmpty: Bool { floor == 0 && deletedAt == 0 && deleted.isEmpty && !marked }
}

/// What compaction empties (`ledger.compaction_drop_deleted`): for each
/// topic with removals, its floor and the sequences removed one by one. A
/// removed record keeps its header (sequence, ID, time, client, topic,
/// names) and loses its fields: the segment keeps every sequence (frames
/// hold consecutive records, LEDGER.md §2) and gives the bytes back.
public struct RemovalCuts: Sendable {
    var byTopic: [[UInt8]: (floor: UInt64, deleted: Set<UInt64>)] = [:]

    public init() {}

    var isEmpty: Bool { byTopic.isEmpty }

    /// Empties, in `b` from `start` on, the `count` records (of `layout`)
    /// the cuts remove, moving the rest down over the bytes freed. False
    /// when a record is not well formed (the frame is damaged).
    func empty(_ b: inout ByteBuffer, from start: Int, count: Int, layout: RecordLayout) -> Bool {
        var read = start, write = start
        let end = b.writeIndex
        for _ in 0..<count {
            let p = UnsafeRawPointer(b.base + read)
            guard end - read >= RecordCodec.fixedHeader + 4 else { return false }
            let length = 4 + Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            guard length <= end - read else { return false }
            let sequence = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
            // The topic, the client name, the publisher (from version 2) and
            // the origin and its sequence (version 3), then the field count:
            // an emptied record keeps all but its fields.
            var at = RecordCodec.fixedHeader
            var topic: [UInt8] = []
            for k in 0..<layout.strings {
                guard at + 4 <= length else { return false }
                let n = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                guard n <= length - at - 4 else { return false }
                if k == 0 { topic = Array(UnsafeRawBufferPointer(start: p + at + 4, count: n)) }
                at += 4 + n
            }
            at += layout.afterStrings
            guard at + 4 <= length else { return false }
            var kept = length
            if let cut = byTopic[topic], sequence < cut.floor || cut.deleted.contains(sequence) {
                kept = at + 4
            }
            if write != read { memmove(b.base + write, b.base + read, kept) }
            if kept != length {
                b.storeLE(UInt32(kept - 4), at: write)
                b.storeLE(UInt32(0), at: write + at)
            }
            read += length
            write += kept
        }
        guard read == end else { return false }
        b.writeIndex = write
        return true
    }
}

/// How XTRIM (and XADD's trimming options) choose what to remove.
public enum TrimStrategy: Sendable, Equatable {
    /// MAXLEN: keep at most this many entries.
    case maxLength(UInt64)
    /// MINID: remove the entries below this ID.
    case minID(StreamID)
}

extension Ledger {
    /// The internal topic that holds the removal markers.
    public static let removalsTopic: [UInt8] = Array("_vimana.removals".utf8)

    /// Redis's `stream-node-max-entries`: approximate trimming (`~`)
    /// removes whole blocks of this many entries, as Redis removes whole
    /// nodes of its radix tree.
    public static let trimBlockEntries: UInt64 = 100

    /// What has been removed from `topic` (empty for a stream without removals).
    func removals(of topic: [UInt8]) -> Removals {
        guard !removalsInUse.isEmpty,
              let i = topic.withUnsafeBytes({ topics.find($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }),
              i < removals.count else { return Removals() }
        return removals[i]
    }

    /// Whether some stream's `max-deleted-entry-id` is set (an XDEL, an
    /// XSETID MAXDELETEDID): consumer groups then count entries read as
    /// Redis does past a gap (GroupStore).
    public var hasTombstones: Bool { tombstones }

    /// The index of `topic`'s stream, if it has one.
    private func existingStream(_ topic: [UInt8]) -> Int? {
        topic.withUnsafeBytes { topics.find($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
    }

    // MARK: - XDEL

    /// XDEL: removes the entries of `topic` with the given IDs that exist;
    /// returns how many did and the marker's sequence (nil when none did:
    /// nothing is recorded). Redis's XDEL: `max-deleted-entry-id` rises to
    /// the highest ID removed; the last ID and `entries-added` stay.
    public func delete(topic: [UInt8], ids: [StreamID], nowMillis: UInt64, nowMicros: Int64) -> (removed: Int, marker: UInt64?) {
        guard let i = existingStream(topic), streams[i].length > 0 else { return (0, nil) }
        let wanted = Array(Set(ids)).sorted()
        let found = records(topic: topic, ids: wanted).compactMap { $0 }
        guard !found.isEmpty else { return (0, nil) }
        var cut = removals[i]
        for r in found { cut.deleted.insert(r.sequence) }
        noteRemoved(found.map(\.sequence))
        streams[i].length -= min(streams[i].length, UInt64(found.count))
        streams[i].maxDeleted = max(streams[i].maxDeleted, found[found.count - 1].id)
        tombstones = true
        setRemovals(i, cut)
        if let first = streams[i].first, found.contains(where: { $0.id == first }) { raiseFloor(i, topic) }
        let marker = appendMarker(i, op: "xdel", nowMillis: nowMillis, nowMicros: nowMicros, sequences: found.map(\.sequence))
        return (found.count, marker)
    }

    /// After the stream's first entry was removed: the first left becomes
    /// the floor (every entry below it is removed), so XDELs of the oldest
    /// entries do not pile up in `deleted`.
    private func raiseFloor(_ i: Int, _ topic: [UInt8]) {
        let next = range(topic: topic, from: .zero, to: .max, count: 1).first
        var cut = removals[i]
        cut.floor = max(cut.floor, next?.sequence ?? nextSequence)
        cut.deleted = cut.deleted.filter { $0 >= cut.floor }
        setRemovals(i, cut)
        streams[i].first = next?.id
    }

    // MARK: - XTRIM

    /// XTRIM, and XADD's MAXLEN/MINID: removes the oldest entries of `topic`
    /// as `strategy` says; with `approximate` only whole blocks of
    /// `trimBlockEntries` (counted from the stream's first entry ever, as
    /// Redis's nodes fill) and at most `limit` entries (0: no limit).
    /// Returns how many were removed and the marker's sequence.
    public func trim(topic: [UInt8], _ strategy: TrimStrategy, approximate: Bool, limit: Int,
                     nowMillis: UInt64, nowMicros: Int64) -> (removed: Int, marker: UInt64?) {
        guard let i = existingStream(topic), streams[i].length > 0 else { return (0, nil) }
        let length = streams[i].length
        var remove: UInt64
        switch strategy {
        case .maxLength(let kept):
            guard length > kept else { return (0, nil) }
            remove = length - kept
            if approximate { remove = approximateCount(i, remove: remove, limit: limit) }
        case .minID(let id):
            guard let first = streams[i].first, first < id else { return (0, nil) }
            let cap = approximate && limit > 0 ? UInt64(limit) : length
            // The entries below `id`, oldest first, as many as may go: whole
            // segments counted from their indexes, the rest read.
            let whole = wholeSegments(i, upTo: cap, below: id)
            let rest = id.predecessor.map { forward(topic, .zero, $0, Int(clamping: cap - whole.count), fromSequence: whole.from) } ?? []
            remove = whole.count + UInt64(rest.count)
            if approximate { remove = approximateCount(i, remove: remove, limit: limit) }
        }
        guard remove > 0 else { return (0, nil) }
        // The first entry kept: the floor rises to it (or past the end).
        // Whole segments of removed entries are counted, not read: a trim of
        // a large topic reads only the segment where it ends.
        let whole = wholeSegments(i, upTo: remove, below: nil)
        let tail = forward(topic, .zero, .max, Int(clamping: remove - whole.count) + 1, fromSequence: whole.from)
        let gone = tail.prefix(Int(clamping: remove - whole.count))
        let removed = whole.count + UInt64(gone.count)
        for (view, n) in whole.credits { view.removed &+= n }
        noteRemoved(gone.map(\.sequence))
        var cut = removals[i]
        let firstKept = tail.count > gone.count ? tail[tail.count - 1] : nil
        cut.floor = max(cut.floor, firstKept?.sequence ?? nextSequence)
        cut.deleted = cut.deleted.filter { $0 >= cut.floor }
        setRemovals(i, cut)
        // As Redis 7.0's streamTrim: `max-deleted-entry-id` is XDEL's alone.
        streams[i].length -= min(streams[i].length, removed)
        streams[i].first = firstKept?.id
        let marker = appendMarker(i, op: "trim", nowMillis: nowMillis, nowMicros: nowMicros, sequences: [])
        return (Int(clamping: removed), marker)
    }

    /// The oldest segments whose entries of stream `i` are all live and all
    /// go (at most `upTo` of them, and all below `below` when given), counted
    /// from their indexes without reading: how many, the sequence a read of
    /// the rest starts at, and each segment's share (compaction's trigger).
    /// Stops at a segment holding the floor, a damaged one, or one that would
    /// pass either bound.
    private func wholeSegments(_ i: Int, upTo: UInt64, below: StreamID?) -> (count: UInt64, from: UInt64, credits: [(SegmentView, UInt64)]) {
        let cut = removals[i], name = topicNames[i]
        var count: UInt64 = 0, from: UInt64 = 0
        var credits: [(SegmentView, UInt64)] = []
        for view in segments {
            guard let t = view.index.topics[name], t.count > 0 else { continue }
            let lo = view.index.firstSequence, hi = view.index.nextSequence
            if hi <= cut.floor { continue }
            if lo < cut.floor || view.damage != nil { break }
            if let below, t.last >= below { break }
            let live = t.count - min(t.count, UInt64(cut.deleted.lazy.filter { $0 >= lo && $0 < hi }.count))
            if count + live > upTo { break }
            count += live
            from = hi
            credits.append((view, live))
        }
        return (count, from, credits)
    }

    /// How many of the `remove` oldest entries an approximate trim removes:
    /// whole blocks only, as Redis removes whole nodes (a node holds
    /// `trimBlockEntries` entries ever appended, so the first block is what
    /// is left of a partly trimmed one), and no more than `limit` (0: none).
    private func approximateCount(_ i: Int, remove: UInt64, limit: Int) -> UInt64 {
        let s = streams[i]
        let block = Self.trimBlockEntries
        // Entries of the stream's life before its first kept one.
        let before = s.entriesAdded - min(s.entriesAdded, s.length)
        var inBlock = min(block - before % block, s.length)
        var removed: UInt64 = 0
        while inBlock > 0 && removed + inBlock <= remove {
            if limit > 0 && removed + inBlock > UInt64(limit) { break }
            removed += inBlock
            inBlock = min(block, s.length - removed)
        }
        return removed
    }

    // MARK: - XSETID

    /// The ID of the stream's last entry that is left (XSETID checks a new
    /// last ID against it), nil when none is.
    public func lastEntryID(topic: [UInt8]) -> StreamID? {
        range(topic: topic, from: .zero, to: .max, count: 1, reverse: true).first?.id
    }

    /// XSETID, its arguments checked by the caller as Redis checks them:
    /// the stream's last ID, and its `entries-added` and
    /// `max-deleted-entry-id` when given. Returns the marker's sequence,
    /// nil when there is no such stream.
    public func setStreamID(topic: [UInt8], lastID: StreamID, entriesAdded: UInt64?, maxDeleted: StreamID?,
                            nowMillis: UInt64, nowMicros: Int64) -> UInt64? {
        guard let i = existingStream(topic), streams[i].exists else { return nil }
        // The last entry's sequence stays: a reader waiting after the new ID starts there still.
        streams[i].lastID = lastID
        if let entriesAdded { streams[i].entriesAdded = entriesAdded }
        if let maxDeleted, maxDeleted != .zero {
            streams[i].maxDeleted = maxDeleted
            tombstones = true
        }
        return appendMarker(i, op: "setid", nowMillis: nowMillis, nowMicros: nowMicros, sequences: [])
    }

    // MARK: - DEL

    /// DEL/UNLINK of `topic`: every entry is removed and the stream ceases
    /// to exist; a later XADD starts it afresh, IDs included. Returns the
    /// marker's sequence, nil when there was no such stream.
    public func deleteStream(topic: [UInt8], nowMillis: UInt64, nowMicros: Int64) -> UInt64? {
        guard let i = existingStream(topic), streams[i].exists else { return nil }
        if !topicNames[i].starts(with: Self.internalTopicPrefix) { listedKeyCount -= 1 }
        for view in segments { view.removed &+= view.index.topics[topic]?.count ?? 0 }
        var cut = removals[i]
        cut.floor = nextSequence
        cut.deletedAt = nextSequence
        cut.deleted = []
        setRemovals(i, cut)
        // Its entries so far end their run: the stream's next life starts a new one.
        if streams[i].lastSequence != 0 {
            topicRuns[i].close(SequenceRun(first: streams[i].runFirst, last: streams[i].lastSequence))
        }
        streams[i] = StreamState()
        if lastTopicIndex == i { lastTopicIndex = -1 }
        return appendMarker(i, op: "del", nowMillis: nowMillis, nowMicros: nowMicros, sequences: [])
    }

    // MARK: - State

    func setRemovals(_ i: Int, _ cut: Removals) {
        while removals.count <= i { removals.append(Removals()) }
        removals[i] = cut
        if cut.isEmpty { removalsInUse.remove(i) } else { removalsInUse.insert(i) }
    }

    /// Appends a marker for stream `i`: its removal state after `op`, and
    /// the sequences `op` removed one by one.
    @discardableResult
    private func appendMarker(_ i: Int, op: String, nowMillis: UInt64, nowMicros: Int64, sequences: [UInt64]) -> UInt64? {
        var cut = removals[i]
        if !cut.marked {
            cut.marked = true
            setRemovals(i, cut)
        }
        return appendRemovalRecord(op: op, topic: topicNames[i], markerFields(i, sequences),
                                   nowMillis: nowMillis, nowMicros: nowMicros)
    }

    /// A marker's fields after `op` and `topic` (LEDGER.md §9), in order.
    private func markerFields(_ i: Int, _ sequences: [UInt64]) -> [(StaticString, String)] {
        let cut = removals[i], s = streams[i]
        var text: [(StaticString, String)] = [("floor", String(cut.floor)), ("deleted-at", String(cut.deletedAt)),
                                              ("max-deleted", s.maxDeleted.description), ("last-id", s.lastID.description),
                                              ("entries-added", String(s.entriesAdded))]
        if !sequences.isEmpty { text.append(("sequences", sequences.sorted().map(String.init).joined(separator: " "))) }
        return text
    }

    private func appendRemovalRecord(op: String, topic: [UInt8], _ text: [(StaticString, String)],
                                     nowMillis: UInt64, nowMicros: Int64) -> UInt64? {
        let appended = Self.removalsTopic.withUnsafeBytes { internalTopic in
            append(topic: internalTopic, id: .auto, client: .kernel(), nowMillis: nowMillis, nowMicros: nowMicros) { fields in
                Array(op.utf8).withUnsafeBytes { fields.add(name: "op", value: $0) }
                topic.withUnsafeBytes { fields.add(name: "topic", value: $0) }
                for (name, value) in text { Array(value.utf8).withUnsafeBytes { fields.add(name: name, value: $0) } }
            }
        }
        guard case .success(let r) = appended else { return nil }
        return r.sequence
    }

    /// At each seal: every stream's removal state as a `state` marker, so
    /// that retention of the segments holding older markers loses nothing.
    func writeRemovalsSnapshotIfDue() {
        guard removalsSnapshotDue else { return }
        removalsSnapshotDue = false
        let now = Clock.wallMicros()
        let nowMillis = UInt64(clamping: now / 1000)
        for i in removalsInUse.sorted() {
            if let s = appendRemovalRecord(op: "state", topic: topicNames[i], markerFields(i, Array(removals[i].deleted)),
                                           nowMillis: nowMillis, nowMicros: now) {
                removalsSnapshotSequence = s
            }
        }
    }

    /// Whether retention must wait: the removals' state written at the last
    /// seal is not confirmed yet, and the segments it would retire may hold
    /// the only markers of removals made before that seal.
    var retentionWaitsForRemovals: Bool {
        !removalsInUse.isEmpty && (removalsSnapshotDue || confirmedSequence <= removalsSnapshotSequence)
    }

    // MARK: - Giving the disk back

    /// Each second (with retention): sealed segments holding enough records
    /// removed since their last rewrite are compacted again with the cuts,
    /// which empties those records (`ledger.compaction_drop_deleted`).
    /// Enough: a quarter of the segment's records (counted as removals
    /// happen, `noteRemoved`), so that a producer trimming with every XADD
    /// does not have the segment rewritten each second.
    func reclaimRemoved() {
        guard config.compactionDropDeleted, config.compactionLevel != nil, !removalsInUse.isEmpty,
              let maintenance, segments.count > 1 else { return }
        for view in segments.dropLast() where view.damage == nil && view.index.recordCount > 0
            && view.removed >= view.emptied &+ max(1, view.index.recordCount / 4) {
            var cuts = RemovalCuts()
            let lo = view.index.firstSequence, hi = view.index.nextSequence
            for i in removalsInUse {
                let cut = removals[i]
                guard let t = view.index.topics[topicNames[i]], t.count > 0 else { continue }
                if cut.floor > lo || cut.deleted.contains(where: { $0 >= lo && $0 < hi }) {
                    cuts.byTopic[topicNames[i]] = (cut.floor, cut.deleted.filter { $0 >= lo && $0 < hi })
                }
            }
            view.emptied = view.removed
            if !cuts.isEmpty { maintenance.submit(.compact(view.name, cuts)) }
        }
    }

    /// Credits each removed record to the segment holding it (the active
    /// one for records not yet written): `reclaimRemoved`'s trigger.
    private func noteRemoved(_ sequences: [UInt64]) {
        guard config.compactionDropDeleted, !segments.isEmpty else { return }
        for s in sequences {
            var lo = 0, hi = segments.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if segments[mid].index.firstSequence <= s { lo = mid + 1 } else { hi = mid }
            }
            if lo > 0 { segments[lo - 1].removed &+= 1 }
        }
    }

    // MARK: - Counting what is removed

    /// How many of stream `i`'s entries in `view` are removed.
    func removedCount(_ i: Int, in view: SegmentView) -> UInt64 {
        let cut = removals[i]
        guard let t = view.index.topics[topicNames[i]], t.count > 0 else { return 0 }
        let below = entries(i, in: view, below: cut.floor)
        let lo = view.index.firstSequence, hi = view.index.nextSequence
        let one = UInt64(cut.deleted.lazy.filter { $0 >= lo && $0 < hi }.count)
        return min(t.count, below + one)
    }

    /// How many of stream `i`'s entries in `view` have a sequence below `sequence`.
    func entries(_ i: Int, in view: SegmentView, below sequence: UInt64) -> UInt64 {
        guard let t = view.index.topics[topicNames[i]], t.count > 0 else { return 0 }
        if view.index.nextSequence <= sequence { return t.count }
        if view.index.firstSequence >= sequence { return 0 }
        // The segment holds the floor: its entries below it are counted.
        let filter = ReadFilter(topic: topicNames[i], from: .zero, to: .max, fromSequence: 0, below: sequence)
        guard let plan = readPlan(view, filter, reverse: false), let scanner else { return 0 }
        var n: UInt64 = 0
        _ = plan.read(filter, reverse: false, scanner: scanner) { _ in
            n += 1
            return true
        }
        return n
    }

    // MARK: - Recovery

    /// At open, after the streams are counted from the segments' indexes:
    /// reads the markers, oldest first, and takes what they removed off
    /// each stream's figures.
    func recoverRemovals() {
        let markers = range(topic: Self.removalsTopic, from: .zero, to: .max, count: .max)
        guard !markers.isEmpty else { return }
        struct Found {
            var cut = Removals()
            var maxDeleted = StreamID.zero, lastID = StreamID.zero
            var entriesAdded: UInt64?
            var sequence: UInt64 = 0
        }
        var byTopic: [[UInt8]: Found] = [:]
        func number(_ bytes: [UInt8]?) -> UInt64? { bytes.flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } }
        for m in markers {
            var f: [String: [UInt8]] = [:]
            for field in m.fields { f[String(decoding: field.name, as: UTF8.self)] = field.value }
            guard let topic = f["topic"], let op = f["op"].map({ String(decoding: $0, as: UTF8.self) }),
                  let floor = number(f["floor"]), let deletedAt = number(f["deleted-at"]),
                  let maxDeleted = f["max-deleted"].flatMap({ StreamID.parse(bytes: $0) }),
                  let lastID = f["last-id"].flatMap({ StreamID.parse(bytes: $0) }) else {
                log.warn("ledger removal marker unreadable: ignored", ["sequence": .int(Int(clamping: m.sequence))])
                continue
            }
            let listed = f["sequences"].map { String(decoding: $0, as: UTF8.self).split(separator: " ").compactMap { UInt64($0) } } ?? []
            var found = byTopic[topic] ?? Found()
            if op == "state" { found.cut = Removals() }
            found.cut.floor = max(found.cut.floor, floor)
            found.cut.deletedAt = max(found.cut.deletedAt, deletedAt)
            found.cut.marked = true
            if op == "del" { found.cut.deleted = [] }
            for s in listed where s >= found.cut.floor { found.cut.deleted.insert(s) }
            found.cut.deleted = found.cut.deleted.filter { $0 >= found.cut.floor }
            found.maxDeleted = maxDeleted
            found.lastID = lastID
            found.entriesAdded = number(f["entries-added"])
            found.sequence = m.sequence
            byTopic[topic] = found
        }
        let oldest = segments.first?.index.firstSequence ?? nextSequence
        for (topic, found) in byTopic {
            let i = topic.withUnsafeBytes { streamIndex($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
            var cut = found.cut
            cut.deleted = cut.deleted.filter { $0 >= oldest }
            setRemovals(i, cut)
            // The entries below the floor and those after the last marker, counted
            // from the indexes (a segment holding the boundary is read).
            var physical: UInt64 = 0, belowFloor: UInt64 = 0, beforeMarker: UInt64 = 0, belowDel: UInt64 = 0
            for view in segments {
                physical += view.index.topics[topic]?.count ?? 0
                belowFloor += entries(i, in: view, below: cut.floor)
                beforeMarker += entries(i, in: view, below: found.sequence)
                belowDel += entries(i, in: view, below: cut.deletedAt)
            }
            let after = physical - min(physical, beforeMarker)
            var s = streams[i]
            s.length = physical - min(physical, belowFloor + UInt64(cut.deleted.count))
            // What the last marker said, and every entry appended since (none of them removed: that would be a later marker).
            if let added = found.entriesAdded { s.entriesAdded = added.addingSaturating(after) }
            else if cut.deletedAt > 0 { s.entriesAdded = physical - min(physical, belowDel) }
            s.maxDeleted = found.maxDeleted
            if s.maxDeleted != .zero { tombstones = true }
            s.lastID = found.lastID
            streams[i] = s
            let first = range(topic: topic, from: .zero, to: .max, count: 1).first
            let last = range(topic: topic, from: .zero, to: .max, count: 1, reverse: true).first
            streams[i].first = first?.id
            streams[i].lastID = last.map { $0.sequence > found.sequence ? $0.id : found.lastID } ?? found.lastID
        }
    }

}
