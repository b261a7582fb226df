import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents

/// forum's logic as a function: a task, the caller and civic's (or a
/// target's) answers to what `asks` named, to events and a reply; the
/// events folded as the runtime folds them.
@Suite struct ForumLogicTests {
    static let wiring = [
        DeclaredAgent(id: "civic", subscribes: ["tasks.civic"], system: true),
        DeclaredAgent(id: "forum", subscribes: ["tasks.forum"], system: true),
        DeclaredAgent(id: "billing", subscribes: ["tasks.billing"], user: "default"),
    ]

    /// civic as the tests play it: each user's agent and licence, and how many are licensed.
    struct Civic {
        var agents: [String: (agent: String, state: String)] = [
            "u1": ("a1", "active"), "u2": ("a2", "active"), "u3": ("a3", "active"), "u4": ("a4", "suspended"),
        ]
        var licensed: Int64 = 3
        var broke: Set<String> = []
        var silent = false

        func answer(_ ask: AgentAsk) -> AgentAnswer? {
            if silent { return .timeout(seconds: ask.timeout) }
            let user = ask.args["user"]?.string ?? ""
            switch ask.action {
            case "charge", "check_license":
                guard let a = agents[user] else { return .reply(.error(code: "not_found", message: "user \(user) has no registered agent")) }
                if ask.action == "charge" && a.state != "active" {
                    return .reply(.error(code: "not_licensed", message: "agent \(a.agent) is \(a.state)"))
                }
                if ask.action == "charge" && broke.contains(user) {
                    return .reply(.error(code: "insufficient_credits", message: "agent \(a.agent) has 3 credits, needs 10"))
                }
                return .reply(.ok(["agent": .string(a.agent), "user": .string(user), "state": .string(a.state),
                                   "reason": "", "balance": 90, "licensed": .int(licensed)]))
            case "get_registry":
                return .reply(.ok(["agents": [], "licensed": .int(licensed), "supply": 300]))
            default:
                return nil
            }
        }
    }

    /// One test's forum, civic and state.
    struct Harness {
        var civic = Civic()
        var state = ForumState()
        let logic = ForumLogic(declared: ForumLogicTests.wiring, forumUser: "agent:forum")

        /// Runs a task: asks answered by civic (or `target` for any other agent), events folded.
        mutating func run(_ action: String, _ args: [String: JSON] = [:], caller: String = "u1", at ms: Int64 = 1_000,
                          target: ((AgentAsk) -> AgentAnswer?)? = nil) -> AgentOutcome {
            let r = AgentRequest(action: action, id: "r", replyTo: "r", args: args, entryID: "\(ms)-0")
            var answers: [AgentAsk: AgentAnswer] = [:]
            for ask in logic.asks(for: r, caller: caller, state: state) {
                // civic answers what it knows; the rest (its transfer too) is `target`'s.
                if let a = (ask.agent == "civic" ? civic.answer(ask) : nil) ?? target?(ask) { answers[ask] = a }
            }
            let out = logic.handle(r, caller: caller, state: state, kernel: KernelView([:], answers: answers))
            for e in out.events { logic.apply(e, to: &state) }
            return out
        }

        mutating func open(_ title: String = "pay a1", caller: String = "u1", at ms: Int64 = 1_000) -> String? {
            let out = run("create_proposal", ["title": .string(title), "action": ForumLogicTests.transfer], caller: caller, at: ms)
            return ForumLogicTests.result(out)?["proposal"]?.string
        }
    }

    func code(_ o: AgentOutcome) -> String? {
        if case .error(let c, _) = o.reply { return c }
        return nil
    }

    static func result(_ o: AgentOutcome) -> JSON? {
        if case .ok(let r) = o.reply { return r }
        return nil
    }

    static let transfer: JSON = ["agent": "civic", "action": "transfer", "args": ["from": "treasury", "to": "a1", "amount": 5]]

    // MARK: - The rules

