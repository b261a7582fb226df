import VimanaAgentKit

// civic: the registry, the licences and the credits (docs/SYSTEM-AGENTS.md).
// Its events are the truth of every licence: civic's process mirrors them
// into the kernel (LICENSE SET, `Civic.mirror`), which enforces them. A
// licence change or a transfer names its authority, checked against the
// event stream of the agent that gave it (read before `handle`), and used
// once. Credits are double-entry and conserved: only grants add to them.

/// civic's limits, each with its reason.
public enum CivicLimits {
    /// The largest amount one grant, charge or transfer moves: a trillion
    /// credits is beyond any city's economy, and a sum of a million such
    /// stays far from Int64's end.
    public static let maxAmount: Int64 = 1_000_000_000_000
    /// The supply never passes this (a grant that would is refused), so no
    /// balance or sum of balances can overflow.
    public static let maxSupply: Int64 = Int64.max / 4
    public static let descriptionBytes = 1024
    public static let ownerBytes = 256
    public static let capabilities = 64
    public static let capabilityBytes = 128
    /// A user name as the kernel's ACL takes it, bounded as a person types one.
    public static let userBytes = 256
    /// A licence reason, as the kernel's LICENSE SET takes it.
    public static let reasonBytes = 512
    /// Records in one get_registry reply: with description, capabilities
    /// and owner at their bounds (and JSON escapes), 100 stay under 1 MiB.
    public static let registryPage = 100
    /// An authority's id (a proposal, decision or appeal id).
    public static let authorityIDBytes = 128
}

/// One registered agent.
public struct CivicRecord: Sendable, Equatable, Codable {
    public var agent: String
    public var user: String
    public var owner: String
    public var description: String
    public var capabilities: [String]
    /// active, suspended or revoked.
    public var state: String
    public var reason: String
    /// The registering task's entry ID.
    public var registeredAt: String
}

/// An authority used once, and what its task answered (a reuse answers the same).
public struct CivicAuthorityUse: Sendable, Equatable, Codable {
    public var action: String
    public var result: JSON
}

public struct CivicState: Sendable, Equatable, Codable {
    /// Registered agents by id.
    public var agents: [String: CivicRecord] = [:]
    /// Agent id by user.
    public var users: [String: String] = [:]
    /// Balances by account: agent ids and `treasury`. Absent: 0.
    public var balances: [String: Int64] = [:]
    /// Every credit ever granted: the sum of all balances.
    public var supply: Int64 = 0
    /// Registered agents with an active licence.
    public var licensed = 0
    /// Authorities used (`proposal:p-7`, `decision:…`, `appeal:…`).
    public var used: [String: CivicAuthorityUse] = [:]

    public init() {}

    public func balance(_ account: String) -> Int64 { balances[account] ?? 0 }
}

public struct CivicLogic: AgentLogic {
    /// `system.civic.operators`.
    public let operators: Set<String>
    /// Credits granted at registration (`system.civic.grant`).
    public let grant: Int64
    /// Entries of another agent's event stream read to find an authority.
    public let scan: Int

    public static let treasury = "treasury"
    public static let states = ["active", "suspended", "revoked"]
    /// The users of the agents civic takes part of its authority from (the system agents' own).
    public static let forum = "agent:forum", watchman = "agent:watchman", court = "agent:supreme_court"
    public static let envoy = "agent:envoy", herald = "agent:herald"
    /// Who may charge a cost: the agents whose acts cost credits.
    public static let chargers: Set<String> = [herald, forum]

    /// Users that hold no licence: the operators' and the system agents'
    /// (`agent:<id>`): suspending one would stop the city's own hands.
    public let unlicensed: Set<String>
    /// Ids no registered agent may take: `treasury` (an account) and the
    /// system agents' (a balance or licence under `herald` would read as herald's).
    public let reservedIDs: Set<String>
    /// The system agents wired, whose users' authority civic takes:
    /// watchman's decisions and envoy's registrations count only when they
    /// are system agents (an agent declared with that id is not).
    public let systemAgents: Set<String>

    public init(operators: [String], grant: Int64 = 100, scan: Int = 10_000, systemAgents: [String] = []) {
        self.operators = Set(operators)
        unlicensed = Set(operators).union(systemAgents.map { "agent:" + $0 })
        reservedIDs = Set(systemAgents + [Self.treasury, "watchman", "envoy"])
        self.systemAgents = Set(systemAgents)
        self.grant = grant
        self.scan = max(1, scan)
    }

