import Testing
import VimanaCore
@testable import VimanaACL

/// Each rule of Redis 7.0's ACL SETUSER and each of its error texts (the
/// texts checked against redis-server 7.0.15 by hand and by ACLParityTests).
@Suite struct ACLRuleTests {
    typealias T = TestCatalogue

    @Test func newUserIsOffWithNothing() throws {
        let user = try T.user()
        #expect(!user.enabled && !user.nopass && user.passwordHashes.isEmpty)
        #expect(!user.allows("ping") && !user.channel("x") && !user.key("x"))
        #expect(user.line == "user u off resetchannels -@all")
    }

    @Test func defaultUserIsUnrestricted() {
        let user = ACLUser.unrestricted(name: "default", catalogue: T.catalogue)
        #expect(user.describe(catalogue: T.catalogue) == "user default on nopass ~* &* +@all")
        #expect(user.allows("config|set") && user.channel("any") && user.key("any") && user.accepts(password: []))
    }

    @Test func userNamesWithoutSpaces() {
        #expect(ACLUser.isValidName(Array("alice".utf8)))
        #expect(!ACLUser.isValidName(Array("a b".utf8)) && !ACLUser.isValidName([0x61, 0]) && !ACLUser.isValidName([0x61, 9]))
    }

    @Test func onOffAndSanitizeFlags() throws {
        #expect(try T.user("on").flagNames == ["on"])
        #expect(try T.user("ON", "off").flagNames == ["off"])
        #expect(try T.user("skip-sanitize-payload", "on", "nopass").flagNames == ["on", "nopass", "skip-sanitize-payload"])
        #expect(try T.user("reset").line == "user u off sanitize-payload resetchannels -@all")
    }

    @Test func passwordsAreKeptAsDigests() throws {
        let hex = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"  // SHA-256 of "x"
        let user = try T.user(">x", ">y", ">x", "<y")
        #expect(user.passwordHexDigests == [hex])
        #expect(user.accepts(password: Array("x".utf8)) && !user.accepts(password: Array("y".utf8)))
        #expect(try T.user("#" + hex).accepts(password: Array("x".utf8)))
        #expect(try T.user(">x", "!" + hex).passwordHashes.isEmpty)
        #expect(try T.user("nopass", ">x").line == "user u off #\(hex) resetchannels -@all")
        #expect(try T.user(">x", "nopass").line == "user u off nopass resetchannels -@all")
        #expect(try T.user(">x", "resetpass").passwordHashes.isEmpty)
        #expect(!(try T.user()).accepts(password: []))
    }

    @Test func passwordErrors() {
        let hashText = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        #expect(T.error("#abc") == "Error in ACL SETUSER modifier '#abc': " + hashText)
        let upper = "#" + String(repeating: "A", count: 64)
        #expect(T.error(upper) == "Error in ACL SETUSER modifier '\(upper)': " + hashText)
        #expect(T.error("<nopw") == "Error in ACL SETUSER modifier '<nopw': The password you are trying to remove from the user does not exist")
    }

    @Test func keyPatternsWithPermissions() throws {
        let user = try T.user("%R~foo", "%W~foo", "%R~bar", "~baz", "%W~qux", "%r~low")
        #expect(user.line == "user u off ~foo %R~bar ~baz %W~qux %R~low resetchannels -@all")
        #expect(user.key("bar", .read) && !user.key("bar", .write) && !user.key("bar"))
        #expect(user.key("qux", .write) && !user.key("qux", .read) && user.key("qux", .none))
        #expect(user.key("foo") && !user.key("nope", .none))
        #expect(try T.user("~a", "allkeys").line == "user u off ~* resetchannels -@all")
        #expect(try T.user("allkeys", "resetkeys", "~a", "~a").line == "user u off ~a resetchannels -@all")
        // `%RW~*` is a pattern, not allkeys: a pattern may follow it.
        #expect(try T.user("%RW~*", "~foo").line == "user u off ~* ~foo resetchannels -@all")
        #expect(try T.user("%R").line == "user u off %R~ resetchannels -@all")
    }

