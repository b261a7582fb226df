import Foundation
import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// The `system:` section and how it becomes the system agents' wiring.
@Suite struct SystemConfigTests {
    @Test func defaultsWireDiscoveryEnabledAndRequiredAsItsOwnUser() throws {
        let config = Configuration()
        let wired = try config.systemAgents(executable: "/opt/vimana")
        #expect(wired.map(\.id) == SystemAgentID.allCases.map(\.rawValue))
        #expect(SystemAgentID.allCases.map(\.rawValue).prefix(13) == ["discovery", "oracle", "archivist", "engineer", "science", "auditor", "scribe", "civic", "supreme_court", "forum", "herald", "envoy", "watchman"])
        let d = try #require(wired.first)
        #expect(d.command == ["/opt/vimana", "agent", "discovery"])
        #expect(d.enabled && d.required && d.runsAs == "agent:discovery" && d.subscribes == ["tasks.discovery"])
        #expect(d.systemCommands == ["agents"])
        #expect(d.env["VIMANA_DISCOVERY_POLL_MS"] == "200")
        #expect(d.env["VIMANA_DISCOVERY_AGENTS"]?.contains(#""id":"discovery""#) == true)
    }

    @Test func theSectionTunesAndDisables() throws {
        let c = try loaded("system:\n  discovery:\n    enabled: false\n    required: false\n    poll_interval: 50ms\n")
        #expect(!c.system.discovery.enabled && !c.system.discovery.required && c.system.discovery.pollMillis == 50)
        let d = try #require(try c.systemAgents(executable: "v").first)
        #expect(!d.enabled, "a disabled system agent is listed, not wired")
        let off = try loaded("system:\n  enabled: false\n")
        #expect(try off.systemAgents(executable: "v").isEmpty)
        var noLedger = Configuration()
        noLedger.ledger.enabled = false
        #expect(try noLedger.systemAgents(executable: "v").isEmpty, "no system agent without the ledger")
        var flagged = Configuration()
        flagged.disableSystemAgents()
        #expect(try flagged.systemAgents(executable: "v").isEmpty && flagged.flags["system.enabled"] == "--no-system-agents")
    }

