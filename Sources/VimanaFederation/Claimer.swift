import Dispatch
import Synchronization
import VimanaCore
import VimanaLedger
import VimanaRESP
import VimanaCluster

/// An agent's demand for tasks of one federated topic on this kernel:
/// what the loop tells the claimer whenever it changes.
public struct TaskDemand: Sendable, Equatable {
    /// The agent's group name (its id), here and in the cluster.
    public var group: [UInt8]
    public var topic: [UInt8]
    /// The agent's ack_wait: a claim idle longer in the cluster is another kernel's to take.
    public var ackWaitMillis: Int
    /// How many tasks this kernel's instances may hold (instances × prefetch); 0: none here now.
    public var capacity: Int
    /// Where the cluster group starts when this kernel makes it (`0`, or `<ms>-0`).
    public var startID: [UInt8]

    public init(group: [UInt8], topic: [UInt8], ackWaitMillis: Int, capacity: Int, startID: [UInt8]) {
        self.group = group
        self.topic = topic
        self.ackWaitMillis = ackWaitMillis
        self.capacity = capacity
        self.startID = startID
    }
}

/// A task claimed in the cluster for this kernel.
public struct TaskClaim: Sendable, Equatable {
    /// The entry's ID in the cluster stream (what XACK names).
    public var clusterID: [UInt8]
    /// The entry in this kernel's ledger; nil when the loop must find it by origin.
    public var local: StreamID?
    public var origin: [UInt8]
    public var originSequence: UInt64
}

/// Tasks claimed for one agent on one topic, handed to the loop.
public struct ClaimBatch: Sendable {
    public var group: [UInt8]
    public var topic: [UInt8]
    public var claims: [TaskClaim]
}

/// What the loop did with a batch of claims: all taken, except these.
public struct ClaimOutcome: Sendable {
    /// Not found in the ledger: given up here, for another kernel to take after ack_wait.
    public var released: [[UInt8]]
    public init(released: [[UInt8]] = []) { self.released = released }
}

/// Tasks across kernels (Protocol/FEDERATION.md §6): for each agent with
/// instances here on a federated topic, reads the agent's group in the
/// cluster as the consumer named by this kernel's node id (XREADGROUP),
/// hands each task to the loop as the local entry it is, acknowledges in
/// the cluster what was answered here (XACK), keeps this kernel's claims
/// fresh (XCLAIM … JUSTID every third of ack_wait) and takes over other
/// kernels' claims idle longer than ack_wait (XAUTOCLAIM): a kernel that
/// died leaves its tasks to the others.
///
/// Promises: a task is handed to the loop only once it is in the local
/// ledger; an entry is acknowledged in the cluster only after the loop
/// said it was answered (ACK, XACK, dead letter) or was never a task.
final class Claimer: @unchecked Sendable {
    private struct Key: Hashable, Comparable {
        var group: [UInt8]
        var topic: [UInt8]
        static func < (a: Key, b: Key) -> Bool {
            a.topic == b.topic ? a.group.lexicographicallyPrecedes(b.group) : a.topic.lexicographicallyPrecedes(b.topic)
        }
    }

    /// What the loop and the reader told the thread since it last looked.
    private struct Inbox {
        var demand: [TaskDemand]?
        var answered: [Key: [[UInt8]]] = [:]
        var released: [Key: [[UInt8]]] = [:]
        var poked: Set<[UInt8]> = []
    }

    /// The thread's state of one (agent, topic).
    private struct Work {
        var demand: TaskDemand
        var created = false
        var recovered = false
        /// Claimed for this kernel and handed to the loop, not yet answered.
        var inFlight: Set<[UInt8]> = []
        /// Answered here, to XACK in the cluster.
        var toAck: [[UInt8]] = []
        /// Claimed, waiting for the reader to import their entries, with
        /// when they were claimed: after ack_wait they are given up (not
        /// refreshed, another kernel takes them over).
        var unresolved: [([UInt8], FederatedEntry, Int64)] = []
        /// The cluster may hold new tasks for this demand (a doorbell, a full read).
        var poked = true
        var lastReadNanos: Int64 = 0
        var lastRefreshNanos: Int64 = 0
        var lastAutoclaimNanos: Int64 = 0
        var autoclaimCursor: [UInt8] = Array("0-0".utf8)
    }

