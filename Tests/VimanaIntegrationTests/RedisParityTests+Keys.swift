import Foundation
import Testing
import VimanaTestSupport

/// Topics as keys (issue 14 §2) against redis-server 7.0.15: EXISTS, TOUCH,
/// TYPE, KEYS, SCAN, DBSIZE, RANDOMKEY, OBJECT, MEMORY USAGE and the
/// commands of other key types on a stream key, the same commands on a
/// fresh server of each kind, byte for byte. Replies whose order is a hash
/// table's in Redis (KEYS and SCAN over several keys) are compared as sets
/// in the tests below the cases.
@Suite(.serialized) struct KeyspaceParityTests {
    static let cases: [(String, [[String]])] = [
        ("an empty server", [
            ["DBSIZE"], ["RANDOMKEY"], ["KEYS", "*"], ["KEYS", "x*"], ["SCAN", "0"], ["SCAN", "0", "COUNT", "5", "MATCH", "*", "TYPE", "stream"],
            ["EXISTS", "a"], ["EXISTS", "a", "b", "a"], ["TYPE", "a"], ["TOUCH", "a", "b"],
            ["OBJECT", "ENCODING", "a"], ["OBJECT", "REFCOUNT", "a"], ["OBJECT", "FREQ", "a"], ["OBJECT", "IDLETIME", "a"],
            ["MEMORY", "USAGE", "a"], ["MEMORY", "USAGE", "a", "SAMPLES", "0"], ["MEMORY", "USAGE", "a", "samples", "5"]]),
        ("argument errors", [
            ["EXISTS"], ["TOUCH"], ["TYPE"], ["TYPE", "a", "b"], ["KEYS"], ["KEYS", "a", "b"], ["DBSIZE", "x"], ["RANDOMKEY", "x"],
            ["SCAN"], ["SCAN", "x"], ["SCAN", " 0"], ["SCAN", "0 "], ["SCAN", "1.5"], ["SCAN", "+"], ["SCAN", "-"], ["SCAN", "0x1"],
            ["SCAN", "18446744073709551616"], ["SCAN", "99999999999999999999999"], ["SCAN", "x", "COUNT", "0"],
            ["SCAN", "0", "COUNT"], ["SCAN", "0", "COUNT", "0"], ["SCAN", "0", "COUNT", "-1"], ["SCAN", "0", "COUNT", "x"],
            ["SCAN", "0", "COUNT", "9223372036854775808"], ["SCAN", "0", "MATCH"], ["SCAN", "0", "TYPE"], ["SCAN", "0", "FOO", "bar"],
            ["SCAN", "0", "COUNT", "0", "MATCH"], ["SCAN", "0", "MATCH", "a", "COUNT", "x"], ["SCAN", "0", "COUNTS", "1"],
            ["OBJECT"], ["OBJECT", "FOO"], ["OBJECT", "FOO", "a"], ["OBJECT", "ENCODING"], ["OBJECT", "ENCODING", "a", "b"],
            ["OBJECT", "HELP", "x"], ["OBJECT", "HELP"], ["object", "help"],
            ["MEMORY"], ["MEMORY", "USAGE"], ["MEMORY", "FOO"], ["MEMORY", "USAGE", "a", "SAMPLES"], ["MEMORY", "USAGE", "a", "SAMPLES", "-1"],
            ["MEMORY", "USAGE", "a", "SAMPLES", "x"], ["MEMORY", "USAGE", "a", "FOO"], ["MEMORY", "USAGE", "a", "SAMPLES", "1", "FOO"],
            ["MEMORY", "USAGE", "a", "SAMPLES", "-9223372036854775808"], ["MEMORY", "USAGE", "a", "SAMPLES", "9223372036854775808"]]),
        ("after xadds", [
            ["XADD", "s1", "1-1", "a", "1"], ["XADD", "s2", "1-1", "a", "1"], ["XADD", "s2", "1-2", "b", "2"],
            ["EXISTS", "s1"], ["EXISTS", "s1", "s1", "s2", "nokey"], ["EXISTS", "S1"], ["TOUCH", "s1", "s2", "s2", "x"],
            ["TYPE", "s1"], ["TYPE", "s2"], ["TYPE", "S1"], ["DBSIZE"],
            ["OBJECT", "ENCODING", "s1"], ["object", "encoding", "s2"], ["OBJECT", "REFCOUNT", "s1"], ["OBJECT", "FREQ", "s1"],
            ["KEYS", "s1"], ["KEYS", "*1"], ["KEYS", "?1"], ["KEYS", "s[!1]"], ["KEYS", "s[^1]"], ["KEYS", "S*"], ["KEYS", "nomatch*"],
            ["KEYS", "s\\2"], ["SCAN", "0", "MATCH", "*2"], ["SCAN", "0", "MATCH", "x*"], ["SCAN", "0", "TYPE", "string"],
            ["SCAN", "0", "MATCH", "s1", "TYPE", "STREAM"], ["SCAN", "0", "MATCH", "s1", "MATCH", "s2"],
            ["MEMORY", "USAGE", "s1", "SAMPLES", "-1"], ["MEMORY", "USAGE", "s1", "FOO"]]),
        ("one key, and a stream made by mkstream", [
            ["XADD", "s", "1-1", "a", "1"], ["RANDOMKEY"], ["KEYS", "*"], ["SCAN", "0"], ["SCAN", "0", "COUNT", "2"],
            ["SCAN", "0", "TYPE", "stream"], ["SCAN", "0", "TYPE", "hash"], ["SCAN", "0", "MATCH", "s"], ["SCAN", "", "MATCH", "s"],
            ["SCAN", "-0"], ["SCAN", "+0"], ["SCAN", "00"], ["SCAN", "0\u{0}x"], ["SCAN", "+\u{0}"], ["DBSIZE"],
            ["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"], ["EXISTS", "e"], ["TYPE", "e"], ["OBJECT", "ENCODING", "e"], ["DBSIZE"],
            ["KEYS", "e"], ["SCAN", "0", "MATCH", "e"]]),
        ("other key types on a stream key", [
            ["XADD", "s", "1-1", "a", "1"],
            ["GET", "s"], ["get", "s"], ["SET", "s", "x", "GET"], ["GETSET", "s", "x"], ["GETDEL", "s"], ["GETRANGE", "s", "0", "1"],
            ["APPEND", "s", "x"], ["STRLEN", "s"], ["INCR", "s"], ["INCRBY", "s", "2"], ["DECR", "s"], ["INCRBYFLOAT", "s", "1.5"],
            ["SETRANGE", "s", "0", "x"], ["HSET", "s", "a", "b"], ["HGET", "s", "a"], ["HGETALL", "s"], ["HDEL", "s", "a"], ["HLEN", "s"],
            ["HINCRBY", "s", "a", "1"], ["HKEYS", "s"], ["LPUSH", "s", "a"], ["RPUSH", "s", "a", "b"], ["LPOP", "s"], ["RPOP", "s"],
            ["LLEN", "s"], ["LRANGE", "s", "0", "-1"], ["LINDEX", "s", "0"], ["RPOPLPUSH", "s", "d"], ["BLPOP", "s", "0"],
            ["SADD", "s", "a"], ["SREM", "s", "a"], ["SMEMBERS", "s"], ["SISMEMBER", "s", "a"], ["SCARD", "s"], ["SINTER", "s"],
            ["ZADD", "s", "1", "a"], ["ZRANGE", "s", "0", "-1"], ["ZCARD", "s"], ["ZSCORE", "s", "a"], ["ZINCRBY", "s", "1", "a"],
            ["ZREVRANGE", "s", "0", "-1"], ["PFADD", "s", "a"], ["PFCOUNT", "s"], ["SETBIT", "s", "1", "1"], ["GETBIT", "s", "1"],
            ["BITCOUNT", "s"], ["GEOADD", "s", "1", "1", "a"], ["GEOPOS", "s", "a"], ["HSCAN", "s", "0"], ["SSCAN", "s", "0"], ["ZSCAN", "s", "0"],
            ["GET"], ["GET", "s", "x"], ["HSET", "s", "a"], ["LPUSH", "s"], ["ZADD", "s", "1"], ["SET", "s"], ["INCR"], ["BLPOP", "s"],
            ["XLEN", "s"], ["TYPE", "s"]]),
        ("resp3", [
            ["HELLO", "3"], ["RANDOMKEY"], ["OBJECT", "ENCODING", "a"], ["MEMORY", "USAGE", "a"], ["TYPE", "a"], ["SCAN", "0"],
            ["XADD", "s", "1-1", "a", "1"], ["RANDOMKEY"], ["TYPE", "s"], ["EXISTS", "s", "s"], ["SCAN", "0"], ["KEYS", "*"],
            ["OBJECT", "ENCODING", "s"], ["GET", "s"], ["OBJECT", "HELP"]]),
        ("keys commands inside multi", [
            ["XADD", "s", "1-1", "a", "1"], ["MULTI"], ["EXISTS", "s", "t"], ["TYPE", "s"], ["DBSIZE"], ["KEYS", "s"], ["SCAN", "0"],
            ["OBJECT", "ENCODING", "s"], ["TOUCH", "s"], ["RANDOMKEY"], ["EXEC"],
            ["MULTI"], ["EXISTS"], ["SCAN", "0", "COUNT", "0"], ["EXEC"], ["MULTI"], ["OBJECT", "NOPE", "s"], ["EXEC"]]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        let commands = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        // HELLO's server name and connection id are each server's own.
        let expected = try StreamIDParityTests.replies(commands, port: redis.port).map(RedisParityTests.normalize)
        let actual = try StreamIDParityTests.replies(commands, port: vimana.port).map(RedisParityTests.normalize)
        for (k, (want, got)) in zip(expected, actual).enumerated() {
            #expect(!want.isEmpty, "no reply from redis-server to \(visible(commands[k].joined(separator: " ")))")
            #expect(got == want, "\(name): \(visible(commands[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
    }

    // MARK: - Replies in hash-table order, compared as sets

    /// Many topics: k0…k29 and other0…other4.
    static let names = (0..<30).map { "k\($0)" } + (0..<5).map { "other\($0)" }

    static func fill(_ c: RawClient) {
        for name in names {
            c.send(RawClient.command(["XADD", name, "1-1", "f", "v"]))
            _ = c.readReplies(1)
        }
    }

    static func call(_ c: RawClient, _ args: [String]) -> RESP? {
        c.send(RawClient.command(args))
        return RESPReader(c).next()
    }

    /// A full SCAN: every call's keys, and the number of calls.
    static func scanAll(_ c: RawClient, _ options: [String]) throws -> (keys: [String], calls: [[String]]) {
        var cursor = "0"
        var keys: [String] = []
        var calls: [[String]] = []
        repeat {
            guard case .array(let reply)? = call(c, ["SCAN", cursor] + options), reply.count == 2,
                  case .bulk(let next) = reply[0] else { throw TestFailure("SCAN \(cursor) \(options)") }
            cursor = next
            calls.append(reply[1].strings)
            keys += reply[1].strings
            guard calls.count < 1000 else { throw TestFailure("SCAN never ends") }
        } while cursor != "0"
        return (keys, calls)
    }

    @Test func keysAndScanListTheSameKeysAsRedis() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        let r = try RawClient(port: redis.port), v = try RawClient(port: vimana.port)
        Self.fill(r)
        Self.fill(v)
        for pattern in ["*", "k1*", "k?", "*[3-5]", "other*", "nomatch", "k2\\9"] {
            let want = try #require(Self.call(r, ["KEYS", pattern])).strings.sorted()
            let got = try #require(Self.call(v, ["KEYS", pattern])).strings
            #expect(got.sorted() == want, "KEYS \(pattern)")
            #expect(Set(got).count == got.count, "KEYS \(pattern) twice")
        }
        #expect(Self.call(v, ["DBSIZE"]) == Self.call(r, ["DBSIZE"]))
        #expect(Self.call(v, ["DBSIZE"]) == .integer(Self.names.count))
        for options in [[], ["COUNT", "1"], ["COUNT", "3"], ["COUNT", "7"], ["COUNT", "100"], ["MATCH", "k1*"],
                        ["MATCH", "other*", "COUNT", "2"], ["TYPE", "stream", "COUNT", "4"], ["TYPE", "STREAM"], ["TYPE", "list"],
                        ["MATCH", "k*", "TYPE", "stream", "COUNT", "5"]] {
            let want = try Self.scanAll(r, options).keys.sorted()
            let (got, calls) = try Self.scanAll(v, options)
            #expect(Set(got).sorted() == Array(Set(want)).sorted(), "SCAN \(options)")
            #expect(Set(got).count == got.count, "SCAN \(options) returned a key twice")
            // COUNT is how many keys a call looks at: never more are returned.
            let count = options.firstIndex(of: "COUNT").map { Int(options[$0 + 1]) ?? 0 } ?? 10
            #expect(calls.allSatisfy { $0.count <= count }, "SCAN \(options): \(calls.map(\.count))")
            if options.isEmpty || options == ["COUNT", "1"] {
                #expect(calls.count == (Self.names.count + count - 1) / count, "SCAN \(options): \(calls.count) calls")
            }
        }
        // RANDOMKEY: a key, and not always the same one.
        var seen = Set<String>()
        for _ in 0..<200 {
            guard case .bulk(let key)? = Self.call(v, ["RANDOMKEY"]) else { throw TestFailure("RANDOMKEY") }
            #expect(Self.names.contains(key))
            seen.insert(key)
        }
        #expect(seen.count > 5, "RANDOMKEY gave \(seen)")
    }
}

/// INFO's `replication`, `cpu` and `keyspace` sections (issue 14 §4) have
/// Redis 7.0.15's fields in Redis's order, on an empty server and after
/// XADDs to two keys, so a client or exporter that reads them by name
/// finds each; `role` is master and `db0` counts the keys as Redis does.
@Suite(.serialized) struct InfoSectionParityTests {
    static func fields(_ port: Int, _ section: String) throws -> [(String, String)] {
        let c = try RawClient(port: port)
        c.send(RawClient.command(["INFO", section]))
        guard case .bulk(let text)? = RESPReader(c).next() else { throw TestFailure("INFO \(section) gave no bulk string") }
        return text.components(separatedBy: "\r\n").compactMap { line in
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]))
        }
    }

    @Test func replicationCpuAndKeyspaceHaveRedisFields() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        for port in [redis.port, vimana.port] {
            #expect(try Self.fields(port, "keyspace").isEmpty, "no db line without keys")
        }
        for section in ["replication", "cpu"] {
            #expect(try Self.fields(vimana.port, section).map(\.0) == Self.fields(redis.port, section).map(\.0), "INFO \(section)")
        }
        let role = try Self.fields(vimana.port, "replication")
        #expect(role.first { $0.0 == "role" }?.1 == "master" && role.first { $0.0 == "connected_slaves" }?.1 == "0")
        #expect(try Self.fields(vimana.port, "cpu").allSatisfy { $0.1.range(of: #"^[0-9]+\.[0-9]{6}$"#, options: .regularExpression) != nil })
        for port in [redis.port, vimana.port] {
            let c = try RawClient(port: port)
            for key in ["a", "b"] {
                c.send(RawClient.command(["XADD", key, "1-1", "f", "v"]))
                _ = c.readReplies(1)
            }
        }
        let want = try Self.fields(redis.port, "keyspace")
        #expect(try Self.fields(vimana.port, "keyspace").map { "\($0.0):\($0.1)" } == want.map { "\($0.0):\($0.1)" } && want.count == 1)
    }
}

