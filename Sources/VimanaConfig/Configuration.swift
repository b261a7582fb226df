// The settings: one value type per section of phoenix.yaml, each key with
// its one default and the reason for it. Value types only: the YAML loader
// (VimanaConfigLoader) parses into them, and the kernel, the ledger and the
// supervisor take them as they are, so that this module links no libyaml.
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
    /// The `users:` list, in file order (the `default` user is built from
    /// `kernel.password` unless listed here).
    public var users: [UserConfig] = []
    /// The `system:` section: the system agents (wired by `systemAgents(executable:)`).
    public var system = SystemConfig()
    /// The `federation:` section; nil when absent: the kernel works alone.
    public var federation: FederationConfig? = nil
    /// Where the configuration came from: a file path, or `built-in default`.
    public var source: String
    /// Keys set by command-line flags, with the flag as typed:
    /// `["kernel.port": "--port 7400", "ledger.enabled": "--no-ledger"]`.
    /// Messages about a key name the flag when there is one, the file otherwise.
    public var flags: [String: String] = [:]
    /// What the loader accepted but the operator should change (a plain
    /// `password` in `users:`), in file order: `vimana serve` logs them and
    /// `vimana check` prints them, at start. They never hold a secret.
    public var warnings: [ConfigWarning] = []

    public init(kernel: KernelConfig = KernelConfig(), logging: LoggingConfig = LoggingConfig(),
                source: String = "built-in default") {
        self.kernel = kernel
        self.logging = logging
        self.source = source
    }
}

/// Something the loader accepted with a reservation, located in its source.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// The configuration file.
    public let path: String
    /// 1-based position of the value warned about.
    public let line: Int
    public let column: Int
    /// What is wrong and what to do instead; never a secret.
    public let message: String

    public init(path: String, line: Int, column: Int, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    /// `path:line:column: warning: message`.
    public var description: String { "\(path):\(line):\(column): warning: \(message)" }
}

/// The `kernel:` section: where the bus listens and the limits it enforces.
public struct KernelConfig: Sendable, Equatable {
    /// Address the RESP listener binds (default loopback only).
    public var bind: String = "127.0.0.1"
    /// RESP port; 7379 so that it runs beside a Redis on 6379. 0 picks a free port.
    /// The one place the default is written: `vimana pub`, `sub` and `bench`
    /// connect to `KernelConfig().port` unless told otherwise.
    public var port: Int = 7379
    /// HTTP observability port (/health, /ready, /metrics); 0 picks a free port, -1 disables.
    public var httpPort: Int = 7380
    public var limits: Limits = Limits()
    /// When set, clients must AUTH (or HELLO … AUTH) with it before any other
    /// command, as Redis's `requirepass`. Never logged or printed.
    public var password: String? = nil
    /// Redis's `protected-mode`: while the `default` user has no password,
    /// a client connecting from beyond loopback is refused with Redis's
    /// DENIED explanation. On by default, as in Redis: a bus bound to
    /// 0.0.0.0 by mistake must not be open to the network.
    public var protectedMode: Bool = true
    /// When set (from `http_token` or the first line of `http_token_file`),
    /// every request on the HTTP port must carry `Authorization: Bearer
    /// <token>`. Never logged or printed.
    public var httpToken: String? = nil
    /// Redis's `slowlog-log-slower-than` (µs; -1 logs nothing, 0 every
    /// command), `slowlog-max-len` (entries) and `latency-monitor-threshold`
    /// (ms; 0: off), with Redis's defaults: the values at start; CONFIG SET
    /// changes them while the server runs.
    public var slowlogLogSlowerThan: Int = 10_000
    public var slowlogMaxLen: Int = 128
    public var latencyMonitorThreshold: Int = 0

    public init() {}

    /// What config/examples/production.yaml holds for `kernel.password`: a
    /// file that still has it is refused, so that the example is never
    /// deployed with a password that everybody can read.
    public static let passwordPlaceholder = "CHANGE-ME"
}

/// The `logging:` section.
public struct LoggingConfig: Sendable, Equatable {
    public var level: LogLevel = .info
    public var format: LogFormat = .text

    public init() {}
}
