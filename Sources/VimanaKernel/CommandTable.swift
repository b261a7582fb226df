import VimanaRESP
import VimanaACL

/// Every command the kernel understands. A case is a command's identity
/// (metrics, CLIENT LIST's `cmd=`, a transaction's queue); everything known
/// about it is its entry in `CommandTable.entry(_:)`, which the compiler
/// makes exhaustive.
enum Command: Int, CaseIterable {
    case ping, echo, quit, reset, hello, auth, select, client, command, info, config
    case publish, subscribe, unsubscribe, psubscribe, punsubscribe, pubsub
    case xadd, xlen, xrange, xrevrange, xread, xinfo, xtrim, xdel
    case agent, ack, nack, progress, agents
    case xgroup, xreadgroup, xack, xpending, xclaim, xautoclaim
    case multi, exec, discard, watch, unwatch
    case acl
    case ledger
    case health
    case license
    case exists, type, keys, scan, dbsize, randomkey, touch, object, memory
    case spublish, ssubscribe, sunsubscribe
    case time, shutdown
    case del, unlink, flushall, flushdb
    case xsetid
    case monitor
    case slowlog, latency
}

/// Runs one command that passed dispatch's checks. A thin function (a
/// closure literal that captures nothing): dispatch calls it through a bare
/// code pointer, where a closure value would cost a retain and a release of
/// its context per request (measured: +33 instructions on PING).
typealias CommandHandler = @convention(thin) (Kernel, UnsafeMutablePointer<ClientState>, Arguments) -> Void

/// What dispatch checks before running a command, besides the arity.
struct DispatchRules: OptionSet, Sendable {
    let rawValue: UInt8
    /// A RESP2 client may send it while subscribed. Redis 7 hard-codes the
    /// list ((P|S)(UN)SUBSCRIBE, PING, QUIT, RESET): not a COMMAND INFO flag.
    static let allowedWhileSubscribed = DispatchRules(rawValue: 1 << 0)
    /// Runs at once between MULTI and EXEC instead of being queued (Redis
    /// 7.0's processCommand: EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    static let runsInsideMulti = DispatchRules(rawValue: 1 << 1)
    /// Allowed before AUTH: Redis's `no_auth` flag (set from `flags`).
    static let allowedBeforeAuth = DispatchRules(rawValue: 1 << 2)
    /// Changes a stream or group: Redis's `write` flag (set from `flags`).
    static let write = DispatchRules(rawValue: 1 << 3)
    /// May block the connection: Redis's `blocking` flag (set from `flags`).
    static let blocking = DispatchRules(rawValue: 1 << 4)
    /// Refused between MULTI and EXEC: Redis's `no_multi` flag (set from `flags`).
    static let notInMulti = DispatchRules(rawValue: 1 << 5)

    /// The rules a COMMAND INFO flag stands for.
    static let byFlag: [String: DispatchRules] = ["no_auth": .allowedBeforeAuth, "write": .write, "blocking": .blocking,
                                                  "no_multi": .notInMulti]
}

/// One command: its name, arity, flags and documentation (what COMMAND,
/// COMMAND INFO and COMMAND DOCS reply), what dispatch checks, and its handler.
struct CommandEntry: Sendable {
    var spec: CommandSpec
    let rules: DispatchRules
    let handler: CommandHandler

    /// - Parameters:
    ///   - spec: name, arity, flags and documentation; the flags `no_auth`,
    ///     `write` and `blocking` also set the matching rules.
    ///   - rules: the dispatch rules that are not COMMAND INFO flags.
    init(_ spec: CommandSpec, rules: DispatchRules = [], handler: CommandHandler) {
        self.spec = spec
        self.rules = spec.flags.reduce(rules) { $0.union(DispatchRules.byFlag[$1] ?? []) }
        self.handler = handler
    }

