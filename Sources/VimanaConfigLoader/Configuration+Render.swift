import VimanaConfig

extension Configuration {
    /// The configuration as phoenix.yaml text, in the documented layout, after
    /// a first line `# effective configuration (source: …)`. Sizes are printed
    /// in the largest exact binary unit (`1MiB`, `64KiB`, or plain bytes), a
    /// disabled HTTP port as `off`, durations as whole seconds (`3600s`; plain
    /// under keys ending in `_seconds`; `ack_wait` in its largest exact unit),
    /// lists in flow style (`["*"]`), strings plain when that cannot be misread,
    /// double-quoted otherwise, and each user and each agent as a block mapping
    /// with every key (`users: []`, `agents: []` when there is none).
    ///
    /// A second line `# overridden by flags: …` lists the command-line flags
    /// applied (`flags`), when there are any.
    ///
    /// Promises: loading the text gives a `Configuration` equal to this one
    /// except for `source`, `flags`, `warnings`, `kernel.password`,
    /// `kernel.http_token` and `federation.password` (secrets: only their
    /// presence is shown) and the users' `passwordHashes` (only their number
    /// is shown). The `federation:` section is written only when there is one.
    /// Used by `vimana serve --dry-run` and `vimana check`.
    public func render() -> String {
        let l = kernel.limits
        let g = ledger
        // In the order `vimana serve --help` lists the flags.
        let overridden = (Self.valuedFlags.map(\.key) + ["ledger.enabled"]).compactMap { flags[$0] }.joined(separator: " ")
        let lines = [
            "# effective configuration (source: \(Self.oneLine(source)))",
        ] + (flags.isEmpty ? [] : ["# overridden by flags: \(Self.oneLine(overridden))"]) + [
            "kernel:",
            "  bind: \(Self.yamlString(kernel.bind))",
            "  port: \(kernel.port)",
            "  http_port: \(kernel.httpPort == -1 ? "off" : String(kernel.httpPort))",
        ] + (kernel.password == nil ? [] : ["  # password: set (not shown)"]) + [
            "  protected_mode: \(kernel.protectedMode)",
        ] + (kernel.httpToken == nil ? [] : ["  # http_token: set (not shown)"]) + [
            "  slowlog_log_slower_than: \(kernel.slowlogLogSlowerThan)",
            "  slowlog_max_len: \(kernel.slowlogMaxLen)",
            "  latency_monitor_threshold: \(kernel.latencyMonitorThreshold)",
            "  limits:",
            "    max_clients: \(l.maxClients)",
            "    max_payload: \(Units.formatSize(l.maxPayload))",
            "    max_inline: \(Units.formatSize(l.maxInline))",
            "    query_buffer: \(Units.formatSize(l.queryBuffer))",
            "    query_buffer_before_auth: \(Units.formatSize(l.queryBufferBeforeAuth))",
            "    pubsub_output:",
            "      hard: \(Units.formatSize(l.pubsubOutputHard))",
            "      soft: \(Units.formatSize(l.pubsubOutputSoft))",
            "      soft_seconds: \(l.pubsubOutputSoftSeconds)",
            "    normal_output:",
            "      hard: \(Units.formatSize(l.normalOutputHard))",
            "      soft: \(Units.formatSize(l.normalOutputSoft))",
            "      soft_seconds: \(l.normalOutputSoftSeconds)",
            "logging:",
            "  level: \(logging.level.name)",
            "  format: \(logging.format.rawValue)",
            "ledger:",
            "  enabled: \(g.enabled)",
            "  dir: \(Self.yamlString(g.dir))",
            "  record: \(Self.yamlList(g.record))",
            "  exclude: \(Self.yamlList(g.exclude))",
            "  fsync: \(g.fsync.rawValue)",
            "  compression_level: \(g.compressionLevel)",
            "  compaction_level: \(g.compactionLevel.map(String.init) ?? "off")",
            "  max_pending: \(Units.formatSize(g.maxPending))",
            "  segment_bytes: \(Units.formatSize(g.segmentBytes))",
            "  segment_age: \(g.segmentAgeSeconds)s",
            "  retention:",
            "    max_age: \(g.retentionMaxAgeSeconds)s",
            "    max_bytes: \(Units.formatSize(g.retentionMaxBytes))",
            "  archive_dir: \(g.archiveDir.map(Self.yamlString) ?? "~")",
        ] + (users.isEmpty ? ["users: []"] : ["users:"] + users.flatMap(Self.userLines))
          + (agents.isEmpty ? ["agents: []"] : ["agents:"] + agents.flatMap(Self.agentLines))
          + [
            "system:",
            "  enabled: \(system.enabled)",
            "  max_task_bytes: \(Units.formatSize(system.maxTaskBytes))",
            "  discovery:",
            "    enabled: \(system.discovery.enabled)",
            "    required: \(system.discovery.required)",
            "    poll_interval: \(Units.formatMilliseconds(system.discovery.pollMillis))",
            "  oracle:",
            "    enabled: \(system.oracle.enabled)",
            "    required: \(system.oracle.required)",
            "    scan_entries: \(system.oracle.scanEntries)",
            "  archivist:",
            "    enabled: \(system.archivist.enabled)",
            "    required: \(system.archivist.required)",
            "    output_dir: \(Self.yamlString(system.archivist.outputDir))",
            "  engineer:",
            "    enabled: \(system.engineer.enabled)",
            "    required: \(system.engineer.required)",
            "    dir: \(Self.yamlString(system.engineer.dir))",
            "    operators: \(Self.yamlList(system.engineer.operators))",
            "  science:",
            "    enabled: \(system.science.enabled)",
            "    required: \(system.science.required)",
            "    bucket: \(system.science.bucketSeconds)s",
            "    retention: \(system.science.retentionSeconds)s",
            "    checkpoint_interval: \(Units.formatMilliseconds(system.science.checkpointMillis))",
            "    poll_interval: \(Units.formatMilliseconds(system.science.pollMillis))",
            "    scan_count: \(system.science.scanCount)",
            "  auditor:",
            "    enabled: \(system.auditor.enabled)",
            "    required: \(system.auditor.required)",
            "    interval_seconds: \(system.auditor.intervalSeconds)",
            "  scribe:",
            "    enabled: \(system.scribe.enabled)",
            "    required: \(system.scribe.required)",
            "    output_dir: \(Self.yamlString(system.scribe.outputDir))",
            "    science_timeout: \(Units.formatMilliseconds(system.scribe.scienceTimeoutMillis))",
            "  civic:",
            "    enabled: \(system.civic.enabled)",
            "    required: \(system.civic.required)",
            "    operators: \(Self.yamlList(system.civic.operators))",
            "    grant: \(system.civic.grant)",
            "    scan_entries: \(system.civic.scanEntries)",
            "  supreme_court:",
            "    enabled: \(system.supremeCourt.enabled)",
            "    required: \(system.supremeCourt.required)",
            "    judges: \(Self.yamlList(system.supremeCourt.judges))",
            "    offence_window: \(system.supremeCourt.offenceWindowSeconds)s",
            "    max_offences: \(system.supremeCourt.maxOffences)",
            "    scan_entries: \(system.supremeCourt.scanEntries)",
            "  forum:",
            "    enabled: \(system.forum.enabled)",
            "    required: \(system.forum.required)",
            "    proposal_cost: \(system.forum.proposalCost)",
            "    voting_period: \(system.forum.votingPeriodSeconds)s",
            "    voting_threshold: \(Units.formatFraction(system.forum.thresholdMillionths))",
            "    quorum: \(Units.formatFraction(system.forum.quorumMillionths))",
            "  herald:",
            "    enabled: \(system.herald.enabled)",
            "    required: \(system.herald.required)",
            "    broadcast_cost: \(system.herald.broadcastCost)",
            "    max_length: \(system.herald.maxLength)",
            "    forbidden: \(Self.yamlList(system.herald.forbidden))",
            "  envoy:",
            "    enabled: \(system.envoy.enabled)",
            "    required: \(system.envoy.required)",
            "    playbooks: \(system.envoy.playbooks)",
            "  watchman:",
            "    enabled: \(system.watchman.enabled)",
            "    required: \(system.watchman.required)",
            "    interval: \(Units.formatMilliseconds(system.watchman.intervalMillis))",
            "    window: \(system.watchman.windowSeconds)s",
            "    suspend_after: \(system.watchman.suspendAfter)",
            "    max_publish_rate: \(system.watchman.maxPublishRate)",
            "    ack_wait_after: \(system.watchman.ackWaitAfter)",
          ]
        // An agent's own max_task_bytes, first in its section.
        var withOwn: [String] = []
        for line in lines {
            withOwn.append(line)
            if line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":"),
               let id = SystemAgentID(rawValue: String(line.dropFirst(2).dropLast())), let v = system.maxTaskBytesByAgent[id] {
                withOwn.append("    max_task_bytes: \(Units.formatSize(v))")
            }
        }
        return (withOwn + (federation.map(Self.federationLines) ?? [])).joined(separator: "\n") + "\n"
    }

    /// One `users:` entry as a block mapping, every key written out but the
    /// password hashes: only their number is shown, in a comment (`vimana
    /// check` output travels further than ACL LIST, which needs an admin user).
    private static func userLines(_ u: UserConfig) -> [String] {
        let limit = { (value: Int?, format: (Int) -> String) in value.map(format) ?? "~" }
        return [
            "  - name: \(yamlString(u.name))",
            "    enabled: \(u.enabled)",
        ] + (u.passwordHashes.isEmpty ? [] : ["    # password_hashes: \(u.passwordHashes.count) (not shown)"]) + [
            "    nopass: \(u.nopass)",
            "    permissions: \(yamlList(u.rules.map(\.text)))",
            "    limits:",
            "      connections: \(limit(u.limits.connections, String.init))",
            "      publish_rate: \(limit(u.limits.publishRate, String.init))",
            "      publish_bytes: \(limit(u.limits.publishBytes, Units.formatSize))",
        ]
    }

    /// The `federation:` section, every key written out but the password:
    /// only its presence is shown, as `kernel.password`'s.
    private static func federationLines(_ f: FederationConfig) -> [String] {
        let cluster = f.cluster.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
        return [
            "federation:",
            "  node: \(yamlString(f.node))",
            "  cluster: \(yamlList(cluster))",
            "  user: \(f.user.map(yamlString) ?? "~")",
        ] + (f.password == nil ? [] : ["  # password: set (not shown)"]) + [
            "  topics: \(yamlList(f.topics))",
            "  prefix: \(yamlString(f.prefix))",
            "  wait_replicas: \(f.waitReplicas)",
            "  wait_timeout_ms: \(f.waitTimeoutMillis)",
            "  batch_entries: \(f.batchEntries)",
        ]
    }

    /// One `agents:` entry as a block mapping, every key written out. A built-in
    /// agent leaves out the keys only external agents may have (the loader refuses them).
    private static func agentLines(_ a: AgentConfig) -> [String] {
        var lines = [
            "  - id: \(yamlString(a.id))",
            "    name: \(yamlString(a.name))",
            "    description: \(yamlString(a.description))",
            "    kind: \(a.kind.rawValue)",
            "    enabled: \(a.enabled)",
            "    subscribes: \(yamlList(a.subscribes))",
            "    publishes: \(a.publishes.map(yamlList) ?? "~")",
            "    ack_wait: \(Units.formatMilliseconds(a.ackWaitMillis))",
            "    max_deliver: \(a.maxDeliver)",
            "    prefetch: \(a.prefetch)",
            "    start: \(a.start.rawValue)",
            "    required: \(a.required)",
            "    user: \(a.user.map(yamlString) ?? "~")",
            "    capabilities: \(yamlList(a.capabilities))",
        ]
        guard a.kind == .external else { return lines }
        let env = a.env.sorted { $0.key < $1.key }.map { "\(yamlString($0.key)): \(yamlString($0.value))" }
        lines += [
            "    command: \(a.command.map(yamlList) ?? "~")",
            "    env: {\(env.joined(separator: ", "))}",
            "    restart: \(a.restart.rawValue)",
            "    max_restarts: \(a.maxRestarts)",
        ]
        return lines
    }

    /// A comment must stay on its line whatever the source path contains: what libyaml
    /// reads as a line break (NEL, LS, PS) or refuses raw (controls, U+FFFE/U+FFFF) becomes `?`.
    static func oneLine(_ text: String) -> String {
        String(text.unicodeScalars.map { Self.mustEscape($0) ? "?" : Character($0) })
    }

    /// Plain when the text is made only of letters, digits and `/ . _ - +`, does
    /// not start with `-` and is not a spelling of null (a dotted quad, `data/ledger`);
    /// double-quoted otherwise, so that nothing else can be read back as null,
    /// a mapping, a sequence or a comment, or lose a character to line folding.
    private static func yamlString(_ text: String) -> String {
        let plain = !text.isEmpty && !text.hasPrefix("-") && !["null", "Null", "NULL"].contains(text)
            && text.utf8.allSatisfy { Self.plainBytes.contains($0) }
        return plain ? text : quoted(text)
    }

    private static let plainBytes = Set(
        Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+".utf8))

    /// Flow style, every item double-quoted: a pattern such as `*` or `[a-z]*`
    /// is a YAML indicator when plain.
    private static func yamlList(_ items: [String]) -> String {
        "[" + items.map(quoted).joined(separator: ", ") + "]"
    }

    /// A YAML double-quoted scalar that libyaml reads back as exactly `text`.
    /// Escaped: `"` and `\`, C0 and C1 controls and DEL (libyaml refuses them raw),
    /// the line breaks NEL, LS and PS (folded when raw), the BOM, and U+FFFE/U+FFFF.
    private static func quoted(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where v <= 0xFF && mustEscape(scalar):
                quoted += "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16)
            case _ where mustEscape(scalar) || v == 0xFEFF:
                quoted += "\\u" + String(v, radix: 16)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    /// C0 and C1 controls, DEL, U+2028/U+2029 and the noncharacters U+FFFE/U+FFFF.
    private static func mustEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (v >= 0x7F && v <= 0x9F) || v == 0x2028 || v == 0x2029 || v == 0xFFFE || v == 0xFFFF
    }
}
