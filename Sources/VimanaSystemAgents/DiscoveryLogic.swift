import VimanaAgentKit
import VimanaConfig

// discovery: the directory of agents (docs/SYSTEM-AGENTS.md). What the
// configuration declares comes in at start (`DiscoveryLogic.declared`);
// what changes (agents joining, leaving, failing; manifests agents
// announce) is its events on `events.discovery`.

/// An agent as the configuration declares it (`VIMANA_DISCOVERY_AGENTS`).
public struct DeclaredAgent: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var kind: String
    public var subscribes: [String]
    /// nil: it may publish anywhere.
    public var publishes: [String]?
    /// The user it runs as (the one that may `announce` for it).
    public var user: String
    public var capabilities: [String]
    public var system: Bool
    /// false: declared but not started (`AGENTS` says `disabled`).
    public var enabled: Bool

    public init(id: String, name: String? = nil, description: String = "", kind: String = "external",
                subscribes: [String], publishes: [String]? = nil, user: String? = nil,
                capabilities: [String] = [], system: Bool = false, enabled: Bool = true) {
        self.id = id
        self.name = name ?? id
        self.description = description
        self.kind = kind
        self.subscribes = subscribes
        self.publishes = publishes
        self.user = user ?? "agent:" + id
        self.capabilities = capabilities
        self.system = system
        self.enabled = enabled
    }

    /// The directory from its JSON text; nil when it is not an array of such objects.
    public static func parse(_ text: String) -> [DeclaredAgent]? {
        guard case .array(let items)? = JSON.parse(text) else { return nil }
        var out: [DeclaredAgent] = []
        for item in items {
            guard let id = item["id"]?.string, let subscribes = strings(item["subscribes"]) else { return nil }
            var a = DeclaredAgent(id: id, name: item["name"]?.string, description: item["description"]?.string ?? "",
                                  kind: item["kind"]?.string ?? "external", subscribes: subscribes,
                                  publishes: strings(item["publishes"]), user: item["user"]?.string,
                                  capabilities: strings(item["capabilities"]) ?? [], system: item["system"]?.bool ?? false,
                                  enabled: item["enabled"]?.bool ?? true)
            if a.user.isEmpty { a.user = "agent:" + id }
            out.append(a)
        }
        return out
    }

    static func strings(_ json: JSON?) -> [String]? {
        guard case .array(let items)? = json else { return nil }
        let values = items.compactMap(\.string)
        return values.count == items.count ? values : nil
    }
}

/// What discovery knows now: each agent's last observed status, and the manifests announced.
public struct DiscoveryState: Sendable, Equatable, Codable {
    public struct Live: Sendable, Equatable, Codable {
        public var status: String
        public var instances: Int
    }
    public struct Manifest: Sendable, Equatable, Codable {
        public var description: String
        public var capabilities: [String]
    }
    public var live: [String: Live] = [:]
    public var manifests: [String: Manifest] = [:]
}

/// The limits of what an agent may announce (as `capabilities:` in phoenix.yaml).
public enum DiscoveryLimits {
    public static let capabilities = AgentConfig.capabilitiesLimit
    public static let capabilityLength = AgentConfig.capabilityBytes
    public static let descriptionLength = 1024
}

public struct DiscoveryLogic: AgentLogic {
    /// The agents the configuration declares, in its order (system agents last).
    public let declared: [DeclaredAgent]
    /// The user discovery's own observer publishes `observe` as: no one
    /// else may. nil when discovery runs without credentials (its
    /// connections are then `default`'s, which any client may be): no
    /// `observe` is taken, and statuses stay `unknown`.
    public let observer: String?

    /// The statuses `AGENTS` reports (Protocol/AGENTS.md §7): an observation
    /// of any other is refused.
    public static let statuses: Set<String> = ["running", "idle", "failed", "disabled"]

    /// Its actions, as a caller may send them (`observe` is its own observer's).
    public static let actions = ["list", "describe", "find_by_capability", "announce"]

    public init(declared: [DeclaredAgent], observer: String?) {
        self.declared = declared
        self.observer = observer
    }

    public var initialState: DiscoveryState { DiscoveryState() }

    public func apply(_ event: AgentEvent, to state: inout DiscoveryState) {
        guard let agent = event.data["agent"] else { return }
        switch event.type {
        case "joined", "left", "failed", "status":
            state.live[agent] = .init(status: event.data["status"] ?? "idle",
                                      instances: Int(event.data["instances"] ?? "") ?? 0)
        case "announced":
            let caps = DeclaredAgent.strings(JSON.parse(event.data["capabilities"] ?? "")) ?? []
            state.manifests[agent] = .init(description: event.data["description"] ?? "", capabilities: caps)
        default:
            break
        }
    }

    /// The arguments each action takes: any other is `bad_argument`.
    static let arguments: [String: [String]] = [
        "list": [], "describe": ["agent"], "find_by_capability": ["capability"],
        "announce": ["agent", "capabilities", "description"], "observe": ["agents"],
    ]

