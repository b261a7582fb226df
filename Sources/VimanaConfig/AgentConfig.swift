
/// One entry of the `agents:` list: a worker the kernel feeds tasks
/// (Protocol/AGENTS.md).
public struct AgentConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable { case builtin, external }
    public enum Start: String, Sendable, Equatable, CaseIterable { case new, all }

    /// Built-in agents the kernel ships (the registry's ids; checked by a test).
    public static let builtinIDs: Set<String> = ["echo"]

    public var id: String
    public var name: String
    public var description: String = ""
    public var kind: Kind = .external
    public var enabled: Bool = true
    /// Topic patterns (Redis glob); at least one.
    public var subscribes: [String]
    /// Topic patterns it may publish to; nil means any.
    public var publishes: [String]? = nil
    public var ackWaitMillis: Int = 30_000
    public var maxDeliver: Int = 5
    public var prefetch: Int = 1
    public var start: Start = .new
    public var required: Bool = false
    /// argv of a process the kernel starts and supervises (external agents only).
    public var command: [String]? = nil
    public var env: [String: String] = [:]
    public var restart: RestartPolicy = .onFailure
    public var maxRestarts: Int = 5
    /// The user (a `users:` entry, or `default`) the agent runs as; nil: none named.
    public var user: String? = nil
    /// What it can do, as words a client looks it up by (discovery's
    /// `find_by_capability`); `capabilities:` in phoenix.yaml.
    public var capabilities: [String] = []
    /// At most this many capabilities, each at most `capabilityBytes` long:
    /// a directory entry, not a document (phoenix.yaml and discovery's `announce` alike).
    public static let capabilitiesLimit = 64
    /// The namespaces an agent's reply may not go to: the agents' tasks,
    /// events and dead letters, and the kernel's own topics. A reply there
    /// would be an entry the agent's user appends for the caller (a task or
    /// a dead letter for another agent, an entry in its events). The kit's
    /// agents and the built-in `echo` refuse such a `reply_to`
    /// (Protocol/AGENTS.md §8, §10).
    public static let reservedReplyPrefixes = ["tasks.", "events.", "dead.", "_vimana."]

    /// Whether `topic` is in one of `reservedReplyPrefixes`.
    public static func isReservedReply(_ topic: String) -> Bool {
        reservedReplyPrefixes.contains { topic.hasPrefix($0) }
    }
    public static let capabilityBytes = 128
    /// Commands its made user gets beyond an agent's (`agentCommands`):
    /// set only for system agents (AGENTS for discovery), never from a file.
    public var systemCommands: [String] = []
    /// The whole ACL rules of its made user (after `on resetchannels
    /// -@all`) when an agent's commands and topics would grant too much:
    /// set only for system agents (oracle: read-only), never from a file.
    public var systemRules: [String]? = nil
    /// Where the entry starts in the file, for messages (1-based; 0 unknown).
    public var line: Int = 0
    public var column: Int = 0

    public init(id: String, name: String? = nil, subscribes: [String]) {
        self.id = id
        self.name = name ?? id
        self.subscribes = subscribes
    }

    /// The user the agent runs as (Protocol/AGENTS.md §9): the one named in
    /// `user`, else the one the kernel makes for it, `agent:<id>`. No
    /// declared user can have that name (the loader refuses the prefix).
    public var runsAs: String { user ?? Self.madeUserPrefix + id }

    /// The prefix of the users the kernel makes for agents: reserved, so
    /// that a `users:` entry can never be taken for an agent's own user.
    public static let madeUserPrefix = "agent:"

    /// Equality ignores where the entry was in the file.
    public static func == (a: AgentConfig, b: AgentConfig) -> Bool {
        a.id == b.id && a.name == b.name && a.description == b.description && a.kind == b.kind
            && a.enabled == b.enabled && a.subscribes == b.subscribes && a.publishes == b.publishes
            && a.ackWaitMillis == b.ackWaitMillis && a.maxDeliver == b.maxDeliver && a.prefetch == b.prefetch
            && a.start == b.start && a.required == b.required && a.command == b.command && a.env == b.env
            && a.restart == b.restart && a.maxRestarts == b.maxRestarts && a.user == b.user
            && a.capabilities == b.capabilities && a.systemCommands == b.systemCommands && a.systemRules == b.systemRules
    }
}

/// When the supervisor starts an agent's process again after it exited
/// (`restart:`; Protocol/AGENTS.md §6). The raw values are the YAML spellings.
public enum RestartPolicy: String, Sendable, Equatable, CaseIterable {
    /// After any exit, including a clean one.
    case always
    /// Only after a non-zero exit status, a death by signal, or a failed spawn.
    case onFailure = "on-failure"
    /// Never: the child stays `stopped` after its first exit.
    case never
}