    private let shared: FederationShared
    private let index: ImportIndex
    private let deliver: @Sendable (ClaimBatch, @escaping @Sendable (ClaimOutcome) -> Void) -> Void
    let thread = FederationThread()
    private let inbox = Mutex(Inbox())

    // The thread's own state.
    private var work: [Key: Work] = [:]
    private var client: ClusterClient?

    init(_ shared: FederationShared, index: ImportIndex,
         deliver: @escaping @Sendable (ClaimBatch, @escaping @Sendable (ClaimOutcome) -> Void) -> Void) {
        self.shared = shared
        self.index = index
        self.deliver = deliver
    }

    func start() -> Int32? { thread.start(name: "vimana-tasks") { [self] in run() } }

    // MARK: - Told by the loop and the reader (any thread)

    func setDemand(_ demand: [TaskDemand]) {
        inbox.withLock { $0.demand = demand }
        thread.wakeup.signal()
    }

    /// Tasks answered here (`clusterIDs`, to acknowledge in the cluster) or
    /// given up here (`released`, left for another kernel).
    func answered(group: [UInt8], topic: [UInt8], clusterIDs: [[UInt8]], released: [[UInt8]]) {
        let key = Key(group: group, topic: topic)
        inbox.withLock {
            if !clusterIDs.isEmpty { $0.answered[key, default: []].append(contentsOf: clusterIDs) }
            if !released.isEmpty { $0.released[key, default: []].append(contentsOf: released) }
        }
        thread.wakeup.signal()
    }

    /// `topic` has new entries in the cluster (a doorbell), or new imports here.
    func poke(_ topic: [UInt8]) {
        let first = inbox.withLock { $0.poked.insert(topic).inserted }
        if first { thread.wakeup.signal() }
    }

    // MARK: - The thread

    private func run() {
        while !thread.isStopping && !shared.claim.isConfirmed { pause(FederationLimits.retryMillis) }
        client = ClusterClient(shared.clusterSettings)
        while !thread.isStopping {
            takeInbox()
            var failed = false
            var wait = FederationLimits.idleMillis
            for key in work.keys.sorted() {
                if thread.isStopping { break }
                do throws(ClusterError) {
                    try serve(key, wait: &wait)
                } catch {
                    shared.status.failed("tasks", error)
                    failed = true
                    // The cluster answered with an error for this topic (a key of
                    // another type, a group destroyed): the others go on. Any other
                    // failure (unreachable, down) would be theirs too.
                    if case .protocolError = error { continue }
                    break
                }
            }
            // A demand gone with nothing left to acknowledge is forgotten.
            work = work.filter { $0.value.demand.capacity > 0 || !$0.value.toAck.isEmpty || !$0.value.inFlight.isEmpty }
            pause(failed ? FederationLimits.retryMillis : wait)
        }
        takeInbox()
        for key in work.keys.sorted() where !(work[key]?.toAck.isEmpty ?? true) {
            try? acknowledge(key)
        }
        client?.close()
    }

    private func takeInbox() {
        let taken = inbox.withLock { box -> Inbox in
            let t = box
            box = Inbox()
            return t
        }
        if let demand = taken.demand {
            let wanted = Dictionary(demand.map { (Key(group: $0.group, topic: $0.topic), $0) }, uniquingKeysWith: { a, _ in a })
            for (key, d) in wanted {
                if work[key] == nil { work[key] = Work(demand: d) } else { work[key]?.demand = d }
            }
            for key in work.keys where wanted[key] == nil { work[key]?.demand.capacity = 0 }
        }
        for (key, ids) in taken.answered {
            work[key]?.toAck.append(contentsOf: ids)
        }
        for (key, ids) in taken.released {
            for id in ids { work[key]?.inFlight.remove(id) }
        }
        if !taken.poked.isEmpty {
            for key in work.keys where taken.poked.contains(key.topic) { work[key]?.poked = true }
        }
    }

