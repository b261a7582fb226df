import VimanaCore
import VimanaLedger

/// The consumer groups' journal in the ledger's internal topic
/// `_vimana.groups` (Protocol/AGENTS.md §2): how a change is encoded
/// (`append`) and decoded (`GroupStore.replay`), the snapshots that bound
/// what a start replays, and the `groups.snapshot` pointer file that finds
/// the latest one at once.
///
/// Promises: every record `GroupStore` hands over is appended, in order,
/// with the pass's clock; `lastSequence` is the sequence of the latest one,
/// so a reply that must wait for a change to be durable knows what to wait
/// for; the pointer file only ever names a durable `snapshot-begin`.
public final class GroupJournal {
    let ledger: Ledger
    unowned(unsafe) let host: any AgentHost
    let log = Log.shared

    /// Sequence of the last journal record (an ACK's reply waits until it is confirmed).
    public private(set) var lastSequence: UInt64 = 0
    /// Set when the ledger seals a segment: the next pass writes a snapshot
    /// of every consumer group to the journal.
    var snapshotDue = false
    /// The ledger's raw bytes written at the last snapshot: another is
    /// written once `snapshotInterval` more have been, since a start
    /// inflates every frame from the latest snapshot to the journal's end.
    var rawBytesAtSnapshot = 0
    /// Raw bytes between snapshots: `minRawBytesPerSnapshot`, or
    /// `snapshotCostFactor` times the last snapshot's estimated size when
    /// that is more, so that snapshots of a large group state never take
    /// more than 1/factor of the ledger (nor follow one another at once).
    /// A start after a crash reads at most about this much.
    var snapshotInterval = GroupJournal.minRawBytesPerSnapshot
    /// `lastSequence` after the latest snapshot: the journal has changed
    /// since when it is greater (a clean stop writes one then).
    var sequenceAtSnapshot: UInt64 = 0
    /// Snapshots written and not yet durable, oldest first: (begin ID, the
    /// sequence of the last record). Once one is durable, its ID goes to the
    /// ledger directory's `groups.snapshot` so the next start finds it at once.
    /// A list: under `fsync: no` only a seal makes records durable, and by
    /// then the snapshot written at that seal is the latest one.
    var awaitingDurability: [(begin: StreamID, sequence: UInt64)] = []

    // MARK: - Limits

    /// Small enough that a start after a crash, which replays up to this
    /// much of the ledger, stays well under 100 ms even with small records
    /// (4 MiB of 70-byte records took 145 ms: docs/PERFORMANCE.md); a
    /// snapshot of a few groups is a few hundred bytes.
    static let minRawBytesPerSnapshot = 1 << 20
    static let snapshotCostFactor = 8
    /// About what a snapshot's records hold: a few fields per group, an ID
    /// and a count per pending task.
    static let snapshotBytesPerGroup = 256, snapshotBytesPerPending = 48
    /// Journal records read at a time at a start: a bound on what is held at once.
    static let replayChunk = 10_000
    public static let snapshotPointerFile = "groups.snapshot"

    init(ledger: Ledger, host: any AgentHost) {
        self.ledger = ledger
        self.host = host
    }

    // MARK: - Encoding

