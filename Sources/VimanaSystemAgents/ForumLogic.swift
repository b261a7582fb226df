import VimanaAgentKit
import VimanaConfig

// forum: proposals and votes (docs/SYSTEM-AGENTS.md, "forum"). A proposal
// costs its author `proposal_cost` credits (civic's `charge`, asked over
// the bus before anything is appended), a vote is counted for the caller's
// registered agent if civic says its licence is active, and a proposal is
// decided when every licensed agent has voted or, at its deadline, by
// forum's own `close` task. An approved proposal's action is sent to its
// target by forum's own `execute` task, with the proposal as authority,
// and the answer recorded. The rules that decide are pure functions
// (`ForumRules`); the timer that publishes close and execute is the
// process's (`Forum` in SystemAgents.swift).

/// forum's limits, each with its reason.
public enum ForumLimits {
    /// A title is a line, not a document.
    public static let titleBytes = 256
    /// A description says why; beyond 4 KiB it belongs in a document it links to.
    public static let descriptionBytes = 4096
    /// An action's name, as agents name theirs.
    public static let actionBytes = 64
    /// A proposal's args (their JSON text): they travel in three events and
    /// a task, all under the kernel's `max_payload`, with room to spare.
    public static let argsBytes = 16 << 10
    /// Seconds forum waits for civic (charge, check_license, get_registry):
    /// civic answers from memory, so five seconds means it is not there.
    public static let civicTimeout = 5.0
    /// Seconds forum waits for a proposal's target to answer its action.
    public static let executeTimeout = 10.0
    /// Proposals a `list_proposals` reply holds at most (the latest): a
    /// reply stays far under `max_payload` (a summary is at most ~600 bytes).
    public static let listed = 100
    /// The largest `licensed` count taken from civic: beyond a billion
    /// agents the reply is not believed (and counts times a million still fit an Int64).
    public static let licensedMax: Int64 = 1_000_000_000
    /// Seconds after which forum's timer publishes a close or an execute
    /// again when the events do not show it done yet (civic or the target
    /// did not answer, or forum or the kernel restarted): more than an
    /// execute's wait and civic's, so one try is over before the next.
    public static let republishSeconds = 30.0
}

/// The outcome of a decided proposal.
public enum ForumOutcome: String, Sendable, Codable, CaseIterable {
    case approved
    case rejected
    case noQuorum = "no_quorum"
}

/// The rules that decide a proposal, on integers (a fraction in millionths):
/// no rounding ever turns a tie into an approval.
public enum ForumRules {
    /// Turnout reaches the quorum: cast/licensed >= quorum, computed as
    /// cast × 1,000,000 >= quorum × licensed (so no agent licensed meets any quorum).
    public static func quorumReached(cast: Int64, licensed: Int64, quorumMillionths: Int) -> Bool {
        let (left, o1) = cast.multipliedReportingOverflow(by: Int64(ForumConfig.fractionScale))
        let (right, o2) = Int64(quorumMillionths).multipliedReportingOverflow(by: licensed)
        if o1 { return true }  // more votes than any licensed count could need
        if o2 { return false }
        return left >= right
    }

    /// yes/(yes+no) is above the threshold, computed as
    /// yes × 1,000,000 > threshold × (yes+no); never with no yes or no vote.
    public static func thresholdPassed(yes: Int64, no: Int64, thresholdMillionths: Int) -> Bool {
        let (both, o0) = yes.addingReportingOverflow(no)
        guard !o0, both > 0 else { return false }
        let (left, o1) = yes.multipliedReportingOverflow(by: Int64(ForumConfig.fractionScale))
        let (right, o2) = Int64(thresholdMillionths).multipliedReportingOverflow(by: both)
        guard !o1, !o2 else { return false }
        return left > right
    }

    /// no_quorum when turnout (abstentions included) falls short; else
    /// approved when the threshold is passed; else rejected.
    public static func outcome(yes: Int64, no: Int64, abstain: Int64, licensed: Int64,
                               thresholdMillionths: Int, quorumMillionths: Int) -> ForumOutcome {
        let cast = yes.addingReportingOverflow(no).partialValue.addingReportingOverflow(abstain).partialValue
        guard quorumReached(cast: max(cast, 0), licensed: licensed, quorumMillionths: quorumMillionths) else { return .noQuorum }
        return thresholdPassed(yes: yes, no: no, thresholdMillionths: thresholdMillionths) ? .approved : .rejected
    }
}

