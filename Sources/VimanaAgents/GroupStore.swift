import VimanaCore
import VimanaLedger

/// Every consumer group, by topic and name, and the journal that makes them
/// survive restarts: each change is handed to the journal (GroupJournal),
/// which appends it to the ledger's internal topic `_vimana.groups`
/// (Protocol/AGENTS.md §2); a start replays it (`replay`).
public final class GroupStore {
    public static let journalTopic: [UInt8] = Array("_vimana.groups".utf8)

    struct Key: Hashable {
        var topic: [UInt8]
        var name: [UInt8]
    }

    private var groups: [Key: ConsumerGroup] = [:]
    private var byTopic: [[UInt8]: [ConsumerGroup]] = [:]
    /// Appends one journal record and returns its entry ID; set by GroupJournal.restore.
    var journal: ((JournalRecord) -> StreamID?)?
    /// True while replaying (GroupJournal.swift): changes are not journaled again.
    var replaying = false
    /// The ledger's state of a topic; set by GroupJournal.restore. A group whose
    /// `entries-read` is unknown learns it from there when a read reaches an
    /// entry whose count can be told (`ConsumerGroup.estimatedEntriesRead`).
    var streamState: (([UInt8]) -> StreamState?)?
    /// Whether any stream has had an XDEL (`Ledger.hasTombstones`); set by GroupJournal.restore.
    var tombstonesPossible: () -> Bool = { false }

    public init() {}

    public func group(_ topic: [UInt8], _ name: [UInt8]) -> ConsumerGroup? { groups[Key(topic: topic, name: name)] }
    public func groups(of topic: [UInt8]) -> [ConsumerGroup] { byTopic[topic] ?? [] }
    public var all: [ConsumerGroup] { Array(groups.values) }
    public var isEmpty: Bool { groups.isEmpty }

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
    var hasBatchedChanges: Bool { !batchedDeliveryOrder.isEmpty || !batchedAckOrder.isEmpty }

    private func write(_ record: JournalRecord) {
        guard !replaying, let journal else { return }
        // Batched changes first: the journal keeps the order of changes that
        // depend on each other (a consumer created, a redelivery, a destroy).
        if hasBatchedChanges { flushJournal() }
        _ = journal(record)
    }

