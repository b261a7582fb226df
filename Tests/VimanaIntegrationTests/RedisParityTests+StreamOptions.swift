import Foundation
import Testing
import VimanaTestSupport

/// The options of XADD, XRANGE, XREAD and XREADGROUP as redis-server 7.0.15
/// reads them: in any case, repeated, misspelt, missing their value, in any
/// order before STREAMS, and the option XREAD shares with XREADGROUP only by
/// name. Each case is one connection's commands against a fresh server of
/// each kind; the replies must be the same bytes. (XADD's trimming options,
/// which Vimana refuses, are in CommandReplyTests.)
@Suite(.serialized) struct StreamOptionParityTests {
    static let cases: [(String, [[String]])] = [
        ("xadd nomkstream", [
            ["XADD", "s", "nomkstream", "1-1", "a", "1"],
            ["XADD", "s", "1-1", "a", "1"],
            ["XADD", "s", "NoMkStream", "2-1", "a", "1"],
            ["XADD", "s", "NOMKSTREAM", "nomkstream", "3-1", "a", "1"],
            ["XADD", "s", "NOMKSTREA", "4-1", "a", "1"],
            ["XADD", "s", "NOMKSTREAMS", "4-1", "a", "1"],
            ["XADD", "s", "NOMKSTREAM", "4-1", "a"],
            ["XADD", "s", "NOMKSTREAM"],
            ["XRANGE", "s", "-", "+"]]),
        ("xrange count", [
            ["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "b", "2"], ["XADD", "s", "3-1", "c", "3"],
            ["XRANGE", "s", "-", "+", "count", "1"],
            ["XRANGE", "s", "-", "+", "CoUnT", "2"],
            ["XREVRANGE", "s", "+", "-", "cOUNT", "1"],
            ["XRANGE", "s", "-", "+", "COUNT", "1", "COUNT", "2"],
            ["XREVRANGE", "s", "+", "-", "COUNT", "2", "count", "1"],
            ["XRANGE", "s", "-", "+", "COUNT", "0", "COUNT", "2"],
            ["XRANGE", "s", "-", "+", "COUNT", "2", "COUNT", "0"],
            ["XRANGE", "s", "-", "+", "COUNT", "x", "COUNT", "2"],
            ["XRANGE", "s", "-", "+", "COUNT", "1", "COUNT", "x"],
            ["XRANGE", "s", "-", "+", "COUNT", "1", "COUNT"],
            ["XRANGE", "s", "-", "+", "COUNT", "1", "FOO"],
            ["XRANGE", "s", "-", "+", "COUNTS", "1"],
            ["XRANGE", "s", "-", "+", "COUN", "1"],
            ["XRANGE", "s", "-", "+", "COUNT"],
            ["XRANGE", "s", "-", "+", "COUNT", "-1"],
            ["XRANGE", "nokey", "-", "+", "COUNT", "0"]]),
        ("xread options", [
            ["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "b", "2"],
            ["XREAD", "COUNT", "1", "STREAMS", "s", "0"],
            ["XREAD", "count", "1", "streams", "s", "0"],
            ["XREAD", "CoUnT", "1", "sTrEaMs", "s", "0"],
            ["XREAD", "COUNT", "1", "COUNT", "2", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "x", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "-1", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "0", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "STREAMS", "s", "0"],
            ["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"],
            ["XREAD", "block", "x", "STREAMS", "s", "0"],
            ["XREAD", "Block", "0", "COUNT", "1", "STREAMS", "s", "0"],
            ["XREAD", "STREAMS", "s", "t", "0"],
            ["XREAD", "STREAMS", "s", "0", "STREAMS"],
            ["XREAD", "STREAMS", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "1", "STREAMS"],
            ["XREAD", "COUNT", "1", "COUNT"],
            ["XREAD", "COUNT", "1", "BLOCK"],
            ["XREAD", "COUNTS", "1", "STREAMS", "s", "0"],
            ["XREAD", "COUN", "1", "STREAMS", "s", "0"],
            ["XREAD", "FOO", "STREAMS", "s", "0"],
            ["XREAD", "s", "0", "COUNT", "1"],
            ["XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"],
            ["XREAD", "group", "g", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "1", "GROUP", "g"],
            ["XREAD", "NOACK", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "1", "noack"],
            ["XREAD", "BLOCK", "x", "NOACK", "STREAMS", "s", "0"]]),
        ("xreadgroup options", [
            ["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "a", "1"], ["XADD", "s", "3-1", "a", "1"],
            ["XGROUP", "CREATE", "s", "g", "0"],
            ["XREADGROUP", "COUNT", "1", "GROUP", "g", "c", "STREAMS", "s", ">"],
            ["XREADGROUP", "noack", "Group", "g", "c", "count", "1", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0", "STREAMS"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "t", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS"],
            ["XREADGROUP", "COUNT", "1", "STREAMS", "s", ">", "t", ">"],
            ["XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "GROUP", "nog", "d", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "nog", "d", "GROUP", "g", "c", "STREAMS", "s", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "GROUP", "g", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "COUNT", "x", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "FOO", "STREAMS", "s", ">"],
            ["XPENDING", "s", "g"]]),
        ("command list and info words", [
            ["COMMAND", "LIST", "filterby", "module", "x"],
            ["COMMAND", "LIST", "FilterBy", "nosuch", "x"],
            ["COMMAND", "LIST", "FILTERBYS", "module", "x"],
            ["COMMAND", "LIST", "FILTERBY", "module"]]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        try StreamIDParityTests.expectSameReplies(name, try #require(Self.cases.first { $0.0 == name }).1)
    }
}
