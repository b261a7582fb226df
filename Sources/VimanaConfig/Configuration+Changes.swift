/// What differs between two configurations, by phoenix.yaml key: what a
/// reload (SIGHUP) reports, applies when it can, and otherwise names as
/// needing a restart.
extension Configuration {
    /// The phoenix.yaml keys whose values differ from `old`'s, in the file's
    /// order: each key of `kernel:`, `logging:` and `ledger:`; `users`,
    /// `agents`, each system agent (`system.oracle`) and `federation` as a
    /// whole. Never a value: a password changed shows as `kernel.password`
    /// (or `federation`), nothing more.
    public func changedKeys(from old: Configuration) -> [String] {
        Self.comparedKeys.filter { !$0.same(self, old) }.map(\.key)
    }

    /// Every key `changedKeys` compares, in its order.
    public static var comparedKeyNames: [String] { comparedKeys.map(\.key) }

    private static let comparedKeys: [(key: String, same: @Sendable (Configuration, Configuration) -> Bool)] = [
        ("kernel.bind", { $0.kernel.bind == $1.kernel.bind }),
        ("kernel.port", { $0.kernel.port == $1.kernel.port }),
        ("kernel.http_port", { $0.kernel.httpPort == $1.kernel.httpPort }),
        ("kernel.password", { $0.kernel.password == $1.kernel.password }),
        ("kernel.protected_mode", { $0.kernel.protectedMode == $1.kernel.protectedMode }),
        ("kernel.slowlog_log_slower_than", { $0.kernel.slowlogLogSlowerThan == $1.kernel.slowlogLogSlowerThan }),
        ("kernel.slowlog_max_len", { $0.kernel.slowlogMaxLen == $1.kernel.slowlogMaxLen }),
        ("kernel.latency_monitor_threshold", { $0.kernel.latencyMonitorThreshold == $1.kernel.latencyMonitorThreshold }),
        ("kernel.http_token", { $0.kernel.httpToken == $1.kernel.httpToken }),
        ("kernel.limits.max_clients", { $0.kernel.limits.maxClients == $1.kernel.limits.maxClients }),
        ("kernel.limits.max_payload", { $0.kernel.limits.maxPayload == $1.kernel.limits.maxPayload }),
        ("kernel.limits.max_inline", { $0.kernel.limits.maxInline == $1.kernel.limits.maxInline }),
        ("kernel.limits.query_buffer", { $0.kernel.limits.queryBuffer == $1.kernel.limits.queryBuffer }),
        ("kernel.limits.query_buffer_before_auth",
         { $0.kernel.limits.queryBufferBeforeAuth == $1.kernel.limits.queryBufferBeforeAuth }),
        ("kernel.limits.pubsub_output.hard", { $0.kernel.limits.pubsubOutputHard == $1.kernel.limits.pubsubOutputHard }),
        ("kernel.limits.pubsub_output.soft", { $0.kernel.limits.pubsubOutputSoft == $1.kernel.limits.pubsubOutputSoft }),
        ("kernel.limits.pubsub_output.soft_seconds",
         { $0.kernel.limits.pubsubOutputSoftSeconds == $1.kernel.limits.pubsubOutputSoftSeconds }),
        ("kernel.limits.normal_output.hard", { $0.kernel.limits.normalOutputHard == $1.kernel.limits.normalOutputHard }),
        ("kernel.limits.normal_output.soft", { $0.kernel.limits.normalOutputSoft == $1.kernel.limits.normalOutputSoft }),
        ("kernel.limits.normal_output.soft_seconds",
         { $0.kernel.limits.normalOutputSoftSeconds == $1.kernel.limits.normalOutputSoftSeconds }),
        ("logging.level", { $0.logging.level == $1.logging.level }),
        ("logging.format", { $0.logging.format == $1.logging.format }),
        ("ledger.enabled", { $0.ledger.enabled == $1.ledger.enabled }),
        ("ledger.dir", { $0.ledger.dir == $1.ledger.dir }),
        ("ledger.record", { $0.ledger.record == $1.ledger.record }),
        ("ledger.exclude", { $0.ledger.exclude == $1.ledger.exclude }),
        ("ledger.fsync", { $0.ledger.fsync == $1.ledger.fsync }),
        ("ledger.compression_level", { $0.ledger.compressionLevel == $1.ledger.compressionLevel }),
        ("ledger.compaction_level", { $0.ledger.compactionLevel == $1.ledger.compactionLevel }),
        ("ledger.max_pending", { $0.ledger.maxPending == $1.ledger.maxPending }),
        ("ledger.segment_bytes", { $0.ledger.segmentBytes == $1.ledger.segmentBytes }),
        ("ledger.segment_age", { $0.ledger.segmentAgeSeconds == $1.ledger.segmentAgeSeconds }),
        ("ledger.retention.max_age", { $0.ledger.retentionMaxAgeSeconds == $1.ledger.retentionMaxAgeSeconds }),
        ("ledger.retention.max_bytes", { $0.ledger.retentionMaxBytes == $1.ledger.retentionMaxBytes }),
        ("ledger.archive_dir", { $0.ledger.archiveDir == $1.ledger.archiveDir }),
        ("users", { $0.users == $1.users }),
        ("agents", { $0.agents == $1.agents }),
        ("system.enabled", { $0.system.enabled == $1.system.enabled }),
        ("system.max_task_bytes", { $0.system.maxTaskBytes == $1.system.maxTaskBytes
            && $0.system.maxTaskBytesByAgent == $1.system.maxTaskBytesByAgent }),
        ("system.discovery", { $0.system.discovery == $1.system.discovery }),
        ("system.oracle", { $0.system.oracle == $1.system.oracle }),
        ("system.archivist", { $0.system.archivist == $1.system.archivist }),
        ("system.engineer", { $0.system.engineer == $1.system.engineer }),
        ("system.science", { $0.system.science == $1.system.science }),
        ("system.auditor", { $0.system.auditor == $1.system.auditor }),
        ("system.scribe", { $0.system.scribe == $1.system.scribe }),
        ("system.civic", { $0.system.civic == $1.system.civic }),
        ("system.supreme_court", { $0.system.supremeCourt == $1.system.supremeCourt }),
        ("system.forum", { $0.system.forum == $1.system.forum }),
        ("system.herald", { $0.system.herald == $1.system.herald }),
        ("system.envoy", { $0.system.envoy == $1.system.envoy }),
        ("system.watchman", { $0.system.watchman == $1.system.watchman }),
        ("federation", { $0.federation == $1.federation }),
    ]
}
