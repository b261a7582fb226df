import Testing
import VimanaAgentKit
import VimanaConfig
import VimanaConfigLoader
@testable import VimanaSystemAgents

/// envoy's playbooks and runs without a server: a malformed playbook is
/// refused at its line:column; references are substituted; steps follow
/// one another, each an event; a state rebuilt from the events goes on at
/// the next step; a failed check runs on_failure.
@Suite struct EnvoyLogicTests {
    static let yaml = """
    name: demo
    args:
      who: {required: true}
    phases:
      - name: one
        steps:
          - id: ask
            call: {agent: civic, action: check_license, args: {agent: "${args.who}", note: "for ${args.who}"}, timeout: 2s}
          - check: {step: ask, path: state, equals: active}
          - wait: 1s
          - emit: {type: done, fields: {who: "${args.who}", state: "${steps.ask.result.state}"}}
    on_failure:
      - emit: {type: sorry, fields: {who: "${args.who}"}}
    """

    static func logic() throws -> EnvoyLogic {
        EnvoyLogic(playbooks: [try PlaybookLoader.parse(yaml: yaml, path: "demo.yaml")], stepper: "agent:envoy")
    }

    @Test func malformedPlaybooksAreRefusedAtTheirLineAndColumn() {
        func error(_ text: String) -> String {
            do { _ = try PlaybookLoader.parse(yaml: text, path: "p.yaml"); return "" } catch { return error.description }
        }
        #expect(error("name: x\nphases:\n  - name: a\n    steps:\n      - wait: soon\n").hasPrefix("p.yaml:5:15: "))
        #expect(error("name: x\nphases:\n  - name: a\n    steps:\n      - call: {agent: civic, action: a}\n        emit: {type: t}\n")
            .hasPrefix("p.yaml:5:9: "))
        #expect(error("name: x\nphases:\n  - name: a\n    steps:\n      - emit: {type: t, fields: {a: \"${args.nope}\"}}\n")
            .contains("p.yaml:5:37: ${args.nope}"))
        #expect(error("name: x\nphases:\n  - name: a\n    steps:\n      - check: {step: later, path: a, equals: 1}\n").hasPrefix("p.yaml:5:16: "))
        #expect(error("name: x\nphases: []\n").hasPrefix("p.yaml:2:9: "))
        #expect(error("name: x\nfoo: 1\nphases: []\n").hasPrefix("p.yaml:2:1: unknown key 'foo'"))
    }

    @Test func theShippedPlaybooksParse() throws {
        let books = try PlaybookLoader.load(directory: "config/playbooks")
        #expect(books.map(\.name) == ["governance_vote", "onboard_agent"])
    }

    @Test func referencesAreSubstituted() throws {
        var run = EnvoyRun(run: "run-1", playbook: "demo", args: #"{"who":"bob","n":3}"#, startedAt: "1-0")
        run.results["ask"] = #"{"state":"active","list":[{"x":7}]}"#
        #expect(try EnvoyLogic.substitute(.string("${args.n}"), run: run) == .int(3))
        #expect(try EnvoyLogic.substitute(.string("n=${args.n} ${args.who}"), run: run) == .string("n=3 bob"))
        #expect(try EnvoyLogic.substitute(.string("${steps.ask.result.list.0.x}"), run: run) == .int(7))
        #expect(try EnvoyLogic.substitute(.string("${run}"), run: run) == .string("run-1"))
        #expect(throws: Refusal.self) { try EnvoyLogic.substitute(.string("${steps.ask.result.nope}"), run: run) }
    }

    /// Handles `step` as envoy's follower would send it, folding its events.
    static func step(_ logic: EnvoyLogic, _ state: inout EnvoyState, _ run: String, at ms: Int64,
                     answer: AgentAnswer? = nil) -> AgentOutcome {
        let at = logic.position(state.runs[run]!).key
        let request = AgentRequest(action: "step", id: .string("s\(ms)"), args: ["run": .string(run), "at": .string(at)],
                                   entryID: "\(ms)-0")
        let asks = logic.asks(for: request, caller: "agent:envoy", state: state)
        var view = KernelView()
        if let answer, let ask = asks.first { view = KernelView([:], answers: [ask: answer]) }
        let out = logic.handle(request, caller: "agent:envoy", state: state, kernel: view)
        for e in out.events { logic.apply(e, to: &state) }
        return out
    }

    @Test func aRunGoesStepByStepAndResumesFromItsEvents() throws {
        let logic = try Self.logic()
        var state = logic.initialState
        let started = logic.handle(AgentRequest(action: "run_playbook", id: 1, args: ["name": "demo", "args": ["who": "bob"]],
                                                entryID: "1000-0"), caller: "alice", state: state)
        #expect(started.events.map(\.type) == ["started"])
        var all = started.events
        for e in started.events { logic.apply(e, to: &state) }
        // The call: its args substituted; civic's reply recorded.
        let req = AgentRequest(action: "step", id: "x", args: ["run": "run-1", "at": "phases:0"], entryID: "1001-0")
        let ask = try #require(logic.asks(for: req, caller: "agent:envoy", state: state).first)
        #expect(ask.agent == "civic" && ask.args == ["agent": "bob", "note": "for bob"] && ask.timeout == 2)
        #expect(logic.asks(for: req, caller: "mallory", state: state).isEmpty)
        var out = Self.step(logic, &state, "run-1", at: 1001, answer: .reply(.ok(["state": "active"])))
        all += out.events
        #expect(out.events.map(\.type) == ["step_done"] && out.events[0].data["ok"] == "true")
        out = Self.step(logic, &state, "run-1", at: 1002)  // the check
        all += out.events
        #expect(out.events.first?.data["ok"] == "true")
        out = Self.step(logic, &state, "run-1", at: 1003)  // the wait: recorded
        all += out.events
        #expect(out.events.map(\.type) == ["waiting"] && out.events[0].data["until"] == "2003")
        // Before its time nothing moves.
        #expect(Self.step(logic, &state, "run-1", at: 1500).events.isEmpty)

        // A restart: the state rebuilt from the events alone is the same, at the same step.
        var rebuilt = logic.initialState
        for e in all { logic.apply(e, to: &rebuilt) }
        #expect(rebuilt == state && logic.position(rebuilt.runs["run-1"]!).key == "phases:2")
        out = Self.step(logic, &rebuilt, "run-1", at: 2003)
        #expect(out.events.map(\.type) == ["step_done"])
        out = Self.step(logic, &rebuilt, "run-1", at: 2004)  // the emit, the last step: finished
        #expect(out.events.map(\.type) == ["emitted", "step_done", "finished"])
        #expect(out.events[0].data["fields"] == #"{"state":"active","who":"bob"}"#)
        #expect(out.events[2].data["outcome"] == "success" && rebuilt.runs["run-1"]?.outcome == "success")
        // A stale step (sent twice) changes nothing.
        let stale = logic.handle(AgentRequest(action: "step", id: "y", args: ["run": "run-1", "at": "phases:3"], entryID: "2005-0"),
                                 caller: "agent:envoy", state: rebuilt)
        #expect(stale.events.isEmpty)
    }

    @Test func aFailedCheckRunsOnFailure() throws {
        let logic = try Self.logic()
        var state = logic.initialState
        for e in logic.handle(AgentRequest(action: "run_playbook", id: 1, args: ["name": "demo", "args": ["who": "eve"]], entryID: "1-0"),
                              caller: "alice", state: state).events { logic.apply(e, to: &state) }
        _ = Self.step(logic, &state, "run-1", at: 2, answer: .reply(.ok(["state": "suspended"])))
        let check = Self.step(logic, &state, "run-1", at: 3)
        #expect(check.events.first?.data["ok"] == "false" && logic.position(state.runs["run-1"]!).key == "on_failure:0")
        let last = Self.step(logic, &state, "run-1", at: 4)
        #expect(last.events.map(\.type) == ["emitted", "step_done", "finished"] && last.events[0].data["kind"] == "sorry")
        #expect(last.events[2].data["outcome"] == "failure" && state.runs["run-1"]?.failedStep == "one.2")
        // A call that times out fails its step.
        var s2 = logic.initialState
        for e in logic.handle(AgentRequest(action: "run_playbook", id: 2, args: ["name": "demo", "args": ["who": "z"]], entryID: "1-0"),
                              caller: "alice", state: s2).events { logic.apply(e, to: &s2) }
        let t = Self.step(logic, &s2, "run-1", at: 2, answer: .timeout(seconds: 2))
        #expect(t.events.first?.data["ok"] == "false" && t.events.first?.data["result"]?.contains("timeout") == true)
        // Refusals: unknown playbook, missing arg, a step from another user.
        #expect(logic.handle(AgentRequest(action: "run_playbook", id: 3, args: ["name": "nope"]), caller: "a", state: s2).reply
            .isError("not_found"))
        #expect(logic.handle(AgentRequest(action: "run_playbook", id: 3, args: ["name": "demo"]), caller: "a", state: s2).reply
            .isError("bad_argument"))
        #expect(logic.handle(AgentRequest(action: "step", id: 3, args: ["run": "run-1", "at": "phases:1"]), caller: "a", state: s2).reply
            .isError("forbidden"))
    }
}

extension AgentReply {
    func isError(_ code: String) -> Bool {
        if case .error(let c, _) = self { return c == code }
        return false
    }
}
