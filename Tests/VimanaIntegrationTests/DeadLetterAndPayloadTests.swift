import Foundation
import Testing

/// Dead letters are recorded whatever `ledger.record` says, and an entry's
/// single-`payload` rule is the same for subscribers and agents
/// (Protocol/AGENTS.md §2-3, Protocol/PROTOCOL.md §6).
@Suite struct DeadLetterAndPayloadTests {
    /// `ledger.record` matches the agent's topic only, not `dead.*`.
    static let config = """
        ledger:
          fsync: always
          record: ["jobs.*"]
        agents:
          - id: w
            subscribes: ["jobs.*"]
            max_deliver: 1
        """

    func join(_ port: Int, _ agent: String) throws -> (RawClient, RESPReader) {
        let c = try RawClient(port: port)
        let r = RESPReader(c)
        c.send("AGENT JOIN \(agent)\r\n")
        #expect(r.next() == .simple("OK"))
        return (c, r)
    }

    func deadLetters(_ port: Int) throws -> [String] {
        let q = try RawClient(port: port)
        let r = RESPReader(q)
        q.send("XRANGE dead.w - +\r\n")
        guard case .array(let entries)? = r.next() else { return [] }
        return entries.map { e in
            guard case .array(let parts) = e, parts.count == 2 else { return "?" }
            return parts[1].strings.joined(separator: " ")
        }
    }

    @Test func deadLettersAreRecordedWhenLedgerRecordDoesNotMatchThemAndSurviveARestart() throws {
        let first = try ServerProcess(config: Self.config, logLevel: "info")
        let (instance, tasks) = try join(first.port, "w")
        let producer = try RawClient(port: first.port)
        producer.send("XADD jobs.a 7-1 payload boom\r\n")
        #expect(producer.read(matching: "$3\r\n7-1\r\n") == "$3\r\n7-1\r\n")
        let task = try #require(tasks.next(timeout: 10), "no task pushed")
        #expect(task.strings == ["task", "jobs.a", "7-1", "1", "boom", "default"])
        // Given back once with max_deliver 1: dead-lettered.
        instance.send("NACK jobs.a 7-1\r\n")
        #expect(tasks.next() == .integer(1))
        let expected = ["topic jobs.a id 7-1 deliveries 1 reason rejected (NACK) 1 times payload boom"]
        var letters: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while letters.isEmpty && Date() < deadline { letters = try deadLetters(first.port) }
        #expect(letters == expected)
        _ = first.terminate()
        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        #expect(try deadLetters(second.port) == expected, "dead letters survive a restart")
    }

    /// `PAYLOAD` is not `payload`: field names are case-sensitive, so both a
    /// subscriber and an agent get the JSON object; `payload` alone, both
    /// get the raw value.
    @Test func subscribersAndAgentsSeeTheSameEntryPayload() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let messages = RESPReader(sub)
        sub.send("SUBSCRIBE jobs.p\r\n")
        #expect(messages.next()?.strings == ["subscribe", "jobs.p", "1"])
        let (instance, tasks) = try join(server.port, "w")
        let producer = try RawClient(port: server.port)
        producer.send("XADD jobs.p 1-1 PAYLOAD x\r\nXADD jobs.p 1-2 payload y\r\nXADD jobs.p 1-3 Payload z\r\n")
        _ = producer.read(matching: "$3\r\n1-1\r\n$3\r\n1-2\r\n$3\r\n1-3\r\n")
        var seenBySubscriber: [String] = [], seenByAgent: [String] = []
        for _ in 0..<3 {
            seenBySubscriber.append(try #require(messages.next(timeout: 10), "no message").strings.last ?? "")
            // Pushes and ACK replies interleave as prefetch allows.
            let task = try #require(tasks.next(timeout: 10) { $0.strings.first == "task" }, "no task").strings
            seenByAgent.append(task.count > 4 ? task[4] : "")
            instance.send("ACK jobs.p \(task.count > 2 ? task[2] : "")\r\n")
        }
        #expect(seenBySubscriber == ["{\"PAYLOAD\":\"x\"}", "y", "{\"Payload\":\"z\"}"])
        #expect(seenByAgent == seenBySubscriber)
    }
}
