import VimanaCore

/// The effective configuration of a Vimana process: phoenix.yaml's sections
/// merged over the built-in defaults, then command-line overrides.
///
/// Promises: every value here has been validated (ranges, types); a value
/// that reached this struct is safe to use without further checks.
public struct Configuration: Sendable, Equatable {
    public var kernel: KernelConfig
    public var logging: LoggingConfig
    /// Where the configuration came from: a file path, or `built-in default`.
    public var source: String

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
    /// A subscriber whose pending output exceeds this is disconnected at once.
    public var pubsubOutputHard: Int = 32 << 20
    /// A subscriber above this for `pubsubOutputSoftSeconds` is disconnected.
    public var pubsubOutputSoft: Int = 8 << 20
    public var pubsubOutputSoftSeconds: Int = 60

    public init() {}

    /// Upper bound for `maxPayload`, as Redis's proto-max-bulk-len ceiling.
    public static let maxPayloadCeiling = 512 << 20
}

/// The `logging:` section.
public struct LoggingConfig: Sendable, Equatable {
    public var level: LogLevel = .info
    public var format: LogFormat = .text

    public init() {}
}