    /// - Parameters:
    ///   - name: lower case, letters only (the lookup folds case by bit).
    ///   - arity: Redis's convention: n is exactly n arguments including
    ///     the name; -n is at least n.
    ///   - flags: Redis's COMMAND INFO flags, in the order they are replied;
    ///     `no_auth`, `write` and `blocking` also set the matching rules.
    ///   - rules: the dispatch rules that are not COMMAND INFO flags.
    ///   - access: the arguments ACL rules check (keys, channels).
    init(name: String, arity: Int, flags: [String], rules: DispatchRules = [], categories: [String],
         summary: String, since: String, group: String, complexity: String,
         arguments: [(String, String, Bool, Bool)], access: ArgumentAccess = .none, handler: CommandHandler) {
        self.init(CommandSpec(name: name, arity: arity, flags: flags, categories: categories, summary: summary,
                              since: since, group: group, complexity: complexity, arguments: arguments, access: access),
                  rules: rules, handler: handler)
    }
}

/// One command's or subcommand's metadata.
struct CommandSpec: Sendable {
    let name: String
    let arity: Int
    let flags: [String]
    let categories: [String]
    let summary: String
    let since: String
    let group: String
    let complexity: String
    /// Argument docs as (name, type, optional, multiple), in command-line
    /// order. A name written `TOKEN name` is a value introduced by the
    /// keyword TOKEN (`"COUNT count"`: `COUNT 10`); a pure-token is written
    /// the same way (`"NOACK noack"`). Every argument is listed, with its
    /// type (every number as `integer`): the extreme-value test and
    /// tools/fuzz build their inputs from these docs.
    let arguments: [(String, String, Bool, Bool)]
    var subcommands: [CommandSpec] = []
    /// Which arguments ACL rules check: its keys (topics used as streams)
    /// and channels, as Redis's key specs find them.
    var access: ArgumentAccess = .none
    /// The most arguments (the name included) when `arity` is `-n` and
    /// there is a limit Redis's arity cannot say (NACK takes two or three):
    /// dispatch and MULTI check it with the arity and reply the same error;
    /// COMMAND INFO shows the arity alone, as Redis would. nil: no limit.
    var maxArguments: Int? = nil

    /// `arguments` as COMMAND DOCS renders them.
    var argumentDocs: [ArgumentDoc] {
        arguments.map { name, type, optional, multiple in
            let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
            return ArgumentDoc(name: parts.last ?? name, type: type, token: parts.count == 2 ? parts[0] : nil,
                               optional: optional, multiple: multiple)
        }
    }
}

/// The arguments of a command that ACL rules check, as Redis 7.0's key
/// specs and pub/sub commands find them: keys against the user's `~`
/// patterns for the access the command asks (`%R~` grants read, `%W~`
/// write, as Redis 7.0.15's key-spec flags ask them: ACCESS is a read,
/// INSERT/UPDATE/DELETE a write, neither asks for no permission: XLEN,
/// WATCH), channels against its `&` patterns (PSUBSCRIBE's patterns
/// literally, as Redis). The one place a command's key access is said.
enum ArgumentAccess: Sendable, Equatable {
    case none
    /// One key at this argument index.
    case key(Int, ACLKeyAccess)
    /// Every argument from this index is a key (WATCH).
    case keys(from: Int, ACLKeyAccess)
    /// XREAD, XREADGROUP: after the first STREAMS found from this index,
    /// the first half of the remaining arguments are keys.
    case streams(searchFrom: Int, ACLKeyAccess)
    /// One channel at this index (PUBLISH).
    case channel(Int)
    /// Every argument from this index is a channel (SUBSCRIBE).
    case channels(from: Int)
    /// Every argument from this index is a pattern (PSUBSCRIBE).
    case patterns(from: Int)

    /// What a user must hold for dispatch to skip the argument check: the
    /// client flag (`allKeys`, `allChannels`) that grants every argument.
    var grantedBy: ClientFlags {
        switch self {
        case .none: []
        case .key, .keys, .streams: .allKeys
        case .channel, .channels, .patterns: .allChannels
        }
    }

    /// The access asked of each key (`.none` for a command without keys).
    var keyAccess: ACLKeyAccess {
        switch self {
        case .key(_, let a), .keys(_, let a), .streams(_, let a): a
        default: .none
        }
    }
}

