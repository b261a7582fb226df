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
    public var science = ScienceConfig()
    public var auditor = AuditorConfig()
    public var scribe = ScribeConfig()
    public var civic = CivicConfig()
    public var supremeCourt = SupremeCourtConfig()
    public var forum = ForumConfig()
    public var herald = HeraldConfig()
    public var envoy = EnvoyConfig()
    public var watchman = WatchmanConfig()
    /// `system.max_task_bytes`: the longest task payload a system agent
    /// takes (`VIMANA_MAX_TASK_BYTES`); a longer one is dead-lettered
    /// unparsed, reason `oversized: …`, which watchman counts as an
    /// `oversized` violation of its publisher. 64 KiB: the largest request
    /// of any system agent (a broadcast's 4 KiB content, a playbook's
    /// arguments) with room to spare, a sixteenth of the default `max_payload`.
    public var maxTaskBytes = 65_536
    /// From 64 bytes (a bare request) to the kernel's largest `max_payload`.
    public static let maxTaskBytesRange = 64...(512 << 20)
    /// `system.<agent>.max_task_bytes`: one agent's own, over `maxTaskBytes`.
    public var maxTaskBytesByAgent: [SystemAgentID: Int] = [:]

    public init() {}

    /// The limit system agent `id` is given.
    public func maxTaskBytes(for id: SystemAgentID) -> Int { maxTaskBytesByAgent[id] ?? maxTaskBytes }
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

/// `system.science`: topic analytics from the ledger, read forward with
/// LEDGER SCAN and kept in time buckets.
public struct ScienceConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: its counts catch up from its cursor whenever it joins.
    public var required = false
    /// Width of a time bucket, in seconds: the grain of every window.
    public var bucketSeconds = 60
    /// Under a second no timestamp is finer; over an hour a window of an hour would be one bucket.
    public static let bucketSecondsRange = 1...3600
    /// How long buckets are kept, in seconds: the longest window answered.
    public var retentionSeconds = 86_400
    /// From a minute to 30 days: memory is topics × (retention / bucket) buckets.
    public static let retentionSecondsRange = 60...2_592_000
    /// How often the counts are checkpointed to `events.science` (ms) while
    /// records come: queries see counts at most this old.
    public var checkpointMillis = 5000
    /// Under 100 ms the checkpoints would be most of events.science; over
    /// 10 minutes a restart rereads that much of the ledger.
    public static let checkpointMillisRange = 100...600_000
    /// How long the scanner waits when it has read everything (ms).
    public var pollMillis = 500
    public static let pollMillisRange = 10...60_000
    /// Records per LEDGER SCAN call (its COUNT).
    public var scanCount = 1000
    /// LEDGER SCAN's COUNT range.
    public static let scanCountRange = 1...10_000

    public init() {}
}

/// `system.auditor`: verifies the ledger's frames and the system agents'
/// event streams, periodically and on demand; a critical finding makes
/// `/health` degraded.
public struct AuditorConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: an audit waits for it without harm.
    public var required = false
    /// Seconds between two periodic audits (each reads every segment of the
    /// ledger once, on the kernel's maintenance thread). An hour finds damage
    /// the same day at a small fraction of the disk's time.
    public var intervalSeconds = 3600
    /// From a second (a small ledger, a test); beyond a week damage is found
    /// too late to act on. The interval is between two tasks published: an
    /// audit longer than it makes the next wait behind it (prefetch 1).
    public static let intervalSecondsRange = 1...604_800
    /// How many of the latest entries of each system agent's event stream
    /// a run checks (as oracle's `scan_entries`): a run's cost is bounded by it.
    public static let scanEntries = 10_000

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

/// `system.civic`: the registry, the licences and the credits.
public struct CivicConfig: Sendable, Equatable {
    public var enabled = true
    /// `/ready` waits for it: herald and forum ask it for every act.
    public var required = true
    /// The users that may register an agent for another user, grant
    /// credits, and suspend or revoke on their own authority.
    public var operators = ["default"]
    /// Credits granted to an agent at its registration (0: none).
    public var grant = 100
    /// At most a trillion, as any one amount (`CivicLimits.maxAmount`).
    public static let grantRange = 0...1_000_000_000_000
    /// How many of the latest entries of forum's, watchman's or
    /// supreme_court's events are read to find an authority: an authority is
    /// used soon after it is given, and a check's cost is bounded by it.
    public var scanEntries = 10_000
    public static let scanEntriesRange = 10...1_000_000

    public init() {}
}

/// `system.supreme_court`: appeals of suspended and revoked agents.
public struct SupremeCourtConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: an appeal waits for it without harm.
    public var required = false
    /// The users that review appeals and issue verdicts.
    public var judges = ["default"]
    /// The window before a review in which watchman's violations of the
    /// agent count as offences (seconds).
    public var offenceWindowSeconds = 86_400
    /// From a minute (a test) to 30 days.
    public static let offenceWindowSecondsRange = 60...2_592_000
    /// Mercy is possible with at most this many offences in the window.
    public var maxOffences = 3
    public static let maxOffencesRange = 0...1_000_000
    /// Entries of events.watchman a review reads.
    public var scanEntries = 10_000
    public static let scanEntriesRange = 10...1_000_000

    public init() {}
}

