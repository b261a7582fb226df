import Foundation
import Testing
@testable import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A task's messages through a real kernel (Protocol/AGENTS.md §10,
/// "Messages"), with the fixture agent (Tests/KitFixtureAgent) as the
/// kernel's supervised process: published after the events and before the
/// reply; published again by the redelivery of a task whose agent was
/// killed right after the EXEC (at least once); none for a refused task.
@Suite struct AgentMessageWireTests {
    static var agentBinary: String {
        URL(fileURLWithPath: ServerProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("KitFixtureAgent").path
    }

    func start(crashAfter id: String) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            agents:
              - id: fixture
                subscribes: ["tasks.fixture"]
                command: ["\(Self.agentBinary)"]
                env: {VIMANA_AGENT_CRASH_AFTER_APPEND: "\(id)"}
            """, logLevel: "info")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !server.logLines.contains(where: { $0.contains("as agent fixture") }) { usleep(20_000) }
        if !server.logLines.contains(where: { $0.contains("as agent fixture") }) {
            throw TestFailure("the fixture agent did not join; log:\n\(server.log.suffix(3000))")
        }
        return server
    }

    @Test func aTasksMessageIsPublishedByItsRedeliveryAfterACrashPastTheExec() throws {
        let server = try start(crashAfter: "c-1")
        // One connection on both topics: what the agent publishes comes in the order it published it.
        let sub = try RawClient(port: server.port)
        let heard = RESPReader(sub)
        sub.send("SUBSCRIBE broadcast.town r.me\r\n")
        _ = heard.next()
        _ = heard.next()
        let c = try RawClient(port: server.port)
        let task = #"{"action":"say","id":"c-1","reply_to":"r.me","args":{"topic":"broadcast.town","text":"hello"}}"#
        c.send(RawClient.command(["PUBLISH", "tasks.fixture", task]))
        // The first delivery exits (70) right after its EXEC: nothing published. The redelivery,
        // to the restarted agent, finds it applied and publishes the stored message, then the reply.
        let message = heard.next(timeout: 30)
        #expect(message?.strings == ["message", "broadcast.town", "hello"], "log:\n\(server.log.suffix(3000))")
        let reply = #"{"id":"c-1","ok":true,"result":1}"#
        #expect(heard.next(timeout: 10)?.strings == ["message", "r.me", reply])
        #expect(server.logLines.contains { $0.contains("\"agent exited\"") && $0.contains("\"exit_status\":70") },
                "the agent did not crash where it was told to")
        #expect(server.waitForLog(#"delivery=2 publisher=default action=say id=\"c-1\" duplicate events=0"#, timeout: 10),
                "the redelivery was not recognised; log:\n\(server.log.suffix(3000))")
        // One event, carrying the message beside the reply.
        let events = try streamFields(server, "events.fixture", publisher: true)
        #expect(events == [["type", "said", "topic", "broadcast.town", "request", #""c-1""#, "caller", "default", "reply", reply,
                            "messages", #"[{"message":"hello","topic":"broadcast.town"}]"#, "_publisher", "agent:fixture"]])

        // The same request sent again by its caller as a new task: applied
        // once, answered with its stored reply, its message not published again.
        c.send(RawClient.command(["PUBLISH", "tasks.fixture", task]))
        #expect(heard.next(timeout: 10)?.strings == ["message", "r.me", reply])

        // A refused task publishes nothing: its error reply is the next thing heard.
        c.send(RawClient.command(["PUBLISH", "tasks.fixture",
                                  #"{"action":"say","id":"r-1","reply_to":"r.me","args":{"topic":"broadcast.town"}}"#]))
        #expect(heard.next(timeout: 10)?.strings
                == ["message", "r.me", #"{"error":{"code":"bad_argument","message":"topic and text must be strings"},"id":"r-1","ok":false}"#])
        // A new task's message comes before its reply, without a crash.
        c.send(RawClient.command(["PUBLISH", "tasks.fixture",
                                  #"{"action":"say","id":"n-1","reply_to":"r.me","args":{"topic":"broadcast.town","text":"again"}}"#]))
        #expect(heard.next(timeout: 10)?.strings == ["message", "broadcast.town", "again"])
        #expect(heard.next(timeout: 10)?.strings == ["message", "r.me", #"{"id":"n-1","ok":true,"result":2}"#])
        #expect(try streamFields(server, "events.fixture").count == 2)
    }
}
