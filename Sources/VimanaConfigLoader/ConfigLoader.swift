import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Loads phoenix.yaml into a validated `Configuration`.
///
/// Promises: either a `Configuration` whose every value is within its
/// documented range, or a `ConfigError` at the 1-based line and column of the
/// offending key (unknown, duplicate) or value (wrong type, out of range),
/// saying what was expected. Keys left out, or set to `~`/`null`, keep their
/// defaults; an empty file or one with only comments yields the defaults.
/// Nothing is silently ignored: unknown keys at any level are errors.
public enum ConfigLoader {
    /// Reads and validates the file at `path`; `source` becomes `path`.
    /// A missing or unreadable file is a `ConfigError` naming the path and the system's reason.
    public static func load(path: String) throws(ConfigError) -> Configuration {
        try decode(try readFile(path), path: path)
    }

    /// Validates `yaml` as if it were the content of the file `path` (used in messages and as `source`).
    public static func load(yaml: String, path: String) throws(ConfigError) -> Configuration {
        try decode(Array(yaml.utf8), path: path)
    }

    static func decode(_ bytes: [UInt8], path: String) throws(ConfigError) -> Configuration {
        let root = try YAMLReader.read(bytes, path: path)
        return try Schema(path: path).configuration(root)
    }
}

// MARK: - Schema

/// The phoenix.yaml schema: one function per section, one helper per value kind.
/// Sections with many keys live in their own files (`ConfigLoader+Ledger.swift`, `ConfigLoader+Agents.swift`).
struct Schema {
    /// The file, or for a command-line flag `--flag value` (see `Configuration.apply(flag:value:)`).
    let path: String
    /// True when the value comes from a flag: messages then say only what was
    /// expected, since `path` already shows the flag and its value.
    var flag = false

    func configuration(_ root: YAMLNode?) throws(ConfigError) -> Configuration {
        var config = Configuration(source: path)
        guard let root else { return config }
        let top = try section(root, "", keys: ["kernel", "logging", "ledger", "users", "agents", "system",
                                                     "federation"])
        if let node = top["kernel"] { config.kernel = try kernel(node) }
        if let node = top["logging"] { config.logging = try logging(node) }
        if let node = top["ledger"] { config.ledger = try ledger(node) }
        if let node = top["users"] {
            (config.users, config.warnings) = try users(node, kernelPassword: config.kernel.password == nil
                                                        ? nil : Self.entry("password", in: top["kernel"]))
        }
        // After the users: an agent names the user it runs as.
        if let node = top["agents"] { config.agents = try agents(node, users: Set(config.users.map(\.name))) }
        if let node = top["system"] { config.system = try system(node) }
        if let entry = Self.entry("federation", in: root) { config.federation = try federation(entry) }
        if config.system.envoy.enabled && config.system.enabled && !flag {
            // envoy's playbooks: each a file of its own, its errors at its own file:line:column.
            config.system.envoy.loaded = try PlaybookLoader.load(
                directory: Self.playbookDirectory(config.system.envoy.playbooks, configFile: path))
        }
        if !config.ledger.enabled, !config.agents.isEmpty, let node = top["ledger"],
           case .mapping(let entries) = node.content, let enabled = entries.first(where: { $0.key == "enabled" }) {
            // Checked here, where the line is known, rather than when the kernel starts.
            throw fail(enabled.value, "ledger.enabled: false, but agents need the ledger, and this file declares "
                       + "\(Self.agentList(config.agents)); set it to true or remove the agents")
        }
        if !config.ledger.enabled, config.federation != nil, let enabled = Self.entry("enabled", in: top["ledger"]) {
            // The ledger is federation's outbox and where received entries land.
            throw fail(enabled.value, "ledger.enabled: false, but federation needs the ledger (its outbox and inbox);"
                       + " set it to true or remove the federation section")
        }
        let external = config.agents.filter { $0.enabled && $0.kind == .external }
        if config.ledger.retentionMaxAgeSeconds > 0 || config.ledger.retentionMaxBytes > 0, !external.isEmpty,
           let retention = Self.entry("retention", in: top["ledger"]) {
            // A warning, not a refusal: an agent that keeps no state in
            // events.<id> loses nothing (Protocol/AGENTS.md §10).
            config.warnings.append(ConfigWarning(
                path: path, line: retention.value.line, column: retention.value.column,
                message: "ledger.retention retires old segments, and with them old entries of events.<id>: an agent "
                    + "that rebuilds its state from them (VimanaAgentKit, Protocol/AGENTS.md §10) would start from a "
                    + "part of its events unless its latest snapshot is kept (retention longer than an agent may be down, plus an hour); this file declares \(Self.agentList(external))"))
        }
        return config
    }

