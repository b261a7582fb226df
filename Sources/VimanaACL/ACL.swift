// Redis 7.0.15's ACL users (src/acl.c is the reference; every reply and
// error text here is checked against a real redis-server by ACLParityTests).
// Pure: no kernel, no sockets. The kernel gives the catalogue of its
// commands, keeps the users, and renders ACL LIST / GETUSER from them.
import VimanaCore

/// Why a rule was refused: Redis's text after
/// `ERR Error in ACL SETUSER modifier '<rule>': ` (for example `Syntax error`).
public struct ACLRuleError: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }

    // Redis 7.0.15's texts (ACLSetUserStringError), each checked against a real redis-server.
    static let syntax = ACLRuleError("Syntax error")
    static let unknownName = ACLRuleError("Unknown command or category name in ACL")
    static let allKeysAlready = ACLRuleError(
        "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. "
            + "Try 'resetkeys' to start with an empty list of patterns")
    static let allChannelsAlready = ACLRuleError(
        "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. "
            + "Try 'resetchannels' to start with an empty list of channels")
    static let noSuchPassword = ACLRuleError("The password you are trying to remove from the user does not exist")
    static let badHash = ACLRuleError(
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
    static let firstArgumentOfSubcommand = ACLRuleError("Allowing first-arg of a subcommand is not supported")
}

/// Why ACL SETUSER refused a rule list: the whole error text after `ERR `
/// (`Error in ACL SETUSER modifier '<rule>': Syntax error`, or
/// `Unmatched parenthesis in acl selector starting at '<arg>'.`).
public struct ACLSetUserError: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// One user, as Redis 7.0 keeps it: flags, password digests, the root
/// selector and the selectors added with `(...)` rules.
/// A value: the kernel keeps the table and swaps in a changed user whole,
/// so a rule list that fails part-way changes nothing (as ACL SETUSER).
///
/// The per-request checks (`allows`, `allowedTopLevel`, `allowsChannel`,
/// `allowsChannelPattern`, `allowsKey`) ask the root selector only: the fast
/// path for a user without selectors. Redis allows a request when any
/// selector allows the command with all its keys and channels, and a
/// command blocked but for some first arguments (`+select|0`) by its first
/// argument: `check(_:firstArgument:resources:)` is that whole check, for a
/// request the root selector refuses when `selectors` is not empty or the
/// command has `firstArguments`, and it says which refusal Redis reports.
public struct ACLUser: Sendable, Equatable {
    /// Redis's payload-sanitizing flags (RESTORE); kept and listed only.
    public enum SanitizePayload: Sendable, Equatable { case unset, sanitize, skip }

    public let name: String
    /// `on` / `off`.
    public private(set) var enabled: Bool
    public private(set) var nopass: Bool
    public private(set) var sanitizePayload: SanitizePayload
    /// SHA-256 digests (32 bytes each), in the order Redis lists them.
    public private(set) var passwordHashes: [[UInt8]]
    /// The rules outside parentheses.
    public private(set) var root: ACLSelector
    /// The `(...)` selectors, in the order they were added.
    public private(set) var selectors: [ACLSelector]

    /// `allkeys` / `~*` (root selector).
    public var allKeys: Bool { root.allKeys }
    /// `allchannels` / `&*` (root selector).
    public var allChannels: Bool { root.allChannels }
    /// The root selector's key patterns (see `root.keyPatterns` for their read/write permissions).
    public var keyPatterns: [[UInt8]] { root.keyPatterns.map(\.pattern) }
    public var channelPatterns: [[UInt8]] { root.channelPatterns }

    /// A new user as ACL SETUSER creates it: off, no password, no commands,
    /// no keys, no channels (Redis 7.0's `acl-pubsub-default resetchannels`).
    public init(name: String, catalogue: ACLCatalogue) {
        self.name = name
        enabled = false
        nopass = false
        sanitizePayload = .unset
        passwordHashes = []
        root = ACLSelector(catalogue: catalogue)
        selectors = []
    }

    /// ACL SETUSER's check of a user name (Redis: "Usernames can't contain
    /// spaces or null characters").
    public static func isValidName(_ name: [UInt8]) -> Bool { !ACLRules.hasSpaces(name) }

