import VimanaCore

/// One selector of Redis 7.0: the commands, key patterns and channel patterns
/// one set of rules allows. A user has a root selector and, after `(...)`
/// rules, more selectors; Redis allows a request when one selector allows
/// the command with all its keys and channels.
public struct ACLSelector: Sendable, Equatable {
    /// Redis 7.0's key permissions: `~pat` is both, `%R~pat` read, `%W~pat` write.
    public struct KeyPattern: Sendable, Equatable {
        public let pattern: [UInt8]
        public internal(set) var read: Bool
        public internal(set) var write: Bool
        /// ACL LIST's form: `~pat`, `%R~pat` or `%W~pat`.
        public var described: String {
            let prefix = read && write ? "~" : read ? "%R~" : "%W~"
            return prefix + String(decoding: pattern, as: UTF8.self)
        }
    }

    /// One bit per command id.
    @usableFromInline var allowed: [UInt64]
    /// Redis's reserved command bit: set only by `+@all`/`allcommands`, so a
    /// user made with `+@all -x` is described as `+@all -x` (it would run
    /// commands added later), one made with `-@all +…` as `-@all +…`.
    public internal(set) var futureCommands: Bool
    /// `+cmd|arg` on a command with no subcommands: the first arguments
    /// allowed while the command itself is not (Redis's deprecated allowed_firstargs).
    var firstArguments: [Int: [[UInt8]]]
    public internal(set) var allKeys: Bool
    public internal(set) var keyPatterns: [KeyPattern]
    public internal(set) var allChannels: Bool
    public internal(set) var channelPatterns: [[UInt8]]

    /// A selector with nothing allowed (Redis's ACLCreateSelector with
    /// `acl-pubsub-default resetchannels`, 7.0's default).
    init(catalogue: ACLCatalogue) {
        allowed = Array(repeating: 0, count: Self.words(catalogue))
        futureCommands = false
        firstArguments = [:]
        allKeys = false
        keyPatterns = []
        allChannels = false
        channelPatterns = []
    }

    static func words(_ catalogue: ACLCatalogue) -> Int { (catalogue.entries.count + 63) / 64 }

    // MARK: - Checks

    /// May run the command or subcommand with this id.
    @inlinable
    public func allows(_ id: Int) -> Bool {
        guard id >= 0, id >> 6 < allowed.count else { return false }
        return allowed[id >> 6] & (1 << UInt64(id & 63)) != 0
    }

    /// The command is not allowed itself, but its first argument is one
    /// allowed by `+cmd|arg` (compared ignoring case, as Redis).
    public func allowsFirstArgument(of id: Int, _ argument: UnsafeRawBufferPointer) -> Bool {
        guard let list = firstArguments[id] else { return false }
        for allowed in list where allowed.count == argument.count {
            var equal = true
            for i in 0..<allowed.count where Self.fold(allowed[i]) != Self.fold(argument[i]) {
                equal = false
                break
            }
            if equal { return true }
        }
        return false
    }

    /// The channel matches one of the channel patterns (glob), or `allchannels`.
    public func allowsChannel(_ channel: UnsafeRawBufferPointer) -> Bool {
        if allChannels { return true }
        let string = channel.bindMemory(to: UInt8.self)
        for pattern in channelPatterns {
            let matched = pattern.withUnsafeBufferPointer { Glob.matches($0, string) }
            if matched { return true }
        }
        return false
    }

    /// PSUBSCRIBE: the pattern is literally one of the channel patterns (Redis's rule).
    public func allowsChannelPattern(_ pattern: UnsafeRawBufferPointer) -> Bool {
        if allChannels { return true }
        for allowed in channelPatterns where allowed.count == pattern.count {
            let equal = allowed.withUnsafeBytes { $0.elementsEqual(pattern) }
            if equal { return true }
        }
        return false
    }

    /// The key matches a key pattern that grants every access asked
    /// (Redis's ACLSelectorCheckKey), or `allkeys`.
    public func allowsKey(_ key: UnsafeRawBufferPointer, access: ACLKeyAccess) -> Bool {
        if allKeys { return true }
        let string = key.bindMemory(to: UInt8.self)
        for pattern in keyPatterns {
            if access.read && !pattern.read { continue }
            if access.write && !pattern.write { continue }
            let matched = pattern.pattern.withUnsafeBufferPointer { Glob.matches($0, string) }
            if matched { return true }
        }
        return false
    }

    @inline(__always)
    static func fold(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c | 0x20 : c }

    // MARK: - Changes

    /// Sets one command's bit (Redis's ACLSetSelectorCommandBit).
    mutating func setBit(_ id: Int, _ value: Bool) {
        guard id >= 0, id >> 6 < allowed.count else { return }
        let mask: UInt64 = 1 << UInt64(id & 63)
        if value { allowed[id >> 6] |= mask } else { allowed[id >> 6] &= ~mask }
    }

    /// Allows or blocks a command; a container's subcommands follow it, and
    /// its first arguments are forgotten (Redis's ACLChangeSelectorPerm).
    mutating func change(_ id: Int, _ value: Bool, _ catalogue: ACLCatalogue) {
        setBit(id, value)
        firstArguments[id] = nil
        if id < catalogue.topLevelCount {
            for sub in catalogue.subcommands[id] { setBit(sub, value) }
        }
    }

