import Foundation
import Testing

/// ACL against redis-server 7.0.15: the same users (made with ACL SETUSER
/// on both servers by the first step), the same bytes back. Each user
/// restricted here may PING: the transcript's sentinels are PINGs.
@Suite(.serialized) struct RedisParityACLTests {
    typealias Step = RedisParityTests.Step

    /// alice: publish/subscribe on `chan*`, streams on `foo*`, CONFIG GET but
    /// not CONFIG SET, no XLEN; bob: everything, but off.
    static let users = "ACL SETUSER alice on >pw ~foo* &chan* +@pubsub +@stream +ping +multi +exec +config|get -xlen\r\n"
        + "ACL SETUSER bob off >pw +@all\r\n"

    /// Users whose ACL LIST line is the same on both servers. (Redis
    /// describes commands from its own, larger table: alice's `+@stream
    /// +config|get …` comes out in another, equivalent, order of rules.)
    static let listed = "ACL SETUSER dan on >pw ~foo* &chan* +@pubsub +ping -xlen\r\nACL SETUSER eve on >pw +@all -@admin\r\n"
        + "ACL SETUSER gil on >pw &chan* +@pubsub +@stream +ping\r\nACL SETUSER bob off >pw +@all\r\n"

    static let cases: [(String, [Step])] = [
        ("auth as named users", [(0, users),
            (1, "AUTH alice bad\r\nAUTH nobody pw\r\nAUTH bob pw\r\nAUTH alice pw\r\nAUTH a b c\r\nCLIENT ID\r\nAUTH pw\r\n")]),
        ("commands refused by the rules", [(0, users),
            (1, "AUTH alice pw\r\nACL WHOAMI\r\nXLEN foo\r\nCONFIG SET a b\r\nCONFIG GET save\r\nCONFIG NOPE\r\nINFO\r\n")]),
        ("channels refused by the rules", [(0, users),
            (1, "AUTH alice pw\r\nPUBLISH x 1\r\nPUBLISH chan1 1\r\nPSUBSCRIBE chan*x\r\nPSUBSCRIBE chan?\r\nSUBSCRIBE chan1 other\r\n"),
            (1, "PSUBSCRIBE chan*\r\nSUBSCRIBE chan2\r\n")]),
        ("keys refused by the rules", [(0, users),
            (1, "AUTH alice pw\r\nXADD bar 1-1 a 1\r\nXADD foo 1-1 a 1\r\nXRANGE bar - +\r\nXREVRANGE foo + -\r\n"
                + "XREAD STREAMS foo bar 0 0\r\nXREAD STREAMS bar foo 0 0\r\nXREAD COUNT 1 STREAMS foo 0\r\n"
                + "XGROUP CREATE bar g $ MKSTREAM\r\nXGROUP CREATE foo g 0\r\nXREADGROUP GROUP g c STREAMS foo bar > >\r\n"
                + "XREADGROUP GROUP g c STREAMS foo >\r\nXACK bar g 1-1\r\nXACK foo g 1-1\r\nXPENDING bar g\r\nXINFO STREAM bar\r\n"
                + "XINFO GROUPS foo\r\nXCLAIM bar g c 0 1-1\r\nXAUTOCLAIM bar g c 0 0\r\nXREAD STREAMS bar\r\n")]),
        ("refusals inside multi", [(0, users),
            (1, "AUTH alice pw\r\nMULTI\r\nPUBLISH x 1\r\nPUBLISH chan1 1\r\nXADD bar 1-1 a 1\r\nEXEC\r\n"
                + "MULTI\r\nXLEN foo\r\nEXEC\r\nMULTI\r\nPUBLISH chan1 1\r\nXADD foo 1-1 a 1\r\nEXEC\r\n")]),
        ("shard channels refused by the rules", [(0, users),
            (1, "AUTH alice pw\r\nSPUBLISH x 1\r\nSPUBLISH chan1 1\r\nSSUBSCRIBE chan1 other\r\nSSUBSCRIBE other\r\n"
                + "SUNSUBSCRIBE other\r\nPUBSUB SHARDNUMSUB other chan1\r\n"),
            (1, "SSUBSCRIBE chan2\r\n"), (1, "SSUBSCRIBE nope\r\nSPUBLISH chan2 x\r\nXLEN foo\r\nSUNSUBSCRIBE\r\n"),
            (0, "ACL DRYRUN alice spublish chan1 x\r\nACL DRYRUN alice spublish x y\r\nACL DRYRUN alice ssubscribe chan1 x\r\n"
                + "ACL DRYRUN alice sunsubscribe x\r\nACL DRYRUN alice pubsub shardnumsub x\r\n")]),
        ("refusals while subscribed", [(0, users),
            (1, "AUTH alice pw\r\nSUBSCRIBE chan1\r\n"), (1, "XLEN foo\r\nCONFIG SET a b\r\nPUBLISH chan1 x\r\nPING\r\n")]),
        ("auth and hello", [(0, users),
            (1, "HELLO 3 AUTH alice bad\r\nHELLO 3 AUTH bob pw\r\nHELLO 3 AUTH alice\r\nHELLO 2 AUTH alice pw\r\nPING\r\n")]),
        ("reset returns to the default user", [(0, users),
            (1, "AUTH alice pw\r\nACL WHOAMI\r\nRESET\r\nACL WHOAMI\r\nXLEN foo\r\n")]),
        ("acl introspection", [(0, listed),
            (0, "ACL USERS\r\nACL LIST\r\nACL GETUSER dan\r\nACL GETUSER gil\r\nACL GETUSER bob\r\nACL GETUSER default\r\nACL GETUSER nobody\r\n"
                + "ACL WHOAMI\r\nACL CAT\r\nACL CAT nope\r\nACL CAT a b\r\nACL HELP\r\nACL LOAD\r\nACL SAVE\r\nACL NOPE\r\nACL\r\n"
                + "ACL WHOAMI x\r\nACL USERS x\r\nACL GETUSER\r\n"),
            (0, "HELLO 3\r\n"), (0, "ACL GETUSER eve\r\nACL GETUSER nobody\r\nACL USERS\r\n")]),
        ("acl setuser and deluser", [(0, users),
            (0, "ACL SETUSER x +nope\r\nACL SETUSER x bogus\r\nACL SETUSER \"a b\"\r\nACL SETUSER x on +ping bogus\r\nACL GETUSER x\r\n"
                + "ACL SETUSER carol on nopass +@all ~* &*\r\nACL GETUSER carol\r\nACL SETUSER carol -@all +ping resetkeys\r\n"
                + "ACL GETUSER carol\r\nACL DELUSER default\r\nACL DELUSER carol default\r\nACL DELUSER nobody carol carol\r\n"
                + "ACL DELUSER\r\nACL USERS\r\n")]),
        ("a NUL inside a rule", [(0, RawClient.command(["ACL", "SETUSER", "n", "on\0x", "+ping\0x", "~k*\0", "(&c\0d)"])
            + RawClient.command(["ACL", "SETUSER", "n", "~a\0b"]) + RawClient.command(["ACL", "SETUSER", "n", "xy\0z"])
            + RawClient.command(["ACL", "SETUSER", "n", "(~a", "b\0c"]) + "ACL LIST\r\n")]),
        ("acl log arguments", [(0, "ACL LOG\r\nACL LOG RESET\r\nACL LOG 5\r\nACL LOG -1\r\nACL LOG 0\r\nACL LOG x\r\nACL LOG 1 2\r\n")]),
        ("acl dryrun and genpass errors", [(0, users),
            (0, "ACL DRYRUN alice publish chan1 x\r\nACL DRYRUN alice publish x y\r\nACL DRYRUN alice xlen foo\r\n"
                + "ACL DRYRUN alice xadd bar 1-1 a 1\r\nACL DRYRUN alice config set a b\r\nACL DRYRUN nobody ping\r\n"
                + "ACL DRYRUN alice nocommand\r\nACL DRYRUN alice publish x\r\nACL DRYRUN alice psubscribe chan*\r\n"
                + "ACL GENPASS 0\r\nACL GENPASS 4097\r\nACL GENPASS x\r\nACL GENPASS 1 2\r\n")]),
        ("deleting a user closes its connections", [(0, users),
            (1, "AUTH alice pw\r\nSUBSCRIBE chan1\r\n"), (2, "AUTH alice pw\r\n"), (0, "ACL DELUSER alice\r\n")]),
        ("a user turned off keeps its connections", [(0, users),
            (1, "AUTH alice pw\r\n"), (0, "ACL SETUSER alice off\r\n"), (1, "PING\r\nAUTH alice pw\r\n")]),
        ("a changed user applies at once", [(0, users),
            (1, "AUTH alice pw\r\nPUBLISH chan1 x\r\n"), (0, "ACL SETUSER alice -publish\r\n"), (1, "PUBLISH chan1 x\r\n"),
            (0, "ACL SETUSER alice +publish resetchannels &other\r\n"), (1, "PUBLISH chan1 x\r\nPUBLISH other x\r\n")]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameBytesAsRedis(name: String) throws {
        let steps = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try RedisParityTests.run(steps, port: redis.port)
        let actual = try RedisParityTests.run(steps, port: vimana.port)
        #expect(actual == expected, "\(name)\nredis:  \(expected.map(visible))\nvimana: \(actual.map(visible))")
    }

    /// ACL LOG after the same denials: every field but the time and the
    /// client's line (which names each server's own connection details).
    @Test func aclLogMatchesRedis() throws {
        let steps: [Step] = [(0, Self.users),
            (1, "AUTH alice bad\r\nAUTH nobody x\r\nHELLO 3 AUTH alice bad\r\nAUTH alice bad\r\nAUTH alice pw\r\n"
                + "XLEN foo\r\nXLEN foo\r\nPUBLISH x 1\r\nXADD bar 1-1 a 1\r\nCONFIG SET a b\r\nMULTI\r\nPUBLISH y 1\r\nEXEC\r\n"
                + "PSUBSCRIBE chan*x\r\n"),
            (0, "ACL LOG\r\nACL LOG 2\r\n"), (0, "HELLO 3\r\n"), (0, "ACL LOG 1\r\nACL LOG RESET\r\nACL LOG\r\n")]
        func masked(_ lines: [String]) -> [String] {
            lines.map { line in
                var out = line
                // age-seconds' value (bulk in RESP2, double in RESP3), client-info's line.
                for pattern in ["\\$11\r\nage-seconds\r\n(\\$[0-9]+\r\n[0-9.e-]+|,[0-9.e-]+)\r\n",
                                "\\$11\r\nclient-info\r\n\\$[0-9]+\r\n[^\r]*\r\n"] {
                    out = out.replacingOccurrences(of: pattern, with: "<masked>\r\n", options: .regularExpression)
                }
                return out
            }
        }
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = masked(try RedisParityTests.run(steps, port: redis.port))
        let actual = masked(try RedisParityTests.run(steps, port: vimana.port))
        #expect(actual == expected, "redis:  \(expected.map(visible))\nvimana: \(actual.map(visible))")
    }

    /// INFO's `acl_access_denied_*` (Redis 7.2's fields; 7.0.15 keeps the
    /// same denials in ACL LOG but has no counters): after the same denials
    /// on both servers, each of Vimana's four counters equals Redis's ACL LOG
    /// entries of that reason, repeats grouped into an entry counted (where
    /// Redis 7.2 counts), and Vimana's own ACL LOG says the same.
    @Test func aclDenialCountersMatchRedisAclLog() throws {
        let steps: [Step] = [(0, Self.users),
            (1, "AUTH alice bad\r\nAUTH nobody x\r\nHELLO 3 AUTH alice bad\r\nAUTH alice bad\r\nAUTH bob pw\r\nAUTH alice pw\r\n"
                + "XLEN foo\r\nXLEN foo\r\nCONFIG SET a b\r\nPUBLISH x 1\r\nPUBLISH y 1\r\nPSUBSCRIBE chan*x\r\n"
                + "XADD bar 1-1 a 1\r\nXRANGE bar - +\r\nXREAD STREAMS foo bar 0 0\r\nMULTI\r\nPUBLISH z 1\r\nEXEC\r\n")]
        /// A key refused at EXEC (the rules changed after it was queued):
        /// the transcript's sentinels cannot cross an open MULTI, so by hand.
        func refusedAtExec(_ port: Int) throws -> String {
            let admin = try RawClient(port: port), c = try RawClient(port: port)
            c.send("AUTH alice pw\r\nMULTI\r\nXADD foo 1-1 a 1\r\n")
            guard c.read(matching: "+OK\r\n+OK\r\n+QUEUED\r\n") == "+OK\r\n+OK\r\n+QUEUED\r\n" else { return "not queued" }
            admin.send("ACL SETUSER alice resetkeys\r\n")
            guard admin.readReplies() == "+OK\r\n" else { return "not changed" }
            c.send("EXEC\r\n")
            return c.readReplies()
        }
        /// Each reason's total of `count` over ACL LOG's entries.
        func logged(_ port: Int) throws -> [String: Int] {
            let c = try RawClient(port: port)
            c.send("ACL LOG 128\r\n")
            guard case .array(let entries)? = RESPReader(c).next(timeout: 10) else { return [:] }
            var totals: [String: Int] = [:]
            for case .array(let fields) in entries {
                var reason = "", count = 0
                for k in stride(from: 0, to: fields.count - 1, by: 2) {
                    if fields[k] == .bulk("reason"), case .bulk(let r) = fields[k + 1] { reason = r }
                    if fields[k] == .bulk("count"), case .integer(let n) = fields[k + 1] { count = n }
                }
                totals[reason, default: 0] += count
            }
            return totals
        }
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try RedisParityTests.run(steps, port: redis.port)
        #expect(try RedisParityTests.run(steps, port: vimana.port) == expected)
        let exec = try refusedAtExec(redis.port)
        #expect(exec.hasPrefix("*1\r\n-NOPERM"), "\(visible(exec))")
        #expect(try refusedAtExec(vimana.port) == exec)
        let redisLog = try logged(redis.port)
        #expect(try logged(vimana.port) == redisLog)
        // Every reason happened, and some more than once (grouped entries).
        #expect(Set(redisLog.keys) == ["auth", "command", "key", "channel"] && redisLog.values.reduce(0, +) > 8, "\(redisLog)")
        let c = try RawClient(port: vimana.port)
        c.send("INFO stats\r\n")
        guard case .bulk(let text)? = RESPReader(c).next(timeout: 10) else { Issue.record("INFO gave no bulk string"); return }
        var counters: [String: Int] = [:]
        for line in text.components(separatedBy: "\r\n") where line.hasPrefix("acl_access_denied_") {
            let kv = line.dropFirst("acl_access_denied_".count).split(separator: ":")
            if kv.count == 2 { counters[String(kv[0])] = Int(kv[1]) }
        }
        #expect(counters == ["auth": redisLog["auth"] ?? 0, "cmd": redisLog["command"] ?? 0,
                             "key": redisLog["key"] ?? 0, "channel": redisLog["channel"] ?? 0], "\(counters)")
    }

