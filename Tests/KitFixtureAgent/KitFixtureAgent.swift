// A test fixture for the agent kit's wire tests (never a real agent): an
// agent whose tasks publish messages besides their reply (Protocol/AGENTS.md
// §10, "Messages"). Tasks on tasks.fixture: say {topic, text} appends
// `said` and publishes `text` to `topic`; anything else is refused.
// VIMANA_AGENT_CRASH_AFTER_APPEND=<request id> makes it exit with status 70
// right after appending that request's events, before its messages, reply
// and ACK (the runtime's `afterAppend` hook).
import Foundation
import VimanaAgentKit

struct FixtureLogic: AgentLogic {
    var initialState: Int { 0 }

    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }

    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome {
        guard request.action == "say" else { return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (say)") }
        guard let topic = request.args["topic"]?.string, let text = request.args["text"]?.string else {
            return .error(AgentErrorCode.badArgument, "topic and text must be strings")
        }
        return .ok(.int(Int64(state + 1)), events: [AgentEvent("said", ["topic": topic])],
                   messages: [AgentMessage(topic: topic, message: text)])
    }
}

@main enum KitFixtureAgent {
    static func main() {
        let crashID = ProcessInfo.processInfo.environment["VIMANA_AGENT_CRASH_AFTER_APPEND"]
        AgentRuntime.main(logic: FixtureLogic(), agentID: "fixture", afterAppend: crashID.map { id in
            { request in if request.id.text == id || request.id.string == id { exit(70) } }
        })
    }
}
