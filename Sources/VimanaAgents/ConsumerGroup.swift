import VimanaCore
import VimanaLedger

/// A task delivered and not yet acknowledged.
public struct PendingEntry: Sendable, Equatable {
    public var id: StreamID
    /// Index into the group's consumers.
    public var consumer: Int
    /// Wall-clock ms of the last delivery (XPENDING's idle time counts from it).
    public var deliveredAtMillis: Int64
    public var deliveries: Int
    /// Wall-clock ms at which a task given back (NACK, ack_wait over, a
    /// leaving instance) may be delivered again; 0 while its consumer holds it.
    public var eligibleAtMillis: Int64 = 0

    /// Held by its consumer: delivered and neither given back nor answered.
    public var isHeld: Bool { eligibleAtMillis == 0 }
}

/// A consumer of a group: a Redis client name, or an agent instance.
public struct Consumer: Sendable, Equatable {
    public var name: [UInt8]
    public var seenMillis: Int64
    public var activeMillis: Int64
    public var pending = 0
    public var deleted = false
}

/// A Redis Streams consumer group on one topic: where delivery has got to
/// and what is pending (delivered, not acknowledged), kept in ID order.
///
/// Promises: `pending` stays sorted by ID; each pending entry has exactly
/// one owning consumer, whose `pending` count includes it; the agent the
/// group feeds hears of every entry that starts or stops being held
/// (`AgentRuntime.taskHeld`, `taskLeft`, `taskGivenBack`), so that its
/// prefetch slots and timers follow the pending list whatever changed it
/// (an ACK, an XACK, an XCLAIM, a NACK, ack_wait running out).
///
/// Outside this module a group is read-only: its mutators are internal,
/// and inside it only `GroupStore` (GroupStore.swift) calls them and
/// journals each change, so that "every change is journaled" is kept by
/// access control rather than by care.
public final class ConsumerGroup {
    public let topic: [UInt8]
    public let name: [UInt8]
    public internal(set) var lastDelivered: StreamID
    /// Entries the group has read (`entries-read`); `entriesReadUnknown`
    /// when unknown (a group created or moved without ENTRIESREAD), until a
    /// read reaches an entry whose count `estimatedEntriesRead` can tell
    /// (GroupStore does that). May be set to anything in `entriesReadRange`,
    /// so counting on from it saturates.
    public internal(set) var entriesRead: Int64
    /// The ledger sequence of the entry `id`, when a read found it: valid
    /// while `id` is still `lastDelivered`, it lets the next read of new
    /// entries start there instead of walking the ledger's tail from its
    /// start. Not journaled (a hint).
    public internal(set) var lastDeliveredSequence: (id: StreamID, sequence: UInt64)?
    public private(set) var pending: [PendingEntry] = []
    public private(set) var consumers: [Consumer] = []
    /// Live consumers by name: finding a reader's consumer must not walk
    /// them all (9,000 blocked readers woken by one XADD each did, issue 9).
    private var consumerIndex: [[UInt8]: Int] = [:]
    /// The agent this group feeds, set by `AgentRuntime.attach` (a cycle
    /// with its `groups`, broken by `detach`; agents live as long as the
    /// kernel); nil for a group only Redis clients read, and while the
    /// journal is replayed.
    var agent: AgentRuntime?
    /// For the agent, by consumer index: where the instance that consumer
    /// is was last found and its serial (0: not found), so that finding an
    /// instance's slots costs no comparison of names.
    var instanceHints: [(index: Int, serial: Int)] = []
    /// For an agent's group on a federated topic: its tasks claimed in the
    /// cluster (Agents+Federation.swift); nil for every other group.
    var federated: FederatedQueue?

    /// Only `GroupStore` makes groups (and journals their creation).
    init(topic: [UInt8], name: [UInt8], lastDelivered: StreamID, entriesRead: Int64 = ConsumerGroup.entriesReadUnknown) {
        self.topic = topic
        self.name = name
        self.lastDelivered = lastDelivered
        self.entriesRead = entriesRead
    }

    /// What XGROUP CREATE|SETID ENTRIESREAD and the journal's `entries-read`
    /// may hold: -1 (unknown) or a count, as Redis 7.0 allows.
    public static let entriesReadRange: ClosedRange<Int64> = -1...Int64.max
    /// Redis's SCG_INVALID_ENTRIES_READ: XINFO GROUPS shows a null.
    public static let entriesReadUnknown: Int64 = -1

    // MARK: - Entries read and lag (Redis 7.0's t_stream.c)