    @Test func thresholdIsStrictlyAboveAndNeedsAYesOrNo() {
        // 0.5: one yes against one no is exactly a half, not above it.
        #expect(!ForumRules.thresholdPassed(yes: 1, no: 1, thresholdMillionths: 500_000))
        #expect(ForumRules.thresholdPassed(yes: 2, no: 1, thresholdMillionths: 500_000))
        // 2/3 at a threshold of 0.666667 is below it (0.6666…); 0.666666 is below 2/3.
        #expect(!ForumRules.thresholdPassed(yes: 2, no: 1, thresholdMillionths: 666_667))
        #expect(ForumRules.thresholdPassed(yes: 2, no: 1, thresholdMillionths: 666_666))
        // No yes and no no: never approved, whatever the threshold.
        #expect(!ForumRules.thresholdPassed(yes: 0, no: 0, thresholdMillionths: 0))
        #expect(ForumRules.thresholdPassed(yes: 1, no: 0, thresholdMillionths: 0))
        #expect(!ForumRules.thresholdPassed(yes: 0, no: 3, thresholdMillionths: 0))
        #expect(!ForumRules.thresholdPassed(yes: .max, no: .max, thresholdMillionths: 500_000), "overflow is not an approval")
    }

    @Test func quorumCountsAbstentionsAndItsEdgeIsReached() {
        #expect(ForumRules.quorumReached(cast: 2, licensed: 4, quorumMillionths: 500_000))
        #expect(!ForumRules.quorumReached(cast: 1, licensed: 4, quorumMillionths: 500_000))
        #expect(ForumRules.quorumReached(cast: 0, licensed: 0, quorumMillionths: 1_000_000), "no one licensed: any quorum is met")
        #expect(ForumRules.quorumReached(cast: 0, licensed: 9, quorumMillionths: 0))
        #expect(!ForumRules.quorumReached(cast: 8, licensed: 9, quorumMillionths: 1_000_000))
        #expect(ForumRules.outcome(yes: 0, no: 0, abstain: 2, licensed: 4, thresholdMillionths: 500_000, quorumMillionths: 500_000) == .rejected)
        #expect(ForumRules.outcome(yes: 1, no: 0, abstain: 0, licensed: 4, thresholdMillionths: 500_000, quorumMillionths: 500_000) == .noQuorum)
        #expect(ForumRules.outcome(yes: 1, no: 0, abstain: 1, licensed: 4, thresholdMillionths: 500_000, quorumMillionths: 500_000) == .approved)
        #expect(ForumRules.outcome(yes: 1, no: 1, abstain: 0, licensed: 2, thresholdMillionths: 500_000, quorumMillionths: 500_000) == .rejected)
    }

    // MARK: - create_proposal