    /// Appends a group change to the journal topic, encoding it in place:
    /// this runs for every delivery and acknowledgement.
    func append(_ record: JournalRecord) -> StreamID? {
        let ledger = ledger
        return GroupStore.journalTopic.withUnsafeBytes { t -> StreamID? in
            let appended = ledger.append(topic: t, id: .auto, client: .kernel(), nowMillis: UInt64(host.passMillis),
                                         nowMicros: Clock.wallMicros()) { fields in
                func field(_ name: StaticString, _ value: UnsafeRawBufferPointer) {
                    fields.add(name: name, value: value)
                }
                field("op", UnsafeRawBufferPointer(start: record.op.utf8Start, count: record.op.utf8CodeUnitCount))
                /// A field of `items` written as text, separated by spaces;
                /// `write` puts one item (at most `width` bytes) at a pointer.
                func list<T>(_ name: StaticString, _ items: [T], width: Int, _ write: (T, UnsafeMutablePointer<UInt8>) -> Int) {
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: items.count * (width + 1)) { buffer in
                        guard let p = buffer.baseAddress else { return }
                        var n = 0
                        for item in items {
                            if n > 0 { p[n] = 32; n += 1 }
                            n += write(item, p + n)
                        }
                        field(name, UnsafeRawBufferPointer(start: p, count: n))
                    }
                }
                record.topic.withUnsafeBytes { field("topic", $0) }
                record.group.withUnsafeBytes { field("group", $0) }
                if let consumer = record.consumer { consumer.withUnsafeBytes { field("consumer", $0) } }
                if let id = record.id { list("id", [id], width: StreamID.maxTextLength) { $0.write(to: $1) } }
                if let name = record.countName {
                    list(name, [record.count], width: 20) { Decimal.format(Int($0), into: $1) }
                }
                if let ids = record.ids { list("ids", ids, width: StreamID.maxTextLength) { $0.write(to: $1) } }
                if let counts = record.counts { list("counts", counts, width: 20) { Decimal.format(max($0, 0), into: $1) } }
            }
            guard case .success(let r) = appended else { return nil }
            lastSequence = r.sequence
            return r.id
        }
    }

    // MARK: - Restore

    /// Replays the journal into `groups`, then journals every change from now on.
    ///
    /// What a start reads is bounded by the groups' state, not the ledger's
    /// size: it replays from the latest snapshot (found through the pointer
    /// file, else searched backwards), reads only the index stretches that
    /// can hold journal records (Ledger.range), and a snapshot is written at
    /// every seal, every `snapshotInterval`, at a clean stop, and at the
    /// start itself when the journal goes on after the latest one.
    func restore(_ groups: GroupStore) {
        let journalTopic = GroupStore.journalTopic
        if ledger.stream(journalTopic) != nil {
            let framesBefore = ledger.stats.framesRead
            // From the latest complete snapshot on (the whole journal when there is none),
            // a bounded chunk at a time.
            let start = latestSnapshot()
            var from = start ?? .zero
            var replayed = 0
            var endsWithSnapshot = false
            while true {
                let chunk = ledger.range(topic: journalTopic, from: from, to: .max, count: Self.replayChunk)
                groups.replay(chunk, nowMillis: Clock.wallMillis())
                replayed += chunk.count
                if let last = chunk.last { endsWithSnapshot = JournalFields(last.fields)["op"] == Self.snapshotEnd }
                guard chunk.count == Self.replayChunk, let next = chunk.last?.id.successor else { break }
                from = next
            }
            log.info("consumer groups restored", ["groups": .int(groups.all.count), "journal_records": .int(replayed),
                                                  "from_snapshot": .string(start?.description ?? "none"),
                                                  "frames_read": .int(ledger.stats.framesRead - framesBefore),
                                                  "segments": .int(ledger.segmentCount)])
            // The next start replays from here, not from the snapshot this one
            // used (or none), whatever this run writes before it ends.
            if !groups.all.isEmpty && !endsWithSnapshot { snapshotDue = true }
        }
        // A group's topic is a stream even with no entries (XGROUP CREATE … MKSTREAM):
        // the ledger's files know only topics with records.
        for g in groups.all { ledger.makeStream(g.topic) }
        groups.streamState = { [unowned ledger] topic in ledger.stream(topic) }
        groups.tombstonesPossible = { [unowned ledger] in ledger.hasTombstones }
        ledger.onRolled = { [unowned self] in snapshotDue = true }
        ledger.onDurable = { [unowned self] sequence in
            if !awaitingDurability.isEmpty { noteDurable(upTo: sequence) }
        }
        groups.journal = { [unowned self] record in append(record) }
    }

    // MARK: - Snapshots

    /// Each pass, before the ledger commits: a snapshot when one is due
    /// (a seal, or `snapshotInterval` written since the last), then the
    /// pass's batched changes.
    func endPass(_ groups: GroupStore) {
        if snapshotDue || ledger.stats.rawBytesWritten - rawBytesAtSnapshot >= snapshotInterval {
            writeSnapshot(groups)
        }
        if groups.hasBatchedChanges { groups.flushJournal() }
    }

    /// At a clean stop, before the ledger closes: the next start replays
    /// from here (nothing after it) rather than from the last periodic snapshot.
    func snapshotIfChanged(_ groups: GroupStore) {
        if lastSequence > sequenceAtSnapshot && ledger.writeError == nil { writeSnapshot(groups) }
    }

    /// Writes a snapshot of every group to the journal (GroupStore.writeSnapshot).
    func writeSnapshot(_ groups: GroupStore) {
        snapshotDue = false
        rawBytesAtSnapshot = ledger.stats.rawBytesWritten
        let all = groups.all
        let estimate = all.reduce(0) { $0 + Self.snapshotBytesPerGroup + $1.pending.count * Self.snapshotBytesPerPending }
        snapshotInterval = max(Self.minRawBytesPerSnapshot, estimate * Self.snapshotCostFactor)
        if let begin = groups.writeSnapshot(nowMillis: Clock.wallMillis()) {
            awaitingDurability.append((begin, lastSequence))
        }
        sequenceAtSnapshot = lastSequence
    }

    /// Records where the latest durable snapshot begins (everything below
    /// `sequence` is durable; also called after the ledger's final fsync).
    public func noteDurable(upTo sequence: UInt64) {
        guard let k = awaitingDurability.lastIndex(where: { $0.sequence < sequence }) else { return }
        let pending = awaitingDurability[k]
        awaitingDurability.removeFirst(k + 1)
        writePointer(pending.begin)
    }

    var pointerPath: String { ledger.config.dir + "/" + Self.snapshotPointerFile }

    /// Writes `groups.snapshot`. A lost or stale pointer only means a
    /// longer search at the next start.
    private func writePointer(_ begin: StreamID) {
        if !FileIO.writeSmallFile(pointerPath, begin.description + "\n") {
            log.warn("cannot record the group snapshot's position", ["path": .string(pointerPath)])
        }
    }

    /// Where the latest complete group snapshot begins: the position in
    /// `groups.snapshot` when that record is a `snapshot-begin` still in the
    /// ledger, else found by `searchSnapshot`. A file that is not exactly
    /// what `writePointer` writes is passed over with a warning, as a lost one.
    func latestSnapshot() -> StreamID? {
        if let text = FileIO.readSmallFile(pointerPath) {
            if let id = Self.pointerID(text) {
                if let r = ledger.range(topic: GroupStore.journalTopic, from: id, to: id, count: 1).first,
                   JournalFields(r.fields)["op"] == Self.snapshotBegin {
                    return id
                }
            } else {
                log.warn("group snapshot pointer ignored", [
                    "path": .string(pointerPath), "bytes": .int(text.utf8.count),
                    "reason": "not a stream ID and a newline; searching the journal instead"])
            }
        }
        // Not recorded as found: a snapshot read here may not be durable yet
        // (the previous run crashed), and the pointer must name a durable one.
        return searchSnapshot()
    }

    /// The ID in a `groups.snapshot` file: `ms-seq` as `StreamID` writes it
    /// and one newline, nothing else (the file is ours, so no leniency).
    static func pointerID(_ text: String) -> StreamID? {
        let bytes = text.utf8
        guard bytes.last == 10 else { return nil }
        return StreamID.parseCanonical(bytes.dropLast())
    }

    /// The ID of the `snapshot-begin` of the latest complete group snapshot
    /// in the journal (one whose `snapshot-end` was written); nil when there
    /// is none. Read backwards from the journal's end, a bounded chunk at a
    /// time, so what is read is what was journaled since that snapshot.
    func searchSnapshot() -> StreamID? {
        // A read stops only once it has `count` records: start with one and
        // double, so a sparse journal is not read back to its start for
        // records after the snapshot that are not there.
        var count = 1
        for span in ledger.topicSpans(GroupStore.journalTopic).reversed() {
            var to = span.last
            while true {
                let chunk = ledger.range(topic: GroupStore.journalTopic, from: span.first, to: to, count: count, reverse: true)
                for r in chunk {
                    let f = JournalFields(r.fields)
                    guard f["op"] == Self.snapshotEnd, let id = f["id"].flatMap({ StreamID.parse(bytes: $0) }) else { continue }
                    return id
                }
                guard chunk.count == count, let previous = chunk.last?.id.predecessor, previous >= span.first else { break }
                to = previous
                count = min(count * 2, Self.replayChunk)
            }
        }
        return nil
    }

    static let snapshotBegin = Array("snapshot-begin".utf8), snapshotEnd = Array("snapshot-end".utf8)
}

