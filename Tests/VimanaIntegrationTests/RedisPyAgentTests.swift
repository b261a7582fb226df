import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An agent written with redis-py alone (XREADGROUP/XACK on the agent's
/// consumer group), supervised by the kernel: it waits quietly for its first
/// task, answers tasks published with netcat-style inline commands, is
/// restarted by the kernel after SIGKILL, and exits 0 on the kernel's
/// SIGTERM within the grace period.
@Suite struct RedisPyAgentTests {
    @Test func redisPyAgentProcessesTasks() throws {
        let script = LedgerReaderTests.root.appendingPathComponent("tools/agents/redis_py_agent.py").path
        try CompatibilityTests.requirePythonRedis()
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
        // Before any task exists, the agent makes its group (and the topic) and waits: no NOGROUP, no retries.
        let ready = "waiting for tasks on tasks.rpy"
        #expect(server.waitForLog(ready, timeout: 20), "the agent never got ready; log:\n\(server.log.suffix(3000))")
        #expect(!server.log.contains("NOGROUP") && !server.log.contains("retrying"), "log:\n\(server.log.suffix(3000))")

        // One task, one answer: nothing had to be published again.
        let pub = try RawClient(port: server.port)
        func task(_ id: Int) throws -> RESP {
            pub.send("PUBLISH tasks.rpy '{\"id\":\"\(id)\",\"reply_to\":\"results.rpy\",\"text\":\"hi \(id)\"}'\r\n")
            return try #require(reader.next(timeout: 10), "no reply to task \(id); log:\n\(server.log.suffix(3000))")
        }
        let first = try task(1)
        #expect(first.strings == ["message", "results.rpy", #"{"id":"1","agent":"rpy","result":"HI 1"}"#])
        try expectNothingPending(server, topic: "tasks.rpy", group: "rpy")
        // The kernel logs the agent's output from another thread: wait for the line.
        #expect(server.waitForLog("rpy: tasks.rpy"), "the agent's output is not in the kernel's log")
        // A Redis-client agent counts as a live instance, with its deliveries and acks.
        let q = try RawClient(port: server.port)
        q.send("AGENTS\r\n")
        let agents = q.readReplies()
        #expect(agents.contains("$6\r\nstatus\r\n$7\r\nrunning\r\n$9\r\ninstances\r\n:1\r\n"), "\(visible(agents))")
        #expect(agents.contains("$9\r\ndelivered\r\n:1\r\n$12\r\nacknowledged\r\n:1\r\n"), "\(visible(agents))")

        // Killed: the kernel starts it again, and it answers again.
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"rpy\"") }
        let pid = try #require(started.last.flatMap { ServerProcess.field($0, "pid") })
        kill(pid_t(pid), SIGKILL)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && server.log.components(separatedBy: ready).count < 3 { usleep(50_000) }
        let again = try task(2)
        #expect(again.strings == ["message", "results.rpy", #"{"id":"2","agent":"rpy","result":"HI 2"}"#],
                "after the kill; log:\n\(server.log.suffix(3000))")

        // SIGTERM from the kernel's shutdown, with a task just published: whether the agent
        // is waiting in XREADGROUP or has the task in hand (its connection then closed under
        // it), it exits 0 within the grace period, not SIGKILLed after it.
        // Until then, nothing to retry: no NOGROUP, no lost connection.
        #expect(!server.log.contains("NOGROUP") && !server.log.contains("retrying"), "log:\n\(server.log.suffix(3000))")
        pub.send("PUBLISH tasks.rpy '{\"id\":\"3\",\"reply_to\":\"results.rpy\",\"text\":\"last\"}'\r\n")
        _ = pub.read(matching: ":1\r\n")
        #expect(server.terminate(timeout: 10) == 0)
        let exits = server.logLines.filter { $0.contains("\"agent exited\"") && $0.contains("\"agent\":\"rpy\"") }
        #expect(exits.last?.contains("\"exit_status\":0") == true, "exits: \(exits)")
        #expect(!server.log.contains("agent killed after grace"), "log:\n\(server.log.suffix(3000))")
    }
}