/// forum's proposals, rebuilt from `events.forum`.
public struct ForumState: Sendable, Equatable, Codable {
    public struct Proposal: Sendable, Equatable, Codable {
        public var id: String
        public var number: Int
        public var title: String
        public var description: String
        public var author: String
        public var target: String
        public var action: String
        /// The action's args, as JSON text (keys sorted).
        public var args: String
        /// Milliseconds since the epoch (the kernel's clock, as entry IDs).
        public var deadline: Int64
        /// Each voter's choice, by agent id.
        public var votes: [String: String] = [:]
        public var yes: Int64 = 0
        public var no: Int64 = 0
        public var abstain: Int64 = 0
        public var decision: Decision?
        public var execution: Execution?

        public var cast: Int64 { yes &+ no &+ abstain }
    }

    public struct Decision: Sendable, Equatable, Codable {
        public var outcome: String
        public var licensed: Int64
    }

    public struct Execution: Sendable, Equatable, Codable {
        public var ok: Bool
        /// The target's result (ok) or its error `{code, message}`, as JSON text.
        public var answer: String
    }

    public var proposals: [String: Proposal] = [:]
    /// The highest proposal number opened: the next is this plus one.
    public var opened = 0

    public init() {}

    /// What forum's timer must publish at `now` (ms since the epoch), in
    /// proposal order: `close` for an open proposal whose deadline has
    /// passed, `execute` for an approved one not yet executed.
    public func due(now: Int64) -> [(action: String, proposal: String)] {
        proposals.values.sorted { $0.number < $1.number }.compactMap { p in
            if p.decision == nil { return p.deadline <= now ? ("close", p.id) : nil }
            if p.decision?.outcome == ForumOutcome.approved.rawValue && p.execution == nil { return ("execute", p.id) }
            return nil
        }
    }

    /// The earliest deadline of an open proposal still ahead of `now`, if any.
    public func nextDeadline(after now: Int64) -> Int64? {
        proposals.values.filter { $0.decision == nil && $0.deadline > now }.map(\.deadline).min()
    }
}

public struct ForumLogic: AgentLogic {
    public let proposalCost: Int64
    public let votingPeriodSeconds: Int
    public let thresholdMillionths: Int
    public let quorumMillionths: Int
    /// The agents the configuration declares (`VIMANA_FORUM_AGENTS`): a
    /// proposal's target must be one, and its reply is taken from its user.
    /// nil: the wiring is unknown (forum run by hand); any agent id is taken.
    public let declared: [DeclaredAgent]?
    /// The user forum's own timer publishes `close` and `execute` as: no one
    /// else may. nil when forum runs without credentials: it takes none.
    public let forumUser: String?

    public init(config: ForumConfig = ForumConfig(), declared: [DeclaredAgent]?, forumUser: String?) {
        proposalCost = config.proposalCost
        votingPeriodSeconds = config.votingPeriodSeconds
        thresholdMillionths = config.thresholdMillionths
        quorumMillionths = config.quorumMillionths
        self.declared = declared
        self.forumUser = forumUser
    }

    /// Its actions: a caller's, and `close` and `execute`, which only its own timer may send.
    public static let actions = ["create_proposal", "vote", "get_proposal", "list_proposals", "close", "execute"]
    public static let civic = "civic"
    public static let choices = ["yes", "no", "abstain"]

    public var initialState: ForumState { ForumState() }

    // MARK: - Events

    public func apply(_ event: AgentEvent, to state: inout ForumState) {
        let d = event.data
        guard let id = d["proposal"] else { return }
        switch event.type {
        case "opened":
            guard let n = Self.number(id), let deadline = d["deadline"].flatMap({ Int64($0) }) else { return }
            state.proposals[id] = .init(id: id, number: n, title: d["title"] ?? "", description: d["description"] ?? "",
                                        author: d["author"] ?? "", target: d["target"] ?? "", action: d["action"] ?? "",
                                        args: d["args"] ?? "{}", deadline: deadline)
            state.opened = max(state.opened, n)
        case "voted":
            guard var p = state.proposals[id], let agent = d["agent"], let choice = d["choice"], p.votes[agent] == nil else { return }
            p.votes[agent] = choice
            switch choice {
            case "yes": p.yes &+= 1
            case "no": p.no &+= 1
            default: p.abstain &+= 1
            }
            state.proposals[id] = p
        case "decided":
            guard state.proposals[id] != nil, let outcome = d["outcome"] else { return }
            state.proposals[id]?.decision = .init(outcome: outcome, licensed: d["licensed"].flatMap { Int64($0) } ?? 0)
        case "executed":
            guard state.proposals[id] != nil else { return }
            let ok = d["ok"] == "true"
            state.proposals[id]?.execution = .init(ok: ok, answer: (ok ? d["result"] : d["error"]) ?? "null")
        default:
            break
        }
    }