// MARK: - Snapshot records and decoding

extension GroupStore {
    /// Writes the whole state of every group to the journal, between a
    /// `snapshot-begin` and a `snapshot-end` that names the begin's ID, so
    /// that a restart replays from the latest complete snapshot on: older
    /// journal records may have been retired by retention, and replaying
    /// them all would make restarts slower as the ledger grows.
    /// Returns the `snapshot-begin`'s ID, or nil when nothing was written.
    @discardableResult
    func writeSnapshot(nowMillis: Int64) -> StreamID? {
        guard !replaying, let journal, !isEmpty else { return nil }
        flushJournal()
        guard let begin = journal(JournalRecord(op: "snapshot-begin", topic: [], group: [])) else { return nil }
        for g in all {
            _ = journal(JournalRecord(op: "snapshot", topic: g.topic, group: g.name, id: g.lastDelivered,
                                      countName: "entries-read", count: g.entriesRead))
            var byConsumer: [Int: ([StreamID], [Int])] = [:]
            for p in g.pending {
                byConsumer[p.consumer, default: ([], [])].0.append(p.id)
                byConsumer[p.consumer, default: ([], [])].1.append(p.deliveries)
            }
            for (index, c) in g.consumers.enumerated() where !c.deleted {
                let (ids, counts) = byConsumer[index] ?? ([], [])
                // Records of bounded size however much is pending; replay adds them up.
                var start = 0
                repeat {
                    let end = min(start + Self.snapshotIDsPerRecord, ids.count)
                    _ = journal(JournalRecord(op: "pending", topic: g.topic, group: g.name, consumer: c.name,
                                              ids: Array(ids[start..<end]), counts: Array(counts[start..<end])))
                    start = end
                } while start < ids.count
            }
            for p in g.pending where p.eligibleAtMillis > nowMillis {
                _ = journal(JournalRecord(op: "nack", topic: g.topic, group: g.name, id: p.id, countName: "at", count: p.eligibleAtMillis))
            }
        }
        _ = journal(JournalRecord(op: "snapshot-end", topic: [], group: [], id: begin))
        return begin
    }

