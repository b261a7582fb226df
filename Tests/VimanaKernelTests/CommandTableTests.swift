import Testing
import VimanaRESP
@testable import VimanaKernel

/// The lookup and the dispatch slots are built from the table at start:
/// every entry must be found by its name and read back as written.
@Suite struct CommandTableTests {
    /// The index is `~Copyable`: a class holds it so the suite stays copyable.
    final class Index { let dispatch = CommandDispatch(CommandTable.entries) }
    let index = Index()

    func lookup(_ name: String) -> Command? { index.dispatch.lookup(name: name) }

    @Test func everyCommandIsFoundByItsNameInAnyCase() {
        for command in Command.allCases {
            let name = CommandTable.spec(command).name
            #expect(lookup(name) == command, "\(name)")
            #expect(lookup(name.uppercased()) == command, "\(name)")
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            #expect(lookup(mixed) == command, "\(mixed)")
            let record = index.dispatch.record(command).pointee
            #expect(record.command == command)
            #expect(record.rules == CommandTable.entries[command.rawValue].rules, "\(name)")
            // The arity as the record checks it, against Redis's rule.
            let spec = CommandTable.spec(command)
            for argc in [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, Int.max] {
                #expect(record.accepts(argc) == CommandTable.arityOK(spec, argc), "\(name) \(argc)")
            }
        }
    }

    /// NACK takes two or three arguments: the table says so, and dispatch
    /// reads it (before, the handler alone refused a fourth).
    @Test func nacksMostArgumentsAreTheTables() {
        let record = index.dispatch.record(.nack).pointee
        #expect(CommandTable.spec(.nack).arity == -3, "COMMAND INFO shows Redis's form")
        #expect([2, 3, 4, 5, 6].map(record.accepts) == [false, true, true, false, false])
        #expect([3, 4, 5].map { CommandTable.arityOK(CommandTable.spec(.nack), $0) } == [true, true, false])
    }

    /// AGENT's subcommands have their arity in the table (AGENT LEAVE takes
    /// no argument, AGENT JOIN one), as every container's.
    @Test func agentSubcommandsHaveTheirArityInTheTable() throws {
        let subs = CommandTable.spec(.agent).subcommands
        let join = try #require(subs.first { $0.name == "agent|join" })
        let leave = try #require(subs.first { $0.name == "agent|leave" })
        #expect([2, 3, 4].map { CommandTable.arityOK(join, $0) } == [false, true, false])
        #expect([2, 3].map { CommandTable.arityOK(leave, $0) } == [true, false])
    }

    /// The lookup folds case with `| 0x20`, exact only for letters.
    @Test func everyNameIsLowerCaseLettersThatTheLookupHolds() {
        var seen = Set<String>()
        for entry in CommandTable.entries {
            #expect(CommandDispatch.isLookupName(Array(entry.spec.name.utf8)), "\(entry.spec.name)")
            #expect(seen.insert(entry.spec.name).inserted, "\(entry.spec.name) twice")
        }
    }

    @Test func nearMissesAreNotCommands() {
        for name in ["", "p", "pin", "pingg", "pinh", "p\u{0}ng", "PING ", "publis", "publishx", "subscribe\u{0}",
                     "0ing", "@ing", "pInG\r", "unsubscribf", "punsubscribe!", "PUBSUB|x", "xxxxxxxxxxxxxxxxx",
                     "ack\u{0}", "ac", "AC\u{0B}", "xautoclaimxautoclaim"] {
            #expect(lookup(name) == nil, "\(name)")
        }
        // Bytes that fold onto letters only when they are letters.
        #expect(lookup("\u{10}ing") == nil)
        #expect(lookup("P\u{09}NG") == nil)
        #expect(lookup("a\u{03}k") == nil)
    }