    /// n of `p-<n>` (1 or more, no leading zero); nil for anything else.
    static func number(_ id: String) -> Int? {
        guard id.hasPrefix("p-"), let n = Int(id.dropFirst(2)), n >= 1, "p-\(n)" == id else { return nil }
        return n
    }

    // MARK: - Plans: every argument checked before anything is asked

    /// What a task will do once its asks are answered.
    enum Plan {
        case create(title: String, description: String, target: String, action: String, args: String, ask: AgentAsk)
        case vote(ForumState.Proposal, choice: String, ask: AgentAsk)
        /// nil ask: already decided (answered from the state).
        case close(ForumState.Proposal, ask: AgentAsk?)
        /// nil ask: already executed.
        case execute(ForumState.Proposal, ask: AgentAsk?)
        case get(ForumState.Proposal)
        case list(String?)

        var ask: AgentAsk? {
            switch self {
            case .create(_, _, _, _, _, let a), .vote(_, _, let a): a
            case .close(_, let a), .execute(_, let a): a
            case .get, .list: nil
            }
        }
    }

    public func asks(for request: AgentRequest, caller: String, state: ForumState) -> [AgentAsk] {
        // A bad request asks nothing: nothing is charged for it.
        guard let ask = (try? plan(request, caller: caller, state: state))?.ask else { return [] }
        return [ask]
    }

    /// envoy's user: it may name the `proposer` of a proposal.
    static let envoyUser = AgentAsk.madeUser("envoy")

