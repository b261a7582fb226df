import Foundation
import Testing

/// An agent written with redis-py alone (XREADGROUP/XACK on the agent's
/// consumer group), supervised by the kernel, answers tasks published with
/// netcat-style inline commands.
@Suite struct RedisPyAgentTests {
    @Test func redisPyAgentProcessesTasks() throws {
        let script = LedgerReaderTests.root.appendingPathComponent("tools/agents/redis_py_agent.py").path
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import redis"]
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            Issue.record("python3's redis package is missing: run `make test` (it installs it) or pip install redis")
            return
        }
        let server = try ServerProcess(config: """
            agents:
              - id: rpy
                subscribes: ["tasks.rpy"]
                command: ["python3", "\(script)"]
                env: {TOPICS: "tasks.rpy"}
            """, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let reader = RESPReader(sub)
        sub.send("SUBSCRIBE results.rpy\r\n")
        _ = reader.next()
        // The topic must exist for its group; the agent retries until it does.
        let pub = try RawClient(port: server.port)
        var reply: RESP?
        let deadline = Date().addingTimeInterval(20)
        var n = 0
        while reply == nil && Date() < deadline {
            pub.send("PUBLISH tasks.rpy '{\"id\":\"\(n)\",\"reply_to\":\"results.rpy\",\"text\":\"hi\"}'\r\n")
            n += 1
            reply = reader.next(timeout: 2)
        }
        let message = try #require(reply, "no reply from the redis-py agent; log:\n\(server.log.suffix(2000))")
        let strings = message.strings
        #expect(strings.first == "message")
        #expect(strings.last?.contains("\"agent\":\"rpy\",\"result\":\"HI\"") == true)
        // Acknowledged: nothing pending in its group.
        try expectNothingPending(server, topic: "tasks.rpy", group: "rpy")
        let q = try RawClient(port: server.port)
        #expect(server.log.contains("rpy: tasks.rpy"))
        // A Redis-client agent counts as a live instance, with its deliveries and acks.
        q.send("AGENTS\r\n")
        let agents = q.readAvailable()
        #expect(agents.contains("$6\r\nstatus\r\n$7\r\nrunning\r\n$9\r\ninstances\r\n:1\r\n"), "\(visible(agents))")
        #expect(agents.contains("$9\r\ndelivered\r\n:\(n)\r\n$12\r\nacknowledged\r\n:\(n)\r\n"), "\(visible(agents))")
    }
}