    public func handle(_ request: AgentRequest, caller: String, state: DiscoveryState) -> AgentOutcome {
        if let names = Self.arguments[request.action] {
            do throws(Refusal) { try Arguments.only(names, request.args) } catch { return .error(error.code, error.message) }
        }
        switch request.action {
        case "list":
            return .ok(["agents": .array(declared.map { summary($0, state) })])
        case "describe":
            guard let id = request.args["agent"]?.string, !id.isEmpty else {
                return .error(AgentErrorCode.badArgument, "agent must be a non-empty string (an agent id)")
            }
            guard let a = declared.first(where: { $0.id == id }) else {
                return .error("not_found", "no agent '\(id)' is declared")
            }
            return .ok(describe(a, state))
        case "find_by_capability":
            guard let c = request.args["capability"]?.string, !c.isEmpty else {
                return .error(AgentErrorCode.badArgument, "capability must be a non-empty string")
            }
            let ids = declared.filter { capabilities($0, state).contains(c) }.map { JSON.string($0.id) }
            return .ok(["capability": .string(c), "agents": .array(ids)])
        case "announce":
            return announce(request, caller: caller, state: state)
        case "observe":
            return observe(request, caller: caller, state: state)
        default:
            return .error(AgentErrorCode.unknownAction,
                          "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
        }
    }

    // MARK: - Answers

    func capabilities(_ a: DeclaredAgent, _ state: DiscoveryState) -> [String] {
        var caps = a.capabilities
        for c in state.manifests[a.id]?.capabilities ?? [] where !caps.contains(c) { caps.append(c) }
        return caps
    }

    func live(_ a: DeclaredAgent, _ state: DiscoveryState) -> DiscoveryState.Live {
        state.live[a.id] ?? .init(status: "unknown", instances: 0)
    }

    func summary(_ a: DeclaredAgent, _ state: DiscoveryState) -> JSON {
        let l = live(a, state)
        let description = state.manifests[a.id].map(\.description).flatMap { $0.isEmpty ? nil : $0 } ?? a.description
        return ["id": .string(a.id), "description": .string(description), "status": .string(l.status),
                "instances": .int(Int64(l.instances)), "capabilities": .array(capabilities(a, state).map(JSON.string)),
                "system": .bool(a.system)]
    }

    func describe(_ a: DeclaredAgent, _ state: DiscoveryState) -> JSON {
        guard case .object(var o) = summary(a, state) else { return .null }
        o["name"] = .string(a.name)
        o["kind"] = .string(a.kind)
        o["user"] = .string(a.user)
        o["subscribes"] = .array(a.subscribes.map(JSON.string))
        o["publishes"] = a.publishes.map { .array($0.map(JSON.string)) } ?? .null
        return .object(o)
    }

    // MARK: - Changes

    /// `announce {agent, description?, capabilities}`: only from the user the agent runs as.
    func announce(_ request: AgentRequest, caller: String, state: DiscoveryState) -> AgentOutcome {
        guard let id = request.args["agent"]?.string, !id.isEmpty else {
            return .error(AgentErrorCode.badArgument, "agent must be a non-empty string (an agent id)")
        }
        guard let a = declared.first(where: { $0.id == id }) else {
            return .error("not_found", "no agent '\(id)' is declared")
        }
        guard caller == a.user else {
            return .error(AgentErrorCode.forbidden, "only \(a.user), the user agent '\(id)' runs as, may announce it")
        }
        let limits = "capabilities must be an array of at most \(DiscoveryLimits.capabilities) distinct non-empty strings"
            + " of at most \(DiscoveryLimits.capabilityLength) bytes"
        guard let caps = DeclaredAgent.strings(request.args["capabilities"]), caps.count <= DiscoveryLimits.capabilities,
              Set(caps).count == caps.count,
              caps.allSatisfy({ !$0.isEmpty && $0.utf8.count <= DiscoveryLimits.capabilityLength }) else {
            return .error(AgentErrorCode.badArgument, limits)
        }
        var description = ""
        if let d = request.args["description"] {
            guard let text = d.string, text.utf8.count <= DiscoveryLimits.descriptionLength else {
                return .error(AgentErrorCode.badArgument,
                              "description must be a string of at most \(DiscoveryLimits.descriptionLength) bytes")
            }
            description = text
        }
        let event = AgentEvent("announced", ["agent": id, "description": description,
                                             "capabilities": JSON.array(caps.map(JSON.string)).text])
        var next = state
        apply(event, to: &next)
        return .ok(summary(a, next), events: [event])
    }

    /// `observe {agents: [{id, status, instances}]}`: discovery's own
    /// observer reporting what AGENTS answered; each change becomes an
    /// event: `failed`, `joined` (more instances), `left` (fewer), else `status`.
    func observe(_ request: AgentRequest, caller: String, state: DiscoveryState) -> AgentOutcome {
        guard let observer else {
            return .error(AgentErrorCode.forbidden,
                          "observe is discovery's own, and this discovery runs without credentials (VIMANA_PASSWORD): it takes none")
        }
        guard caller == observer else {
            return .error(AgentErrorCode.forbidden, "observe is discovery's own (its user \(observer))")
        }
        // What AGENTS answers: one entry per declared agent, a status it knows.
        let shape = "agents must be an array of at most \(declared.count) {id, status, instances}: each id a declared"
            + " agent's, once; status one of \(Self.statuses.sorted().joined(separator: ", ")); instances from 0"
        guard case .array(let items)? = request.args["agents"], items.count <= declared.count else {
            return .error(AgentErrorCode.badArgument, shape)
        }
        var events: [AgentEvent] = []
        var seen = Set<String>()
        for item in items {
            guard let id = item["id"]?.string, declared.contains(where: { $0.id == id }), seen.insert(id).inserted,
                  let status = item["status"]?.string, Self.statuses.contains(status),
                  let n = item["instances"]?.int, n >= 0, n <= Int64(Int32.max) else {
                return .error(AgentErrorCode.badArgument, shape)
            }
            let now = DiscoveryState.Live(status: status, instances: Int(n))
            let before = state.live[id]
            guard before != now else { continue }
            let old = before?.instances ?? 0
            let type = status == "failed" ? "failed" : now.instances > old ? "joined" : now.instances < old ? "left" : "status"
            events.append(AgentEvent(type, ["agent": id, "status": status, "instances": String(n)]))
        }
        return .ok(["changes": .int(Int64(events.count))], events: events)
    }
}