    @Test func keyPatternErrors() {
        #expect(T.error("%") == "Error in ACL SETUSER modifier '%': Syntax error")
        #expect(T.error("%~foo") == "Error in ACL SETUSER modifier '%~foo': Syntax error")
        #expect(T.error("%RR~foo") == "Error in ACL SETUSER modifier '%RR~foo': Syntax error")
        #expect(T.error("%Rx~foo") == "Error in ACL SETUSER modifier '%Rx~foo': Syntax error")
        #expect(T.error("~a b") == "Error in ACL SETUSER modifier '~a b': Syntax error")
        #expect(T.error("allkeys", "~foo") == "Error in ACL SETUSER modifier '~foo': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
    }

    @Test func channelPatterns() throws {
        let user = try T.user("&news.*", "&news.*", "&a[bc]")
        #expect(user.line == "user u off resetchannels &news.* &a[bc] -@all")
        #expect(user.channel("news.x") && user.channel("ab") && !user.channel("ad") && !user.channel("other"))
        #expect(user.channelPattern("news.*") && !user.channelPattern("news.x") && !user.channelPattern("*"))
        #expect(try T.user("&x", "allchannels").line == "user u off &* -@all")
        #expect(try T.user("&*", "resetchannels", "&c").line == "user u off resetchannels &c -@all")
        #expect(T.error("&a b") == "Error in ACL SETUSER modifier '&a b': Syntax error")
        #expect(T.error("allchannels", "&x") == "Error in ACL SETUSER modifier '&x': Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")
    }

    @Test func commandsAndSubcommands() throws {
        let user = try T.user("+PING", "+config|GET", "+client", "-client|kill")
        #expect(user.allows("ping") && user.allows("config|get") && !user.allows("config|set") && !user.allows("config"))
        #expect(user.allows("client|id") && !user.allows("client|kill"))
        let top = user.allowedTopLevel(catalogue: T.catalogue)
        func bit(_ name: String) -> Bool { let id = T.id(name); return top[id >> 6] & (1 << UInt64(id & 63)) != 0 }
        #expect(bit("ping") && !bit("config") && !bit("client") && !bit("publish"))
        #expect(try T.user("+client").allowedTopLevel(catalogue: T.catalogue) == [1 << UInt64(T.id("client"))])
        #expect(try T.user("+config", "-config|get").line == "user u off resetchannels -@all +config -config|get")
        #expect(try T.user("-@all", "+config|get").line == "user u off resetchannels -@all +config|get")
    }

    @Test func firstArgumentOfAPlainCommand() throws {
        let user = try T.user("+select|0", "+select|1", "+SELECT|0")
        #expect(user.line == "user u off resetchannels -@all +select|0 +select|1")
        #expect(!user.allows("select"))
        #expect(Array("0".utf8).withUnsafeBytes { user.root.allowsFirstArgument(of: T.id("select"), $0) })
        #expect(!Array("2".utf8).withUnsafeBytes { user.root.allowsFirstArgument(of: T.id("select"), $0) })
        #expect(try T.user("+select|0", "+select").line == "user u off resetchannels -@all +select")
        #expect(try T.user("+select|0", "-select").line == "user u off resetchannels -@all")
        #expect(try T.user("+select|0", "+@all", "-select").line == "user u off resetchannels +@all -select")
    }

