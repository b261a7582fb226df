import VimanaAgentKit

// watchman: enforcement (docs/SYSTEM-AGENTS.md). Its process's observer
// thread turns what it sees (publishes the kernel refused for a licence,
// publish rates over the limit, dead letters of system agents, agents'
// tasks held past ack_wait) into `observe` tasks on its own topic, so
// that every violation is an event; each violation is followed by a
// decision (warn, or suspend after `suspendAfter` in the window), and a
// suspend decision is enforced by a later `enforce` task that asks civic
// with the decision as authority (civic reads the decision from
// events.watchman, so it is appended first).

public enum WatchmanLimits {
    public static let detailBytes = 1024
    public static let keyBytes = 512
    public static let kinds = [refusedWhileSuspended, "rate", "malformed", "oversized", "ack_wait"]
    public static let refusedWhileSuspended = "refused_while_suspended"
    /// How far after its task an observation's `at` may be (watchman's clock against the kernel's).
    public static let clockSkewMillis: Int64 = 1000
    /// How long an ask to civic waits before the task answers `unavailable`.
    public static let civicTimeout = 10.0
    /// The window science counts publish rates over: its default bucket (a minute).
    public static let rateWindowSeconds = 60
    /// How long the observer waits for science's `topics` before it looks on without rates.
    public static let scienceTimeout = 2.0
    /// How long the observer looks on without rates after science did not
    /// answer (disabled, starting, or refusing the window).
    public static let scienceRetrySeconds = 5
    /// Pages of science's `topics` read at each look (each about 512 KiB at most).
    public static let ratePages = 16
    /// `ack_wait` sights of one agent in one look at most (its count passed
    /// that many multiples of `ack_wait_after` since the last look): a
    /// bound on what one look publishes, well past a suspension at the
    /// default `suspend_after`.
    public static let ackWaitSightsPerLook = 16
    /// Sights published and not yet recorded that the process keeps to
    /// publish again (civic did not answer their `observe`): a bound on its
    /// memory while civic stays down and the observer goes on seeing.
    public static let unrecordedSights = 10_000
    /// The longest pause between two publishes of one unrecorded sight
    /// (they double from civic's timeout and a second): as the court's enactments.
    public static let observeRetryMaxSeconds = 300.0
}

public struct Violation: Sendable, Equatable, Codable {
    public var violation: String
    public var agent: String
    public var user: String
    public var kind: String
    public var detail: String
    public var key: String
    /// When it was observed (ms since the epoch).
    public var at: Int64
}

public struct Decision: Sendable, Equatable, Codable {
    public var decision: String
    public var agent: String
    /// warn or suspend.
    public var action: String
    public var reason: String
    public var at: Int64
    /// A suspend's enforcement: nil until civic answered; then whether it accepted.
    public var enforced: Bool?
    public var result: String?
}

public struct WatchmanState: Sendable, Equatable, Codable {
    public var violations: [String: Violation] = [:]
    /// A violation's id by its observation key (one key, one violation).
    public var byKey: [String: String] = [:]
    public var decisions: [String: Decision] = [:]
    public var violationCount = 0
    public var decisionCount = 0
    public init() {}

    /// Suspend decisions civic has not answered yet, oldest first.
    public var unenforced: [Decision] {
        decisions.values.filter { $0.action == "suspend" && $0.enforced == nil }
            .sorted { WatchmanLogic.number($0.decision) < WatchmanLogic.number($1.decision) }
    }
}

public struct WatchmanLogic: AgentLogic {
    /// `system.watchman.suspend_after`: violations in the window that make a suspension.
    public let suspendAfter: Int
    /// `system.watchman.window`, in ms.
    public let windowMillis: Int64
    public let civicTimeout: Double

    public static let actions = ["observe", "enforce", "report", "status"]
    public static let user = "agent:watchman"

    public init(suspendAfter: Int = 3, windowMillis: Int64 = 3_600_000, civicTimeout: Double = WatchmanLimits.civicTimeout) {
        self.suspendAfter = max(1, suspendAfter)
        self.windowMillis = max(1, windowMillis)
        self.civicTimeout = civicTimeout
    }

