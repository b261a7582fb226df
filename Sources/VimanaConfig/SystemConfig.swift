/// The `system:` section of phoenix.yaml: the system agents, which the
/// kernel runs as supervised processes of its own binary (`vimana agent
/// <id>`) when the ledger is on (Protocol/AGENTS.md §11). Every system agent
/// that exists in code is here, enabled by default.
public struct SystemConfig: Sendable, Equatable {
    /// false: no system agent is wired (`--no-system-agents`): the kernel
    /// alone, as a plain bus.
    public var enabled = true
    public var discovery = DiscoveryConfig()
    public var oracle = OracleConfig()
    public var archivist = ArchivistConfig()
    public var engineer = EngineerConfig()
    public var scribe = ScribeConfig()

    public init() {}
}

/// `system.discovery`: the directory of agents.
public struct DiscoveryConfig: Sendable, Equatable {
    public var enabled = true
    /// `/ready` waits for it: a client may ask it at once.
    public var required = true
    /// How often it asks the kernel for the agents' states (AGENTS), in ms:
    /// a join, leave or failure is announced within this. A fifth of a
    /// second is quick for a person and costs one AGENTS reply per tick.
    public var pollMillis = 200
    /// Under 10ms the AGENTS replies would be its whole work; beyond a
    /// minute a failure is announced too late to act on.
    public static let pollMillisRange = 10...60_000

    public init() {}
}

/// `system.oracle`: answers questions about the system from the kernel's
/// figures and the system agents' events (read-only).
public struct OracleConfig: Sendable, Equatable {
    public var enabled = true
    /// `/ready` waits for it: an operator may ask it at once.
    public var required = true
    /// How many of the latest entries of each system agent's event stream
    /// `explain` reads: its answer and its cost per query are bounded by it.
    public var scanEntries = 10_000
    /// Under 10 an explanation would see almost nothing; beyond a million
    /// entries one query would read a stream for seconds.
    public static let scanEntriesRange = 10...1_000_000

    public init() {}
}

/// `system.archivist`: the ledger's housekeeper (seal, retain, list, verify,
/// restore archived segments; export a topic's range to a file).
public struct ArchivistConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: housekeeping waits for it without harm.
    public var required = false
    /// Where `export` writes its files (relative: to the server's working
    /// directory, as `ledger.dir`).
    public var outputDir = "data/exports"

    public init() {}
}

/// `system.engineer`: starts, stops and restarts the supervised agents,
/// lists their processes, and scaffolds new agents.
public struct EngineerConfig: Sendable, Equatable {
    public var enabled = true
    /// `/ready` waits for it: an operator may ask it at once.
    public var required = true
    /// Where `scaffold` writes, relative to the kernel's working directory
    /// (beside the ledger's `data/ledger`).
    public var dir = "data/agents"
    /// The users that may ask it anything: `default`, the user of a server
    /// with no `users:` (and every admin's redis-cli there), unless set.
    public var operators = ["default"]
    /// An operator's name, as `users:` takes one.
    public static let operatorsLimit = 64

    public init() {}
}

/// `system.scribe`: writes AGENTS.md and CITYMAP.md from live state.
public struct ScribeConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: documents wait for it without harm.
    public var required = false
    /// Where it writes AGENTS.md and CITYMAP.md (relative: to the server's
    /// working directory, as `ledger.dir`).
    public var outputDir = "data/docs"
    /// How long citymap waits for science's `topics` before writing the map
    /// from the wiring alone, in ms: science answers from memory, so two
    /// seconds means it is not there.
    public var scienceTimeoutMillis = 2000
    /// Under 10ms science could not answer even on a quiet machine; beyond a
    /// minute a person asking for the map has long given up.
    public static let scienceTimeoutMillisRange = 10...60_000

    public init() {}
}

/// The system agents that exist in code, in the order they are wired.
public enum SystemAgentID: String, Sendable, CaseIterable {
    case discovery
    case oracle
    case archivist
    case engineer
    case scribe
}

extension AgentConfig {
    /// A system agent as the kernel wires it: its id is one of
    /// `SystemAgentID` and it runs as `<executable> agent <id>`.
    public var isSystemAgent: Bool {
        SystemAgentID(rawValue: id) != nil && command?.dropFirst().first == "agent"
    }
}
