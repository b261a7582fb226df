import Foundation
import VimanaConfig
import VimanaCore

/// The `system:` section of phoenix.yaml (`SystemConfig`; Protocol/AGENTS.md §11).
extension Schema {
    func system(_ node: YAMLNode) throws(ConfigError) -> SystemConfig {
        var c = SystemConfig()
        if node.isNull { return c }
        var s = try section(node, "system", keys: ["enabled", "max_task_bytes"] + SystemAgentID.allCases.map(\.rawValue))
        if let n = s["enabled"], let v = try boolean(n, "system.enabled") { c.enabled = v }
        if let n = s["max_task_bytes"], let v = try size(n, "system.max_task_bytes", SystemConfig.maxTaskBytesRange) {
            c.maxTaskBytes = v
        }
        // `max_task_bytes` in an agent's own section is taken here, for
        // every agent alike, and the rest goes to the agent's parser.
        for id in SystemAgentID.allCases {
            guard let n = s[id.rawValue], case .mapping(let entries) = n.content else { continue }
            let key = "system.\(id.rawValue).max_task_bytes"
            if let e = entries.first(where: { $0.key == "max_task_bytes" }),
               let v = try size(e.value, key, SystemConfig.maxTaskBytesRange) {
                c.maxTaskBytesByAgent[id] = v
            }
            s[id.rawValue] = YAMLNode(content: .mapping(entries.filter { $0.key != "max_task_bytes" }), line: n.line, column: n.column)
        }
        if let n = s["discovery"] { c.discovery = try discovery(n) }
        if let n = s["oracle"] { c.oracle = try oracle(n) }
        if let n = s["archivist"] { c.archivist = try archivist(n) }
        if let n = s["engineer"] { c.engineer = try engineer(n) }
        if let n = s["science"] { c.science = try science(n) }
        if let n = s["auditor"] { c.auditor = try auditor(n) }
        if let n = s["scribe"] { c.scribe = try scribe(n) }
        if let n = s["civic"] { c.civic = try civic(n) }
        if let n = s["supreme_court"] { c.supremeCourt = try supremeCourt(n) }
        if let n = s["forum"] { c.forum = try forum(n) }
        if let n = s["herald"] { c.herald = try herald(n) }
        if let n = s["envoy"] { c.envoy = try envoy(n) }
        if let n = s["watchman"] { c.watchman = try watchman(n) }
        return c
    }

    /// `system.envoy.playbooks` as a path: relative to the configuration file's directory unless absolute.
    static func playbookDirectory(_ dir: String, configFile: String) -> String {
        if dir.hasPrefix("/") { return dir }
        let base = (configFile as NSString).deletingLastPathComponent
        return base.isEmpty ? dir : (base as NSString).appendingPathComponent(dir)
    }

    private func envoy(_ node: YAMLNode) throws(ConfigError) -> EnvoyConfig {
        var c = EnvoyConfig()
        if node.isNull { return c }
        let s = try section(node, "system.envoy", keys: ["enabled", "required", "max_task_bytes", "playbooks"])
        if let n = s["enabled"], let v = try boolean(n, "system.envoy.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.envoy.required") { c.required = v }
        if let n = s["playbooks"], let v = try path(n, "system.envoy.playbooks") { c.playbooks = v }
        return c
    }

    private func watchman(_ node: YAMLNode) throws(ConfigError) -> WatchmanConfig {
        var c = WatchmanConfig()
        if node.isNull { return c }
        let s = try section(node, "system.watchman", keys: ["enabled", "required", "max_task_bytes", "interval", "window", "suspend_after",
                                                            "max_publish_rate", "ack_wait_after"])
        if let n = s["enabled"], let v = try boolean(n, "system.watchman.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.watchman.required") { c.required = v }
        if let n = s["interval"], let v = try milliseconds(n, "system.watchman.interval", ConfigLimits.watchmanIntervalMillis) {
            c.intervalMillis = v
        }
        if let n = s["window"], let v = try seconds(n, "system.watchman.window", ConfigLimits.watchmanWindowSeconds) {
            c.windowSeconds = v
        }
        if let n = s["suspend_after"], let v = try integer(n, "system.watchman.suspend_after", ConfigLimits.watchmanSuspendAfter) {
            c.suspendAfter = v
        }
        if let n = s["max_publish_rate"],
           let v = try integer(n, "system.watchman.max_publish_rate", ConfigLimits.watchmanMaxPublishRate) {
            c.maxPublishRate = v
        }
        if let n = s["ack_wait_after"], let v = try integer(n, "system.watchman.ack_wait_after", ConfigLimits.watchmanAckWaitAfter) {
            c.ackWaitAfter = v
        }
        return c
    }