    public static let actions = ["register", "check_license", "get_balance", "get_registry", "charge", "grant", "transfer",
                                 "suspend", "revoke", "reinstate"]

    public var initialState: CivicState { CivicState() }

    // MARK: - Folding

    public func apply(_ event: AgentEvent, to state: inout CivicState) {
        let d = event.data
        func amount() -> Int64 { d["amount"].flatMap { Int64($0) }.map { min(max($0, 0), CivicLimits.maxAmount) } ?? 0 }
        func add(_ account: String, _ n: Int64) {
            state.balances[account] = state.balance(account).addingReportingOverflow(n).partialValue
        }
        switch event.type {
        case "registered":
            guard let agent = d["agent"], let user = d["user"] else { return }
            var caps: [String] = []
            if case .array(let items)? = d["capabilities"].flatMap(JSON.parse) { caps = items.compactMap(\.string) }
            if let old = state.agents[agent], old.state == "active" { state.licensed -= 1 }
            state.agents[agent] = CivicRecord(agent: agent, user: user, owner: d["owner"] ?? user, description: d["description"] ?? "",
                                              capabilities: caps, state: "active", reason: "", registeredAt: d["at"] ?? "")
            state.licensed += 1
            state.users[user] = agent
        case "licence":
            guard let agent = d["agent"], var r = state.agents[agent], let s = d["state"], Self.states.contains(s) else { return }
            if r.state == "active" { state.licensed -= 1 }
            if s == "active" { state.licensed += 1 }
            r.state = s
            r.reason = d["reason"] ?? ""
            state.agents[agent] = r
            if let key = d["authority"].flatMap(JSON.parse).flatMap(Self.authorityKey) {
                state.used[key] = CivicAuthorityUse(action: d["action"] ?? "", result: Self.licenceResult(r, changed: true))
            }
        case "granted":
            guard let agent = d["agent"] else { return }
            let n = amount()
            add(agent, n)
            state.supply = state.supply.addingReportingOverflow(n).partialValue
        case "charged":
            guard let agent = d["agent"] else { return }
            let n = amount()
            add(agent, -n)
            add(Self.treasury, n)
        case "transferred":
            guard let from = d["from"], let to = d["to"] else { return }
            let n = amount()
            add(from, -n)
            add(to, n)
            if let key = d["authority"].flatMap(JSON.parse).flatMap(Self.authorityKey) {
                state.used[key] = CivicAuthorityUse(action: "transfer", result: Self.transferResult(from, to, n, state))
            }
        default:
            return
        }
    }

    // MARK: - Reads: the authority's evidence

    /// The stream an authority's evidence is in, and the user that must have appended it and must be asking.
    static func evidence(_ authority: JSON) -> (kind: String, id: String, stream: String, user: String)? {
        guard case .object(let o) = authority, o.count == 1, let (kind, value) = o.first, let id = value.string else { return nil }
        switch kind {
        case "proposal": return (kind, id, "events.forum", forum)
        case "decision": return (kind, id, "events.watchman", watchman)
        case "appeal": return (kind, id, "events.supreme_court", court)
        default: return nil
        }
    }

    /// `proposal:p-7`: the key an authority is used once under (none for an operator's).
    static func authorityKey(_ authority: JSON) -> String? {
        evidence(authority).map { "\($0.kind):\($0.id)" }
    }

    func evidenceRead(_ stream: String) -> KernelRead { .xrevrange(stream, count: scan) }

    public func reads(for request: AgentRequest, caller: String, state: CivicState) -> [KernelRead] {
        guard ["suspend", "revoke", "reinstate", "transfer"].contains(request.action),
              let authority = request.args["authority"], let e = Self.evidence(authority),
              caller == e.user, state.used["\(e.kind):\(e.id)"] == nil else { return [] }
        return [evidenceRead(e.stream)]
    }

    // MARK: - Deciding

