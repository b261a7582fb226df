// A counter agent written with VimanaAgentKit (Protocol/AGENTS.md §10).
// Tasks on tasks.counter: add {name, by?} (the first caller to add to a
// name owns it), get {name}, reset {name} (by its owner only).
import Foundation
import VimanaAgentKit

struct Counter: Equatable, Codable {
    var value: Int64 = 0
    var owner = ""
}

struct CounterLogic: AgentLogic {
    var initialState: [String: Counter] { [:] }

    func apply(_ event: AgentEvent, to state: inout [String: Counter]) {
        guard let name = event.data["name"] else { return }
        switch event.type {
        case "added":
            state[name] = Counter(value: Int64(event.data["value"] ?? "") ?? 0, owner: event.data["owner"] ?? "")
        case "reset":
            state[name] = nil
        default:
            break
        }
    }

    func handle(_ request: AgentRequest, caller: String, state: [String: Counter]) -> AgentOutcome {
        guard let name = request.args["name"]?.string, !name.isEmpty else {
            return .error(AgentErrorCode.badArgument, "name must be a non-empty string")
        }
        let counter = state[name]
        switch request.action {
        case "get":
            return .ok(["name": .string(name), "value": .int(counter?.value ?? 0)])
        case "add":
            guard let by = (request.args["by"] ?? 1).int, (1...1_000_000).contains(by) else {
                return .error(AgentErrorCode.badArgument, "by must be an integer from 1 to 1000000")
            }
            let (value, overflow) = (counter?.value ?? 0).addingReportingOverflow(by)
            if overflow { return .error("overflow", "\(name) would pass \(Int64.max)") }
            let owner = counter?.owner ?? caller
            return .ok(["name": .string(name), "value": .int(value)],
                       events: [AgentEvent("added", ["name": name, "value": String(value), "owner": owner])])
        case "reset":
            guard let counter else { return .error("not_found", "no counter named '\(name)'") }
            guard counter.owner == caller else {
                return .error(AgentErrorCode.forbidden, "only \(counter.owner) may reset '\(name)'")
            }
            return .ok(["name": .string(name), "value": 0], events: [AgentEvent("reset", ["name": name])])
        default:
            return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (add, get, reset)")
        }
    }
}

@main enum CounterAgent {
    static func main() {
        // A test fixture: VIMANA_AGENT_CRASH_AFTER_APPEND=<request id> makes this
        // example (not the kit) exit with status 70 right after appending that
        // request's events, before its reply and ACK. Never in a real agent.
        let crashID = ProcessInfo.processInfo.environment["VIMANA_AGENT_CRASH_AFTER_APPEND"]
        AgentRuntime.main(logic: CounterLogic(), agentID: "counter", afterAppend: crashID.map { id in
            { request in if request.id.text == id || request.id.string == id { exit(70) } }
        })
    }
}