    /// Rebuilds the groups from journal records, oldest first. Numbers are
    /// range-checked as a client's would be (the journal is input too: a
    /// value journaled by an older version must not stop a restart); a
    /// number that is malformed or out of range is replayed as absent.
    func replay(_ records: [LedgerRecord], nowMillis: Int64) {
        replaying = true
        defer { replaying = false }
        for r in records {
            let f = JournalFields(r.fields)
            guard let op = f["op"].map({ String(decoding: $0, as: UTF8.self) }),
                  let topic = f["topic"], let name = f["group"] else { continue }
            let id = f["id"].flatMap({ StreamID.parse(bytes: $0) })
            let g = group(topic, name)
            switch op {
            case "create":
                create(topic: topic, name: name, lastDelivered: id ?? .zero,
                       entriesRead: f.integer("entries-read", in: ConsumerGroup.entriesReadRange) ?? ConsumerGroup.entriesReadUnknown)
            case "destroy":
                destroy(topic: topic, name: name)
            case "setid":
                if let g, let id {
                    setID(g, id, entriesRead: f.integer("entries-read", in: ConsumerGroup.entriesReadRange))
                }
            case "consumer":
                if let g, let c = f["consumer"] { consumer(g, c, nowMillis: nowMillis) }
            case "delconsumer":
                if let g, let c = f["consumer"] { deleteConsumer(g, c) }
            case "deliver":
                if let g, let id, let c = f["consumer"] {
                    let index = consumer(g, c, nowMillis: nowMillis)
                    let n = f.integer("deliveries", in: Int64.min...Int64.max).map { Int($0) }
                    deliver(g, id, to: index, nowMillis: r.timestampMicros / 1000, deliveries: n)
                }
            case "snapshot":
                let read = f.integer("entries-read", in: ConsumerGroup.entriesReadRange) ?? ConsumerGroup.entriesReadUnknown
                if let g { setID(g, id ?? .zero, entriesRead: read) }
                else { create(topic: topic, name: name, lastDelivered: id ?? .zero, entriesRead: read) }
            case "pending":
                if let g, let c = f["consumer"] {
                    let index = consumer(g, c, nowMillis: nowMillis)
                    let ids = f["ids"].map(Self.parseIDs) ?? []
                    let counts = (f["counts"] ?? []).split(separator: 32).map { Decimal.parse(Array($0)) ?? 1 }
                    for (k, id) in ids.enumerated() {
                        deliver(g, id, to: index, nowMillis: r.timestampMicros / 1000, deliveries: k < counts.count ? counts[k] : 1)
                    }
                }
            case "delivered":
                if let g, let c = f["consumer"], let ids = f["ids"] {
                    let index = consumer(g, c, nowMillis: nowMillis)
                    for id in Self.parseIDs(ids) { deliver(g, id, to: index, nowMillis: r.timestampMicros / 1000, deliveries: 1) }
                }
            case "acked":
                if let g, let ids = f["ids"] { for id in Self.parseIDs(ids) { ack(g, id) } }
            case "nack":
                if let g, let id, let at = f.integer("at", in: 0...Int64.max) {
                    giveBack(g, id, atMillis: at)
                }
            case "advance":
                if let g, let id { advance(g, to: id) }
            case "ack":
                if let g, let id { ack(g, id) }
            default:
                continue
            }
        }
    }

