import VimanaConfig

/// What the loader accepts, each bound with its reason: the ranges a value
/// must fall in, and the limits on the file itself. The defaults are in
/// VimanaConfig's types; the messages that name these ranges are built from
/// them, so a bound is changed here only.
enum ConfigLimits {
    // MARK: - The file

    /// phoenix.yaml is a few hundred bytes: a larger file is almost certainly the wrong path.
    static let maxFileSize = 1 << 20
    /// Bytes asked of one `read` while loading it.
    static let readChunk = 16 << 10
    /// Deeper nesting is refused: no configuration needs it, and the tree's
    /// recursive teardown must not be able to exhaust the stack.
    static let maxDepth = 64

    // MARK: - kernel

    /// TCP ports; 0 asks the system for a free one.
    static let port = 0...65535
    /// Redis's CONFIG SET ranges for `slowlog-log-slower-than` (µs),
    /// `slowlog-max-len` and `latency-monitor-threshold` (ms).
    static let slowlogLogSlowerThan = -1...Int.max
    static let slowlogMaxLen = 0...Int.max
    static let latencyMonitorThreshold = 0...Int.max
    /// `http_port` also takes -1 (`off`): no HTTP listener.
    static let httpPort = -1...65535
    /// `password` bytes: Redis's requirepass has no floor, but an empty
    /// password is a mistake; 512 is far beyond any generated secret.
    static let passwordBytes = 1...512
    /// `http_token` bytes: at least 16, so that a token cannot be guessed in
    /// the requests a scraper's network allows (`openssl rand -hex 32` gives
    /// 64); at most 512, like a password.
    static let httpTokenBytes = 16...512
    /// `http_token_file`: the token and a newline; a larger file is the wrong path.
    static let httpTokenFileSize = 4 << 10
    // The limits' ranges are VimanaConfig's (Limits, LedgerConfig), with
    // their reasons: CONFIG SET checks the same ones.
    static let maxClients = Limits.maxClientsRange
    static let maxPayload = Limits.maxPayloadRange
    static let maxInline = Limits.maxInlineRange
    static let queryBuffer = Limits.queryBufferRange
    static let queryBufferBeforeAuth = Limits.queryBufferBeforeAuthRange
    static let outputSoftSeconds = Limits.outputSoftSecondsRange

    // MARK: - ledger

    /// zlib's levels: 0 stores, 9 compresses hardest.
    static let zlibLevel = 0...9
    /// `max_pending`: below 1MiB one burst would pause publishers; above
    /// 16GiB is memory no bus should hold unwritten.
    static let maxPending = (1 << 20)...(16 << 30)
    /// `segment_bytes`: below 64KiB every few messages would seal a segment;
    /// above 4GiB a segment is too big to compact or archive at once.
    static let segmentBytes = (64 << 10)...(4 << 30)
    /// `segment_age`: a segment open longer than a month is one nobody meant.
    static let segmentAgeSeconds = 1...(30 * 86_400)
    /// `retention.max_age`: `LedgerConfig.retentionSecondsRange`.
    static let retentionSeconds = LedgerConfig.retentionSecondsRange

    // MARK: - users

    /// `limits.connections`: at least one (a user that may not connect is `enabled: false`),
    /// at most what `max_clients` may be.
    static let userConnections = 1...maxClients.upperBound
    /// `limits.publish_rate`, messages per second: 100 million is beyond what one server carries.
    static let userPublishRate = 1...100_000_000
    /// `limits.publish_bytes`, bytes per second: 16GiB/s is beyond any network interface.
    static let userPublishBytes = 1...(16 << 30)
    /// A `password_file` holds a few lines: a larger file is almost certainly the wrong path.
    static let passwordFileSize = 64 << 10

    // MARK: - agents

