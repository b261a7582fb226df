// CONTRACT between the helpers of issue 11 (lead's skeleton, branch fix12/acl-api).
// acl-model implements every body marked CONTRACT and may ADD to this API;
// it changes a signature only by telling the lead. Nothing here may reach
// main with a CONTRACT body left.

/// What the rules can name: every command and subcommand the server has,
/// with Redis's ACL categories. Given by the kernel (from its command table)
/// once at start; the rules know nothing of the kernel.
///
/// Ids: the top-level commands get ids `0..<topLevelCount` in the order
/// given (so the kernel's `Command.rawValue` is its id), then each
/// container's subcommands, in order.
public struct ACLCatalogue: Sendable {
    public struct Entry: Sendable {
        /// Lower case: `publish`, or `config|get` for a subcommand.
        public let name: String
        /// Redis's category names without `@` (`pubsub`, `fast`, …).
        public let categories: [String]
        public init(name: String, categories: [String]) {
            self.name = name
            self.categories = categories
        }
    }

    /// - Parameter commands: each top-level command in id order, with its
    ///   subcommands (empty for a plain command). A container's own
    ///   categories are ignored for `+@cat`, as Redis's (its subcommands carry them).
    public init(commands: [(command: Entry, subcommands: [Entry])]) {
        fatalError("CONTRACT")
    }

    /// Redis 7.0's 21 categories, in ACL CAT's order.
    public static let categories: [String] = [
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
        "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
        "transaction", "scripting",
    ]

    /// ACL CAT <category>: the names in it (subcommands as `container|sub`); nil for an unknown category.
    public func commands(inCategory name: String) -> [String]? { fatalError("CONTRACT") }

    /// The id of a top-level command's subcommand named `sub` (lower case), if any.
    public func subcommandID(of command: Int, _ sub: String) -> Int? { fatalError("CONTRACT") }
}

/// Why a rule was refused: Redis's text after
/// `ERR Error in ACL SETUSER modifier '<rule>': ` (for example `Syntax error`).
public struct ACLRuleError: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// One user: Redis 7.0's root selector (selectors in parentheses are
/// acl-model's call: supported, or refused with a clear error).
/// A value: the kernel keeps the table and swaps in a changed user whole,
/// so a rule list that fails part-way changes nothing (as ACL SETUSER).
public struct ACLUser: Sendable, Equatable {
    public let name: String
    /// `on` / `off`.
    public private(set) var enabled: Bool
    public private(set) var nopass: Bool
    /// SHA-256 digests (32 bytes each), in the order Redis lists them.
    public private(set) var passwordHashes: [[UInt8]]
    /// `allkeys` / `~*`; `allchannels` / `&*`.
    public private(set) var allKeys: Bool
    public private(set) var allChannels: Bool
    public private(set) var keyPatterns: [[UInt8]]
    public private(set) var channelPatterns: [[UInt8]]

    /// A new user as ACL SETUSER creates it: off, no password, no commands,
    /// no keys, no channels (Redis 7.0's `acl-pubsub-default resetchannels`).
    public init(name: String, catalogue: ACLCatalogue) { fatalError("CONTRACT") }

    /// Redis's `default` user with no password: `on nopass ~* &* +@all`.
    public static func unrestricted(name: String, catalogue: ACLCatalogue) -> ACLUser { fatalError("CONTRACT") }

    /// Applies one rule of Redis 7.0's ACL SETUSER syntax (`on`, `>pass`,
    /// `#hash`, `~pat`, `&pat`, `+@cat`, `+cmd|sub`, `reset`, …). A `>pass`
    /// is kept only as its digest.
    public mutating func apply(_ rule: [UInt8], catalogue: ACLCatalogue) throws(ACLRuleError) { fatalError("CONTRACT") }

    /// May run the command or subcommand with this id.
    public func allows(_ id: Int) -> Bool { fatalError("CONTRACT") }

    /// Every top-level command allowed whole (for a container: every
    /// subcommand), one bit per id below `topLevelCount`, 64 ids per word:
    /// what the kernel tests per request.
    public func allowedTopLevel(catalogue: ACLCatalogue) -> [UInt64] { fatalError("CONTRACT") }

    /// PUBLISH, SUBSCRIBE: the channel matches one of the channel patterns (glob).
    public func allowsChannel(_ channel: UnsafeRawBufferPointer) -> Bool { fatalError("CONTRACT") }
    /// PSUBSCRIBE: the pattern is literally one of the channel patterns (Redis's rule).
    public func allowsChannelPattern(_ pattern: UnsafeRawBufferPointer) -> Bool { fatalError("CONTRACT") }
    /// A stream key (topic used as a stream): matches one of the key patterns (glob).
    public func allowsKey(_ key: UnsafeRawBufferPointer) -> Bool { fatalError("CONTRACT") }

    /// The password's digest is one of `passwordHashes`, compared in constant
    /// time; always true for `nopass`.
    public func accepts(password: [UInt8]) -> Bool { fatalError("CONTRACT") }

    /// ACL LIST's line, Redis 7.0.15's text: `user alice on #… ~foo* resetchannels &bar -@all +@pubsub`.
    public func describe(catalogue: ACLCatalogue) -> String { fatalError("CONTRACT") }
    /// ACL GETUSER's `commands` value: `-@all +@pubsub -publish`.
    public func describeCommands(catalogue: ACLCatalogue) -> String { fatalError("CONTRACT") }
}