    /// The entry `key` of a mapping node, with its position.
    static func entry(_ key: String, in node: YAMLNode?) -> YAMLEntry? {
        guard let node, case .mapping(let entries) = node.content else { return nil }
        return entries.first { $0.key == key }
    }

    /// `agent a` or `3 agents: a, b, c`, for messages.
    static func agentList(_ agents: [AgentConfig]) -> String {
        let ids = agents.map(\.id).joined(separator: ", ")
        return agents.count == 1 ? "agent \(ids)" : "\(agents.count) agents: \(ids)"
    }

    private func kernel(_ node: YAMLNode) throws(ConfigError) -> KernelConfig {
        var k = KernelConfig()
        let s = try section(node, "kernel", keys: ["bind", "port", "http_port", "password", "protected_mode",
                                                   "http_token", "http_token_file", "limits",
                                                   "slowlog_log_slower_than", "slowlog_max_len", "latency_monitor_threshold"])
        if let n = s["bind"], let v = try bind(n, "kernel.bind") { k.bind = v }
        if let n = s["slowlog_log_slower_than"], let v = try integer(n, "kernel.slowlog_log_slower_than", ConfigLimits.slowlogLogSlowerThan) {
            k.slowlogLogSlowerThan = v
        }
        if let n = s["slowlog_max_len"], let v = try integer(n, "kernel.slowlog_max_len", ConfigLimits.slowlogMaxLen) { k.slowlogMaxLen = v }
        if let n = s["latency_monitor_threshold"],
           let v = try integer(n, "kernel.latency_monitor_threshold", ConfigLimits.latencyMonitorThreshold) {
            k.latencyMonitorThreshold = v
        }
        if let n = s["port"], let v = try integer(n, "kernel.port", ConfigLimits.port) { k.port = v }
        if let n = s["http_port"], let v = try httpPort(n, "kernel.http_port") { k.httpPort = v }
        if let n = s["password"], let text = try plainPasswordText(n, "kernel.password") { k.password = text }
        if let n = s["protected_mode"], let v = try boolean(n, "kernel.protected_mode") { k.protectedMode = v }
        k.httpToken = try httpToken(s)
        if let n = s["limits"] { k.limits = try limits(n) }
        return k
    }