    public func handle(_ request: AgentRequest, caller: String, state: CivicState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: CivicState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "register": return try register(request, caller: caller, state: state)
            case "check_license":
                try Arguments.only(["agent", "user"], request.args)
                let r = try subject(request.args, state)
                return .ok(Self.licenceView(r, state))
            case "get_balance":
                try Arguments.only(["agent"], request.args)
                let account = try accountArgument(request.args, "agent", state)
                return .ok(["account": .string(account), "balance": .int(state.balance(account)), "supply": .int(state.supply)])
            case "get_registry":
                // A page at a time: a reply holds at most `registryPage` records (one fits max_payload).
                try Arguments.only(["after", "limit"], request.args)
                var limit = CivicLimits.registryPage
                if let l = request.args["limit"] {
                    guard let n = l.int, n >= 0, n <= Int64(CivicLimits.registryPage) else {
                        throw Refusal(AgentErrorCode.badArgument, "limit must be an integer from 0 to \(CivicLimits.registryPage)")
                    }
                    limit = Int(n)
                }
                var ids = state.agents.keys.sorted()
                if let a = request.args["after"] {
                    guard let after = a.string else { throw Refusal(AgentErrorCode.badArgument, "after must be an agent id") }
                    ids = ids.filter { $0 > after }
                }
                let page = ids.prefix(limit)
                let records = page.compactMap { state.agents[$0] }.map { Self.recordJSON($0, state) }
                let next: JSON = ids.count > page.count ? (page.last.map(JSON.string) ?? .null) : .null
                return .ok(["agents": .array(records), "licensed": .int(Int64(state.licensed)), "supply": .int(state.supply),
                            "next": limit == 0 ? .null : next])
            case "charge": return try charge(request, caller: caller, state: state)
            case "grant": return try grantCredits(request, caller: caller, state: state)
            case "transfer": return try transfer(request, caller: caller, state: state, kernel: kernel)
            case "suspend", "revoke", "reinstate": return try licence(request, caller: caller, state: state, kernel: kernel)
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    func register(_ request: AgentRequest, caller: String, state: CivicState) throws(Refusal) -> AgentOutcome {
        let args = request.args
        try Arguments.only(["agent", "description", "capabilities", "owner", "user"], args)
        let agent = try Arguments.agentID(args)
        var user = caller
        if let u = args["user"] {
            guard operators.contains(caller) || (caller == Self.envoy && systemAgents.contains("envoy")) else {
                throw Refusal(AgentErrorCode.forbidden, "user '\(caller)' may register only its own user: `user` is for"
                                  + " system.civic.operators and envoy")
            }
            guard let s = u.string, Self.isUserName(s) else {
                throw Refusal(AgentErrorCode.badArgument, "user must be a user name: 1 to \(CivicLimits.userBytes) bytes,"
                                  + " no spaces or control characters")
            }
            user = s
        }
        let description = try text(args, "description", CivicLimits.descriptionBytes) ?? ""
        let owner = try text(args, "owner", CivicLimits.ownerBytes) ?? user
        var capabilities: [String] = []
        if let c = args["capabilities"] {
            guard case .array(let items) = c, items.count <= CivicLimits.capabilities,
                  items.allSatisfy({ ($0.string?.utf8.count ?? 0) >= 1 && ($0.string?.utf8.count ?? 0) <= CivicLimits.capabilityBytes })
            else {
                throw Refusal(AgentErrorCode.badArgument, "capabilities must be an array of at most \(CivicLimits.capabilities)"
                                  + " strings of 1 to \(CivicLimits.capabilityBytes) bytes")
            }
            capabilities = items.compactMap(\.string)
        }
        if reservedIDs.contains(agent) {
            throw Refusal(AgentErrorCode.forbidden, "agent id '\(agent)' is reserved (treasury and the system agents' ids)")
        }
        if unlicensed.contains(user) {
            throw Refusal(AgentErrorCode.forbidden, "user '\(user)' is an operator's or a system agent's: it holds no licence")
        }
        if state.agents[agent] != nil { throw Refusal("exists", "agent '\(agent)' is registered") }
        if let other = state.users[user] { throw Refusal("exists", "user '\(user)' already holds the registered agent '\(other)'") }
        var events = [
            AgentEvent("registered", ["agent": agent, "user": user, "owner": owner, "description": description,
                                      "capabilities": JSON.array(capabilities.map(JSON.string)).text, "at": request.entryID]),
            AgentEvent("licence", ["agent": agent, "user": user, "state": "active", "reason": "registered",
                                   "authority": JSON.object(["registration": true]).text]),
        ]
        if grant > 0 { events.append(AgentEvent("granted", ["agent": agent, "amount": String(grant), "reason": "registration"])) }
        var after = state
        for e in events { apply(e, to: &after) }
        guard let record = after.agents[agent] else { throw Refusal(AgentErrorCode.internalError, "registration not folded") }
        return .ok(Self.recordJSON(record, after), events: events)
    }

    func charge(_ request: AgentRequest, caller: String, state: CivicState) throws(Refusal) -> AgentOutcome {
        guard Self.chargers.contains(caller) else {
            throw Refusal(AgentErrorCode.forbidden, "user '\(caller)' may not charge: only herald's and forum's users do")
        }
        try Arguments.only(["agent", "user", "amount", "reason"], request.args)
        let r = try subject(request.args, state)
        let n = try amountArgument(request.args, allowZero: true)
        let reason = try text(request.args, "reason", 256) ?? ""
        guard r.state == "active" else {
            throw Refusal("not_licensed", "agent '\(r.agent)' is \(r.state) (\(r.reason)): it may only appeal to supreme_court")
        }
        guard state.balance(r.agent) >= n else {
            throw Refusal("insufficient_credits", "agent '\(r.agent)' has \(state.balance(r.agent)) credits, \(n) are needed")
        }
        var after = state
        var events: [AgentEvent] = []
        if n > 0 {
            events = [AgentEvent("charged", ["agent": r.agent, "amount": String(n), "reason": reason])]
            for e in events { apply(e, to: &after) }
        }
        guard case .object(var o) = Self.licenceView(r, after) else { throw Refusal(AgentErrorCode.internalError, "no view") }
        o["charged"] = .int(n)
        return .ok(.object(o), events: events)
    }

    func grantCredits(_ request: AgentRequest, caller: String, state: CivicState) throws(Refusal) -> AgentOutcome {
        guard operators.contains(caller) else {
            throw Refusal(AgentErrorCode.forbidden, "user '\(caller)' may not grant credits: it is not one of system.civic.operators")
        }
        try Arguments.only(["agent", "amount", "reason"], request.args)
        let agent = try Arguments.agentID(request.args)
        guard state.agents[agent] != nil else { throw Refusal("not_found", "agent '\(agent)' is not registered") }
        let n = try amountArgument(request.args, allowZero: false)
        let reason = try text(request.args, "reason", 256) ?? ""
        guard state.supply <= CivicLimits.maxSupply - n else {
            throw Refusal(AgentErrorCode.badArgument, "the supply would pass \(CivicLimits.maxSupply) credits")
        }
        let event = AgentEvent("granted", ["agent": agent, "amount": String(n), "reason": reason])
        var after = state
        apply(event, to: &after)
        return .ok(["account": .string(agent), "balance": .int(after.balance(agent)), "supply": .int(after.supply)], events: [event])
    }

    func transfer(_ request: AgentRequest, caller: String, state: CivicState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        try Arguments.only(["from", "to", "amount", "authority"], request.args)
        let from = try accountArgument(request.args, "from", state)
        let to = try accountArgument(request.args, "to", state)
        guard from != to else { throw Refusal(AgentErrorCode.badArgument, "from and to are the same account") }
        let n = try amountArgument(request.args, allowZero: false)
        let (authority, reused) = try authorize(request, caller: caller, state: state, kernel: kernel, allowed: ["proposal"])
        if let reused { return .ok(reused) }
        guard state.balance(from) >= n else {
            throw Refusal("insufficient_credits", "account '\(from)' has \(state.balance(from)) credits, \(n) are needed")
        }
        let event = AgentEvent("transferred", ["from": from, "to": to, "amount": String(n), "authority": authority.text])
        var after = state
        apply(event, to: &after)
        return .ok(Self.transferResult(from, to, n, after), events: [event])
    }

    func licence(_ request: AgentRequest, caller: String, state: CivicState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        try Arguments.only(["agent", "reason", "authority"], request.args)
        let agent = try Arguments.agentID(request.args)
        guard let r = state.agents[agent] else { throw Refusal("not_found", "agent '\(agent)' is not registered") }
        let reason = try text(request.args, "reason", CivicLimits.reasonBytes, required: request.action != "reinstate") ?? ""
        if reason.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw Refusal(AgentErrorCode.badArgument, "reason must be text without control characters (the kernel shows it)")
        }
        let allowed = request.action == "reinstate" ? ["proposal", "appeal"] : ["operator", "proposal", "decision"]
        let (authority, reused) = try authorize(request, caller: caller, state: state, kernel: kernel, allowed: allowed)
        if let reused { return .ok(reused) }
        let target: String
        switch request.action {
        case "suspend": target = r.state == "revoked" ? "revoked" : "suspended"
        case "revoke": target = "revoked"
        default: target = "active"
        }
        guard target != r.state else { return .ok(Self.licenceResult(r, changed: false)) }
        let event = AgentEvent("licence", ["agent": agent, "user": r.user, "state": target, "reason": reason,
                                           "authority": authority.text, "action": request.action])
        var after = state
        apply(event, to: &after)
        guard let changed = after.agents[agent] else { throw Refusal(AgentErrorCode.internalError, "licence not folded") }
        return .ok(Self.licenceResult(changed, changed: true), events: [event])
    }

