import Dispatch
import VimanaCore
import VimanaConfig
import VimanaLedger

/// Agents on the bus (Protocol/AGENTS.md): the declared agents, every
/// consumer group (agents' and XGROUP's) and their journal, and the
/// scheduler that wires agents to their topics' groups and delivers tasks
/// to instances with acknowledgements, redelivery and dead-lettering.
///
/// The kernel owns one and speaks to it through this API: it parses the
/// AGENT*, ACK/NACK/PROGRESS and X*GROUP commands and writes their replies,
/// and gives each loop pass to `pump` and `endPass`; the agents reach the
/// kernel only through `AgentHost`. Every method runs on the loop thread.
public final class Agents {
    /// Declared agents, in phoenix.yaml's order (empty without the ledger).
    public let all: [AgentRuntime]
    /// No agent is declared: the hot path skips `notice` and `pump`.
    public let isEmpty: Bool
    /// Agents by id, as positions in `all`.
    private let index: [String: Int]
    /// Which agent each connection is an instance of (AGENT JOIN), by fd:
    /// its position in `all`, or -1. The one record of it: the kernel asks
    /// here (`isInstance`, `agentRefusing`) and says when a connection
    /// closes (`connectionClosed`). An array, not a dictionary: ACK, NACK
    /// and PROGRESS look it up once per task.
    private var agentByConnection: [Int] = []
    /// Every consumer group; the only type that changes them (and journals it).
    public let groups = GroupStore()
    /// The groups' journal (nil without the ledger).
    public let journal: GroupJournal?
    let ledger: Ledger?
    unowned(unsafe) let host: any AgentHost
    let log = Log.shared
    /// Distinguishes this run's agent consumers from earlier runs'.
    let bootID = String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 36)
    /// The topic `notice` saw last and the agents with a group on it;
    /// cleared when an agent's groups change (XGROUP DESTROY).
    var noticeCache: (topic: [UInt8], agents: [AgentRuntime])?
    var builtinWorkers: [String: any BuiltinAgent] = [:]
    /// Which topics are federated (set before `setUp` by a kernel that
    /// federates): agents' groups on them take tasks claimed in the cluster.
    public var isFederatedTopic: (([UInt8]) -> Bool)?
    /// Told what federated groups answered and what the agents can take.
    public weak var federationSink: (any FederatedTaskSink)?
    /// The agents' groups on federated topics (Agents+Federation.swift).
    var federatedGroups: [ConsumerGroup] = []
    let builtinQueue = DispatchQueue(label: "vimana.builtin-agents", attributes: .concurrent)

    /// Topics under this prefix are the server's own (the journal): no agent is fed from them.
    static let internalTopicPrefix: [UInt8] = Ledger.internalTopicPrefix

    /// `configs` are phoenix.yaml's agents; without a ledger there are none
    /// (the kernel refuses to start with agents and no ledger).
    public init(configs: [AgentConfig], ledger: Ledger?, host: any AgentHost) {
        let runtimes = ledger == nil ? [] : configs.map { AgentRuntime(config: $0) }
        var index: [String: Int] = [:]
        for (k, a) in runtimes.enumerated() { index[a.id] = k }
        all = runtimes
        isEmpty = runtimes.isEmpty
        self.index = index
        self.ledger = ledger
        journal = ledger.map { GroupJournal(ledger: $0, host: host) }
        self.host = host
    }

    // MARK: - Boot

    /// Rebuilds consumer groups from the ledger's journal (those of Redis
    /// clients as much as agents'), then wires every enabled agent to the
    /// topics it subscribes to and starts the built-ins.
    public func setUp() {
        guard let ledger, let journal else { return }
        journal.restore(groups)
        for runtime in all {
            let config = runtime.config
            guard config.enabled else { continue }
            for topic in ledger.topicNames where !topic.starts(with: Self.internalTopicPrefix) && runtime.subscribes(to: topic) {
                let start = config.start == .all ? StreamID.zero : (ledger.stream(topic)?.lastID ?? .zero)
                attachGroup(runtime, topic: topic, start: start)
            }
            if config.kind == .builtin { startBuiltin(runtime) }
        }
        for a in all {
            log.info("agent wired", ["agent": .string(a.id), "kind": .string(a.config.kind.rawValue),
                                     "enabled": .bool(a.config.enabled), "topics": .int(a.groups.count),
                                     "pending": .int(a.pendingCount)])
        }
    }

    /// Feeds `a` from its group on `topic`, created (journaled) when
    /// missing. What is pending there from before (a previous boot's
    /// instances, Redis readers whose connections ended with it) is given
    /// back, due at once, in ID order; a task given back with a delay keeps it.
    func attachGroup(_ a: AgentRuntime, topic: [UInt8], start: StreamID) {
        guard a.group(for: topic) == nil else { return }
        // Starting at the stream's end has read all it holds, as XGROUP CREATE $
        // does in Redis: its lag counts from there.
        let read = start == .zero ? 0 : Int64(clamping: ledger?.stream(topic)?.entriesAdded ?? 0)
        let made = groups.group(topic, a.groupName) == nil
        let g = groups.group(topic, a.groupName, orCreateAt: start, entriesRead: read)
        a.attach(g)
        federateIfShared(g, topic: topic, made: made)
        let wall = Clock.wallMillis()
        for p in g.pending {
            if p.isHeld { groups.giveBack(g, p.id, atMillis: wall, journaled: false) } else { a.taskGivenBack(g, p) }
        }
    }

    // MARK: - The loop pass

    /// Before the ledger commits, each pass: a snapshot when one is due, and
    /// the pass's batched journal records (so `journal.lastSequence` is final).
    public func endPass() {
        if !federatedGroups.isEmpty { endFederatedPass() }
        journal?.endPass(groups)
    }

    /// At a clean stop, before the ledger closes.
    public func willCloseLedger() {
        journal?.snapshotIfChanged(groups)
    }

    /// After the ledger closed (its last fsync done): the latest snapshot
    /// is durable, and the pointer file may name it.
    public func didCloseLedger() {
        guard let ledger else { return }
        journal?.noteDurable(upTo: ledger.durableSequence)
    }

    // MARK: - Looking agents up

    /// The agent declared with `id`.
    public func agent(id: String) -> AgentRuntime? {
        index[id].map { all[$0] }
    }

    /// The agent whose groups are named `group`, if any (a Redis client may
    /// use any group name).
    public func agent(named group: [UInt8]) -> AgentRuntime? {
        isEmpty ? nil : all.first { $0.groupName == group }
    }

    // MARK: - Instances (AGENT JOIN, AGENT LEAVE)

    /// Connection `fd` (client `clientID`) becomes an instance of the agent
    /// declared as `id`; refused when there is none, it is disabled or
    /// built in, or the connection is an instance already.
    public func join(agentID id: String, fd: Int32, clientID: Int) throws(JoinRefusal) {
        guard let k = index[id] else { throw .unknownAgent }
        let a = all[k]
        guard a.config.enabled else { throw .disabled }
        guard a.config.kind == .external else { throw .builtIn }
        guard fd >= 0, agentIndex(fd: fd) == nil else { throw .alreadyInstance }
        let slot = Int(fd)
        if slot >= agentByConnection.count {
            agentByConnection.append(contentsOf: repeatElement(-1, count: slot + 1 - agentByConnection.count))
        }
        agentByConnection[slot] = k
        // Client ids restart at 1 with the process: the boot id keeps consumer
        // names of this run apart from those of earlier runs (whose tasks are
        // pending with no live owner, and so are redelivered).
        a.join(fd: fd, consumer: Array("\(a.id)-\(bootID)-\(clientID)".utf8))
        a.status = .running
        log.info("agent instance joined", ["agent": .string(a.id), "client": .int(clientID),
                                           "instances": .int(a.instances.count)])
    }

    /// Ends the instance on connection `fd` (AGENT LEAVE): the tasks it
    /// holds are given back, due at once, their delivery counts kept.
    /// False when the connection is no instance.
    @discardableResult
    public func leave(fd: Int32) -> Bool {
        guard let k = agentIndex(fd: fd) else { return false }
        agentByConnection[Int(fd)] = -1
        let a = all[k]
        guard let i = a.instance(fd: fd) else { return true }
        let wall = Clock.wallMillis()
        // Through the store, as every change of a group; not journaled: after
        // a restart every pending task is due at once anyway.
        for t in Array(a.instances[i].held.all) { groups.giveBack(t.group, t.id, atMillis: wall, journaled: false) }
        a.leave(i)
        if a.instances.isEmpty && a.status == .running { a.status = .idle }
        log.info("agent instance left", ["agent": .string(a.id), "instances": .int(a.instances.count)])
        return true
    }

    /// The kernel closed connection `fd`: if it was an instance, it leaves.
    public func connectionClosed(fd: Int32) {
        leave(fd: fd)
    }

    /// Whether connection `fd` is an instance of an agent.
    public func isInstance(fd: Int32) -> Bool { agentIndex(fd: fd) != nil }

    /// The agent connection `fd` is an instance of, if any.
    public func agent(fd: Int32) -> AgentRuntime? { agentIndex(fd: fd).map { all[$0] } }

    /// The agent whose instance connection `fd` is, when its `publishes`
    /// patterns do not allow `topic`; nil when the publish may go ahead.
    public func agentRefusing(fd: Int32, publishTo topic: UnsafeBufferPointer<UInt8>) -> AgentRuntime? {
        guard let k = agentIndex(fd: fd) else { return nil }
        return all[k].mayPublish(to: topic) ? nil : all[k]
    }

    /// The agent connection `fd` is an instance of, as its position in `all`.
    @inline(__always)
    private func agentIndex(fd: Int32) -> Int? {
        let slot = Int(fd)
        guard slot >= 0 && slot < agentByConnection.count else { return nil }
        let k = agentByConnection[slot]
        return k >= 0 ? k : nil
    }

    // MARK: - Task replies (ACK, NACK, PROGRESS)

    /// The group and pending entry a task reply names, if connection `fd`
    /// is an instance, the task is pending and was last delivered to it;
    /// with `held`, only while it holds it (not given back: its ack_wait has
    /// not run out).
    private func ownTask(fd: Int32, topic: [UInt8], id: StreamID,
                         held: Bool) -> (AgentRuntime, ConsumerGroup, PendingEntry)? {
        guard let k = agentIndex(fd: fd) else { return nil }
        let a = all[k]
        guard let i = a.instance(fd: fd), let g = a.group(for: topic),
              let entry = g.entry(id), g.consumerName(entry.consumer) == a.instances[i].consumer,
              entry.isHeld || !held else { return nil }
        return (a, g, entry)
    }

    /// ACK: true when the task was the instance's. A late ACK (after
    /// ack_wait, before the task went to another instance) still counts:
    /// the work is done, as an XACK would say.
    public func ack(fd: Int32, topic: [UInt8], id: StreamID) -> Bool {
        guard let (a, g, entry) = ownTask(fd: fd, topic: topic, id: id, held: false) else { return false }
        groups.ack(g, entry.id)
        a.countAcknowledged()
        return true
    }

    /// NACK: gives a held task back, due again after `delayMillis`.
    public func nack(fd: Int32, topic: [UInt8], id: StreamID, delayMillis: Int) -> Bool {
        guard let (_, g, entry) = ownTask(fd: fd, topic: topic, id: id, held: true) else { return false }
        groups.giveBack(g, entry.id, atMillis: Clock.wallMillis().addingSaturating(Int64(delayMillis)))
        return true
    }

    /// PROGRESS: restarts a held task's ack_wait.
    public func progress(fd: Int32, topic: [UInt8], id: StreamID) -> Bool {
        guard let (_, g, entry) = ownTask(fd: fd, topic: topic, id: id, held: true) else { return false }
        groups.touch(g, entry.id, nowMillis: Clock.wallMillis())
        return true
    }

    // MARK: - Group commands that concern agents

    /// XGROUP DESTROY: the agents fed from that group stop being.
    public func destroyGroup(topic: [UInt8], name: [UInt8]) -> Bool {
        if let g = groups.group(topic, name) { unfederate(g) }
        let destroyed = groups.destroy(topic: topic, name: name)
        for a in all where a.groupName == name {
            a.detach(topic: topic)
            noticeCache = nil
        }
        return destroyed
    }

    /// XGROUP SETID: an agent's reads resume from the group's new position,
    /// not its own bookmark.
    public func setGroupID(_ g: ConsumerGroup, _ id: StreamID, entriesRead: Int64?) {
        groups.setID(g, id, entriesRead: entriesRead)
        for a in all where a.groupName == g.name {
            a.lastSequence[g.topic] = nil
            a.dirty = true
        }
    }

    /// An XREADGROUP of an agent's group by `consumer`, a Redis client
    /// working as one of its instances: counted like one.
    public func noteGroupRead(group: [UInt8], consumer: [UInt8], delivered: Int, noAck: Bool, nowMillis: Int64) {
        guard let a = agent(named: group) else { return }
        a.noteRedisReader(consumer, nowMillis: nowMillis)
        a.countDelivery(delivered)
        if noAck { a.countAcknowledged(delivered) }
    }

    /// XACK: acknowledges those of `ids` that are pending; counted for the
    /// agent of that name (its instances' slots follow by themselves).
    public func xack(_ g: ConsumerGroup, _ ids: [StreamID]) -> Int {
        let acked = groups.ack(g, ids).count
        agent(named: g.name)?.countAcknowledged(acked)
        return acked
    }
}

/// Why AGENT JOIN was refused (the kernel words the error: ErrorReply).
public enum JoinRefusal: Error, Equatable {
    /// No agent is declared with that id.
    case unknownAgent
    case disabled
    /// A built-in: its instances are its own workers.
    case builtIn
    /// The connection is an instance already (AGENT LEAVE first).
    case alreadyInstance
}

/// Lets a worker thread hand a closure back to the loop; the agents are
/// only touched on the loop thread.
struct AgentsRef: @unchecked Sendable {
    unowned let agents: Agents
    init(_ agents: Agents) { self.agents = agents }
}
