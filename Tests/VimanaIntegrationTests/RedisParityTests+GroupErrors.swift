import Foundation
import Testing
import VimanaTestSupport

/// Consumer-group commands' errors and options as redis-server 7.0.15 reads
/// them: which check comes first (options, the key, the group, the argument
/// count, the ID), the NOGROUP texts, which differ per command, and options
/// in any case. Each case is one connection's commands against a fresh
/// server of each kind; the replies must be the same bytes.
@Suite(.serialized) struct GroupErrorParityTests {
    static let cases: [(String, [[String]])] = [
        ("group errors", [
            ["XADD", "s", "1-1", "a", "1"],
            ["XGROUP", "CREATE", "s", "g", "0"],
            ["XPENDING", "s", "nog"],
            ["XPENDING", "nok", "g"],
            ["XPENDING", "s", "nog", "-", "+", "10"],
            ["XCLAIM", "s", "nog", "c", "0", "0-1"],
            ["XCLAIM", "nok", "g", "c", "0", "0-1"],
            ["XAUTOCLAIM", "s", "nog", "c", "0", "0"],
            ["XGROUP", "SETID", "s", "nog", "0"],
            ["XGROUP", "SETID", "nok", "g", "0"],
            ["XGROUP", "CREATECONSUMER", "s", "nog", "c"],
            ["XGROUP", "CREATECONSUMER", "nok", "g", "c"],
            ["XGROUP", "DELCONSUMER", "s", "nog", "c"],
            ["XGROUP", "DELCONSUMER", "nok", "g", "c"],
            ["XGROUP", "DESTROY", "nok", "g"],
            ["XGROUP", "DESTROY", "s", "nog"],
            ["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"],
            ["XINFO", "CONSUMERS", "s", "nog"],
            ["XINFO", "CONSUMERS", "nok", "g"],
            ["XGROUP", "SETID", "s", "g", "bad", "FOO", "1"],
            ["XGROUP", "SETID", "s", "g", "bad", "ENTRIESREAD", "x"],
            ["XGROUP", "SETID", "s", "g", "0", "FOO", "1"],
            ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "x"],
            ["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "-2"],
            ["XGROUP", "SETID", "s", "g", "0", "entriesread", "3"],
            ["XGROUP", "SETID", "s", "g", "0", "x"],
            ["XGROUP", "SETID", "s", "nog", "0", "x"],
            ["XGROUP", "CREATE", "s", "g2", "0", "FOO"],
            ["XGROUP", "CREATE", "nok", "g", "0", "FOO"],
            ["XGROUP", "CREATE", "s", "g2", "bad", "FOO"],
            ["XGROUP", "CREATE", "nok", "g", "bad", "MKSTREAM"],
            ["XGROUP", "CREATE", "s", "g3", "0", "mkstream", "ENTRIESREAD", "x"],
            ["XGROUP", "CREATE", "s", "g3", "0", "EntriesRead", "5"],
            ["XGROUP", "CREATE", "s", "g4", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"],
            ["XGROUP", "CREATE", "s", "g4", "0", "ENTRIESREAD"],
            ["XINFO", "GROUPS", "s"]]),
        ("xpending argument counts", [
            ["XADD", "s", "1-1", "a", "1"],
            ["XGROUP", "CREATE", "s", "g", "0"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
            ["XPENDING", "s", "g", "-"],
            ["XPENDING", "s", "g", "-", "+"],
            ["XPENDING", "s", "g", "-", "+", "10", "c", "extra"],
            ["XPENDING", "s", "g", "-", "+", "10", "c", "extra", "more"],
            ["XPENDING", "s", "g", "-", "+", "10", "c", "a", "b", "c"],
            ["XPENDING", "s", "g", "IDLE", "10"],
            ["XPENDING", "s", "g", "IDLE", "x"],
            ["XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"],
            ["XPENDING", "s", "g", "idle", "0", "-", "+", "10", "c"],
            ["XPENDING", "s", "g", "IDLE", "0", "-", "+", "10", "c", "extra"],
            ["XPENDING", "s", "g", "-", "+", "-5"],
            ["XPENDING", "nok", "g", "-"],
            ["XPENDING", "s", "g", "IDLE", "0", "-", "+"]]),
        ("options in any case", [
            ["XADD", "s", "1-1", "a", "1"],
            ["XADD", "s", "2-1", "a", "1"],
            ["XGROUP", "CREATE", "s", "g", "0"],
            ["XREADGROUP", "group", "g", "c", "count", "1", "noack", "streams", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "CoUnT", "x", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "x", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "FOO", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s"],
            ["XREADGROUP", "GROUPS", "g", "c", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c", "Streams", "s", ">"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "justid"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "Force", "JUSTID"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "retrycount", "x"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "idle", "x"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "time", "x"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "bogus"],
            ["XCLAIM", "s", "g", "c", "0", "2-1", "RETRYCOUNT"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "count", "0"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "Count", "1", "justid"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "bogus"],
            ["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT"],
            ["XPENDING", "s", "g", "-", "+", "10"]]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameRepliesAsRedis(name: String) throws {
        try StreamIDParityTests.expectSameReplies(name, try #require(Self.cases.first { $0.0 == name }).1)
    }
}
