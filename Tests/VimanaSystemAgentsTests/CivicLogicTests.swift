import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// civic's rules as a pure function over its events: registration, the
/// licences and their authority, and credits that are conserved.
@Suite struct CivicLogicTests {
    let logic = CivicLogic(operators: ["root"], grant: 100, scan: 50, systemAgents: ["civic", "herald", "forum", "supreme_court", "watchman", "envoy"])

    /// A city run through the kit's book (so duplicates are the kit's own).
    struct City {
        var book: AgentBook<CivicLogic>
        var n = 0
        init(_ logic: CivicLogic) { book = AgentBook(logic: logic) }

        /// Runs one task and folds its events as the runtime would; returns the reply.
        @discardableResult
        mutating func run(_ action: String, _ args: [String: JSON] = [:], by caller: String, id: String? = nil,
                          kernel: [KernelRead: RESPValue] = [:]) -> AgentReply? {
            n += 1
            let rid = id ?? "r\(n)"
            let request = AgentRequest(action: action, id: .string(rid), args: args, entryID: "\(1000 + n)-0")
            let step = book.step(request, caller: caller, kernel: KernelView(kernel))
            for (i, e) in step.append.enumerated() { book.replay(e.fields, id: "\(2000 + n)-\(i)") }
            return AgentReply(json: JSON.parse(step.reply) ?? .null)
        }

        var state: CivicState { book.state }
    }

    func ok(_ r: AgentReply?) -> JSON? { if case .ok(let j)? = r { return j }; return nil }
    func code(_ r: AgentReply?) -> String? { if case .error(let c, _)? = r { return c }; return nil }
    func message(_ r: AgentReply?) -> String { if case .error(_, let m)? = r { return m }; return "" }

    func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
    /// An XREVRANGE reply with these entries (PUBLISHER ON).
    func entries(_ items: [(String, [(String, String)], String)]) -> RESPValue {
        .array(items.map { i in .array([bulk(i.0), .array((i.1 + [("_publisher", i.2)]).flatMap { [bulk($0.0), bulk($0.1)] })]) })
    }

    func registered(_ names: [(String, String)]) -> City {
        var c = City(logic)
        for (agent, user) in names { c.run("register", ["agent": .string(agent)], by: user) }
        return c
    }