    /// Redis's `default` user with no password: `on nopass ~* &* +@all`.
    public static func unrestricted(name: String, catalogue: ACLCatalogue) -> ACLUser {
        var user = ACLUser(name: name, catalogue: catalogue)
        user.root.setAll(true, catalogue)
        user.root.allKeys = true
        user.root.allChannels = true
        user.enabled = true
        user.nopass = true
        return user
    }

    /// Applies one rule of Redis 7.0's ACL SETUSER syntax (`on`, `>pass`,
    /// `#hash`, `~pat`, `%R~pat`, `&pat`, `+@cat`, `+cmd|sub`, `(...)`,
    /// `reset`, …). A `>pass` is kept only as its digest. On error the user
    /// may be partly changed: apply a list to a copy (`apply(rules:)` does).
    /// As Redis 7.0, the words are read up to a NUL (`on\0x` is `on`),
    /// passwords and hashes whole, and a selector's inside up to its first
    /// NUL (Redis splits it as a C string).
    public mutating func apply(_ rule: [UInt8], catalogue: ACLCatalogue) throws(ACLRuleError) {
        if rule.isEmpty { return }  // Redis: an empty rule is a no-op.
        let word = ACLRules.cString(rule)
        if ACLRules.equalsIgnoringCase(word, "on") {
            enabled = true
        } else if ACLRules.equalsIgnoringCase(word, "off") {
            enabled = false
        } else if ACLRules.equalsIgnoringCase(word, "skip-sanitize-payload") {
            sanitizePayload = .skip
        } else if ACLRules.equalsIgnoringCase(word, "sanitize-payload") {
            sanitizePayload = .sanitize
        } else if ACLRules.equalsIgnoringCase(word, "nopass") {
            nopass = true
            passwordHashes = []
        } else if ACLRules.equalsIgnoringCase(word, "resetpass") {
            nopass = false
            passwordHashes = []
        } else if rule[0] == UInt8(ascii: ">") || rule[0] == UInt8(ascii: "#") {
            let digest = try Self.digest(rule)
            if !passwordHashes.contains(digest) { passwordHashes.append(digest) }
            nopass = false
        } else if rule[0] == UInt8(ascii: "<") || rule[0] == UInt8(ascii: "!") {
            let digest = try Self.digest(rule)
            guard let index = passwordHashes.firstIndex(of: digest) else { throw .noSuchPassword }
            passwordHashes.remove(at: index)
        } else if rule[0] == UInt8(ascii: "("), rule.count >= 2, rule[rule.count - 1] == UInt8(ascii: ")") {
            var selector = ACLSelector(catalogue: catalogue)
            // Redis splits the inside as a command line; an unbalanced quote gives no rules at all.
            for inner in ACLArgumentSplitter.split(ACLRules.cString(Array(rule[1..<(rule.count - 1)]))) ?? [] {
                try selector.apply(inner, catalogue: catalogue)
            }
            selectors.append(selector)
        } else if ACLRules.equalsIgnoringCase(word, "clearselectors") {
            selectors = []
        } else if ACLRules.equalsIgnoringCase(word, "reset") {
            nopass = false
            passwordHashes = []
            root.allKeys = false
            root.keyPatterns = []
            root.allChannels = false
            root.channelPatterns = []
            enabled = false
            sanitizePayload = .sanitize
            selectors = []
            root.setAll(false, catalogue)
        } else {
            try root.apply(rule, catalogue: catalogue)
        }
    }