    @Test func commandErrors() {
        let unknown = "Unknown command or category name in ACL"
        for rule in ["+", "-", "+|", "+@", "-@", "+@nosuch", "+nosuch", "+config|nosuch", "-config|", "-select|0",
                     "-config|get|x", "+select|0|1"] {
            #expect(T.error(rule) == "Error in ACL SETUSER modifier '\(rule)': \(unknown)")
        }
        for rule in ["+config|", "+select|", "xyz"] {
            #expect(T.error(rule) == "Error in ACL SETUSER modifier '\(rule)': Syntax error", "\(rule)")
        }
        // ACL SETUSER takes a lone "(" as an unclosed selector; one rule alone is a syntax error.
        #expect(T.error("(") == "Unmatched parenthesis in acl selector starting at '('.")
        var user = ACLUser(name: "u", catalogue: T.catalogue)
        #expect(throws: ACLRuleError("Syntax error")) { try user.apply(Array("(".utf8), catalogue: T.catalogue) }
        #expect(T.error("+config|get|x") == "Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported")
    }

    @Test func categories() throws {
        let user = try T.user("+@pubsub", "-publish")
        #expect(user.allows("subscribe") && user.allows("pubsub|channels") && !user.allows("publish") && !user.allows("pubsub|help"))
        #expect(user.line == "user u off resetchannels -@all +@pubsub -publish")
        #expect(try T.user("+@all", "-publish").line == "user u off resetchannels +@all -publish")
        #expect(try T.user("-@all", "+@all").line == "user u off resetchannels +@all")
        #expect(try T.user("+@all", "-@all", "+ping").line == "user u off resetchannels -@all +ping")
        #expect(try T.user("allcommands", "nocommands").line == "user u off resetchannels -@all")
        // A container is in @slow, as in Redis: +@slow allows it with every subcommand.
        #expect(try T.user("+@slow").allows("config|set"))
        #expect(T.catalogue.commands(inCategory: "PUBSUB") == ["publish", "subscribe", "psubscribe", "pubsub|channels", "pubsub|numsub"])
        #expect(T.catalogue.commands(inCategory: "geo") == [])
        #expect(T.catalogue.commands(inCategory: "all") == nil)
        #expect(T.catalogue.commands(inCategory: "slow")?.contains("agent") == true)
    }

    @Test func selectors() throws {
        let user = try T.user("on", "(~foo", "+xlen)", "()", "(&c +publish)")
        #expect(user.line == "user u on resetchannels -@all (~foo resetchannels -@all +xlen) (resetchannels -@all) (resetchannels &c -@all +publish)")
        #expect(!user.allows("xlen") && user.selectors[0].allows(T.id("xlen")))
        #expect(try T.user("(~a)", "clearselectors").selectors.isEmpty)
        #expect(T.error("(~foo", "+get") == "Unmatched parenthesis in acl selector starting at '(~foo'.")
        #expect(T.error("(+nosuch)") == "Error in ACL SETUSER modifier '(+nosuch)': Unknown command or category name in ACL")
        let described = try T.user("(\"~a\" '&b')").getUser(catalogue: T.catalogue)
        #expect(described.selectors == [.init(commands: "-@all", keys: "~a", channels: "&b")])
    }

    @Test func failedRuleListChangesNothing() throws {
        var user = try T.user("on", "+ping")
        #expect(throws: ACLSetUserError.self) {
            try user.apply(rules: [Array("off".utf8), Array("+nosuch".utf8)], catalogue: T.catalogue)
        }
        #expect(user.enabled && user.allows("ping"))
    }

    @Test func getUserFields() throws {
        let user = try T.user("on", "nopass", "~a", "%R~b", "&c", "&d", "+@pubsub")
        let d = user.getUser(catalogue: T.catalogue)
        #expect(d.flags == ["on", "nopass"] && d.passwords == [])
        #expect(d.root == .init(commands: "-@all +@pubsub", keys: "~a %R~b", channels: "&c &d"))
        let all = ACLUser.unrestricted(name: "default", catalogue: T.catalogue).getUser(catalogue: T.catalogue)
        #expect(all.root == .init(commands: "+@all", keys: "~*", channels: "&*"))
    }

    @Test func splitterFollowsRedis() {
        #expect(ACLArgumentSplitter.split(Array(" a  \"b c\" 'd\\'e' \"\\x41\\n\" ".utf8))
            == [Array("a".utf8), Array("b c".utf8), Array("d'e".utf8), [0x41, 10]])
        #expect(ACLArgumentSplitter.split(Array("\"open".utf8)) == nil)
        #expect(ACLArgumentSplitter.split(Array("\"a\"b".utf8)) == nil)
    }
}