    public var initialState: WatchmanState { WatchmanState() }

    static func number(_ id: String) -> Int { Int(id.dropFirst(2)) ?? 0 }

    // MARK: - Folding

    public func apply(_ event: AgentEvent, to state: inout WatchmanState) {
        let d = event.data
        switch event.type {
        case "violation":
            guard let id = d["violation"], let kind = d["kind"] else { return }
            let v = Violation(violation: id, agent: d["agent"] ?? "", user: d["user"] ?? "", kind: kind, detail: d["detail"] ?? "",
                              key: d["key"] ?? "", at: d["at"].flatMap { Int64($0) } ?? 0)
            state.violations[id] = v
            if !v.key.isEmpty { state.byKey[v.key] = id }
            state.violationCount = max(state.violationCount, Self.number(id))
        case "decision":
            guard let id = d["decision"], let agent = d["agent"], let action = d["action"] else { return }
            state.decisions[id] = Decision(decision: id, agent: agent, action: action, reason: d["reason"] ?? "",
                                           at: d["at"].flatMap { Int64($0) } ?? 0)
            state.decisionCount = max(state.decisionCount, Self.number(id))
        case "enforced":
            guard let id = d["decision"], var dec = state.decisions[id] else { return }
            dec.enforced = d["ok"] == "true"
            dec.result = d["result"]
            state.decisions[id] = dec
        default:
            return
        }
    }

    // MARK: - Asks

    func licenceAsk(_ user: String) -> AgentAsk {
        AgentAsk(agent: "civic", action: "check_license", args: ["user": .string(user)], timeout: civicTimeout)
    }

    func suspendAsk(_ d: Decision) -> AgentAsk {
        AgentAsk(agent: "civic", action: "suspend",
                 args: ["agent": .string(d.agent), "reason": .string(d.reason), "authority": ["decision": .string(d.decision)]],
                 timeout: civicTimeout)
    }

    public func asks(for request: AgentRequest, caller: String, state: WatchmanState) -> [AgentAsk] {
        switch request.action {
        case "observe":
            guard caller == Self.user, let o = try? observation(request), o.agent == nil, state.byKey[o.key] == nil else { return [] }
            return [licenceAsk(o.user)]
        case "enforce":
            guard caller == Self.user, let d = try? decision(request.args, state), d.action == "suspend", d.enforced == nil else {
                return []
            }
            return [suspendAsk(d)]
        default:
            return []
        }
    }

    // MARK: - Deciding

