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
        ("removals inside multi", adds("s", 4) + [
            ["MULTI"], ["XDEL", "s", "1-1"], ["XTRIM", "s", "MAXLEN", "2"], ["XLEN", "s"], ["DEL", "s"], ["XLEN", "s"], ["EXEC"],
            ["EXISTS", "s"]]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        let commands = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        let expected = try StreamIDParityTests.replies(commands, port: redis.port).map(RedisParityTests.normalize)
        let actual = try StreamIDParityTests.replies(commands, port: vimana.port).map(RedisParityTests.normalize)
        for (k, (want, got)) in zip(expected, actual).enumerated() {
            #expect(!want.isEmpty, "no reply from redis-server to \(visible(commands[k].joined(separator: " ")))")
            #expect(got == want, "\(name): \(visible(commands[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
    }
}
