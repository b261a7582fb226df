import VimanaAgentKit

// supreme_court: appeals of suspended and revoked agents (docs/SYSTEM-AGENTS.md).
// An appeal is filed by the agent's own user (the one topic the kernel
// still lets it publish to), reviewed against its offences (watchman's
// `violation` events) and its balance (civic), and decided by a judge; a
// mercy verdict is enacted by the court's own `enact` task, which asks
// civic to reinstate with the verdict as authority (civic checks the
// verdict in events.supreme_court, so the verdict is appended first).

public enum SupremeCourtLimits {
    public static let reasonBytes = 1024
    public static let conditionsBytes = 1024
    /// How long a mercy's enactment waits for civic before it is asked again.
    public static let civicTimeout = 10.0
}

public struct Appeal: Sendable, Equatable, Codable {
    public var appeal: String
    public var agent: String
    public var user: String
    public var reason: String
    /// The licence when it was filed: suspended or revoked, and its reason.
    public var licence: String
    public var licenceReason: String = ""
    /// The filing task's entry ID.
    public var filedAt: String
    /// open, reviewed, decided.
    public var status = "open"
    public var eligible: Bool?
    public var offences: Int?
    public var balance: Int64?
    public var verdict: String?
    public var conditions: String?
    public var judge: String?
    /// A mercy's enactment: nil until civic answered; then whether it reinstated.
    public var enacted: Bool?
    public var enactment: String?
}

public struct SupremeCourtState: Sendable, Equatable, Codable {
    public var appeals: [String: Appeal] = [:]
    /// The agent's appeal not yet decided, by agent.
    public var pending: [String: String] = [:]
    public var filed = 0
    public init() {}

    /// Mercy verdicts civic has not answered yet, oldest first.
    public var unenacted: [Appeal] {
        appeals.values.filter { ($0.verdict == "mercy_granted" || $0.verdict == "mercy_conditional") && $0.enacted == nil }
            .sorted { SupremeCourtLogic.number($0.appeal) < SupremeCourtLogic.number($1.appeal) }
    }
}

public struct SupremeCourtLogic: AgentLogic {
    /// `system.supreme_court.judges`: who may review and decide.
    public let judges: Set<String>
    /// Offences (watchman's violations of the agent) within this many ms
    /// before the review make mercy impossible when more than `maxOffences`.
    public let offenceWindowMillis: Int64
    public let maxOffences: Int
    /// Entries of events.watchman read by a review.
    public let scan: Int
    public let civicTimeout: Double

    public static let verdicts = ["mercy_granted", "mercy_conditional", "upheld"]
    public static let actions = ["file_appeal", "review", "issue_verdict", "enact", "get_appeal", "list_precedents"]
    public static let user = "agent:supreme_court"
    static let watchman = "agent:watchman"

    public init(judges: [String], offenceWindowMillis: Int64 = 86_400_000, maxOffences: Int = 3, scan: Int = 10_000,
                civicTimeout: Double = SupremeCourtLimits.civicTimeout) {
        self.judges = Set(judges)
        self.offenceWindowMillis = offenceWindowMillis
        self.maxOffences = maxOffences
        self.scan = max(1, scan)
        self.civicTimeout = civicTimeout
    }

    public var initialState: SupremeCourtState { SupremeCourtState() }

    static func number(_ appeal: String) -> Int { Int(appeal.dropFirst(2)) ?? 0 }

    // MARK: - Folding

