import Foundation
import Testing
import VimanaTestSupport

/// Removals as a Redis Streams program and an operator meet them: a
/// redis-py suite with FLUSHALL before each case, and FLUSHALL on a
/// server with agents (whose topics it keeps).
@Suite struct RemovalTests {
    /// tools/compat/redis_py_streams.py passes against redis-server (the
    /// suite is right) and against Vimana unchanged.
    @Test func aRedisPyStreamsSuiteWithFlushallBetweenCasesRunsUnchanged() throws {
        try CompatibilityTests.requirePythonRedis()
        let script = CompatibilityTests.packageRoot.appendingPathComponent("tools/compat/redis_py_streams.py").path
        let redis = try RedisProcess()
        let against = try CompatibilityTests.runTool(["python3", script, "--port", String(redis.port)], timeout: 120)
        #expect(against.status == 0, "against redis-server: \(against.output)")
        try CompatibilityTests.runAgainstServer("tools/compat/redis_py_streams.py", interpreter: "python3",
                                                expectOutput: "redis_py_streams: OK: 6 cases")
    }

    /// FLUSHALL deletes what clients made and keeps what the agents of
    /// phoenix.yaml hold: the topic their group is on (with the group),
    /// their events and dead letters: agents are configuration, not data.
    @Test func flushallKeepsTheAgentsTopicsAndTheyGoOnWorking() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: worker
                subscribes: ["tasks.work"]
            """)
        let c = try RawClient(port: server.port)
        let setup: [[String]] = [["XADD", "tasks.work", "1-1", "job", "a"], ["XADD", "events.worker", "1-1", "done", "a"],
                                 ["XADD", "dead.worker", "1-1", "x", "y"], ["XADD", "events.nobody", "1-1", "a", "b"],
                                 ["XADD", "mine", "1-1", "a", "b"], ["XGROUP", "CREATE", "mine", "g", "0"]]
        c.send(setup.map(RawClient.command).joined())
        let answered = c.readReplies(setup.count)
        #expect(!answered.hasPrefix("-") && !answered.contains("\r\n-"), "\(visible(answered))")
        c.send(RawClient.command(["FLUSHALL"]) + RawClient.command(["KEYS", "*"]))
        let replies = c.readReplies(2)
        #expect(replies.hasPrefix("+OK\r\n*3\r\n"), "\(visible(replies))")
        for kept in ["tasks.work", "events.worker", "dead.worker"] { #expect(replies.contains("\r\n\(kept)\r\n"), "\(kept)") }
        for gone in ["mine", "events.nobody"] { #expect(!replies.contains("\r\n\(gone)\r\n"), "\(gone)") }
        c.send(RawClient.command(["XINFO", "GROUPS", "tasks.work"]) + RawClient.command(["XLEN", "tasks.work"]))
        let groups = c.readReplies(2)
        #expect(groups.contains("worker") && groups.hasSuffix(":1\r\n"), "\(visible(groups))")
        #expect(server.waitForLog("flush kept the agents' topics"))
    }
}