    /// How many entries of the stream come up to and including `id`, as
    /// Redis's streamEstimateDistanceFromFirstEverEntry tells it; `nil` when
    /// that cannot be known (an ID between the first and the last entry, or
    /// after the last, or any once a deletion left a gap after the first).
    public static func estimatedEntriesRead(at id: StreamID, in s: StreamState) -> Int64? {
        let added = Int64(clamping: s.entriesAdded), length = Int64(clamping: s.length)
        if added == 0 { return 0 }
        if length == 0 && id <= s.lastID { return added }
        if id == s.lastID { return added }
        if id > s.lastID { return nil }
        let first = s.first ?? .zero
        // No gap ahead: nothing deleted, or only before the first entry (Redis 7.0's rule).
        guard s.maxDeleted == .zero || s.maxDeleted < first else { return nil }
        if id < first { return added.subtractingSaturating(length) }
        if id == first { return added.subtractingSaturating(length).addingSaturating(1) }
        return nil
    }

    /// Whether an entry deleted by XDEL may lie at or after `start` (Redis's
    /// streamRangeHasTombstones, to the stream's end): then a count of
    /// entries read cannot be carried on or subtracted from.
    public static func hasTombstones(from start: StreamID, in s: StreamState) -> Bool {
        guard s.length > 0, s.maxDeleted != .zero else { return false }
        if let first = s.first, first > s.maxDeleted { return false }
        return start <= s.maxDeleted
    }

    /// XINFO GROUPS' `lag` (Redis's streamReplyWithCGLag): entries added
    /// minus entries read, from the group's count when it is known, else
    /// from the estimate at its last delivered ID; nil (a null) when neither
    /// is known.
    public func lag(in s: StreamState) -> Int64? {
        let added = Int64(clamping: s.entriesAdded)
        if added == 0 { return 0 }
        let counted = entriesRead != Self.entriesReadUnknown && !Self.hasTombstones(from: lastDelivered, in: s)
        let read = counted ? entriesRead : Self.estimatedEntriesRead(at: lastDelivered, in: s)
        return read.map { added.subtractingSaturating($0) }
    }

    // MARK: - Consumers

    /// The index of consumer `name`, if the group has it.
    public func index(ofConsumer name: [UInt8]) -> Int? { consumerIndex[name] }

    /// The index of consumer `name`, created when missing.
    @discardableResult
    func consumer(_ name: [UInt8], nowMillis: Int64, create: Bool = true) -> Int? {
        if let i = consumerIndex[name] { return i }
        guard create else { return nil }
        consumerIndex[name] = consumers.count
        consumers.append(Consumer(name: name, seenMillis: nowMillis, activeMillis: -1))
        instanceHints.append((0, 0))
        return consumers.count - 1
    }

    /// Live consumers, in creation order.
    public var liveConsumers: [Consumer] { consumers.filter { !$0.deleted } }

    /// Deletes a consumer and its pending entries; returns how many it had.
    @discardableResult
    func deleteConsumer(_ name: [UInt8]) -> Int {
        guard let i = consumerIndex.removeValue(forKey: name) else { return 0 }
        let count = consumers[i].pending
        if let agent {
            for p in pending where p.consumer == i && p.isHeld { agent.taskLeft(self, p) }
        }
        pending.removeAll { $0.consumer == i }
        consumers[i].deleted = true
        consumers[i].pending = 0
        return count
    }

    // MARK: - Pending list

    /// Position of `id` in `pending`, or where it would go.
    public func position(_ id: StreamID) -> (Int, Bool) {
        var lo = 0, hi = pending.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pending[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < pending.count && pending[lo].id == id)
    }

    public func entry(_ id: StreamID) -> PendingEntry? {
        let (i, found) = position(id)
        return found ? pending[i] : nil
    }

    /// Records a delivery of `id` to consumer index `c`: a new pending entry,
    /// or the next delivery of an existing one. Returns its delivery count.
    @discardableResult
    func deliver(_ id: StreamID, to c: Int, nowMillis: Int64, deliveries: Int? = nil) -> Int {
        let (i, found) = position(id)
        if found {
            let previous = pending[i].consumer
            if pending[i].isHeld { agent?.taskLeft(self, pending[i]) }
            if previous != c {
                consumers[previous].pending -= 1
                consumers[c].pending += 1
            }
            pending[i].consumer = c
            pending[i].deliveredAtMillis = nowMillis
            // XCLAIM RETRYCOUNT may have set any count: counting on saturates.
            pending[i].deliveries = deliveries ?? pending[i].deliveries.addingSaturating(1)
            pending[i].eligibleAtMillis = 0
            consumers[c].seenMillis = nowMillis
            consumers[c].activeMillis = nowMillis
            agent?.taskHeld(self, pending[i])
            return pending[i].deliveries
        }
        let entry = PendingEntry(id: id, consumer: c, deliveredAtMillis: nowMillis, deliveries: deliveries ?? 1)
        if i == pending.count { pending.append(entry) } else { pending.insert(entry, at: i) }
        consumers[c].pending += 1
        consumers[c].seenMillis = nowMillis
        consumers[c].activeMillis = nowMillis
        if id > lastDelivered { advance(to: id) }
        agent?.taskHeld(self, entry)
        return entry.deliveries
    }