/// One argument in COMMAND DOCS: Redis 7's `name`, `type`, `token` and flags.
struct ArgumentDoc: Equatable {
    let name: String
    let type: String
    let token: String?
    let optional: Bool
    let multiple: Bool
}

enum CommandTable {
    /// Every entry, indexed by `Command.rawValue`: what COMMAND lists, in
    /// this order. Read on cold paths only; dispatch reads `CommandDispatch`.
    static let entries: [CommandEntry] = Command.allCases.map(entry)

    static func spec(_ c: Command) -> CommandSpec { entries[c.rawValue].spec }

    /// What fills the index's empty slots (no name finds them).
    static let emptyEntry = CommandEntry(CommandSpec(name: "", arity: 1, flags: [], categories: [], summary: "", since: "",
                                                     group: "", complexity: "", arguments: []),
                                         handler: { _, _, _ in })

    /// The subcommand spec named by argument `i` (case-insensitive), if any.
    static func subcommand(of c: Command, _ args: Arguments, _ i: Int) -> (Int, CommandSpec)? {
        let subs = entries[c.rawValue].spec.subcommands
        let word = args.string(i).lowercased()
        for (k, s) in subs.enumerated() where s.name.split(separator: "|").last.map(String.init) == word {
            return (k, s)
        }
        return nil
    }

    /// Redis's arity rule, and `maxArguments`.
    static func arityOK(_ spec: CommandSpec, _ argc: Int) -> Bool {
        spec.arity > 0 ? argc == spec.arity : argc >= -spec.arity && argc <= (spec.maxArguments ?? Int.max)
    }
}

// MARK: - The table as dispatch reads it

/// What dispatch reads per request, built once at start from
/// `CommandTable.entries` into raw memory: one record per command holding
/// its folded name, arity, rules and handler, found by name through an
/// index with one slot per name. A plain struct of pointers in the kernel's
/// state: no `swift_once`, no copy of an entry, no reference counting per
/// request (each of which once cost more than the rest of dispatch).
/// `~Copyable`: one value owns the memory, and `deinit` frees it.
struct CommandDispatch: ~Copyable {
    /// Longest name the lookup can hold: two 8-byte words.
    static let maxNameLength = 16
    /// Multipliers tried per table size before the table doubles. At a
    /// quarter full a random multiplier separates 41 names about once in 25
    /// tries; the start-up cost is microseconds.
    static let seedsPerSize = 4096

    /// One command as dispatch reads it. A slot of the index; `length` -1
    /// is empty (no request name has that length, not even an empty one).
    struct Record {
        fileprivate var w0: UInt64 = 0
        fileprivate var w1: UInt64 = 0
        fileprivate var length: Int32 = -1
        let command: Command
        let rules: DispatchRules
        /// The client flags (`allKeys`, `allChannels`) that spare this
        /// command (any of its subcommands) the ACL argument check.
        let aclNeeds: UInt32
        /// The arguments ACL rules check, for a command without
        /// subcommands (a container's depend on the subcommand: `.none`
        /// here, and `aclNeeds` sends it to the full check).
        let access: ArgumentAccess
        /// `access`'s index for a command with one channel (PUBLISH), else
        /// 0 (the name, never a channel): what the per-message check reads.
        let channelArgument: Int
        /// Redis's arity as a range: at least `minArguments`, at most
        /// `minArguments + extraArguments` (up to `Int.max`: no limit).
        private let minArguments: Int
        private let extraArguments: UInt
        let handler: CommandHandler

        init(_ command: Command, _ entry: CommandEntry) {
            self.command = command
            rules = entry.rules
            aclNeeds = entry.spec.subcommands.reduce(entry.spec.access.grantedBy) { $0.union($1.access.grantedBy) }.rawValue
            access = entry.spec.subcommands.isEmpty ? entry.spec.access : .none
            if case .channel(let i) = access { channelArgument = i } else { channelArgument = 0 }
            let arity = entry.spec.arity
            minArguments = arity > 0 ? arity : -arity
            let maxArguments = arity > 0 ? arity : max(entry.spec.maxArguments ?? Int.max, minArguments)
            extraArguments = UInt(maxArguments - minArguments)
            handler = entry.handler
        }