    /// `http_token`, or the first line of the file `http_token_file` (one of
    /// the two; read as a `password_file` is: `secretFile`): visible ASCII
    /// without spaces, `ConfigLimits.httpTokenBytes` long. Messages never
    /// echo the token.
    private func httpToken(_ s: [String: YAMLNode]) throws(ConfigError) -> String? {
        let bytes = ConfigLimits.httpTokenBytes
        let expected = "\(bytes.lowerBound) to \(bytes.upperBound) visible ASCII characters without spaces "
            + "(openssl rand -hex 32 makes one)"
        func valid(_ text: [UInt8]) -> Bool { bytes.contains(text.count) && text.allSatisfy { $0 > 0x20 && $0 < 0x7F } }
        if let n = s["http_token"], let text = try scalar(n, "kernel.http_token", expected) {
            if let file = s["http_token_file"], !file.isNull {
                throw fail(file, "kernel.http_token_file: set http_token or http_token_file, not both")
            }
            guard valid(Array(text.utf8)) else { throw fail(n, "kernel.http_token: expected \(expected)") }
            return text
        }
        guard let n = s["http_token_file"], let name = try path(n, "kernel.http_token_file") else { return nil }
        // Read as a user's password_file: relative to this file, private to its owner.
        let (file, read) = try secretFile(n, "kernel.http_token_file", name, limit: ConfigLimits.httpTokenFileSize)
        var content = read
        // One line: the newline an editor or `echo` leaves is not part of the token.
        if content.last == 10 { content.removeLast() }
        if content.last == 13 { content.removeLast() }
        guard valid(content) else {
            throw fail(n, "kernel.http_token_file: \(file) must hold one line of \(expected)")
        }
        return String(decoding: content, as: UTF8.self)
    }

    private func limits(_ node: YAMLNode) throws(ConfigError) -> Limits {
        var l = Limits()
        let s = try section(node, "kernel.limits",
                            keys: ["max_clients", "max_payload", "max_inline", "query_buffer", "query_buffer_before_auth",
                                   "pubsub_output", "normal_output"])
        if let n = s["max_clients"], let v = try integer(n, "kernel.limits.max_clients", ConfigLimits.maxClients) {
            l.maxClients = v
        }
        if let n = s["max_payload"], let v = try size(n, "kernel.limits.max_payload", ConfigLimits.maxPayload) {
            l.maxPayload = v
        }
        if let n = s["max_inline"], let v = try size(n, "kernel.limits.max_inline", ConfigLimits.maxInline) {
            l.maxInline = v
        }
        let minimum = Limits.minimumQueryBuffer(maxPayload: l.maxPayload)
        if let n = s["query_buffer"], let v = try size(n, "kernel.limits.query_buffer", ConfigLimits.queryBuffer) {
            guard v >= minimum else {
                throw mismatch(n, "kernel.limits.query_buffer", "a size of at least \(Units.formatSize(minimum)) "
                    + "(2 × max_payload + 64KiB: a maximal argument must fit)")
            }
            l.queryBuffer = v
        } else {
            l.queryBuffer = max(Limits.defaultQueryBuffer, minimum)
        }
        if let n = s["query_buffer_before_auth"],
           let v = try size(n, "kernel.limits.query_buffer_before_auth", ConfigLimits.queryBufferBeforeAuth) {
            l.queryBufferBeforeAuth = v
        }
        if let n = s["pubsub_output"] {
            let p = try section(n, "kernel.limits.pubsub_output", keys: ["hard", "soft", "soft_seconds"])
            if let n = p["hard"], let v = try size(n, "kernel.limits.pubsub_output.hard", nil) { l.pubsubOutputHard = v }
            if let n = p["soft"], let v = try size(n, "kernel.limits.pubsub_output.soft", nil) { l.pubsubOutputSoft = v }
            if let n = p["soft_seconds"], let v = try seconds(n, "kernel.limits.pubsub_output.soft_seconds", ConfigLimits.outputSoftSeconds) {
                l.pubsubOutputSoftSeconds = v
            }
        }
        if let n = s["normal_output"] {
            let p = try section(n, "kernel.limits.normal_output", keys: ["hard", "soft", "soft_seconds"])
            if let n = p["hard"], let v = try size(n, "kernel.limits.normal_output.hard", nil) { l.normalOutputHard = v }
            if let n = p["soft"], let v = try size(n, "kernel.limits.normal_output.soft", nil) { l.normalOutputSoft = v }
            if let n = p["soft_seconds"], let v = try seconds(n, "kernel.limits.normal_output.soft_seconds", ConfigLimits.outputSoftSeconds) {
                l.normalOutputSoftSeconds = v
            }
        }
        return l
    }