    /// One round for one (agent, topic); lowers `wait` to when it wants the next.
    private func serve(_ key: Key, wait: inout Int) throws(ClusterError) {
        if !(work[key]?.toAck.isEmpty ?? true) { try acknowledge(key) }
        guard let w = work[key], w.demand.capacity > 0 else { return }
        if !w.created { try create(key) }
        if !(work[key]?.recovered ?? true) { try recover(key) }
        if !(work[key]?.unresolved.isEmpty ?? true) { try retryUnresolved(key) }
        let now = Clock.monotonicNanos()
        let ackWait = Int64(max(w.demand.ackWaitMillis, FederationLimits.refreshMillis))
        if (work[key]?.poked ?? false) || now - w.lastReadNanos >= Int64(FederationLimits.idleMillis) * 1_000_000 {
            try readNew(key)
        }
        if now - w.lastAutoclaimNanos >= ackWait / 2 * 1_000_000 { try autoclaim(key) }
        if now - w.lastRefreshNanos >= ackWait / 3 * 1_000_000 { try refresh(key) }
        guard let after = work[key] else { return }
        let room = after.demand.capacity - after.inFlight.count - after.unresolved.count
        if after.poked && room > 0 { wait = 0 } else if !after.unresolved.isEmpty { wait = min(wait, FederationLimits.unresolvedRetryMillis) }
        wait = min(wait, Int(ackWait / 3))
    }

    // MARK: - Cluster calls