/// What Redis checks with a panic after every description: the described
/// rules, applied to a new user, give back the same bits.
@Suite struct ACLDescribeTests {
    typealias T = TestCatalogue

    static let ruleLists: [[String]] = [
        ["+@stream", "-xadd"], ["+@all", "-@slow", "+config|get"], ["+@read", "+@pubsub", "-subscribe", "+client|id"],
        ["+@all", "-@write", "-ping", "-select", "+select|0"], ["+@slow", "-config", "+config|help"], ["+@fast", "+@connection", "-select"],
        ["+ping", "+publish", "+xadd", "+select|9"], ["+@all", "-@pubsub", "-@stream", "+xlen"], ["+@dangerous", "-@admin"],
    ]

    @Test(arguments: ruleLists)
    func describedRulesRebuildTheBits(rules: [String]) throws {
        let user = try T.user(rules)
        let described = user.describeCommands(catalogue: T.catalogue)
        let rebuilt = try T.user(described.split(separator: " ").map(String.init))
        #expect(rebuilt.root == user.root, "\(rules) → \(described)")
    }

    /// Several single-command differences are listed in the catalogue's order
    /// (Redis lists them in its hash table's order).
    @Test func singleCommandsInCatalogueOrder() throws {
        #expect(try T.user("+publish", "+client|id", "+ping").describeCommands(catalogue: T.catalogue) == "-@all +ping +client|id +publish")
    }
}

/// No rule, however malformed, can trap; whatever is accepted describes
/// itself in rules that rebuild it (rules without spaces: Redis too would
/// describe `+select| ` as a rule that reads back as two).
@Suite struct ACLRobustnessTests {
    typealias T = TestCatalogue

    /// A small deterministic generator (xorshift), so a failure replays.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
    }

    static let prefixes = ["", "+", "-", "+@", "-@", "~", "%R~", "%W~", "&", ">", "#", "+select|", "+config|", "(+"]
    static let pieces: [String] = [
        "+", "-", "@", "|", "~", "%", "&", "(", ")", "#", "!", ">", "<", "R", "W", "*", "?", "[", "]", "\\", "\"", "'",
        "all", "pubsub", "slow", "config", "get", "client", "id", "select", "0", "ping", "xadd", "on", "off", "reset",
        "nopass", "allkeys", "resetchannels", "clearselectors", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ]

    @Test func randomRulesNeverTrapAndDescribeThemselves() throws {
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var accepted = 0
        for _ in 0..<3000 {
            var user = ACLUser(name: "r", catalogue: T.catalogue)
            var rules: [[UInt8]] = []
            for _ in 0..<(1 + random.next(4)) {
                var rule = Self.prefixes[random.next(Self.prefixes.count)] + Self.pieces[random.next(Self.pieces.count)]
                if random.next(4) == 0 { rule += Self.pieces[random.next(Self.pieces.count)] }
                rules.append(Array(rule.utf8))
            }
            guard (try? user.apply(rules: rules, catalogue: T.catalogue)) != nil else { continue }
            accepted += 1
            _ = user.describe(catalogue: T.catalogue)
            let described = user.describeCommands(catalogue: T.catalogue)
            let rebuilt = try T.user(described.split(separator: " ").map(String.init))
            #expect(rebuilt.root.allowed == user.root.allowed && rebuilt.root.futureCommands == user.root.futureCommands,
                    "\(rules.map { String(decoding: $0, as: UTF8.self) }) → \(described)")
        }
        #expect(accepted > 500)
    }
}
