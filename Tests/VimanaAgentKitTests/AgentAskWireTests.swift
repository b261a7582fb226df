import Foundation
import Testing
@testable import VimanaAgentKit
import VimanaTestSupport

/// A logic that asks another agent before handling (`AgentLogic.asks`):
/// over the wire, with the runtime in this process and the asked agent a
/// raw client of this test.
@Suite struct AgentAskWireTests {
    /// asker's `ask {t}` asks helper's `ping` with a timeout of t seconds
    /// and answers with what came of it.
    struct Asker: AgentLogic {
        var initialState: Int { 0 }
        func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
        func ask(_ r: AgentRequest) -> AgentAsk {
            AgentAsk(agent: "helper", action: "ping", args: ["n": r.args["n"] ?? 0], timeout: Double(r.args["t"]?.int ?? 1) / 10,
                     user: "default")
        }
        func asks(for request: AgentRequest, caller: String, state: Int) -> [AgentAsk] { [ask(request)] }
        func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome { .ok("nothing asked") }
        func handle(_ request: AgentRequest, caller: String, state: Int, kernel: KernelView) -> AgentOutcome {
            switch kernel.answer(ask(request)) {
            case .reply(.ok(let r))?: .ok(["reply": r])
            case .reply(.error(let code, _))?: .ok(["error": .string(code)])
            case .timeout(let s)?: .ok(["timeout": .double(s)])
            case .failed(let m)?: .ok(["failed": .string(m)])
            case .lost(let m)?: .ok(["lost": .string(m)])
            case nil: .ok("nothing asked")
            }
        }
    }

    @Test func anAskIsAnsweredWhileProgressKeepsTheTaskAndTimesOutWhenNoOneAnswers() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: asker
                subscribes: ["tasks.asker"]
                ack_wait: 300ms
              - id: helper
                subscribes: ["tasks.helper"]
            """, logLevel: "info")
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_ACK_WAIT_MS": "300"],
                                                         agentID: "asker")
        let runtime = Unchecked(AgentRuntime(logic: Asker(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }

        // helper, played by a raw client: it answers the task it gets after
        // twice asker's ack_wait, so only PROGRESS keeps asker's task.
        let helper = try RawClient(port: server.port)
        let pushes = RESPReader(helper)
        helper.send("AGENT JOIN helper\r\n")
        #expect(pushes.next()?.description == "+OK")
        let io = Unchecked((client: helper, reader: pushes))
        let answered = Thread {
            let (helper, pushes) = io.value
            guard let task = pushes.next(timeout: 20)?.strings, task.count >= 5, task[0] == "task",
                  let body = JSON.parse(task[4]), let replyTo = body["reply_to"]?.string, let id = body["id"] else { return }
            usleep(600_000)
            let reply: JSON = ["id": id, "ok": true, "result": ["pong": body["args"]?["n"] ?? .null]]
            helper.send(RawClient.command(["PUBLISH", replyTo, reply.text]))
            helper.send(RawClient.command(["ACK", "tasks.helper", task[2]]))
        }
        answered.start()
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        #expect(try client.request(agent: "asker", action: "ask", args: ["n": 7, "t": 100], timeout: 30, user: "default")
                == .ok(["reply": ["pong": 7]]))
        // Nobody reads helper's tasks now: the ask times out after 0.3 s, and asker still answers.
        #expect(try client.request(agent: "asker", action: "ask", args: ["n": 8, "t": 3], timeout: 30, user: "default")
                == .ok(["timeout": .double(0.3)]))
        // Each of asker's tasks was delivered once: PROGRESS went on while it waited.
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        var agents = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !agents.contains("\"acknowledged\", :2,") {
            c.send("AGENTS\r\n")
            agents = try #require(r.next()).description
        }
        #expect(agents.hasPrefix("[[\"id\", \"asker\"") && agents.contains("\"delivered\", :2,")
                && agents.contains("\"acknowledged\", :2,"), "\(agents)")
    }
}
