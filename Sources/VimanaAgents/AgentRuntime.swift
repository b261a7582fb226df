import VimanaCore
import VimanaConfig
import VimanaLedger

/// What an agent is doing, as AGENTS and /health report it.
public enum AgentStatus: String, Sendable {
    /// Enabled, with at least one live instance.
    case running
    /// Enabled, no instance connected (yet).
    case idle
    /// Its process is in a crash loop, or a built-in failed to start.
    case failed
    case disabled
}

/// One live instance of an agent: a connection that sent AGENT JOIN, or a
/// built-in agent's worker.
public struct AgentInstance {
    /// The connection's fd; negative for a built-in worker.
    public var fd: Int32
    /// Unique among the agent's instances of this run, never reused.
    let serial: Int
    /// Its consumer name in the agent's groups.
    public var consumer: [UInt8]
    /// The tasks it holds: delivered to it, not answered, within ack_wait.
    /// Changed only by its `AgentRuntime`, as the agent's groups report
    /// (`taskHeld`, `taskLeft`).
    public internal(set) var held = HeldTasks()
    /// Its prefetch slots in use.
    public var inFlight: Int { held.count }

    init(fd: Int32, consumer: [UInt8], serial: Int) {
        self.fd = fd
        self.consumer = consumer
        self.serial = serial
    }
}

/// The state of one declared agent: its configuration, its groups
/// (one per matching topic), its live instances and its counters.
public final class AgentRuntime {
    public let config: AgentConfig
    public let patterns: [[UInt8]]
    /// `publishes`, as bytes; nil: any topic.
    public let publishPatterns: [[UInt8]]?
    public internal(set) var status: AgentStatus
    /// Live instances; `join` and `leave` change the list.
    public private(set) var instances: [AgentInstance] = []
    /// Its groups, one per matching topic; `attach` and `detach` change the list.
    public private(set) var groups: [ConsumerGroup] = []
    /// Sequence of each group's last delivered entry, by topic, so that reads
    /// for the next task start there (0: unknown, look up by ID).
    var lastSequence: [[UInt8]: UInt64] = [:]
    /// Next instance to try, for round-robin balancing.
    var nextInstance = 0
    /// Set when something changed that may allow deliveries.
    public internal(set) var dirty = false
    /// Its counters, each changed by one function below (the restarts of
    /// its process are the supervisor's: Supervisor.status).
    public private(set) var delivered = 0
    public private(set) var acknowledged = 0
    /// Tasks whose ack_wait ran out while a consumer held them (each is
    /// given back, or dead-lettered after max_deliver): what watchman reads
    /// to find agents that keep tasks without answering.
    public private(set) var expired = 0
    public private(set) var deadLettered = 0
    /// Consumers that read its groups with XREADGROUP (Redis clients rather
    /// than AGENT JOIN), by name, with the wall-clock ms of their last read.
    public private(set) var redisReaders: [[UInt8]: Int64] = [:]
    /// Built-ins: why each task that failed last failed, for its dead letter.
    var lastFailure: [StreamID: String] = [:]
    /// Tasks Redis readers hold, due at the end of their ack_wait (an
    /// instance's are in its `held`).
    private var readerAckWaits = TimerHeap()
    /// Tasks given back, due when they may be delivered again.
    private var givenBack = TimerHeap()
    /// Instances joined so far (their serials).
    private var joined = 0

    public init(config: AgentConfig) {
        self.config = config
        patterns = config.subscribes.map { Array($0.utf8) }
        groupName = Array(config.id.utf8)
        user = config.runsAs
        publishPatterns = config.publishes.map { $0.map { Array($0.utf8) } }
        status = config.enabled ? .idle : .disabled
    }

    public var id: String { config.id }
    /// The id as bytes: the name of each of its consumer groups.
    public let groupName: [UInt8]
    /// The user it runs as (`AgentConfig.runsAs`), made once.
    public let user: String

    /// True when the agent subscribes to `topic`.
    public func subscribes(to topic: [UInt8]) -> Bool {
        topic.withUnsafeBufferPointer { t in
            patterns.contains { p in p.withUnsafeBufferPointer { Glob.matches($0, t) } }
        }
    }

    /// True when the agent may publish to `topic` (its `publishes`
    /// patterns, or any topic when it has none).
    public func mayPublish(to topic: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let publishPatterns else { return true }
        return publishPatterns.contains { p in p.withUnsafeBufferPointer { Glob.matches($0, topic) } }
    }

    /// The error text for a publish `mayPublish` refused.
    public func publishRefusal(_ topic: UnsafeBufferPointer<UInt8>) -> String {
        "may not publish to '\(String(decoding: topic, as: UTF8.self))' (publishes: \((config.publishes ?? []).joined(separator: ", ")))"
    }

    public func group(for topic: [UInt8]) -> ConsumerGroup? { groups.first { $0.topic == topic } }

    /// Tasks delivered and not acknowledged, in all its groups.
    public var pendingCount: Int { groups.reduce(0) { $0 + $1.pending.count } }