    func plan(_ request: AgentRequest, caller: String, state: ForumState) throws(Refusal) -> Plan {
        let args = request.args
        switch request.action {
        case "create_proposal":
            try Arguments.only(["title", "description", "action", "proposer"], args)
            // envoy opens a proposal for the user a playbook names, charged to that user's agent (as civic's register takes `user` from envoy).
            var payer = caller
            if let p = args["proposer"] {
                guard caller == Self.envoyUser else {
                    throw Refusal(AgentErrorCode.forbidden, "proposer is for envoy's user (\(Self.envoyUser)); user '\(caller)' proposes as itself")
                }
                guard let s = p.string, !s.isEmpty, s.utf8.count <= 256 else {
                    throw Refusal(AgentErrorCode.badArgument, "proposer must be a user name")
                }
                payer = s
            }
            guard let title = args["title"]?.string, !title.isEmpty, title.utf8.count <= ForumLimits.titleBytes else {
                throw Refusal(AgentErrorCode.badArgument, "title must be a string of 1 to \(ForumLimits.titleBytes) bytes")
            }
            var description = ""
            if let d = args["description"], d != .null {
                guard let text = d.string, text.utf8.count <= ForumLimits.descriptionBytes else {
                    throw Refusal(AgentErrorCode.badArgument, "description must be a string of at most \(ForumLimits.descriptionBytes) bytes")
                }
                description = text
            }
            let (target, action, actionArgs) = try proposedAction(args["action"])
            // Args from the request alone, never the state: a retry, or a
            // redelivery after others were opened meanwhile, is the same ask,
            // which civic charges once (Protocol/AGENTS.md §10, the ask's id).
            let reason = "proposal: " + String(decoding: title.utf8.prefix(200), as: UTF8.self)
            let ask = AgentAsk(agent: Self.civic, action: "charge",
                               args: ["user": .string(payer), "amount": .int(proposalCost), "reason": .string(reason)],
                               timeout: ForumLimits.civicTimeout, user: user(of: Self.civic))
            return .create(title: title, description: description, target: target, action: action, args: actionArgs, ask: ask)
        case "vote":
            try Arguments.only(["proposal", "choice"], args)
            let p = try proposal(args, state)
            guard let choice = args["choice"]?.string, Self.choices.contains(choice) else {
                throw Refusal(AgentErrorCode.badArgument, "choice must be one of \(Self.choices.joined(separator: ", "))")
            }
            if let d = p.decision { throw Refusal("closed", "proposal \(p.id) is decided (\(d.outcome))") }
            guard request.entryMillis < p.deadline else {
                throw Refusal("closed", "proposal \(p.id)'s voting closed at \(p.deadline) (ms)")
            }
            let ask = AgentAsk(agent: Self.civic, action: "check_license", args: ["user": .string(caller)],
                               timeout: ForumLimits.civicTimeout, user: user(of: Self.civic))
            return .vote(p, choice: choice, ask: ask)
        case "close", "execute":
            try own(request.action, caller)
            try Arguments.only(["proposal"], args)
            let p = try proposal(args, state)
            if request.action == "close" {
                if p.decision != nil { return .close(p, ask: nil) }
                guard request.entryMillis >= p.deadline else {
                    throw Refusal("not_due", "proposal \(p.id)'s deadline \(p.deadline) (ms) has not passed")
                }
                return .close(p, ask: AgentAsk(agent: Self.civic, action: "get_registry", args: ["limit": 0], timeout: ForumLimits.civicTimeout,
                                               user: user(of: Self.civic)))
            }
            guard p.decision?.outcome == ForumOutcome.approved.rawValue else {
                throw Refusal(AgentErrorCode.badArgument, "proposal \(p.id) is not approved (\(p.decision?.outcome ?? "open"))")
            }
            if p.execution != nil { return .execute(p, ask: nil) }
            guard case .object(var o)? = JSON.parse(p.args) else {
                throw Refusal(AgentErrorCode.internalError, "proposal \(p.id)'s recorded args are not a JSON object")
            }
            o["authority"] = ["proposal": .string(p.id)]
            return .execute(p, ask: AgentAsk(agent: p.target, action: p.action, args: o, timeout: ForumLimits.executeTimeout,
                                             user: user(of: p.target)))
        case "get_proposal":
            try Arguments.only(["proposal"], args)
            return .get(try proposal(args, state))
        case "list_proposals":
            try Arguments.only(["state"], args)
            guard let s = args["state"], s != .null else { return .list(nil) }
            guard let text = s.string, ["open", "decided"].contains(text) else {
                throw Refusal(AgentErrorCode.badArgument, "state must be open or decided")
            }
            return .list(text)
        default:
            throw Refusal(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
        }
    }

    /// `close` and `execute` are forum's own timer's.
    func own(_ action: String, _ caller: String) throws(Refusal) {
        guard let forumUser else {
            throw Refusal(AgentErrorCode.forbidden, "\(action) is forum's own, and this forum runs without credentials (VIMANA_PASSWORD): it takes none")
        }
        guard caller == forumUser else { throw Refusal(AgentErrorCode.forbidden, "\(action) is forum's own (its user \(forumUser))") }
    }

    /// `proposal`: the id of a proposal opened.
    func proposal(_ args: [String: JSON], _ state: ForumState) throws(Refusal) -> ForumState.Proposal {
        guard let id = args["proposal"]?.string, Self.number(id) != nil else {
            throw Refusal(AgentErrorCode.badArgument, "proposal must be a proposal id (p-1, p-2, …)")
        }
        guard let p = state.proposals[id] else { throw Refusal("not_found", "no proposal \(id)") }
        return p
    }

    /// `action: {agent, action, args?}`: a declared agent other than forum,
    /// an action name, and args as a JSON object without `authority` (forum's to add).
    func proposedAction(_ value: JSON?) throws(Refusal) -> (String, String, String) {
        let shape = "action must be an object {agent, action, args?}"
        guard case .object(let o)? = value else { throw Refusal(AgentErrorCode.badArgument, shape) }
        try Arguments.only(["agent", "action", "args"], o)
        let target = try Arguments.agentID(o)
        guard target != "forum" else { throw Refusal(AgentErrorCode.badArgument, "a proposal cannot act on forum itself") }
        if let declared, !declared.contains(where: { $0.id == target }) {
            throw Refusal("not_found", "no agent '\(target)' is declared")
        }
        guard let name = o["action"]?.string, !name.isEmpty, name.utf8.count <= ForumLimits.actionBytes,
              name.utf8.allSatisfy({ Self.nameByte($0) }) else {
            throw Refusal(AgentErrorCode.badArgument, "action.action must be 1 to \(ForumLimits.actionBytes) characters"
                            + " from A-Z, a-z, 0-9, '_', '.', '-'")
        }
        var args: [String: JSON] = [:]
        if let a = o["args"], a != .null {
            guard case .object(let given) = a else { throw Refusal(AgentErrorCode.badArgument, "action.args must be a JSON object") }
            args = given
        }
        guard args["authority"] == nil else {
            throw Refusal(AgentErrorCode.badArgument, "action.args may not hold authority: forum adds {\"proposal\": <id>} when it executes")
        }
        let text = JSON.object(args).text
        guard text.utf8.count <= ForumLimits.argsBytes else {
            throw Refusal(AgentErrorCode.badArgument, "action.args must be at most \(ForumLimits.argsBytes) bytes of JSON")
        }
        return (target, name, text)
    }

    static func nameByte(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == 95 || b == 46 || b == 45
    }

    /// The user an agent replies as: the wiring's, else the user the kernel makes for it.
    func user(of agent: String) -> String {
        declared?.first { $0.id == agent }?.user ?? AgentAsk.madeUser(agent)
    }

    // MARK: - Handling

    public func handle(_ request: AgentRequest, caller: String, state: ForumState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: ForumState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch try plan(request, caller: caller, state: state) {
            case .create(let title, let description, let target, let action, let args, let ask):
                let charged = try civicAnswer(kernel.answer(ask), "charge")
                guard let author = charged["agent"]?.string, !author.isEmpty else { throw Self.oddCivic("charge") }
                let id = "p-\(state.opened + 1)"
                let (sum, o) = request.entryMillis.addingReportingOverflow(Int64(votingPeriodSeconds) * 1000)
                let deadline = o ? Int64.max : sum
                let event = AgentEvent("opened", ["proposal": id, "title": title, "description": description, "target": target,
                                                  "action": action, "args": args, "author": author, "deadline": String(deadline)])
                return .ok(["proposal": .string(id), "deadline": .int(deadline)], events: [event])
            case .vote(let p, let choice, let ask):
                let licence = try civicAnswer(kernel.answer(ask), "check_license")
                guard let agent = licence["agent"]?.string, !agent.isEmpty, let licenceState = licence["state"]?.string,
                      let licensed = licence["licensed"]?.int, licensed >= 0, licensed <= ForumLimits.licensedMax else {
                    throw Self.oddCivic("check_license")
                }
                guard licenceState == "active" else {
                    throw Refusal("not_licensed", "agent \(agent)'s licence is \(licenceState): it may not vote")
                }
                guard p.votes[agent] == nil else { throw Refusal("already_voted", "agent \(agent) has voted on \(p.id)") }
                var events = [AgentEvent("voted", ["proposal": p.id, "agent": agent, "choice": choice])]
                var next = state
                apply(events[0], to: &next)
                guard let after = next.proposals[p.id] else { throw Refusal(AgentErrorCode.internalError, "proposal \(p.id) vanished") }
                // Every licensed agent has voted: decided at once, on this count.
                if after.cast >= licensed { events.append(decided(after, licensed: licensed)) }
                for e in events.dropFirst() { apply(e, to: &next) }
                var result = record(next.proposals[p.id] ?? after)
                result["agent"] = .string(agent)
                result["choice"] = .string(choice)
                return .ok(.object(result), events: events)
            case .close(let p, let ask):
                guard let ask else { return .ok(.object(record(p))) }
                let registry = try civicAnswer(kernel.answer(ask), "get_registry")
                guard let licensed = registry["licensed"]?.int, licensed >= 0, licensed <= ForumLimits.licensedMax else {
                    throw Self.oddCivic("get_registry")
                }
                let event = decided(p, licensed: licensed)
                var next = state
                apply(event, to: &next)
                return .ok(.object(record(next.proposals[p.id] ?? p)), events: [event])
            case .execute(let p, let ask):
                guard let ask else { return .ok(.object(record(p))) }
                let event: AgentEvent
                switch kernel.answer(ask) {
                case .reply(.ok(let result))?:
                    event = AgentEvent("executed", ["proposal": p.id, "ok": "true", "result": result.text])
                case .reply(.error(let code, let message))? where code == "unavailable" || code == AgentErrorCode.internalError:
                    // The target could not decide now (a read failed, its reply did not fit): asked again, not recorded.
                    throw Refusal("unavailable", "\(p.target) answered \(code) (\(message)): forum will ask again")
                case .reply(.error(let code, let message))?:
                    let error: JSON = ["code": .string(code), "message": .string(message)]
                    event = AgentEvent("executed", ["proposal": p.id, "ok": "false", "error": error.text])
                case .timeout(let s)?:
                    throw Refusal("unavailable", "\(p.target) did not answer \(p.action) within \(Int(s)) s: forum will ask again")
                case .failed(let m)?, .lost(let m)?:
                    throw Refusal("unavailable", "\(p.target) could not be asked \(p.action) (\(m)): forum will ask again")
                case nil:
                    throw Refusal("unavailable", "\(p.target) was not asked \(p.action)")
                }
                var next = state
                apply(event, to: &next)
                return .ok(.object(record(next.proposals[p.id] ?? p)), events: [event])
            case .get(let p):
                return .ok(.object(record(p)))
            case .list(let filter):
                let all = state.proposals.values.filter { filter == nil || ($0.decision == nil) == (filter == "open") }
                    .sorted { $0.number > $1.number }
                return .ok(["proposals": .array(all.prefix(ForumLimits.listed).map { .object(summary($0)) }),
                            "total": .int(Int64(all.count))])
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    /// The `decided` event of `p` on this licensed count.
    func decided(_ p: ForumState.Proposal, licensed: Int64) -> AgentEvent {
        let outcome = ForumRules.outcome(yes: p.yes, no: p.no, abstain: p.abstain, licensed: licensed,
                                         thresholdMillionths: thresholdMillionths, quorumMillionths: quorumMillionths)
        return AgentEvent("decided", ["proposal": p.id, "outcome": outcome.rawValue, "yes": String(p.yes), "no": String(p.no),
                                      "abstain": String(p.abstain), "licensed": String(licensed), "target": p.target,
                                      "action": p.action, "args": p.args])
    }

    /// civic's result, or the refusal its answer means: `not_licensed` for
    /// an unregistered or unlicensed caller, `insufficient_credits` passed
    /// on, `unavailable` for any other error and for no answer.
    func civicAnswer(_ answer: AgentAnswer?, _ action: String) throws(Refusal) -> JSON {
        switch answer {
        case .reply(.ok(let result))?:
            return result
        case .reply(.error(let code, let message))?:
            switch code {
            case "not_found": throw Refusal("not_licensed", "civic: \(message)")
            case "not_licensed", "insufficient_credits": throw Refusal(code, "civic: \(message)")
            default: throw Refusal("unavailable", "civic answered \(action) with \(code): \(message)")
            }
        case .timeout(let s)?:
            throw Refusal("unavailable", "civic did not answer \(action) within \(Int(s)) s")
        case .failed(let m)?, .lost(let m)?:
            throw Refusal("unavailable", "civic could not be asked \(action) (\(m))")
        case nil:
            throw Refusal("unavailable", "civic was not asked \(action)")
        }
    }

    static func oddCivic(_ action: String) -> Refusal {
        Refusal("unavailable", "civic's answer to \(action) is not the documented result")
    }

    // MARK: - Results

    /// A proposal as get_proposal answers it: the summary with its
    /// description, args, votes and `execution` (the target's answer).
    func record(_ p: ForumState.Proposal) -> [String: JSON] {
        var r = summary(p)
        r["description"] = .string(p.description)
        r["args"] = JSON.parse(p.args) ?? .object([:])
        r["votes"] = .object(p.votes.mapValues(JSON.string))
        r["execution"] = p.execution.map { e in
            e.ok ? ["ok": true, "result": JSON.parse(e.answer) ?? .null] : ["ok": false, "error": JSON.parse(e.answer) ?? .null]
        } ?? .null
        return r
    }

    /// A proposal as list_proposals lists it (`executed`: null before its
    /// execution, then whether the target answered ok).
    func summary(_ p: ForumState.Proposal) -> [String: JSON] {
        ["proposal": .string(p.id), "title": .string(p.title), "author": .string(p.author), "target": .string(p.target),
         "action": .string(p.action), "deadline": .int(p.deadline), "state": .string(p.decision == nil ? "open" : "decided"),
         "outcome": p.decision.map { .string($0.outcome) } ?? .null, "licensed": p.decision.map { .int($0.licensed) } ?? .null,
         "yes": .int(p.yes), "no": .int(p.no), "abstain": .int(p.abstain), "executed": p.execution.map { .bool($0.ok) } ?? .null]
    }
}
