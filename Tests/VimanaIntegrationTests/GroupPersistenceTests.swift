import Foundation
import Testing

/// Consumer groups made by Redis clients (XGROUP, XREADGROUP, XACK), with no
/// agent declared, survive a restart and a kill -9 as Redis's do with its
/// AOF: same pending entries, owners, delivery counts and positions.
@Suite struct GroupPersistenceTests {
    @Test(arguments: [SIGTERM, SIGKILL]) func redisClientGroupsSurviveARestart(_ signal: Int32) throws {
        let first = try ServerProcess(config: "ledger:\n  fsync: always\n", logLevel: "info")
        let c = try RawClient(port: first.port)
        let r = RESPReader(c)
        var script = "XGROUP CREATE s g 0 MKSTREAM\r\n"
        for i in 0..<50 { script += "XADD s \(i + 1)-1 f v\(i)\r\n" }
        script += "XREADGROUP GROUP g alice COUNT 30 STREAMS s >\r\nXREADGROUP GROUP g bob COUNT 10 STREAMS s >\r\n"
        script += "XACK s g 1-1 2-1 31-1\r\nXCLAIM s g bob 0 3-1\r\nXGROUP CREATECONSUMER s g carol\r\n"
        c.send(script)
        for _ in 0..<56 { _ = r.next() }
        /// The group as XPENDING (summary, and each entry's ID, owner and
        /// delivery count; not its idle time) and XINFO GROUPS show it.
        func state(_ server: ServerProcess) throws -> String {
            let q = try RawClient(port: server.port)
            let reader = RESPReader(q)
            q.send("XPENDING s g\r\nXPENDING s g - + 100\r\nXINFO GROUPS s\r\n")
            let summary = reader.next()?.description ?? "nil"
            guard case .array(let entries)? = reader.next() else { return "no XPENDING entries" }
            let owned = entries.map { e -> String in
                guard case .array(let f) = e, f.count == 4 else { return "?" }
                return "\(f[0]) \(f[1]) \(f[3])"
            }
            return summary + " | " + owned.joined(separator: ", ") + " | " + (reader.next()?.description ?? "nil")
        }
        let before = try state(first)
        #expect(before.hasPrefix("[:37, \"3-1\", \"40-1\", [[\"alice\", \"27\"], [\"bob\", \"10\"]]]"), "\(before)")
        #expect(before.contains("\"3-1\" \"bob\" :2"), "XCLAIM moved 3-1 to bob, second delivery: \(before)")
        _ = first.terminate(signal: signal)
        let second = try ServerProcess(config: "ledger:\n  fsync: always\n", logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        #expect(try state(second) == before)
        let c2 = try RawClient(port: second.port)
        c2.send("XREADGROUP GROUP g carol COUNT 1 STREAMS s >\r\nXINFO CONSUMERS s g\r\n")
        let after = c2.readReplies(2)
        #expect(after.hasPrefix("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n41-1\r\n"), "the group goes on from 40-1: \(visible(after))")
        #expect(after.contains("$5\r\ncarol\r\n"), "consumers without pending entries are kept: \(visible(after))")
    }
}
