import VimanaCore
import VimanaConfig

/// Command-line flags that override phoenix.yaml (`vimana serve --port 7400`).
///
/// Each flag's value is checked by the same rule as its key in a file (so
/// `--http-port off` works as `http_port: off` does), and a refused value is
/// reported against the flag, `--port 99999: expected …`, never against the
/// file. Applied flags are remembered in `flags`, so that later messages
/// about a key (the kernel's "the ledger is disabled") name the flag.
extension Configuration {
    /// A valued flag: its name without dashes, the key it sets, and how.
    struct Flag: Sendable {
        let name: String
        let key: String
        let set: @Sendable (inout Configuration, Schema, YAMLNode) throws(ConfigError) -> Void
    }

    /// Every valued flag, in the order `vimana serve` applies them.
    static let valuedFlags: [Flag] = [
        Flag(name: "bind", key: "kernel.bind") { c, s, n throws(ConfigError) in
            if let v = try s.bind(n, "kernel.bind") { c.kernel.bind = v }
        },
        Flag(name: "port", key: "kernel.port") { c, s, n throws(ConfigError) in
            if let v = try s.integer(n, "kernel.port", ConfigLimits.port) { c.kernel.port = v }
        },
        Flag(name: "http-port", key: "kernel.http_port") { c, s, n throws(ConfigError) in
            if let v = try s.httpPort(n, "kernel.http_port") { c.kernel.httpPort = v }
        },
        Flag(name: "log-level", key: "logging.level") { c, s, n throws(ConfigError) in
            if let v = try s.logLevel(n, "logging.level") { c.logging.level = v }
        },
        Flag(name: "log-format", key: "logging.format") { c, s, n throws(ConfigError) in
            if let v = try s.logFormat(n, "logging.format") { c.logging.format = v }
        },
        Flag(name: "ledger-dir", key: "ledger.dir") { c, s, n throws(ConfigError) in
            if let v = try s.path(n, "ledger.dir") { c.ledger.dir = v }
        },
        Flag(name: "fsync", key: "ledger.fsync") { c, s, n throws(ConfigError) in
            if let v: FsyncPolicy = try s.choice(n, "ledger.fsync") { c.ledger.fsync = v }
        },
    ]

    /// The names (without dashes) of the flags `apply(flag:value:)` takes, in the order to apply them.
    public static var valuedFlagNames: [String] { valuedFlags.map(\.name) }

    /// Sets the key that `--flag value` stands for (`flag` without its
    /// dashes, one of `valuedFlagNames`).
    public mutating func apply(flag: String, value: String) throws(ConfigError) {
        let typed = "--\(flag) \(Self.shellWord(value))"
        guard let f = Self.valuedFlags.first(where: { $0.name == flag }) else {
            throw ConfigError(path: typed, message: "not a configuration flag")
        }
        // Not plain: `--port ~` is the text "~", not YAML's null.
        try f.set(&self, Schema(path: typed, flag: true), YAMLNode(content: .scalar(value, plain: false), line: 0, column: 0))
        flags[f.key] = typed
    }

    /// `--no-ledger`: records nothing. Refused when agents are declared (they
    /// take their tasks from the ledger) or federation is (the ledger is its
    /// outbox and inbox).
    public mutating func disableLedger() throws(ConfigError) {
        let typed = "--no-ledger"
        guard agents.isEmpty else {
            throw ConfigError(path: typed, message: "agents need the ledger, and \(source) declares "
                              + "\(Schema.agentList(agents)); leave out --no-ledger, or use a configuration without agents")
        }
        guard federation == nil else {
            throw ConfigError(path: typed, message: "federation needs the ledger, and \(source) declares a federation"
                              + " section; leave out --no-ledger, or use a configuration without it")
        }
        ledger.enabled = false
        flags["ledger.enabled"] = typed
    }
}
