import VimanaCore
import VimanaLedger

/// Every consumer group, by topic and name, and the journal that makes them
/// survive restarts: each change is appended to the ledger's internal topic
/// `_vimana.groups` (Protocol/AGENTS.md §2) and replayed on start.
public final class GroupStore {
    public static let journalTopic: [UInt8] = Array("_vimana.groups".utf8)

    struct Key: Hashable {
        var topic: [UInt8]
        var name: [UInt8]
    }

    private var groups: [Key: ConsumerGroup] = [:]
    private var byTopic: [[UInt8]: [ConsumerGroup]] = [:]
    /// Appends one journal record and returns its entry ID; set by the kernel.
    public var journal: ((JournalRecord) -> StreamID?)?
    /// True while replaying: changes are not journaled again.
    private var replaying = false
    /// The ledger's state of a topic; set by the kernel. A group whose
    /// `entries-read` is unknown learns it from there when a read reaches an
    /// entry whose count can be told (`ConsumerGroup.estimatedEntriesRead`).
    public var streamState: (([UInt8]) -> StreamState?)?

    public init() {}

    public func group(_ topic: [UInt8], _ name: [UInt8]) -> ConsumerGroup? { groups[Key(topic: topic, name: name)] }
    public func groups(of topic: [UInt8]) -> [ConsumerGroup] { byTopic[topic] ?? [] }
    public var all: [ConsumerGroup] { Array(groups.values) }

    /// Deliveries of new entries and acknowledgements since the last
    /// `flushJournal`, written then as one record per group and consumer
    /// (`delivered`) and per group (`acked`) instead of one per task.
    private var batchedDeliveries: [BatchKey: (group: ConsumerGroup, ids: [StreamID])] = [:]
    private var batchedDeliveryOrder: [BatchKey] = []
    private var batchedAcks: [ObjectIdentifier: (ConsumerGroup, [StreamID])] = [:]
    private var batchedAckOrder: [ObjectIdentifier] = []

    struct BatchKey: Hashable {
        var group: ObjectIdentifier
        var consumer: Int
    }

    /// Whether changes are waiting for `flushJournal`.
    public var hasBatchedChanges: Bool { !batchedDeliveryOrder.isEmpty || !batchedAckOrder.isEmpty }

    private func write(_ record: JournalRecord) {
        guard !replaying, let journal else { return }
        // Batched changes first: the journal keeps the order of changes that
        // depend on each other (a consumer created, a redelivery, a destroy).
        if hasBatchedChanges { flushJournal() }
        _ = journal(record)
    }

    /// Writes the batched deliveries and acknowledgements. The kernel calls it
    /// once per loop pass before the ledger commits, and before an answer that
    /// must wait for its journal record to be durable.
    public func flushJournal() {
        guard let journal, hasBatchedChanges else { return }
        // At most `snapshotIDsPerRecord` IDs a record: an XREADGROUP without
        // COUNT can deliver a whole stream in one pass.
        for key in batchedDeliveryOrder {
            guard let (g, ids) = batchedDeliveries[key] else { continue }
            for start in stride(from: 0, to: ids.count, by: Self.snapshotIDsPerRecord) {
                let part = ids.count <= Self.snapshotIDsPerRecord ? ids : Array(ids[start..<min(start + Self.snapshotIDsPerRecord, ids.count)])
                _ = journal(JournalRecord(op: "delivered", topic: g.topic, group: g.name, consumer: g.consumerName(key.consumer), ids: part))
            }
        }
        for key in batchedAckOrder {
            guard let (g, ids) = batchedAcks[key] else { continue }
            for start in stride(from: 0, to: ids.count, by: Self.snapshotIDsPerRecord) {
                let part = ids.count <= Self.snapshotIDsPerRecord ? ids : Array(ids[start..<min(start + Self.snapshotIDsPerRecord, ids.count)])
                _ = journal(JournalRecord(op: "acked", topic: g.topic, group: g.name, ids: part))
            }
        }
        batchedDeliveries.removeAll(keepingCapacity: true)
        batchedDeliveryOrder.removeAll(keepingCapacity: true)
        batchedAcks.removeAll(keepingCapacity: true)
        batchedAckOrder.removeAll(keepingCapacity: true)
    }


    // MARK: - Changes (journaled)

