import VimanaCore

/// The effective configuration of a Vimana process: phoenix.yaml's sections
/// merged over the built-in defaults, then command-line overrides.
///
/// Promises: every value here has been validated (ranges, types); a value
/// that reached this struct is safe to use without further checks.
public struct Configuration: Sendable, Equatable {
    public var kernel: KernelConfig
    public var logging: LoggingConfig
    public var ledger: LedgerConfig = LedgerConfig()
    /// The `agents:` list, in file order.
    public var agents: [AgentConfig] = []
    /// Where the configuration came from: a file path, or `built-in default`.
    public var source: String
    /// Keys set by command-line flags, with the flag as typed:
    /// `["kernel.port": "--port 7400", "ledger.enabled": "--no-ledger"]`.
    /// Messages about a key name the flag when there is one, the file otherwise.
    public var flags: [String: String] = [:]

    public init(kernel: KernelConfig = KernelConfig(), logging: LoggingConfig = LoggingConfig(),
                source: String = "built-in default") {
        self.kernel = kernel
        self.logging = logging
        self.source = source
    }
}

/// The `kernel:` section: where the bus listens and the limits it enforces.
public struct KernelConfig: Sendable, Equatable {
    /// Address the RESP listener binds (default loopback only).
    public var bind: String = "127.0.0.1"
    /// RESP port; 7379 so that it runs beside a Redis on 6379. 0 picks a free port.
    public var port: Int = 7379
    /// HTTP observability port (/health, /ready, /metrics); 0 picks a free port, -1 disables.
    public var httpPort: Int = 7380
    public var limits: Limits = Limits()
    /// When set, clients must AUTH (or HELLO … AUTH) with it before any other
    /// command, as Redis's `requirepass`. Never logged or printed.
    public var password: String? = nil

    public init() {}

    /// What config/examples/production.yaml holds for `kernel.password`: a
    /// file that still has it is refused, so that the example is never
    /// deployed with a password that everybody can read.
    public static let passwordPlaceholder = "CHANGE-ME"
}

/// Named limits. Each protects the server from one kind of client misbehaviour.
public struct Limits: Sendable, Equatable {
    /// Connections beyond this get `-ERR max number of clients reached` and are closed.
    public var maxClients: Int = 10_000
    /// Largest bulk string (argument) accepted, as Redis's proto-max-bulk-len; at most 512 MiB.
    public var maxPayload: Int = 1 << 20
    /// Longest inline command line (no `*` prefix), as Redis's PROTO_INLINE_MAX_SIZE.
    public var maxInline: Int = 64 << 10
    /// Query buffer allowed to a connection that has not authenticated (when a password is set).
    public var queryBufferBeforeAuth: Int = 1 << 20
    /// Memory one connection's unfinished request may hold — its input
    /// buffer and its argument table together — as Redis's
    /// client-query-buffer-limit. At least `minimumQueryBuffer(maxPayload:)`;
    /// when not configured, the larger of 64 MiB and that minimum.
    public var queryBuffer: Int = Limits.defaultQueryBuffer
    /// A subscriber whose pending output exceeds this is disconnected at once.
    public var pubsubOutputHard: Int = 32 << 20
    /// A subscriber above this for `pubsubOutputSoftSeconds` is disconnected.
    public var pubsubOutputSoft: Int = 8 << 20
    public var pubsubOutputSoftSeconds: Int = 60
    /// Any other client whose pending replies exceed this is disconnected at
    /// once (Redis's `client-output-buffer-limit normal`, unlimited there by
    /// default): one client that never reads must not grow the server
    /// without bound. Larger than any reply a sane client asks for at once.
    public var normalOutputHard: Int = 256 << 20
    /// 0: no soft limit for normal clients (Redis's default).
    public var normalOutputSoft: Int = 0
    public var normalOutputSoftSeconds: Int = 0

    public init() {}

    /// Upper bound for `maxPayload`, as Redis's proto-max-bulk-len ceiling.
    public static let maxPayloadCeiling = 512 << 20
    /// 64 MiB: a command of dozens of maximal (1 MiB) arguments fits; twenty
    /// stuck connections hold at most about 1.3 GiB.
    public static let defaultQueryBuffer = 64 << 20
    /// Upper bound for `queryBuffer`: a guard against a typo, above the
    /// minimum for the largest `maxPayload`.
    public static let queryBufferCeiling = 4 << 30