    @Test func registrationLicensesAndGrantsAndIsOncePerIdAndPerUser() {
        var c = City(logic)
        let r = ok(c.run("register", ["agent": "billing", "description": "bills", "capabilities": ["invoice"]], by: "alice"))
        #expect(r?["user"] == "alice")
        #expect(r?["state"] == "active")
        #expect(r?["balance"] == 100)
        #expect(r?["owner"] == "alice")
        #expect(r?["registered_at"] == "1001-0")
        #expect(c.state.supply == 100 && c.state.licensed == 1)
        #expect(code(c.run("register", ["agent": "billing"], by: "bob")) == "exists")
        #expect(code(c.run("register", ["agent": "other"], by: "alice")) == "exists", "one registered agent per user")
        #expect(code(c.run("register", ["agent": "x", "user": "carol"], by: "bob")) == "forbidden", "only operators name a user")
        #expect(ok(c.run("register", ["agent": "x", "user": "carol"], by: "root"))?["user"] == "carol")
        #expect(ok(c.run("register", ["agent": "y", "user": "dave"], by: CivicLogic.envoy))?["user"] == "dave")
        #expect(code(c.run("register", ["agent": "Bad Id"], by: "erin")) == "bad_argument")
        #expect(code(c.run("register", ["agent": "boss"], by: "root")) == "forbidden", "an operator holds no licence")
        #expect(code(c.run("register", ["agent": "h", "user": "agent:herald"], by: "root")) == "forbidden", "nor a system agent")
        for reserved in ["treasury", "herald", "watchman"] {
            #expect(code(c.run("register", ["agent": .string(reserved)], by: "zed")) == "forbidden", "\(reserved) is no agent's id")
        }
        // envoy's registrations and watchman's decisions count only from system agents.
        let bare = CivicLogic(operators: ["root"], systemAgents: ["civic"])
        #expect(bare.handle(AgentRequest(action: "register", id: 1, args: ["agent": "q", "user": "quinn"]), caller: CivicLogic.envoy,
                            state: c.state).reply.isForbidden)
        #expect(bare.handle(AgentRequest(action: "suspend", id: 1, args: ["agent": "billing", "reason": "x", "authority": ["decision": "d-1"]]),
                            caller: CivicLogic.watchman, state: c.state).reply
                == .error(code: "unauthorized", message: "agent:watchman is not a system agent here: its decisions are no authority"))
        #expect(code(c.run("register", ["agent": "z", "capabilities": [1]], by: "erin")) == "bad_argument")
        #expect(c.state.agents.count == 3 && c.state.supply == 300)
    }

    @Test func aTaskDeliveredTwiceRegistersAndChargesOnce() {
        var c = registered([("billing", "alice")])
        let first = c.run("charge", ["user": "alice", "amount": 10, "reason": "broadcast"], by: CivicLogic.herald, id: "c1")
        let again = c.run("charge", ["user": "alice", "amount": 10, "reason": "broadcast"], by: CivicLogic.herald, id: "c1")
        #expect(first == again)
        #expect(c.state.balance("billing") == 90)
        #expect(c.state.balance(CivicLogic.treasury) == 10)
    }

    @Test func chargesAreHeraldsAndForumsAndNeverOverdrawOrReachAnUnlicensedAgent() {
        var c = registered([("billing", "alice")])
        #expect(code(c.run("charge", ["agent": "billing", "amount": 1], by: "alice")) == "forbidden")
        #expect(code(c.run("charge", ["agent": "billing", "amount": 101], by: CivicLogic.forum)) == "insufficient_credits")
        #expect(c.state.balance("billing") == 100, "a refused charge moves nothing")
        let zero = ok(c.run("charge", ["agent": "billing", "amount": 0], by: CivicLogic.forum))
        #expect(zero?["charged"] == 0 && zero?["licensed"] == 1)
        #expect(c.book.eventCount == 3, "a charge of 0 appends nothing")
        #expect(code(c.run("charge", ["agent": "billing", "amount": -1], by: CivicLogic.forum)) == "bad_argument")
        #expect(code(c.run("charge", ["agent": "billing", "amount": 1_000_000_000_001], by: CivicLogic.forum)) == "bad_argument")
        #expect(code(c.run("charge", ["agent": "billing", "user": "alice", "amount": 1], by: CivicLogic.forum)) == "bad_argument")
        #expect(code(c.run("charge", ["user": "nobody", "amount": 1], by: CivicLogic.forum)) == "not_found")
        c.run("suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]], by: "root")
        let refused = c.run("charge", ["user": "alice", "amount": 1], by: CivicLogic.herald)
        #expect(code(refused) == "not_licensed")
        #expect(message(refused) == "agent 'billing' is suspended (flooding): it may only appeal to supreme_court")
    }

    @Test func operatorsSuspendAndRevokeButNobodyElseWithoutAuthority() {
        var c = registered([("billing", "alice")])
        #expect(code(c.run("suspend", ["agent": "billing", "reason": "x"], by: "root")) == "bad_argument", "authority is needed")
        #expect(code(c.run("suspend", ["agent": "billing", "reason": "x", "authority": ["operator": true]], by: "alice")) == "unauthorized")
        #expect(code(c.run("suspend", ["agent": "billing", "authority": ["operator": true]], by: "root")) == "bad_argument", "a reason")
        #expect(code(c.run("suspend", ["agent": "billing", "reason": "a\nb", "authority": ["operator": true]], by: "root")) == "bad_argument")
        let s = ok(c.run("suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]], by: "root"))
        #expect(s == ["agent": "billing", "user": "alice", "state": "suspended", "changed": true])
        #expect(c.state.licensed == 0)
        let again = ok(c.run("suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]], by: "root"))
        #expect(again?["changed"] == false)
        // Reinstating needs a proposal or a verdict: an operator alone may not.
        #expect(code(c.run("reinstate", ["agent": "billing", "authority": ["operator": true]], by: "root")) == "bad_argument")
        #expect(ok(c.run("revoke", ["agent": "billing", "reason": "fraud", "authority": ["operator": true]], by: "root"))?["state"] == "revoked")
        #expect(ok(c.run("suspend", ["agent": "billing", "reason": "y", "authority": ["operator": true]], by: "root"))?["changed"] == false,
                "a revoked licence is only reinstated")
    }

    @Test func aProposalsAuthorityIsProvedByForumsDecidedEventAndUsedOnce() {
        var c = registered([("billing", "alice"), ("shipping", "bob")])
        let args: [String: JSON] = ["from": "billing", "to": "shipping", "amount": 30]
        var withAuthority = args
        withAuthority["authority"] = ["proposal": "p-1"]
        let read = KernelRead.xrevrange("events.forum", count: 50)
        #expect(logic.reads(for: AgentRequest(action: "transfer", id: 1, args: withAuthority), caller: CivicLogic.forum,
                            state: c.state) == [read])
        #expect(logic.reads(for: AgentRequest(action: "transfer", id: 1, args: withAuthority), caller: "alice", state: c.state).isEmpty,
                "nothing is read for a caller that cannot hold that authority")
        // Only forum's user sends a proposal's authority.
        #expect(code(c.run("transfer", withAuthority, by: "root")) == "unauthorized")
        let decided: [(String, String)] = [("type", "decided"), ("proposal", "p-1"), ("outcome", "approved"), ("target", "civic"),
                                           ("action", "transfer"), ("args", JSON.object(args).text)]
        // Forged by another user, rejected, or with other args: unproven.
        for (fields, by) in [(decided, "mallory"),
                             (decided.map { $0.0 == "outcome" ? ($0.0, "rejected") : $0 }, CivicLogic.forum),
                             (decided.map { $0.0 == "args" ? ($0.0, #"{"amount":99,"from":"billing","to":"shipping"}"#) : $0 }, CivicLogic.forum)] {
            let r = c.run("transfer", withAuthority, by: CivicLogic.forum, kernel: [read: entries([("5-0", fields, by)])])
            #expect(code(r) == "unauthorized")
        }
        #expect(message(c.run("transfer", withAuthority, by: CivicLogic.forum, kernel: [read: entries([])]))
                == "no approved proposal p-1 for civic transfer with these args in the latest 50 entries of events.forum")
        let proof: [KernelRead: RESPValue] = [read: entries([("5-0", decided, CivicLogic.forum)])]
        let first = ok(c.run("transfer", withAuthority, by: CivicLogic.forum, kernel: proof))
        #expect(first == ["from": "billing", "to": "shipping", "amount": 30, "balances": ["billing": 70, "shipping": 130]])
        // Executed again (another request id): the same answer, nothing moves.
        let second = ok(c.run("transfer", withAuthority, by: CivicLogic.forum, kernel: [:]))
        #expect(second == first)
        #expect(c.state.balance("billing") == 70 && c.state.balance("shipping") == 130)
        #expect(logic.reads(for: AgentRequest(action: "transfer", id: 9, args: withAuthority), caller: CivicLogic.forum,
                            state: c.state).isEmpty, "a used authority reads nothing")
        // Used for a transfer, it is no authority for anything else.
        #expect(code(c.run("suspend", ["agent": "billing", "reason": "x", "authority": ["proposal": "p-1"]], by: CivicLogic.forum)) == "unauthorized")
    }

    @Test func transfersNeverOverdrawAndConserveCredits() {
        var c = registered([("billing", "alice"), ("shipping", "bob")])
        let args: [String: JSON] = ["from": "billing", "to": "shipping", "amount": 101]
        var withAuthority = args
        withAuthority["authority"] = ["proposal": "p-2"]
        let read = KernelRead.xrevrange("events.forum", count: 50)
        let decided: [(String, String)] = [("type", "decided"), ("proposal", "p-2"), ("outcome", "approved"), ("target", "civic"),
                                           ("action", "transfer"), ("args", JSON.object(args).text)]
        let r = c.run("transfer", withAuthority, by: CivicLogic.forum, kernel: [read: entries([("5-0", decided, CivicLogic.forum)])])
        #expect(code(r) == "insufficient_credits")
        #expect(code(c.run("transfer", ["from": "billing", "to": "billing", "amount": 1, "authority": ["proposal": "p-3"]],
                           by: CivicLogic.forum)) == "bad_argument")
        #expect(code(c.run("transfer", ["from": "billing", "to": "ghost", "amount": 1, "authority": ["proposal": "p-3"]],
                           by: CivicLogic.forum)) == "not_found")
        c.run("grant", ["agent": "billing", "amount": 5, "reason": "bonus"], by: "root")
        #expect(code(c.run("grant", ["agent": "billing", "amount": 5], by: "alice")) == "forbidden")
        c.run("charge", ["agent": "shipping", "amount": 7], by: CivicLogic.herald)
        let s = c.state
        #expect(s.supply == 205)
        #expect(s.balances.values.reduce(0, +) == s.supply)
        #expect(s.balances.values.allSatisfy { $0 >= 0 })
    }

    @Test func watchmansDecisionAndTheCourtsMercyAreProvedByTheirEvents() {
        var c = registered([("flooder", "mallory")])
        let w = KernelRead.xrevrange("events.watchman", count: 50)
        let suspend: [String: JSON] = ["agent": "flooder", "reason": "publish rate", "authority": ["decision": "d-1"]]
        let decision: [(String, String)] = [("type", "decision"), ("decision", "d-1"), ("agent", "flooder"), ("action", "suspend")]
        #expect(code(c.run("suspend", suspend, by: CivicLogic.watchman, kernel: [w: entries([("1-0", decision, "agent:oracle")])]))
                == "unauthorized", "a decision appended by another user proves nothing")
        #expect(ok(c.run("suspend", suspend, by: CivicLogic.watchman, kernel: [w: entries([("1-0", decision, CivicLogic.watchman)])]))?["state"]
                == "suspended")
        let court = KernelRead.xrevrange("events.supreme_court", count: 50)
        let reinstate: [String: JSON] = ["agent": "flooder", "authority": ["appeal": "a-1"]]
        let upheld: [(String, String)] = [("type", "verdict"), ("appeal", "a-1"), ("agent", "flooder"), ("verdict", "upheld")]
        #expect(code(c.run("reinstate", reinstate, by: CivicLogic.court, kernel: [court: entries([("2-0", upheld, CivicLogic.court)])]))
                == "unauthorized", "an upheld verdict reinstates nobody")
        let mercy = upheld.map { $0.0 == "verdict" ? ($0.0, "mercy_granted") : $0 }
        #expect(ok(c.run("reinstate", reinstate, by: CivicLogic.court, kernel: [court: entries([("2-0", mercy, CivicLogic.court)])]))
                == ["agent": "flooder", "user": "mallory", "state": "active", "changed": true])
        #expect(c.state.licensed == 1)
    }

    @Test func theRegistryIsReadAPageAtATime() {
        var c = registered([("a1", "u1"), ("a2", "u2"), ("a3", "u3")])
        func ids(_ r: JSON?) -> [String] { if case .array(let a)? = r?["agents"] { a.compactMap { $0["agent"]?.string } } else { [] } }
        let first = ok(c.run("get_registry", ["limit": 2], by: "x"))
        #expect(ids(first) == ["a1", "a2"] && first?["next"] == "a2" && first?["licensed"] == 3)
        let rest = ok(c.run("get_registry", ["after": "a2", "limit": 2], by: "x"))
        #expect(ids(rest) == ["a3"] && rest?["next"] == .null)
        let counts = ok(c.run("get_registry", ["limit": 0], by: "x"))
        #expect(ids(counts).isEmpty && counts?["next"] == .null && counts?["licensed"] == 3 && counts?["supply"] == 300)
        #expect(code(c.run("get_registry", ["limit": 101], by: "x")) == "bad_argument")
    }

    @Test func aMercyReinstatesOnlyTheLicenceAppealed() {
        var c = registered([("flooder", "mallory")])
        c.run("suspend", ["agent": "flooder", "reason": "flooding", "authority": ["operator": true]], by: "root")
        // Revoked for something else after the appeal was filed.
        c.run("revoke", ["agent": "flooder", "reason": "fraud", "authority": ["operator": true]], by: "root")
        let court = KernelRead.xrevrange("events.supreme_court", count: 50)
        let mercy: [(String, String)] = [("type", "verdict"), ("appeal", "a-1"), ("agent", "flooder"), ("verdict", "mercy_granted"),
                                         ("licence", "suspended"), ("licence_reason", "flooding")]
        let r = c.run("reinstate", ["agent": "flooder", "authority": ["appeal": "a-1"]], by: CivicLogic.court,
                      kernel: [court: entries([("2-0", mercy, CivicLogic.court)])])
        #expect(code(r) == "unauthorized")
        #expect(message(r) == "appeal a-1 was of a suspended licence (flooding); agent 'flooder' is now revoked (fraud):"
                + " a mercy reinstates only the licence appealed")
        #expect(c.state.agents["flooder"]?.state == "revoked")
    }

    @Test func theMirrorsLicencesAndTheRegistryComeFromTheEventsAlone() {
        var c = registered([("billing", "alice")])
        c.run("suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]], by: "root")
        let reg = ok(c.run("get_registry", by: "anyone"))
        #expect(reg?["licensed"] == 0 && reg?["supply"] == 100)
        guard case .array(let agents)? = reg?["agents"] else { Issue.record("agents"); return }
        #expect(agents.first?["state"] == "suspended" && agents.first?["reason"] == "flooding")
        #expect(ok(c.run("check_license", ["agent": "billing"], by: "anyone"))?["state"] == "suspended")
        #expect(ok(c.run("get_balance", ["agent": "treasury"], by: "anyone")) == ["account": "treasury", "balance": 0, "supply": 100])
        #expect(CivicLogic.licences(after: AgentEvent("licence", ["user": "alice", "state": "revoked", "reason": "x"]))! == ("alice", "revoked", "x"))
        // A snapshot holds the whole state.
        let text = logic.snapshot(of: c.state)
        #expect(text.flatMap(logic.state(fromSnapshot:)) == c.state)
    }

    @Test func theAuditorFindsCreditsThatAreNotConserved() {
        func e(_ id: String, _ f: [(String, String)]) -> StreamEntry {
            StreamEntry(id: id, fields: f + [("request", "\"\(id)\""), ("caller", "root"), ("reply", "{}"), ("_publisher", "agent:civic")])
        }
        let good = [e("1-0", [("type", "granted"), ("agent", "a"), ("amount", "10"), ("reason", "")]),
                    e("2-0", [("type", "charged"), ("agent", "a"), ("amount", "4"), ("reason", "")])]
        #expect(AuditorLogic.civicInvariants(good).isEmpty)
        let overdrawn = good + [e("3-0", [("type", "charged"), ("agent", "a"), ("amount", "7"), ("reason", "")])]
        #expect(AuditorLogic.civicInvariants(overdrawn).first?.message == "account 'a' is at -1 credits: a balance never goes below 0")
    }
}

extension AgentReply {
    var isForbidden: Bool { if case .error("forbidden", _) = self { true } else { false } }
}