    /// envoy (a playbook's run) names the proposer, whose agent civic charges; no one else may.
    @Test func envoyOpensAProposalChargedToTheProposerItNames() {
        let h = Harness()
        let args: [String: JSON] = ["title": "t", "action": Self.transfer, "proposer": "u2"]
        let r = AgentRequest(action: "create_proposal", id: "r", args: args, entryID: "1000-0")
        #expect(h.logic.asks(for: r, caller: "agent:envoy", state: h.state) == [
            AgentAsk(agent: "civic", action: "charge", args: ["user": "u2", "amount": 10, "reason": "proposal: t"], timeout: 5),
        ])
        #expect(h.logic.asks(for: r, caller: "u1", state: h.state).isEmpty)
        guard case .error(let code, _) = h.logic.handle(r, caller: "u1", state: h.state).reply else {
            Issue.record("proposer from u1 was not refused")
            return
        }
        #expect(code == "forbidden")
    }

    @Test func aProposalIsOpenedOnlyWhenCivicCharges() {
        var h = Harness()
        let r = AgentRequest(action: "create_proposal", id: "r", args: ["title": "t", "action": Self.transfer], entryID: "1000-0")
        #expect(h.logic.asks(for: r, caller: "u1", state: h.state) == [
            AgentAsk(agent: "civic", action: "charge", args: ["user": "u1", "amount": 10, "reason": "proposal: t"], timeout: 5),
        ])
        let out = h.run("create_proposal", ["title": "pay a1", "description": "why", "action": Self.transfer])
        #expect(Self.result(out) == ["proposal": "p-1", "deadline": 3_601_000])
        #expect(out.events == [AgentEvent("opened", [
            "proposal": "p-1", "title": "pay a1", "description": "why", "target": "civic", "action": "transfer",
            "args": #"{"amount":5,"from":"treasury","to":"a1"}"#, "author": "a1", "deadline": "3601000"])])
        // Refused by civic: nothing appended, civic's reason passed on.
        h.civic.broke = ["u2"]
        let poor = h.run("create_proposal", ["title": "x", "action": Self.transfer], caller: "u2")
        #expect(code(poor) == "insufficient_credits" && poor.events.isEmpty)
        #expect(code(h.run("create_proposal", ["title": "x", "action": Self.transfer], caller: "u4")) == "not_licensed")
        #expect(code(h.run("create_proposal", ["title": "x", "action": Self.transfer], caller: "nobody")) == "not_licensed")
        h.civic.silent = true
        let unanswered = h.run("create_proposal", ["title": "x", "action": Self.transfer], caller: "u3")
        #expect(code(unanswered) == "unavailable" && unanswered.events.isEmpty)
        h.civic.silent = false
        #expect(h.open(caller: "u3") == "p-2", "numbers count proposals opened, not attempts")
    }

    @Test func badArgumentsAskNothingSoNothingIsCharged() {
        let h = Harness()
        let bad: [[String: JSON]] = [
            [:],
            ["title": ""],
            ["title": "t"],
            ["title": "t", "action": "transfer"],
            ["title": "t", "action": ["agent": "Civic!", "action": "transfer"]],
            ["title": "t", "action": ["agent": "civic", "action": ""]],
            ["title": "t", "action": ["agent": "civic", "action": "transfer", "args": [1, 2]]],
            ["title": "t", "action": ["agent": "civic", "action": "transfer", "args": ["authority": ["operator": true]]]],
            ["title": "t", "action": ["agent": "forum", "action": "vote"]],
            ["title": "t", "action": ["agent": "nobody", "action": "x"]],
            ["title": "t", "action": ["agent": "civic", "action": "x", "extra": 1]],
            ["title": .string(String(repeating: "x", count: ForumLimits.titleBytes + 1)), "action": Self.transfer],
            ["title": "t", "description": 3, "action": Self.transfer],
            ["title": "t", "action": ["agent": "civic", "action": "x", "args": ["blob": .string(String(repeating: "x", count: ForumLimits.argsBytes))]]],
        ]
        for args in bad {
            let r = AgentRequest(action: "create_proposal", id: "r", args: args, entryID: "1000-0")
            #expect(h.logic.asks(for: r, caller: "u1", state: ForumState()) == [], "\(args)")
            let out = h.logic.handle(r, caller: "u1", state: ForumState(), kernel: KernelView())
            #expect(["bad_argument", "not_found"].contains(code(out) ?? ""), "\(args): \(out)")
        }
        // A target the wiring declares under another user is answered by that user.
        let r = AgentRequest(action: "execute", id: "r", args: ["proposal": "p-1"])
        #expect(h.logic.asks(for: r, caller: "agent:forum", state: ForumState()) == [])
        #expect(h.logic.user(of: "billing") == "default" && h.logic.user(of: "civic") == "agent:civic")
    }

    // MARK: - vote

    @Test func oneVotePerAgentAndEveryLicensedAgentVotingDecidesAtOnce() throws {
        var h = Harness()
        let pOpened = h.open()
        let p = try #require(pOpened)
        let first = h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: "u1", at: 2_000)
        #expect(first.events == [AgentEvent("voted", ["proposal": "p-1", "agent": "a1", "choice": "yes"])])
        #expect(Self.result(first)?["outcome"] == .null && Self.result(first)?["yes"] == 1)
        let again = h.run("vote", ["proposal": .string(p), "choice": "no"], caller: "u1", at: 2_001)
        #expect(code(again) == "already_voted" && again.events.isEmpty)
        #expect(code(h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: "u4", at: 2_002)) == "not_licensed")
        #expect(code(h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: "nobody", at: 2_002)) == "not_licensed")
        #expect(code(h.run("vote", ["proposal": .string(p), "choice": "maybe"], caller: "u2")) == "bad_argument")
        #expect(code(h.run("vote", ["proposal": "p-9", "choice": "yes"], caller: "u2")) == "not_found")
        h.civic.silent = true
        #expect(code(h.run("vote", ["proposal": .string(p), "choice": "no"], caller: "u2", at: 2_003)) == "unavailable")
        h.civic.silent = false
        #expect(h.run("vote", ["proposal": .string(p), "choice": "no"], caller: "u2", at: 2_004).events.count == 1)
        // The third of three licensed agents: voted, then decided in the same task.
        let last = h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: "u3", at: 2_005)
        #expect(last.events.map(\.type) == ["voted", "decided"])
        #expect(last.events.last == AgentEvent("decided", [
            "proposal": "p-1", "outcome": "approved", "yes": "2", "no": "1", "abstain": "0", "licensed": "3",
            "target": "civic", "action": "transfer", "args": #"{"amount":5,"from":"treasury","to":"a1"}"#]))
        #expect(Self.result(last)?["state"] == "decided" && Self.result(last)?["outcome"] == "approved")
        // A vote on a decided proposal, and one published after the deadline of an open one, are closed.
        h.civic.agents["u5"] = ("a5", "active")
        #expect(code(h.run("vote", ["proposal": .string(p), "choice": "no"], caller: "u5", at: 2_006)) == "closed")
        let qOpened = h.open(at: 10_000)
        let q = try #require(qOpened)
        let late = AgentRequest(action: "vote", id: "r", args: ["proposal": .string(q), "choice": "yes"], entryID: "3610000-0")
        #expect(h.logic.asks(for: late, caller: "u1", state: h.state) == [], "nothing is asked for a vote that is refused")
        #expect(code(h.run("vote", ["proposal": .string(q), "choice": "yes"], caller: "u1", at: 3_610_000)) == "closed")
    }

    // MARK: - close and execute

    @Test func closeIsForumsOwnDueAtTheDeadlineAndAppliedOnce() throws {
        var h = Harness()
        let pOpened = h.open()
        let p = try #require(pOpened)
        _ = h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: "u1", at: 2_000)
        #expect(code(h.run("close", ["proposal": .string(p)], caller: "u1", at: 3_601_000)) == "forbidden")
        #expect(code(h.run("close", ["proposal": .string(p)], caller: "agent:forum", at: 3_600_999)) == "not_due")
        h.civic.silent = true
        let unanswered = h.run("close", ["proposal": .string(p)], caller: "agent:forum", at: 3_601_000)
        #expect(code(unanswered) == "unavailable" && unanswered.events.isEmpty)
        h.civic.silent = false
        // One yes of three licensed: a third, under the half the quorum needs.
        let closed = h.run("close", ["proposal": .string(p)], caller: "agent:forum", at: 3_601_000)
        #expect(closed.events.map(\.type) == ["decided"] && closed.events[0].data["outcome"] == "no_quorum")
        let twice = h.run("close", ["proposal": .string(p)], caller: "agent:forum", at: 3_601_500)
        #expect(twice.events.isEmpty && Self.result(twice)?["outcome"] == "no_quorum")
        #expect(code(h.run("execute", ["proposal": .string(p)], caller: "agent:forum")) == "bad_argument", "not approved")
        let off = ForumLogic(declared: nil, forumUser: nil)
        #expect(code(off.handle(AgentRequest(action: "close", id: 1, args: ["proposal": "p-1"]), caller: "default", state: h.state)) == "forbidden")
    }

    @Test func anApprovedProposalIsExecutedOnceWithItsAuthority() throws {
        var h = Harness()
        let pOpened = h.open()
        let p = try #require(pOpened)
        for u in ["u1", "u2"] { _ = h.run("vote", ["proposal": .string(p), "choice": "yes"], caller: u, at: 2_000) }
        #expect(h.state.due(now: 3_600_999).isEmpty && h.state.nextDeadline(after: 3_000) == 3_601_000)
        #expect(h.state.due(now: 3_601_000).map { "\($0.action) \($0.proposal)" } == ["close p-1"])
        _ = h.run("close", ["proposal": .string(p)], caller: "agent:forum", at: 3_601_000)
        #expect(h.state.proposals[p]?.decision?.outcome == "approved")
        #expect(h.state.due(now: 3_601_000).map { "\($0.action) \($0.proposal)" } == ["execute p-1"])
        var asked: [AgentAsk] = []
        let timedOut = h.run("execute", ["proposal": .string(p)], caller: "agent:forum") { ask in
            asked.append(ask)
            return .timeout(seconds: ask.timeout)
        }
        #expect(code(timedOut) == "unavailable" && timedOut.events.isEmpty, "nothing recorded: the timer asks again")
        #expect(asked == [AgentAsk(agent: "civic", action: "transfer",
                                   args: ["from": "treasury", "to": "a1", "amount": 5, "authority": ["proposal": "p-1"]], timeout: 10)])
        let lost = h.run("execute", ["proposal": .string(p)], caller: "agent:forum") { _ in .lost("connection reset") }
        #expect(lost.events.isEmpty)
        // civic is the target here too: the tests' civic leaves `transfer` to this closure.
        let done = h.run("execute", ["proposal": .string(p)], caller: "agent:forum") { _ in .reply(.ok(["amount": 5])) }
        #expect(done.events == [AgentEvent("executed", ["proposal": "p-1", "ok": "true", "result": #"{"amount":5}"#])])
        #expect(Self.result(done)?["execution"] == ["ok": true, "result": ["amount": 5]])
        let twice = h.run("execute", ["proposal": .string(p)], caller: "agent:forum") { _ in .reply(.ok(["amount": 6])) }
        #expect(twice.events.isEmpty && Self.result(twice)?["execution"] == ["ok": true, "result": ["amount": 5]])
        #expect(h.state.due(now: 9_999_999).isEmpty)
        // An error answer is recorded too (not asked again).
        let qOpened = h.open("again", at: 5_000_000)
        let q = try #require(qOpened)
        for u in ["u1", "u2", "u3"] { _ = h.run("vote", ["proposal": .string(q), "choice": "yes"], caller: u, at: 5_000_001) }
        let refused = h.run("execute", ["proposal": .string(q)], caller: "agent:forum") { _ in
            .reply(.error(code: "insufficient_credits", message: "treasury has 0"))
        }
        #expect(refused.events.first?.data["ok"] == "false")
        #expect(refused.events.first?.data["error"] == #"{"code":"insufficient_credits","message":"treasury has 0"}"#)
    }

    // MARK: - Queries and snapshots

    @Test func getAndListProposalsAndTheStateSurvivesASnapshot() throws {
        var h = Harness()
        let pOpened = h.open("first")
        let p = try #require(pOpened)
        _ = h.open("second", at: 2_000)
        _ = h.run("vote", ["proposal": .string(p), "choice": "abstain"], caller: "u2", at: 3_000)
        for u in ["u1", "u3"] { _ = h.run("vote", ["proposal": .string(p), "choice": "no"], caller: u, at: 3_001) }
        let got = try #require(Self.result(h.run("get_proposal", ["proposal": .string(p)])))
        #expect(got["votes"] == ["a1": "no", "a2": "abstain", "a3": "no"] && got["outcome"] == "rejected" && got["execution"] == .null)
        #expect(got["args"] == Self.transfer["args"] && got["description"] == "")
        let all = try #require(Self.result(h.run("list_proposals")))
        #expect(all["total"] == 2)
        guard case .array(let items)? = all["proposals"] else { throw TestFailure("\(all)") }
        #expect(items.map { $0["proposal"] } == ["p-2", "p-1"], "newest first")
        #expect(Self.result(h.run("list_proposals", ["state": "open"]))?["total"] == 1)
        #expect(Self.result(h.run("list_proposals", ["state": "decided"]))?["total"] == 1)
        #expect(code(h.run("list_proposals", ["state": "closed"])) == "bad_argument")
        #expect(code(h.run("get_proposal", ["proposal": "p-01"])) == "bad_argument")
        #expect(code(h.run("fly")) == "unknown_action")
        let text = try #require(h.logic.snapshot(of: h.state))
        #expect(h.logic.state(fromSnapshot: text) == h.state)
    }
}