    /// `+@cat` / `-@cat`: every command in the category, walked as Redis walks it.
    mutating func change(category bit: Int, _ value: Bool, _ catalogue: ACLCatalogue) {
        let mask: UInt32 = 1 << UInt32(bit)
        catalogue.forEachInWalkOrder { id in
            if catalogue.categoryMask[id] & mask != 0 { change(id, value, catalogue) }
        }
    }

    mutating func setAll(_ value: Bool, _ catalogue: ACLCatalogue) {
        for i in allowed.indices { allowed[i] = value ? ~0 : 0 }
        // No bits past the last id: equal permissions are equal values.
        let used = catalogue.entries.count & 63
        if value && used != 0, let last = allowed.indices.last { allowed[last] = (1 << UInt64(used)) &- 1 }
        futureCommands = value
        firstArguments = [:]
    }

    /// Applies one rule that belongs to a selector (Redis's ACLSetSelector).
    /// As Redis, the words and the command and category names are read up
    /// to a NUL (C strings: `+ping\0x` is `+ping`), the patterns whole (a
    /// NUL in one is refused).
    mutating func apply(_ rule: [UInt8], catalogue: ACLCatalogue) throws(ACLRuleError) {
        let word = ACLRules.cString(rule)
        if ACLRules.equalsIgnoringCase(word, "allkeys") || ACLRules.equalsIgnoringCase(word, "~*") {
            allKeys = true
            keyPatterns = []
        } else if ACLRules.equalsIgnoringCase(word, "resetkeys") {
            allKeys = false
            keyPatterns = []
        } else if ACLRules.equalsIgnoringCase(word, "allchannels") || ACLRules.equalsIgnoringCase(word, "&*") {
            allChannels = true
            channelPatterns = []
        } else if ACLRules.equalsIgnoringCase(word, "resetchannels") {
            allChannels = false
            channelPatterns = []
        } else if ACLRules.equalsIgnoringCase(word, "allcommands") || ACLRules.equalsIgnoringCase(word, "+@all") {
            setAll(true, catalogue)
        } else if ACLRules.equalsIgnoringCase(word, "nocommands") || ACLRules.equalsIgnoringCase(word, "-@all") {
            setAll(false, catalogue)
        } else if rule.first == UInt8(ascii: "~") || rule.first == UInt8(ascii: "%") {
            try addKeyPattern(rule)
        } else if rule.first == UInt8(ascii: "&") {
            if allChannels { throw .allChannelsAlready }
            let pattern = Array(rule.dropFirst())
            if ACLRules.hasSpaces(pattern) { throw .syntax }
            if !channelPatterns.contains(pattern) { channelPatterns.append(pattern) }
            allChannels = false
        } else if word.count >= 2, word[1] == UInt8(ascii: "@"),
                  word[0] == UInt8(ascii: "+") || word[0] == UInt8(ascii: "-") {
            guard let bit = ACLCatalogue.categoryIndex(String(decoding: word.dropFirst(2), as: UTF8.self)) else {
                throw .unknownName
            }
            change(category: bit, word[0] == UInt8(ascii: "+"), catalogue)
        } else if rule.first == UInt8(ascii: "+") {
            try allowCommand(Array(word.dropFirst()), catalogue)
        } else if rule.first == UInt8(ascii: "-") {
            guard let id = catalogue.lookup(Array(word.dropFirst())) else { throw .unknownName }
            change(id, false, catalogue)
        } else {
            throw .syntax
        }
    }

    /// `~pat`, `%R~pat`, `%W~pat`, `%RW~pat`.
    private mutating func addKeyPattern(_ rule: [UInt8]) throws(ACLRuleError) {
        if allKeys { throw .allKeysAlready }
        var read = true, write = true
        var offset = 1
        if rule[0] == UInt8(ascii: "%") {
            read = false
            write = false
            while offset < rule.count {
                let c = rule[offset]
                if (c == UInt8(ascii: "R") || c == UInt8(ascii: "r")) && !read {
                    read = true
                } else if (c == UInt8(ascii: "W") || c == UInt8(ascii: "w")) && !write {
                    write = true
                } else if c == UInt8(ascii: "~") {
                    offset += 1
                    break
                } else {
                    throw .syntax
                }
                offset += 1
            }
            // `%~pat` names no permission (Redis 7.0.15 refuses it the same way).
            if !read && !write { throw .syntax }
        }
        let pattern = Array(rule[offset...])
        if ACLRules.hasSpaces(pattern) { throw .syntax }
        if let existing = keyPatterns.firstIndex(where: { $0.pattern == pattern }) {
            keyPatterns[existing].read = keyPatterns[existing].read || read
            keyPatterns[existing].write = keyPatterns[existing].write || write
        } else {
            keyPatterns.append(KeyPattern(pattern: pattern, read: read, write: write))
        }
        allKeys = false
    }

