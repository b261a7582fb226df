import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// The court's rules over its events: who may appeal, eligibility from
/// watchman's violations, verdicts only by judges and only after review,
/// and a mercy enacted once through civic.
@Suite struct SupremeCourtLogicTests {
    let logic = SupremeCourtLogic(judges: ["judge"], offenceWindowMillis: 60_000, maxOffences: 1, scan: 20, civicTimeout: 1)

    struct Court {
        var book: AgentBook<SupremeCourtLogic>
        var n = 0
        init(_ logic: SupremeCourtLogic) { book = AgentBook(logic: logic) }

        @discardableResult
        mutating func run(_ action: String, _ args: [String: JSON] = [:], by caller: String, at millis: Int64 = 100_000, id: String? = nil,
                          answers: [AgentAsk: AgentAnswer] = [:], kernel: [KernelRead: RESPValue] = [:]) -> AgentReply? {
            n += 1
            let request = AgentRequest(action: action, id: .string(id ?? "r\(n)"), args: args, entryID: "\(millis)-\(n)")
            let step = book.step(request, caller: caller, kernel: KernelView(kernel, answers: answers))
            for (i, e) in step.append.enumerated() { book.replay(e.fields, id: "\(millis)-\(100 + n)-\(i)") }
            return AgentReply(json: JSON.parse(step.reply) ?? .null)
        }
    }