    /// Creates a group; nil when one of that name exists on the topic.
    @discardableResult
    public func create(topic: [UInt8], name: [UInt8], lastDelivered: StreamID,
                       entriesRead: Int64 = ConsumerGroup.entriesReadUnknown) -> ConsumerGroup? {
        let key = Key(topic: topic, name: name)
        guard groups[key] == nil else { return nil }
        let g = ConsumerGroup(topic: topic, name: name, lastDelivered: lastDelivered, entriesRead: entriesRead)
        groups[key] = g
        byTopic[topic, default: []].append(g)
        write(JournalRecord(op: "create", topic: topic, group: name, id: lastDelivered,
                            countName: "entries-read", count: entriesRead))
        return g
    }

    @discardableResult
    public func destroy(topic: [UInt8], name: [UInt8]) -> Bool {
        guard groups.removeValue(forKey: Key(topic: topic, name: name)) != nil else { return false }
        byTopic[topic]?.removeAll { $0.name == name }
        write(JournalRecord(op: "destroy", topic: topic, group: name))
        return true
    }

    /// XGROUP SETID: without ENTRIESREAD the count becomes unknown, as in
    /// Redis 7.0 (XINFO GROUPS shows a null until a read can tell it).
    public func setID(_ g: ConsumerGroup, _ id: StreamID, entriesRead: Int64?) {
        g.lastDelivered = id
        g.entriesRead = entriesRead ?? ConsumerGroup.entriesReadUnknown
        write(JournalRecord(op: "setid", topic: g.topic, group: g.name, id: id,
                            countName: "entries-read", count: g.entriesRead))
    }

    /// The consumer's index, created (and journaled) when missing.
    @discardableResult
    public func consumer(_ g: ConsumerGroup, _ name: [UInt8], nowMillis: Int64) -> Int {
        if let i = g.consumer(name, nowMillis: nowMillis, create: false) { return i }
        write(JournalRecord(op: "consumer", topic: g.topic, group: g.name, consumer: name))
        return g.consumer(name, nowMillis: nowMillis) ?? 0
    }

    @discardableResult
    public func deleteConsumer(_ g: ConsumerGroup, _ name: [UInt8]) -> Int {
        write(JournalRecord(op: "delconsumer", topic: g.topic, group: g.name, consumer: name))
        return g.deleteConsumer(name)
    }

    @discardableResult
    public func deliver(_ g: ConsumerGroup, _ id: StreamID, to c: Int, nowMillis: Int64, deliveries: Int? = nil) -> Int {
        let unknownBefore = g.entriesRead == ConsumerGroup.entriesReadUnknown && id > g.lastDelivered
        let n = g.deliver(id, to: c, nowMillis: nowMillis, deliveries: deliveries)
        if unknownBefore { learnEntriesRead(g) }
        if n == 1 && !replaying && journal != nil {
            // A first delivery cannot depend on another change of this pass.
            let key = BatchKey(group: ObjectIdentifier(g), consumer: c)
            if batchedDeliveries[key]?.ids.append(id) == nil {
                batchedDeliveries[key] = (g, [id])
                batchedDeliveryOrder.append(key)
            }
            return n
        }
        write(JournalRecord(op: "deliver", topic: g.topic, group: g.name, consumer: g.consumerName(c), id: id,
                            countName: "deliveries", count: Int64(n)))
        return n
    }

    /// A task given back (NACK) to be redelivered at `atMillis` (wall clock);
    /// journaled so that a delay outlives a restart.
    public func giveBack(_ g: ConsumerGroup, _ id: StreamID, atMillis: Int64) {
        g.setEligible(id, atMillis: atMillis)
        write(JournalRecord(op: "nack", topic: g.topic, group: g.name, id: id, countName: "at", count: atMillis))
    }

    public func advance(_ g: ConsumerGroup, to id: StreamID) {
        let unknownBefore = g.entriesRead == ConsumerGroup.entriesReadUnknown && id > g.lastDelivered
        g.advance(to: id)
        write(JournalRecord(op: "advance", topic: g.topic, group: g.name, id: id))
        if unknownBefore { learnEntriesRead(g) }
    }

    /// A read moved a group whose count is unknown: Redis sets the count to
    /// the estimate at the entry read. Journaled as a `setid` (which carries
    /// the ID read too, so it replays the same before or after the delivery's
    /// own record), since a replay sees the stream as it is at restart, not
    /// as it was at the read.
    private func learnEntriesRead(_ g: ConsumerGroup) {
        guard !replaying, let state = streamState?(g.topic),
              let read = ConsumerGroup.estimatedEntriesRead(at: g.lastDelivered, in: state) else { return }
        g.entriesRead = read
        write(JournalRecord(op: "setid", topic: g.topic, group: g.name, id: g.lastDelivered,
                            countName: "entries-read", count: read))
    }