    private func herald(_ node: YAMLNode) throws(ConfigError) -> HeraldConfig {
        var c = HeraldConfig()
        if node.isNull { return c }
        let s = try section(node, "system.herald", keys: ["enabled", "required", "max_task_bytes", "broadcast_cost", "max_length", "forbidden"])
        if let n = s["enabled"], let v = try boolean(n, "system.herald.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.herald.required") { c.required = v }
        if let n = s["broadcast_cost"], let v = try integer(n, "system.herald.broadcast_cost", ConfigLimits.heraldBroadcastCost) {
            c.broadcastCost = Int64(v)
        }
        if let n = s["max_length"], let v = try integer(n, "system.herald.max_length", ConfigLimits.heraldMaxLength) {
            c.maxLength = v
        }
        if let n = s["forbidden"] {
            // Each pattern compiled now, so a bad one is an error at its own line and column.
            let items: [YAMLNode]
            if case .sequence(let list) = n.content { items = list } else { items = n.isNull ? [] : [n] }
            guard items.count <= HeraldConfig.forbiddenLimit else {
                throw mismatch(n, "system.herald.forbidden", "at most \(HeraldConfig.forbiddenLimit) regular expressions")
            }
            for (i, item) in items.enumerated() {
                let key = "system.herald.forbidden[\(i)]"
                let expected = "a regular expression of 1 to \(HeraldConfig.forbiddenPatternBytes) bytes"
                guard case .scalar(let text, _) = item.content, !item.isNull, !text.isEmpty,
                      text.utf8.count <= HeraldConfig.forbiddenPatternBytes else {
                    throw mismatch(item, key, expected, note: item.isNull ? " (null)" : "")
                }
                do { _ = try NSRegularExpression(pattern: text) } catch {
                    throw fail(item, "\(key): '\(text)' is not a valid regular expression (ICU syntax, as NSRegularExpression reads it)")
                }
                c.forbidden.append(text)
            }
        }
        return c
    }

    private func forum(_ node: YAMLNode) throws(ConfigError) -> ForumConfig {
        var c = ForumConfig()
        if node.isNull { return c }
        let s = try section(node, "system.forum", keys: ["enabled", "required", "max_task_bytes", "proposal_cost", "voting_period",
                                                         "voting_threshold", "quorum"])
        if let n = s["enabled"], let v = try boolean(n, "system.forum.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.forum.required") { c.required = v }
        if let n = s["proposal_cost"] {
            let r = ConfigLimits.forumProposalCost
            if let v = try integer(n, "system.forum.proposal_cost", Int(r.lowerBound)...Int(r.upperBound)) { c.proposalCost = Int64(v) }
        }
        if let n = s["voting_period"], let v = try seconds(n, "system.forum.voting_period", ConfigLimits.forumVotingPeriodSeconds) {
            c.votingPeriodSeconds = v
        }
        if let n = s["voting_threshold"],
           let v = try fraction(n, "system.forum.voting_threshold", ConfigLimits.forumThresholdMillionths) {
            c.thresholdMillionths = v
        }
        if let n = s["quorum"], let v = try fraction(n, "system.forum.quorum", ConfigLimits.forumQuorumMillionths) {
            c.quorumMillionths = v
        }
        return c
    }

    /// A decimal fraction (`Units.parseFraction`) in millionths within `range`.
    private func fraction(_ node: YAMLNode, _ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        let upper = range.upperBound == ForumConfig.fractionScale ? "1" : "below 1"
        let expected = "a decimal from \(Units.formatFraction(range.lowerBound)) to \(upper), at most 6 decimals (like 0.5 or 0.667)"
        guard let text = try scalar(node, key, expected) else { return nil }
        guard let v = try? Units.parseFraction(text), range.contains(v) else { throw mismatch(node, key, expected) }
        return v
    }

    private func science(_ node: YAMLNode) throws(ConfigError) -> ScienceConfig {
        var c = ScienceConfig()
        if node.isNull { return c }
        let s = try section(node, "system.science", keys: ["enabled", "required", "max_task_bytes", "bucket", "retention",
                                                           "checkpoint_interval", "poll_interval", "scan_count"])
        if let n = s["enabled"], let v = try boolean(n, "system.science.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.science.required") { c.required = v }
        if let n = s["bucket"], let v = try seconds(n, "system.science.bucket", ConfigLimits.scienceBucketSeconds) {
            c.bucketSeconds = v
        }
        if let n = s["retention"], let v = try seconds(n, "system.science.retention", ConfigLimits.scienceRetentionSeconds) {
            c.retentionSeconds = v
        }
        guard c.retentionSeconds >= c.bucketSeconds else {
            throw mismatch(s["retention"] ?? node, "system.science.retention", "at least system.science.bucket (\(c.bucketSeconds)s)")
        }
        if let n = s["checkpoint_interval"],
           let v = try milliseconds(n, "system.science.checkpoint_interval", ConfigLimits.scienceCheckpointMillis) {
            c.checkpointMillis = v
        }
        if let n = s["poll_interval"], let v = try milliseconds(n, "system.science.poll_interval", ConfigLimits.sciencePollMillis) {
            c.pollMillis = v
        }
        if let n = s["scan_count"], let v = try integer(n, "system.science.scan_count", ConfigLimits.scienceScanCount) {
            c.scanCount = v
        }
        return c
    }