    public func apply(_ event: AgentEvent, to state: inout SupremeCourtState) {
        let d = event.data
        guard let id = d["appeal"] else { return }
        switch event.type {
        case "filed":
            guard let agent = d["agent"], let user = d["user"] else { return }
            state.appeals[id] = Appeal(appeal: id, agent: agent, user: user, reason: d["reason"] ?? "", licence: d["licence"] ?? "",
                                       licenceReason: d["licence_reason"] ?? "", filedAt: d["at"] ?? "")
            state.pending[agent] = id
            state.filed = max(state.filed, Self.number(id))
        case "reviewed":
            guard var a = state.appeals[id] else { return }
            a.status = "reviewed"
            a.eligible = d["eligible"] == "true"
            a.offences = d["offences"].flatMap { Int($0) }
            a.balance = d["balance"].flatMap { Int64($0) }
            state.appeals[id] = a
        case "verdict":
            guard var a = state.appeals[id] else { return }
            a.status = "decided"
            a.verdict = d["verdict"]
            a.conditions = d["conditions"].flatMap { $0.isEmpty ? nil : $0 }
            a.judge = d["judge"]
            state.appeals[id] = a
            if state.pending[a.agent] == id { state.pending[a.agent] = nil }
        case "enacted":
            guard var a = state.appeals[id] else { return }
            a.enacted = d["ok"] == "true"
            a.enactment = d["result"]
            state.appeals[id] = a
        default:
            return
        }
    }

    // MARK: - Reads and asks

    func offencesRead() -> KernelRead { .xrevrange("events.watchman", count: scan) }

    func licenceAsk(_ args: [String: JSON]) -> AgentAsk {
        AgentAsk(agent: "civic", action: "check_license", args: args, timeout: civicTimeout)
    }

    func reinstateAsk(_ a: Appeal) -> AgentAsk {
        AgentAsk(agent: "civic", action: "reinstate",
                 args: ["agent": .string(a.agent), "reason": .string("mercy on appeal \(a.appeal)"),
                        "authority": ["appeal": .string(a.appeal)]],
                 timeout: civicTimeout)
    }

    public func reads(for request: AgentRequest, caller: String, state: SupremeCourtState) -> [KernelRead] {
        guard request.action == "review", judges.contains(caller), let a = try? appeal(request.args, state, only: ["appeal"]),
              a.status == "open" else { return [] }
        return [offencesRead()]
    }

    public func asks(for request: AgentRequest, caller: String, state: SupremeCourtState) -> [AgentAsk] {
        switch request.action {
        case "file_appeal":
            guard (try? reason(request.args)) != nil else { return [] }
            return [licenceAsk(["user": .string(caller)])]
        case "review":
            guard judges.contains(caller), let a = try? appeal(request.args, state, only: ["appeal"]), a.status == "open" else { return [] }
            return [licenceAsk(["agent": .string(a.agent)])]
        case "enact":
            guard caller == Self.user, let a = try? appeal(request.args, state, only: ["appeal"]),
                  a.verdict?.hasPrefix("mercy") == true, a.enacted == nil else { return [] }
            return [reinstateAsk(a)]
        default:
            return []
        }
    }

    // MARK: - Deciding

