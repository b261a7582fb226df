import Testing
import VimanaTestSupport
@testable import VimanaACL

/// The same ACL SETUSER rule lists applied to a real redis-server 7.0.15 and
/// to ACLUser: the same reply (OK or the same error), the same ACL LIST line,
/// the same ACL GETUSER reply.
///
/// The catalogue is Vimana's commands (those Redis has too, with the ACL
/// container the kernel adds), with the categories redis-server gives in
/// COMMAND INFO. Redis counts its whole command table when it chooses the
/// categories of a description, we count ours (ACLUser+Describe.swift): the
/// rule lists here are ones whose description cannot differ for that reason
/// (each category they touch is taken or left the same way over both tables),
/// and with at most one single-command difference outside a container, whose
/// order would be Redis's hash-table order.
@Suite struct ACLParityTests {
    /// Vimana's Redis commands and the subcommands it implements.
    static let vimanaCommands: [(String, [String])] = [
        ("ping", []), ("echo", []), ("quit", []), ("reset", []), ("hello", []), ("auth", []), ("select", []),
        ("client", ["id", "getname", "setname", "list", "info", "kill", "help"]),
        ("command", ["count", "docs", "info", "list", "help"]), ("info", []), ("config", ["get", "set", "help"]),
        ("publish", []), ("subscribe", []), ("unsubscribe", []), ("psubscribe", []), ("punsubscribe", []),
        ("pubsub", ["channels", "numsub", "numpat", "help"]),
        ("xadd", []), ("xlen", []), ("xrange", []), ("xrevrange", []), ("xread", []),
        ("xinfo", ["consumers", "groups", "stream", "help"]), ("xtrim", []), ("xdel", []),
        ("xgroup", ["create", "createconsumer", "delconsumer", "destroy", "setid", "help"]),
        ("xreadgroup", []), ("xack", []), ("xpending", []), ("xclaim", []), ("xautoclaim", []),
        ("multi", []), ("exec", []), ("discard", []), ("watch", []), ("unwatch", []),
        ("acl", ["cat", "deluser", "getuser", "list", "log", "setuser", "users", "whoami", "help"]),
        ("exists", []), ("type", []), ("keys", []), ("scan", []), ("dbsize", []), ("randomkey", []), ("touch", []),
        ("object", ["encoding", "freq", "idletime", "refcount", "help"]), ("memory", ["usage", "help"]),
    ]

    static let hash = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"