    func ok(_ r: AgentReply?) -> JSON? { if case .ok(let j)? = r { return j }; return nil }
    func code(_ r: AgentReply?) -> String? { if case .error(let c, _)? = r { return c }; return nil }
    func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }

    func licence(_ state: String, balance: Int64 = 10) -> AgentAnswer {
        .reply(.ok(["agent": "flooder", "user": "mallory", "state": .string(state), "reason": "flooding", "balance": .int(balance), "licensed": 0]))
    }

    func violations(_ millis: [Int64], by user: String = "agent:watchman") -> RESPValue {
        .array(millis.enumerated().map { i, ms in
            .array([bulk("\(ms)-\(i)"), .array([("type", "violation"), ("violation", "v-\(i)"), ("agent", "flooder"), ("user", "mallory"),
                                                 ("kind", "rate"), ("detail", "x"), ("_publisher", user)].flatMap { [bulk($0.0), bulk($0.1)] })])
        })
    }

    func filed(_ c: inout Court) {
        let ask = logic.licenceAsk(["user": "mallory"])
        #expect(ok(c.run("file_appeal", ["reason": "I will slow down"], by: "mallory", answers: [ask: licence("suspended")]))?["appeal"] == "a-1")
    }

    @Test func onlyASuspendedOrRevokedAgentAppealsAndOnceAtATime() {
        var c = Court(logic)
        let ask = logic.licenceAsk(["user": "mallory"])
        #expect(logic.asks(for: AgentRequest(action: "file_appeal", id: 1, args: ["reason": "x"]), caller: "mallory", state: c.book.state) == [ask])
        #expect(logic.asks(for: AgentRequest(action: "file_appeal", id: 1, args: [:]), caller: "mallory", state: c.book.state).isEmpty,
                "a bad request asks nobody")
        #expect(code(c.run("file_appeal", ["reason": "x"], by: "mallory", answers: [ask: licence("active")])) == "not_needed")
        #expect(code(c.run("file_appeal", ["reason": "x"], by: "mallory",
                           answers: [ask: .reply(.error(code: "not_found", message: "user 'mallory' holds no registered agent"))])) == "not_registered")
        #expect(code(c.run("file_appeal", ["reason": "x"], by: "mallory", answers: [ask: .timeout(seconds: 1)])) == "unavailable")
        filed(&c)
        #expect(code(c.run("file_appeal", ["reason": "again"], by: "mallory", answers: [ask: licence("suspended")])) == "exists")
    }

    @Test func eligibilityCountsWatchmansViolationsInTheWindowOnly() {
        var c = Court(logic)
        filed(&c)
        let civic = logic.licenceAsk(["agent": "flooder"])
        let read = logic.offencesRead()
        #expect(code(c.run("review", ["appeal": "a-1"], by: "mallory")) == "forbidden")
        #expect(code(c.run("issue_verdict", ["appeal": "a-1", "verdict": "mercy_granted"], by: "judge")) == "not_reviewed")
        // One violation in the window (the other is older, one is forged): eligible with at most 1.
        let r = ok(c.run("review", ["appeal": "a-1"], by: "judge", at: 100_000, answers: [civic: licence("suspended")],
                         kernel: [read: .array((violations([30_000, 90_000]).elements ?? []) + (violations([95_000], by: "agent:oracle").elements ?? []))]))
        #expect(r?["eligible"] == true && r?["offences"] == 1 && r?["status"] == "reviewed")
        #expect(code(c.run("review", ["appeal": "a-1"], by: "judge")) == "closed")
    }

    @Test func tooManyOffencesMakeMercyImpossibleButAVerdictStillComes() {
        var c = Court(logic)
        filed(&c)
        c.run("review", ["appeal": "a-1"], by: "judge", at: 100_000, answers: [logic.licenceAsk(["agent": "flooder"]): licence("suspended")],
              kernel: [logic.offencesRead(): violations([91_000, 92_000])])
        #expect(code(c.run("issue_verdict", ["appeal": "a-1", "verdict": "mercy_granted"], by: "judge")) == "not_eligible")
        #expect(code(c.run("issue_verdict", ["appeal": "a-1", "verdict": "upheld"], by: "mallory")) == "forbidden")
        #expect(ok(c.run("issue_verdict", ["appeal": "a-1", "verdict": "upheld"], by: "judge"))?["verdict"] == "upheld")
        #expect(c.book.state.unenacted.isEmpty, "an upheld verdict enacts nothing")
        #expect(c.book.state.pending["flooder"] == nil, "the agent may appeal again")
    }

    /// A negative balance makes mercy impossible however few the offences
    /// (issue 13: eligible when "its balance is not negative"); a balance of 0 is not negative.
    @Test func aNegativeBalanceMakesMercyImpossible() {
        for (balance, eligible) in [(Int64(-1), false), (0, true)] {
            var c = Court(logic)
            filed(&c)
            let r = ok(c.run("review", ["appeal": "a-1"], by: "judge", at: 100_000,
                             answers: [logic.licenceAsk(["agent": "flooder"]): licence("suspended", balance: balance)],
                             kernel: [logic.offencesRead(): violations([])]))
            #expect(r?["eligible"] == .bool(eligible) && r?["offences"] == 0, "balance \(balance): \(r?.text ?? "")")
            let verdict = c.run("issue_verdict", ["appeal": "a-1", "verdict": "mercy_granted"], by: "judge")
            #expect(eligible ? ok(verdict)?["verdict"] == "mercy_granted" : code(verdict) == "not_eligible", "balance \(balance)")
        }
    }

    @Test func aMercyIsEnactedOnceThroughCivicWithTheVerdictAsAuthority() {
        var c = Court(logic)
        filed(&c)
        c.run("review", ["appeal": "a-1"], by: "judge", answers: [logic.licenceAsk(["agent": "flooder"]): licence("suspended")],
              kernel: [logic.offencesRead(): .array([])])
        #expect(code(c.run("issue_verdict", ["appeal": "a-1", "verdict": "mercy_conditional"], by: "judge")) == "bad_argument",
                "a conditional mercy names its conditions")
        let v = ok(c.run("issue_verdict", ["appeal": "a-1", "verdict": "mercy_conditional", "conditions": "10 msg/s"], by: "judge"))
        #expect(v?["conditions"] == "10 msg/s" && v?["judge"] == "judge")
        let appeal = c.book.state.appeals["a-1"]!
        #expect(c.book.state.unenacted.map(\.appeal) == ["a-1"])
        let reinstate = logic.reinstateAsk(appeal)
        #expect(reinstate.args["authority"] == ["appeal": "a-1"] && reinstate.action == "reinstate" && reinstate.agent == "civic")
        #expect(code(c.run("enact", ["appeal": "a-1"], by: "judge")) == "forbidden", "only the court itself enacts")
        #expect(code(c.run("enact", ["appeal": "a-1"], by: SupremeCourtLogic.user, answers: [reinstate: .timeout(seconds: 1)])) == "unavailable")
        #expect(c.book.state.unenacted.count == 1, "no answer: enacted later")
        let done = ok(c.run("enact", ["appeal": "a-1"], by: SupremeCourtLogic.user,
                            answers: [reinstate: .reply(.ok(["agent": "flooder", "state": "active", "changed": true]))]))
        #expect(done?["enacted"] == true)
        #expect(c.book.state.unenacted.isEmpty)
        #expect(logic.asks(for: AgentRequest(action: "enact", id: 9, args: ["appeal": "a-1"]), caller: SupremeCourtLogic.user,
                           state: c.book.state).isEmpty, "an enacted mercy asks civic nothing more")
        #expect(ok(c.run("list_precedents", by: "anyone"))?["precedents"].map { if case .array(let a) = $0 { a.count } else { 0 } } == 1)
        #expect(logic.snapshot(of: c.book.state).flatMap(logic.state(fromSnapshot:)) == c.book.state)
    }
}
