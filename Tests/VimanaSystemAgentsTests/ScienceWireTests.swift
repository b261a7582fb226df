import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// science as `vimana serve` wires it: the real `vimana agent science`
/// process reading the ledger with LEDGER SCAN, asked over the bus; its
/// counts through kill -9 of itself and of the kernel.
@Suite struct ScienceWireTests {
    func start(ledger: String? = nil) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
              - name: bob
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
              science:
                checkpoint_interval: 100ms
                poll_interval: 20ms
            """, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
        try waitForJoins(server, 1)
        return server
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent science "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("science did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "science", action: action, args: args, timeout: 15)
    }

    /// Appends as `user`: `values` on `topic`, one entry each.
    func publish(_ server: ServerProcess, as user: String, _ topic: String, _ values: [String]) throws {
        let c = try RawClient(port: server.port)
        c.send("AUTH \(user) x\r\n" + values.map { RawClient.command(["XADD", topic, "*", "v", $0]) }.joined())
        let replies = c.readReplies(1 + values.count)
        #expect(replies.hasPrefix("+OK\r\n") && !replies.contains("\r\n-"), "\(visible(replies))")
    }

    /// Waits until science has checkpointed every record confirmed now (its cursor reached the end).
    func waitForCatchUp(_ server: ServerProcess) throws {
        let c = try RawClient(port: server.port)
        c.send("LEDGER SCAN $\r\n")
        let lines = c.readReplies().components(separatedBy: "\r\n")
        let end = try #require(lines.count > 4 ? UInt64(lines[4]) : nil)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if case .ok(let s) = try ask(server, "status"), let cursor = s["cursor"]?.string.flatMap(UInt64.init), cursor >= end { return }
            usleep(50_000)
        }
        throw TestFailure("science did not reach sequence \(end)")
    }

    /// `topics`' entry for `topic` over the last hour.
    func topic(_ server: ServerProcess, _ topic: String) throws -> JSON? {
        guard case .ok(let r) = try ask(server, "topics"), case .array(let topics)? = r["topics"] else { return nil }
        return topics.first { $0["topic"]?.string == topic }
    }

    func agentPid(_ server: ServerProcess) throws -> pid_t {
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"science\"") }
        return pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
    }

    @Test func countsByTopicAndPublisherSurviveKillNineOfScienceAndOfTheKernel() throws {
        let first = try start()
        try publish(first, as: "alice", "orders", ["pen", "inkwell", "x"])
        try publish(first, as: "bob", "orders", ["paper", "ab"])
        try publish(first, as: "bob", "audit", [String(repeating: "z", count: 1000)])
        try waitForCatchUp(first)
        #expect(try topic(first, "orders") == ["topic": "orders", "messages": 5, "bytes": 18,
                                               "publishers": [["publisher": "alice", "messages": 3], ["publisher": "bob", "messages": 2]]])
        #expect(try topic(first, "audit") == ["topic": "audit", "messages": 1, "bytes": 1000,
                                              "publishers": [["publisher": "bob", "messages": 1]]])
        guard case .ok(let stats) = try ask(first, "topic_stats", ["topic": "orders", "window": 600]) else {
            throw TestFailure("topic_stats failed")
        }
        #expect(stats["messages"] == 5 && stats["bytes"] == 18 && stats["window"] == 600 && stats["rate"] == .double(0.008))
        #expect(stats["size"] == ["p50": 3, "p90": 7, "p99": 7, "max": 7], "\(stats)")
        #expect(stats["first"]?["id"]?.string != nil && stats["last"]?["time_ms"]?.int != nil)

        // kill -9 of science, records appended while it is down: counted once it is back.
        let pid = try agentPid(first)
        kill(pid, SIGKILL)
        var deadline = Date().addingTimeInterval(10)
        while Date() < deadline && kill(pid, 0) == 0 { usleep(20_000) }
        try publish(first, as: "alice", "orders", ["abcd", "ef"])
        try waitForJoins(first, 2)
        try waitForCatchUp(first)
        #expect(try topic(first, "orders") == ["topic": "orders", "messages": 7, "bytes": 24,
                                               "publishers": [["publisher": "alice", "messages": 5], ["publisher": "bob", "messages": 2]]])

        // kill -9 of the kernel: its science exits once orphaned; the next kernel's resumes at its cursor.
        let old = try agentPid(first)
        #expect(first.terminate(signal: SIGKILL) != nil)
        deadline = Date().addingTimeInterval(15)
        while Date() < deadline && kill(old, 0) == 0 { usleep(20_000) }
        #expect(kill(old, 0) != 0, "science outlived its kernel")
        let second = try start(ledger: first.ledgerDirectory)
        try publish(second, as: "bob", "orders", ["q"])
        try waitForCatchUp(second)
        #expect(try topic(second, "orders") == ["topic": "orders", "messages": 8, "bytes": 25,
                                                "publishers": [["publisher": "alice", "messages": 5], ["publisher": "bob", "messages": 3]]])
        #expect(try topic(second, "audit")?["messages"] == 1)
        withExtendedLifetime(first) {}  // it owns the ledger directory
    }

    /// kill -9 of science while it is part way through a long scan (records
    /// read since its last checkpoint are lost with it): the restarted one
    /// reads them again from the checkpointed cursor and counts each once.
    @Test func aKillNineInTheMiddleOfAScanCountsEveryRecordOnce() throws {
        let server = try ServerProcess(config: """
            system:
              science:
                checkpoint_interval: 100ms
                poll_interval: 20ms
                scan_count: 100
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        let n = 20_000
        let c = try RawClient(port: server.port)
        for chunk in stride(from: 0, to: n, by: 1000) {
            c.send((chunk..<chunk + 1000).map { RawClient.command(["XADD", "bulk", "*", "v", String($0)]) }.joined())
            #expect(!c.readReplies(1000).contains("\r\n-"))
        }
        c.send("LEDGER SCAN $\r\n")
        let lines = c.readReplies().components(separatedBy: "\r\n")
        let end = try #require(lines.count > 4 ? UInt64(lines[4]) : nil)
        // Part way: science has checkpointed some of the records, not all.
        var midway = false
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if case .ok(let s) = try ask(server, "status"), let cursor = s["cursor"]?.string.flatMap(UInt64.init) {
                if cursor >= end { break }
                if cursor > 1 {
                    midway = true
                    break
                }
            }
            usleep(10_000)
        }
        #expect(midway, "science was not seen part way through the scan")
        let pid = try agentPid(server)
        kill(pid, SIGKILL)
        try waitForJoins(server, 2)
        try waitForCatchUp(server)
        #expect(try topic(server, "bulk")?["messages"] == .int(Int64(n)))
    }

    @Test func aMalformedTaskIsDeadLetteredAndABadArgumentAnswered() throws {
        let server = try start()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.science", "not json"]))
        #expect(c.readReplies().hasPrefix(":"))
        let deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.isEmpty {
            dead = try streamFields(server, "dead.science")
            usleep(20_000)
        }
        #expect(dead.first?.prefix(8).suffix(2) == ["reason", "malformed task: the payload is not a JSON object"], "\(dead)")
        #expect(try ask(server, "topics", ["window": "1h"])
                == .error(code: "bad_argument", message: "window must be a whole number of seconds from 1 to 316224000"))
        #expect(try ask(server, "rescan") == .error(code: "unknown_action", message: "unknown action 'rescan' (topics, topic_stats, status)"))
    }
}