    /// The authority `request` names, checked; and when it was used
    /// before by the same action, what that use answered.
    func authorize(_ request: AgentRequest, caller: String, state: CivicState, kernel: KernelView,
                   allowed: [String]) throws(Refusal) -> (JSON, JSON?) {
        let action = request.action
        let forms = allowed.map { $0 == "operator" ? "{\"operator\": true}" : "{\"\($0)\": \"<id>\"}" }.joined(separator: " or ")
        guard let authority = request.args["authority"] else {
            throw Refusal(AgentErrorCode.badArgument, "\(action) needs an authority: \(forms)")
        }
        if case .object(let o) = authority, o.count == 1, o["operator"] == .bool(true), allowed.contains("operator") {
            guard operators.contains(caller) else {
                throw Refusal("unauthorized", "user '\(caller)' is not one of system.civic.operators")
            }
            return (authority, nil)
        }
        guard let e = Self.evidence(authority), allowed.contains(e.kind), !e.id.isEmpty,
              e.id.utf8.count <= CivicLimits.authorityIDBytes else {
            throw Refusal(AgentErrorCode.badArgument, "authority must be \(forms) (an id of 1 to \(CivicLimits.authorityIDBytes) bytes)")
        }
        guard caller == e.user else {
            throw Refusal("unauthorized", "a \(e.kind)'s authority is sent by \(e.user), not by '\(caller)'")
        }
        guard systemAgents.isEmpty || systemAgents.contains(String(e.user.dropFirst("agent:".count))) else {
            throw Refusal("unauthorized", "\(e.user) is not a system agent here: its \(e.kind)s are no authority")
        }
        if let use = state.used["\(e.kind):\(e.id)"] {
            guard use.action == action else {
                throw Refusal("unauthorized", "\(e.kind) \(e.id) was used for \(use.action)")
            }
            return (authority, use.result)
        }
        let read = evidenceRead(e.stream)
        if let m = kernel.error(read) { throw Refusal("unavailable", "cannot read \(e.stream): \(m)") }
        guard let entries = kernel.entries(read) else { throw Refusal("unavailable", "\(e.stream) was not read") }
        var args = request.args
        args["authority"] = nil
        let agent = args["agent"]?.string
        let found = entries.contains { entry in
            guard entry.publisher == e.user else { return false }
            switch e.kind {
            case "proposal":
                return entry["type"] == "decided" && entry["proposal"] == e.id && entry["outcome"] == "approved"
                    && entry["target"] == "civic" && entry["action"] == action
                    && entry["args"].flatMap(JSON.parse) == .object(args)
            case "decision":
                return entry["type"] == "decision" && entry["decision"] == e.id && entry["action"] == action && entry["agent"] == agent
            default:
                return entry["type"] == "verdict" && entry["appeal"] == e.id && entry["agent"] == agent
                    && ["mercy_granted", "mercy_conditional"].contains(entry["verdict"] ?? "")
            }
        }
        if found, e.kind == "appeal", let agent, let r = state.agents[agent],
           let verdict = entries.first(where: { $0.publisher == e.user && $0["type"] == "verdict" && $0["appeal"] == e.id }),
           let appealed = verdict["licence"], appealed != r.state || (verdict["licence_reason"] ?? r.reason) != r.reason {
            throw Refusal("unauthorized", "appeal \(e.id) was of a \(appealed) licence (\(verdict["licence_reason"] ?? "")); agent '\(agent)'"
                              + " is now \(r.state) (\(r.reason)): a mercy reinstates only the licence appealed")
        }
        guard found else {
            let what = switch e.kind {
            case "proposal": "no approved proposal \(e.id) for civic \(action) with these args"
            case "decision": "no decision \(e.id) to \(action) agent '\(agent ?? "")'"
            default: "no mercy verdict on appeal \(e.id) for agent '\(agent ?? "")'"
            }
            throw Refusal("unauthorized", "\(what) in the latest \(scan) entries of \(e.stream)")
        }
        return (authority, nil)
    }

