import Foundation
import Testing
import VimanaTestSupport

/// Every form of stream ID the commands read (StreamID.parse…), sent as raw
/// multibulk bytes to redis-server 7.0.15 and to Vimana: the replies must be
/// the same bytes. Each case is one connection's commands, each sent once
/// the reply to the one before it has come.
@Suite(.serialized) struct StreamIDParityTests {
    /// Odd but valid or invalid ID texts, as Redis reads them.
    static let oddIDs = ["+5", " 5", "\t5", "5 ", "-5", "0- 5", "0-+5", "0- -5", "0--5", "0--0", "0--05",
                         "0--9223372036854775808", "0--9223372036854775809", "18446744073709551615", "18446744073709551616",
                         "0-18446744073709551616", "007", "0-0", "5-", "", "x", "5-x", "0x10", "+", "-", "*", "5-*", "$", ">",
                         "5\u{0}junk", "-\u{0}x", String(repeating: " ", count: 126) + "5", String(repeating: " ", count: 127) + "5"]

    static let cases: [(String, [[String]])] = [
        ("xrange starts and ends", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "5-0", "b", "2"], ["XADD", "s", "7-3", "c", "3"]]
            + oddIDs.flatMap { [["XRANGE", "s", $0, "+"], ["XRANGE", "s", "-", $0], ["XREVRANGE", "s", $0, "-"]] }
            + ["(5", "(+", "(-", "(", "((5", "(5-0", "(" + String(repeating: " ", count: 126) + "5", "( 7-2"].flatMap {
                [["XRANGE", "s", $0, "+"], ["XRANGE", "s", "-", $0]] }
            + [["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+", "COUNT", "x"],
               ["XRANGE", "s", "-", "(0-0", "COUNT", "x"], ["XRANGE", "s", "(18446744073709551615-18446744073709551615", "x"],
               ["XRANGE", "s", "x", "(0-0"], ["XRANGE", "s", "- ", "+"], ["XRANGE", "s", "-", "+ "]]),
        ("xadd ids", [["XADD", "t", "+5", "a", "1"], ["XADD", "t", " 6", "a", "1"], ["XADD", "t", "\t6-1", "a", "1"],
                      ["XADD", "t", "6 ", "a", "1"], ["XADD", "t", "7\u{0}x", "a", "1"],
                      // A time-based ID the same on both servers: after one from the far future.
                      ["XADD", "u", "99999999999999-1", "a", "1"], ["XADD", "u", "*\u{0}x", "a", "1"],
                      ["XADD", "t", "0-0", "a", "1"], ["XADD", "t", "0", "a", "1"], ["XADD", "t", "-", "a", "1"],
                      ["XADD", "t", "+", "a", "1"], ["XADD", "t", "", "a", "1"], ["XADD", "t", "8-", "a", "1"],
                      ["XADD", "t", "9-*", "a", "1"], ["XADD", "t", "+10-*", "a", "1"], ["XADD", "t", " 11-*", "a", "1"],
                      ["XADD", "t", "12-**", "a", "1"], ["XADD", "t", "12-* ", "a", "1"], ["XADD", "t", "-*", "a", "1"],
                      ["XADD", "t", "*-*", "a", "1"], ["XADD", "t", "18446744073709551616-*", "a", "1"],
                      ["XADD", "t", "12- -5", "a", "1"], ["XADD", "t", "x-1", "a", "b", "c"], ["XADD", "t", "13-1", "a", "b", "c"],
                      ["XADD", "nope", "NOMKSTREAM", "0-0", "a", "1"], ["XADD", "nope", "NOMKSTREAM", "0", "a", "1"],
                      ["XADD", "nope", "NOMKSTREAM", "0-*", "a", "1"], ["XADD", "nope", "NOMKSTREAM", "x", "a", "1"],
                      ["XADD", "t", String(repeating: " ", count: 127) + "5", "a", "1"], ["XLEN", "t"], ["XRANGE", "t", "-", "+"]]),
        ("xread ids", [["XADD", "s", "1-1", "a", "1"]]
            + oddIDs.map { ["XREAD", "STREAMS", "s", $0] }
            + [["XREAD", "STREAMS", "s", "t", "0", ">"], ["XREAD", "STREAMS", "s", "t", "x", ">"], ["XREAD", "STREAMS", "s", "$\u{0}"],
               ["XREAD", "STREAMS", "s", ">\u{0}"], ["XREAD", "STREAMS", "s", "$$"], ["XREAD", "STREAMS", "s", "(0"]]),
        ("xgroup create and setid ids", [["XADD", "s", "1-1", "a", "1"]]
            + oddIDs.enumerated().map { ["XGROUP", "CREATE", "s", "c\($0.offset)", $0.element] }
            + [["XGROUP", "CREATE", "s", "x1", "(0"], ["XGROUP", "CREATE", "s", "x2", "$\u{0}"],
               ["XGROUP", "CREATE", "m", "g", "x", "MKSTREAM"], ["XGROUP", "CREATE", "m", "g", "+", "MKSTREAM"], ["XLEN", "m"],
               ["XGROUP", "CREATE", "s", "g", "0"]]
            + oddIDs.flatMap { [["XGROUP", "SETID", "s", "g", $0], ["XINFO", "GROUPS", "s"]] }
            + [["XGROUP", "SETID", "s", "g", "(0"], ["XGROUP", "SETID", "s", "g", "$\u{0}"], ["XINFO", "GROUPS", "s"]]),
        ("xreadgroup ids", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XGROUP", "CREATE", "s", "g", "0"],
                            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">\u{0}"]]
            + oddIDs.map { ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", $0] }
            + [["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "(0"], ["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", "x"]]),
        ("xack ids", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XADD", "s", "3-0", "a", "1"],
                      ["XGROUP", "CREATE", "s", "g", "0"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
                      ["XACK", "nokey", "g", "x"], ["XACK", "s", "nog", "x"], ["XACK", "s", "g", "1-1", "x"], ["XPENDING", "s", "g"]]
            + oddIDs.map { ["XACK", "s", "g", $0] }
            + [["XACK", "s", "g", " 1-1", "+2-1"], ["XPENDING", "s", "g"], ["XACK", "s", "g", "3\u{0}-9"], ["XPENDING", "s", "g"]]),
        ("xclaim ids", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XGROUP", "CREATE", "s", "g", "0"],
                        ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]]
            + oddIDs.map { ["XCLAIM", "s", "g", "d", "0", $0, "JUSTID"] }
            + [["XCLAIM", "s", "g", "d", "0", " 1-1", "+2-1", "JUSTID"], ["XCLAIM", "s", "g", "d", "0", "1-1", "LASTID", "x"],
               ["XCLAIM", "s", "g", "d", "0", "1-1", "LASTID", "+", "JUSTID"], ["XCLAIM", "s", "g", "d", "0", "1-1", "LASTID", "-", "JUSTID"],
               ["XCLAIM", "s", "g", "d", "0", "1-1", "LASTID", "(1", "JUSTID"], ["XCLAIM", "s", "g", "d", "0", "1-1", "LASTID"],
               ["XCLAIM", "s", "g", "d", "0", "(1-1"], ["XCLAIM", "s", "g", "d", "0", "x", "1-1"]]),
        ("xautoclaim ids", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XGROUP", "CREATE", "s", "g", "0"],
                            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]]
            + (oddIDs + ["(1-1", "(18446744073709551615-18446744073709551615", "(", "(+", "(-", "((1"]).map {
                ["XAUTOCLAIM", "s", "g", "d", "0", $0, "COUNT", "1", "JUSTID"] }
            + [["XAUTOCLAIM", "nokey", "g", "d", "0", "x"], ["XAUTOCLAIM", "nokey", "g", "d", "x", "x"],
               ["XAUTOCLAIM", "nokey", "g", "d", "0", "(18446744073709551615-18446744073709551615"],
               ["XAUTOCLAIM", "s", "nog", "d", "0", "x"]]),
        ("xpending ids", [["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XGROUP", "CREATE", "s", "g", "0"],
                          ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]]
            + (oddIDs + ["(1-1", "(2-1", "(", "(+", "(-"]).flatMap {
                [["XPENDING", "s", "g", $0, "+", "10"], ["XPENDING", "s", "g", "-", $0, "10"]] }
            + [["XPENDING", "s", "g", "(18446744073709551615-18446744073709551615", "+", "10"],
               ["XPENDING", "s", "g", "-", "(0-0", "10"], ["XPENDING", "s", "g", "x", "+", "y"],
               ["XPENDING", "s", "g", "(18446744073709551615-18446744073709551615", "x", "10"],
               ["XPENDING", "s", "g", "IDLE", "0", "x", "+", "10"], ["XPENDING", "s", "g", "IDLE", "0", "(1-1", "+", "10", "c"],
               ["XPENDING", "nokey", "g", "x", "+", "10"], ["XPENDING", "s", "nog", "x", "+", "10"]]),
    ]

    /// Each command's reply, sent one at a time on one connection.
    static func replies(_ commands: [[String]], port: Int) throws -> [String] {
        let client = try RawClient(port: port)
        return commands.map { command in
            client.send(RawClient.command(command))
            return idleTimesHidden(client.readReplies(1))
        }
    }

    /// XPENDING's rows hold each entry's idle milliseconds (consumer `c`):
    /// the time the test took, not the server's answer.
    static func idleTimesHidden(_ reply: String) -> String {
        reply.replacingOccurrences(of: #"\$1\r\nc\r\n:[0-9]+\r\n"#, with: "\\$1\r\nc\r\n:IDLE\r\n", options: .regularExpression)
    }

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        try Self.expectSameReplies(name, try #require(Self.cases.first { $0.0 == name }).1)
    }

    /// Sends `commands` to a fresh redis-server and a fresh Vimana; every
    /// reply must be the same bytes (the parity suites of stream IDs and of
    /// group errors).
    static func expectSameReplies(_ name: String, _ commands: [[String]]) throws {
        let redis = try RedisProcess()
        let vimana = try ServerProcess()
        let expected = try replies(commands, port: redis.port)
        let actual = try replies(commands, port: vimana.port)
        for (k, (want, got)) in zip(expected, actual).enumerated() {
            #expect(!want.isEmpty, "no reply from redis-server to \(visible(commands[k].joined(separator: " ")))")
            #expect(got == want, "\(name): \(visible(commands[k].joined(separator: " ")))\nredis:  \(visible(want))\nvimana: \(visible(got))")
        }
    }
}