/// `system.forum`: proposals and votes (docs/SYSTEM-AGENTS.md, "forum").
/// Fractions are kept in millionths, so that a threshold compares with a
/// count of votes exactly (integers), never as a rounded double.
public struct ForumConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: a proposal waits for it without harm.
    public var required = false
    /// Credits civic charges the author of a proposal (its `charge`): a
    /// price on opening one, so that no one floods the forum for free.
    public var proposalCost: Int64 = 10
    /// civic's range of a charge's amount.
    public static let proposalCostRange: ClosedRange<Int64> = 0...1_000_000_000_000
    /// Seconds from a proposal's opening to its deadline.
    public var votingPeriodSeconds = 3600
    /// From a second (a test) to 30 days, beyond which a vote is forgotten before it counts.
    public static let votingPeriodSecondsRange = 1...2_592_000
    /// Approved when yes/(yes+no) is above it (millionths): a half by default, a plain majority.
    public var thresholdMillionths = 500_000
    /// Below 1: at 1 nothing could ever be approved.
    public static let thresholdMillionthsRange = 0...999_999
    /// The votes cast (abstain included) over the agents licensed must reach
    /// it (millionths): a half by default.
    public var quorumMillionths = 500_000
    public static let quorumMillionthsRange = 0...1_000_000
    /// What a millionth is of: a fraction's denominator.
    public static let fractionScale = 1_000_000

    public init() {}
}

/// `system.herald`: broadcasts by licensed agents (charged by civic) and
/// the city's announcements (docs/SYSTEM-AGENTS.md).
public struct HeraldConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: a broadcast waits for it without harm.
    public var required = false
    /// Credits civic charges the author of each broadcast (0: its licence
    /// is still checked, nothing is charged).
    public var broadcastCost: Int64 = 1
    /// civic's amounts: 0 to a million million.
    public static let broadcastCostRange: ClosedRange<Int64> = 0...1_000_000_000_000
    /// The longest content of a broadcast, in bytes.
    public var maxLength = 4096
    /// At most 1 MiB, the kernel's default `max_payload` (a broadcast is
    /// one message; a longer content is also refused when its message would
    /// not fit the kernel's own `max_payload`).
    public static let maxLengthRange = 1...(1 << 20)
    /// Regular expressions (ICU syntax, NSRegularExpression): a content in
    /// which one matches is refused. Checked when the configuration loads.
    public var forbidden: [String] = []
    /// Each is tried on every broadcast: a bounded list of bounded patterns.
    public static let forbiddenLimit = 256
    public static let forbiddenPatternBytes = 1024

    public init() {}
}

/// `system.envoy`: playbooks run step by step, each step's outcome
/// recorded (docs/SYSTEM-AGENTS.md, "envoy").
public struct EnvoyConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: a playbook's run waits for it without harm.
    public var required = false
    /// The directory of the playbooks (`*.yaml`), relative to the
    /// configuration file's directory unless absolute: `playbooks` next
    /// to config/phoenix.yaml is config/playbooks. Read when the
    /// configuration loads (`vimana check` validates every playbook) and by envoy at its start.
    public var playbooks = "playbooks"
    /// The playbooks read from it when the configuration loaded.
    public var loaded: [Playbook] = []

    public init() {}
}

/// `system.watchman`: enforcement (docs/SYSTEM-AGENTS.md, "watchman").
public struct WatchmanConfig: Sendable, Equatable {
    public var enabled = true
    /// Not required: a violation waits for it without harm.
    public var required = false
    /// How often its observer looks (ACL LOG, the system agents' dead letters, AGENTS), in ms.
    public var intervalMillis = 5000
    /// From a tenth of a second (a test) to an hour.
    public static let intervalMillisRange = 100...3_600_000
    /// The window in which an agent's violations count towards a suspension (seconds).
    public var windowSeconds = 3600
    /// From a second (a test) to 30 days.
    public static let windowSecondsRange = 1...2_592_000
    /// Violations of an agent in the window that make a suspend decision.
    public var suspendAfter = 3
    public static let suspendAfterRange = 1...1_000_000
    /// Messages per second a user may publish, as science counts them over a minute.
    public var maxPublishRate = 1000
    public static let maxPublishRateRange = 1...100_000_000
    /// Tasks an agent holds past ack_wait (AGENTS's `expired`) that make one
    /// `ack_wait` violation: a sight each time its count reaches another
    /// multiple. One expiry can be a slow task; a steady run of them is an
    /// agent that takes tasks and does not answer.
    public var ackWaitAfter = 3
    public static let ackWaitAfterRange = 1...1_000_000

    public init() {}
}

/// The system agents that exist in code, in the order they are wired.
public enum SystemAgentID: String, Sendable, CaseIterable {
    case discovery
    case oracle
    case archivist
    case engineer
    case science
    case auditor
    case scribe
    case civic
    case supremeCourt = "supreme_court"
    case forum
    case herald
    case envoy
    case watchman
}

extension AgentConfig {
    /// A system agent as the kernel wires it: its id is one of
    /// `SystemAgentID` and it runs as `<executable> agent <id>`.
    public var isSystemAgent: Bool {
        SystemAgentID(rawValue: id) != nil && command?.dropFirst().first == "agent"
    }
}