    /// Rule lists whose Redis description is determined over Vimana's subset.
    static let cases: [[String]] = [
        [],
        ["on", ">p", "~foo*", "&bar", "+@pubsub", "-publish"],
        ["on", "nopass", "allkeys", "allchannels", "+@all"],
        ["+@all", "-publish"],
        ["+@all", "-@admin"],
        ["+@all", "-@admin", "+config|get"],
        ["-@all", "+@all", "-xdel"],
        ["+@pubsub", "+@stream"],
        ["+@stream", "+@pubsub", "-publish"],
        ["+config", "-config|get"],
        ["+config|get"],
        ["+client", "-client|kill"],
        ["+xadd"],
        ["+@all", "-xadd", "+xadd"],
        ["+select|0", "+select|1", "+SELECT|0"],
        ["+select|0", "+select"],
        ["+select|0", "+@all", "-select"],
        ["+@all", "-@all", "+ping"],
        ["allcommands", "nocommands", "+XADD"],
        ["reset"],
        ["skip-sanitize-payload", "on", ">x", ">y", ">x", "<y"],
        [">x", "nopass"],
        ["nopass", ">x", "#" + hash],
        [">x", "!" + hash, ">p"],
        ["%R~foo", "%W~foo", "%R~bar", "~baz", "%W~qux", "%r~low", "%R"],
        ["%RW~*", "~foo"],
        ["~a", "allkeys"],
        ["allkeys", "resetkeys", "~a", "~a"],
        ["&news.*", "&news.*", "&a[bc]"],
        ["&x", "allchannels"],
        ["&*", "resetchannels", "&c"],
        ["on", "(~foo", "+xlen)", "()", "(&c +publish)"],
        ["(~a %R~b &c +@stream -xadd)", "clearselectors", "(+ping)"],
        ["(\"~a b\")"],
        // Errors: the reply and the user left unchanged.
        ["on", "+nosuch"],
        ["+"], ["-"], ["+|"], ["+@"], ["-@"], ["+@nosuch"], ["+config|nosuch"], ["-config|"], ["-select|0"],
        ["-config|get|x"], ["+select|0|1"], ["+config|"], ["+select|"], ["xyz"], ["+config|get|x"],
        ["%"], ["%~foo"], ["%RR~foo"], ["%Rx~foo"], ["~a b"], ["&a b"],
        ["allkeys", "~foo"], ["allchannels", "&x"],
        ["#abc"], ["#" + hash.uppercased()], ["<nopw"], ["!" + hash],
        ["(~foo", "+get"], ["("], ["(+nosuch)"],
        // A NUL inside a rule: Redis reads words, command and category names
        // and selector insides as C strings (up to the NUL), patterns and
        // passwords whole, and prints the rule in its errors up to the NUL.
        ["on\0x"], ["OFF\0"], ["nopass\0x"], ["reset\0x"], ["allkeys\0x"], ["~*\0"], ["&*\0"], ["-@all\0"],
        ["+ping\0x"], ["+@all\0x"], ["+@pubsub\0x"], ["+config|get\0x"], ["-config\0|get"], ["+select|0\0x"],
        [">p\0q"], ["(~a\0b)"], ["(+ping\0x)"],
        ["~a\0b"], ["&a\0b"], ["%R~a\0b"], ["%R\0~a"], ["xy\0z"], ["\0"], ["\0on"], ["+\0@all"], ["+nosuch\0ping"],
        ["#" + String(repeating: "a", count: 63) + "\0"], ["<p\0q"], ["(\0"], ["(~a", "b\0c"],
        // A continuation of a selector is joined up to its NUL; its last byte closes it.
        ["(~a", "+xlen\0x)"], ["(~a", "~b\0c", "+xlen)"], ["(~a", "+xlen\0)"],
    ]

    @Test func sameTextsAsRedis() throws {
        let redis = try RedisProcess()
        let client = try RawClient(port: redis.port)
        let reader = RESPReader(client)
        func call(_ args: [String]) -> RESP? {
            client.send(RawClient.command(args))
            return reader.next()
        }
        let catalogue = try Self.catalogue(call)
        for (index, rules) in Self.cases.enumerated() {
            let name = "u\(index)"
            let redisReply = call(["ACL", "SETUSER", name] + rules)
            var user = ACLUser(name: name, catalogue: catalogue)
            var modelReply = RESP.simple("OK")
            do {
                try user.apply(rules: rules.map { Array($0.utf8) }, catalogue: catalogue)
            } catch {
                modelReply = .error("ERR " + error.message)
            }
            #expect(modelReply == redisReply, "\(rules)")
            guard case .simple = redisReply else { continue }

            let list = call(["ACL", "LIST"])?.strings.first { $0.hasPrefix("user \(name) ") }
            #expect(user.describe(catalogue: catalogue) == list, "\(rules)")
            #expect(Self.render(user.getUser(catalogue: catalogue)) == call(["ACL", "GETUSER", name]), "\(rules)")
        }
    }

    /// Vimana's commands with the categories redis-server gives them.
    static func catalogue(_ call: ([String]) -> RESP?) throws -> ACLCatalogue {
        guard case .array(let infos)? = call(["COMMAND", "INFO"] + vimanaCommands.map(\.0)) else {
            throw TestFailure("COMMAND INFO failed")
        }
        func entry(_ info: RESP) throws -> (String, ACLCatalogue.Entry, [RESP]) {
            guard case .array(let fields) = info, fields.count >= 10, case .bulk(let name) = fields[0] else {
                throw TestFailure("COMMAND INFO: \(info)")
            }
            let categories = fields[6].strings
            guard case .array(let subs) = fields[9] else { throw TestFailure("no subcommands field: \(info)") }
            return (name, ACLCatalogue.Entry(name: name, categories: categories), subs)
        }
        var commands: [(command: ACLCatalogue.Entry, subcommands: [ACLCatalogue.Entry])] = []
        for (info, (name, wanted)) in zip(infos, vimanaCommands) {
            let (got, command, subInfos) = try entry(info)
            #expect(got == name)
            var subcommands: [ACLCatalogue.Entry] = []
            for sub in wanted {
                guard let found = try subInfos.map(entry).first(where: { $0.0 == name + "|" + sub }) else {
                    throw TestFailure("redis has no \(name)|\(sub)")
                }
                subcommands.append(found.1)
            }
            commands.append((command, subcommands))
        }
        return ACLCatalogue(commands: commands)
    }