    /// Writes the batched deliveries and acknowledgements: once per loop
    /// pass before the ledger commits (GroupJournal.endPass), and before any
    /// other change, so the journal keeps the order of changes.
    func flushJournal() {
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

    // The only way a group changes (ConsumerGroup's mutators are internal
    // and called from this file alone; the agents' scheduler and runtime
    // come here too): each change is journaled here, or says why not.

    /// Creates a group; nil when one of that name exists on the topic.
    @discardableResult
    public func create(topic: [UInt8], name: [UInt8], lastDelivered: StreamID,
                       entriesRead: Int64 = ConsumerGroup.entriesReadUnknown) -> ConsumerGroup? {
        guard group(topic, name) == nil else { return nil }
        return insert(topic: topic, name: name, lastDelivered: lastDelivered, entriesRead: entriesRead)
    }

    /// The group `name` on `topic`, created as `create` would when missing.
    func group(_ topic: [UInt8], _ name: [UInt8], orCreateAt lastDelivered: StreamID, entriesRead: Int64) -> ConsumerGroup {
        group(topic, name) ?? insert(topic: topic, name: name, lastDelivered: lastDelivered, entriesRead: entriesRead)
    }

    private func insert(topic: [UInt8], name: [UInt8], lastDelivered: StreamID, entriesRead: Int64) -> ConsumerGroup {
        let g = ConsumerGroup(topic: topic, name: name, lastDelivered: lastDelivered, entriesRead: entriesRead)
        groups[Key(topic: topic, name: name)] = g
        byTopic[topic, default: []].append(g)
        write(JournalRecord(op: "create", topic: topic, group: name, id: lastDelivered,
                            countName: "entries-read", count: entriesRead))
        return g
    }

    /// XGROUP DESTROY. Reached from outside only through
    /// `Agents.destroyGroup`, which detaches the agents fed from the group.
    @discardableResult
    func destroy(topic: [UInt8], name: [UInt8]) -> Bool {
        guard groups.removeValue(forKey: Key(topic: topic, name: name)) != nil else { return false }
        byTopic[topic]?.removeAll { $0.name == name }
        write(JournalRecord(op: "destroy", topic: topic, group: name))
        return true
    }

    /// XGROUP SETID: without ENTRIESREAD the count becomes unknown, as in
    /// Redis 7.0 (XINFO GROUPS shows a null until a read can tell it).
    /// Reached from outside only through `Agents.setGroupID`, which moves
    /// the reads of the agent fed from the group.
    func setID(_ g: ConsumerGroup, _ id: StreamID, entriesRead: Int64?) {
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
        // Its tasks claimed in the cluster leave unanswered: given up there, for other kernels.
        if let f = g.federated, let i = g.index(ofConsumer: name) {
            for p in g.pending where p.consumer == i { f.release(p.id) }
        }
        write(JournalRecord(op: "delconsumer", topic: g.topic, group: g.name, consumer: name))
        return g.deleteConsumer(name)
    }

    @discardableResult
    public func deliver(_ g: ConsumerGroup, _ id: StreamID, to c: Int, nowMillis: Int64, deliveries: Int? = nil) -> Int {
        let unknownBefore = id > g.lastDelivered && (g.entriesRead == ConsumerGroup.entriesReadUnknown || tombstoned(g, id))
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

    /// A task given back to be redelivered at `atMillis` (wall clock).
    /// A NACK is journaled, so that its delay outlives a restart; a task
    /// whose ack_wait ran out, or that a built-in failed, is not
    /// (`journaled` false): after a restart every pending task is due at once anyway.
    public func giveBack(_ g: ConsumerGroup, _ id: StreamID, atMillis: Int64, journaled: Bool = true) {
        g.setEligible(id, atMillis: atMillis)
        guard journaled else { return }
        write(JournalRecord(op: "nack", topic: g.topic, group: g.name, id: id, countName: "at", count: atMillis))
    }

    /// Where entry `id`, which a read of `g` just reached, lies in the
    /// ledger: the next read of new entries starts there. A hint, not journaled.
    public func noteRead(_ g: ConsumerGroup, upTo id: StreamID, sequence: UInt64) {
        if id == g.lastDelivered { g.lastDeliveredSequence = (id, sequence) }
    }

    /// Restarts the idle clock (and a held task's ack_wait) of a pending
    /// entry: PROGRESS, XCLAIM IDLE|TIME. Not journaled: a restart counts
    /// idle times from the last journaled delivery.
    public func touch(_ g: ConsumerGroup, _ id: StreamID, nowMillis: Int64) {
        g.touch(id, nowMillis: nowMillis)
    }

    public func advance(_ g: ConsumerGroup, to id: StreamID) {
        let unknownBefore = id > g.lastDelivered && (g.entriesRead == ConsumerGroup.entriesReadUnknown || tombstoned(g, id))
        g.advance(to: id)
        write(JournalRecord(op: "advance", topic: g.topic, group: g.name, id: id))
        if unknownBefore { learnEntriesRead(g) }
    }

    /// Whether reading `id` cannot simply count on (Redis's read path): an
    /// XDEL may have left a gap at or after it. Only looked at once some
    /// stream had an XDEL (`tombstonesPossible`), so reads pay one call.
    private func tombstoned(_ g: ConsumerGroup, _ id: StreamID) -> Bool {
        guard !replaying, tombstonesPossible(), let state = streamState?(g.topic) else { return false }
        return ConsumerGroup.hasTombstones(from: id, in: state)
    }

    /// A read moved a group whose count is unknown: Redis sets the count to
    /// the estimate at the entry read. Journaled as a `setid` (which carries
    /// the ID read too, so it replays the same before or after the delivery's
    /// own record), since a replay sees the stream as it is at restart, not
    /// as it was at the read.
    private func learnEntriesRead(_ g: ConsumerGroup) {
        guard !replaying, let state = streamState?(g.topic) else { return }
        let read = ConsumerGroup.estimatedEntriesRead(at: g.lastDelivered, in: state) ?? ConsumerGroup.entriesReadUnknown
        if read == ConsumerGroup.entriesReadUnknown && g.entriesRead == read { return }
        g.entriesRead = read
        write(JournalRecord(op: "setid", topic: g.topic, group: g.name, id: g.lastDelivered,
                            countName: "entries-read", count: read))
    }

    @discardableResult
    public func ack(_ g: ConsumerGroup, _ id: StreamID) -> Bool {
        guard g.ack(id) else { return false }
        g.federated?.answered([id])
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
        g.federated?.answered(acked)
        guard !acked.isEmpty, !replaying, journal != nil else { return acked }
        let key = ObjectIdentifier(g)
        if batchedAcks[key]?.1.append(contentsOf: acked) == nil {
            batchedAcks[key] = (g, acked)
            batchedAckOrder.append(key)
        }
        return acked
    }

    /// IDs in one `delivered`, `acked` or `pending` record, so that a record
    /// stays small (about 170 KiB) whatever a pass or a snapshot holds.
    static let snapshotIDsPerRecord = 4096
}