    /// Longest id: it names a consumer group and the topic `dead.<id>`, and is logged with every line.
    static let agentIDLength = 64
    /// `ack_wait`: below 1ms is no wait at all; beyond a day a lost task is effectively never redelivered.
    static let ackWaitMillis = 1...86_400_000
    /// `max_deliver`: a task delivered a thousand times is poison, not bad luck.
    static let maxDeliver = 1...1_000
    /// `prefetch`: tasks in flight per instance.
    static let prefetch = 1...10_000
    /// `max_restarts` (per minute): 0 marks the agent failed at its first exit.
    static let maxRestarts = 0...1_000
    /// `capabilities`: a directory entry, not a document; as discovery's `announce` takes.
    /// One environment string (`NAME=value` and its NUL) as Linux's execve
    /// takes it: MAX_ARG_STRLEN, 32 pages of 4 KiB.
    static let environmentEntryBytes = 131_072
    static let capabilities = AgentConfig.capabilitiesLimit
    static let capabilityLength = AgentConfig.capabilityBytes

    // MARK: - system

    /// `system.discovery.poll_interval` (ms): see `DiscoveryConfig.pollMillisRange`.
    static let discoveryPollMillis = DiscoveryConfig.pollMillisRange
    static let scribeScienceTimeoutMillis = ScribeConfig.scienceTimeoutMillisRange
    /// `system.oracle.scan_entries`: see `OracleConfig.scanEntriesRange`.
    static let oracleScanEntries = OracleConfig.scanEntriesRange
    /// `system.civic.*`: see `CivicConfig`.
    static let civicGrant = CivicConfig.grantRange
    static let civicScanEntries = CivicConfig.scanEntriesRange
    /// `system.supreme_court.*`: see `SupremeCourtConfig`.
    static let courtOffenceWindowSeconds = SupremeCourtConfig.offenceWindowSecondsRange
    static let courtMaxOffences = SupremeCourtConfig.maxOffencesRange
    static let courtScanEntries = SupremeCourtConfig.scanEntriesRange
    /// `system.science.*`: see `ScienceConfig`.
    static let scienceBucketSeconds = ScienceConfig.bucketSecondsRange
    static let scienceRetentionSeconds = ScienceConfig.retentionSecondsRange
    static let scienceCheckpointMillis = ScienceConfig.checkpointMillisRange
    static let sciencePollMillis = ScienceConfig.pollMillisRange
    static let scienceScanCount = ScienceConfig.scanCountRange
    /// `system.auditor.interval_seconds`: see `AuditorConfig.intervalSecondsRange`.
    static let auditorIntervalSeconds = AuditorConfig.intervalSecondsRange
    /// `system.forum.*`: see `ForumConfig`.
    static let forumProposalCost = ForumConfig.proposalCostRange
    static let forumVotingPeriodSeconds = ForumConfig.votingPeriodSecondsRange
    static let forumThresholdMillionths = ForumConfig.thresholdMillionthsRange
    static let forumQuorumMillionths = ForumConfig.quorumMillionthsRange
    /// `system.herald.*`: see `HeraldConfig`.
    static let heraldBroadcastCost = Int(HeraldConfig.broadcastCostRange.lowerBound)...Int(HeraldConfig.broadcastCostRange.upperBound)
    static let heraldMaxLength = HeraldConfig.maxLengthRange
    /// `system.watchman.*`: see `WatchmanConfig`.
    static let watchmanIntervalMillis = WatchmanConfig.intervalMillisRange
    static let watchmanWindowSeconds = WatchmanConfig.windowSecondsRange
    static let watchmanSuspendAfter = WatchmanConfig.suspendAfterRange
    static let watchmanMaxPublishRate = WatchmanConfig.maxPublishRateRange
    static let watchmanAckWaitAfter = WatchmanConfig.ackWaitAfterRange

    // MARK: - federation

    /// A seed address's port: a Redis node listens on a real port, never 0.
    static let federationPort = 1...65535
    /// `federation.*`: see `FederationConfig`.
    static let federationWaitReplicas = FederationConfig.waitReplicasRange
    static let federationWaitTimeoutMillis = FederationConfig.waitTimeoutMillisRange
    static let federationBatchEntries = FederationConfig.batchEntriesRange
}