        /// Redis's arity rule and `maxArguments` (`CommandTable.arityOK`) in one compare: below
        /// the minimum, the difference wraps past every allowed extra.
        @inline(__always)
        func accepts(_ argc: Int) -> Bool {
            UInt(bitPattern: argc &- minArguments) <= extraArguments
        }
    }

    /// The index: a record per command in the slot its name selects.
    private let records: UnsafeMutablePointer<Record>
    private let recordSlots: Int
    /// Each command's record, by `Command.rawValue` (EXEC's queued commands).
    private let byCommand: UnsafeMutablePointer<UnsafeMutablePointer<Record>>
    private let commandCount: Int
    /// The slot of a name: `mix(key) &* seed >> shift`, with the seed chosen
    /// at start so that no two names share a slot: one compare per lookup.
    private let seed: UInt64
    private let shift: UInt64

    /// Builds the index. A name the lookup cannot hold (not letters only, or
    /// too long) has a record that no name finds, and so has a second entry
    /// of the same name: CommandTableTests finds every command by its name.
    init(_ entries: [CommandEntry]) {
        var keys: [(w0: UInt64, w1: UInt64, length: Int)?] = []
        for entry in entries {
            let name = Array(entry.spec.name.utf8)
            keys.append(Self.isLookupName(name) ? name.withUnsafeBufferPointer { b in
                b.baseAddress.map { p in
                    let (w0, w1) = Self.key(p, b.count)
                    return (w0, w1, b.count)
                }
            } : nil)
        }
        let named = keys.compactMap { $0 }
        // The smallest table, from a quarter full, with a seed that separates
        // every name; one more slot per command for records no name finds.
        var bits = 4
        while (1 << bits) < named.count * 4 { bits += 1 }
        var chosen: (seed: UInt64, bits: Int)?
        search: while bits <= 16 {
            var candidate: UInt64 = 0x9E37_79B9_7F4A_7C15
            for _ in 0..<Self.seedsPerSize {
                candidate = (candidate &* 0xBF58_476D_1CE4_E5B9 &+ 0x94D0_49BB_1331_11EB) | 1
                var used = Set<Int>()
                let shift = UInt64(64 - bits)
                if named.allSatisfy({ used.insert(Self.index($0.w0, $0.w1, $0.length, candidate, shift)).inserted }) {
                    chosen = (candidate, bits)
                    break search
                }
            }
            bits += 1
        }
        // Only equal names defeat every seed: then the first of them is found.
        let (seed, finalBits) = chosen ?? (0x9E37_79B9_7F4A_7C15, 16)
        self.seed = seed
        shift = UInt64(64 - finalBits)
        let indexSlots = 1 << finalBits
        recordSlots = indexSlots + entries.count
        records = .allocate(capacity: recordSlots)
        // Empty slots: length -1, so no request name matches them.
        for i in 0..<recordSlots {
            (records + i).initialize(to: Record(.ping, CommandTable.emptyEntry))
        }
        commandCount = entries.count
        byCommand = .allocate(capacity: entries.count)
        for (k, entry) in entries.enumerated() {
            guard let command = Command(rawValue: k) else { continue }
            var record = Record(command, entry)
            // Unfound records go past the index.
            var slot = indexSlots + k
            if let key = keys[k] {
                let i = Self.index(key.w0, key.w1, key.length, seed, shift)
                if records[i].length < 0 {
                    slot = i
                    record.w0 = key.w0
                    record.w1 = key.w1
                    record.length = Int32(key.length)
                }
            }
            records[slot] = record
            (byCommand + k).initialize(to: records + slot)
        }
    }

    deinit {
        records.deinitialize(count: recordSlots)
        records.deallocate()
        byCommand.deallocate()
    }

    /// Names the lookup folds exactly: letters only (`| 0x20` maps no other
    /// byte onto a lower-case letter), 1 to `maxNameLength` bytes.
    static func isLookupName(_ name: [UInt8]) -> Bool {
        (1...maxNameLength).contains(name.count) && name.allSatisfy { (97...122).contains($0) }
    }

