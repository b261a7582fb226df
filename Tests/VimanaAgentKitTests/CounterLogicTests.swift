import Testing
import VimanaAgentKit
@testable import CounterAgent

/// The example agent's logic as a pure function: events and a task in, new
/// events and a reply out (issue 12 §5).
@Suite struct CounterLogicTests {
    let logic = CounterLogic()

    func state(_ events: [AgentEvent]) -> [String: Counter] {
        var s = logic.initialState
        for e in events { logic.apply(e, to: &s) }
        return s
    }

    func request(_ action: String, _ args: [String: JSON]) -> AgentRequest {
        AgentRequest(action: action, id: "r1", args: args)
    }

    @Test func addAppendsTheNewValueAndItsOwner() {
        let before = state([AgentEvent("added", ["name": "apples", "value": "2", "owner": "alice"])])
        let out = logic.handle(request("add", ["name": "apples", "by": 3]), caller: "bob", state: before)
        #expect(out.events == [AgentEvent("added", ["name": "apples", "value": "5", "owner": "alice"])])
        #expect(out.reply == .ok(["name": "apples", "value": 5]))
        // A new counter is its first caller's; `by` defaults to 1.
        let fresh = logic.handle(request("add", ["name": "pears"]), caller: "bob", state: before)
        #expect(fresh.events == [AgentEvent("added", ["name": "pears", "value": "1", "owner": "bob"])])
    }

    @Test func getChangesNothing() {
        let s = state([AgentEvent("added", ["name": "a", "value": "7", "owner": "x"])])
        let out = logic.handle(request("get", ["name": "a"]), caller: "y", state: s)
        #expect(out.events.isEmpty && out.reply == .ok(["name": "a", "value": 7]))
        #expect(logic.handle(request("get", ["name": "b"]), caller: "y", state: s).reply == .ok(["name": "b", "value": 0]))
    }

    @Test func onlyTheOwnerMayReset() {
        let s = state([AgentEvent("added", ["name": "a", "value": "7", "owner": "alice"])])
        let refused = logic.handle(request("reset", ["name": "a"]), caller: "mallory", state: s)
        #expect(refused.events.isEmpty && refused.reply == .error(code: "forbidden", message: "only alice may reset 'a'"))
        let done = logic.handle(request("reset", ["name": "a"]), caller: "alice", state: s)
        #expect(done.events == [AgentEvent("reset", ["name": "a"])])
        #expect(state([AgentEvent("added", ["name": "a", "value": "7", "owner": "alice"])] + done.events).isEmpty)
        #expect(logic.handle(request("reset", ["name": "zz"]), caller: "alice", state: s).reply
                == .error(code: "not_found", message: "no counter named 'zz'"))
    }

    @Test func badArgumentsAndUnknownActionsAreErrorReplies() {
        let s = state([AgentEvent("added", ["name": "big", "value": String(Int64.max - 1), "owner": "o"])])
        let cases: [(String, [String: JSON], String)] = [
            ("add", [:], "bad_argument"),
            ("add", ["name": ""], "bad_argument"),
            ("add", ["name": 5], "bad_argument"),
            ("add", ["name": "a", "by": 0], "bad_argument"),
            ("add", ["name": "a", "by": 1_000_001], "bad_argument"),
            ("add", ["name": "a", "by": "2"], "bad_argument"),
            ("add", ["name": "big", "by": 2], "overflow"),
            ("fly", ["name": "a"], "unknown_action"),
        ]
        for (action, args, code) in cases {
            let out = logic.handle(request(action, args), caller: "c", state: s)
            guard case .error(let got, _) = out.reply else {
                Issue.record("\(action) \(args): \(out.reply)")
                continue
            }
            #expect(got == code && out.events.isEmpty, "\(action) \(args)")
        }
    }
}