    /// `+cmd`, `+container|sub`, and `+cmd|firstarg` on a plain command.
    private mutating func allowCommand(_ name: [UInt8], _ catalogue: ACLCatalogue) throws(ACLRuleError) {
        guard let bar = name.lastIndex(of: UInt8(ascii: "|")) else {
            guard let id = catalogue.lookup(name) else { throw .unknownName }
            change(id, true, catalogue)
            return
        }
        let head = Array(name[..<bar])
        let sub = Array(name[(bar + 1)...])
        guard let id = catalogue.lookup(head) else { throw .unknownName }
        if catalogue.parent[id] != nil { throw .firstArgumentOfSubcommand }
        if sub.isEmpty { throw .syntax }
        if catalogue.isContainer(id) {
            guard let subID = catalogue.lookup(name) else { throw .unknownName }
            change(subID, true, catalogue)
        } else {
            var list = firstArguments[id] ?? []
            let folded = sub.map(Self.fold)
            if !list.contains(where: { $0.map(Self.fold) == folded }) { list.append(sub) }
            firstArguments[id] = list
        }
    }
}

/// The access a command asks of a key (Redis's key-spec flags reduced to
/// what `%R~` and `%W~` grant): XREAD reads, XADD writes, XLEN neither.
public struct ACLKeyAccess: Sendable, Equatable {
    public var read: Bool
    public var write: Bool
    public init(read: Bool, write: Bool) {
        self.read = read
        self.write = write
    }
    public static let read = ACLKeyAccess(read: true, write: false)
    public static let write = ACLKeyAccess(read: false, write: true)
    public static let readWrite = ACLKeyAccess(read: true, write: true)
    /// No data access (XLEN, XINFO): any key pattern that matches will do.
    public static let none = ACLKeyAccess(read: false, write: false)
}

/// Byte helpers shared by the rule parsers.
enum ACLRules {
    /// The bytes of `rule` before its first NUL: what Redis 7.0 reads where
    /// it takes a rule as a C string (strcasecmp, its command lookup, the
    /// `%s` of its error texts).
    static func cString(_ rule: [UInt8]) -> [UInt8] {
        guard let nul = rule.firstIndex(of: 0) else { return rule }
        return Array(rule[..<nul])
    }

    /// Redis's strcasecmp against an ASCII word (`rule` taken whole: pass
    /// `cString(rule)` for Redis's reading).
    static func equalsIgnoringCase(_ rule: [UInt8], _ word: StaticString) -> Bool {
        guard rule.count == word.utf8CodeUnitCount else { return false }
        return word.withUTF8Buffer { w in
            for i in 0..<w.count where ACLSelector.fold(rule[i]) != ACLSelector.fold(w[i]) { return false }
            return true
        }
    }

    /// Redis's ACLStringHasSpaces: a space-like byte (isspace) or NUL.
    static func hasSpaces(_ bytes: [UInt8]) -> Bool {
        bytes.contains { $0 == 0 || $0 == 32 || ($0 >= 9 && $0 <= 13) }
    }
}

/// Why a request was refused, Redis's ACL_DENIED_* codes: between selectors
/// Redis reports the largest (a channel over a key over the command).
public enum ACLDenialReason: Int, Sendable, Comparable {
    case command = 1, key = 2, channel = 4
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A refusal: the reason and the index of the refused argument in the
/// request (0 for the command), which names it in the -NOPERM text and ACL LOG.
public struct ACLDenial: Sendable, Equatable {
    public let reason: ACLDenialReason
    public let argument: Int
    public init(_ reason: ACLDenialReason, argument: Int) {
        self.reason = reason
        self.argument = argument
    }
}

extension ACLSelector {
    /// Redis's ACLSelectorCheckCmd: the command (or, for a command blocked
    /// but for some `+cmd|arg`, its first argument), then `resources`, which
    /// checks the request's keys and channels on this selector and returns
    /// the first refused.
    @inlinable
    public func check(_ id: Int, firstArgument: UnsafeRawBufferPointer?,
                      resources: (ACLSelector) -> ACLDenial?) -> ACLDenial? {
        if !allows(id) {
            guard let argument = firstArgument, allowsFirstArgument(of: id, argument) else {
                return ACLDenial(.command, argument: 0)
            }
        }
        return resources(self)
    }
}

extension ACLUser {
    /// Redis's whole check of one request (ACLCheckAllUserCommandPerm):
    /// allowed (nil) when one selector, the root and then each `(...)` in
    /// order, allows the command and every key and channel. Refused: the
    /// refusal Redis reports, the largest reason, the later argument between
    /// equal reasons. Allocates nothing; `resources` is called once per
    /// selector that allows the command.
    @inlinable
    public func check(_ id: Int, firstArgument: UnsafeRawBufferPointer? = nil,
                      resources: (ACLSelector) -> ACLDenial? = { _ in nil }) -> ACLDenial? {
        guard var relevant = root.check(id, firstArgument: firstArgument, resources: resources) else { return nil }
        for selector in selectors {
            guard let denial = selector.check(id, firstArgument: firstArgument, resources: resources) else { return nil }
            if denial.reason > relevant.reason || (denial.reason == relevant.reason && denial.argument > relevant.argument) {
                relevant = denial
            }
        }
        return relevant
    }
}