    /// Dispatch's rules come from Redis's flags where Redis has one, so the
    /// flag COMMAND INFO shows and the check cannot disagree.
    @Test func rulesFollowRedisFlags() {
        func having(_ rule: DispatchRules) -> Set<Command> {
            Set(Command.allCases.filter { CommandTable.entries[$0.rawValue].rules.contains(rule) })
        }
        #expect(having(.allowedBeforeAuth) == [.auth, .hello, .quit, .reset])
        #expect(having(.allowedWhileSubscribed) == [.ping, .quit, .reset, .subscribe, .unsubscribe, .psubscribe, .punsubscribe,
                                                   .ssubscribe, .sunsubscribe])
        #expect(having(.runsInsideMulti) == [.exec, .discard, .multi, .watch, .quit, .reset])
        #expect(having(.blocking) == [.xread])
        for command in Command.allCases {
            let flags = CommandTable.spec(command).flags
            #expect(CommandTable.entries[command.rawValue].rules.contains(.allowedBeforeAuth) == flags.contains("no_auth"))
            #expect(CommandTable.entries[command.rawValue].rules.contains(.write) == flags.contains("write"))
        }
    }

    /// Every flag is one Redis 7.0 replies (a misspelt `no_auth` would
    /// silently refuse the command before AUTH).
    @Test func everyFlagIsARedisFlag() {
        let redis: Set<String> = ["write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
                                  "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
                                  "may_replicate", "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys",
                                  "allow_busy"]
        for entry in CommandTable.entries {
            for spec in [entry.spec] + entry.spec.subcommands {
                for flag in spec.flags { #expect(redis.contains(flag), "\(spec.name): \(flag)") }
            }
        }
    }

    /// A container's `Keyword` enum names exactly the table's subcommands:
    /// a subcommand missing from either would answer "unknown subcommand".
    @Test func subcommandEnumsNameTheTablesSubcommands() {
        func names(_ c: Command) -> Set<String> {
            Set(CommandTable.spec(c).subcommands.map { String($0.name.split(separator: "|").last ?? "") })
        }
        #expect(names(.client) == Set(ClientSubcommand.allCases.map(\.rawValue)))
        #expect(names(.command) == Set(CommandSubcommand.allCases.map(\.rawValue)))
        #expect(names(.config) == Set(ConfigSubcommand.allCases.map(\.rawValue)))
        #expect(names(.pubsub) == Set(PubSubSubcommand.allCases.map(\.rawValue)))
        #expect(names(.xinfo) == Set(XInfoSubcommand.allCases.map(\.rawValue)))
        #expect(names(.agent) == Set(AgentSubcommand.allCases.map(\.rawValue)))
        #expect(names(.acl) == Set(ACLSubcommand.allCases.map(\.rawValue)))
        #expect(names(.health) == Set(HealthSubcommand.allCases.map(\.rawValue)))
        #expect(names(.license) == Set(LicenseSubcommand.allCases.map(\.rawValue)))
        #expect(names(.object) == Set(ObjectSubcommand.allCases.map(\.rawValue)))
        #expect(names(.memory) == Set(MemorySubcommand.allCases.map(\.rawValue)))
    }

    /// A connection's allowed commands are two words (`CommandBits`): each
    /// command has its own bit, and only its own.
    @Test func everyCommandHasItsOwnBit() {
        #expect(Command.allCases.count <= 2 * UInt64.bitWidth)
        for command in Command.allCases {
            let one = CommandBits([command])
            #expect(Command.allCases.filter { one.contains($0) } == [command], "\(command)")
            #expect(Command.allCases.filter { (~one).contains($0) }.count == Command.allCases.count - 1)
        }
    }

    /// Every command that names a topic or a channel says so to the ACL
    /// check: a stream command without `access` would let any user at any topic.
    @Test func everyKeyAndChannelArgumentIsChecked() {
        for entry in CommandTable.entries {
            for spec in [entry.spec] + entry.spec.subcommands {
                let namesKey = spec.arguments.contains { $0.1 == "key" } || ["ack", "nack", "progress"].contains(spec.name)
                let namesChannel = ["publish", "subscribe", "psubscribe", "spublish", "ssubscribe"].contains(spec.name)
                if namesKey { #expect(spec.access.grantedBy == .allKeys, "\(spec.name)") }
                if namesChannel { #expect(spec.access.grantedBy == .allChannels, "\(spec.name)") }
                if !namesKey && !namesChannel { #expect(spec.access == .none, "\(spec.name)") }
            }
        }
    }

    @Test func keywordsMatchIgnoringASCIICaseOnly() {
        Self.withArguments(["TYPE", "pubSub", "typ", "types", "t\u{0}pe", "", "SKIPME", "\u{212A}ill", "ID"]) { args in
            #expect(args.keyword(0, as: ClientFilter.self) == .type)
            #expect(args.keyword(1, as: ClientType.self) == .pubsub)
            #expect(args.keyword(2, as: ClientFilter.self) == nil)
            #expect(args.keyword(3, as: ClientFilter.self) == nil)
            #expect(args.keyword(4, as: ClientFilter.self) == nil)
            #expect(args.keyword(5, as: ClientFilter.self) == nil)
            #expect(args.keyword(6, as: ClientFilter.self) == .skipme)
            #expect(args.keyword(7, as: ClientSubcommand.self) == nil)
            #expect(args.keyword(8, as: ClientFilter.self) == .id)
        }
    }

    /// The options the stream commands, COMMAND LIST and INFO scan for: any
    /// ASCII case, the whole word; an ID or a near miss is no option.
    @Test func optionKeywordsOfStreamsCommandListAndInfo() {
        Self.withArguments(["NoMkStream", "MAXLEN", "minid", "Limit", "*", "1-1", "MAXLE", "MAXLENS",
                            "COUNT", "streams", "Group", "NOACK", "block", "FilterBy", "Everything", "dEFAULT", "al"]) { args in
            #expect(args.keyword(0, as: XAddOption.self) == .nomkstream)
            #expect(args.keyword(1, as: XAddOption.self) == .maxlen)
            #expect(args.keyword(2, as: XAddOption.self) == .minid)
            #expect(args.keyword(3, as: XAddOption.self) == .limit)
            for i in 4...7 { #expect(args.keyword(i, as: XAddOption.self) == nil) }
            #expect(args.keyword(8, as: XRangeOption.self) == .count)
            #expect(args.keyword(9, as: XRangeOption.self) == nil)
            #expect(args.keyword(8, as: XReadOption.self) == .count)
            #expect(args.keyword(9, as: XReadOption.self) == .streams)
            #expect(args.keyword(10, as: XReadOption.self) == .group)
            #expect(args.keyword(11, as: XReadOption.self) == .noack)
            #expect(args.keyword(12, as: XReadOption.self) == .block)
            #expect(args.keyword(4, as: XReadOption.self) == nil)
            #expect(args.keyword(13, as: CommandListOption.self) == .filterby)
            #expect(args.keyword(14, as: InfoSectionGroup.self) == .everything)
            #expect(args.keyword(15, as: InfoSectionGroup.self) == .default)
            #expect(args.keyword(16, as: InfoSectionGroup.self) == nil)
        }
    }

    /// The packed tables of the hot path answer as the string scan does,
    /// on near misses too: bytes next to A-Z (`@`, `[`, `` ` ``, `{`), a
    /// letter with its high bit set, NUL, one byte more or less, a word
    /// longer than a packed word.
    @Test func packedKeywordTablesAgreeWithTheStringScan() {
        let words = ["COUNT", "count", "CoUnT", "coun", "counts", "c\u{0}unt", "count\u{0}", "@OUNT", "[OUNT", "`ount", "{ount",
                     "\u{C3}OUNT", "STREAMS", "sTrEaMs", "streamz", "NOMKSTREAM", "nomkstreaM", "MAXLEN", "minid", "LIMIT", "limiT ",
                     "block", "GROUP", "noack", "*", "1-1", "", "1700000000000-12345", "nomkstreamnomkstream"]
        Self.withArguments(words) { args in
            let xadd = KeywordTable<XAddOption>(), xread = KeywordTable<XReadOption>(), xrange = KeywordTable<XRangeOption>()
            for i in words.indices {
                #expect(args.keyword(i, in: xadd) == args.keyword(i, as: XAddOption.self), "\(words[i])")
                #expect(args.keyword(i, in: xread) == args.keyword(i, as: XReadOption.self), "\(words[i])")
                #expect(args.keyword(i, in: xrange) == args.keyword(i, as: XRangeOption.self), "\(words[i])")
            }
            #expect(args.keyword(2, in: xread) == .count)
            #expect(args.keyword(13, in: xread) == .streams)
            #expect(args.keyword(16, in: xadd) == .nomkstream)
            #expect(args.keyword(7, in: xread) == nil)
            #expect(args.keyword(11, in: xrange) == nil)
        }
    }

    /// Packing reads each length from 0 to 20 in its own way (overlapping
    /// loads, the case fold eight bytes at once): every length, every byte
    /// class, and the words themselves in random case, against the string scan.
    @Test func packedKeywordTablesAgreeAtEveryLength() {
        var rng = SystemRandomNumberGenerator()
        let bytes: [UInt8] = Array(0x40...0x5B) + Array(0x60...0x7B) + [0, 0x20, 0x2D, 0x31, 0x7F, 0x80, 0xC1, 0xDA, 0xE1, 0xFF]
        var words: [[UInt8]] = []
        for n in 0...20 {
            for _ in 0..<40 { words.append((0..<n).map { _ in bytes.randomElement(using: &rng) ?? 0 }) }
        }
        for word in XAddOption.allCases.map(\.rawValue) + XReadOption.allCases.map(\.rawValue) {
            for _ in 0..<8 {
                words.append(word.utf8.map { Bool.random(using: &rng) && $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 })
            }
        }
        var storage: [UInt8] = [0xFF]
        var slots: [Int] = []
        for w in words {
            slots.append(storage.count)
            slots.append(w.count)
            storage.append(contentsOf: w)
        }
        storage.append(0xFF)
        storage.withUnsafeMutableBufferPointer { b in
            slots.withUnsafeBufferPointer { sl in
                guard let base = b.baseAddress, let slotBase = sl.baseAddress else { return }
                let args = Arguments(base: base, slots: slotBase, count: words.count)
                let xadd = KeywordTable<XAddOption>(), xread = KeywordTable<XReadOption>()
                var found = 0
                for i in words.indices {
                    #expect(args.keyword(i, in: xadd) == args.keyword(i, as: XAddOption.self), "\(words[i])")
                    #expect(args.keyword(i, in: xread) == args.keyword(i, as: XReadOption.self), "\(words[i])")
                    if args.keyword(i, in: xread) != nil || args.keyword(i, in: xadd) != nil { found += 1 }
                }
                #expect(found >= 9 * 8)
            }
        }
    }

    /// `words` laid out as the parser lays out a request.
    static func withArguments(_ words: [String], _ body: (Arguments) -> Void) {
        var storage: [UInt8] = [0]
        var slots: [Int] = []
        for w in words {
            slots.append(storage.count)
            slots.append(w.utf8.count)
            storage.append(contentsOf: w.utf8)
        }
        storage.withUnsafeMutableBufferPointer { b in
            slots.withUnsafeBufferPointer { s in
                guard let base = b.baseAddress, let slotBase = s.baseAddress else { return }
                body(Arguments(base: base, slots: slotBase, count: words.count))
            }
        }
    }
}
