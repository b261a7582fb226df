import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The example agents in tools/agents (Python, Bash, Node, and the minimal
/// one), each started and supervised by a real kernel from its phoenix.yaml
/// entry, fed tasks published with netcat, killed and restarted.
@Suite struct ExampleAgentTests {
    struct Example: CustomStringConvertible, Sendable {
        let interpreter: String
        let script: String
        var description: String { script }
    }

    static let examples = [
        Example(interpreter: "python3", script: "python_agent.py"),
        Example(interpreter: "bash", script: "bash_agent.sh"),
        Example(interpreter: "node", script: "node_agent.js"),
    ]

    static func scriptPath(_ name: String) -> String {
        LedgerReaderTests.root.appendingPathComponent("tools/agents/\(name)").path
    }

    /// Tasks published with `nc`, replies on `results.ex` with the request's
    /// `id`, every task acknowledged; then the agent is killed, restarted by
    /// the kernel, and answers again; on shutdown it exits 0 on SIGTERM.
    @Test(arguments: examples) func exampleAgentAnswersTasks(_ example: Example) throws {
        try requireProgram(example.interpreter)
        let server = try ServerProcess(config: """
            agents:
              - id: ex
                subscribes: ["tasks.ex"]
                prefetch: 2
                command: ["\(example.interpreter)", "\(Self.scriptPath(example.script))"]
            """, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE results.ex\r\n")
        _ = results.next()
        #expect(server.waitForLog("as agent ex", timeout: 15), "the agent never joined; log:\n\(server.log.suffix(3000))")

        // Single quotes in inline commands keep the JSON's backslashes as they are.
        let published = try netcat(port: server.port, """
            PUBLISH tasks.ex '{"id":1,"reply_to":"results.ex","text":"hello \\"vimana\\"\\n"}'
            PUBLISH tasks.ex 'not json at all'
            PUBLISH tasks.ex '{"id":"b","note":"no reply_to: acknowledged, nothing published"}'
            PUBLISH tasks.ex '{"reply_to":"results.ex","id":"c-3","text":"done"}'

            """)
        #expect(published.split(separator: "\r\n").count == 4 && published.hasPrefix(":"), "nc got: \(visible(published))")

        let expected = [
            #"{"id":1,"ok":true,"agent":"ex","text":"HELLO \"VIMANA\"\n"}"#,
            #"{"id":"c-3","ok":true,"agent":"ex","text":"DONE"}"#,
        ]
        for want in expected {
            let message = results.next(timeout: 10)
            #expect(message?.strings == ["message", "results.ex", want], "log:\n\(server.log.suffix(3000))")
        }
        try expectNothingPending(server, topic: "tasks.ex", group: "ex")
        // The agent prints before it acknowledges, but the kernel logs its
        // output from another thread: wait for the line.
        #expect(server.waitForLog(#""line":"task tasks.ex "#), "the agent's stdout is not in the kernel's log")
        // It read the task's publisher, the sixth element (nc's connection is the default user).
        #expect(server.waitForLog(#"delivery=1 publisher=default"#), "the agent did not read the publisher")

        // Killed: the kernel starts it again and it carries on.
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"ex\"") }
        let pid = try #require(started.last.flatMap { ServerProcess.field($0, "pid") })
        kill(pid_t(pid), SIGKILL)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && server.log.components(separatedBy: "as agent ex").count < 3 { usleep(50_000) }
        _ = try netcat(port: server.port, """
            PUBLISH tasks.ex '{"id":4,"reply_to":"results.ex","text":"again"}'

            """)
        let again = results.next(timeout: 10)
        #expect(again?.strings == ["message", "results.ex", #"{"id":4,"ok":true,"agent":"ex","text":"AGAIN"}"#],
                "after the kill; log:\n\(server.log.suffix(3000))")

        // SIGTERM from the kernel's shutdown: the agent exits 0.
        #expect(server.terminate() == 0)
        let exits = server.logLines.filter { $0.contains("\"agent exited\"") && $0.contains("\"agent\":\"ex\"") }
        #expect(exits.last?.contains("\"exit_status\":0") == true, "exits: \(exits)")
    }

    /// The minimal agent: it crashes on a payload that is not JSON; the
    /// kernel restarts it, redelivers, and after max_deliver dead-letters the
    /// task; the tasks around it are answered and nothing is lost.
    @Test func minimalAgentLosesNothingWhenItCrashes() throws {
        try requireProgram("python3")
        let server = try ServerProcess(config: """
            agents:
              - id: tiny
                subscribes: ["tasks.tiny"]
                max_deliver: 2
                command: ["python3", "\(Self.scriptPath("minimal_agent.py"))"]
            """, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE results.tiny\r\n")
        _ = results.next()
        _ = try netcat(port: server.port, """
            PUBLISH tasks.tiny '{"id":1,"reply_to":"results.tiny","text":"first"}'
            PUBLISH tasks.tiny 'oops'
            PUBLISH tasks.tiny '{"id":2,"reply_to":"results.tiny","text":"second"}'

            """)
        // The first answer comes at once; the second after two crashes and restarts (about 1.5 s of backoff).
        for want in [#"{"id": 1, "text": "FIRST"}"#, #"{"id": 2, "text": "SECOND"}"#] {
            let message = results.next(timeout: 20)
            #expect(message?.strings == ["message", "results.tiny", want], "log:\n\(server.log.suffix(3000))")
        }
        try expectNothingPending(server, topic: "tasks.tiny", group: "tiny")
        let c = try RawClient(port: server.port)
        let dead = RESPReader(c)
        c.send("XRANGE dead.tiny - +\r\n")
        let entries = try #require(dead.next())
        guard case .array(let list) = entries, list.count == 1, case .array(let entry) = list[0],
              entry.count == 2, case .array(let fields) = entry[1] else {
            Issue.record("dead.tiny: \(entries)")
            return
        }
        let text = fields.map(\.description).joined(separator: " ")
        #expect(text.contains("\"deliveries\" \"2\"") && text.contains("\"oops\""), "dead letter: \(text)")
        c.send("AGENTS\r\n")
        let agents = try #require(dead.next()).description
        #expect(agents.contains("\"acknowledged\", :2") && agents.contains("\"dead-lettered\", :1"), "\(agents)")
        #expect(server.logLines.filter { $0.contains("\"agent restart scheduled\"") }.count >= 2)
    }

    /// The snippets in tools/agents/phoenix.agents.yaml are valid and name
    /// scripts that exist.
    @Test func theExampleConfigurationIsValid() throws {
        let path = LedgerReaderTests.root.appendingPathComponent("tools/agents/phoenix.agents.yaml").path
        let check = try runVimana(["check", path])
        #expect(check.status == 0, "\(check.stderr)")
        for (id, script) in [("py", "python_agent.py"), ("sh", "bash_agent.sh"), ("js", "node_agent.js"),
                             ("rpy", "redis_py_agent.py"), ("tiny", "minimal_agent.py")] {
            #expect(check.stdout.contains("# agent \(id) (external, enabled)"), "\(id) not wired")
            #expect(check.stdout.contains("tools/agents/\(script)"))
            #expect(FileManager.default.isExecutableFile(atPath: Self.scriptPath(script)))
        }
    }

    // MARK: - Helpers

    /// Sends `text` through `nc -N` as a person would, and returns what came back.
    func netcat(port: Int, _ text: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "nc -N 127.0.0.1 \(port)"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self)
    }
}
