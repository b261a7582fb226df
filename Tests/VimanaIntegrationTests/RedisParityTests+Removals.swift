import Foundation
import Testing
import VimanaTestSupport

/// Deletion and trimming on the append-only ledger (issue 14 §1) against
/// redis-server 7.0.15: XDEL, XTRIM, XADD's trimming options, DEL and
/// UNLINK, each followed by the reads, lengths and stream figures a Redis
/// user checks, the same commands on a fresh server of each kind, byte for byte.
@Suite(.serialized) struct RemovalParityTests {
    /// `XADD key id f v` for ids `1-1` … `n-1`.
    static func adds(_ key: String, _ n: Int, from: Int = 1) -> [[String]] {
        (from..<(from + n)).map { ["XADD", key, "\($0)-1", "f", "\($0)"] }
    }

    static let cases: [(String, [[String]])] = [
        ("xdel", adds("s", 5) + [
            ["XDEL", "s", "2-1"], ["XDEL", "s", "2-1"], ["XDEL", "s", "9-9"], ["XDEL", "nokey", "1-1"], ["XDEL", "nokey", "bad"],
            ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["XREVRANGE", "s", "+", "-"], ["XRANGE", "s", "2-1", "2-1"],
            ["XDEL", "s", "1-1", "3", "3-1", "1-1"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["XINFO", "STREAM", "s"],
            ["XDEL", "s", "4-1", "bad"], ["XDEL", "s", "4-1", "*"], ["XDEL", "s", "-"], ["XDEL", "s", "+"], ["XDEL", "s"], ["XLEN", "s"],
            ["XDEL", "s", "4-1", "5-1"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["XINFO", "STREAM", "s"], ["EXISTS", "s"],
            ["TYPE", "s"], ["XADD", "s", "3-1", "f", "v"], ["XADD", "s", "6-*", "f", "v"], ["XLEN", "s"]]),
        ("xtrim maxlen and minid, exact", adds("s", 10) + [
            ["XTRIM", "s", "MAXLEN", "8"], ["XLEN", "s"], ["XRANGE", "s", "-", "+", "COUNT", "1"], ["XTRIM", "s", "MAXLEN", "=", "6"],
            ["XTRIM", "s", "MAXLEN", "100"], ["XTRIM", "s", "MINID", "7"], ["XRANGE", "s", "-", "+"], ["XTRIM", "s", "MINID", "=", "7-2"],
            ["XINFO", "STREAM", "s"], ["XDEL", "s", "9-1"], ["XTRIM", "s", "MAXLEN", "1"], ["XRANGE", "s", "-", "+"],
            ["XTRIM", "s", "MAXLEN", "0"], ["XLEN", "s"], ["XINFO", "STREAM", "s"], ["EXISTS", "s"], ["XTRIM", "nokey", "MAXLEN", "0"],
            ["XADD", "s", "11-1", "f", "v"], ["XRANGE", "s", "-", "+"]]),
        ("xtrim approximate", adds("s", 250) + [
            ["XTRIM", "s", "MAXLEN", "~", "200"], ["XLEN", "s"], ["XTRIM", "s", "MAXLEN", "~", "120"], ["XLEN", "s"],
            ["XRANGE", "s", "-", "+", "COUNT", "1"], ["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "30"], ["XLEN", "s"],
            ["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "100"], ["XLEN", "s"], ["XTRIM", "s", "MINID", "~", "240"], ["XLEN", "s"],
            ["XTRIM", "s", "MINID", "~", "251"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]),
        ("xadd with trimming", [
            ["XADD", "s", "MAXLEN", "2", "1-1", "f", "v"], ["XADD", "s", "MAXLEN", "2", "2-1", "f", "v"],
            ["XADD", "s", "maxlen", "=", "2", "3-1", "f", "v"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"],
            ["XADD", "s", "MINID", "3-1", "4-1", "f", "v"], ["XRANGE", "s", "-", "+"], ["XADD", "s", "MAXLEN", "0", "5-1", "f", "v"],
            ["XLEN", "s"], ["XINFO", "STREAM", "s"], ["XADD", "n", "NOMKSTREAM", "MAXLEN", "1", "1-1", "f", "v"], ["EXISTS", "n"],
            ["XADD", "s", "NOMKSTREAM", "MAXLEN", "~", "1", "LIMIT", "5", "6-1", "f", "v"], ["XLEN", "s"]]),
        ("trimming argument errors", adds("s", 3) + [
            ["XTRIM", "s"], ["XTRIM", "s", "MAXLEN"], ["XTRIM", "s", "FOO", "1"], ["XTRIM", "s", "MAXLEN", "x"],
            ["XTRIM", "s", "MAXLEN", "-1"], ["XTRIM", "s", "MINID", "x"], ["XTRIM", "s", "MAXLEN", "1", "MINID", "1"],
            ["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"], ["XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "-1"],
            ["XTRIM", "s", "LIMIT", "1"], ["XTRIM", "s", "MAXLEN", "~"], ["XTRIM", "s", "MAXLEN", "~", "x"],
            ["XTRIM", "s", "MAXLEN", "9223372036854775808"], ["XTRIM", "s", "MINID", "-"], ["XTRIM", "s", "MINID", "+"],
            ["XTRIM", "nokey", "FOO"], ["XTRIM", "s", "MAXLEN", "1", "FOO"], ["XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "0"],
            ["XADD", "s", "MAXLEN", "1", "MINID", "1", "4-1", "f", "v"], ["XADD", "s", "LIMIT", "1", "4-1", "f", "v"],
            ["XADD", "s", "MAXLEN", "1", "LIMIT", "1", "4-1", "f", "v"], ["XADD", "s", "MAXLEN", "-1", "4-1", "f", "v"],
            ["XADD", "s", "MAXLEN", "x", "4-1", "f", "v"], ["XADD", "s", "MAXLEN", "4-1", "f", "v"], ["XADD", "s", "MAXLEN"],
            ["XADD", "s", "MAXLEN", "1", "0-0", "f", "v"], ["XADD", "s", "MAXLEN", "1", "4-1", "f"], ["XADD", "s", "MAXLENS", "1", "f", "v"],
            ["XLEN", "s"]]),
        ("del and unlink", adds("s", 3) + adds("t", 2) + [
            ["DEL", "s"], ["DEL", "s"], ["EXISTS", "s"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["TYPE", "s"], ["DBSIZE"],
            ["XINFO", "STREAM", "s"], ["XADD", "s", "1-1", "f", "again"], ["XRANGE", "s", "-", "+"], ["XINFO", "STREAM", "s"],
            ["UNLINK", "t", "s", "nokey", "t"], ["DBSIZE"], ["KEYS", "*"], ["DEL"], ["UNLINK"],
            ["XGROUP", "CREATE", "g", "grp", "$", "MKSTREAM"], ["DEL", "g"], ["XINFO", "GROUPS", "g"], ["EXISTS", "g"],
            ["XADD", "g", "1-*", "f", "v"], ["XINFO", "GROUPS", "g"]]),
        ("groups after xdel and xtrim", adds("s", 6) + [
            ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"],
            ["XDEL", "s", "2-1", "4-1"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"], ["XPENDING", "s", "g"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], ["XINFO", "GROUPS", "s"],
            ["XCLAIM", "s", "g", "c", "0", "1-1", "2-1"], ["XPENDING", "s", "g", "-", "+", "10"],
            ["XAUTOCLAIM", "s", "g", "e", "0", "0-0"], ["XPENDING", "s", "g"], ["XTRIM", "s", "MAXLEN", "1"],
            ["XAUTOCLAIM", "s", "g", "e", "0", "0-0"], ["XINFO", "GROUPS", "s"], ["XACK", "s", "g", "1-1", "6-1"],
            ["XGROUP", "CREATE", "s", "h", "0"], ["XINFO", "GROUPS", "s"], ["XREADGROUP", "GROUP", "h", "c", "STREAMS", "s", ">"],
            ["XINFO", "GROUPS", "s"], ["XADD", "s", "7-1", "f", "v"], ["XINFO", "GROUPS", "s"]]),
        ("xread after removals", adds("s", 5) + [
            ["XDEL", "s", "3-1"], ["XREAD", "STREAMS", "s", "0"], ["XREAD", "COUNT", "1", "STREAMS", "s", "2-1"],
            ["XTRIM", "s", "MINID", "5"], ["XREAD", "STREAMS", "s", "0"], ["XREAD", "STREAMS", "s", "5-1"], ["DEL", "s"],
            ["XREAD", "STREAMS", "s", "0"], ["XADD", "s", "1-1", "f", "v"], ["XREAD", "STREAMS", "s", "0"]]),
        ("flushall and flushdb", adds("s", 3) + adds("t", 2) + [
            ["XGROUP", "CREATE", "t", "g", "0"], ["FLUSHALL", "x"], ["FLUSHALL", "ASYNC", "x"], ["FLUSHDB", "SYNCS"], ["DBSIZE"],
            ["FLUSHALL"], ["DBSIZE"], ["KEYS", "*"], ["EXISTS", "s", "t"], ["XINFO", "GROUPS", "t"], ["XLEN", "s"],
            ["XADD", "s", "1-1", "f", "v"], ["FLUSHDB", "sync"], ["DBSIZE"], ["XADD", "s", "1-1", "f", "v"], ["flushall", "async"],
            ["XRANGE", "s", "-", "+"], ["FLUSHDB", "ASYNC"], ["FLUSHALL", "SYNC"], ["DBSIZE"]]),
        ("xsetid", adds("s", 3) + [
            ["XSETID", "s", "5-0"], ["XINFO", "STREAM", "s"], ["XSETID", "s", "1-0"],
            ["XSETID", "s", "9-0", "ENTRIESADDED", "10", "MAXDELETEDID", "4-0"], ["XINFO", "STREAM", "s"],
            ["XSETID", "s", "9-0", "ENTRIESADDED", "1"], ["XSETID", "s", "9-0", "MAXDELETEDID", "10-0"], ["XSETID", "s", "3-0"],
            ["XSETID", "nokey", "1-1"], ["XSETID", "s"], ["XSETID", "s", "x"], ["XSETID", "s", "10-0", "ENTRIESADDED"],
            ["XSETID", "s", "10-0", "FOO", "1"], ["XSETID", "s", "10-0", "ENTRIESADDED", "-1"], ["XSETID", "s", "10-0", "ENTRIESADDED", "x"],
            ["XSETID", "nokey", "x"], ["XSETID", "nokey", "1-1", "FOO"], ["XSETID", "s", "10-0", "maxdeletedid", "x"],
            ["XADD", "s", "9-0", "f", "v"], ["XADD", "s", "9-*", "f", "v"], ["XDEL", "s", "9-1"], ["XSETID", "s", "3-2"],
            ["XSETID", "s", "9-0"], ["XINFO", "STREAM", "s"], ["XADD", "s", "9-1", "f", "v"]]),
        ("xinfo stream full", adds("s", 12) + [
            ["XDEL", "s", "1-1"], ["XINFO", "STREAM", "s", "FULL"], ["XINFO", "STREAM", "s", "FULL", "COUNT", "2"],
            ["XINFO", "STREAM", "s", "FULL", "COUNT", "0"], ["XINFO", "STREAM", "s", "FULL", "COUNT", "-3"],
            ["XINFO", "STREAM", "s", "FULL", "COUNT", "x"], ["XINFO", "STREAM", "s", "FOO"], ["XINFO", "STREAM", "s", "FULL", "FOO", "1"],
            ["XINFO", "STREAM", "s", "FULL", "COUNT"], ["XINFO", "STREAM", "nokey", "FULL"], ["XINFO", "STREAM", "s", "full", "count", "1"],
            ["XGROUP", "CREATE", "s", "g", "0"], ["XGROUP", "CREATE", "s", "h", "$"],
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"], ["XINFO", "STREAM", "s", "FULL", "COUNT", "2"],
            ["XGROUP", "SETID", "s", "g", "-"], ["XINFO", "GROUPS", "s"], ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1"],
            ["XINFO", "GROUPS", "s"], ["XGROUP", "CREATE", "s", "k", "1-1"], ["XINFO", "GROUPS", "s"], ["HELLO", "3"],
            ["XINFO", "STREAM", "s", "FULL", "COUNT", "1"]]),
        ("xautoclaim argument checks in redis's order", adds("s", 3) + [
            ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
            ["XAUTOCLAIM", "s", "g", "c", "x", "0"], ["XAUTOCLAIM", "s", "g", "c", "0", "x"], ["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "x"], ["XAUTOCLAIM", "s", "g", "c", "-1", "0"], ["XAUTOCLAIM", "s", "nog", "c", "0", "0"],
            ["XAUTOCLAIM", "nokey", "g", "c", "0", "0"], ["XAUTOCLAIM", "s", "g", "c", "0", "0", "JUSTID", "FOO"],
            ["XAUTOCLAIM", "nokey", "g", "c", "x", "0"], ["XAUTOCLAIM", "s", "nog", "c", "x", "y"], ["XAUTOCLAIM", "s", "g", "c", "0", "(1-1"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "-1"], ["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "9223372036854775807"],
            ["XDEL", "s", "2-1"], ["XAUTOCLAIM", "s", "g", "d", "0", "0", "JUSTID"], ["XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "1"],
            ["XGROUP", "SETID", "s", "g", "-"], ["XGROUP", "SETID", "s", "g", "+"], ["XINFO", "GROUPS", "s"]]),
        // XSETID may set the last ID below that of an entry XDEL removed from
        // the top: the entries added after it have lower IDs than that removed one.
        ("xsetid below a removed top entry", adds("s", 3) + [
            ["XDEL", "s", "3-1"], ["XSETID", "s", "2-5"], ["XADD", "s", "2-6", "f", "v"], ["XRANGE", "s", "2-6", "+"],
            ["XRANGE", "s", "2-6", "2-6"], ["XREAD", "STREAMS", "s", "2-5"], ["XREVRANGE", "s", "+", "-", "COUNT", "1"],
            ["XADD", "s", "2-7", "f", "v"], ["XDEL", "s", "2-6"], ["XLEN", "s"], ["XRANGE", "s", "-", "+"],
            ["XTRIM", "s", "MINID", "2-7"], ["XRANGE", "s", "-", "+"], ["XINFO", "STREAM", "s"]]),
        // Redis reads XTRIM's arguments before it looks the key up.
        ("xtrim argument errors on a missing key", [
            ["XTRIM", "nokey", "MAXLEN", "x"], ["XTRIM", "nokey", "MAXLEN", "1", "LIMIT", "5"], ["XTRIM", "nokey", "MAXLEN", "-1"],
            ["XTRIM", "nokey", "MINID", "x"], ["XTRIM", "nokey", "FOO", "1"], ["XTRIM", "nokey", "MAXLEN", "1", "MINID", "1"],
            ["XTRIM", "nokey", "LIMIT", "1", "MAXLEN", "1"], ["XTRIM", "nokey", "MAXLEN", "~", "1", "LIMIT", "-1"],
            ["XTRIM", "nokey", "MAXLEN", "~", "1", "LIMIT", "5"], ["EXISTS", "nokey"]]),
        // Redis 7.0.15 makes a consumer when a read serves it or a claim gives it an entry:
        // not on a `>` read with nothing new, nor on a claim of nothing (or of entries XDEL removed).
        ("consumers made as redis makes them", adds("s", 2) + [
            ["XGROUP", "CREATE", "s", "g", "$"], ["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "a", "BLOCK", "10", "STREAMS", "s", ">"], ["XCLAIM", "s", "g", "b", "0", "1-1"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0-0"], ["XINFO", "GROUPS", "s"], ["XADD", "s", "3-1", "f", "v"],
            ["XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"], ["XDEL", "s", "3-1"], ["XCLAIM", "s", "g", "e", "0", "3-1"],
            ["XAUTOCLAIM", "s", "g", "f", "0", "0-0"], ["XINFO", "GROUPS", "s"], ["XREADGROUP", "GROUP", "g", "h", "STREAMS", "s", "0"],
            ["XINFO", "GROUPS", "s"], ["XADD", "s", "4-1", "f", "v"], ["XCLAIM", "s", "g", "i", "0", "4-1"],
            ["XREADGROUP", "GROUP", "g", "j", "NOACK", "STREAMS", "s", ">"], ["XCLAIM", "s", "g", "k", "0", "4-1"],
            ["XINFO", "GROUPS", "s"]]),
        ("removals inside multi", adds("s", 4) + [
            ["MULTI"], ["XDEL", "s", "1-1"], ["XTRIM", "s", "MAXLEN", "2"], ["XLEN", "s"], ["DEL", "s"], ["XLEN", "s"], ["EXEC"],
            ["EXISTS", "s"]]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        let commands = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        let expected = try StreamIDParityTests.replies(commands, port: redis.port).map(Self.normalize)
        let actual = try StreamIDParityTests.replies(commands, port: vimana.port).map(Self.normalize)
        for (k, (want, got)) in zip(expected, actual).enumerated() {
            #expect(!want.isEmpty, "no reply from redis-server to \(visible(commands[k].joined(separator: " ")))")
            #expect(got == want, "\(name): \(visible(commands[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
    }

    /// Each server's own (HELLO's), and the wall-clock milliseconds of a
    /// delivery or a consumer's last sight (XINFO STREAM FULL): the time the
    /// test ran, not the server's answer.
    static func normalize(_ reply: String) -> String {
        RedisParityTests.normalize(reply).replacingOccurrences(of: #":1[0-9]{12}\r\n"#, with: ":TIME\r\n", options: .regularExpression)
    }
}

/// Removals survive a kill -9 and a start on the same ledger: the markers
/// are read again, and the streams after the start answer as redis-server
/// answers after the same commands (with LEDGER SEAL between them on
/// Vimana, so that the removed entries lie in sealed segments and in the
/// active one, and a seal's snapshot of the removals is written).
@Suite(.serialized) struct RemovalRecoveryTests {
    static let commands: [[String]] = RemovalParityTests.adds("s", 20) + [["LEDGER", "SEAL"]]
        + RemovalParityTests.adds("s", 10, from: 21) + [
            ["XDEL", "s", "5-1", "25-1"], ["XTRIM", "s", "MAXLEN", "20"], ["LEDGER", "SEAL"], ["XDEL", "s", "12-1"],
            ["XADD", "t", "1-1", "f", "old"], ["XADD", "t", "2-1", "f", "old"], ["DEL", "t"], ["XADD", "t", "1-5", "f", "new"],
            ["XADD", "u", "7-1", "f", "v"], ["XGROUP", "CREATE", "u", "g", "0"], ["UNLINK", "u"],
            ["XADD", "w", "1-1", "f", "v"], ["XADD", "w", "2-1", "f", "v"], ["XTRIM", "w", "MAXLEN", "0"],
        ]
    static let queries: [[String]] = [
        ["XLEN", "s"], ["XRANGE", "s", "-", "+"], ["XREVRANGE", "s", "+", "-", "COUNT", "3"], ["XINFO", "STREAM", "s"],
        ["XRANGE", "s", "12-1", "12-1"], ["XLEN", "t"], ["XRANGE", "t", "-", "+"], ["XINFO", "STREAM", "t"], ["EXISTS", "u"],
        ["XINFO", "GROUPS", "u"], ["XLEN", "w"], ["XINFO", "STREAM", "w"], ["DBSIZE"], ["XADD", "s", "30-1", "f", "v"],
        ["XADD", "t", "1-6", "f", "v"], ["XADD", "w", "2-2", "f", "v"], ["XDEL", "s", "12-1", "13-1"], ["XLEN", "s"],
    ]

    @Test func removalsAreTheSameAfterAKillAndAStart() throws {
        let redis = try RedisProcess()
        _ = try StreamIDParityTests.replies(Self.commands.filter { $0[0] != "LEDGER" }, port: redis.port)
        let expected = try StreamIDParityTests.replies(Self.queries, port: redis.port)

        let first = try ServerProcess()
        let sent = try StreamIDParityTests.replies(Self.commands, port: first.port)
        #expect(!sent.contains { $0.hasPrefix("-") }, "\(sent)")
        let before = try StreamIDParityTests.replies(Self.queries.filter { $0[0] != "XADD" && $0[0] != "XDEL" }, port: first.port)
        _ = first.terminate(signal: SIGKILL)
        let second = try ServerProcess(ledgerDirectory: first.ledgerDirectory)
        let after = try StreamIDParityTests.replies(Self.queries, port: second.port)
        for (k, (want, got)) in zip(expected, after).enumerated() {
            #expect(got == want, "\(visible(Self.queries[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
        // What the first server answered before the kill, the second answers after it.
        let writes = Self.queries.firstIndex { $0[0] == "XADD" } ?? Self.queries.count
        #expect(Array(after.prefix(writes)) == Array(before.prefix(writes)))
        // A seal writes every stream's removals again: a third start reads them from there too.
        let c = try RawClient(port: second.port)
        c.send(RawClient.command(["LEDGER", "SEAL"]))
        #expect(c.readReplies(1).hasPrefix("$"))
        _ = second.terminate(signal: SIGKILL)
        let third = try ServerProcess(ledgerDirectory: first.ledgerDirectory)
        let again = try StreamIDParityTests.replies(Self.queries.filter { $0[0] != "XADD" && $0[0] != "XDEL" }, port: third.port)
        let final = try StreamIDParityTests.replies(Self.queries.filter { $0[0] != "XADD" && $0[0] != "XDEL" }, port: redis.port)
        #expect(again == final, "\(again.map(visible))\n\(final.map(visible))")
    }

    /// Reads served from the segments alone (a start reads nothing into
    /// memory) after removals: a topic deleted and made again with lower IDs
    /// in the same segment, entries XDEL removed among others of the same
    /// frame (written together, pipelined) read with COUNT, and entries added
    /// after an XSETID below a removed top entry. As redis-server answers.
    @Test func readsFromTheSegmentsAfterRemovalsAnswerAsRedis() throws {
        let adds = RemovalParityTests.adds("s", 10)
        let commands: [[String]] = [
            ["XADD", "t", "5-1", "f", "old"], ["XADD", "t", "6-1", "f", "old"], ["DEL", "t"], ["XADD", "t", "1-1", "f", "new"],
            ["XADD", "t", "2-1", "f", "new"], ["XDEL", "s", "2-1", "5-1"],
            ["XADD", "x", "1-1", "f", "v"], ["XADD", "x", "2-1", "f", "v"], ["XADD", "x", "3-1", "f", "v"], ["XDEL", "x", "3-1"],
            ["XSETID", "x", "2-5"], ["XADD", "x", "2-6", "f", "v"],
        ]
        let queries: [[String]] = [
            ["XRANGE", "t", "-", "1-5"], ["XREVRANGE", "t", "1-5", "-"], ["XRANGE", "t", "2-1", "2-1"], ["XREAD", "STREAMS", "t", "0-0"],
            ["XRANGE", "s", "-", "+", "COUNT", "3"], ["XREAD", "COUNT", "3", "STREAMS", "s", "0-0"], ["XGROUP", "CREATE", "s", "g", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">"],
            ["XREVRANGE", "s", "+", "-", "COUNT", "3"], ["XRANGE", "x", "2-6", "+"], ["XDEL", "x", "2-6"], ["XLEN", "x"], ["XLEN", "s"],
        ]
        let redis = try RedisProcess()
        _ = try StreamIDParityTests.replies(adds + commands, port: redis.port)
        let expected = try StreamIDParityTests.replies(queries, port: redis.port)

        let first = try ServerProcess()
        let c = try RawClient(port: first.port)
        c.send(adds.map(RawClient.command).joined())
        let added = c.readReplies(adds.count)
        #expect(!added.hasPrefix("-") && !added.contains("\r\n-"), "\(visible(added))")
        let sent = try StreamIDParityTests.replies(commands + [["LEDGER", "SEAL"]], port: first.port)
        #expect(!sent.contains { $0.hasPrefix("-") }, "\(sent)")
        _ = first.terminate(signal: SIGKILL)
        let second = try ServerProcess(ledgerDirectory: first.ledgerDirectory)
        let after = try StreamIDParityTests.replies(queries, port: second.port)
        for (k, (want, got)) in zip(expected, after).enumerated() {
            #expect(got == want, "\(visible(queries[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
    }
}
