import Testing
import VimanaAgentKit
@testable import VimanaSystemAgents

/// discovery's logic as a pure function: events and a task in, events and a reply out.
@Suite struct DiscoveryLogicTests {
    let logic = DiscoveryLogic(declared: [
        DeclaredAgent(id: "billing", description: "bills orders", subscribes: ["tasks.billing"], publishes: ["events.billing"],
                      capabilities: ["invoice"]),
        DeclaredAgent(id: "mailer", subscribes: ["tasks.mail"], user: "postman"),
        DeclaredAgent(id: "discovery", description: "the directory", subscribes: ["tasks.discovery"],
                      capabilities: ["directory"], system: true),
    ], observer: "agent:discovery")

    func fold(_ events: [AgentEvent]) -> DiscoveryState {
        var s = logic.initialState
        for e in events { logic.apply(e, to: &s) }
        return s
    }

    func request(_ action: String, _ args: [String: JSON] = [:]) -> AgentRequest {
        AgentRequest(action: action, id: "r1", args: args)
    }

    func observe(_ agents: [(String, String, Int64)]) -> AgentRequest {
        request("observe", ["agents": .array(agents.map { ["id": .string($0.0), "status": .string($0.1), "instances": .int($0.2)] })])
    }

    /// Its state is `Codable`, so the kit snapshots it (Protocol/AGENTS.md
    /// §10) by its JSON encoding: restored, it is the same state.
    @Test func itsStateIsSnapshottedWhole() throws {
        let first = logic.handle(observe([("billing", "running", 1), ("mailer", "idle", 0)]), caller: "agent:discovery",
                                 state: logic.initialState)
        let state = fold(first.events)
        #expect(!state.live.isEmpty)
        let text = try #require(logic.snapshot(of: state))
        #expect(logic.state(fromSnapshot: text) == state)
        #expect(logic.state(fromSnapshot: #"{"live":1}"#) == nil)
    }