    /// Entries of its topics not yet delivered, in all its groups
    /// (`ConsumerGroup.lag`); `stream` gives each topic's state.
    public func lag(_ stream: ([UInt8]) -> StreamState?) -> UInt64 {
        groups.reduce(0) { sum, g in sum.addingSaturating(stream(g.topic).map(g.lag) ?? 0) }
    }

    /// Tasks went to its instances (first deliveries or again).
    func countDelivery(_ n: Int = 1) { delivered = delivered.addingSaturating(n) }
    /// Its tasks were acknowledged (ACK, XACK, XREADGROUP NOACK, a built-in's success).
    func countAcknowledged(_ n: Int = 1) { acknowledged = acknowledged.addingSaturating(n) }
    /// One of its tasks was held past its ack_wait.
    func countExpired() { expired = expired.addingSaturating(1) }
    /// One of its tasks was dead-lettered.
    func countDeadLettered() { deadLettered += 1 }

    /// A Redis client read one of its groups as `consumer` (XREADGROUP).
    func noteRedisReader(_ consumer: [UInt8], nowMillis: Int64) { redisReaders[consumer] = nowMillis }

    /// The Redis readers that read within `ack_wait` of `nowMillis`; the
    /// others are forgotten.
    public func liveRedisReaders(nowMillis: Int64) -> Set<[UInt8]> {
        redisReaders = redisReaders.filter { nowMillis - $0.value < Int64(config.ackWaitMillis) }
        return Set(redisReaders.keys)
    }

    /// Index of the instance with `fd`.
    public func instance(fd: Int32) -> Int? { instances.firstIndex { $0.fd == fd } }

    /// Live consumer names (instances), for "is the owner still here".
    public func isLive(_ consumer: [UInt8]) -> Bool { instances.contains { $0.consumer == consumer } }

    /// The next instance with a free prefetch slot, round-robin; nil when all
    /// are full. The turn moves on only when a task is given (`delivered(to:)`),
    /// so looking for room when there is no task does not skip an instance.
    /// A task coming back is given to another instance than `avoiding` (its
    /// last consumer) when one has room, else to that one.
    func instanceWithRoom(avoiding: [UInt8]? = nil) -> Int? {
        guard !instances.isEmpty else { return nil }
        var fallback: Int?
        for k in 0..<instances.count {
            let i = (nextInstance + k) % instances.count
            guard instances[i].inFlight < config.prefetch else { continue }
            guard let avoiding, instances[i].consumer == avoiding else { return i }
            fallback = i
        }
        return fallback
    }

    /// Passes the turn to the instance after `i`.
    func delivered(to i: Int) {
        nextInstance = (i + 1) % max(instances.count, 1)
    }

    // MARK: - Instances and groups

    /// A new live instance (AGENT JOIN, a built-in's worker).
    func join(fd: Int32, consumer: [UInt8]) {
        joined += 1
        instances.append(AgentInstance(fd: fd, consumer: consumer, serial: joined))
        dirty = true
    }

    /// Ends instance `i`, once the tasks it held were given back (through
    /// the group store: Agents.leave), so that they go to the instances left.
    func leave(_ i: Int) {
        instances.remove(at: i)
        if nextInstance >= instances.count { nextInstance = 0 }
        dirty = true
    }

    /// Feeds the agent from `g`: from now on the group reports its tasks
    /// here. What is pending there from before is the caller's to give back
    /// (through the group store: Agents.attachGroup).
    func attach(_ g: ConsumerGroup) {
        g.agent = self
        groups.append(g)
        dirty = true
    }

    /// Stops feeding the agent from the group on `topic` (XGROUP DESTROY):
    /// the tasks its instances held there leave them.
    func detach(topic: [UInt8]) {
        guard let k = groups.firstIndex(where: { $0.topic == topic }) else { return }
        let g = groups.remove(at: k)
        for i in instances.indices {
            for t in Array(instances[i].held.all) where t.group === g { releaseSlot(i, g, t.id) }
        }
        g.agent = nil
        lastSequence[topic] = nil
        dirty = true
    }

    // MARK: - Prefetch slots and timers

    // A task takes a slot of the instance it is delivered to (it joins the
    // instance's `held`) and frees it when it leaves that instance: answered
    // (ACK, NACK, XACK), claimed by another consumer (XCLAIM), its ack_wait
    // over, its instance gone, its consumer deleted, its group destroyed.
    // The agent's groups report each of these (ConsumerGroup calls
    // `taskHeld`, `taskLeft` and `taskGivenBack`), so no command handler
    // counts slots; `assignSlot` and `releaseSlot` are the only two places
    // an instance's `held` gains or loses a task.

    /// Instance `i` holds `task` in one of its prefetch slots.
    private func assignSlot(_ i: Int, _ task: HeldTask) {
        instances[i].held.append(task)
    }

