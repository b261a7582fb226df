import Foundation
import Testing

/// A stream made empty by XGROUP CREATE … MKSTREAM, and a group's
/// `entries-read` (XGROUP CREATE|SETID … ENTRIESREAD, or learnt by a read),
/// answer as redis-server 7.0 does, byte for byte, and survive a restart.
@Suite struct EmptyStreamAndEntriesReadTests {
    static let config = "ledger:\n  fsync: always\n"

    /// Sends `script` and returns every reply, read until the PING sentinel.
    func replies(_ port: Int, _ script: String) throws -> String {
        let c = try RawClient(port: port)
        c.send(script + "PING\r\n")
        var out = ""
        let deadline = Date().addingTimeInterval(20)
        while !out.hasSuffix("+PONG\r\n") && Date() < deadline {
            let reply = c.readReplies(timeout: deadline.timeIntervalSinceNow)
            if reply.isEmpty { break }
            out += reply
        }
        return out
    }

    @Test func groupOnAnEmptyStreamMadeByMkstreamSurvivesARestart() throws {
        let make = "XGROUP CREATE t g $ MKSTREAM\r\n"
        let look = "XINFO STREAM t\r\nXINFO GROUPS t\r\nXLEN t\r\n"
        let redis = try RedisProcess()
        let expected = try replies(redis.port, make + look)
        #expect(expected.contains("$6\r\nlength\r\n:0\r\n"), "redis: \(visible(expected))")

        let first = try ServerProcess(config: Self.config, logLevel: "info")
        #expect(try replies(first.port, make + look) == expected)
        _ = first.terminate()
        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let after = try replies(second.port, look)
        #expect(after == String(expected.dropFirst("+OK\r\n".count)), "after a restart: \(visible(after))")
        let read = try replies(second.port, "XREADGROUP GROUP g c STREAMS t >\r\n")
        #expect(read == "*-1\r\n+PONG\r\n", "the group is there, with nothing to read: \(visible(read))")
        // The group goes on: the first entry is delivered to it.
        let next = try replies(second.port, "XADD t 5-1 f v\r\nXREADGROUP GROUP g c STREAMS t >\r\n")
        #expect(next.hasPrefix("$3\r\n5-1\r\n*1\r\n*2\r\n$1\r\nt\r\n*1\r\n*2\r\n$3\r\n5-1\r\n"), "\(visible(next))")
    }

    /// Counts set with ENTRIESREAD, left unknown by SETID without it, and
    /// learnt by a read, with the lag Redis computes from each.
    static let entriesReadScript = "XADD s 1-1 a 1\r\nXADD s 1-2 a 1\r\nXADD s 1-3 a 1\r\n"
        + "XGROUP CREATE s g 0\r\nXGROUP CREATE s h $\r\nXGROUP CREATE s i 1-2\r\nXGROUP CREATE s j 1-1 ENTRIESREAD 1\r\n"
        + "XGROUP CREATE s k 0\r\nXGROUP SETID s k 1-2 ENTRIESREAD 7\r\nXGROUP CREATE s m 1-1\r\nXGROUP SETID s m 1-2\r\n"
        + "XREADGROUP GROUP g c COUNT 1 STREAMS s >\r\nXREADGROUP GROUP k c COUNT 1 STREAMS s >\r\n"
        + "XREADGROUP GROUP i c NOACK STREAMS s >\r\nXADD s 1-4 a 1\r\n"

    @Test func entriesReadAndLagAreRedisesAndSurviveARestart() throws {
        let look = "XINFO GROUPS s\r\n"
        let redis = try RedisProcess()
        let expected = try replies(redis.port, Self.entriesReadScript + look)
        let first = try ServerProcess(config: Self.config, logLevel: "info")
        let got = try replies(first.port, Self.entriesReadScript + look)
        #expect(got == expected, "\nredis:  \(visible(expected))\nvimana: \(visible(got))")
        let before = try replies(first.port, look)
        _ = first.terminate()
        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let after = try replies(second.port, look)
        #expect(after == before, "\nbefore: \(visible(before))\nafter:  \(visible(after))")
        // SETID's ENTRIESREAD is what XINFO GROUPS shows, and lag follows it.
        #expect(after.contains("$1\r\nk\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-3\r\n"
            + "$12\r\nentries-read\r\n:8\r\n$3\r\nlag\r\n:-4\r\n"), "\(visible(after))")
    }
}