    @discardableResult
    public func ack(_ g: ConsumerGroup, _ id: StreamID) -> Bool {
        guard g.ack(id) else { return false }
        guard !replaying, journal != nil else { return true }
        let key = ObjectIdentifier(g)
        if batchedAcks[key]?.1.append(id) == nil {
            batchedAcks[key] = (g, [id])
            batchedAckOrder.append(key)
        }
        return true
    }

    /// Acknowledges those of `ids` that are pending, in one pass (see
    /// `ConsumerGroup.ack(_:)`); returns them.
    @discardableResult
    public func ack(_ g: ConsumerGroup, _ ids: [StreamID]) -> [StreamID] {
        let acked = g.ack(ids)
        guard !acked.isEmpty, !replaying, journal != nil else { return acked }
        let key = ObjectIdentifier(g)
        if batchedAcks[key]?.1.append(contentsOf: acked) == nil {
            batchedAcks[key] = (g, acked)
            batchedAckOrder.append(key)
        }
        return acked
    }

    // MARK: - Snapshots

    /// Writes the whole state of every group to the journal, between a
    /// `snapshot-begin` and a `snapshot-end` that names the begin's ID, so
    /// that a restart replays from the latest complete snapshot on: older
    /// journal records may have been retired by retention, and replaying
    /// them all would make restarts slower as the ledger grows. The kernel
    /// writes one whenever a segment is sealed.
    /// IDs in one `delivered`, `acked` or `pending` record, so that a record
    /// stays small (about 170 KiB) whatever a pass or a snapshot holds.
    static let snapshotIDsPerRecord = 4096

    /// Returns the `snapshot-begin`'s ID, or nil when nothing was written.
    @discardableResult
    public func writeSnapshot(nowMillis: Int64) -> StreamID? {
        guard !replaying, let journal, !groups.isEmpty else { return nil }
        flushJournal()
        guard let begin = journal(JournalRecord(op: "snapshot-begin", topic: [], group: [])) else { return nil }
        for g in groups.values {
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

    // MARK: - Replay

    /// Rebuilds the groups from journal records, oldest first. Numbers are
    /// range-checked as a client's would be (the journal is input too: a
    /// value journaled by an older version must not stop a restart); a
    /// number that is malformed or out of range is replayed as absent.
    public func replay(_ records: [LedgerRecord], nowMillis: Int64) {
        replaying = true
        defer { replaying = false }
        for r in records {
            let f = JournalFields(r.fields)
            guard let op = f["op"].map({ String(decoding: $0, as: UTF8.self) }),
                  let topic = f["topic"], let name = f["group"] else { continue }
            let id = f["id"].flatMap(Self.parseID)
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
                    g.setEligible(id, atMillis: at)
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
    /// separated by spaces. Parsed byte by byte: a restart replays many.
    static func parseIDs(_ bytes: [UInt8]) -> [StreamID] {
        var out: [StreamID] = []
        out.reserveCapacity(bytes.count / 16)
        var i = 0
        while i < bytes.count {
            var j = i
            while j < bytes.count && bytes[j] != 32 { j += 1 }
            if let id = parseID(bytes[i..<j]) { out.append(id) }
            i = j + 1
        }
        return out
    }

    static func parseID(_ bytes: [UInt8]) -> StreamID? { parseID(bytes[...]) }

    /// `ms-seq`, both decimal; nil for anything else.
    static func parseID(_ bytes: ArraySlice<UInt8>) -> StreamID? {
        var ms: UInt64 = 0, seq: UInt64 = 0, inSeq = false, digits = 0
        for b in bytes {
            if b == 45 && !inSeq && digits > 0 { inSeq = true; digits = 0; continue }
            let d = b &- 48
            guard d <= 9 else { return nil }
            let (m, o1) = (inSeq ? seq : ms).multipliedReportingOverflow(by: 10)
            let (v, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            if inSeq { seq = v } else { ms = v }
            digits += 1
        }
        guard inSeq && digits > 0 else { return nil }
        return StreamID(ms: ms, seq: seq)
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
