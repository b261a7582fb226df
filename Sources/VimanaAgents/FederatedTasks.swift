import VimanaLedger

/// Where an agent's tasks on federated topics come from and go back to
/// (Protocol/FEDERATION.md §6): the kernel's federation, told through this.
/// Every call is made on the loop thread.
public protocol FederatedTaskSink: AnyObject {
    /// What the agents here can take now, for every (agent, federated topic).
    func taskDemand(_ demand: [FederatedTaskDemand])
    /// Tasks answered here (to acknowledge in the cluster) and tasks given up
    /// here (left for another kernel), by their cluster IDs.
    func tasksAnswered(group: [UInt8], topic: [UInt8], clusterIDs: [[UInt8]], released: [[UInt8]])
}

/// One agent's demand on one federated topic.
public struct FederatedTaskDemand: Equatable, Sendable {
    public var group: [UInt8]
    public var topic: [UInt8]
    public var ackWaitMillis: Int
    /// Instances × prefetch; 0 when no instance is here.
    public var capacity: Int
    /// Where the cluster's group starts when it is made: `0` (start: all) or
    /// the time the agent was wired to the topic here (start: new).
    public var startID: [UInt8]
}

/// A task claimed in the cluster for this kernel, as the loop receives it.
public struct FederatedClaim: Sendable {
    public var clusterID: [UInt8]
    /// The local entry; nil when it must be found by origin.
    public var local: StreamID?
    public var origin: [UInt8]
    public var originSequence: UInt64

    public init(clusterID: [UInt8], local: StreamID?, origin: [UInt8], originSequence: UInt64) {
        self.clusterID = clusterID
        self.local = local
        self.origin = origin
        self.originSequence = originSequence
    }
}

/// The tasks of an agent's group on a federated topic: the group takes its
/// new tasks from here, in the order they were claimed in the cluster,
/// instead of from the topic's new entries; every task it answers (ACK,
/// XACK, dead letter: `GroupStore.ack`) is acknowledged in the cluster.
final class FederatedQueue {
    /// Claimed tasks not yet delivered: local IDs, oldest from `head`.
    private var ready: [StreamID] = []
    private var head = 0
    /// The cluster ID of every task claimed here and not yet answered
    /// (queued or pending): the one record of which local entry is which claim.
    private(set) var clusterIDs: [StreamID: [UInt8]] = [:]
    /// Answered or given up since the sink was last told.
    private(set) var answered: [[UInt8]] = []
    private(set) var released: [[UInt8]] = []
    let startID: [UInt8]
    /// The capacity the sink was last told.
    var toldCapacity = -1
    /// Tasks pending in the group when it became federated (after a
    /// restart, from the journal) whose claims have not come back yet: they
    /// are delivered at once, and their claims come back from the cluster
    /// (the claimer's first `XREADGROUP … 0`) perhaps after an instance answered.
    private var restored: Set<StreamID>
    /// Those of `restored` answered before their claim came back: the claim
    /// is acknowledged when it comes, not queued (the task is done).
    private var answeredUnclaimed: Set<StreamID> = []

    init(startID: [UInt8], restored: [StreamID] = []) {
        self.startID = startID
        self.restored = Set(restored)
    }

    var hasNews: Bool { !answered.isEmpty || !released.isEmpty }
    var queued: Int { ready.count - head }

    /// A claim for local entry `id`; false when it is here already.
    func claimed(_ id: StreamID, clusterID: [UInt8]) -> Bool {
        guard clusterIDs.updateValue(clusterID, forKey: id) == nil else { return false }
        ready.append(id)
        return true
    }

    /// A claim for a task already pending here (recovered after a restart).
    func adopt(_ id: StreamID, clusterID: [UInt8]) {
        clusterIDs[id] = clusterID
        restored.remove(id)
    }

    /// A claim for a restored task answered here already: acknowledged (true), not queued.
    func answeredBeforeClaim(_ id: StreamID, clusterID: [UInt8]) -> Bool {
        guard answeredUnclaimed.remove(id) != nil else { return false }
        answered.append(clusterID)
        return true
    }

    /// The next claimed task to deliver.
    func next() -> StreamID? {
        guard head < ready.count else { return nil }
        let id = ready[head]
        head += 1
        if head > 1024 && head * 2 > ready.count {
            ready.removeFirst(head)
            head = 0
        }
        return id
    }

    /// Tasks that left the group here: acknowledged in the cluster.
    func answered(_ ids: [StreamID]) {
        for id in ids {
            if let c = clusterIDs.removeValue(forKey: id) {
                answered.append(c)
            } else if !restored.isEmpty, restored.remove(id) != nil {
                answeredUnclaimed.insert(id)
            }
        }
    }

    /// A task this kernel cannot deliver: left to the others.
    func release(_ id: StreamID) {
        if let c = clusterIDs.removeValue(forKey: id) { released.append(c) }
    }

    /// Every queued task, given up (no instance here any more).
    func releaseQueued() {
        while let id = next() { release(id) }
    }

    /// Every claim, queued or pending, given up (the group is destroyed).
    func releaseAll() {
        released.append(contentsOf: clusterIDs.values)
        clusterIDs.removeAll()
        ready.removeAll()
        head = 0
    }

    func takeNews() -> (answered: [[UInt8]], released: [[UInt8]]) {
        defer {
            answered.removeAll(keepingCapacity: true)
            released.removeAll(keepingCapacity: true)
        }
        return (answered, released)
    }
}
