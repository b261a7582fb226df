/// What the rules can name: every command and subcommand the server has,
/// with Redis's ACL categories. Given by the kernel (from its command table)
/// once at start; the rules know nothing of the kernel.
///
/// Ids: the top-level commands get ids `0..<topLevelCount` in the order
/// given (so the kernel's `Command.rawValue` is its id), then each
/// container's subcommands, in order.
///
/// Where Redis walks its command hash table (ACL CAT, `+@cat`, the single
/// commands of a description), we walk this order: each top-level command,
/// then its subcommands.
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

    /// Every command and subcommand, by id.
    public let entries: [Entry]
    /// Ids below this are top-level commands.
    public let topLevelCount: Int
    /// For a top-level id: the ids of its subcommands (empty for a plain command).
    let subcommands: [Range<Int>]
    /// For each id: its parent's id, or nil for a top-level command.
    let parent: [Int?]
    /// For each id: one bit per category, in `categories`' order.
    let categoryMask: [UInt32]
    /// Lower-case full name (`config|get`) → id.
    let ids: [String: Int]

    /// - Parameter commands: each top-level command in id order, with its
    ///   subcommands (empty for a plain command). A container's own
    ///   categories count as Redis's do: Redis 7.0 puts every container in
    ///   `@slow`, so `+@slow` allows the container and all its subcommands,
    ///   and ACL CAT slow lists it. Category names may carry a leading `@`;
    ///   names that are not Redis categories are ignored.
    public init(commands: [(command: Entry, subcommands: [Entry])]) {
        var entries = commands.map(\.command)
        var subcommands: [Range<Int>] = []
        var parent: [Int?] = Array(repeating: nil, count: commands.count)
        for (id, command) in commands.enumerated() {
            let first = entries.count
            entries.append(contentsOf: command.subcommands)
            parent.append(contentsOf: Array(repeating: id, count: command.subcommands.count))
            subcommands.append(first..<entries.count)
        }
        var ids: [String: Int] = [:]
        for (id, entry) in entries.enumerated() where ids[entry.name.lowercased()] == nil {
            ids[entry.name.lowercased()] = id
        }
        self.entries = entries
        self.topLevelCount = commands.count
        self.subcommands = subcommands
        self.parent = parent
        self.ids = ids
        self.categoryMask = entries.map { entry in
            var mask: UInt32 = 0
            for name in entry.categories {
                let bare = name.hasPrefix("@") ? String(name.dropFirst()) : name
                if let bit = Self.categoryIndex(bare) { mask |= 1 << UInt32(bit) }
            }
            return mask
        }
    }

    /// Redis 7.0's 21 categories, in ACL CAT's order.
    public static let categories: [String] = [
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
        "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
        "transaction", "scripting",
    ]

    /// The position of a category in `categories`, case-insensitive (Redis's strcasecmp).
    static func categoryIndex(_ name: String) -> Int? {
        let lower = name.lowercased()
        return categories.firstIndex(of: lower)
    }

    /// Every id, in Redis's walk order: each top-level command, then its subcommands.
    func forEachInWalkOrder(_ body: (Int) -> Void) {
        for id in 0..<topLevelCount {
            body(id)
            for sub in subcommands[id] { body(sub) }
        }
    }

    /// ACL CAT <category>: the names in it (subcommands as `container|sub`); nil for an unknown category.
    public func commands(inCategory name: String) -> [String]? {
        guard let bit = Self.categoryIndex(name) else { return nil }
        var names: [String] = []
        forEachInWalkOrder { id in
            if categoryMask[id] & (1 << UInt32(bit)) != 0 { names.append(entries[id].name) }
        }
        return names
    }

    /// The id of a top-level command's subcommand named `sub` (lower case), if any.
    public func subcommandID(of command: Int, _ sub: String) -> Int? {
        guard command >= 0, command < topLevelCount, !subcommands[command].isEmpty else { return nil }
        guard let id = ids[entries[command].name.lowercased() + "|" + sub.lowercased()],
              parent[id] == command else { return nil }
        return id
    }

    /// True when the top-level command has subcommands.
    public func isContainer(_ id: Int) -> Bool {
        id >= 0 && id < topLevelCount && !subcommands[id].isEmpty
    }

    /// Redis's ACLLookupCommand: `name` or `container|sub`, case-insensitive;
    /// `plain|x` (a command with no subcommands) and three parts are not found.
    func lookup(_ name: [UInt8]) -> Int? {
        let parts = name.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false)
        guard parts.count <= 2, let first = parts.first else { return nil }
        guard let base = ids[Self.lowerString(first)], parent[base] == nil else { return nil }
        if parts.count == 1 { return base }
        guard !subcommands[base].isEmpty else { return nil }
        return subcommandID(of: base, Self.lowerString(parts[1]))
    }

    static func lowerString(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