    private func call(_ key: Key, _ args: [[UInt8]]) throws(ClusterError) -> RESPValue {
        guard let client else { throw ClusterError.protocolError("no cluster client") }
        let (reply, _) = try client.call(key: shared.keys.stream(key.topic), args, within: FederationLimits.callSeconds)
        if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
            // The group was destroyed in the cluster (by hand): made again at the next round.
            if message.hasPrefix("NOGROUP") { work[key]?.created = false }
            throw ClusterError.protocolError("\(String(decoding: args[0], as: UTF8.self)): \(message)")
        }
        shared.status.succeeded()
        return reply
    }

    /// The agent's group in the cluster, made where it starts when missing.
    private func create(_ key: Key) throws(ClusterError) {
        guard let d = work[key]?.demand else { return }
        _ = try call(key, [Array("XGROUP".utf8), Array("CREATE".utf8), shared.keys.stream(key.topic), key.group,
                           d.startID, Array("MKSTREAM".utf8)])
        work[key]?.created = true
    }

    /// What the cluster holds as this kernel's from before (a restart): taken again.
    private func recover(_ key: Key) throws(ClusterError) {
        var after: [UInt8] = Array("0-0".utf8)
        while !thread.isStopping {
            let reply = try call(key, [Array("XREADGROUP".utf8), Array("GROUP".utf8), key.group, shared.node,
                                       Array("COUNT".utf8), .decimal(UInt64(FederationLimits.claimBatch)),
                                       Array("STREAMS".utf8), shared.keys.stream(key.topic), after])
            let entries = Self.historyEntries(reply)
            guard let last = entries.last else { break }
            after = last.0
            take(key, entries)
            if entries.count < FederationLimits.claimBatch { break }
        }
        work[key]?.recovered = true
    }

    /// New tasks, as many as this kernel's instances have room for.
    private func readNew(_ key: Key) throws(ClusterError) {
        guard let w = work[key] else { return }
        work[key]?.lastReadNanos = Clock.monotonicNanos()
        let room = min(w.demand.capacity - w.inFlight.count - w.unresolved.count, FederationLimits.claimBatch)
        // With no room, what may be waiting stays `poked` for when answers free some.
        guard room > 0 else { return }
        let reply = try call(key, [Array("XREADGROUP".utf8), Array("GROUP".utf8), key.group, shared.node,
                                   Array("COUNT".utf8), .decimal(UInt64(room)),
                                   Array("STREAMS".utf8), shared.keys.stream(key.topic), Array(">".utf8)])
        let entries = Importer.streamEntries(reply).map { ($0.0, Optional($0.1)) }
        work[key]?.poked = entries.count >= room
        take(key, entries)
    }

    /// Other kernels' claims idle longer than ack_wait (theirs stopped being refreshed).
    private func autoclaim(_ key: Key) throws(ClusterError) {
        guard let w = work[key] else { return }
        work[key]?.lastAutoclaimNanos = Clock.monotonicNanos()
        let room = min(w.demand.capacity - w.inFlight.count - w.unresolved.count, FederationLimits.claimBatch)
        guard room > 0 else { return }
        let reply = try call(key, [Array("XAUTOCLAIM".utf8), shared.keys.stream(key.topic), key.group, shared.node,
                                   .decimal(UInt64(max(w.demand.ackWaitMillis, 0))), w.autoclaimCursor,
                                   Array("COUNT".utf8), .decimal(UInt64(room))])
        guard case .array(let parts) = reply, parts.count >= 2, case .bulkString(let next) = parts[0] else {
            throw ClusterError.protocolError("XAUTOCLAIM: unexpected reply")
        }
        work[key]?.autoclaimCursor = next
        var entries: [([UInt8], [[UInt8]]?)] = []
        if case .array(let items) = parts[1] {
            for item in items {
                guard case .array(let pair) = item, pair.count == 2, case .bulkString(let id) = pair[0] else { continue }
                entries.append((id, pair[1].bulkStrings))
            }
        }
        // Redis 7 lists the claimed entries deleted from the stream: never tasks.
        if parts.count >= 3, let deleted = parts[2].bulkStrings { work[key]?.toAck.append(contentsOf: deleted) }
        if !entries.isEmpty {
            shared.log.info("federation: tasks taken over from a kernel that stopped refreshing them",
                            ["topic": .string(String(decoding: key.topic, as: UTF8.self)),
                             "agent": .string(String(decoding: key.group, as: UTF8.self)), "count": .int(entries.count)])
        }
        take(key, entries)
    }

    /// Resets the idle time of this kernel's claims, so no other kernel takes them.
    private func refresh(_ key: Key) throws(ClusterError) {
        guard let w = work[key] else { return }
        work[key]?.lastRefreshNanos = Clock.monotonicNanos()
        let ids = Array(w.inFlight)
        var k = 0
        while k < ids.count {
            let chunk = ids[k..<min(k + FederationLimits.claimBatch, ids.count)]
            _ = try call(key, [Array("XCLAIM".utf8), shared.keys.stream(key.topic), key.group, shared.node, Array("0".utf8)]
                         + chunk + [Array("JUSTID".utf8)])
            k += chunk.count
        }
    }

    /// XACK what was answered here.
    private func acknowledge(_ key: Key) throws(ClusterError) {
        while let ids = work[key]?.toAck, !ids.isEmpty {
            let chunk = Array(ids.prefix(FederationLimits.claimBatch))
            _ = try call(key, [Array("XACK".utf8), shared.keys.stream(key.topic), key.group] + chunk)
            work[key]?.toAck.removeFirst(chunk.count)
            for id in chunk { work[key]?.inFlight.remove(id) }
            shared.status.update { $0.tasksAcknowledged &+= UInt64(chunk.count) }
        }
    }

    // MARK: - Handing claims to the loop

    /// Turns claimed entries into tasks (or into acknowledgements, for what
    /// is no task) and hands those whose entries are here to the loop.
    private func take(_ key: Key, _ entries: [([UInt8], [[UInt8]]?)]) {
        var claims: [TaskClaim] = []
        for (id, flat) in entries {
            if work[key]?.inFlight.contains(id) ?? false { continue }
            guard let flat, let entry = FederatedEntry.decode(flat) else {
                // Deleted from the stream, or not in the federation's form: never a task.
                work[key]?.toAck.append(id)
                continue
            }
            if let claim = resolve(key, id, entry) { claims.append(claim) } else {
                work[key]?.unresolved.append((id, entry, Clock.monotonicNanos()))
            }
        }
        hand(key, claims)
    }

    private func retryUnresolved(_ key: Key) throws(ClusterError) {
        guard let waiting = work[key]?.unresolved else { return }
        work[key]?.unresolved = []
        var claims: [TaskClaim] = []
        let now = Clock.monotonicNanos(), patience = Int64(work[key]?.demand.ackWaitMillis ?? 0) * 1_000_000
        var givenUp = 0
        for (id, entry, since) in waiting {
            if let claim = resolve(key, id, entry) {
                claims.append(claim)
            } else if now - since < patience {
                work[key]?.unresolved.append((id, entry, since))
            } else {
                givenUp += 1
            }
        }
        if givenUp > 0 {
            shared.log.warn("federation: claimed tasks whose entries were not imported within ack_wait, left to other kernels",
                            ["topic": .string(String(decoding: key.topic, as: UTF8.self)), "count": .int(givenUp)])
        }
        hand(key, claims)
    }

    /// The local entry of a claimed one: this kernel's own by its ID, another's
    /// by the import index; nil while it is not imported yet.
    private func resolve(_ key: Key, _ clusterID: [UInt8], _ entry: FederatedEntry) -> TaskClaim? {
        if entry.origin == shared.node {
            return TaskClaim(clusterID: clusterID, local: StreamID.parseCanonical(entry.originID), origin: entry.origin,
                             originSequence: entry.sequence)
        }
        switch index.lookup(topic: key.topic, origin: entry.origin, sequence: entry.sequence) {
        case .local(let id): return TaskClaim(clusterID: clusterID, local: id, origin: entry.origin, originSequence: entry.sequence)
        case .held: return TaskClaim(clusterID: clusterID, local: nil, origin: entry.origin, originSequence: entry.sequence)
        case .notYet: return nil
        }
    }

    private func hand(_ key: Key, _ claims: [TaskClaim]) {
        guard !claims.isEmpty else { return }
        for c in claims { work[key]?.inFlight.insert(c.clusterID) }
        shared.status.update { $0.tasksClaimed &+= UInt64(claims.count) }
        guard let outcome = handOver(ClaimBatch(group: key.group, topic: key.topic, claims: claims)) else { return }
        for id in outcome.released { work[key]?.inFlight.remove(id) }
        if !outcome.released.isEmpty {
            shared.log.warn("federation: claimed tasks not found in this ledger, left to other kernels",
                            ["topic": .string(String(decoding: key.topic, as: UTF8.self)), "count": .int(outcome.released.count)])
        }
    }

    /// Hands `batch` to the loop and waits for its answer (nil when stopping).
    private func handOver(_ batch: ClaimBatch) -> ClaimOutcome? {
        thread.handOver(batch, deliver)
    }

    private func pause(_ millis: Int) {
        guard millis > 0 else { return }
        _ = thread.wakeup.wait(timeout: .now() + .milliseconds(millis))
    }

    /// The (ID, fields) of an XREAD or XREADGROUP reply, in order; nil fields for an entry deleted since (a history read).
    static func historyEntries(_ reply: RESPValue) -> [([UInt8], [[UInt8]]?)] {
        let streams: [RESPValue]
        switch reply {
        case .array(let a): streams = a
        case .map(let pairs): streams = pairs.map { .array([$0.0, $0.1]) }
        default: return []
        }
        var out: [([UInt8], [[UInt8]]?)] = []
        for s in streams {
            guard case .array(let pair) = s, pair.count == 2, case .array(let entries) = pair[1] else { continue }
            for e in entries {
                guard case .array(let idAndFields) = e, idAndFields.count == 2, case .bulkString(let id) = idAndFields[0] else { continue }
                out.append((id, idAndFields[1].bulkStrings))
            }
        }
        return out
    }
}
