import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// engineer as `vimana serve` wires it: the real `vimana agent engineer`
/// process steering a real supervised agent through the kernel.
@Suite struct EngineerWireTests {
    /// A kernel with the system agents, a supervised `worker`, `alice` (no
    /// operator) and engineer writing into a directory of the test's.
    func start(dir: String) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            agents:
              - id: worker
                subscribes: ["tasks.worker"]
                command: ["sh", "-c", "exec sleep 300"]
            system:
              engineer:
                dir: \(dir)
            """, logLevel: "info", systemAgents: true)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !server.log.contains("as agent engineer") { usleep(20_000) }
        if !server.log.contains("as agent engineer") { throw TestFailure("engineer did not join; log:\n\(server.log.suffix(3000))") }
        return server
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:], user: String? = nil) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test", user: user, password: user == nil ? nil : "alice-pw"))
            .request(agent: "engineer", action: action, args: args, timeout: 10)
    }

    /// `list`'s entry for `agent`.
    func process(_ server: ServerProcess, _ agent: String) throws -> JSON? {
        guard case .ok(let r) = try ask(server, "list"), case .array(let all)? = r["agents"] else { return nil }
        return all.first { $0["id"]?.string == agent }
    }

    func waitFor(_ server: ServerProcess, _ agent: String, _ condition: (JSON) -> Bool) throws -> JSON? {
        let deadline = Date().addingTimeInterval(15)
        var last: JSON?
        while Date() < deadline {
            last = try process(server, agent)
            if let p = last, condition(p) { return p }
            usleep(50_000)
        }
        return last
    }

    func events(_ server: ServerProcess) throws -> [[String]] {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("XRANGE events.engineer - +\r\n")
        guard case .array(let list)? = r.next() else { throw TestFailure("XRANGE did not answer") }
        return list.map { entry in
            guard case .array(let pair) = entry, pair.count == 2 else { return [] }
            return pair[1].strings
        }
    }

    @Test func restartStopAndStartAnAgentAndRefuseOthers() throws {
        let dir = NSTemporaryDirectory() + "vimana-eng-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try start(dir: dir)
        let first = try #require(try waitFor(server, "worker") { $0["state"]?.string == "running" && $0["pid"]?.int != nil })
        let pid1 = try #require(first["pid"]?.int)
        #expect(try ask(server, "restart", ["agent": "worker"]) == .ok(["agent": "worker", "done": "restarted", "changed": true]))
        let second = try #require(try waitFor(server, "worker") { $0["state"]?.string == "running" && ($0["pid"]?.int).map { $0 != pid1 } == true })
        #expect(second["pid"]?.int != pid1 && second["restarts"]?.int == 1 && second["last_exit"]?.string == "signal 15", "\(second)")

        #expect(try ask(server, "stop", ["agent": "worker"]) == .ok(["agent": "worker", "done": "stopped", "changed": true]))
        let stopped = try waitFor(server, "worker") { $0["state"]?.string == "stopped" }
        #expect(stopped?["pid"] == .null, "\(String(describing: stopped))")
        #expect(try ask(server, "stop", ["agent": "worker"]) == .ok(["agent": "worker", "done": "stopped", "changed": false]))
        #expect(try ask(server, "start", ["agent": "worker"]) == .ok(["agent": "worker", "done": "started", "changed": true]))
        #expect(try waitFor(server, "worker") { $0["state"]?.string == "running" }?["state"]?.string == "running")

        // Refusals: a user who is no operator; a system agent; itself; the kernel's user checks.
        #expect(try ask(server, "list", user: "alice")
                == .error(code: "forbidden", message: "user 'alice' may not ask engineer: it is not one of system.engineer.operators"))
        #expect(try ask(server, "stop", ["agent": "oracle"]) == .error(code: "refused",
                message: "agent 'oracle' is a system agent: it may be restarted, not stopped (set system.oracle.enabled: false)"))
        guard case .error("forbidden", _) = try ask(server, "restart", ["agent": "engineer"]) else {
            throw TestFailure("engineer restarted itself")
        }
        // Only engineer's user (and admins) have the subcommands: alice does not.
        let alice = try RawClient(port: server.port)
        alice.send("AUTH alice alice-pw\r\nAGENT RESTART worker\r\n")
        #expect(alice.readReplies(2) == "+OK\r\n-NOPERM this user has no permissions to run the 'agent|restart' command\r\n")

        let recorded = try events(server).map { Array($0.prefix(4)) }
        #expect(recorded == [["type", "restarted", "agent", "worker"], ["type", "stopped", "agent", "worker"],
                             ["type", "started", "agent", "worker"]], "\(recorded)")
        // oracle's explain follows the `agent` field: the engineer's events are in worker's chain.
        guard case .ok(let why) = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "oracle", action: "explain", args: ["agent": "worker"], timeout: 10) else {
            throw TestFailure("oracle did not explain")
        }
        #expect(why.text.contains("\"restarted\"") && why.text.contains("\"engineer\""), "\(why.text)")
    }

    @Test func scaffoldWritesARunnablePythonAgentAndNeverOverwrites() throws {
        let dir = NSTemporaryDirectory() + "vimana-eng-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try start(dir: dir)
        #expect(try ask(server, "scaffold", ["language": "python", "agent": "greeter"])
                == .ok(["agent": "greeter", "language": "python", "files": ["greeter/greeter.py", "greeter/phoenix.yaml"]]))
        #expect(try ask(server, "scaffold", ["language": "node", "agent": "greeter"])
                == .error(code: "exists", message: "\(dir)/greeter/phoenix.yaml exists: engineer never overwrites a file (choose another path)"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/greeter/greeter.js"))
        #expect(try events(server).map { Array($0.prefix(6)) } == [["type", "scaffolded", "agent", "greeter", "files",
                                                                     #"["greeter/greeter.py","greeter/phoenix.yaml"]"#]])

        // The snippet is a whole phoenix.yaml: a kernel started with it runs
        // the scaffolded agent, which answers a task.
        let snippet = try String(contentsOfFile: dir + "/greeter/phoenix.yaml", encoding: .utf8)
        let other = try ServerProcess(config: snippet, logLevel: "info")
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !other.log.contains("as agent greeter") { usleep(20_000) }
        let sub = try RawClient(port: other.port)
        let replies = RESPReader(sub)
        sub.send("SUBSCRIBE r.greet\r\n")
        _ = replies.next()
        let c = try RawClient(port: other.port)
        c.send(RawClient.command(["PUBLISH", "tasks.greeter", #"{"id":7,"reply_to":"r.greet","text":"hello"}"#]))
        let reply = replies.next(timeout: 10)?.strings ?? []
        #expect(reply.count == 3 && reply[2].contains("\"id\": 7") || reply.last?.contains("\"id\":7") == true, "\(reply); log:\n\(other.log.suffix(2000))")
        #expect(reply.last?.contains("HELLO") == true, "\(reply)")
    }

    /// kill -9 of engineer: the supervisor starts it again, and it answers.
    @Test func killNineOfEngineerThenItAnswers() throws {
        let dir = NSTemporaryDirectory() + "vimana-eng-\(UUID().uuidString)"
        let server = try start(dir: dir)
        let before = try #require(try process(server, "engineer")?["pid"]?.int)
        kill(pid_t(before), SIGKILL)
        let deadline = Date().addingTimeInterval(20)
        var after: JSON?
        while Date() < deadline {
            after = try? process(server, "engineer")
            if let p = after?["pid"]?.int, p != before, after?["state"]?.string == "running" { break }
            usleep(50_000)
        }
        #expect(after?["pid"]?.int != before && after?["last_exit"]?.string == "signal 9" && after?["restarts"]?.int == 1, "\(String(describing: after))")
        #expect(try ask(server, "restart", ["agent": "worker"]) == .ok(["agent": "worker", "done": "restarted", "changed": true]))
    }
}
