import Testing
@testable import VimanaKernel

/// The lookup and the dispatch slots are built from the table at start:
/// every entry must be found by its name and read back as written.
@Suite struct CommandTableTests {
    let dispatch = CommandDispatch(CommandTable.entries)

    func lookup(_ name: String) -> Command? { dispatch.lookup(name: name) }

    @Test func everyCommandIsFoundByItsNameInAnyCase() {
        for command in Command.allCases {
            let name = CommandTable.spec(command).name
            #expect(lookup(name) == command, "\(name)")
            #expect(lookup(name.uppercased()) == command, "\(name)")
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            #expect(lookup(mixed) == command, "\(mixed)")
            #expect(dispatch.arity(command) == CommandTable.spec(command).arity, "\(name)")
            #expect(dispatch.rules(command) == CommandTable.entries[command.rawValue].rules, "\(name)")
        }
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
        #expect(having(.allowedWhileSubscribed) == [.ping, .quit, .reset, .subscribe, .unsubscribe, .psubscribe, .punsubscribe])
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
}