    /// The smallest query buffer limit that admits every command with one
    /// argument of `maxPayload` bytes: the input buffer grows by doubling, so
    /// such a command may occupy twice its size, plus a read's worth.
    public static func minimumQueryBuffer(maxPayload: Int) -> Int { 2 * maxPayload + (64 << 10) }
}

/// The `logging:` section.
public struct LoggingConfig: Sendable, Equatable {
    public var level: LogLevel = .info
    public var format: LogFormat = .text

    public init() {}
}


/// When the ledger forces written frames to disk, as Redis's appendfsync.
public enum FsyncPolicy: String, Sendable, Equatable, CaseIterable {
    /// fsync before replying to each durable write (group-committed).
    case always
    /// fsync at least once a second (the default).
    case everysec
    /// Leave flushing to the operating system.
    case no
}

/// The `ledger:` section: where and how recorded messages are kept.
public struct LedgerConfig: Sendable, Equatable {
    /// Record messages at all. Off: PUBLISH is pure pub/sub and the stream
    /// commands answer that the ledger is disabled.
    public var enabled: Bool = true
    /// Directory of segment files (created if missing).
    public var dir: String = "data/ledger"
    /// Topics recorded: Redis glob patterns. A topic is recorded when it
    /// matches one of `record` and none of `exclude`.
    public var record: [String] = ["*"]
    /// Topics never recorded, by default those starting with `_`.
    public var exclude: [String] = ["_*"]
    public var fsync: FsyncPolicy = .everysec
    /// zlib level (0-9) for frames written as messages arrive: fast.
    public var compressionLevel: Int = 1
    /// zlib level (0-9) used when a sealed segment is rewritten in large
    /// frames; nil (`off`): sealed segments are not rewritten.
    public var compactionLevel: Int? = 6
    /// Unwritten bytes beyond which publishers to recorded topics are paused.
    public var maxPending: Int = 64 << 20
    /// A segment is sealed when it reaches this many bytes on disk...
    public var segmentBytes: Int = 64 << 20
    /// ...or when its first record is this many seconds old.
    public var segmentAgeSeconds: Int = 3600
    /// Sealed segments whose newest record is older than this are retired (0: keep).
    public var retentionMaxAgeSeconds: Int = 0
    /// Oldest sealed segments are retired while the ledger is larger (0: no limit).
    public var retentionMaxBytes: Int = 0
    /// Where retired segments go; nil deletes them.
    public var archiveDir: String? = nil

    public init() {}
}

/// One entry of the `agents:` list: a worker the kernel feeds tasks
/// (Protocol/AGENTS.md).
public struct AgentConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case builtin, external }
    public enum Start: String, Sendable, Equatable { case new, all }
    public enum Restart: String, Sendable, Equatable {
        case always
        case onFailure = "on-failure"
        case never
    }

    /// Built-in agents the kernel ships (the registry's ids; checked by a test).
    public static let builtinIDs: Set<String> = ["echo"]

    public var id: String
    public var name: String
    public var description: String = ""
    public var kind: Kind = .external
    public var enabled: Bool = true
    /// Topic patterns (Redis glob); at least one.
    public var subscribes: [String]
    /// Topic patterns it may publish to; nil means any.
    public var publishes: [String]? = nil
    public var ackWaitMillis: Int = 30_000
    public var maxDeliver: Int = 5
    public var prefetch: Int = 1
    public var start: Start = .new
    public var required: Bool = false
    /// argv of a process the kernel starts and supervises (external agents only).
    public var command: [String]? = nil
    public var env: [String: String] = [:]
    public var restart: Restart = .onFailure
    public var maxRestarts: Int = 5
    /// Where the entry starts in the file, for messages (1-based; 0 unknown).
    public var line: Int = 0
    public var column: Int = 0

    public init(id: String, name: String? = nil, subscribes: [String]) {
        self.id = id
        self.name = name ?? id
        self.subscribes = subscribes
    }

    /// Equality ignores where the entry was in the file.
    public static func == (a: AgentConfig, b: AgentConfig) -> Bool {
        a.id == b.id && a.name == b.name && a.description == b.description && a.kind == b.kind
            && a.enabled == b.enabled && a.subscribes == b.subscribes && a.publishes == b.publishes
            && a.ackWaitMillis == b.ackWaitMillis && a.maxDeliver == b.maxDeliver && a.prefetch == b.prefetch
            && a.start == b.start && a.required == b.required && a.command == b.command && a.env == b.env
            && a.restart == b.restart && a.maxRestarts == b.maxRestarts
    }
}