    private func auditor(_ node: YAMLNode) throws(ConfigError) -> AuditorConfig {
        var a = AuditorConfig()
        if node.isNull { return a }
        let s = try section(node, "system.auditor", keys: ["enabled", "required", "max_task_bytes", "interval_seconds"])
        if let n = s["enabled"], let v = try boolean(n, "system.auditor.enabled") { a.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.auditor.required") { a.required = v }
        if let n = s["interval_seconds"],
           let v = try integer(n, "system.auditor.interval_seconds", ConfigLimits.auditorIntervalSeconds) {
            a.intervalSeconds = v
        }
        return a
    }

    private func archivist(_ node: YAMLNode) throws(ConfigError) -> ArchivistConfig {
        var a = ArchivistConfig()
        if node.isNull { return a }
        let s = try section(node, "system.archivist", keys: ["enabled", "required", "max_task_bytes", "output_dir"])
        if let n = s["enabled"], let v = try boolean(n, "system.archivist.enabled") { a.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.archivist.required") { a.required = v }
        if let n = s["output_dir"], let v = try path(n, "system.archivist.output_dir") { a.outputDir = v }
        return a
    }

    private func scribe(_ node: YAMLNode) throws(ConfigError) -> ScribeConfig {
        var c = ScribeConfig()
        if node.isNull { return c }
        let s = try section(node, "system.scribe", keys: ["enabled", "required", "max_task_bytes", "output_dir", "science_timeout"])
        if let n = s["enabled"], let v = try boolean(n, "system.scribe.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.scribe.required") { c.required = v }
        if let n = s["output_dir"], let v = try path(n, "system.scribe.output_dir") { c.outputDir = v }
        if let n = s["science_timeout"],
           let v = try milliseconds(n, "system.scribe.science_timeout", ConfigLimits.scribeScienceTimeoutMillis) {
            c.scienceTimeoutMillis = v
        }
        return c
    }

    private func civic(_ node: YAMLNode) throws(ConfigError) -> CivicConfig {
        var c = CivicConfig()
        if node.isNull { return c }
        let s = try section(node, "system.civic", keys: ["enabled", "required", "max_task_bytes", "operators", "grant", "scan_entries"])
        if let n = s["enabled"], let v = try boolean(n, "system.civic.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.civic.required") { c.required = v }
        if let n = s["operators"], let v = try strings(n, "system.civic.operators") {
            guard v.count <= EngineerConfig.operatorsLimit else {
                throw mismatch(n, "system.civic.operators", "at most \(EngineerConfig.operatorsLimit) user names")
            }
            c.operators = v
        }
        if let n = s["grant"], let v = try integer(n, "system.civic.grant", ConfigLimits.civicGrant) { c.grant = v }
        if let n = s["scan_entries"], let v = try integer(n, "system.civic.scan_entries", ConfigLimits.civicScanEntries) {
            c.scanEntries = v
        }
        return c
    }

    private func supremeCourt(_ node: YAMLNode) throws(ConfigError) -> SupremeCourtConfig {
        var c = SupremeCourtConfig()
        if node.isNull { return c }
        let s = try section(node, "system.supreme_court", keys: ["enabled", "required", "max_task_bytes", "judges", "offence_window", "max_offences",
                                                                 "scan_entries"])
        if let n = s["enabled"], let v = try boolean(n, "system.supreme_court.enabled") { c.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.supreme_court.required") { c.required = v }
        if let n = s["judges"], let v = try strings(n, "system.supreme_court.judges") {
            guard v.count <= EngineerConfig.operatorsLimit else {
                throw mismatch(n, "system.supreme_court.judges", "at most \(EngineerConfig.operatorsLimit) user names")
            }
            c.judges = v
        }
        if let n = s["offence_window"],
           let v = try seconds(n, "system.supreme_court.offence_window", ConfigLimits.courtOffenceWindowSeconds) {
            c.offenceWindowSeconds = v
        }
        if let n = s["max_offences"], let v = try integer(n, "system.supreme_court.max_offences", ConfigLimits.courtMaxOffences) {
            c.maxOffences = v
        }
        if let n = s["scan_entries"], let v = try integer(n, "system.supreme_court.scan_entries", ConfigLimits.courtScanEntries) {
            c.scanEntries = v
        }
        return c
    }

    private func engineer(_ node: YAMLNode) throws(ConfigError) -> EngineerConfig {
        var e = EngineerConfig()
        if node.isNull { return e }
        let s = try section(node, "system.engineer", keys: ["enabled", "required", "max_task_bytes", "dir", "operators"])
        if let n = s["enabled"], let v = try boolean(n, "system.engineer.enabled") { e.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.engineer.required") { e.required = v }
        if let n = s["dir"], let v = try path(n, "system.engineer.dir") { e.dir = v }
        if let n = s["operators"], let v = try strings(n, "system.engineer.operators") {
            guard v.count <= EngineerConfig.operatorsLimit else {
                throw mismatch(n, "system.engineer.operators", "at most \(EngineerConfig.operatorsLimit) user names")
            }
            e.operators = v
        }
        return e
    }

    private func oracle(_ node: YAMLNode) throws(ConfigError) -> OracleConfig {
        var o = OracleConfig()
        if node.isNull { return o }
        let s = try section(node, "system.oracle", keys: ["enabled", "required", "max_task_bytes", "scan_entries"])
        if let n = s["enabled"], let v = try boolean(n, "system.oracle.enabled") { o.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.oracle.required") { o.required = v }
        if let n = s["scan_entries"], let v = try integer(n, "system.oracle.scan_entries", ConfigLimits.oracleScanEntries) {
            o.scanEntries = v
        }
        return o
    }

    private func discovery(_ node: YAMLNode) throws(ConfigError) -> DiscoveryConfig {
        var d = DiscoveryConfig()
        if node.isNull { return d }
        let s = try section(node, "system.discovery", keys: ["enabled", "required", "max_task_bytes", "poll_interval"])
        if let n = s["enabled"], let v = try boolean(n, "system.discovery.enabled") { d.enabled = v }
        if let n = s["required"], let v = try boolean(n, "system.discovery.required") { d.required = v }
        if let n = s["poll_interval"],
           let v = try milliseconds(n, "system.discovery.poll_interval", ConfigLimits.discoveryPollMillis) {
            d.pollMillis = v
        }
        return d
    }
}

extension Configuration {
    /// `--no-system-agents` (or `system: {enabled: false}`): the kernel alone.
    public mutating func disableSystemAgents() {
        system.enabled = false
        flags["system.enabled"] = "--no-system-agents"
    }

    /// The system agents as the kernel wires them (Protocol/AGENTS.md §11):
    /// one external agent per system agent that exists, each started as
    /// `<executable> agent <id>` and running as its made user `agent:<id>`;
    /// a disabled one is listed, not wired. None when `system.enabled` is
    /// false or the ledger is off (a system agent's state is its events).
    /// Throws when a declared agent already has a system agent's id.
    public func systemAgents(executable: String) throws(ConfigError) -> [AgentConfig] {
        guard system.enabled, ledger.enabled else { return [] }
        var wired: [AgentConfig] = []
        for id in SystemAgentID.allCases {
            if let clash = agents.first(where: { $0.id == id.rawValue }) {
                // A disabled system agent leaves its id to the file's agent.
                if !systemAgentEnabled(id) { continue }
                throw ConfigError(path: source, line: clash.line, column: clash.column,
                                  message: "agents: \(id.rawValue): this id is the system agent \(id.rawValue)'s;"
                                      + " rename the agent, or set system.\(id.rawValue).enabled: false to use the id")
            }
            var a = AgentConfig(id: id.rawValue, subscribes: ["tasks.\(id.rawValue)"])
            a.command = [executable, "agent", id.rawValue]
            a.restart = .always
            switch id {
            case .discovery:
                a.description = "the directory of agents: list, describe, find_by_capability, announce"
                a.enabled = system.discovery.enabled
                a.required = system.discovery.required
                a.capabilities = ["directory"]
                a.systemCommands = ["agents"]
                a.env = ["VIMANA_DISCOVERY_POLL_MS": String(system.discovery.pollMillis)]
            case .oracle:
                a.description = "answers questions about the system: system_health, agent_status, timeline, explain"
                a.enabled = system.oracle.enabled
                a.required = system.oracle.required
                a.capabilities = ["health", "timeline"]
                a.systemRules = Self.oracleRules
                a.env = ["VIMANA_ORACLE_SCAN": String(system.oracle.scanEntries)]
            case .archivist:
                a.description = "the ledger's housekeeper: seal_now, archive_now, list_archives, verify_archive, restore, export"
                a.enabled = system.archivist.enabled
                a.required = system.archivist.required
                a.capabilities = ["ledger", "archive", "export"]
                a.systemRules = Self.archivistRules
                a.env = ["VIMANA_ARCHIVIST_DIR": system.archivist.outputDir]
            case .engineer:
                a.description = "starts, stops and restarts supervised agents, lists their processes, scaffolds new agents"
                a.enabled = system.engineer.enabled
                a.required = system.engineer.required
                a.capabilities = ["processes", "scaffold"]
                a.systemCommands = ["agent|ps", "agent|start", "agent|stop", "agent|restart"]
                let dir = system.engineer.dir.hasPrefix("/") ? system.engineer.dir
                    : FileManager.default.currentDirectoryPath + "/" + system.engineer.dir
                a.env = ["VIMANA_ENGINEER_DIR": dir,
                         "VIMANA_ENGINEER_OPERATORS": "[" + system.engineer.operators.map(Log.jsonString).joined(separator: ",") + "]"]
            case .science:
                let c = system.science
                a.description = "topic analytics from the ledger: topics, topic_stats, status"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["analytics"]
                a.systemRules = Self.scienceRules
                a.env = ["VIMANA_SCIENCE_BUCKET_S": String(c.bucketSeconds), "VIMANA_SCIENCE_RETENTION_S": String(c.retentionSeconds),
                         "VIMANA_SCIENCE_CHECKPOINT_MS": String(c.checkpointMillis), "VIMANA_SCIENCE_POLL_MS": String(c.pollMillis),
                         "VIMANA_SCIENCE_SCAN_COUNT": String(c.scanCount)]
            case .auditor:
                a.description = "verifies the ledger's frames and the system agents' event streams: verify_ledger, check_streams, audit, findings"
                a.enabled = system.auditor.enabled
                a.required = system.auditor.required
                a.capabilities = ["audit"]
                a.systemRules = Self.auditorRules
                a.env = ["VIMANA_AUDITOR_INTERVAL": String(system.auditor.intervalSeconds),
                         "VIMANA_CIVIC_OPERATORS": "[" + system.civic.operators.map(Log.jsonString).joined(separator: ",") + "]"]
            case .scribe:
                a.description = "writes AGENTS.md and CITYMAP.md from live state: agents_md, citymap, write_all"
                a.enabled = system.scribe.enabled
                a.required = system.scribe.required
                a.capabilities = ["documents"]
                a.systemRules = Self.scribeRules
                a.env = ["VIMANA_SCRIBE_DIR": system.scribe.outputDir,
                         "VIMANA_SCRIBE_SCIENCE_TIMEOUT_MS": String(system.scribe.scienceTimeoutMillis)]
            case .civic:
                a.description = "the registry, the licences and the credits: register, check_license, get_balance, get_registry, charge, grant, transfer, suspend, revoke, reinstate"
                a.enabled = system.civic.enabled
                a.required = system.civic.required
                a.capabilities = ["registry", "licences", "credits"]
                a.systemRules = Self.civicRules
                a.env = ["VIMANA_CIVIC_OPERATORS": "[" + system.civic.operators.map(Log.jsonString).joined(separator: ",") + "]",
                         "VIMANA_CIVIC_GRANT": String(system.civic.grant),
                         "VIMANA_CIVIC_SCAN": String(system.civic.scanEntries)]
            case .supremeCourt:
                let c = system.supremeCourt
                a.description = "appeals of suspended and revoked agents: file_appeal, review, issue_verdict, get_appeal, list_precedents"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["appeals"]
                a.systemRules = Self.supremeCourtRules
                a.env = ["VIMANA_COURT_JUDGES": "[" + c.judges.map(Log.jsonString).joined(separator: ",") + "]",
                         "VIMANA_COURT_WINDOW_S": String(c.offenceWindowSeconds), "VIMANA_COURT_MAX_OFFENCES": String(c.maxOffences),
                         "VIMANA_COURT_SCAN": String(c.scanEntries)]
            case .forum:
                let c = system.forum
                a.description = "proposals and votes: create_proposal, vote, get_proposal, list_proposals"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["proposals", "votes"]
                a.systemRules = Self.forumRules
                a.env = ["VIMANA_FORUM_COST": String(c.proposalCost), "VIMANA_FORUM_PERIOD_S": String(c.votingPeriodSeconds),
                         "VIMANA_FORUM_THRESHOLD_PPM": String(c.thresholdMillionths),
                         "VIMANA_FORUM_QUORUM_PPM": String(c.quorumMillionths)]
            case .herald:
                let c = system.herald
                a.description = "broadcasts by licensed agents, charged by civic, and the city's announcements: publish, status"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["broadcast", "announcements"]
                a.systemRules = Self.heraldRules
                a.env = ["VIMANA_HERALD_COST": String(c.broadcastCost), "VIMANA_HERALD_MAX_LENGTH": String(c.maxLength),
                         "VIMANA_HERALD_FORBIDDEN": "[" + c.forbidden.map(Log.jsonString).joined(separator: ",") + "]"]
            case .envoy:
                let c = system.envoy
                a.description = "playbooks run step by step, each step recorded: run_playbook, status, list_playbooks"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["playbooks"]
                a.systemRules = Self.envoyRules
                let dir = Schema.playbookDirectory(c.playbooks, configFile: source)
                // Absolute: envoy's working directory may be another.
                a.env = ["VIMANA_ENVOY_PLAYBOOKS": dir.hasPrefix("/") ? dir
                    : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(dir)]
            case .watchman:
                let c = system.watchman
                a.description = "enforcement: violations observed, decisions (warn, suspend through civic): report, status"
                a.enabled = c.enabled
                a.required = c.required
                a.capabilities = ["enforcement", "violations"]
                a.systemRules = Self.watchmanRules
                a.env = ["VIMANA_WATCHMAN_INTERVAL_MS": String(c.intervalMillis), "VIMANA_WATCHMAN_WINDOW_S": String(c.windowSeconds),
                         "VIMANA_WATCHMAN_SUSPEND_AFTER": String(c.suspendAfter),
                         "VIMANA_WATCHMAN_MAX_PUBLISH_RATE": String(c.maxPublishRate),
                         "VIMANA_WATCHMAN_ACK_WAIT_AFTER": String(c.ackWaitAfter)]
            }
            a.env["VIMANA_MAX_TASK_BYTES"] = String(system.maxTaskBytes(for: id))
            wired.append(a)
        }
        // discovery's directory, scribe's, forum's (a proposal's target
        // and the user its reply comes from) and watchman's (the user an
        // agent that holds tasks past ack_wait runs as): every agent wired,
        // as discovery describes them.
        let directory = Self.directoryJSON(agents + wired)
        for (id, variable) in [(SystemAgentID.discovery, "VIMANA_DISCOVERY_AGENTS"), (.scribe, "VIMANA_SCRIBE_AGENTS"),
                               (.forum, "VIMANA_FORUM_AGENTS"), (.watchman, "VIMANA_WATCHMAN_AGENTS")] {
            guard let d = wired.firstIndex(where: { $0.id == id.rawValue }) else { continue }
            // Beyond it execve fails with E2BIG and the agent never starts: said now, not at every restart.
            let bytes = variable.utf8.count + 1 + directory.utf8.count + 1
            guard bytes <= ConfigLimits.environmentEntryBytes || !wired[d].enabled else {
                throw ConfigError(path: source, message: "system.\(id.rawValue): the directory of the \(agents.count + wired.count)"
                    + " agents is \(bytes) bytes, beyond the \(ConfigLimits.environmentEntryBytes) bytes one environment"
                    + " variable may hold on Linux (MAX_ARG_STRLEN); shorten the agents' descriptions and capabilities,"
                    + " or set system.\(id.rawValue).enabled: false")
            }
            wired[d].env[variable] = directory
        }
        return wired
    }

    private func systemAgentEnabled(_ id: SystemAgentID) -> Bool {
        switch id {
        case .discovery: system.discovery.enabled
        case .oracle: system.oracle.enabled
        case .archivist: system.archivist.enabled
        case .engineer: system.engineer.enabled
        case .science: system.science.enabled
        case .auditor: system.auditor.enabled
        case .scribe: system.scribe.enabled
        case .civic: system.civic.enabled
        case .supremeCourt: system.supremeCourt.enabled
        case .forum: system.forum.enabled
        case .herald: system.herald.enabled
        case .envoy: system.envoy.enabled
        case .watchman: system.watchman.enabled
        }
    }

    /// The commands the agent kit sends (Protocol/AGENTS.md §11, "the
    /// kit's commands"): every system agent's user made of its own rules has them.
    static let kitCommands = [
        "+ping", "+hello", "+auth", "+quit", "+reset",
        "+client|id", "+client|getname", "+client|setname", "+client|setinfo", "+client|info", "+client|publisher",
        "+agent|join", "+agent|leave", "+ack", "+nack", "+progress", "+publish",
        "+xadd", "+xrange", "+xrevrange", "+xread", "+xlen", "+watch", "+unwatch", "+multi", "+exec", "+discard",
    ]

    /// The kit's commands and SUBSCRIBE and UNSUBSCRIBE: an agent that asks
    /// others listens on its reply topic (Protocol/AGENTS.md §10).
    static let askingKitCommands = kitCommands + ["+subscribe", "+unsubscribe"]

    /// oracle's user (Protocol/AGENTS.md §11): the kit's commands, INFO and
    /// AGENTS; its task topic (ACK, NACK, PROGRESS); every event stream for
    /// reading only; its dead-letter topic for writing only; and every
    /// channel, for the replies; and ACL DRYRUN, to check that a caller
    /// could read an event stream itself before oracle answers with it
    /// (oracle reads every one). It can change no state but its own tasks'.
    static let oracleRules = kitCommands + [
        "+info", "+agents", "+acl|dryrun", "~tasks.oracle", "~snapshots.oracle", "%R~events.*", "%W~dead.oracle",
        "allchannels",
    ]

    /// archivist's user (Protocol/AGENTS.md §11): the kit's commands; LEDGER's
    /// subcommands (allowed to no other user but admins) and ACL DRYRUN, to
    /// lend them only to a caller the kernel would allow them
    /// (`KernelRead.command(_:asIf:)`); its tasks, its own event and snapshot streams,
    /// every key for reading (export reads any topic its caller may), its
    /// dead-letter topic for writing only; every channel, for the replies.
    static let archivistRules = kitCommands + [
        "+ledger|seal", "+ledger|retain", "+ledger|archives", "+ledger|verify", "+ledger|restore", "+acl|dryrun",
        "~tasks.archivist", "~events.archivist", "~snapshots.archivist", "%R~*", "%W~dead.archivist", "allchannels",
    ]

    /// science's user (Protocol/AGENTS.md §11): the kit's commands; LEDGER
    /// SCAN (allowed to no other user but admins: it reads every record's
    /// metadata, never a payload) and ACL DRYRUN (to answer a caller only
    /// what the kernel would let it see); its tasks and its own event and snapshot streams; its
    /// dead-letter topic for writing only; every channel, for the replies.
    static let scienceRules = kitCommands + [
        "+ledger|scan", "+acl|dryrun", "~tasks.science", "~events.science", "~snapshots.science", "%W~dead.science",
        "allchannels",
    ]

    /// auditor's user (Protocol/AGENTS.md §11): the kit's commands; LEDGER
    /// CHECK (lent to a caller the kernel would allow it: ACL DRYRUN), AGENTS,
    /// every event stream for reading only, and HEALTH REPORT and CLEAR
    /// (allowed to no other user but admins), to put a critical finding on
    /// /health; its tasks (its own periodic `audit` too), its own event
    /// and snapshot streams, its dead-letter topic for writing only; every channel, for the replies.
    static let auditorRules = kitCommands + [
        "+agents", "+ledger|check", "+health|report", "+health|clear", "+acl|dryrun", "~tasks.auditor",
        "~events.auditor", "~snapshots.auditor", "%R~events.*", "%W~dead.auditor", "allchannels",
    ]

    /// scribe's user (Protocol/AGENTS.md §11): the kit's commands (as
    /// oracle's) with SUBSCRIBE and UNSUBSCRIBE (its reply topic for what it
    /// asks science), AGENTS, LEDGER SCAN's right (science answers `topics`
    /// only to a user with it; scribe never sends it) and ACL DRYRUN (to
    /// show what science counted only to a caller with that right); its tasks, its own event and snapshot streams, its
    /// dead-letter topic for writing only; every channel, for its replies and
    /// its tasks to science. It reads no other stream and writes no other key.
    static let scribeRules = askingKitCommands + [
        "+agents", "+ledger|scan", "+acl|dryrun", "~tasks.scribe", "~events.scribe", "~snapshots.scribe",
        "%W~dead.scribe", "allchannels",
    ]

    /// civic's user (Protocol/AGENTS.md §11): the kit's commands (as
    /// oracle's); LICENSE SET and GET (allowed to no other user but admins),
    /// to tell the kernel the licences its events set; the event streams its
    /// authorities are in (forum's, watchman's, supreme_court's), for
    /// reading only; its tasks, its own event and snapshot streams, its
    /// dead-letter topic for writing only; every channel, for the replies.
    static let civicRules = kitCommands + [
        "+license|set", "+license|get", "+license|list", "~tasks.civic", "~events.civic", "~snapshots.civic",
        "%R~events.forum", "%R~events.watchman", "%R~events.supreme_court", "%W~dead.civic", "allchannels",
    ]

    /// supreme_court's user (Protocol/AGENTS.md §11): the kit's commands
    /// with SUBSCRIBE and UNSUBSCRIBE (its reply topic for what it asks
    /// civic); watchman's events for reading only (an agent's offences);
    /// its tasks (its own `enact` too), its own event and snapshot streams,
    /// its dead-letter topic for writing only; every channel, for its
    /// replies and its tasks to civic.
    static let supremeCourtRules = askingKitCommands + [
        "~tasks.supreme_court", "~events.supreme_court", "~snapshots.supreme_court", "%R~events.watchman",
        "%W~dead.supreme_court", "allchannels",
    ]

    /// forum's user (Protocol/AGENTS.md §11): the kit's commands with
    /// SUBSCRIBE and UNSUBSCRIBE (its reply topic for what it asks civic and
    /// a proposal's target); its tasks (its own `close` and `execute` too),
    /// its own event and snapshot streams, its dead-letter topic for writing
    /// only; every channel, for its replies and its tasks to civic and to a
    /// proposal's target. It reads no other stream and writes no other key.
    static let forumRules = askingKitCommands + [
        "~tasks.forum", "~events.forum", "~snapshots.forum", "%W~dead.forum", "allchannels",
    ]

    /// herald's user (Protocol/AGENTS.md §11): the kit's commands (as
    /// oracle's) with SUBSCRIBE and UNSUBSCRIBE (the reply topic of its
    /// asks to civic); its tasks (its watcher publishes `announce` there),
    /// its own event and snapshot streams; the event streams it announces
    /// from, for reading only; its dead-letter topic for writing only; and
    /// every channel: its replies, its asks to tasks.civic, and its
    /// broadcasts (PUBLISH names channels, never keys, so `broadcast.*`,
    /// recorded or not, needs no key). No admin command.
    static let heraldRules = askingKitCommands + [
        "~tasks.herald", "~events.herald", "~snapshots.herald", "%R~events.civic", "%R~events.forum",
        "%R~events.discovery", "%R~events.supreme_court", "%W~dead.herald", "allchannels",
    ]

    /// envoy's user (Protocol/AGENTS.md §11): the kit's commands with
    /// SUBSCRIBE and UNSUBSCRIBE (the reply topic of a playbook's calls);
    /// its tasks (its follower publishes `step` there), its own event and
    /// snapshot streams, its dead-letter topic for writing only; every
    /// channel: its replies and a playbook's calls to `tasks.<agent>`.
    static let envoyRules = askingKitCommands + [
        "~tasks.envoy", "~events.envoy", "~snapshots.envoy", "%W~dead.envoy", "allchannels",
    ]

    /// watchman's user (Protocol/AGENTS.md §11): the kit's commands with
    /// SUBSCRIBE and UNSUBSCRIBE (its reply topic for what it asks civic);
    /// ACL LOG (the kernel's licence refusals), with no other admin command;
    /// AGENTS (each agent's `expired` count) and INFO (the `run_id` that
    /// count belongs to), both read-only;
    /// LEDGER SCAN (records' metadata, never a payload: science answers
    /// `topics`, the publish rates, only to a caller that may run it);
    /// every `dead.*` stream for reading only (the system agents' dead
    /// letters); its tasks (its own `observe` and `enforce` too), its own
    /// event and snapshot streams, its dead-letter topic for writing too;
    /// every channel, for its replies and its tasks to civic.
    static let watchmanRules = askingKitCommands + [
        "+acl|log", "+ledger|scan", "+agents", "+info", "~tasks.watchman", "~events.watchman", "~snapshots.watchman", "%R~dead.*",
        "%W~dead.watchman", "allchannels",
    ]

    /// What discovery knows of each agent from the configuration, as a JSON
    /// array of `{id, name, description, kind, subscribes, publishes, user,
    /// capabilities, system, enabled}` (publishes: null when it may publish anywhere).
    static func directoryJSON(_ agents: [AgentConfig]) -> String {
        func list(_ items: [String]) -> String { "[" + items.map(Log.jsonString).joined(separator: ",") + "]" }
        let entries = agents.map { a in
            "{\"id\":\(Log.jsonString(a.id)),\"name\":\(Log.jsonString(a.name)),\"description\":\(Log.jsonString(a.description)),"
                + "\"kind\":\(Log.jsonString(a.kind.rawValue)),\"subscribes\":\(list(a.subscribes)),"
                + "\"publishes\":\(a.publishes.map(list) ?? "null"),\"user\":\(Log.jsonString(a.kind == .external ? a.runsAs : (a.user ?? ""))),"
                + "\"capabilities\":\(list(a.capabilities)),\"system\":\(a.isSystemAgent),\"enabled\":\(a.enabled)}"
        }
        return "[" + entries.joined(separator: ",") + "]"
    }
}