    /// ACL CAT <category> names the same commands (Redis lists them in its
    /// hash table's order, so as sets) for every category, limited to the
    /// commands Vimana has.
    @Test func aclCatMatchesRedisForOurCommands() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let r = try RawClient(port: redis.port)
        let v = try RawClient(port: vimana.port)
        func names(_ c: RawClient, _ args: [String]) -> [String] {
            c.send(RawClient.command(args))
            return c.readReplies().components(separatedBy: "\r\n").enumerated().filter { $0.offset % 2 == 0 && $0.offset > 0 }
                .map(\.element).filter { !$0.isEmpty }
        }
        let categories = names(r, ["ACL", "CAT"])
        #expect(names(v, ["ACL", "CAT"]) == categories)
        // Every command and subcommand Vimana has (each is in a category: @slow or @fast at least).
        var ours = Set(names(v, ["COMMAND", "LIST"]))
        for category in categories { ours.formUnion(names(v, ["ACL", "CAT", category])) }
        var redisHas = Set<String>()
        for category in categories { redisHas.formUnion(names(r, ["ACL", "CAT", category])) }
        for category in categories {
            let theirs = Set(names(r, ["ACL", "CAT", category])).filter { ours.contains($0) }
            // Not Vimana's own commands, nor CLIENT SETINFO (Redis 7.2's).
            let mine = Set(names(v, ["ACL", "CAT", category])).filter { redisHas.contains($0) }
            #expect(mine == theirs, "category \(category): only Vimana \(mine.subtracting(theirs)), only Redis \(theirs.subtracting(mine))")
        }
    }

    /// Every command that names a stream key, for users whose patterns grant
    /// reads only (`%R~*`), writes only (`%W~*`), both (`%RW~k*`), or no
    /// pattern matching: ACL DRYRUN answers as Redis 7.0.15's key specs
    /// decide, and running the command on Vimana is refused exactly then
    /// (the per-request check, not only the dry run). Vimana's own ACK, NACK
    /// and PROGRESS ask what XACK asks (write), AGENTS nothing.
    @Test func keyAccessOfEveryStreamCommandAsRedis() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let r = try RawClient(port: redis.port)
        let v = try RawClient(port: vimana.port)
        func call(_ c: RawClient, _ args: [String]) -> String {
            c.send(RawClient.command(args))
            return c.readReplies()
        }
        let users = ["r": "%R~*", "w": "%W~*", "rw": "%RW~k*", "n": "~other"]
        for (name, keys) in users {
            for c in [r, v] { #expect(call(c, ["ACL", "SETUSER", name, "on", ">pw", keys, "+@all"]) == "+OK\r\n") }
        }
        // Make the stream and the group first, so that each command can run.
        for c in [r, v] {
            #expect(call(c, ["XADD", "k", "1-1", "a", "1"]) == "$3\r\n1-1\r\n")
            #expect(call(c, ["XGROUP", "CREATE", "k", "g", "0"]) == "+OK\r\n")
        }
        let requests: [[String]] = [
            ["XADD", "k", "*", "a", "1"], ["XRANGE", "k", "-", "+"], ["XREVRANGE", "k", "+", "-"], ["XLEN", "k"],
            ["XREAD", "STREAMS", "k", "0"], ["XREAD", "COUNT", "1", "STREAMS", "other", "k", "0", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"], ["XACK", "k", "g", "1-1"],
            ["XCLAIM", "k", "g", "c", "0", "1-1"], ["XAUTOCLAIM", "k", "g", "c", "0", "0"], ["XPENDING", "k", "g"],
            ["XINFO", "STREAM", "k"], ["XINFO", "GROUPS", "k"], ["XINFO", "CONSUMERS", "k", "g"],
            ["XGROUP", "CREATECONSUMER", "k", "g", "c2"], ["XGROUP", "DELCONSUMER", "k", "g", "c2"],
            ["XGROUP", "SETID", "k", "g", "0"], ["XGROUP", "CREATE", "k", "g2", "$"], ["XGROUP", "DESTROY", "k", "g2"],
            ["XTRIM", "k", "MAXLEN", "100"], ["XDEL", "k", "9-9"], ["WATCH", "k"],
        ]
        let noKey = "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        for name in users.keys.sorted() {
            let client = try RawClient(port: vimana.port)
            #expect(call(client, ["AUTH", name, "pw"]) == "+OK\r\n")
            for request in requests {
                let expected = call(r, ["ACL", "DRYRUN", name] + request)
                #expect(call(v, ["ACL", "DRYRUN", name] + request) == expected, "\(name) \(request)")
                let reply = call(client, request)
                #expect((reply == noKey) == (expected != "+OK\r\n"), "\(name) \(request): dryrun \(visible(expected)), ran \(visible(reply))")
                if request[0] == "WATCH" { _ = call(client, ["UNWATCH"]) }
            }
            // Vimana's own: ACK, NACK and PROGRESS write, as XACK; AGENTS names no key.
            let writes = name == "w" || name == "rw"
            for request in [["ACK", "k", "1-1"], ["NACK", "k", "1-1"], ["PROGRESS", "k", "1-1"]] {
                let dry = call(v, ["ACL", "DRYRUN", name] + request)
                #expect((dry == "+OK\r\n") == writes, "\(name) \(request): \(visible(dry))")
                #expect((call(client, request) == noKey) == !writes, "\(name) \(request)")
            }
            #expect(call(v, ["ACL", "DRYRUN", name, "AGENTS"]) == "+OK\r\n")
        }
    }
}
