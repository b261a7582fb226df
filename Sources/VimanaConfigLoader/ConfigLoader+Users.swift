import VimanaConfig

/// The `users:` section of phoenix.yaml: Redis ACL users (see `UserConfig`).
///
/// Each entry is named `users[index]` in messages. The loader checks what it
/// can without the command table: names, credentials, the shape of each
/// permission rule; the kernel checks command and category names at start and
/// reports a rule it refuses at the rule's position. A plain password is
/// never kept, echoed or rendered: only its SHA-256 digest.
extension Schema {
    static let userKeys = ["name", "enabled", "password_hashes", "password_file", "password", "nopass", "permissions", "limits"]
    /// The keys that set a user's password (or its absence): one source per password.
    static let credentialKeys = ["password_hashes", "password_file", "password", "nopass"]

    /// The entries in file order, and the warnings about them (a plain `password`).
    /// - Parameter kernelPassword: where `kernel.password` is set, if it is: a
    ///   `default` entry that also sets credentials is refused.
    func users(_ node: YAMLNode, kernelPassword: YAMLEntry?) throws(ConfigError) -> ([UserConfig], [ConfigWarning]) {
        if node.isNull { return ([], []) }
        guard case .sequence(let items) = node.content else {
            throw mismatch(node, "users", "a sequence of user mappings (- name: …)")
        }
        var users: [UserConfig] = []
        var warnings: [ConfigWarning] = []
        // Where each name was first declared, for the duplicate message.
        var seen: [String: (line: Int, column: Int)] = [:]
        for (index, item) in items.enumerated() {
            let name = "users[\(index)]"
            let (user, nameNode) = try user(item, name, warnings: &warnings)
            if let first = seen[user.name] {
                throw fail(nameNode, "\(name).name: duplicate user '\(user.name)'"
                               + " (first at line \(first.line), column \(first.column))")
            }
            seen[user.name] = (nameNode.line, nameNode.column)
            if user.name == Self.defaultUser, let kernelPassword, case .mapping(let entries) = item.content,
               let credential = entries.first(where: { Self.credentialKeys.contains($0.key) && !$0.value.isNull }) {
                throw ConfigError(path: path, line: credential.line, column: credential.column,
                                  message: "\(name).\(credential.key): the default user's password is also set by"
                                      + " kernel.password (line \(kernelPassword.line), column \(kernelPassword.column));"
                                      + " keep one of the two")
            }
            users.append(user)
        }
        return (users, warnings)
    }

    /// Redis's user that every connection starts as; it exists whether declared or not.
    static let defaultUser = "default"

    // MARK: - One entry

    /// The entry and its `name` value (for the duplicate check).
    private func user(_ node: YAMLNode, _ name: String,
                      warnings: inout [ConfigWarning]) throws(ConfigError) -> (UserConfig, YAMLNode) {
        guard case .mapping(let entries) = node.content else {
            throw mismatch(node, name, "a mapping with keys \(Self.userKeys.joined(separator: ", "))")
        }
        let s = try section(node, name, keys: Self.userKeys)
        guard let nameNode = s["name"] else { throw fail(node, "\(name): missing required key 'name'") }
        var u = UserConfig(name: try userName(nameNode, "\(name).name"))
        u.line = node.line
        u.column = node.column

        if let n = s["enabled"], let v = try boolean(n, "\(name).enabled") { u.enabled = v }
        var hashes: [String] = []
        if let n = s["password_hashes"] { hashes += try passwordHashes(n, "\(name).password_hashes") }
        if let n = s["password_file"] { hashes += try passwordFile(n, "\(name).password_file") }
        if let n = s["password"], let digest = try plainPassword(n, "\(name).password") {
            hashes.append(digest)
            warnings.append(ConfigWarning(
                path: path, line: n.line, column: n.column,
                message: "\(name).password: user '\(u.name)' has a plain password in the configuration file;"
                    + " use password_hashes (its SHA-256, as `echo -n PASSWORD | sha256sum` prints it) or password_file"))
        }
        // Redis keeps one copy of a hash given twice (`ACL SETUSER u >a >a` lists one).
        for hash in hashes where !u.passwordHashes.contains(hash) { u.passwordHashes.append(hash) }
        if let n = s["nopass"], let v = try boolean(n, "\(name).nopass") {
            // In file order, so that the first such key is the one reported.
            if v, let other = entries.first(where: { ["password_hashes", "password_file", "password"].contains($0.key)
                                                      && !$0.value.isNull }) {
                throw fail(n, "\(name).nopass: true accepts any password, but this user also has \(other.key)"
                               + " (line \(other.line), column \(other.column)); keep one of the two")
            }
            u.nopass = v
        }
        if let n = s["permissions"] { u.rules = try rules(n, "\(name).permissions") }
        if let n = s["limits"] { u.limits = try userLimits(n, "\(name).limits") }
        return (u, nameNode)
    }

    // MARK: - Value kinds

    /// Redis's rule for a user name (ACL SETUSER refuses a name with spaces or
    /// NUL: `isspace` and 0), and not empty (a mistake, though Redis takes it).
    private func userName(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String {
        let expected = "a user name: not empty, without spaces or NUL bytes"
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            throw mismatch(node, key, expected, note: node.isNull ? " (null)" : "")
        }
        guard !text.isEmpty, !text.utf8.contains(where: Self.isSpaceOrNUL) else { throw mismatch(node, key, expected) }
        return text
    }