    /// Frees the slot of instance `i` that task `id` of `g` holds; false
    /// when it held none (it had left already). A freed slot may take the
    /// next task: the agent is pumped.
    @discardableResult
    private func releaseSlot(_ i: Int, _ g: ConsumerGroup, _ id: StreamID) -> Bool {
        guard instances[i].held.remove(g, id) else { return false }
        dirty = true
        return true
    }

    /// `entry` is now held by its consumer (delivered to it, or, `again`,
    /// touched by PROGRESS): its ack_wait starts, and an instance holds it
    /// in one of its slots (PROGRESS keeps the slot, with a new deadline).
    func taskHeld(_ g: ConsumerGroup, _ entry: PendingEntry, again: Bool = false) {
        let due = Self.monotonicMillis() + Int64(config.ackWaitMillis)
        if let i = instance(g, entry.consumer) {
            if again { instances[i].held.restart(g, entry.id, due: due) }
            else { assignSlot(i, HeldTask(group: g, id: entry.id, due: due)) }
        } else {
            readerAckWaits.push(due: due, group: g, id: entry.id, stamp: entry.deliveredAtMillis) { heldAsTimed($0) != nil }
        }
    }

    /// `entry` left its consumer: its slot is freed (once: a task whose
    /// ack_wait ran out left at that moment).
    func taskLeft(_ g: ConsumerGroup, _ entry: PendingEntry) {
        guard let i = instance(g, entry.consumer) else { return }
        releaseSlot(i, g, entry.id)
    }

    /// `entry` was given back: it is due at its `eligibleAtMillis` (wall
    /// clock, as journaled), timed on the monotonic clock from now so that
    /// a jump of the wall clock does not move it.
    func taskGivenBack(_ g: ConsumerGroup, _ entry: PendingEntry) {
        let wait = max(0, entry.eligibleAtMillis - Clock.wallMillis())
        let now = Self.monotonicMillis()
        let due = wait > Int64.max - now ? Int64.max : now + wait
        givenBack.push(due: due, group: g, id: entry.id, stamp: entry.eligibleAtMillis) { givenBackAsTimed($0) != nil }
    }

    /// The next held task whose ack_wait ran out by `now` (monotonic ms).
    /// It has left its instance (its slot is free); the scheduler gives it
    /// back or, after `max_deliver` deliveries, dead-letters it.
    func nextExpired(now: Int64) -> (ConsumerGroup, PendingEntry)? {
        for i in instances.indices {
            while let t = instances[i].held.first, t.due <= now {
                releaseSlot(i, t.group, t.id)
                if let p = t.group.entry(t.id), p.isHeld, t.group.consumerName(p.consumer) == instances[i].consumer {
                    return (t.group, p)
                }
                // Not held by this instance: cannot happen (the group reports every change).
            }
        }
        while let t = readerAckWaits.popDue(now: now) {
            if let p = heldAsTimed(t) { return (t.group, p) }
        }
        return nil
    }

    /// The next task given back whose time came by `now` (monotonic ms).
    func nextGivenBack(now: Int64) -> (ConsumerGroup, PendingEntry)? {
        while let t = givenBack.popDue(now: now) {
            if let p = givenBackAsTimed(t) { return (t.group, p) }
        }
        return nil
    }

    /// Whether something may be due by `now`, for the tick: a look at the
    /// first task of each instance and at the two heaps' earliest timers
    /// (a stale one only costs a look).
    public func hasDue(now: Int64) -> Bool {
        instances.contains { ($0.held.first?.due ?? .max) <= now }
            || (readerAckWaits.earliest ?? .max) <= now || (givenBack.earliest ?? .max) <= now
    }

    /// The instance that consumer `c` of `g` is, if it is a live one.
    private func instance(_ g: ConsumerGroup, _ c: Int) -> Int? {
        let hint = g.instanceHints[c]
        if hint.serial > 0 && hint.index < instances.count && instances[hint.index].serial == hint.serial { return hint.index }
        // An instance before it left moved the rest: search by name. Only
        // what is found is remembered (a built-in's consumer is in the
        // journal before its instance joins).
        let name = g.consumerName(c)
        guard let i = instances.firstIndex(where: { $0.consumer == name }) else { return nil }
        g.instanceHints[c] = (i, instances[i].serial)
        return i
    }

    /// The timer's task, if it is still held by the delivery (or PROGRESS)
    /// that set the timer; nil for a stale timer.
    private func heldAsTimed(_ t: TaskTimer) -> PendingEntry? {
        guard t.group.agent === self, let p = t.group.entry(t.id), p.isHeld, p.deliveredAtMillis == t.stamp else { return nil }
        return p
    }

    /// The timer's task, if it is still given back as it was when the timer was set.
    private func givenBackAsTimed(_ t: TaskTimer) -> PendingEntry? {
        guard t.group.agent === self, let p = t.group.entry(t.id), p.eligibleAtMillis == t.stamp else { return nil }
        return p
    }

    /// The monotonic clock in ms: timers must not move with the wall clock.
    public static func monotonicMillis() -> Int64 { Clock.monotonicNanos() / 1_000_000 }
}