    private func logging(_ node: YAMLNode) throws(ConfigError) -> LoggingConfig {
        var g = LoggingConfig()
        let s = try section(node, "logging", keys: ["level", "format"])
        if let n = s["level"], let v = try logLevel(n, "logging.level") { g.level = v }
        if let n = s["format"], let v = try logFormat(n, "logging.format") { g.format = v }
        return g
    }

    func logLevel(_ node: YAMLNode, _ key: String) throws(ConfigError) -> LogLevel? {
        let expected = "one of debug, info, warn, error"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard let level = LogLevel(name: Self.lowerASCII(text)) else { throw mismatch(node, key, expected) }
        return level
    }

    func logFormat(_ node: YAMLNode, _ key: String) throws(ConfigError) -> LogFormat? {
        try choice(node, key, "one of text, json")
    }

    // MARK: - Value kinds

    /// The values of a mapping by key, after checking every key is one of `keys`; empty for null.
    func section(_ node: YAMLNode, _ name: String, keys: [String]) throws(ConfigError) -> [String: YAMLNode] {
        if node.isNull { return [:] }
        let listed = keys.joined(separator: ", ")
        guard case .mapping(let entries) = node.content else {
            let what = name.isEmpty ? "expected a mapping at the top level" : "\(name): expected a mapping"
            throw fail(node, "\(what) with keys \(listed), got \(node.summary)")
        }
        var values: [String: YAMLNode] = [:]
        for entry in entries {
            guard keys.contains(entry.key) else {
                let where_ = name.isEmpty ? "at the top level" : "in \(name)"
                throw ConfigError(path: path, line: entry.line, column: entry.column,
                                  message: "unknown key '\(entry.key)' \(where_) (expected one of: \(listed))")
            }
            values[entry.key] = entry.value
        }
        return values
    }

    /// A leaf's text, or nil for null (keep the default). Quoted or not: the schema decides the type.
    func scalar(_ node: YAMLNode, _ key: String, _ expected: String) throws(ConfigError) -> String? {
        if node.isNull { return nil }
        guard case .scalar(let text, _) = node.content else { throw mismatch(node, key, expected) }
        return text
    }

    /// One of an enum's raw values, in any letter case; nil for null.
    func choice<T: RawRepresentable>(_ node: YAMLNode, _ key: String, _ expected: String) throws(ConfigError) -> T?
        where T.RawValue == String {
        guard let text = try scalar(node, key, expected) else { return nil }
        guard let value = T(rawValue: Self.lowerASCII(text)) else { throw mismatch(node, key, expected) }
        return value
    }