    /// The record of the command named by argument 0, case-insensitively,
    /// without building a String: the name's bytes as one or two words
    /// folded to lower case (`| 0x20` in every byte, exact for names made
    /// only of letters), compared with the one slot they select. A name
    /// longer than 16 bytes is read as its first and last 8 and fails on
    /// the length; an empty one matches no slot (their length is not -1).
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> UnsafeMutablePointer<Record>? {
        let (w0, w1) = Self.key(p, n)
        let slot = records + Self.index(w0, w1, n, seed, shift)
        guard slot.pointee.w0 == w0 && slot.pointee.w1 == w1 && Int(slot.pointee.length) == n else { return nil }
        return slot
    }

    /// Looks up a name given as a String (tests).
    func lookup(name: String) -> Command? {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { lookup($0, b.count)?.pointee.command } }
    }

    /// The record of `c`.
    @inline(__always)
    func record(_ c: Command) -> UnsafeMutablePointer<Record> { byCommand[c.rawValue] }

    /// The bytes of a name as two words, each byte folded with `| 0x20`:
    /// from 8 bytes the first and the last 8 (overlapping below 16), from
    /// 4 the first and the last 4 in one word, byte by byte below 4; never
    /// past the name. For 1 to 16 bytes, with the length, the words hold
    /// every byte, so equal keys are equal names.
    @inline(__always)
    private static func key(_ p: UnsafePointer<UInt8>, _ n: Int) -> (UInt64, UInt64) {
        let raw = UnsafeRawPointer(p)
        let fold: UInt64 = 0x2020_2020_2020_2020
        if n >= 8 {
            return (raw.loadUnaligned(as: UInt64.self) | fold, raw.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) | fold)
        }
        if n >= 4 {
            let low = UInt64(raw.loadUnaligned(as: UInt32.self))
            let high = UInt64(raw.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self))
            return ((low | high << 32) | fold, 0)
        }
        var w: UInt64 = 0
        var i = 0
        while i < n {
            w |= UInt64(p[i] | 0x20) << (8 &* UInt64(i))
            i &+= 1
        }
        return (w, 0)
    }

    /// The slot a key selects. The table and its seed are fixed at start:
    /// a client cannot make any lookup cost more than one compare.
    @inline(__always)
    private static func index(_ w0: UInt64, _ w1: UInt64, _ n: Int, _ seed: UInt64, _ shift: UInt64) -> Int {
        Int(truncatingIfNeeded: ((w0 ^ (w1 &>> 3) ^ UInt64(truncatingIfNeeded: n)) &* seed) &>> shift)
    }
}

/// A set of commands, one bit per `Command`, in two words: what a
/// connection may run whole (`ClientState.allowedCommands`), tested on
/// every request. CommandTableTests checks every command has a bit.
struct CommandBits: Equatable, Sendable {
    var low: UInt64
    var high: UInt64

    static let all = CommandBits(low: ~0, high: ~0)

    /// From the ACL's words (`ACLUser.allowedTopLevel`), 64 ids per word.
    init(words: [UInt64]) {
        low = words.first ?? 0
        high = words.count > 1 ? words[1] : 0
    }

    init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    init(_ commands: some Sequence<Command>) {
        self.init(low: 0, high: 0)
        for command in commands {
            let raw = command.rawValue
            if raw < 64 { low |= 1 &<< UInt64(raw) } else { high |= 1 &<< UInt64(raw &- 64) }
        }
    }

    @inline(__always)
    func contains(_ command: Command) -> Bool {
        let raw = command.rawValue
        let word = raw < 64 ? low : high
        return word & (1 &<< UInt64(truncatingIfNeeded: raw & 63)) != 0
    }

    static func & (a: CommandBits, b: CommandBits) -> CommandBits { CommandBits(low: a.low & b.low, high: a.high & b.high) }
    static prefix func ~ (a: CommandBits) -> CommandBits { CommandBits(low: ~a.low, high: ~a.high) }
}