    /// ACL GETUSER's RESP2 reply, as the kernel would render it.
    static func render(_ d: ACLUserDescription) -> RESP {
        func selector(_ s: ACLUserDescription.Selector) -> [RESP] {
            [.bulk("commands"), .bulk(s.commands), .bulk("keys"), .bulk(s.keys), .bulk("channels"), .bulk(s.channels)]
        }
        return .array([.bulk("flags"), .array(d.flags.map(RESP.bulk)), .bulk("passwords"), .array(d.passwords.map(RESP.bulk))]
            + selector(d.root) + [.bulk("selectors"), .array(d.selectors.map { .array(selector($0)) })])
    }
}

/// Patterns and permission checks against redis-server's own: ACL DRYRUN
/// (Redis 7.0's check of a request for a user without running it) on the
/// same users, for channels (glob with Redis's stringmatch), PSUBSCRIBE
/// patterns (literal), keys with `%R~` / `%W~` permissions, and selectors.
@Suite struct ACLCheckParityTests {
    /// Glob edges: escapes, classes with ranges, negation, reversed and
    /// unterminated classes, `\` at the end, stars around `?`.
    static let globs: [(String, [String])] = [
        ("h\\*llo", ["h*llo", "hello"]),
        ("a[bc]", ["ab", "ac", "ad", "a"]),
        ("[^a-c]x", ["dx", "bx", "x"]),
        ("[c-a]", ["b", "d"]),
        ("[\\]]", ["]", "\\"]),
        ("[a-]", ["a", "-", "b"]),
        ("a[", ["a[", "a"]),
        ("a[b", ["ab", "a[b"]),
        ("a\\", ["a\\", "a"]),
        ("\\\\x", ["\\x", "x"]),
        ("*?*", ["", "a", "ab"]),
        ("news.*", ["news.", "news.x.y", "new"]),
        ("[\\-]", ["-", "\\"]),
        ("a*b*c", ["abc", "aXbYc", "acb"]),
        ("", ["", "a"]),
    ]