    public func handle(_ request: AgentRequest, caller: String, state: WatchmanState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: WatchmanState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "observe": return try observe(request, caller: caller, state: state, kernel: kernel)
            case "enforce": return try enforce(request, caller: caller, state: state, kernel: kernel)
            case "report":
                try Arguments.only(["agent"], request.args)
                let agent = request.args["agent"] == nil ? nil : try Arguments.agentID(request.args)
                let vs = state.violations.values.filter { agent == nil || $0.agent == agent }
                    .sorted { Self.number($0.violation) < Self.number($1.violation) }
                let ds = state.decisions.values.filter { agent == nil || $0.agent == agent }
                    .sorted { Self.number($0.decision) < Self.number($1.decision) }
                return .ok(["violations": .array(vs.map(Self.json)), "decisions": .array(ds.map(Self.json))])
            case "status":
                try Arguments.only([], request.args)
                return .ok(["violations": .int(Int64(state.violations.count)), "decisions": .int(Int64(state.decisions.count)),
                            "unenforced": .int(Int64(state.unenforced.count)), "suspend_after": .int(Int64(suspendAfter)),
                            "window_ms": .int(windowMillis)])
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    struct Observation {
        var kind: String
        var agent: String?
        var user: String
        var detail: String
        var key: String
        var at: Int64
    }

    func observation(_ request: AgentRequest) throws(Refusal) -> Observation {
        let a = request.args
        try Arguments.only(["kind", "agent", "user", "detail", "key", "at"], a)
        guard let kind = a["kind"]?.string, WatchmanLimits.kinds.contains(kind) else {
            throw Refusal(AgentErrorCode.badArgument, "kind must be one of \(WatchmanLimits.kinds.joined(separator: ", "))")
        }
        guard let user = a["user"]?.string, !user.isEmpty, user.utf8.count <= WatchmanLimits.keyBytes else {
            throw Refusal(AgentErrorCode.badArgument, "user must be a user name")
        }
        guard let detail = a["detail"]?.string, detail.utf8.count <= WatchmanLimits.detailBytes else {
            throw Refusal(AgentErrorCode.badArgument, "detail must be a string of at most \(WatchmanLimits.detailBytes) bytes")
        }
        guard let key = a["key"]?.string, !key.isEmpty, key.utf8.count <= WatchmanLimits.keyBytes else {
            throw Refusal(AgentErrorCode.badArgument, "key must be a string of 1 to \(WatchmanLimits.keyBytes) bytes")
        }
        let agent = a["agent"] == nil ? nil : try Arguments.agentID(a)
        var at = request.entryMillis
        if let t = a["at"] {
            // watchman's clock may run a little ahead of the kernel's, which
            // timed the task: up to a second after it is taken as the task's time.
            guard let n = t.int, n >= 0, n <= request.entryMillis &+ WatchmanLimits.clockSkewMillis else {
                throw Refusal(AgentErrorCode.badArgument, "at must be milliseconds since the epoch, not after the task"
                                  + " (by more than \(WatchmanLimits.clockSkewMillis) ms)")
            }
            at = min(n, request.entryMillis)
        }
        return Observation(kind: kind, agent: agent, user: user, detail: detail, key: key, at: at)
    }

    func observe(_ request: AgentRequest, caller: String, state: WatchmanState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        guard caller == Self.user else {
            throw Refusal(AgentErrorCode.forbidden, "only watchman's own user observes (it does so by itself)")
        }
        let o = try observation(request)
        if let id = state.byKey[o.key], let v = state.violations[id] { return .ok(Self.json(v)) }
        var agent = o.agent ?? ""
        if o.agent == nil {
            switch kernel.answer(licenceAsk(o.user)) {
            case .reply(.ok(let r))?:
                guard let a = r["agent"]?.string else { throw Refusal("unavailable", "civic's answer names no agent") }
                agent = a
            case .reply(.error(let code, _))? where code == "not_found": agent = ""
            case .reply(.error(let code, let message))?: throw Refusal("unavailable", "civic refused check_license: \(code): \(message)")
            case .timeout(let s)?: throw Refusal("unavailable", "civic did not answer within \(s) s")
            case .failed(let m)?, .lost(let m)?: throw Refusal("unavailable", "civic could not be asked: \(m)")
            case nil: throw Refusal("unavailable", "civic was not asked")
            }
        }
        var after = state
        let vid = "v-\(state.violationCount + 1)"
        let violation = AgentEvent("violation", ["violation": vid, "agent": agent, "user": o.user, "kind": o.kind, "detail": o.detail,
                                                 "key": o.key, "at": String(o.at)])
        apply(violation, to: &after)
        var events = [violation]
        if let decision = decide(agent: agent, violation: vid, state: after, now: request.entryMillis) {
            apply(decision, to: &after)
            events.append(decision)
        }
        guard let v = after.violations[vid] else { throw Refusal("unavailable", "violation \(vid) was not recorded") }
        var result = Self.json(v)
        if case .object(var o) = result, let d = events.dropFirst().first?.data["decision"], let dec = after.decisions[d] {
            o["decision"] = Self.json(dec)
            result = .object(o)
        }
        return .ok(result, events: events)
    }

    /// The policy, after violation `vid` of `agent` was folded into `state`:
    /// nothing for no registered agent, a violation observed before the
    /// window, or one from before the agent's latest suspend decision; else, counting the agent's violations in the window
    /// `(now - window, now]` after its last suspend decision, `suspend`
    /// when they reach `suspendAfter`, else `warn`. A publish refused for
    /// the licence happened under a suspension already in force: it is
    /// warned, and counts towards no suspension (seen after a reinstatement,
    /// it would suspend again for what the mercy forgave).
    func decide(agent: String, violation vid: String, state: WatchmanState, now: Int64) -> AgentEvent? {
        guard !agent.isEmpty, let v = state.violations[vid], v.at > now - windowMillis else { return nil }
        let id = "d-\(state.decisionCount + 1)"
        if v.kind == WatchmanLimits.refusedWhileSuspended {
            return AgentEvent("decision", ["decision": id, "agent": agent, "action": "warn", "at": String(now),
                                           "reason": "\(v.kind) (\(vid)): under a suspension in force; no step towards another"])
        }
        let lastSuspend = state.decisions.values.filter { $0.agent == agent && $0.action == "suspend" }.map(\.at).max() ?? Int64.min
        // Seen late (a dead letter read after a restart): the suspension after it already answered it.
        guard v.at > lastSuspend else { return nil }
        let counted = state.violations.values.filter {
            $0.agent == agent && $0.kind != WatchmanLimits.refusedWhileSuspended && $0.at > now - windowMillis && $0.at <= now && $0.at > lastSuspend
        }.count
        let suspend = counted >= suspendAfter
        let reason = suspend
            ? "\(counted) violations in \(windowMillis / 1000) s (suspend after \(suspendAfter)); the last: \(v.kind) (\(vid))"
            : "\(v.kind) (\(vid)): \(counted) of \(suspendAfter) violations in \(windowMillis / 1000) s before a suspension"
        return AgentEvent("decision", ["decision": id, "agent": agent, "action": suspend ? "suspend" : "warn", "reason": reason,
                                       "at": String(now)])
    }

    func enforce(_ request: AgentRequest, caller: String, state: WatchmanState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        guard caller == Self.user else {
            throw Refusal(AgentErrorCode.forbidden, "only watchman's own user enforces a decision (it does so by itself)")
        }
        try Arguments.only(["decision"], request.args)
        let d = try decision(request.args, state)
        guard d.action == "suspend" else { throw Refusal("not_needed", "decision \(d.decision) is a \(d.action): nothing to enforce") }
        if d.enforced != nil { return .ok(Self.json(d)) }
        let ok: Bool, result: JSON
        switch kernel.answer(suspendAsk(d)) {
        case .reply(.ok(let r))?: (ok, result) = (true, r)
        case .reply(.error(let code, let message))?: (ok, result) = (false, ["code": .string(code), "message": .string(message)])
        case .timeout(let s)?: throw Refusal("unavailable", "civic did not answer within \(s) s; enforced later")
        case .failed(let m)?, .lost(let m)?: throw Refusal("unavailable", "civic was not asked: \(m); enforced later")
        case nil: throw Refusal("unavailable", "civic was not asked")
        }
        let event = AgentEvent("enforced", ["decision": d.decision, "ok": String(ok), "result": result.text])
        var after = state
        apply(event, to: &after)
        return .ok(Self.json(after.decisions[d.decision] ?? d), events: [event])
    }

    // MARK: - Helpers

    func decision(_ args: [String: JSON], _ state: WatchmanState) throws(Refusal) -> Decision {
        guard let id = args["decision"]?.string else { throw Refusal(AgentErrorCode.badArgument, "decision must be a decision id (d-<n>)") }
        guard let d = state.decisions[id] else { throw Refusal("not_found", "no decision \(id)") }
        return d
    }

    static func json(_ v: Violation) -> JSON {
        ["violation": .string(v.violation), "agent": .string(v.agent), "user": .string(v.user), "kind": .string(v.kind),
         "detail": .string(v.detail), "key": .string(v.key), "at": .int(v.at)]
    }

    static func json(_ d: Decision) -> JSON {
        var o: [String: JSON] = ["decision": .string(d.decision), "agent": .string(d.agent), "action": .string(d.action),
                                 "reason": .string(d.reason), "at": .int(d.at)]
        o["enforced"] = d.enforced.map(JSON.bool) ?? .null
        o["result"] = d.result.map(JSON.string) ?? .null
        return .object(o)
    }
}
