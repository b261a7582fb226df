import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// The `federation:` section of phoenix.yaml (see `FederationConfig` and
/// Protocol/FEDERATION.md). `node`, `cluster` and `topics` are required; the
/// password is a plain password (checked as `kernel.password` is: AUTH needs
/// the text) and no message shows it.
extension Schema {
    static let federationKeys = ["node", "cluster", "user", "password", "topics", "prefix", "wait_replicas",
                                 "wait_timeout_ms", "batch_entries"]

    /// The section at `entry` (the top-level `federation:`); nil when it is null.
    func federation(_ entry: YAMLEntry) throws(ConfigError) -> FederationConfig? {
        let node = entry.value
        if node.isNull { return nil }
        let s = try section(node, "federation", keys: Self.federationKeys)
        func required(_ key: String) throws(ConfigError) -> YAMLNode {
            guard let value = s[key] else {
                throw ConfigError(path: path, line: entry.line, column: entry.column,
                                  message: "federation: missing required key '\(key)'")
            }
            return value
        }
        var f = FederationConfig(node: try nodeID(try required("node"), "federation.node"),
                                 cluster: try addresses(try required("cluster"), "federation.cluster"),
                                 topics: try federatedTopics(try required("topics"), "federation.topics"))
        if let n = s["user"], let v = try authUser(n, "federation.user") { f.user = v }
        if let n = s["password"], let v = try plainPasswordText(n, "federation.password") { f.password = v }
        if let n = s["prefix"], let v = try keyPrefix(n, "federation.prefix") { f.prefix = v }
        if let n = s["wait_replicas"],
           let v = try integer(n, "federation.wait_replicas", ConfigLimits.federationWaitReplicas) {
            f.waitReplicas = v
        }
        if let n = s["wait_timeout_ms"],
           let v = try integer(n, "federation.wait_timeout_ms", ConfigLimits.federationWaitTimeoutMillis) {
            f.waitTimeoutMillis = v
        }
        if let n = s["batch_entries"],
           let v = try integer(n, "federation.batch_entries", ConfigLimits.federationBatchEntries) {
            f.batchEntries = v
        }
        return f
    }

    // MARK: - Value kinds

    /// A required text value: null is refused (`got null`), not a default.
    private func requiredScalar(_ node: YAMLNode, _ key: String, _ expected: String) throws(ConfigError) -> String {
        guard !node.isNull, let text = try scalar(node, key, expected) else {
            throw mismatch(node, key, expected, note: " (null)")
        }
        return text
    }

    /// `node`: 1–64 bytes of `A–Z a–z 0–9 _ . -`.
    private func nodeID(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String {
        let bytes = FederationConfig.nodeBytes
        let expected = "a node id of \(bytes.lowerBound) to \(bytes.upperBound) letters, digits, '_', '.' or '-'"
        let text = try requiredScalar(node, key, expected)
        guard bytes.contains(text.utf8.count), text.utf8.allSatisfy(FederationConfig.isNodeByte) else {
            throw mismatch(node, key, expected)
        }
        return text
    }

    /// `prefix`: 1–64 bytes of `A–Z a–z 0–9 _ . : -`; nil for null (the default).
    private func keyPrefix(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        let bytes = FederationConfig.prefixBytes
        let expected = "a key prefix of \(bytes.lowerBound) to \(bytes.upperBound) letters, digits, '_', '.', ':' or '-'"
            + " (no '{' or '}': the keys' hash tags follow it)"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard bytes.contains(text.utf8.count), text.utf8.allSatisfy(FederationConfig.isPrefixByte) else {
            throw mismatch(node, key, expected)
        }
        return text
    }

    /// `user`: Redis's rule for a user name (no space or NUL), not empty; nil for null.
    private func authUser(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        let expected = "a user name: not empty, without spaces or NUL bytes"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard !text.isEmpty, !text.utf8.contains(where: Self.isSpaceOrNUL) else { throw mismatch(node, key, expected) }
        return text
    }

    /// `topics`: one pattern or a sequence of them, at least one, none empty,
    /// none that can match only the server's own topics.
    private func federatedTopics(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String] {
        var patterns: [String] = []
        for (item, name) in try listItems(node, key, "at least one topic pattern (a string or a sequence of strings)") {
            guard case .scalar(let text, _) = item.content, !item.isNull, !text.isEmpty else {
                throw mismatch(item, name, "a non-empty topic pattern", note: item.isNull ? " (null)" : "")
            }
            guard !text.hasPrefix(FederationConfig.serverTopicPrefix) else {
                throw fail(item, "\(name): '\(text)' can match only the server's own"
                               + " \(FederationConfig.serverTopicPrefix) topics, which are never federated")
            }
            patterns.append(text)
        }
        return patterns
    }

    /// `cluster`: one address or a sequence of them, at least one.
    private func addresses(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [FederationConfig.Address] {
        var list: [FederationConfig.Address] = []
        for (item, name) in try listItems(node, key, "at least one address host:port (a string or a sequence of strings)") {
            list.append(try address(item, name))
        }
        return list
    }

    /// The items of a required list, each with its name in messages
    /// (`key[index]`); one value stands for a list of one (named `key`).
    /// Null and an empty sequence are refused.
    private func listItems(_ node: YAMLNode, _ key: String,
                           _ expected: String) throws(ConfigError) -> [(YAMLNode, String)] {
        if node.isNull { throw mismatch(node, key, expected, note: " (null)") }
        switch node.content {
        case .sequence(let items):
            guard !items.isEmpty else { throw mismatch(node, key, expected) }
            return items.enumerated().map { ($0.element, "\(key)[\($0.offset)]") }
        case .scalar: return [(node, key)]
        case .mapping: throw mismatch(node, key, expected)
        }
    }

    /// `host:port`, or `[ipv6]:port`: a host name or IPv4 address of
    /// letters, digits, `.`, `-` and `_`, or an IPv6 address as inet_pton
    /// reads it; a port from 1 to 65535.
    private func address(_ node: YAMLNode, _ key: String) throws(ConfigError) -> FederationConfig.Address {
        let ports = ConfigLimits.federationPort
        let expected = "an address host:port (an IPv6 address as [::1]:7000)"
        let text = try requiredScalar(node, key, expected)
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw mismatch(node, key, expected, note: " (no ']')") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw mismatch(node, key, expected, note: " (no port)") }
            port = rest.dropFirst()
            var address = in6_addr()
            guard inet_pton(AF_INET6, String(host), &address) == 1 else {
                throw mismatch(node, key, expected, note: " (not an IPv6 address between the brackets)")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw mismatch(node, key, expected, note: " (no port)") }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            guard !host.contains(":") else {
                throw mismatch(node, key, expected, note: " (an IPv6 address goes between brackets)")
            }
            guard !host.isEmpty else { throw mismatch(node, key, expected, note: " (no host)") }
            // A host name or an IPv4 address: the bytes a node id may have.
            guard host.utf8.allSatisfy(FederationConfig.isNodeByte) else { throw mismatch(node, key, expected) }
        }
        guard !port.isEmpty else { throw mismatch(node, key, expected, note: " (no port)") }
        guard port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(port),
              ports.contains(number) else {
            throw mismatch(node, key, expected, note: " (the port must be from \(ports.lowerBound) to \(ports.upperBound))")
        }
        return FederationConfig.Address(host: String(host), port: number)
    }
}