/// TIME as redis-server answers it: two bulk strings of digits, seconds
/// and microseconds (below a million), the same clock; Redis's arity error.
@Suite struct TimeParityTests {
    @Test func timeIsRedisShapeAndClock() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        func time(_ port: Int) throws -> (Int, Int) {
            let c = try RawClient(port: port)
            c.send("TIME\r\n")
            guard case .array(let parts)? = RESPReader(c).next(), parts.count == 2,
                  case .bulk(let s) = parts[0], case .bulk(let u) = parts[1],
                  let seconds = Int(s), let micros = Int(u), String(micros) == u, micros >= 0, micros < 1_000_000
            else { throw TestFailure("TIME on \(port)") }
            return (seconds, micros)
        }
        let (a, _) = try time(redis.port), (b, _) = try time(vimana.port)
        #expect(abs(a - b) <= 2, "the same clock: \(a) and \(b)")
        let expected = try StreamIDParityTests.replies([["TIME", "x"], ["time", "1", "2"]], port: redis.port)
        #expect(try StreamIDParityTests.replies([["TIME", "x"], ["time", "1", "2"]], port: vimana.port) == expected)
    }
}

/// SHUTDOWN's refusals as redis-server's (ABORT with nothing in progress,
/// syntax errors, inside MULTI with EXEC's EXECABORT after), then a
/// SHUTDOWN that stops Vimana: the connection closes without a reply, and
/// the server exits 0 after the shutdown it logs; a user without @admin is refused.
@Suite struct ShutdownTests {
    @Test func refusalsAreRedisesAndAShutdownStopsTheServer() throws {
        let redis = try RedisProcess()
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            """, logLevel: "info")
        let refusals = [["SHUTDOWN", "ABORT"], ["SHUTDOWN", "FOO"], ["SHUTDOWN", "ABORT", "NOW"], ["SHUTDOWN", "NOSAVE", "SAVE"],
                        ["shutdown", "abort", "force"], ["MULTI"], ["SHUTDOWN"], ["PING"], ["EXEC"]]
        let expected = try StreamIDParityTests.replies(refusals, port: redis.port)
        #expect(try StreamIDParityTests.replies(refusals, port: server.port) == expected)
        #expect(expected.contains("-ERR Command not allowed inside a transaction\r\n"), "\(expected)")

        let app = try RawClient(port: server.port)
        app.send(command: "AUTH", "app", "x")
        #expect(app.readReplies() == "+OK\r\n")
        app.send(command: "SHUTDOWN")
        #expect(app.readReplies().hasPrefix("-NOPERM"), "a user without @admin may not")

        let admin = try RawClient(port: server.port)
        admin.send(command: "SHUTDOWN", "NOSAVE", "NOW")
        #expect(admin.isClosedByPeer(timeout: 10), "the connection closes without a reply")
        #expect(server.terminate(signal: 0, timeout: 20) == 0, "the server exits 0")
        #expect(server.log.contains("SHUTDOWN by user 'default'"))
    }
}