    // MARK: - Arguments and views

    /// The registered agent `agent` or `user` names (exactly one of them).
    func subject(_ args: [String: JSON], _ state: CivicState) throws(Refusal) -> CivicRecord {
        switch (args["agent"], args["user"]) {
        case (.some, nil):
            let agent = try Arguments.agentID(args)
            guard let r = state.agents[agent] else { throw Refusal("not_found", "agent '\(agent)' is not registered") }
            return r
        case (nil, .some(let u)):
            guard let user = u.string, Self.isUserName(user) else {
                throw Refusal(AgentErrorCode.badArgument, "user must be a user name")
            }
            guard let agent = state.users[user], let r = state.agents[agent] else {
                throw Refusal("not_found", "user '\(user)' holds no registered agent")
            }
            return r
        default:
            throw Refusal(AgentErrorCode.badArgument, "name the agent or its user: one of agent, user")
        }
    }

    func accountArgument(_ args: [String: JSON], _ name: String, _ state: CivicState) throws(Refusal) -> String {
        guard let a = args[name]?.string else { throw Refusal(AgentErrorCode.badArgument, "\(name) must be an agent id or treasury") }
        if a == Self.treasury { return a }
        let agent = try Arguments.agentID(["agent": .string(a)])
        guard state.agents[agent] != nil else { throw Refusal("not_found", "agent '\(agent)' is not registered") }
        return agent
    }