    @Test func observationsBecomeJoinLeaveAndFailureEventsOnlyWhenSomethingChanged() {
        let first = logic.handle(observe([("billing", "running", 1), ("mailer", "idle", 0)]), caller: "agent:discovery",
                                 state: logic.initialState)
        #expect(first.events == [AgentEvent("joined", ["agent": "billing", "status": "running", "instances": "1"]),
                                 AgentEvent("status", ["agent": "mailer", "status": "idle", "instances": "0"])])
        let state = fold(first.events)
        // The same answer again: nothing to announce.
        #expect(logic.handle(observe([("billing", "running", 1), ("mailer", "idle", 0)]), caller: "agent:discovery", state: state).events == [])
        let later = logic.handle(observe([("billing", "idle", 0), ("mailer", "failed", 0)]), caller: "agent:discovery", state: state)
        #expect(later.events == [AgentEvent("left", ["agent": "billing", "status": "idle", "instances": "0"]),
                                 AgentEvent("failed", ["agent": "mailer", "status": "failed", "instances": "0"])])
        #expect(later.reply == .ok(["changes": 2]))
    }

    @Test func onlyDiscoverysOwnUserMayObserve() {
        let o = logic.handle(observe([("billing", "running", 1)]), caller: "default", state: logic.initialState)
        #expect(o.events == [])
        #expect(o.reply == .error(code: "forbidden", message: "observe is discovery's own (its user agent:discovery)"))
    }

    /// An observation is what AGENTS answers, or it is refused whole: only
    /// declared agents, each once, with a status AGENTS reports.
    @Test func observationsOfUndeclaredAgentsOrUnknownStatusesAreRefused() {
        let shape = "agents must be an array of at most 3 {id, status, instances}: each id a declared agent's, once;"
            + " status one of disabled, failed, idle, running; instances from 0"
        let cases: [[(String, String, Int64)]] = [[("ghost", "running", 1)], [("billing", "running", 1), ("billing", "idle", 0)],
                    [("billing", "asleep", 0)], [("billing", "running", -1)],
                    [("billing", "idle", 0), ("mailer", "idle", 0), ("discovery", "idle", 0), ("billing", "idle", 0)]]
        for bad in cases {
            let o = logic.handle(observe(bad), caller: "agent:discovery", state: logic.initialState)
            #expect(o.events == [], "\(bad)")
            #expect(o.reply == .error(code: "bad_argument", message: shape), "\(bad)")
        }
    }

    /// Run without credentials, discovery's connections are `default`'s,
    /// which anyone may be: it takes no observation at all.
    @Test func withoutCredentialsNoObservationIsTaken() {
        let blind = DiscoveryLogic(declared: logic.declared, observer: nil)
        let o = blind.handle(observe([("billing", "running", 1)]), caller: "default", state: blind.initialState)
        #expect(o.events == [])
        #expect(o.reply == .error(code: "forbidden",
                                  message: "observe is discovery's own, and this discovery runs without credentials (VIMANA_PASSWORD): it takes none"))
    }

    @Test func listDescribeAndFindAnswerFromDeclarationsAndEvents() {
        let state = fold([AgentEvent("joined", ["agent": "billing", "status": "running", "instances": "2"])])
        #expect(logic.handle(request("list"), caller: "default", state: state).reply == .ok(["agents": [
            ["id": "billing", "description": "bills orders", "status": "running", "instances": 2, "capabilities": ["invoice"], "system": false],
            ["id": "mailer", "description": "", "status": "unknown", "instances": 0, "capabilities": [], "system": false],
            ["id": "discovery", "description": "the directory", "status": "unknown", "instances": 0, "capabilities": ["directory"], "system": true],
        ]]))
        #expect(logic.handle(request("describe", ["agent": "billing"]), caller: "default", state: state).reply == .ok([
            "id": "billing", "name": "billing", "kind": "external", "description": "bills orders", "user": "agent:billing",
            "subscribes": ["tasks.billing"], "publishes": ["events.billing"], "status": "running", "instances": 2,
            "capabilities": ["invoice"], "system": false,
        ]))
        #expect(logic.handle(request("describe", ["agent": "nobody"]), caller: "default", state: state).reply
                == .error(code: "not_found", message: "no agent 'nobody' is declared"))
        #expect(logic.handle(request("describe"), caller: "default", state: state).reply
                == .error(code: "bad_argument", message: "agent must be a non-empty string (an agent id)"))
        #expect(logic.handle(request("find_by_capability", ["capability": "invoice"]), caller: "default", state: state).reply
                == .ok(["capability": "invoice", "agents": ["billing"]]))
        #expect(logic.handle(request("find_by_capability", ["capability": "teleport"]), caller: "default", state: state).reply
                == .ok(["capability": "teleport", "agents": []]))
        #expect(logic.handle(request("fly"), caller: "default", state: state).reply
                == .error(code: "unknown_action", message: "unknown action 'fly' (list, describe, find_by_capability, announce)"))
    }

    @Test func anAgentsOwnUserAnnouncesItsManifestAndOthersAreRefused() {
        let announce = request("announce", ["agent": "mailer", "description": "sends mail", "capabilities": ["smtp", "email"]])
        #expect(logic.handle(announce, caller: "agent:mailer", state: logic.initialState).reply
                == .error(code: "forbidden", message: "only postman, the user agent 'mailer' runs as, may announce it"))
        let done = logic.handle(announce, caller: "postman", state: logic.initialState)
        #expect(done.events == [AgentEvent("announced", ["agent": "mailer", "description": "sends mail", "capabilities": "[\"smtp\",\"email\"]"])])
        let state = fold(done.events)
        #expect(logic.handle(request("find_by_capability", ["capability": "email"]), caller: "default", state: state).reply
                == .ok(["capability": "email", "agents": ["mailer"]]))
        // Announced capabilities join the declared ones.
        let billing = logic.handle(request("announce", ["agent": "billing", "capabilities": ["refund", "invoice"]]),
                                   caller: "agent:billing", state: state)
        #expect(billing.reply == .ok(["id": "billing", "description": "bills orders", "status": "unknown", "instances": 0,
                                      "capabilities": ["invoice", "refund"], "system": false]))
        let bad = logic.handle(request("announce", ["agent": "mailer", "capabilities": ["a", "a"]]), caller: "postman", state: state)
        #expect(bad.events == [])
        #expect(bad.reply == .error(code: "bad_argument", message: "capabilities must be an array of at most 64 distinct non-empty strings of at most 128 bytes"))
    }

    @Test func theDirectoryIsReadFromTheKernelsJSON() {
        let text = #"[{"id":"a","name":"A","description":"d","kind":"builtin","subscribes":["x"],"publishes":null,"user":"","capabilities":["c"],"system":false},{"id":"discovery","name":"discovery","description":"","kind":"external","subscribes":["tasks.discovery"],"publishes":["p"],"user":"agent:discovery","capabilities":[],"system":true}]"#
        #expect(DeclaredAgent.parse(text) == [
            DeclaredAgent(id: "a", name: "A", description: "d", kind: "builtin", subscribes: ["x"], capabilities: ["c"]),
            DeclaredAgent(id: "discovery", subscribes: ["tasks.discovery"], publishes: ["p"], system: true),
        ])
        #expect(DeclaredAgent.parse("{}") == nil)
        #expect(DeclaredAgent.parse(#"[{"id":"a"}]"#) == nil)
    }
}
