import VimanaConfig

/// What `vimana bench` runs: a publish/fan-out load against one topic, a
/// task load (producer → workers → acknowledgements) against Vimana, Redis
/// Streams or beanstalkd, or (with `idleConnections` > 0) a set of idle
/// connections held open so a script can read the server's resident memory.
public struct BenchOptions: Sendable, Equatable {
    /// Vimana's default address (`KernelConfig`).
    public var host = KernelConfig().bind
    public var port = KernelConfig().port
    /// Publisher connections; the messages are split between them.
    public var publishers = 1
    /// Subscriber connections; each receives every message.
    public var subscribers = 0
    /// Messages published in total.
    public var messages = 100_000
    /// Payload bytes per message; the first 8 carry the send time, so
    /// latency is measured only when this is 8 or more.
    public var payloadSize = 16
    /// PUBLISH commands each publisher keeps in flight (written in one batch).
    public var pipeline = 1
    public var topic = "bench"
    /// 2, or 3 to send `HELLO 3` on every connection first.
    public var protocolVersion = 2
    /// When > 0: open this many idle connections instead of running a load.
    public var idleConnections = 0
    /// How long idle connections are held open before the run ends.
    public var idleHoldSeconds = 30.0
    /// Once publishing ended, a subscriber that receives nothing for this
    /// long stops and reports the rest as lost.
    public var drainIdleSeconds = 3.0
    /// Connect timeout, and how long to wait for subscriptions to be confirmed.
    public var setupTimeoutSeconds = 10.0
    /// When set: a task round trip against this peer instead of pub/sub.
    public var tasks: TaskPeer?
    /// Task mode: worker connections taking tasks.
    public var workers = 2
    /// Task mode: tasks each worker holds unacknowledged (Vimana's agent
    /// `prefetch`, XREADGROUP's COUNT; beanstalkd workers hold one job each).
    public var prefetch = 16
    /// Task mode: the agent workers join as on Vimana (declared with the
    /// same `prefetch`), and the consumer group's name on Redis.
    public var agent = "bench"

    public init() {}

    // MARK: - Limits

    /// Largest payload: Redis's default proto-max-bulk-len is 512 MiB, but a
    /// load generator has no use for messages beyond a few megabytes.
    public static let maxPayload = 64 << 20
    /// Each publisher pre-encodes `pipeline` commands in one buffer.
    public static let maxBatchBytes = 256 << 20
    /// Threads are one per connection; more than this is a typo, not a test.
    public static let maxWorkers = 1000
    /// Latency is sampled for every `sampleEvery`-th message per subscriber.
    public static let sampleEvery = 64

    /// Checks ranges; the message says which option is wrong and why.
    public func validate() throws(BenchError) {
        func check(_ ok: Bool, _ message: String) throws(BenchError) {
            if !ok { throw .invalidOption(message) }
        }
        try check((1...65535).contains(port), "--port must be 1..65535")
        try check(!host.isEmpty, "--host must not be empty")
        try check(!topic.isEmpty, "--topic must not be empty")
        try check(protocolVersion == 2 || protocolVersion == 3, "--resp must be 2 or 3")
        try check(idleConnections >= 0, "--idle must not be negative")
        if idleConnections > 0 { return }
        try check((0...Self.maxWorkers).contains(publishers), "--pub must be 0..\(Self.maxWorkers)")
        try check((0...Self.maxWorkers).contains(subscribers), "--sub must be 0..\(Self.maxWorkers)")
        if tasks != nil {
            try check((1...Self.maxWorkers).contains(workers), "--workers must be 1..\(Self.maxWorkers)")
            try check((1...10_000).contains(prefetch), "--prefetch must be 1..10000")
            try check(publishers == 1, "task mode has one producer (--pub 1)")
            try check(!agent.isEmpty, "--agent must not be empty")
        }
        try check(publishers + subscribers > 0, "need at least one publisher or subscriber")
        try check(messages >= 1, "--msgs must be at least 1")
        try check((0...Self.maxPayload).contains(payloadSize), "--size must be 0..\(Self.maxPayload)")
        try check((1...100_000).contains(pipeline), "--pipeline must be 1..100000")
        try check((payloadSize + topic.utf8.count + 64) * pipeline <= Self.maxBatchBytes,
                  "--size × --pipeline must stay under \(Self.maxBatchBytes >> 20) MiB (one pre-encoded batch)")
    }
}

/// Why a bench run could not be carried out (as opposed to a run that
/// completed and measured losses or disconnections).
public enum BenchError: Error, Sendable, CustomStringConvertible {
    case invalidOption(String)
    /// A connection could not be set up (connect, HELLO, SUBSCRIBE).
    case setup(String)
    /// The process cannot open as many sockets as asked.
    case fileLimit(needed: Int, limit: Int)

    public var description: String {
        switch self {
        case .invalidOption(let m): m
        case .setup(let m): m
        case .fileLimit(let needed, let limit):
            "need \(needed) file descriptors but the limit is \(limit): raise it with ulimit -n"
        }
    }
}