    /// The IDs of a `delivered`, `acked` or `pending` record: `ms-seq`
    /// separated by spaces (StreamID.parse reads each).
    static func parseIDs(_ bytes: [UInt8]) -> [StreamID] {
        var out: [StreamID] = []
        out.reserveCapacity(bytes.count / 16)
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return }
            var i = 0
            while i < b.count {
                var j = i
                while j < b.count && b[j] != 32 { j += 1 }
                if let id = StreamID.parse(UnsafeBufferPointer(start: base + i, count: j - i)) { out.append(id) }
                i = j + 1
            }
        }
        return out
    }
}

/// A journal record's fields looked up by name without building a dictionary
/// of strings per record (a restart replays many).
struct JournalFields {
    let fields: [LedgerRecord.Field]

    init(_ fields: [LedgerRecord.Field]) { self.fields = fields }

    subscript(_ name: StaticString) -> [UInt8]? {
        let key = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        for f in fields where f.name.count == key.count && f.name.elementsEqual(key) { return f.value }
        return nil
    }

    /// Field `name` as a decimal integer in Redis's strict syntax within
    /// `range`; nil when it is absent, malformed or outside the range.
    func integer(_ name: StaticString, in range: ClosedRange<Int64>) -> Int64? {
        guard let text = self[name], let value = Decimal.parse(text), range.contains(Int64(value)) else { return nil }
        return Int64(value)
    }
}