    @Test func channelsKeysAndSelectorsAsRedis() throws {
        let redis = try RedisProcess()
        let client = try RawClient(port: redis.port)
        let reader = RESPReader(client)
        func call(_ args: [String]) -> RESP? {
            client.send(RawClient.command(args))
            return reader.next()
        }
        let catalogue = try ACLParityTests.catalogue(call)
        func id(_ name: String) -> Int { catalogue.lookup(Array(name.utf8)) ?? -1 }

        for (index, (pattern, channels)) in Self.globs.enumerated() {
            let rules = ["on", "nopass", "&" + pattern, "+publish", "+psubscribe"]
            #expect(call(["ACL", "SETUSER", "g\(index)"] + rules) == .simple("OK"))
            var user = ACLUser(name: "g\(index)", catalogue: catalogue)
            try user.apply(rules: rules.map { Array($0.utf8) }, catalogue: catalogue)
            for channel in channels + [pattern] {
                let redisAllows = call(["ACL", "DRYRUN", "g\(index)", "PUBLISH", channel, "m"]) == .simple("OK")
                let modelAllows = Array(channel.utf8).withUnsafeBytes { user.allowsChannel($0) }
                #expect(modelAllows == redisAllows, "&\(pattern) PUBLISH \(channel)")
                let redisPattern = call(["ACL", "DRYRUN", "g\(index)", "PSUBSCRIBE", channel]) == .simple("OK")
                let modelPattern = Array(channel.utf8).withUnsafeBytes { user.allowsChannelPattern($0) }
                #expect(modelPattern == redisPattern, "&\(pattern) PSUBSCRIBE \(channel)")
            }
        }

        // Keys: XRANGE reads, XADD writes, XLEN asks neither.
        let keyRules = ["on", "nopass", "%R~r*", "%W~w*", "~k?", "+xrange", "+xadd", "+xlen"]
        #expect(call(["ACL", "SETUSER", "k"] + keyRules) == .simple("OK"))
        var keys = ACLUser(name: "k", catalogue: catalogue)
        try keys.apply(rules: keyRules.map { Array($0.utf8) }, catalogue: catalogue)
        let requests: [([String], ACLKeyAccess)] = [(["XRANGE", "-", "+"], .read), (["XADD", "*", "f", "v"], .write), (["XLEN"], .none)]
        for key in ["r1", "w1", "k1", "k12", "x"] {
            for (request, access) in requests {
                let redisAllows = call(["ACL", "DRYRUN", "k", request[0], key] + request.dropFirst()) == .simple("OK")
                let modelAllows = Array(key.utf8).withUnsafeBytes { keys.allowsKey($0, access: access) }
                #expect(modelAllows == redisAllows, "\(request[0]) \(key)")
            }
        }

        // Selectors and first arguments: the whole check, and which refusal Redis names.
        let selectorRules = ["on", "nopass", "~a", "+xlen", "+select|0", "(~b +xadd)", "(&c* +publish ~z +xlen)"]
        #expect(call(["ACL", "SETUSER", "s"] + selectorRules) == .simple("OK"))
        var user = ACLUser(name: "s", catalogue: catalogue)
        try user.apply(rules: selectorRules.map { Array($0.utf8) }, catalogue: catalogue)
        #expect(!user.rootDecidesAlone)
        let cases: [[String]] = [
            ["XLEN", "a"], ["XLEN", "b"], ["XLEN", "z"], ["XADD", "b", "*", "f", "v"], ["XADD", "a", "*", "f", "v"],
            ["PUBLISH", "cat", "m"], ["PUBLISH", "dog", "m"], ["SELECT", "0"], ["SELECT", "1"], ["PING"],
        ]
        for request in cases {
            let redisReply = call(["ACL", "DRYRUN", "s"] + request)
            let denial = request.withFirstArgument { first in
                user.check(id(request[0].lowercased()), firstArgument: first) { selector in
                    Self.resources(request, selector)
                }
            }
            let modelReply: RESP
            switch denial {
            case nil: modelReply = .simple("OK")
            case let d? where d.reason == .command:
                modelReply = .bulk("This user has no permissions to run the '\(request[0].lowercased())' command")
            case let d? where d.reason == .key: modelReply = .bulk("This user has no permissions to access the '\(request[d.argument])' key")
            case let d?: modelReply = .bulk("This user has no permissions to access the '\(request[d.argument])' channel")
            }
            #expect(modelReply == redisReply, "\(request)")
        }
    }

    /// What the kernel does per request: the keys and channels of the
    /// commands used here, checked on one selector.
    static func resources(_ request: [String], _ selector: ACLSelector) -> ACLDenial? {
        func bytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R { Array(s.utf8).withUnsafeBytes(body) }
        switch request[0] {
        case "XLEN": return bytes(request[1]) { selector.allowsKey($0, access: .none) } ? nil : ACLDenial(.key, argument: 1)
        case "XADD": return bytes(request[1]) { selector.allowsKey($0, access: .write) } ? nil : ACLDenial(.key, argument: 1)
        case "PUBLISH": return bytes(request[1]) { selector.allowsChannel($0) } ? nil : ACLDenial(.channel, argument: 1)
        default: return nil
        }
    }
}

extension Array where Element == String {
    func withFirstArgument<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard count > 1 else { return body(nil) }
        return Array<UInt8>(self[1].utf8).withUnsafeBytes { body($0) }
    }
}