    func amountArgument(_ args: [String: JSON], allowZero: Bool) throws(Refusal) -> Int64 {
        let low: Int64 = allowZero ? 0 : 1
        guard let n = args["amount"]?.int, n >= low, n <= CivicLimits.maxAmount else {
            throw Refusal(AgentErrorCode.badArgument, "amount must be an integer from \(low) to \(CivicLimits.maxAmount)")
        }
        return n
    }

    func text(_ args: [String: JSON], _ name: String, _ limit: Int, required: Bool = false) throws(Refusal) -> String? {
        guard let v = args[name] else {
            if required { throw Refusal(AgentErrorCode.badArgument, "\(name) is needed: 1 to \(limit) bytes") }
            return nil
        }
        guard let s = v.string, s.utf8.count <= limit, !(required && s.isEmpty) else {
            throw Refusal(AgentErrorCode.badArgument, "\(name) must be a string of \(required ? 1 : 0) to \(limit) bytes")
        }
        return s
    }

    static func isUserName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= CivicLimits.userBytes && !s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
    }

    static func recordJSON(_ r: CivicRecord, _ state: CivicState) -> JSON {
        ["agent": .string(r.agent), "user": .string(r.user), "owner": .string(r.owner), "description": .string(r.description),
         "capabilities": .array(r.capabilities.map(JSON.string)), "state": .string(r.state), "reason": .string(r.reason),
         "balance": .int(state.balance(r.agent)), "registered_at": .string(r.registeredAt)]
    }

    static func licenceView(_ r: CivicRecord, _ state: CivicState) -> JSON {
        ["agent": .string(r.agent), "user": .string(r.user), "state": .string(r.state), "reason": .string(r.reason),
         "balance": .int(state.balance(r.agent)), "licensed": .int(Int64(state.licensed))]
    }

    static func licenceResult(_ r: CivicRecord, changed: Bool) -> JSON {
        ["agent": .string(r.agent), "user": .string(r.user), "state": .string(r.state), "changed": .bool(changed)]
    }

    static func transferResult(_ from: String, _ to: String, _ n: Int64, _ state: CivicState) -> JSON {
        ["from": .string(from), "to": .string(to), "amount": .int(n),
         "balances": .object([from: .int(state.balance(from)), to: .int(state.balance(to))])]
    }

    /// The licences civic's events set, by user: what the kernel must hold
    /// (`Civic.mirror` tells it). Only a `licence` event changes one.
    public static func licences(after event: AgentEvent) -> (user: String, state: String, reason: String)? {
        guard event.type == "licence", let user = event.data["user"], let s = event.data["state"], states.contains(s) else { return nil }
        return (user, s, event.data["reason"] ?? "")
    }
}
