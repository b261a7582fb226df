import Foundation
import Testing
import VimanaTestSupport

/// Sharded pub/sub on one node (issue 14 §3) against redis-server 7.0.15:
/// SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE, PUBSUB SHARDCHANNELS and SHARDNUMSUB,
/// the same bytes to both servers, byte for byte, in RESP2 and RESP3. Shard
/// channels are a namespace of their own: PUBLISH never reaches an
/// SSUBSCRIBE, SPUBLISH never a SUBSCRIBE or a PSUBSCRIBE. Replies whose
/// order is a hash table's in Redis (SUNSUBSCRIBE with no argument and
/// PUBSUB SHARDCHANNELS over several channels) are compared as sets in the
/// tests below the cases.
@Suite(.serialized) struct RedisParityShardTests {
    typealias Step = RedisParityTests.Step

    static let cases: [(String, [Step])] = [
        ("resp2 ssubscribe, spublish, sunsubscribe", [
            (0, "SSUBSCRIBE a b a\r\n"), (1, "SPUBLISH a hello\r\nSPUBLISH b \"\"\r\nSPUBLISH c x\r\nPUBLISH a no\r\n"),
            (0, "PING\r\nPING x\r\nECHO no\r\nXLEN s\r\nSPUBLISH a x\r\nPUBLISH a x\r\nPUBSUB SHARDCHANNELS\r\nCLIENT ID\r\n"
                + "SUNSUBSCRIBE a\r\nSUNSUBSCRIBE zz\r\nSUNSUBSCRIBE\r\nSUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nECHO yes\r\n"),
        ]),
        ("the namespaces are separate", [
            (0, "SUBSCRIBE a\r\n"), (1, "SSUBSCRIBE a\r\n"),
            (2, "PUBLISH a p\r\nSPUBLISH a s\r\nPUBSUB CHANNELS\r\nPUBSUB SHARDCHANNELS\r\nPUBSUB NUMSUB a\r\nPUBSUB SHARDNUMSUB a b\r\n"),
            (0, "SSUBSCRIBE b\r\nPSUBSCRIBE *\r\n"), (2, "SPUBLISH b x\r\nPUBLISH b y\r\nSPUBLISH a z\r\n"),
            (0, "UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nPING\r\nSUNSUBSCRIBE\r\nPING\r\n"),
        ]),
        ("a shard channel alone keeps the subscribed state", [
            (0, "SSUBSCRIBE a\r\nSUBSCRIBE c\r\nUNSUBSCRIBE c\r\nPING\r\nSUBSCRIBE c\r\nSUNSUBSCRIBE a\r\nPING\r\nUNSUBSCRIBE\r\nPING\r\n"),
            (1, "SSUBSCRIBE a\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nPING\r\nECHO x\r\nSUNSUBSCRIBE\r\nECHO y\r\n"),
        ]),
        ("resp3 shard pubsub", [
            (0, "HELLO 3\r\n"), (0, "SSUBSCRIBE a b\r\nSUBSCRIBE a\r\nPING\r\nECHO x\r\nPUBSUB SHARDNUMSUB a\r\n"),
            (1, "SPUBLISH a m\r\nPUBLISH a n\r\nSPUBLISH b \"\"\r\n"),
            (0, "SUNSUBSCRIBE b\r\nSUNSUBSCRIBE\r\nSUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nPING\r\n"),
        ]),
        ("shard introspection", [
            (0, "SSUBSCRIBE x y\r\n"), (1, "SSUBSCRIBE x\r\n"),
            (2, "PUBSUB SHARDNUMSUB x y z\r\nPUBSUB SHARDNUMSUB\r\nPUBSUB SHARDCHANNELS y\r\nPUBSUB SHARDCHANNELS nomatch*\r\n"
                + "PUBSUB SHARDCHANNELS x*\r\nPUBSUB SHARDCHANNELS [x]\r\nPUBSUB NUMSUB x\r\nPUBSUB CHANNELS\r\nPUBSUB HELP\r\n"),
            (2, "HELLO 3\r\n"), (2, "PUBSUB SHARDNUMSUB x\r\nPUBSUB SHARDCHANNELS x\r\nPUBSUB SHARDCHANNELS z\r\n"),
            (0, "QUIT\r\n"), (2, "PUBSUB SHARDNUMSUB x y\r\n"),
        ]),
        ("shard argument errors", [
            (0, "SSUBSCRIBE\r\nSPUBLISH\r\nSPUBLISH a\r\nSPUBLISH a b c\r\nSUNSUBSCRIBE\r\nSUNSUBSCRIBE a b\r\nPUBSUB SHARDNUMSUB\r\n"
                + "PUBSUB SHARDCHANNELS a b\r\npubsub shardChannels a b\r\nPUBSUB SHARDNUMSUBX\r\nspublish a b\r\n"),
        ]),
        ("shard commands inside multi", [
            (0, "MULTI\r\nSSUBSCRIBE x\r\nSPUBLISH x y\r\nSUNSUBSCRIBE x\r\nPUBSUB SHARDNUMSUB x\r\nEXEC\r\nPING\r\n"),
            (1, "MULTI\r\nSPUBLISH\r\nEXEC\r\n"),
        ]),
        ("reset and quit drop shard subscriptions", [
            (0, "SSUBSCRIBE a\r\nSUBSCRIBE b\r\n"), (0, "RESET\r\nPING\r\n"), (2, "SSUBSCRIBE c\r\n"), (2, "QUIT\r\n"),
            (1, "PUBSUB SHARDNUMSUB a c\r\nSPUBLISH a x\r\nSPUBLISH c x\r\nPUBSUB SHARDCHANNELS\r\n"),
        ]),
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

    // MARK: - Replies in hash-table order, compared as sets

    /// The frames SUNSUBSCRIBE with no argument replies after SSUBSCRIBE of
    /// `names` (in `resp`), as (name, count) pairs in the order received.
    static func unsubscribeAll(port: Int, _ names: [String], resp3: Bool) throws -> [(String, Int)] {
        let c = try RawClient(port: port)
        let reader = RESPReader(c)
        if resp3 {
            c.send("HELLO 3\r\n")
            _ = reader.next()
        }
        c.send(RawClient.command(["SSUBSCRIBE"] + names))
        for _ in names { _ = reader.next() }
        c.send("SUNSUBSCRIBE\r\n")
        var frames: [(String, Int)] = []
        for _ in names {
            guard case .array(let frame)? = reader.next(), frame.count == 3, frame[0] == .bulk("sunsubscribe"),
                  case .bulk(let name) = frame[1], case .integer(let count) = frame[2] else {
                throw TestFailure("SUNSUBSCRIBE: not a sunsubscribe frame")
            }
            frames.append((name, count))
        }
        // Nothing more: the next reply is PING's.
        c.send("PING\r\n")
        #expect(reader.next() == .simple("PONG"))
        return frames
    }

    @Test(arguments: [false, true])
    func sunsubscribeWithoutArgumentsDropsEachChannelOnceAsRedis(resp3: Bool) throws {
        let names = (0..<12).map { "shard\($0)" }
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        let want = try Self.unsubscribeAll(port: redis.port, names, resp3: resp3)
        let got = try Self.unsubscribeAll(port: vimana.port, names, resp3: resp3)
        #expect(got.map(\.0).sorted() == want.map(\.0).sorted())
        #expect(got.map(\.0).sorted() == names.sorted())
        // The count after each is how many remain, as Redis's.
        #expect(got.map(\.1) == want.map(\.1))
        #expect(got.map(\.1) == Array((0..<names.count).reversed()))
    }

    /// SHARDCHANNELS lists each shard channel with a subscriber once, the
    /// same set as Redis, and none of SUBSCRIBE's; SHARDNUMSUB counts
    /// connections per shard channel.
    @Test func shardChannelsListsTheSameSetAsRedis() throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        func listing(_ port: Int) throws -> [[String]] {
            let a = try RawClient(port: port), b = try RawClient(port: port), q = try RawClient(port: port)
            // Every subscription is made before q asks: its frames are read.
            a.send("SSUBSCRIBE s1 s2 s3 t1\r\n")
            let ra = RESPReader(a)
            for _ in 0..<4 { _ = ra.next() }
            b.send("SSUBSCRIBE s2 u1\r\nSUBSCRIBE s9 p1\r\n")
            let rb = RESPReader(b)
            for _ in 0..<4 { _ = rb.next() }
            let r = RESPReader(q)
            var out: [[String]] = []
            for args in [["PUBSUB", "SHARDCHANNELS"], ["PUBSUB", "SHARDCHANNELS", "s*"], ["PUBSUB", "SHARDCHANNELS", "*1"],
                         ["PUBSUB", "CHANNELS"], ["PUBSUB", "SHARDNUMSUB", "s1", "s2", "s9", "u1"]] {
                q.send(RawClient.command(args))
                let reply = try #require(r.next()).strings
                out.append(args[1] == "SHARDNUMSUB" ? reply : reply.sorted())
            }
            return out
        }
        let want = try listing(redis.port)
        let got = try listing(vimana.port)
        #expect(got == want)
        #expect(got[0] == ["s1", "s2", "s3", "t1", "u1"])
        #expect(got[4] == ["s1", "1", "s2", "2", "s9", "0", "u1", "1"])
    }

    /// CLIENT LIST's `ssub=` counts a connection's shard channels, and its
    /// `P` flag is set by a shard channel alone (fields Redis also has; the
    /// rest of the line differs between the servers).
    @Test func clientListCountsShardChannels() throws {
        let vimana = try ServerProcess()
        let c = try RawClient(port: vimana.port)
        c.send("SSUBSCRIBE a b\r\nSSUBSCRIBE a\r\n")
        let reader = RESPReader(c)
        for _ in 0..<3 { _ = reader.next() }
        let q = try RawClient(port: vimana.port)
        q.send("CLIENT LIST TYPE pubsub\r\n")
        let line = try #require(RESPReader(q).next())
        guard case .bulk(let text) = line else { throw TestFailure("CLIENT LIST: \(line)") }
        #expect(text.contains(" flags=P "), "\(text)")
        #expect(text.contains(" sub=0 psub=0 ssub=2 "), "\(text)")
    }
}