    /// C's `isspace` in the C locale, and NUL: what Redis refuses in user names and in rules.
    static func isSpaceOrNUL(_ byte: UInt8) -> Bool {
        byte == 0 || byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// `#<64 hex>` (Redis's form) or 64 hex digits, in any case; lower-cased, as Redis shows them.
    /// The value is never echoed: a password put here by mistake must not reach a log.
    private func passwordHashes(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String] {
        let expected = "a SHA-256 digest: 64 hex digits, optionally after '#' (not shown: it may be a password)"
        if node.isNull { return [] }
        let items: [(YAMLNode, String)]
        if case .sequence(let list) = node.content {
            items = list.enumerated().map { ($0.element, "\(key)[\($0.offset)]") }
        } else {
            items = [(node, key)]
        }
        var hashes: [String] = []
        for (item, itemKey) in items {
            guard case .scalar(let text, _) = item.content, !item.isNull else {
                // `- #e3b0…` is a YAML comment: the item is null.
                let message = item.isNull
                    ? "\(itemKey): expected a SHA-256 digest, got nothing (a '#' after a space starts a YAML comment: quote the hash)"
                    : "\(itemKey): expected \(expected), got \(item.summary)"
                throw fail(item, message)
            }
            var digits = Array(text.utf8)
            if digits.first == UInt8(ascii: "#") { digits.removeFirst() }
            guard digits.count == Self.sha256HexDigits, digits.allSatisfy(Self.isHexDigit) else {
                throw fail(item, "\(itemKey): expected \(expected)")
            }
            hashes.append(Self.lowerASCII(String(decoding: digits, as: UTF8.self)))
        }
        return hashes
    }

    /// SHA-256's 32 bytes as hex.
    static let sha256HexDigits = 64

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    /// The permissions, in file order, each with its position. A sequence of
    /// rules, or one rule standing for a sequence of one.
    private func rules(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [UserConfig.Rule] {
        if node.isNull { return [] }
        let items: [(YAMLNode, String)]
        switch node.content {
        case .sequence(let list): items = list.enumerated().map { ($0.element, "\(key)[\($0.offset)]") }
        case .scalar: items = [(node, key)]
        case .mapping: throw mismatch(node, key, "a sequence of Redis ACL rules (\"+@pubsub\", \"~tasks.*\", …)")
        }
        var rules: [UserConfig.Rule] = []
        for (item, itemKey) in items {
            guard case .scalar(let text, _) = item.content, !item.isNull, !text.isEmpty else {
                throw mismatch(item, itemKey, "a Redis ACL rule", note: item.isNull ? " (null)" : "")
            }
            try checkRuleShape(text, item, itemKey)
            rules.append(UserConfig.Rule(text, line: item.line, column: item.column))
        }
        return rules
    }

    /// The permission rules of Redis 7.0's ACL SETUSER, by their first character or keyword.
    static let ruleShapes = "+command, -command, +command|subcommand, +@category, -@category, ~pattern,"
        + " %R~pattern, %W~pattern, %RW~pattern, &pattern, allkeys, allchannels, allcommands, nocommands,"
        + " resetkeys, resetchannels"
    static let ruleKeywords: Set<String> = ["allkeys", "allchannels", "allcommands", "nocommands", "resetkeys", "resetchannels"]

    /// Refuses what is not one of `ruleShapes`, with the key to use instead for
    /// the rules that set a user's state (`on`, `nopass`, `>password` …). A
    /// password rule is never echoed.
    private func checkRuleShape(_ text: String, _ node: YAMLNode, _ key: String) throws(ConfigError) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first else { throw mismatch(node, key, "a Redis ACL rule") }
        switch first {
        case UInt8(ascii: ">"), UInt8(ascii: "<"), UInt8(ascii: "#"), UInt8(ascii: "!"):
            throw fail(node, "\(key): a password rule does not belong in permissions (not shown);"
                           + " use password_hashes, password_file or password")
        default: break
        }
        guard !bytes.contains(where: Self.isSpaceOrNUL) else {
            throw fail(node, "\(key): a rule holds no spaces, got \(node.summary); write one rule per item")
        }
        let keyword = Self.lowerASCII(text)
        let instead: [String: String] = [
            "on": "enabled: true", "off": "enabled: false", "nopass": "nopass: true",
            "resetpass": "the user's password keys (a user has no password unless given one)",
            "reset": "nothing (a user starts with no permissions)",
        ]
        if let use = instead[keyword] {
            throw fail(node, "\(key): '\(text)' does not belong in permissions; use \(use)")
        }
        if Self.ruleKeywords.contains(keyword) { return }
        let rest = bytes.dropFirst()
        switch first {
        case UInt8(ascii: "~"), UInt8(ascii: "&"):
            return
        case UInt8(ascii: "%"):
            // `%R~`, `%W~`, `%RW~` (Redis 7.0's read/write key permissions).
            if let tilde = rest.firstIndex(of: UInt8(ascii: "~")), tilde > rest.startIndex,
               rest[rest.startIndex..<tilde].allSatisfy({ [UInt8(ascii: "R"), UInt8(ascii: "W")].contains($0 & 0xDF) }) {
                return
            }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let name = rest.first == UInt8(ascii: "@") ? rest.dropFirst() : rest
            if !name.isEmpty, name.last != UInt8(ascii: "|") { return }
        default:
            break
        }
        throw fail(node, "\(key): unknown ACL rule \(node.summary) (expected one of \(Self.ruleShapes))")
    }

    private func userLimits(_ node: YAMLNode, _ key: String) throws(ConfigError) -> UserLimits {
        var l = UserLimits()
        let s = try section(node, key, keys: ["connections", "publish_rate", "publish_bytes"])
        if let n = s["connections"] { l.connections = try integer(n, "\(key).connections", ConfigLimits.userConnections) }
        if let n = s["publish_rate"] { l.publishRate = try integer(n, "\(key).publish_rate", ConfigLimits.userPublishRate) }
        if let n = s["publish_bytes"] { l.publishBytes = try size(n, "\(key).publish_bytes", ConfigLimits.userPublishBytes) }
        return l
    }
}