    @Test func mistakesAreRefusedWithTheirPosition() {
        #expect(loadError("system:\n  discovery:\n    poll_interval: 5ms\n")?.description
                == "phoenix.yaml:3:20: system.discovery.poll_interval: expected a duration from 10ms to 1m (like 500ms, 30s, 2m or 1h), got '5ms'")
        #expect(loadError("system:\n  mayor: {}\n")?.description == "phoenix.yaml:2:3: unknown key 'mayor' in system (expected one of: enabled, max_task_bytes, "
                + SystemAgentID.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        #expect(loadError("system:\n  discovery:\n    enabled: maybe\n")?.description.hasPrefix("phoenix.yaml:3:14: system.discovery.enabled: expected") == true)
    }

    @Test func aDeclaredAgentMayNotTakeAnEnabledSystemAgentsID() throws {
        let c = try loaded("agents:\n  - id: discovery\n    subscribes: [t]\n")
        do throws(ConfigError) {
            _ = try c.systemAgents(executable: "v")
            Issue.record("the clash was not refused")
        } catch {
            #expect(error.description == "phoenix.yaml:2:5: agents: discovery: this id is the system agent discovery's;"
                    + " rename the agent, or set system.discovery.enabled: false to use the id")
        }
        let yielded = try loaded("agents:\n  - id: discovery\n    subscribes: [t]\nsystem:\n  discovery:\n    enabled: false\n")
        #expect(try yielded.systemAgents(executable: "v").map(\.id) == Array(SystemAgentID.allCases.map(\.rawValue).dropFirst()))
    }

    /// oracle's user is made of its own rules: read-only but for its
    /// tasks and its dead letters (the kernel's enforcement is OracleWireTests').
    @Test func oracleIsWiredReadOnlyAndTunable() throws {
        let o = try #require(try Configuration().systemAgents(executable: "/opt/vimana").first { $0.id == "oracle" })
        #expect(o.id == "oracle" && o.command == ["/opt/vimana", "agent", "oracle"] && o.enabled && o.required)
        #expect(o.runsAs == "agent:oracle" && o.subscribes == ["tasks.oracle"] && o.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_ORACLE_SCAN": "10000"])
        let rules = try #require(o.systemRules)
        #expect(rules.suffix(5) == ["~tasks.oracle", "~snapshots.oracle", "%R~events.*", "%W~dead.oracle", "allchannels"])
        #expect(rules.contains("+info") && rules.contains("+agents") && !rules.contains("+xgroup|create") && !rules.contains("+xreadgroup"))
        let c = try loaded("system:\n  oracle:\n    enabled: false\n    required: false\n    scan_entries: 50\n")
        #expect(!c.system.oracle.enabled && !c.system.oracle.required && c.system.oracle.scanEntries == 50)
        let wired = try c.systemAgents(executable: "v")
        let o2 = try #require(wired.first { $0.id == "oracle" })
        #expect(wired.map(\.id) == SystemAgentID.allCases.map(\.rawValue) && !o2.enabled && o2.env["VIMANA_ORACLE_SCAN"] == "50")
        #expect(loadError("system:\n  oracle:\n    scan_entries: 5\n")?.description
                == "phoenix.yaml:3:19: system.oracle.scan_entries: expected an integer from 10 to 1000000, got '5'")
        #expect(loadError("system:\n  oracle:\n    why: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'why' in system.oracle (expected one of: enabled, required, max_task_bytes, scan_entries)")
        let again = try loaded(c.render())
        #expect(again.system == c.system)
    }

    /// Discovery's directory travels in one environment variable: one Linux
    /// would refuse at exec (E2BIG) is refused when the file is read.
    @Test func aDirectoryTooLargeForTheEnvironmentIsRefused() throws {
        let caps = (0..<64).map { "capability-\($0)-" + String(repeating: "x", count: 100) }.joined(separator: ", ")
        let agent = { (i: Int) in "  - id: a\(i)\n    subscribes: [t\(i)]\n    capabilities: [\(caps)]\n" }
        let c = try loaded("agents:\n" + (0..<20).map(agent).joined())
        do throws(ConfigError) {
            _ = try c.systemAgents(executable: "v")
            Issue.record("a directory beyond MAX_ARG_STRLEN was wired")
        } catch {
            // The 20 declared and every system agent wired.
            let agents = 20 + SystemAgentID.allCases.count
            #expect(error.description.contains("system.discovery: the directory of the \(agents) agents is ")
                    && error.description.hasSuffix(" bytes, beyond the 131072 bytes one environment variable may hold on Linux"
                        + " (MAX_ARG_STRLEN); shorten the agents' descriptions and capabilities, or set system.discovery.enabled: false"),
                    "\(error)")
        }
        // scribe takes the same directory: with discovery disabled, scribe's is refused.
        let scribeOnly = try loaded("agents:\n" + (0..<20).map(agent).joined() + "system:\n  discovery:\n    enabled: false\n")
        #expect(throws: ConfigError.self) { try scribeOnly.systemAgents(executable: "v") }
        do throws(ConfigError) { _ = try scribeOnly.systemAgents(executable: "v") } catch {
            #expect(error.description.contains("system.scribe: the directory of the") && error.description.hasSuffix("or set system.scribe.enabled: false"))
        }
        // forum takes it too (a proposal's target must be declared).
        let forumOnly = try loaded("agents:\n" + (0..<20).map(agent).joined()
                                   + "system:\n  discovery:\n    enabled: false\n  scribe:\n    enabled: false\n")
        do throws(ConfigError) {
            _ = try forumOnly.systemAgents(executable: "v")
            Issue.record("forum's directory beyond MAX_ARG_STRLEN was wired")
        } catch {
            #expect(error.description.contains("system.forum: the directory of the") && error.description.hasSuffix("or set system.forum.enabled: false"))
        }
        // watchman takes it too (the user an agent runs as).
        let watchmanOnly = try loaded("agents:\n" + (0..<20).map(agent).joined()
                                      + "system:\n  discovery:\n    enabled: false\n  scribe:\n    enabled: false\n  forum:\n    enabled: false\n")
        do throws(ConfigError) {
            _ = try watchmanOnly.systemAgents(executable: "v")
            Issue.record("watchman's directory beyond MAX_ARG_STRLEN was wired")
        } catch {
            #expect(error.description.contains("system.watchman: the directory of the")
                    && error.description.hasSuffix("or set system.watchman.enabled: false"))
        }
        // All four disabled: nothing to start, nothing to refuse.
        let off = try loaded("agents:\n" + (0..<20).map(agent).joined()
                             + "system:\n  discovery:\n    enabled: false\n  scribe:\n    enabled: false\n  forum:\n    enabled: false\n"
                             + "  watchman:\n    enabled: false\n")
        #expect(try off.systemAgents(executable: "v").first { $0.id == "discovery" }?.enabled == false)
        // Within it, as wired.
        let fits = try loaded("agents:\n" + (0..<10).map(agent).joined())
        #expect(try fits.systemAgents(executable: "v").first?.env["VIMANA_DISCOVERY_AGENTS"]?.utf8.count ?? 0 > 70_000)
    }

    @Test func capabilitiesAreDeclaredOnAnAgent() throws {
        let c = try loaded("agents:\n  - id: a\n    subscribes: [t]\n    capabilities: [invoice, refund]\n")
        #expect(c.agents.first?.capabilities == ["invoice", "refund"])
        #expect(loadError("agents:\n  - id: a\n    subscribes: [t]\n    capabilities: [x, x]\n")?.description.hasPrefix(
            "phoenix.yaml:4:19: agents[0].capabilities: expected a sequence of at most 64 distinct non-empty strings") == true)
    }

    @Test func theRenderedConfigurationLoadsBackWithItsSystemSection() throws {
        var c = try loaded("system:\n  discovery:\n    poll_interval: 1s\n")
        c.agents = []
        let again = try loaded(c.render())
        #expect(again.system == c.system)
    }

    /// archivist's user holds LEDGER's subcommands and ACL DRYRUN (to lend
    /// them only to callers the kernel allows them), and no other admin command.
    @Test func archivistIsWiredWithLedgerCommandsAndTunable() throws {
        let a = try #require(try Configuration().systemAgents(executable: "/opt/vimana").first { $0.id == "archivist" })
        #expect(a.command == ["/opt/vimana", "agent", "archivist"] && a.enabled && !a.required)
        #expect(a.runsAs == "agent:archivist" && a.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_ARCHIVIST_DIR": "data/exports"])
        let rules = try #require(a.systemRules)
        #expect(rules.filter { $0.hasPrefix("+ledger|") || $0.hasPrefix("+acl|") }
                == ["+ledger|seal", "+ledger|retain", "+ledger|archives", "+ledger|verify", "+ledger|restore", "+acl|dryrun"])
        #expect(rules.suffix(6) == ["~tasks.archivist", "~events.archivist", "~snapshots.archivist", "%R~*", "%W~dead.archivist", "allchannels"])
        let c = try loaded("system:\n  archivist:\n    enabled: false\n    required: true\n    output_dir: /srv/exports\n")
        #expect(!c.system.archivist.enabled && c.system.archivist.required && c.system.archivist.outputDir == "/srv/exports")
        #expect(loadError("system:\n  archivist:\n    dir: x\n")?.description
                == "phoenix.yaml:3:5: unknown key 'dir' in system.archivist (expected one of: enabled, required, max_task_bytes, output_dir)")
    }

    /// engineer's user has an agent's commands and the four process
    /// subcommands; its operators and directory reach it in its environment.
    @Test func engineerIsWiredWithTheProcessCommandsAndTunable() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let e = try #require(wired.first { $0.id == "engineer" })
        #expect(e.command == ["/opt/vimana", "agent", "engineer"] && e.enabled && e.required && e.runsAs == "agent:engineer")
        #expect(e.systemCommands == ["agent|ps", "agent|start", "agent|stop", "agent|restart"] && e.systemRules == nil)
        #expect(e.env["VIMANA_ENGINEER_OPERATORS"] == #"["default"]"# && e.env["VIMANA_ENGINEER_DIR"]?.hasSuffix("/data/agents") == true)
        #expect(e.isSystemAgent)
        let c = try loaded("system:\n  engineer:\n    dir: /srv/agents\n    operators: [ops, default]\n    required: false\n")
        #expect(c.system.engineer.dir == "/srv/agents" && c.system.engineer.operators == ["ops", "default"] && !c.system.engineer.required)
        let e2 = try #require(try c.systemAgents(executable: "v").first { $0.id == "engineer" })
        #expect(e2.env["VIMANA_ENGINEER_DIR"] == "/srv/agents" && e2.env["VIMANA_ENGINEER_OPERATORS"] == #"["ops","default"]"#)
        #expect(loadError("system:\n  engineer:\n    dir: \"\"\n")?.description
                == "phoenix.yaml:3:10: system.engineer.dir: expected a non-empty path without NUL bytes, got ''")
        #expect(loadError("system:\n  engineer:\n    who: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'who' in system.engineer (expected one of: enabled, required, max_task_bytes, dir, operators)")
    }

    /// science's user may LEDGER SCAN and write only its own topics; its
    /// tuning reaches the process through the environment; each key range-checked.
    @Test func scienceIsWiredWithLedgerScanAndTunable() throws {
        let a = try #require(try Configuration().systemAgents(executable: "/opt/vimana").first { $0.id == "science" })
        #expect(a.command == ["/opt/vimana", "agent", "science"] && a.enabled && !a.required && a.runsAs == "agent:science")
        #expect(a.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_SCIENCE_BUCKET_S": "60", "VIMANA_SCIENCE_RETENTION_S": "86400", "VIMANA_SCIENCE_CHECKPOINT_MS": "5000",
                          "VIMANA_SCIENCE_POLL_MS": "500", "VIMANA_SCIENCE_SCAN_COUNT": "1000"])
        let rules = try #require(a.systemRules)
        #expect(rules.contains("+ledger|scan") && !rules.contains("+ledger|seal") && !rules.contains("+xreadgroup"))
        #expect(rules.suffix(5) == ["~tasks.science", "~events.science", "~snapshots.science", "%W~dead.science", "allchannels"])
        let c = try loaded("system:\n  science:\n    bucket: 5m\n    retention: 168h\n    checkpoint_interval: 1s\n"
                           + "    poll_interval: 100ms\n    scan_count: 5000\n    required: true\n")
        let s = c.system.science
        #expect(s.bucketSeconds == 300 && s.retentionSeconds == 604_800 && s.checkpointMillis == 1000 && s.pollMillis == 100
                && s.scanCount == 5000 && s.required)
        #expect(loadError("system:\n  science:\n    bucket: 2h\n")?.description
                == "phoenix.yaml:3:13: system.science.bucket: expected a duration in whole seconds from 1 to 3600 (like 60, 60s, 2m or 1h), got '2h'")
        #expect(loadError("system:\n  science:\n    scan_count: 0\n")?.description
                == "phoenix.yaml:3:17: system.science.scan_count: expected an integer from 1 to 10000, got '0'")
        #expect(loadError("system:\n  science:\n    checkpoint_interval: 10ms\n")?.description.hasPrefix(
            "phoenix.yaml:3:26: system.science.checkpoint_interval: expected a duration from 100ms to 10m") == true)
        #expect(loadError("system:\n  science:\n    bucket: 1h\n    retention: 2m\n")?.description.hasPrefix(
            "phoenix.yaml:4:16: system.science.retention: expected at least system.science.bucket (3600s)") == true)
    }

    /// auditor's user may check the ledger, read every event stream and
    /// report to /health; its interval reaches it in its environment and is range-checked.
    @Test func auditorIsWiredWithLedgerCheckAndHealthAndItsInterval() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let a = try #require(wired.first { $0.id == "auditor" })
        #expect(a.command == ["/opt/vimana", "agent", "auditor"] && a.enabled && !a.required && a.runsAs == "agent:auditor")
        #expect(a.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_AUDITOR_INTERVAL": "3600", "VIMANA_CIVIC_OPERATORS": #"["default"]"#] && a.isSystemAgent)
        let rules = try #require(a.systemRules)
        #expect(["+ledger|check", "+health|report", "+health|clear", "%R~events.*", "~events.auditor", "~tasks.auditor"].allSatisfy(rules.contains))
        #expect(!rules.contains("+ledger|seal") && !rules.contains("+@admin"))
        let c = try loaded("system:\n  auditor:\n    interval_seconds: 60\n    required: true\n")
        #expect(c.system.auditor.intervalSeconds == 60 && c.system.auditor.required)
        #expect(try c.systemAgents(executable: "v").first { $0.id == "auditor" }?.env["VIMANA_AUDITOR_INTERVAL"] == "60")
        #expect(loadError("system:\n  auditor:\n    interval_seconds: 0\n")?.description
                == "phoenix.yaml:3:23: system.auditor.interval_seconds: expected an integer from 1 to 604800, got '0'")
        #expect(loadError("system:\n  auditor:\n    interval_seconds: 604801\n")?.description
                == "phoenix.yaml:3:23: system.auditor.interval_seconds: expected an integer from 1 to 604800, got '604801'")
        #expect(loadError("system:\n  auditor:\n    every: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'every' in system.auditor (expected one of: enabled, required, max_task_bytes, interval_seconds)")
    }

    /// scribe's user is made of its own rules (the kit's commands, AGENTS,
    /// its own streams only); the wiring (as
    /// discovery's, with each agent's `enabled`), its directory and
    /// science's timeout reach it in its environment.
    @Test func scribeIsWiredWithTheDirectoryAndTunable() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let s = try #require(wired.first { $0.id == "scribe" })
        #expect(s.command == ["/opt/vimana", "agent", "scribe"] && s.enabled && !s.required && s.runsAs == "agent:scribe")
        let rules = try #require(s.systemRules)
        #expect(rules.suffix(5) == ["~tasks.scribe", "~events.scribe", "~snapshots.scribe", "%W~dead.scribe", "allchannels"] && s.subscribes == ["tasks.scribe"])
        #expect(rules.contains("+agents") && rules.contains("+subscribe") && !rules.contains("+xgroup|create") && !rules.contains("allkeys"))
        #expect(s.env["VIMANA_SCRIBE_DIR"] == "data/docs" && s.env["VIMANA_SCRIBE_SCIENCE_TIMEOUT_MS"] == "2000")
        let discovery = try #require(wired.first { $0.id == "discovery" })
        #expect(s.env["VIMANA_SCRIBE_AGENTS"] == discovery.env["VIMANA_DISCOVERY_AGENTS"])
        #expect(s.env["VIMANA_SCRIBE_AGENTS"]?.contains(#""id":"scribe","name":"scribe""#) == true)
        let c = try loaded("system:\n  scribe:\n    enabled: false\n    output_dir: /srv/docs\n    science_timeout: 50ms\n")
        #expect(!c.system.scribe.enabled && c.system.scribe.outputDir == "/srv/docs" && c.system.scribe.scienceTimeoutMillis == 50)
        let s2 = try #require(try c.systemAgents(executable: "v").first { $0.id == "scribe" })
        #expect(!s2.enabled && s2.env["VIMANA_SCRIBE_DIR"] == "/srv/docs" && s2.env["VIMANA_SCRIBE_SCIENCE_TIMEOUT_MS"] == "50")
        #expect(s2.env["VIMANA_SCRIBE_AGENTS"]?.contains(#""id":"scribe","name":"scribe","description":"writes AGENTS.md"#) == true)
        #expect(s2.env["VIMANA_SCRIBE_AGENTS"]?.contains(#""capabilities":["documents"],"system":true,"enabled":false}"#) == true)
        #expect(loadError("system:\n  scribe:\n    science_timeout: 5ms\n")?.description
                == "phoenix.yaml:3:22: system.scribe.science_timeout: expected a duration from 10ms to 1m (like 500ms, 30s, 2m or 1h), got '5ms'")
        #expect(loadError("system:\n  scribe:\n    dir: x\n")?.description
                == "phoenix.yaml:3:5: unknown key 'dir' in system.scribe (expected one of: enabled, required, max_task_bytes, output_dir, science_timeout)")
    }

    /// forum's user is made of its own rules (the kit's commands with
    /// SUBSCRIBE, its own streams only, every channel for its asks); its
    /// cost, period, threshold and quorum (in millionths) and the wiring
    /// reach it in its environment; every value out of range is refused at
    /// its position.
    @Test func forumIsWiredWithItsRulesAndTunable() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let f = try #require(wired.first { $0.id == "forum" })
        #expect(f.command == ["/opt/vimana", "agent", "forum"] && f.enabled && !f.required && f.runsAs == "agent:forum")
        let rules = try #require(f.systemRules)
        #expect(rules.suffix(5) == ["~tasks.forum", "~events.forum", "~snapshots.forum", "%W~dead.forum", "allchannels"] && f.subscribes == ["tasks.forum"])
        #expect(rules.contains("+subscribe") && rules.contains("+unsubscribe") && !rules.contains("+agents") && !rules.contains("allkeys")
                && !rules.contains(where: { $0.contains("events.*") || $0.hasPrefix("+ledger") }))
        #expect(f.env["VIMANA_FORUM_COST"] == "10" && f.env["VIMANA_FORUM_PERIOD_S"] == "3600"
                && f.env["VIMANA_FORUM_THRESHOLD_PPM"] == "500000" && f.env["VIMANA_FORUM_QUORUM_PPM"] == "500000")
        let discovery = try #require(wired.first { $0.id == "discovery" })
        #expect(f.env["VIMANA_FORUM_AGENTS"] == discovery.env["VIMANA_DISCOVERY_AGENTS"])
        let c = try loaded("system:\n  forum:\n    required: true\n    proposal_cost: 0\n    voting_period: 2m\n"
                           + "    voting_threshold: 0.667\n    quorum: 1\n")
        #expect(c.system.forum.required && c.system.forum.proposalCost == 0 && c.system.forum.votingPeriodSeconds == 120
                && c.system.forum.thresholdMillionths == 667_000 && c.system.forum.quorumMillionths == 1_000_000)
        let f2 = try #require(try c.systemAgents(executable: "v").first { $0.id == "forum" })
        #expect(f2.required && f2.env["VIMANA_FORUM_COST"] == "0" && f2.env["VIMANA_FORUM_PERIOD_S"] == "120"
                && f2.env["VIMANA_FORUM_THRESHOLD_PPM"] == "667000" && f2.env["VIMANA_FORUM_QUORUM_PPM"] == "1000000")
        #expect(try loaded(c.render()).system == c.system, "rendered and read back")
        #expect(try loaded("system:\n  forum:\n    proposal_cost: 1000000000000\n    voting_threshold: 0\n    quorum: 0.000001\n").system.forum
                .quorumMillionths == 1)
        let threshold = "expected a decimal from 0 to below 1, at most 6 decimals (like 0.5 or 0.667)"
        #expect(loadError("system:\n  forum:\n    voting_threshold: 1\n")?.description
                == "phoenix.yaml:3:23: system.forum.voting_threshold: \(threshold), got '1'")
        #expect(loadError("system:\n  forum:\n    voting_threshold: 0.1234567\n")?.description
                == "phoenix.yaml:3:23: system.forum.voting_threshold: \(threshold), got '0.1234567'")
        #expect(loadError("system:\n  forum:\n    quorum: -0.5\n")?.description
                == "phoenix.yaml:3:13: system.forum.quorum: expected a decimal from 0 to 1, at most 6 decimals (like 0.5 or 0.667), got '-0.5'")
        #expect(loadError("system:\n  forum:\n    quorum: 1.000001\n")?.description.hasPrefix("phoenix.yaml:3:13: system.forum.quorum: expected") == true)
        #expect(loadError("system:\n  forum:\n    proposal_cost: 1000000000001\n")?.description
                == "phoenix.yaml:3:20: system.forum.proposal_cost: expected an integer from 0 to 1000000000000, got '1000000000001'")
        #expect(loadError("system:\n  forum:\n    voting_period: 0s\n")?.description
                == "phoenix.yaml:3:20: system.forum.voting_period: expected a duration in whole seconds from 1 to 2592000 (like 60, 60s, 2m or 1h), got '0s'")
        #expect(loadError("system:\n  forum:\n    voting_period: 721h\n")?.description.hasPrefix("phoenix.yaml:3:20: system.forum.voting_period") == true)
        #expect(loadError("system:\n  forum:\n    cost: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'cost' in system.forum (expected one of: enabled, required, max_task_bytes, proposal_cost, voting_period, voting_threshold, quorum)")
    }

    /// envoy's user is made of its own rules (the kit's commands with
    /// SUBSCRIBE for its calls, its own streams, every channel); its
    /// playbook directory, relative to the configuration file's, reaches it
    /// absolute; a malformed playbook fails the configuration at its line.
    @Test func envoyIsWiredWithItsRulesAndItsPlaybooksAreCheckedAtLoad() throws {
        let wired = try Configuration(source: "/etc/vimana/phoenix.yaml").systemAgents(executable: "/opt/vimana")
        let e = try #require(wired.first { $0.id == "envoy" })
        #expect(e.command == ["/opt/vimana", "agent", "envoy"] && e.enabled && !e.required && e.runsAs == "agent:envoy")
        let rules = try #require(e.systemRules)
        #expect(rules.suffix(5) == ["~tasks.envoy", "~events.envoy", "~snapshots.envoy", "%W~dead.envoy", "allchannels"])
        #expect(rules.contains("+subscribe") && !rules.contains("allkeys"))
        #expect(e.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_ENVOY_PLAYBOOKS": "/etc/vimana/playbooks"])
        let dir = NSTemporaryDirectory() + "vimana-playbooks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/books", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: ok\nphases:\n  - name: a\n    steps:\n      - wait: 1s\n".write(toFile: dir + "/books/a.yaml", atomically: true, encoding: .utf8)
        let c = try loaded("system:\n  envoy:\n    playbooks: books\n", path: dir + "/phoenix.yaml")
        #expect(c.system.envoy.loaded.map(\.name) == ["ok"])
        try "name: bad\nphases:\n  - name: a\n    steps:\n      - wait: never\n".write(toFile: dir + "/books/b.yaml", atomically: true, encoding: .utf8)
        #expect(throws: ConfigError(path: dir + "/books/b.yaml", line: 5, column: 15,
                                    message: "phases[a].steps[0].wait: expected a duration (250ms, 2s, 1m), got 'never'")) {
            try loaded("system:\n  envoy:\n    playbooks: books\n", path: dir + "/phoenix.yaml")
        }
        // Disabled: not read.
        #expect(try loaded("system:\n  envoy:\n    enabled: false\n    playbooks: books\n", path: dir + "/phoenix.yaml").system.envoy.loaded.isEmpty)
    }

    /// herald's user is made of its own rules (the kit's commands with
    /// SUBSCRIBE for its asks to civic, its own streams, the three event
    /// streams it announces from for reading, every channel for its
    /// broadcasts); its cost, length and forbidden patterns reach it in its
    /// environment; a pattern that is no regular expression is an error at
    /// its own line and column.
    @Test func heraldIsWiredWithItsRulesAndItsPatternsAreCheckedAtLoad() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let h = try #require(wired.first { $0.id == "herald" })
        #expect(h.command == ["/opt/vimana", "agent", "herald"] && h.enabled && !h.required && h.runsAs == "agent:herald")
        let rules = try #require(h.systemRules)
        #expect(rules.suffix(9) == ["~tasks.herald", "~events.herald", "~snapshots.herald", "%R~events.civic", "%R~events.forum",
                                    "%R~events.discovery", "%R~events.supreme_court", "%W~dead.herald", "allchannels"] && h.subscribes == ["tasks.herald"])
        #expect(rules.contains("+subscribe") && rules.contains("+publish") && !rules.contains("allkeys") && !rules.contains("+agents"))
        #expect(h.env == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_HERALD_COST": "1", "VIMANA_HERALD_MAX_LENGTH": "4096", "VIMANA_HERALD_FORBIDDEN": "[]"])
        let c = try loaded("system:\n  herald:\n    required: true\n    broadcast_cost: 0\n    max_length: 10\n"
                           + "    forbidden: [\"(?i)spam\", '\\bbuy now\\b']\n")
        #expect(c.system.herald.required && c.system.herald.broadcastCost == 0 && c.system.herald.maxLength == 10)
        #expect(c.system.herald.forbidden == ["(?i)spam", #"\bbuy now\b"#])
        let h2 = try #require(try c.systemAgents(executable: "v").first { $0.id == "herald" })
        #expect(h2.required && h2.env["VIMANA_HERALD_COST"] == "0" && h2.env["VIMANA_HERALD_MAX_LENGTH"] == "10")
        #expect(h2.env["VIMANA_HERALD_FORBIDDEN"] == #"["(?i)spam","\\bbuy now\\b"]"#)
        #expect(try loaded("system:\n  herald:\n    broadcast_cost: 1000000000000\n").system.herald.broadcastCost == 1_000_000_000_000)
        #expect(loadError("system:\n  herald:\n    broadcast_cost: 1000000000001\n")?.description
                == "phoenix.yaml:3:21: system.herald.broadcast_cost: expected an integer from 0 to 1000000000000, got '1000000000001'")
        #expect(loadError("system:\n  herald:\n    broadcast_cost: -1\n")?.description
                == "phoenix.yaml:3:21: system.herald.broadcast_cost: expected an integer from 0 to 1000000000000, got '-1'")
        #expect(loadError("system:\n  herald:\n    max_length: 0\n")?.description
                == "phoenix.yaml:3:17: system.herald.max_length: expected an integer from 1 to 1048576, got '0'")
        #expect(loadError("system:\n  herald:\n    forbidden:\n      - ok\n      - '(unclosed'\n")?.description
                == "phoenix.yaml:5:9: system.herald.forbidden[1]: '(unclosed' is not a valid regular expression (ICU syntax, as NSRegularExpression reads it)")
        #expect(loadError("system:\n  herald:\n    forbidden: ['']\n")?.description
                == "phoenix.yaml:3:17: system.herald.forbidden[0]: expected a regular expression of 1 to 1024 bytes, got ''")
        #expect(loadError("system:\n  herald:\n    cost: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'cost' in system.herald (expected one of: enabled, required, max_task_bytes, broadcast_cost, max_length, forbidden)")
    }

    /// `max_task_bytes` for all the system agents and one agent's own
    /// reach each agent as VIMANA_MAX_TASK_BYTES, range-checked at their line and column.
    @Test func maxTaskBytesForAllAndForOneAgent() throws {
        #expect(try Configuration().systemAgents(executable: "v").allSatisfy { $0.env["VIMANA_MAX_TASK_BYTES"] == "65536" })
        let c = try loaded("system:\n  max_task_bytes: 16KiB\n  herald:\n    max_task_bytes: 1000\n    max_length: 10\n")
        #expect(c.system.maxTaskBytes == 16_384 && c.system.maxTaskBytesByAgent == [.herald: 1000] && c.system.herald.maxLength == 10)
        let wired = try c.systemAgents(executable: "v")
        #expect(wired.first { $0.id == "herald" }?.env["VIMANA_MAX_TASK_BYTES"] == "1000")
        #expect(wired.filter { $0.id != "herald" }.allSatisfy { $0.env["VIMANA_MAX_TASK_BYTES"] == "16384" })
        #expect(try loaded(c.render()) == c, "rendered and read back")
        #expect(loadError("system:\n  max_task_bytes: many\n")?.description
                .hasPrefix("phoenix.yaml:2:19: system.max_task_bytes: expected a size from 64 to 512MiB") == true)
    }

    /// watchman's user reads ACL LOG and every dead.* stream, and no other
    /// admin command; its interval, window and threshold reach it in its
    /// environment, each range-checked at its own line and column.
    @Test func watchmanIsWiredWithItsRulesAndItsPolicyIsRangeChecked() throws {
        let wired = try Configuration().systemAgents(executable: "/opt/vimana")
        let w = try #require(wired.first { $0.id == "watchman" })
        #expect(w.command == ["/opt/vimana", "agent", "watchman"] && w.enabled && !w.required && w.runsAs == "agent:watchman")
        let rules = try #require(w.systemRules)
        #expect(rules.contains("+acl|log") && !rules.contains("+acl") && !rules.contains("allkeys") && !rules.contains("+license|set"))
        #expect(rules.contains("+agents") && rules.contains("+info") && !rules.contains("+@admin"))
        #expect(rules.suffix(6) == ["~tasks.watchman", "~events.watchman", "~snapshots.watchman", "%R~dead.*", "%W~dead.watchman", "allchannels"])
        #expect(w.env.filter { $0.key != "VIMANA_WATCHMAN_AGENTS" }
                == ["VIMANA_MAX_TASK_BYTES": "65536", "VIMANA_WATCHMAN_INTERVAL_MS": "5000", "VIMANA_WATCHMAN_WINDOW_S": "3600", "VIMANA_WATCHMAN_SUSPEND_AFTER": "3",
                    "VIMANA_WATCHMAN_MAX_PUBLISH_RATE": "1000", "VIMANA_WATCHMAN_ACK_WAIT_AFTER": "3"])
        // The directory, as discovery's: the user each agent runs as, and whether it is a system agent.
        #expect(w.env["VIMANA_WATCHMAN_AGENTS"] == wired.first { $0.id == "discovery" }?.env["VIMANA_DISCOVERY_AGENTS"])
        #expect(w.env["VIMANA_WATCHMAN_AGENTS"]?.contains("\"id\":\"watchman\"") == true)
        let c = try loaded("system:\n  watchman:\n    interval: 250ms\n    window: 2m\n    suspend_after: 1\n    max_publish_rate: 50\n"
                           + "    ack_wait_after: 7\n")
        #expect(c.system.watchman.intervalMillis == 250 && c.system.watchman.windowSeconds == 120 && c.system.watchman.suspendAfter == 1
                && c.system.watchman.maxPublishRate == 50 && c.system.watchman.ackWaitAfter == 7)
        let w2 = try #require(try c.systemAgents(executable: "v").first { $0.id == "watchman" })
        #expect(w2.env["VIMANA_WATCHMAN_INTERVAL_MS"] == "250" && w2.env["VIMANA_WATCHMAN_WINDOW_S"] == "120"
                && w2.env["VIMANA_WATCHMAN_ACK_WAIT_AFTER"] == "7")
        #expect(loadError("system:\n  watchman:\n    ack_wait_after: 0\n")?.description
                == "phoenix.yaml:3:21: system.watchman.ack_wait_after: expected an integer from 1 to 1000000, got '0'")
        #expect(loadError("system:\n  watchman:\n    suspend_after: 0\n")?.description
                == "phoenix.yaml:3:20: system.watchman.suspend_after: expected an integer from 1 to 1000000, got '0'")
        #expect(loadError("system:\n  watchman:\n    interval: 10ms\n")?.description.hasPrefix("phoenix.yaml:3:15: system.watchman.interval") == true)
        #expect(loadError("system:\n  watchman:\n    window: 0s\n")?.description.hasPrefix("phoenix.yaml:3:13: system.watchman.window") == true)
        #expect(loadError("system:\n  watchman:\n    max_publish_rate: 0\n")?.description.hasPrefix("phoenix.yaml:3:23: system.watchman.max_publish_rate") == true)
        #expect(loadError("system:\n  max_task_bytes: 63\n")?.description
                == "phoenix.yaml:2:19: system.max_task_bytes: expected a size from 64 to 512MiB (like 64KiB or 65536), got '63'")
        #expect(loadError("system:\n  civic:\n    enabled: true\n    max_task_bytes: 1GiB\n")?.description
                .hasPrefix("phoenix.yaml:4:21: system.civic.max_task_bytes: expected a size from 64 to 512MiB") == true)
        #expect(loadError("system:\n  watchman:\n    rate: 1\n")?.description
                == "phoenix.yaml:3:5: unknown key 'rate' in system.watchman (expected one of: enabled, required, max_task_bytes, interval, window, suspend_after, max_publish_rate, ack_wait_after)")
    }
}
