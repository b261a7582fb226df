import VimanaCore
import VimanaBus
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
public struct AgentInstance: Sendable {
    /// The connection's fd; negative for a built-in worker.
    public var fd: Int32
    /// Its consumer name in the agent's groups.
    public var consumer: [UInt8]
    /// Tasks delivered and not yet answered.
    public var inFlight = 0

    public init(fd: Int32, consumer: [UInt8]) {
        self.fd = fd
        self.consumer = consumer
    }
}

/// The kernel's state for one declared agent: its configuration, its groups
/// (one per matching topic), its live instances and its counters.
public final class AgentRuntime {
    public let config: AgentConfig
    public let patterns: [[UInt8]]
    /// `publishes`, as bytes; nil: any topic.
    public let publishPatterns: [[UInt8]]?
    public var status: AgentStatus
    public var instances: [AgentInstance] = []
    public var groups: [ConsumerGroup] = []
    /// Sequence of each group's last delivered entry, by topic, so that reads
    /// for the next task start there (0: unknown, look up by ID).
    public var lastSequence: [[UInt8]: UInt64] = [:]
    /// Next instance to try, for round-robin balancing.
    public var nextInstance = 0
    /// Set when something changed that may allow deliveries.
    public var dirty = false
    public var delivered = 0
    public var acknowledged = 0
    public var deadLettered = 0
    public var restarts = 0
    /// Consumers that read its groups with XREADGROUP (Redis clients rather
    /// than AGENT JOIN), by name, with the wall-clock ms of their last read.
    public var redisReaders: [[UInt8]: Int64] = [:]
    /// Built-ins: why each task that failed last failed, for its dead letter.
    public var lastFailure: [StreamID: String] = [:]

    public init(config: AgentConfig) {
        self.config = config
        patterns = config.subscribes.map { Array($0.utf8) }
        groupName = Array(config.id.utf8)
        publishPatterns = config.publishes.map { $0.map { Array($0.utf8) } }
        status = config.enabled ? .idle : .disabled
    }

    public var id: String { config.id }
    /// The id as bytes: the name of each of its consumer groups.
    public let groupName: [UInt8]

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

    public var pendingCount: Int { groups.reduce(0) { $0 + $1.pending.count } }

    /// Index of the instance with `fd`.
    public func instance(fd: Int32) -> Int? { instances.firstIndex { $0.fd == fd } }

    /// Live consumer names (instances), for "is the owner still here".
    public func isLive(_ consumer: [UInt8]) -> Bool { instances.contains { $0.consumer == consumer } }

    /// The next instance with a free prefetch slot, round-robin; nil when all
    /// are full. The turn moves on only when a task is given (`delivered(to:)`),
    /// so looking for room when there is no task does not skip an instance.
    public func instanceWithRoom() -> Int? {
        guard !instances.isEmpty else { return nil }
        for k in 0..<instances.count {
            let i = (nextInstance + k) % instances.count
            if instances[i].inFlight < config.prefetch { return i }
        }
        return nil
    }

    /// Passes the turn to the instance after `i`.
    public func delivered(to i: Int) {
        nextInstance = (i + 1) % max(instances.count, 1)
    }
}