    /// `>pass` / `<pass` hash the password; `#hex` / `!hex` must be 64 lower-case hex digits.
    private static func digest(_ rule: [UInt8]) throws(ACLRuleError) -> [UInt8] {
        let body = rule.dropFirst()
        if rule[0] == UInt8(ascii: ">") || rule[0] == UInt8(ascii: "<") { return SHA256.digest(body) }
        guard body.count == 2 * SHA256.digestLength else { throw .badHash }
        var digest: [UInt8] = []
        digest.reserveCapacity(SHA256.digestLength)
        var high: UInt8 = 0
        for (i, c) in body.enumerated() {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: throw .badHash
            }
            if i % 2 == 0 { high = nibble << 4 } else { digest.append(high | nibble) }
        }
        return digest
    }

    /// ACL SETUSER's rule list: arguments that open a `(` are joined with
    /// spaces up to the one that closes it (Redis's ACLMergeSelectorArguments),
    /// then every rule is applied to a copy, which replaces this user only
    /// when all succeed. The error is Redis's text after `ERR `.
    public mutating func apply(rules: [[UInt8]], catalogue: ACLCatalogue) throws(ACLSetUserError) {
        var merged: [[UInt8]] = []
        var open: (index: Int, joined: [UInt8])? = nil
        for (index, argument) in rules.enumerated() {
            let opens = argument.first == UInt8(ascii: "(") && argument.last != UInt8(ascii: ")")
            if opens {
                open = (index, argument)
            } else if var selector = open {
                // Redis appends a continuation with `" %s"` (up to a NUL),
                // and tests the whole argument's last byte for `)`.
                selector.joined.append(UInt8(ascii: " "))
                selector.joined.append(contentsOf: ACLRules.cString(argument))
                if argument.last == UInt8(ascii: ")") {
                    merged.append(selector.joined)
                    open = nil
                } else {
                    open = selector
                }
            } else {
                merged.append(argument)
            }
        }
        if let unmatched = open {
            throw ACLSetUserError("Unmatched parenthesis in acl selector starting at '"
                + String(decoding: ACLRules.cString(rules[unmatched.index]), as: UTF8.self) + "'.")
        }
        var copy = self
        for rule in merged {
            do {
                try copy.apply(rule, catalogue: catalogue)
            } catch {
                // Redis prints the rule with `%s`: up to its first NUL.
                throw ACLSetUserError("Error in ACL SETUSER modifier '" + String(decoding: ACLRules.cString(rule), as: UTF8.self)
                    + "': " + error.message)
            }
        }
        self = copy
    }

    // MARK: - Checks (root selector)

    /// The root selector's checks are the whole answer: no `(...)` selectors
    /// and no `+cmd|arg` first arguments. When false, a request the root
    /// refuses goes to `check(_:firstArgument:resources:)`.
    public var rootDecidesAlone: Bool { selectors.isEmpty && root.firstArguments.isEmpty }

    /// May run the command or subcommand with this id (root selector).
    @inlinable
    public func allows(_ id: Int) -> Bool { root.allows(id) }

    /// Every top-level command allowed whole (for a container: every
    /// subcommand), one bit per id below `topLevelCount`, 64 ids per word:
    /// what the kernel tests per request (root selector).
    public func allowedTopLevel(catalogue: ACLCatalogue) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: (catalogue.topLevelCount + 63) / 64)
        for id in 0..<catalogue.topLevelCount {
            let subs = catalogue.subcommands[id]
            let whole = subs.isEmpty ? root.allows(id) : subs.allSatisfy { root.allows($0) }
            if whole { words[id >> 6] |= 1 << UInt64(id & 63) }
        }
        return words
    }

    /// PUBLISH, SUBSCRIBE: the channel matches one of the channel patterns (glob).
    public func allowsChannel(_ channel: UnsafeRawBufferPointer) -> Bool { root.allowsChannel(channel) }
    /// PSUBSCRIBE: the pattern is literally one of the channel patterns (Redis's rule).
    public func allowsChannelPattern(_ pattern: UnsafeRawBufferPointer) -> Bool { root.allowsChannelPattern(pattern) }
    /// A stream key (topic used as a stream): matches a key pattern granting
    /// `access` (`~pat` grants both, `%R~` read, `%W~` write). The default
    /// asks for both, the strictest.
    public func allowsKey(_ key: UnsafeRawBufferPointer, access: ACLKeyAccess = .readWrite) -> Bool {
        root.allowsKey(key, access: access)
    }

    /// The password's digest is one of `passwordHashes`, compared in constant
    /// time; always true for `nopass`. (`enabled` is the caller's to check,
    /// as Redis refuses an `off` user before it looks at the password.)
    public func accepts(password: [UInt8]) -> Bool {
        if nopass { return true }
        return Self.digest(of: password, isOneOf: passwordHashes)
    }

    /// The SHA-256 of `password` is one of `digests`, in a time that does
    /// not depend on where they differ (every digest is compared whole).
    public static func digest(of password: [UInt8], isOneOf digests: [[UInt8]]) -> Bool {
        let digest = SHA256.digest(password)
        var found = false
        for stored in digests where stored.count == digest.count {
            var difference: UInt8 = 0
            for i in 0..<digest.count { difference |= stored[i] ^ digest[i] }
            if difference == 0 { found = true }
        }
        return found
    }
}
