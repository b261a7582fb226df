import Foundation
import Testing
import VimanaTestSupport

/// Topics as keys where Vimana answers what Redis cannot (Protocol/PROTOCOL.md
/// §6.10): the error naming the design for other key types, the server's own
/// topics left out of every listing, MEMORY USAGE from the ledger, OBJECT
/// IDLETIME refused, a SCAN that sees every key present throughout, keys
/// after a restart and without a ledger. Exact bytes from the real server.
@Suite struct KeyspaceTests {
    static func design(_ name: String, _ kind: String) -> String {
        "-ERR vimana keeps only streams (topics): '\(name)' is a \(kind) command; a topic is written with XADD or PUBLISH and read with XRANGE, XREAD or XREADGROUP\r\n"
    }

    static let wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

    @Test func otherKeyTypesAnswerWrongTypeOnATopicAndTheDesignOtherwise() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("XADD s 1-1 a 1\r\n")
        #expect(c.read(matching: "$3\r\n1-1\r\n") == "$3\r\n1-1\r\n")
        c.send("GET nokey\r\nGeT s\r\nHSET h a b\r\nZADD z 1 a\r\nPFADD p a\r\nGEOADD g 1 1 a\r\nSETBIT b 1 1\r\nLPUSH l a\r\nSADD t a\r\n"
            + "SET s x\r\nMSET s x\r\nMGET s\r\nBITFIELD_RO s\r\nLMPOP 1 s LEFT\r\nGET\r\nPING\r\n")
        let expected = Self.design("get", "string") + Self.wrongType + Self.design("hset", "hash") + Self.design("zadd", "sorted set")
            + Self.design("pfadd", "hyperloglog") + Self.design("geoadd", "geo") + Self.design("setbit", "bitmap")
            + Self.design("lpush", "list") + Self.design("sadd", "set")
            // A topic is never replaced: WRONGTYPE where Redis would overwrite.
            + Self.wrongType + Self.wrongType
            // No WRONGTYPE in Redis for these (MGET: nil per key; LMPOP: a count first).
            + Self.design("mget", "string") + Self.wrongType + Self.design("lmpop", "list")
            + "-ERR wrong number of arguments for 'get' command\r\n+PONG\r\n"
        #expect(c.read(matching: expected) == expected)
        // Nothing was made: still one key, a stream.
        c.send("DBSIZE\r\nTYPE s\r\nEXISTS nokey h l\r\n")
        #expect(c.read(matching: ":1\r\n+stream\r\n:0\r\n") == ":1\r\n+stream\r\n:0\r\n")
    }

    /// Redis's order: the arity, then NOAUTH, then the subscribed state; a
    /// topic the user may not name answers as any other key (no WRONGTYPE
    /// to tell it exists); inside MULTI the transaction fails.
    @Test func otherKeyTypesKeepRedisOrderOfChecksAndTellNothingToStrangers() throws {
        let server = try ServerProcess(config: "kernel:\n  password: secret\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("GET\r\nGET s\r\nAUTH secret\r\nXADD s 1-1 a 1\r\nXADD foo 1-1 a 1\r\n"
            + "ACL SETUSER u on >pw +@all ~foo*\r\nSUBSCRIBE ch\r\nGET s\r\nUNSUBSCRIBE\r\n")
        let expected = "-ERR wrong number of arguments for 'get' command\r\n-NOAUTH Authentication required.\r\n+OK\r\n"
            + "$3\r\n1-1\r\n$3\r\n1-1\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
            + "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
            + "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
        #expect(c.read(matching: expected) == expected)
        let u = try RawClient(port: server.port)
        u.send("AUTH u pw\r\nGET s\r\nGET foo\r\nEXISTS s\r\nMULTI\r\nGET foo\r\nPING\r\nEXEC\r\n")
        let seen = "+OK\r\n" + Self.design("get", "string") + Self.wrongType
            + "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
            + "+OK\r\n" + Self.wrongType + "+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n"
        #expect(u.read(matching: seen) == seen)
    }

    /// The journals (`_vimana.…`) are streams an admin may name, but no
    /// listing shows them: a test setup's `KEYS *` after FLUSHALL sees its own keys only.
    @Test func theServersOwnTopicsAreNotListed() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        // The user is journaled in `_vimana.acl`.
        c.send("ACL SETUSER u on >pw +@all -@admin ~*\r\nEXISTS _vimana.acl\r\nTYPE _vimana.acl\r\n")
        #expect(c.read(matching: "+OK\r\n:1\r\n+stream\r\n") == "+OK\r\n:1\r\n+stream\r\n")
        c.send("DBSIZE\r\nKEYS *\r\nSCAN 0\r\nRANDOMKEY\r\n")
        let expected = ":0\r\n*0\r\n*2\r\n$1\r\n0\r\n*0\r\n$-1\r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("XADD k 1-1 a 1\r\nDBSIZE\r\nKEYS *\r\nSCAN 0 COUNT 1\r\nRANDOMKEY\r\n")
        let after = "$3\r\n1-1\r\n:1\r\n*1\r\n$1\r\nk\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n$1\r\nk\r\n"
        #expect(c.read(matching: after) == after)
        // Another user may not name them at all.
        let u = try RawClient(port: server.port)
        u.send("AUTH u pw\r\nEXISTS _vimana.acl\r\nKEYS *\r\n")
        let refused = "+OK\r\n-NOPERM this user has no permissions to access one of the keys used as arguments\r\n*1\r\n$1\r\nk\r\n"
        #expect(u.read(matching: refused) == refused)
    }

    @Test func memoryUsageCountsTheTopicsBytesAndIdleTimeIsRefused() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        func usage(_ key: String) throws -> Int {
            c.send(RawClient.command(["MEMORY", "USAGE", key]))
            guard case .integer(let n)? = RESPReader(c).next() else { throw TestFailure("MEMORY USAGE \(key)") }
            return n
        }
        c.send("XADD small 1-1 a 1\r\n")
        _ = c.readReplies(1)
        let one = try usage("small")
        #expect(one > 0)
        let value = String(repeating: "x", count: 1000)
        for i in 1...50 {
            c.send(RawClient.command(["XADD", "big", "\(i)-1", "v", value]))
            _ = c.readReplies(1)
        }
        // 50 kB of values: in memory at least once, whatever is on disk yet.
        #expect(try usage("big") >= 50_000)
        #expect(try usage("big") > one)
        c.send("MEMORY USAGE nokey\r\nMEMORY USAGE big SAMPLES 0\r\nOBJECT IDLETIME big\r\nOBJECT IDLETIME nokey\r\nMEMORY HELP\r\n")
        let r = RESPReader(c)
        #expect(r.next() == .null)
        guard case .integer(let sampled)? = r.next() else { throw TestFailure("SAMPLES 0") }
        #expect(sampled >= 50_000)
        #expect(r.next() == .error("ERR OBJECT IDLETIME is not supported: vimana does not record when a topic was last read"))
        #expect(r.next() == .null)
        #expect(r.next() == .array([.simple("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
                                    .simple("USAGE <key> [SAMPLES <count>]"),
                                    .simple("    Return memory in bytes used by <key> and its value. Nested values are"),
                                    .simple("    sampled up to <count> times (default: 5, 0 means sample all)."),
                                    .simple("HELP"), .simple("    Prints this help.")]))
    }

    /// Keys added during an iteration may or may not come; every key there
    /// from its start to its end comes exactly once.
    @Test func scanReturnsEveryKeyPresentThroughoutOnceWhileTopicsAreAdded() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        func call(_ args: [String]) -> RESP? {
            c.send(RawClient.command(args))
            return RESPReader(c).next()
        }
        let before = (0..<40).map { "a\($0)" }
        for name in before { _ = call(["XADD", name, "1-1", "f", "v"]) }
        var cursor = "0", seen: [String] = [], added = 0
        repeat {
            guard case .array(let reply)? = call(["SCAN", cursor, "COUNT", "3"]), case .bulk(let next) = reply[0] else {
                throw TestFailure("SCAN")
            }
            seen += reply[1].strings
            cursor = next
            // A new topic between every two calls.
            _ = call(["XADD", "b\(added)", "1-1", "f", "v"])
            added += 1
        } while cursor != "0" && added < 1000
        #expect(cursor == "0")
        #expect(Set(before).isSubset(of: Set(seen)))
        #expect(Set(seen).count == seen.count, "a key came twice")
    }

    @Test func topicsAreKeysAfterARestart() throws {
        let directory = NSTemporaryDirectory() + "vimana-keys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let server = try ServerProcess(ledgerDirectory: directory)
            let c = try RawClient(port: server.port)
            c.send("XADD s 1-1 a 1\r\nXGROUP CREATE e g $ MKSTREAM\r\nPING\r\n")
            #expect(c.read(matching: "$3\r\n1-1\r\n+OK\r\n+PONG\r\n") == "$3\r\n1-1\r\n+OK\r\n+PONG\r\n")
        }
        let server = try ServerProcess(ledgerDirectory: directory)
        let c = try RawClient(port: server.port)
        c.send("DBSIZE\r\nEXISTS s e\r\nTYPE s\r\nKEYS s\r\n")
        let expected = ":2\r\n:2\r\n+stream\r\n*1\r\n$1\r\ns\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func withoutALedgerThereAreNoKeys() throws {
        let server = try ServerProcess(arguments: ["--no-ledger"])
        let c = try RawClient(port: server.port)
        c.send("DBSIZE\r\nEXISTS s\r\nTYPE s\r\nKEYS *\r\nSCAN 0\r\nRANDOMKEY\r\nOBJECT ENCODING s\r\nMEMORY USAGE s\r\nGET s\r\n")
        let expected = ":0\r\n:0\r\n+none\r\n*0\r\n*2\r\n$1\r\n0\r\n*0\r\n$-1\r\n$-1\r\n$-1\r\n" + Self.design("get", "string")
        #expect(c.read(matching: expected) == expected)
    }
}