    public func handle(_ request: AgentRequest, caller: String, state: SupremeCourtState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: SupremeCourtState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "file_appeal": return try file(request, caller: caller, state: state, kernel: kernel)
            case "review": return try review(request, caller: caller, state: state, kernel: kernel)
            case "issue_verdict": return try decide(request, caller: caller, state: state)
            case "enact": return try enact(request, caller: caller, state: state, kernel: kernel)
            case "get_appeal":
                return .ok(Self.json(try appeal(request.args, state, only: ["appeal"])))
            case "list_precedents":
                try Arguments.only(["agent"], request.args)
                let agent = request.args["agent"] == nil ? nil : try Arguments.agentID(request.args)
                let decided = state.appeals.values.filter { $0.status == "decided" && (agent == nil || $0.agent == agent) }
                    .sorted { Self.number($0.appeal) < Self.number($1.appeal) }
                return .ok(["precedents": .array(decided.map(Self.json))])
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    func file(_ request: AgentRequest, caller: String, state: SupremeCourtState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        let why = try reason(request.args)
        let licence = try civicResult(kernel.answer(licenceAsk(["user": .string(caller)])))
        guard let agent = licence["agent"]?.string, let s = licence["state"]?.string else {
            throw Refusal("unavailable", "civic's answer names no agent and state")
        }
        guard s == "suspended" || s == "revoked" else {
            throw Refusal("not_needed", "agent '\(agent)' is \(s): only a suspended or revoked agent appeals")
        }
        if let open = state.pending[agent] { throw Refusal("exists", "agent '\(agent)' has appeal \(open) pending") }
        let id = "a-\(state.filed + 1)"
        let event = AgentEvent("filed", ["appeal": id, "agent": agent, "user": caller, "reason": why, "licence": s,
                                         "licence_reason": licence["reason"]?.string ?? "", "at": request.entryID])
        var after = state
        apply(event, to: &after)
        return .ok(Self.json(after.appeals[id] ?? Appeal(appeal: id, agent: agent, user: caller, reason: why, licence: s, filedAt: "")),
                   events: [event])
    }

    func review(_ request: AgentRequest, caller: String, state: SupremeCourtState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        guard judges.contains(caller) else { throw Self.notJudge(caller) }
        let a = try appeal(request.args, state, only: ["appeal"])
        guard a.status == "open" else { throw Refusal("closed", "appeal \(a.appeal) is \(a.status)") }
        let licence = try civicResult(kernel.answer(licenceAsk(["agent": .string(a.agent)])))
        let balance = licence["balance"]?.int ?? 0
        let read = offencesRead()
        if let m = kernel.error(read) { throw Refusal("unavailable", "cannot read events.watchman: \(m)") }
        // No watchman yet (an empty or absent stream) is no offence.
        let entries = kernel.entries(read) ?? []
        let since = request.entryMillis - offenceWindowMillis
        let offences = entries.filter { e in
            e.publisher == Self.watchman && e["type"] == "violation" && e["agent"] == a.agent
                && (Int64(e.id.prefix { $0 != "-" }) ?? 0) >= since
        }.count
        let eligible = offences <= maxOffences && balance >= 0
        let event = AgentEvent("reviewed", ["appeal": a.appeal, "eligible": String(eligible), "offences": String(offences),
                                            "balance": String(balance)])
        var after = state
        apply(event, to: &after)
        return .ok(Self.json(after.appeals[a.appeal] ?? a), events: [event])
    }

    func decide(_ request: AgentRequest, caller: String, state: SupremeCourtState) throws(Refusal) -> AgentOutcome {
        guard judges.contains(caller) else { throw Self.notJudge(caller) }
        let a = try appeal(request.args, state, only: ["appeal", "verdict", "conditions"])
        guard let verdict = request.args["verdict"]?.string, Self.verdicts.contains(verdict) else {
            throw Refusal(AgentErrorCode.badArgument, "verdict must be one of \(Self.verdicts.joined(separator: ", "))")
        }
        var conditions = ""
        if let c = request.args["conditions"] {
            guard let s = c.string, !s.isEmpty, s.utf8.count <= SupremeCourtLimits.conditionsBytes else {
                throw Refusal(AgentErrorCode.badArgument, "conditions must be a string of 1 to \(SupremeCourtLimits.conditionsBytes) bytes")
            }
            conditions = s
        }
        if verdict == "mercy_conditional" && conditions.isEmpty {
            throw Refusal(AgentErrorCode.badArgument, "mercy_conditional needs its conditions")
        }
        switch a.status {
        case "decided": throw Refusal("closed", "appeal \(a.appeal) is decided (\(a.verdict ?? ""))")
        case "open": throw Refusal("not_reviewed", "appeal \(a.appeal) is not reviewed yet: review it first")
        default: break
        }
        if verdict != "upheld" && a.eligible != true {
            throw Refusal("not_eligible", "agent '\(a.agent)' is not eligible for mercy: \(a.offences ?? 0) offences"
                              + " in the window (at most \(maxOffences)), balance \(a.balance ?? 0)")
        }
        // The licence appealed: civic reinstates only that one (not a later, other sanction).
        let event = AgentEvent("verdict", ["appeal": a.appeal, "agent": a.agent, "verdict": verdict, "conditions": conditions,
                                           "judge": caller, "licence": a.licence, "licence_reason": a.licenceReason])
        var after = state
        apply(event, to: &after)
        return .ok(Self.json(after.appeals[a.appeal] ?? a), events: [event])
    }

    func enact(_ request: AgentRequest, caller: String, state: SupremeCourtState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        guard caller == Self.user else {
            throw Refusal(AgentErrorCode.forbidden, "only the court's own user enacts a verdict (it does so by itself)")
        }
        let a = try appeal(request.args, state, only: ["appeal"])
        guard a.verdict?.hasPrefix("mercy") == true else { throw Refusal("closed", "appeal \(a.appeal) has no mercy verdict") }
        if a.enacted != nil { return .ok(Self.json(a)) }
        let ok: Bool, result: JSON
        switch kernel.answer(reinstateAsk(a)) {
        case .reply(.ok(let r))?: (ok, result) = (true, r)
        case .reply(.error(let code, let message))? where code == "unavailable" || code == AgentErrorCode.internalError:
            throw Refusal("unavailable", "civic answered \(code) (\(message)); enacted later")
        case .reply(.error(let code, let message))?:
            (ok, result) = (false, ["code": .string(code), "message": .string(message)])
        case .timeout(let s)?: throw Refusal("unavailable", "civic did not answer within \(s) s; enacted later")
        case .failed(let m)?, .lost(let m)?: throw Refusal("unavailable", "civic was not asked: \(m); enacted later")
        case nil: throw Refusal("unavailable", "civic was not asked")
        }
        let event = AgentEvent("enacted", ["appeal": a.appeal, "agent": a.agent, "ok": String(ok), "result": result.text])
        var after = state
        apply(event, to: &after)
        return .ok(Self.json(after.appeals[a.appeal] ?? a), events: [event])
    }

    // MARK: - Helpers

    func reason(_ args: [String: JSON]) throws(Refusal) -> String {
        try Arguments.only(["reason"], args)
        guard let r = args["reason"]?.string, !r.isEmpty, r.utf8.count <= SupremeCourtLimits.reasonBytes else {
            throw Refusal(AgentErrorCode.badArgument, "reason must be a string of 1 to \(SupremeCourtLimits.reasonBytes) bytes")
        }
        return r
    }

    func appeal(_ args: [String: JSON], _ state: SupremeCourtState, only: [String]) throws(Refusal) -> Appeal {
        try Arguments.only(only, args)
        guard let id = args["appeal"]?.string else { throw Refusal(AgentErrorCode.badArgument, "appeal must be an appeal id (a-<n>)") }
        guard let a = state.appeals[id] else { throw Refusal("not_found", "no appeal \(id)") }
        return a
    }

    /// civic's result, or its refusal passed on (`unavailable` when it did not answer).
    func civicResult(_ answer: AgentAnswer?) throws(Refusal) -> JSON {
        switch answer {
        case .reply(.ok(let r))?: return r
        case .reply(.error(let code, let message))?: throw Refusal(code == "not_found" ? "not_registered" : code, message)
        case .timeout(let s)?: throw Refusal("unavailable", "civic did not answer within \(s) s")
        case .failed(let m)?, .lost(let m)?: throw Refusal("unavailable", "civic could not be asked: \(m)")
        case nil: throw Refusal("unavailable", "civic was not asked")
        }
    }

    static func notJudge(_ caller: String) -> Refusal {
        Refusal(AgentErrorCode.forbidden, "user '\(caller)' is not one of system.supreme_court.judges")
    }

    static func json(_ a: Appeal) -> JSON {
        var o: [String: JSON] = ["appeal": .string(a.appeal), "agent": .string(a.agent), "user": .string(a.user),
                                 "reason": .string(a.reason), "licence": .string(a.licence), "filed_at": .string(a.filedAt),
                                 "status": .string(a.status)]
        o["eligible"] = a.eligible.map(JSON.bool) ?? .null
        o["offences"] = a.offences.map { .int(Int64($0)) } ?? .null
        o["verdict"] = a.verdict.map(JSON.string) ?? .null
        o["conditions"] = a.conditions.map(JSON.string) ?? .null
        o["judge"] = a.judge.map(JSON.string) ?? .null
        o["enacted"] = a.enacted.map(JSON.bool) ?? .null
        return .object(o)
    }
}