    /// Entries of `stream` (its topic's state) after `lastDelivered`: none
    /// once it reached the stream's last ID, all kept when it is before the
    /// first kept, else added minus read (XINFO GROUPS's `lag`), at most the
    /// entries kept. Exact unless retention removed entries the group had
    /// not read, or SETID moved it without ENTRIESREAD.
    public func lag(_ stream: StreamState) -> UInt64 {
        guard stream.length > 0, lastDelivered < stream.lastID else { return 0 }
        if let first = stream.first, lastDelivered < first { return stream.length }
        let read = UInt64(clamping: entriesRead)
        return min(stream.length, stream.entriesAdded > read ? stream.entriesAdded - read : 0)
    }

    /// Marks a new entry read without keeping it pending (XREADGROUP NOACK);
    /// a known count counts it, an unknown one stays unknown (GroupStore
    /// estimates it).
    func advance(to id: StreamID) {
        if id > lastDelivered {
            lastDelivered = id
            if entriesRead != Self.entriesReadUnknown { entriesRead = entriesRead.addingSaturating(1) }
        }
    }

    /// Acknowledges `id`; true when it was pending.
    @discardableResult
    func ack(_ id: StreamID) -> Bool {
        let (i, found) = position(id)
        guard found else { return false }
        let c = pending[i].consumer
        if pending[i].isHeld { agent?.taskLeft(self, pending[i]) }
        consumers[c].pending -= 1
        pending.remove(at: i)
        return true
    }

    /// Acknowledges those of `ids` that are pending, in one pass over the
    /// pending list: one `ack` each moves the rest of the list every time,
    /// and an XACK or XAUTOCLAIM of thousands of IDs would hold the loop for
    /// seconds. Returns the IDs that were pending, ascending, once each.
    @discardableResult
    func ack(_ ids: [StreamID]) -> [StreamID] {
        if ids.count == 1 { return ack(ids[0]) ? ids : [] }
        var positions: [Int] = []
        for id in ids {
            let (i, found) = position(id)
            if found { positions.append(i) }
        }
        guard !positions.isEmpty else { return [] }
        positions.sort()
        var unique: [Int] = []
        unique.reserveCapacity(positions.count)
        for i in positions where unique.last != i { unique.append(i) }
        for i in unique {
            if pending[i].isHeld { agent?.taskLeft(self, pending[i]) }
            consumers[pending[i].consumer].pending -= 1
        }
        let acked = unique.map { pending[$0].id }
        var write = unique[0], next = 0
        for read in unique[0]..<pending.count {
            if next < unique.count && unique[next] == read {
                next += 1
                continue
            }
            pending[write] = pending[read]
            write += 1
        }
        pending.removeLast(pending.count - write)
        return acked
    }

    /// Gives `id` back: it may be delivered again from `atMillis` (wall
    /// clock; NACK and its delay, ack_wait over, a leaving instance). Its
    /// consumer stays its owner until then, as in XPENDING.
    func setEligible(_ id: StreamID, atMillis: Int64) {
        let (i, found) = position(id)
        guard found else { return }
        if pending[i].isHeld { agent?.taskLeft(self, pending[i]) }
        // 0 would mean "held again": a time from the journal is at least 1.
        pending[i].eligibleAtMillis = max(atMillis, 1)
        agent?.taskGivenBack(self, pending[i])
    }

    /// Restarts the idle clock, and the ack_wait, of a held `id` (PROGRESS).
    func touch(_ id: StreamID, nowMillis: Int64) {
        let (i, found) = position(id)
        guard found else { return }
        pending[i].deliveredAtMillis = nowMillis
        if pending[i].isHeld { agent?.taskHeld(self, pending[i], again: true) }
    }


    public func consumerName(_ index: Int) -> [UInt8] { consumers[index].name }
}