    /// One of an enum's cases, named in the message in declaration order
    /// (`one of always, everysec, no`): the enum is the one list of choices.
    func choice<T: RawRepresentable & CaseIterable>(_ node: YAMLNode, _ key: String) throws(ConfigError) -> T?
        where T.RawValue == String {
        try choice(node, key, "one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
    }

    func integer(_ node: YAMLNode, _ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        let expected = "an integer from \(range.lowerBound) to \(range.upperBound)"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard let value = Int(text), range.contains(value) else { throw mismatch(node, key, expected) }
        return value
    }

    /// An integer port, or `off` for -1 (disabled).
    func httpPort(_ node: YAMLNode, _ key: String) throws(ConfigError) -> Int? {
        let range = ConfigLimits.httpPort
        let expected = "an integer from \(range.lowerBound) to \(range.upperBound) or 'off'"
        guard let text = try scalar(node, key, expected) else { return nil }
        if Self.lowerASCII(text) == "off" { return -1 }
        guard let value = Int(text), range.contains(value) else { throw mismatch(node, key, expected) }
        return value
    }

    /// An IPv4 address as inet_pton reads it; `localhost` means 127.0.0.1.
    func bind(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        let expected = "an IPv4 address such as 127.0.0.1 or 0.0.0.0, or 'localhost'"
        guard let text = try scalar(node, key, expected) else { return nil }
        if text == "localhost" { return "127.0.0.1" }
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { throw mismatch(node, key, expected) }
        return text
    }

    /// A size (see `Units.parseSize`) within `range`; nil range means 0 (no limit) up to any size.
    func size(_ node: YAMLNode, _ key: String, _ range: ClosedRange<Int>?) throws(ConfigError) -> Int? {
        let expected = range.map { "a size from \(Units.formatSize($0.lowerBound)) to \(Units.formatSize($0.upperBound))"
            + " (like 64KiB or 65536)" } ?? "a size (like 32MiB or 33554432; 0 = no limit)"
        guard let text = try scalar(node, key, expected) else { return nil }
        let value: Int
        do {
            value = try Units.parseSize(text)
        } catch .overflow {
            throw mismatch(node, key, expected, note: " (too large)")
        } catch {
            throw mismatch(node, key, expected)
        }
        guard range?.contains(value) ?? true else { throw mismatch(node, key, expected) }
        return value
    }

    /// A duration (see `Units.parseDuration`) that is a whole number of seconds within `range`.
    func seconds(_ node: YAMLNode, _ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        let expected = "a duration in whole seconds from \(range.lowerBound) to \(range.upperBound)"
            + " (like 60, 60s, 2m or 1h)"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard let duration = try? Units.parseDuration(text) else { throw mismatch(node, key, expected) }
        let (whole, fraction) = duration.components
        guard fraction == 0, whole <= Int64(range.upperBound), whole >= Int64(range.lowerBound) else {
            throw mismatch(node, key, expected)
        }
        return Int(whole)
    }

    /// `true`/`false`, or YAML 1.1's `yes`/`no` and `on`/`off`, in any case.
    func boolean(_ node: YAMLNode, _ key: String) throws(ConfigError) -> Bool? {
        let expected = "true or false (or yes/no, on/off)"
        guard let text = try scalar(node, key, expected) else { return nil }
        switch Self.lowerASCII(text) {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw mismatch(node, key, expected)
        }
    }

    /// A non-empty string without NUL bytes (the system cannot open such a path).
    func path(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        let expected = "a non-empty path without NUL bytes"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard !text.isEmpty, !text.utf8.contains(0) else { throw mismatch(node, key, expected) }
        return text
    }

    /// A sequence of non-empty strings, or one string standing for a sequence of
    /// one; an empty sequence is allowed. An item is named `key[index]` in messages.
    func strings(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String]? {
        let expected = "a non-empty string or a sequence of non-empty strings"
        if case .sequence(let items) = node.content {
            var values: [String] = []
            for (index, item) in items.enumerated() {
                guard case .scalar(let text, _) = item.content, !item.isNull, !text.isEmpty else {
                    // An unquoted `~` or nothing is YAML's null, not the text: say so.
                    throw mismatch(item, "\(key)[\(index)]", "a non-empty string", note: item.isNull ? " (null)" : "")
                }
                values.append(text)
            }
            return values
        }
        guard let text = try scalar(node, key, expected) else { return nil }
        guard !text.isEmpty else { throw mismatch(node, key, expected) }
        return [text]
    }

    // MARK: - Messages

    /// `key: expected …, got …` at the value's position; for a flag, `expected …`.
    func mismatch(_ node: YAMLNode, _ key: String, _ expected: String, note: String = "") -> ConfigError {
        if flag { return fail(node, "expected \(expected)\(note)") }
        if Self.holdsSecret(key), !node.isNull, case .scalar = node.content {
            return fail(node, "\(key): expected \(expected), got a value not shown (it may be a secret)\(note)")
        }
        return fail(node, "\(key): expected \(expected), got \(node.summary)\(note)")
    }

    func fail(_ node: YAMLNode, _ message: String) -> ConfigError {
        ConfigError(path: path, line: node.line, column: node.column, message: message)
    }

    static func lowerASCII(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
