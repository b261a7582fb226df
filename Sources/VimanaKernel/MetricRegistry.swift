import VimanaCore
import VimanaAgents
import VimanaFederation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Declarations

/// Every figure the server reports, declared once in `metric` below: its
/// INFO field, its /metrics family, and how it is read. INFO's sections are
/// these cases in this order (a section shows the cases that name it), so
/// the order is Redis's where INFO mirrors Redis. Counters stay plain
/// integers in `KernelState.metrics`, bumped on the hot path; the registry
/// only reads them, when INFO or /metrics asks.
enum MetricID: CaseIterable {
    // server
    case redisVersion, vimanaVersion, redisMode, os, archBits, processID, runID, tcpPort, httpPort
    case uptime, uptimeInDays, hz, configFile
    // clients
    case connectedClients, maxClients, pubsubClients, blockedClients
    // memory
    case usedMemory, usedMemoryHuman, usedMemoryRSS, usedMemoryRSSHuman, maxMemory, maxMemoryHuman, memAllocator
    // stats
    case connectionsAccepted, commands, instantaneousOps, netInputBytes, netOutputBytes, instantaneousInput, instantaneousOutput
    case connectionsRejected, protocolErrors
    case pubsubChannels, pubsubPatterns, pubsubShardChannels, unexpectedErrorReplies, totalErrorReplies, queryBufferDisconnects, payloadLimitDisconnects, acceptErrors
    case outputLimitDisconnects, aclDeniedAuth, aclDeniedCommand, aclDeniedKey, aclDeniedChannel, licenseRefusedPublishes, httpRequests
    // replication (a lone master: Redis's fields for one without replicas)
    case role, connectedSlaves, masterFailoverState, masterReplID, masterReplID2, masterReplOffset, secondReplOffset
    case replBacklogActive, replBacklogSize, replBacklogFirstByteOffset, replBacklogHistlen
    // cpu (getrusage)
    case usedCPUSys, usedCPUUser, usedCPUSysChildren, usedCPUUserChildren, usedCPUSysMainThread, usedCPUUserMainThread
    // commandstats, errorstats (CommandStats.swift)
    case commandStats, errorStats
    // pubsub (channels, patterns and shard channels above)
    case pubsubPatternSubscriptions, messagesPublished, messagesDelivered, slowSubscriberDisconnects
    // agents (/metrics only)
    case agentInstances, agentTopics, agentPending, agentLag, agentDelivered, agentAcknowledged, agentExpired, agentDeadLettered
    case agentRestarts, agentUp
    // ledger
    case ledgerEnabled, ledgerDir, ledgerFsync, ledgerRecords, ledgerFirstSequence, ledgerNextSequence
    case ledgerWrittenSequence, ledgerDurableSequence, ledgerSegments, ledgerDiskBytes, ledgerStreams
    case ledgerWrittenRecords, ledgerRawBytes, ledgerCompressedBytes, ledgerCompressionRatio, ledgerFsyncs
    case ledgerFsyncSeconds, ledgerFsyncAvgMicros, ledgerFsyncLastMicros, ledgerLastFsyncTime, ledgerLastFsyncTimestamp
    case ledgerPendingBytes, ledgerPendingBatches, ledgerMaxPending, ledgerStalledClients, ledgerStalls
    case ledgerWriteErrors, ledgerFramesRead, ledgerBackgroundReads, ledgerReadsInProgress, ledgerStatus
    case ledgerDamagedSegments, ledgerUnreadableRecords, ledgerDamage, ledgerWriteStatus, ledgerWritable
    case ledgerLastError
    // federation (Kernel+Federation.swift): present only with `federation:`
    case federationNode, federationStatus, federationMirrorCursor, federationMirrorLag, federationMirrored
    case federationWaitShortfalls, federationRewinds, federationSkipped, federationImported, federationImportTopics, federationMalformed, federationTasksClaimed, federationTasksAcknowledged
    case federationErrors, federationUnreachableSeconds, federationLastError
    // users (Kernel+UserLimits.swift): INFO one line per user, /metrics a series per user
    case users, userConnections, userConnectionsRefused, userPauses, userPausedSeconds, userMessages, userBytes
    // keyspace: the topics (Kernel+Keys.swift), as Redis's one database
    case keyspace

    var metric: Metric {
        switch self {
        case .redisVersion: Metric(info: "redis_version", in: .server) { _ in .text("\(Kernel.redisCompatibilityVersion)") }
        case .vimanaVersion: Metric(info: "vimana_version", in: .server) { _ in .text(Kernel.version) }
        case .redisMode: Metric(info: "redis_mode", in: .server) { _ in .text("standalone") }
        case .os: Metric(info: "os", in: .server) { _ in .text(Kernel.osName()) }
        case .archBits: Metric(info: "arch_bits", in: .server) { _ in .int(Int.bitWidth) }
        case .processID: Metric(info: "process_id", in: .server) { _ in .int(Int(getpid())) }
        case .runID: Metric(info: "run_id", in: .server) { .text($0.state.pointee.runID) }
        case .tcpPort: Metric(info: "tcp_port", in: .server) { .int($0.kernel.port) }
        case .httpPort: Metric(info: "http_port", in: .server) { .int($0.kernel.httpPort) }
        case .uptime:
            Metric(info: "uptime_in_seconds", in: .server,
                   family: "vimana_uptime_seconds", .gauge, "Seconds since the kernel started.") { .int($0.uptime) }
        case .uptimeInDays: Metric(info: "uptime_in_days", in: .server) { .int($0.uptime / 86400) }
        case .hz: Metric(info: "hz", in: .server) { _ in .int(10) }
        case .configFile: Metric(info: "config_file", in: .server) { .text($0.kernel.config.source) }

        case .connectedClients:
            Metric(info: "connected_clients", in: .clients,
                   family: "vimana_connections", .gauge, "Open client connections.") { .int($0.state.pointee.clientCount) }
        case .maxClients: Metric(info: "maxclients", in: .clients) { .int($0.state.pointee.limits.maxClients) }
        case .pubsubClients: Metric(info: "pubsub_clients", in: .clients) { .int($0.subscribedClients) }
        case .blockedClients:
            Metric(info: "blocked_clients", in: .clients, family: "vimana_blocked_clients", .gauge,
                   "Clients waiting in XREAD or XREADGROUP BLOCK.") { .int($0.kernel.blockedClientCount) }

        case .usedMemory: Metric(info: "used_memory", in: .memory) { .int($0.heapBytes) }
        case .usedMemoryHuman: Metric(info: "used_memory_human", in: .memory) { .text(Kernel.human($0.heapBytes)) }
        case .usedMemoryRSS:
            Metric(info: "used_memory_rss", in: .memory,
                   family: "vimana_resident_memory_bytes", .gauge, "Resident set size.") { .int($0.residentBytes) }
        case .usedMemoryRSSHuman: Metric(info: "used_memory_rss_human", in: .memory) { .text(Kernel.human($0.residentBytes)) }
        case .maxMemory: Metric(info: "maxmemory", in: .memory) { _ in .int(0) }
        case .maxMemoryHuman: Metric(info: "maxmemory_human", in: .memory) { _ in .text("0B") }
        case .memAllocator: Metric(info: "mem_allocator", in: .memory) { _ in .text("libc") }

        case .connectionsAccepted:
            Metric(info: "total_connections_received", in: .stats, family: "vimana_connections_accepted_total", .counter,
                   "Client connections accepted.") { .int($0.counters.connectionsAccepted) }
        case .commands:
            // INFO's total is the sum of the series: one counter per command, no second count.
            Metric(info: "total_commands_processed", in: .stats, family: "vimana_commands_total", .counter,
                   "Commands processed, by command.", label: "command") { r in
                // A container's calls are its subcommands' (INFO commandstats has both).
                let slots = r.state.pointee.stats.slots, bases = r.state.pointee.stats.subcommandBase
                return Command.allCases.map { c -> (String, Metric.Value) in
                    var calls = slots[c.rawValue].calls
                    let base = bases[c.rawValue]
                    if base >= 0 {
                        for i in 0..<CommandTable.spec(c).subcommands.count { calls &+= slots[base + i].calls }
                    }
                    return (CommandTable.spec(c).name, .int(calls))
                }
            }
        case .instantaneousOps:
            Metric(info: "instantaneous_ops_per_sec", in: .stats) { .int($0.state.pointee.instantaneous.commands.perSecond) }
        case .instantaneousInput:
            Metric(info: "instantaneous_input_kbps", in: .stats) {
                .text(String(format2: Double($0.state.pointee.instantaneous.netInput.perSecond) / 1024))
            }
        case .instantaneousOutput:
            Metric(info: "instantaneous_output_kbps", in: .stats) {
                .text(String(format2: Double($0.state.pointee.instantaneous.netOutput.perSecond) / 1024))
            }
        case .unexpectedErrorReplies:
            // Redis's errors from its master or AOF: Vimana has neither.
            Metric(info: "unexpected_error_replies", in: .stats) { _ in .int(0) }
        case .totalErrorReplies:
            Metric(info: "total_error_replies", in: .stats, family: "vimana_error_replies_total", .counter,
                   "Error replies sent (INFO errorstats has them by code).") { .int($0.state.pointee.stats.totalErrorReplies) }
        case .commandStats:
            Metric(infoLinesPrefixed: "cmdstat_", in: .commandstats) { $0.state.pointee.stats.commandLines() }
        case .errorStats:
            Metric(infoLinesPrefixed: "errorstat_", in: .errorstats) { $0.state.pointee.stats.errorLines() }
        case .netInputBytes:
            Metric(info: "total_net_input_bytes", in: .stats, family: "vimana_net_input_bytes_total", .counter,
                   "Bytes read from clients.") { .int($0.counters.netInputBytes) }
        case .netOutputBytes:
            Metric(info: "total_net_output_bytes", in: .stats, family: "vimana_net_output_bytes_total", .counter,
                   "Bytes written to clients.") { .int($0.counters.netOutputBytes) }
        case .connectionsRejected:
            Metric(info: "rejected_connections", in: .stats, family: "vimana_connections_rejected_total", .counter,
                   "Connections refused at max_clients or by protected mode.") { .int($0.counters.connectionsRejected) }
        case .protocolErrors:
            Metric(info: "protocol_errors", in: .stats, family: "vimana_protocol_errors_total", .counter,
                   "Connections closed for malformed requests.") { .int($0.counters.protocolErrors) }
        case .pubsubChannels:
            Metric(info: "pubsub_channels", in: .stats, .pubsub, family: "vimana_pubsub_channels", .gauge,
                   "Channels with at least one subscriber.") { .int($0.state.pointee.channels.count) }
        case .pubsubPatterns:
            Metric(info: "pubsub_patterns", in: .stats, .pubsub, family: "vimana_pubsub_patterns", .gauge,
                   "Patterns with at least one subscriber.") { .int($0.state.pointee.patterns.count) }
        case .pubsubShardChannels:
            Metric(info: "pubsubshard_channels", in: .stats, .pubsub, family: "vimana_pubsub_shard_channels", .gauge,
                   "Shard channels (SSUBSCRIBE) with at least one subscriber.") { .int($0.state.pointee.shardChannels.count) }
        case .queryBufferDisconnects:
            Metric(info: "client_query_buffer_limit_disconnections", in: .stats,
                   family: "vimana_query_buffer_disconnects_total", .counter,
                   "Connections closed for an unfinished request over the query buffer limit.") {
                .int($0.counters.queryBufferDisconnects)
            }
        case .payloadLimitDisconnects:
            Metric(info: "client_payload_limit_disconnections", in: .stats,
                   family: "vimana_payload_limit_disconnects_total", .counter,
                   "Connections closed for a bulk longer than max_payload.") { .int($0.counters.payloadLimitDisconnects) }
        case .acceptErrors:
            Metric(info: "accept_errors", in: .stats, family: "vimana_accept_errors_total", .counter,
                   "Failed accepts (no file descriptor left, and the like).") { .int($0.counters.acceptErrors) }
        case .outputLimitDisconnects:
            Metric(info: "client_output_buffer_limit_disconnections", in: .stats,
                   family: "vimana_output_limit_disconnects_total", .counter,
                   "Clients disconnected at an output buffer limit, by class.", label: "class") { r in
                [("normal", .int(r.counters.normalOutputDisconnects)), ("pubsub", .int(r.counters.slowSubscriberDisconnects))]
            }
        case .aclDeniedAuth:
            Metric(info: "acl_access_denied_auth", in: .stats, family: "vimana_acl_access_denied_auth_total", .counter,
                   "AUTH and HELLO AUTH refused (ACL LOG reason auth).") { .int($0.counters.aclDeniedAuth) }
        case .aclDeniedCommand:
            Metric(info: "acl_access_denied_cmd", in: .stats, family: "vimana_acl_access_denied_cmd_total", .counter,
                   "Commands refused to their user (ACL LOG reason command).") { .int($0.counters.aclDeniedCommand) }
        case .aclDeniedKey:
            Metric(info: "acl_access_denied_key", in: .stats, family: "vimana_acl_access_denied_key_total", .counter,
                   "Commands refused for a key (ACL LOG reason key).") { .int($0.counters.aclDeniedKey) }
        case .aclDeniedChannel:
            Metric(info: "acl_access_denied_channel", in: .stats, family: "vimana_acl_access_denied_channel_total", .counter,
                   "Commands refused for a channel (ACL LOG reason channel).") { .int($0.counters.aclDeniedChannel) }
        case .licenseRefusedPublishes:
            Metric(info: "license_refused_publishes", in: .stats, family: "vimana_license_refused_publishes_total", .counter,
                   "Publishes refused for a licence not active (ACL LOG reason license).") { .int($0.counters.licenseRefusedPublishes) }
        case .httpRequests:
            Metric(family: "vimana_http_requests_total", .counter,
                   "HTTP requests read on the observability port.") { .int($0.counters.httpRequests) }

        case .role: Metric(info: "role", in: .replication) { _ in .text("master") }
        case .connectedSlaves: Metric(info: "connected_slaves", in: .replication) { _ in .int(0) }
        case .masterFailoverState: Metric(info: "master_failover_state", in: .replication) { _ in .text("no-failover") }
        case .masterReplID: Metric(info: "master_replid", in: .replication) { .text($0.state.pointee.runID) }
        case .masterReplID2: Metric(info: "master_replid2", in: .replication) { _ in .text(String(repeating: "0", count: 40)) }
        case .masterReplOffset: Metric(info: "master_repl_offset", in: .replication) { _ in .int(0) }
        case .secondReplOffset: Metric(info: "second_repl_offset", in: .replication) { _ in .int(-1) }
        case .replBacklogActive: Metric(info: "repl_backlog_active", in: .replication) { _ in .int(0) }
        case .replBacklogSize: Metric(info: "repl_backlog_size", in: .replication) { _ in .int(0) }
        case .replBacklogFirstByteOffset: Metric(info: "repl_backlog_first_byte_offset", in: .replication) { _ in .int(0) }
        case .replBacklogHistlen: Metric(info: "repl_backlog_histlen", in: .replication) { _ in .int(0) }

        case .usedCPUSys: Metric(info: "used_cpu_sys", in: .cpu) { .text($0.cpu(MetricReader.selfUsage).system) }
        case .usedCPUUser:
            Metric(info: "used_cpu_user", in: .cpu) { .text($0.cpu(MetricReader.selfUsage).user) }
        case .usedCPUSysChildren: Metric(info: "used_cpu_sys_children", in: .cpu) { .text($0.cpu(MetricReader.childrenUsage).system) }
        case .usedCPUUserChildren: Metric(info: "used_cpu_user_children", in: .cpu) { .text($0.cpu(MetricReader.childrenUsage).user) }
        case .usedCPUSysMainThread: Metric(info: "used_cpu_sys_main_thread", in: .cpu) { .text($0.cpu(MetricReader.threadUsage).system) }
        case .usedCPUUserMainThread: Metric(info: "used_cpu_user_main_thread", in: .cpu) { .text($0.cpu(MetricReader.threadUsage).user) }

        case .pubsubPatternSubscriptions:
            Metric(info: "pubsub_pattern_subscriptions", in: .pubsub) { .int($0.state.pointee.patterns.subscriptionCount) }
        case .messagesPublished:
            Metric(info: "messages_published", in: .pubsub, family: "vimana_messages_published_total", .counter,
                   "Messages published.") { .int($0.counters.messagesPublished) }
        case .messagesDelivered:
            Metric(info: "messages_delivered", in: .pubsub, family: "vimana_messages_delivered_total", .counter,
                   "Messages delivered to subscribers.") { .int($0.counters.messagesDelivered) }
        case .slowSubscriberDisconnects:
            Metric(info: "slow_subscriber_disconnects", in: .pubsub, family: "vimana_slow_subscriber_disconnects_total",
                   .counter, "Subscribers disconnected for exceeding the pubsub output limits.") {
                .int($0.counters.slowSubscriberDisconnects)
            }

        case .agentInstances: Metric(agentField: "instances", .gauge, "Live instances of the agent.")
        case .agentTopics: Metric(agentField: "topics", .gauge, "Topics the agent has a consumer group on.")
        case .agentPending: Metric(agentField: "pending", .gauge, "Tasks delivered and not acknowledged.")
        case .agentLag: Metric(agentField: "lag", .gauge, "Entries of the agent's topics not yet delivered.")
        case .agentDelivered: Metric(agentField: "delivered", .counter, "Task deliveries (redeliveries included).")
        case .agentAcknowledged: Metric(agentField: "acknowledged", .counter, "Tasks acknowledged.")
        case .agentExpired:
            Metric(agentField: "expired", .counter, "Tasks held past ack_wait (taken back for redelivery or dead-lettered).")
        case .agentDeadLettered: Metric(agentField: "dead-lettered", .counter, "Tasks dead-lettered after max_deliver.")
        case .agentRestarts: Metric(agentField: "restarts", .counter, "Supervisor restarts of the agent's process.")
        case .agentUp:
            Metric(family: "vimana_agent_up", .gauge, "1 when the agent is running (has a live instance).", label: "agent") { r in
                r.agents.map { a -> (String, Metric.Value) in
                    let up = if case .string(let status)? = a.fields["status"] { status == AgentStatus.running.rawValue } else { false }
                    return (a.id, .int(up ? 1 : 0))
                }
            }

        case .ledgerEnabled: Metric(info: "ledger_enabled", in: .ledger) { .int($0.kernel.ledger == nil ? 0 : 1) }
        case .ledgerDir: Metric(info: "ledger_dir", in: .ledger) { $0.kernel.ledger.map { .text($0.config.dir) } }
        case .ledgerFsync: Metric(info: "ledger_fsync", in: .ledger) { $0.kernel.ledger.map { .text($0.config.fsync.rawValue) } }
        case .ledgerRecords:
            Metric(info: "ledger_records", in: .ledger, family: "vimana_ledger_records", .gauge,
                   "Records in the ledger's segments.") { $0.kernel.ledger.map { .unsigned($0.recordsOnDisk) } }
        case .ledgerFirstSequence:
            Metric(info: "ledger_first_sequence", in: .ledger) { $0.kernel.ledger.map { .unsigned($0.firstSequence) } }
        case .ledgerNextSequence:
            Metric(info: "ledger_next_sequence", in: .ledger) { $0.kernel.ledger.map { .unsigned($0.nextSequence) } }
        case .ledgerWrittenSequence:
            Metric(info: "ledger_written_sequence", in: .ledger) { $0.kernel.ledger.map { .unsigned($0.writtenSequence) } }
        case .ledgerDurableSequence:
            Metric(info: "ledger_durable_sequence", in: .ledger) { $0.kernel.ledger.map { .unsigned($0.durableSequence) } }
        case .ledgerSegments:
            Metric(info: "ledger_segments", in: .ledger, family: "vimana_ledger_segments", .gauge, "Segment files.") {
                $0.kernel.ledger.map { .int($0.segmentCount) }
            }
        case .ledgerDiskBytes:
            Metric(info: "ledger_disk_bytes", in: .ledger, family: "vimana_ledger_disk_bytes", .gauge,
                   "Bytes of segment files.") { $0.kernel.ledger.map { .int($0.diskBytes) } }
        case .ledgerStreams: Metric(info: "ledger_streams", in: .ledger) { $0.kernel.ledger.map { .int($0.streamCount) } }
        case .ledgerWrittenRecords:
            Metric(info: "ledger_written_records", in: .ledger, family: "vimana_ledger_records_written_total", .counter,
                   "Records written since start.") { $0.kernel.ledger.map { .unsigned($0.stats.recordsWritten) } }
        case .ledgerRawBytes:
            Metric(info: "ledger_raw_bytes", in: .ledger, family: "vimana_ledger_raw_bytes_total", .counter,
                   "Record bytes before compression, since start.") { $0.kernel.ledger.map { .int($0.stats.rawBytesWritten) } }
        case .ledgerCompressedBytes:
            Metric(info: "ledger_compressed_bytes", in: .ledger, family: "vimana_ledger_compressed_bytes_total", .counter,
                   "Frame bytes written, since start.") { $0.kernel.ledger.map { .int($0.stats.compressedBytesWritten) } }
        case .ledgerCompressionRatio:
            Metric(info: "ledger_compression_ratio", in: .ledger) {
                $0.kernel.ledger.map { l in
                    let (raw, compressed) = (l.stats.rawBytesWritten, l.stats.compressedBytesWritten)
                    return .text(String(format2: compressed > 0 ? Double(raw) / Double(compressed) : 0))
                }
            }
        case .ledgerFsyncs:
            Metric(info: "ledger_fsyncs", in: .ledger, family: "vimana_ledger_fsyncs_total", .counter,
                   "fsync calls on the active segment.") { $0.kernel.ledger.map { .int($0.stats.fsyncs) } }
        case .ledgerFsyncSeconds:
            Metric(family: "vimana_ledger_fsync_seconds_total", .counter, "Time spent in fsync.") {
                $0.kernel.ledger.map { .double(Double($0.stats.fsyncNanosTotal) / 1e9) }
            }
        case .ledgerFsyncAvgMicros:
            Metric(info: "ledger_fsync_avg_us", in: .ledger) {
                $0.kernel.ledger.map { l in .int(Int(l.stats.fsyncs > 0 ? l.stats.fsyncNanosTotal / Int64(l.stats.fsyncs) / 1000 : 0)) }
            }
        case .ledgerFsyncLastMicros:
            Metric(info: "ledger_fsync_last_us", in: .ledger) { $0.kernel.ledger.map { .int(Int($0.stats.fsyncNanosLast / 1000)) } }
        case .ledgerLastFsyncTime:
            Metric(info: "ledger_last_fsync_time", in: .ledger) {
                $0.kernel.ledger.map { l in .text(l.stats.lastFsyncMillis > 0 ? Clock.rfc3339(millis: l.stats.lastFsyncMillis) : "") }
            }
        case .ledgerLastFsyncTimestamp:
            Metric(family: "vimana_ledger_last_fsync_timestamp_seconds", .gauge, "Wall time of the last fsync.") {
                $0.kernel.ledger.map { .int(Int($0.stats.lastFsyncMillis / 1000)) }
            }
        case .ledgerPendingBytes:
            Metric(info: "ledger_pending_bytes", in: .ledger, family: "vimana_ledger_pending_bytes", .gauge,
                   "Bytes handed to the writer and not yet written.") { $0.kernel.ledger.map { .int($0.pendingBytes) } }
        case .ledgerPendingBatches:
            Metric(info: "ledger_pending_batches", in: .ledger, family: "vimana_ledger_writer_queue_depth", .gauge,
                   "Batches waiting for the writer.") { $0.kernel.ledger.map { .int($0.pendingBatches) } }
        case .ledgerMaxPending:
            Metric(info: "ledger_max_pending", in: .ledger) { $0.kernel.ledger.map { .int($0.config.maxPending) } }
        case .ledgerStalledClients:
            Metric(info: "ledger_stalled_clients", in: .ledger) { r in r.kernel.ledger.map { _ in .int(r.kernel.s.pointee.ledgerGate.stalledCount) } }
        case .ledgerStalls:
            Metric(info: "ledger_stalls", in: .ledger, family: "vimana_ledger_stalls_total", .counter,
                   "Times a publisher was paused for the writer.") { r in r.kernel.ledger.map { _ in .int(r.kernel.s.pointee.ledgerGate.stalls) } }
        case .ledgerWriteErrors:
            Metric(info: "ledger_write_errors", in: .ledger, family: "vimana_ledger_write_errors_total", .counter,
                   "Failed writes or fsyncs.") { $0.kernel.ledger.map { .int($0.stats.writeErrors) } }
        case .ledgerFramesRead:
            Metric(info: "ledger_frames_read", in: .ledger, family: "vimana_ledger_frames_read_total", .counter,
                   "Frames inflated to answer reads.") { $0.kernel.ledger.map { .int($0.stats.framesRead) } }
        case .ledgerBackgroundReads:
            Metric(info: "ledger_background_reads", in: .ledger) { $0.kernel.ledger.map { .int($0.stats.backgroundReads) } }
        case .ledgerReadsInProgress:
            Metric(info: "ledger_reads_in_progress", in: .ledger, family: "vimana_ledger_reads_in_progress", .gauge,
                   "Reads on the reader thread now.") { $0.kernel.ledger.map { .int($0.readsInProgress) } }
        case .ledgerStatus:
            Metric(info: "ledger_status", in: .ledger) { $0.kernel.ledger.map { .text($0.damagedSegments == 0 ? "ok" : "degraded") } }
        case .ledgerDamagedSegments:
            Metric(info: "ledger_damaged_segments", in: .ledger, family: "vimana_ledger_damaged_segments", .gauge,
                   "Sealed segments with frames that cannot be read.") { $0.kernel.ledger.map { .int($0.damagedSegments) } }
        case .ledgerUnreadableRecords:
            Metric(info: "ledger_unreadable_records", in: .ledger) { $0.kernel.ledger.map { .unsigned($0.unreadableRecords) } }
        case .ledgerDamage:
            Metric(info: "ledger_damage", in: .ledger) { $0.kernel.ledger.map { .text($0.damageReport.first ?? "") } }
        case .ledgerWriteStatus:
            Metric(info: "ledger_write_status", in: .ledger) { $0.kernel.ledger.map { .text($0.writeError == nil ? "ok" : "err") } }
        case .ledgerWritable:
            Metric(family: "vimana_ledger_writable", .gauge, "1 while the ledger can write; 0 while appends are refused.") {
                $0.kernel.ledger.map { .int($0.writeError == nil ? 1 : 0) }
            }
        case .ledgerLastError: Metric(info: "ledger_last_error", in: .ledger) { $0.kernel.ledger.map { .text($0.stats.lastError) } }

        case .federationNode: Metric(info: "federation_node", in: .federation) { $0.federation.map { .text($0.node) } }
        case .federationStatus:
            Metric(info: "federation_status", in: .federation) { $0.federation.map { .text($0.clusterReachable ? "ok" : "degraded") } }
        case .federationMirrorCursor:
            Metric(info: "federation_mirror_cursor", in: .federation, family: "vimana_federation_mirror_cursor", .gauge,
                   "Ledger sequence below which every federated entry is in the cluster.") { $0.federation.map { .unsigned($0.mirrorCursor) } }
        case .federationMirrorLag:
            Metric(info: "federation_mirror_lag", in: .federation, family: "vimana_federation_mirror_lag", .gauge,
                   "Ledger records confirmed and not yet past the mirror's cursor.") { $0.federation.map { .unsigned($0.mirrorLag) } }
        case .federationMirrored:
            Metric(info: "federation_mirrored_entries", in: .federation, family: "vimana_federation_mirrored_entries_total", .counter,
                   "Entries this kernel appended to the cluster.") { $0.federation.map { .unsigned($0.mirroredEntries) } }
        case .federationWaitShortfalls:
            Metric(info: "federation_wait_shortfalls", in: .federation, family: "vimana_federation_wait_shortfalls_total", .counter,
                   "WAIT answers below wait_replicas.") { $0.federation.map { .unsigned($0.waitShortfalls) } }
        case .federationRewinds:
            Metric(info: "federation_rewinds", in: .federation, family: "vimana_federation_rewinds_total", .counter,
                   "Times the cluster had lost acknowledged entries in a failover and the mirror sent them again.") {
                $0.federation.map { .unsigned($0.rewinds) }
            }
        case .federationSkipped:
            Metric(info: "federation_skipped_entries", in: .federation) { $0.federation.map { .unsigned($0.skippedEntries) } }
        case .federationImported:
            Metric(info: "federation_imported_entries", in: .federation, family: "vimana_federation_imported_entries_total", .counter,
                   "Entries of other kernels appended to this ledger.") { $0.federation.map { .unsigned($0.importedEntries) } }
        case .federationImportTopics:
            Metric(info: "federation_import_topics", in: .federation) { $0.federation.map { .int($0.importTopics) } }
        case .federationMalformed:
            Metric(info: "federation_malformed_entries", in: .federation) { $0.federation.map { .unsigned($0.malformedEntries) } }
        case .federationTasksClaimed:
            Metric(info: "federation_tasks_claimed", in: .federation, family: "vimana_federation_tasks_claimed_total", .counter,
                   "Tasks of agents on federated topics claimed in the cluster for this kernel's instances.") {
                $0.federation.map { .unsigned($0.tasksClaimed) }
            }
        case .federationTasksAcknowledged:
            Metric(info: "federation_tasks_acknowledged", in: .federation, family: "vimana_federation_tasks_acknowledged_total", .counter,
                   "Tasks answered on this kernel and acknowledged in the cluster.") {
                $0.federation.map { .unsigned($0.tasksAcknowledged) }
            }
        case .federationErrors:
            Metric(info: "federation_errors", in: .federation, family: "vimana_federation_errors_total", .counter,
                   "Failed cluster calls and cursor writes.") { $0.federation.map { .unsigned($0.errors) } }
        case .federationUnreachableSeconds:
            Metric(info: "federation_unreachable_seconds", in: .federation, family: "vimana_federation_unreachable_seconds", .gauge,
                   "Seconds since a cluster call failed with none succeeding since; 0 while it answers.") { r in
                r.federation.map { f in .int(f.clusterReachable ? 0 : Int(max(0, Clock.wallMillis() - f.unreachableSinceMillis) / 1000)) }
            }
        case .federationLastError: Metric(info: "federation_last_error", in: .federation) { $0.federation.map { .text($0.lastError) } }

        case .users:
            Metric(infoLinesPrefixed: "user_", in: .users) { r in
                r.userFigures.map { u in
                    var value = "connections=\(u.connections),connections_refused=\(u.refused),publish_pauses=\(u.pauses),"
                        + "publish_paused_seconds=\(String(format3: u.pausedSeconds))"
                    if let m = u.messages, let b = u.bytes { value += ",messages_published=\(m),bytes_published=\(b)" }
                    if let license = u.license { value += ",license=\(license.rawValue)" }
                    return ("user_" + Kernel.infoName(u.name), value)
                }
            }
        case .keyspace:
            // Redis's line for its database 0, only when it has keys; no key expires.
            Metric(infoLinesPrefixed: "db", in: .keyspace) { r in
                guard let n = r.kernel.ledger?.listedKeyCount, n > 0 else { return [] }
                return [("db0", "keys=\(n),expires=0,avg_ttl=0")]
            }
        case .userConnections:
            Metric(family: "vimana_user_connections", .gauge, "Connections acting as the user.", label: "user") { r in
                r.userFigures.map { ($0.name, .int($0.connections)) }
            }
        case .userConnectionsRefused:
            Metric(family: "vimana_user_connections_refused_total", .counter,
                   "Connections and AUTHs refused at the user's connections limit.", label: "user") { r in
                r.userFigures.map { ($0.name, .int($0.refused)) }
            }
        case .userPauses:
            Metric(family: "vimana_user_publish_pauses_total", .counter,
                   "Times the user's publishers were paused at its publish limit.", label: "user") { r in
                r.userFigures.map { ($0.name, .int($0.pauses)) }
            }
        case .userPausedSeconds:
            Metric(family: "vimana_user_publish_paused_seconds_total", .counter,
                   "Time the user's publishers spent paused at its publish limit.", label: "user") { r in
                r.userFigures.map { ($0.name, .double($0.pausedSeconds)) }
            }
        case .userMessages:
            Metric(family: "vimana_user_published_messages_total", .counter,
                   "Messages the user published (PUBLISH, XADD); users with a publish limit.", label: "user") { r in
                r.userFigures.compactMap { u in u.messages.map { (u.name, .int($0)) } }
            }
        case .userBytes:
            Metric(family: "vimana_user_published_bytes_total", .counter,
                   "Payload bytes the user published (PUBLISH messages, XADD fields and values); users with a publish limit.",
                   label: "user") { r in
                r.userFigures.compactMap { u in u.bytes.map { (u.name, .int($0)) } }
            }
        }
    }
}

/// INFO's sections, in the order INFO with no argument (or `all`) gives them.
enum InfoSection: String, CaseIterable, Sendable {
    case server, clients, memory, stats, replication, cpu, commandstats, errorstats, pubsub, ledger, federation, users, keyspace

    /// INFO without a section, or `default`: every section but
    /// `commandstats`, as Redis leaves it out (`all` and `everything` have it).
    static let defaults = allCases.filter { $0 != .commandstats }
}

// MARK: - The declaration's shape

/// One figure: where INFO shows it, what /metrics calls it, how it is read.
struct Metric: Sendable {
    enum Kind: String, Sendable { case counter, gauge }

    enum Value {
        case int(Int), unsigned(UInt64), double(Double), text(String)

        var rendered: String {
            switch self {
            case .int(let n): String(n)
            case .unsigned(let n): String(n)
            case .double(let d): "\(d)"
            case .text(let s): s
            }
        }
    }

    enum Read: Sendable {
        /// One value; nil while the figure does not apply (the ledger is off),
        /// and then neither INFO nor /metrics shows it.
        case value(@Sendable (MetricReader) -> Value?)
        /// One value per label value (a command, an agent, a class). INFO's
        /// field is their sum; /metrics leaves out a family with no series.
        case series(label: String, @Sendable (MetricReader) -> [(String, Value)])
        /// INFO lines, each `field:value`, every field beginning with the
        /// declared one (INFO `users`: `user_<name>`).
        case lines(@Sendable (MetricReader) -> [(String, String)])
    }

    /// INFO's field name and the sections that show it; nil: /metrics only.
    let info: (field: String, sections: [InfoSection])?
    /// The Prometheus family; nil: INFO only.
    let family: (name: String, kind: Kind, help: String)?
    let read: Read

    /// A figure of INFO, and of /metrics when `family` is given.
    init(info field: String, in sections: InfoSection..., family name: String? = nil, _ kind: Kind = .gauge, _ help: String = "",
         value: @escaping @Sendable (MetricReader) -> Value?) {
        info = (field, sections)
        family = name.map { ($0, kind, help) }
        read = .value(value)
    }

    /// A labelled family, and INFO's field (the series' sum) when `info` is given.
    init(info field: String? = nil, in sections: InfoSection..., family name: String, _ kind: Kind, _ help: String,
         label: String, series: @escaping @Sendable (MetricReader) -> [(String, Value)]) {
        info = field.map { ($0, sections) }
        family = (name, kind, help)
        read = .series(label: label, series)
    }

    /// INFO lines whose fields begin with `prefix` (one per user), no family.
    init(infoLinesPrefixed prefix: String, in sections: InfoSection..., lines: @escaping @Sendable (MetricReader) -> [(String, String)]) {
        info = (prefix, sections)
        family = nil
        read = .lines(lines)
    }

    /// A figure of /metrics only.
    init(family name: String, _ kind: Kind, _ help: String, value: @escaping @Sendable (MetricReader) -> Value?) {
        info = nil
        family = (name, kind, help)
        read = .value(value)
    }

    /// An integer field of `agentFields` (AGENTS, /health), one series per
    /// agent, named `vimana_agent_<field>` (`-` as `_`; counters end in
    /// `_total`) as Protocol/AGENTS.md §7 promises.
    init(agentField field: String, _ kind: Kind, _ help: String) {
        let name = "vimana_agent_" + String(field.map { $0 == "-" ? "_" : $0 }) + (kind == .counter ? "_total" : "")
        self.init(family: name, kind, help, label: "agent") { r in
            r.agents.compactMap { a -> (String, Value)? in
                guard case .int(let n)? = a.fields[field] else { return nil }
                return (a.id, .int(n))
            }
        }
    }
}

/// What the reads see: the kernel, and the facts that cost a system call or
/// a walk, gathered at most once per rendering (so `used_memory_rss` and
/// `used_memory_rss_human` describe one reading, and agents are asked once).
final class MetricReader {
    let kernel: Kernel
    init(_ kernel: Kernel) { self.kernel = kernel }

    var state: UnsafeMutablePointer<KernelState> { kernel.s }

    /// getrusage's `who`: the process, its waited-for children (the
    /// supervised agents), and the calling thread (RUSAGE_THREAD, a GNU
    /// value Glibc's module does not export): the event loop's.
    static let selfUsage = RUSAGE_SELF.rawValue, childrenUsage = RUSAGE_CHILDREN.rawValue, threadUsage: Int32 = 1

    /// getrusage's system and user CPU as Redis writes them (`%ld.%06ld` seconds).
    func cpu(_ who: Int32) -> (system: String, user: String) {
        var u = rusage()
        guard getrusage(__rusage_who_t(who), &u) == 0 else { return ("0.000000", "0.000000") }
        func text(_ t: timeval) -> String {
            let micros = String(t.tv_usec)
            return "\(t.tv_sec)." + String(repeating: "0", count: max(0, 6 - micros.count)) + micros
        }
        return (text(u.ru_stime), text(u.ru_utime))
    }
    var counters: Metrics { kernel.s.pointee.metrics }
    /// One snapshot of the federation's figures per INFO or /metrics (nil without `federation:`).
    lazy var federation: FederationStatus? = kernel.federation?.status
    lazy var uptime = Int(kernel.uptimeSeconds)
    lazy var heapBytes = Kernel.heapBytes()
    lazy var residentBytes = Kernel.residentBytes()
    lazy var subscribedClients: Int = {
        var n = 0
        self.kernel.forEachClient { if $0.pointee.isSubscribed { n += 1 } }
        return n
    }()
    /// Each agent's facts as AGENTS and /health give them (`agentFields`).
    lazy var agents: [(id: String, fields: [String: LogValue])] = kernel.agents.all.map { a in
        (a.id, Dictionary(kernel.agentFields(a), uniquingKeysWith: { first, _ in first }))
    }
    /// Each user's figures (Kernel+UserLimits.swift), in ACL USERS' order.
    lazy var userFigures: [UserFigures] = kernel.userFigures()
}

// MARK: - Rendering

enum MetricRegistry {
    /// Every figure with its declaration, in INFO's order.
    static let all: [(id: MetricID, metric: Metric)] = MetricID.allCases.map { ($0, $0.metric) }

    /// The order of /metrics' first families, as they were served before the
    /// registry (so that a scrape's text did not change); every other family
    /// follows in declaration order, so a new one cannot be left out.
    static let exposedFirst: [MetricID] = [
        .connectedClients, .connectionsAccepted, .connectionsRejected, .commands, .netInputBytes, .netOutputBytes,
        .messagesPublished, .messagesDelivered, .slowSubscriberDisconnects, .outputLimitDisconnects, .protocolErrors,
        .queryBufferDisconnects, .payloadLimitDisconnects, .acceptErrors, .blockedClients, .pubsubChannels,
        .pubsubPatterns, .uptime, .usedMemoryRSS,
    ]

    /// The figures /metrics exports, in its order.
    static let exposition: [(id: MetricID, metric: Metric)] = {
        let first = exposedFirst.map { ($0, $0.metric) }
        return first + all.filter { $0.metric.family != nil && !exposedFirst.contains($0.id) }
    }()

    /// INFO's `field:value` pairs of one section.
    static func info(_ section: InfoSection, _ r: MetricReader) -> [(String, String)] {
        var out: [(String, String)] = []
        for (_, m) in all {
            guard let info = m.info, info.sections.contains(section) else { continue }
            switch m.read {
            case .value(let read):
                if let v = read(r) { out.append((info.field, v.rendered)) }
            case .series(_, let read):
                let sum = read(r).reduce(0) { total, sample in
                    if case .int(let n) = sample.1 { total &+ n } else { total }
                }
                out.append((info.field, String(sum)))
            case .lines(let read):
                out += read(r)
            }
        }
        return out
    }

    /// Prometheus text exposition format (version 0.0.4): each family with
    /// its HELP and TYPE lines; label values written as JSON strings.
    static func prometheus(_ r: MetricReader) -> String {
        var out = ""
        for (_, m) in exposition {
            guard let f = m.family else { continue }
            let head = "# HELP \(f.name) \(f.help)\n# TYPE \(f.name) \(f.kind.rawValue)\n"
            switch m.read {
            case .value(let read):
                guard let v = read(r) else { continue }
                out += head + "\(f.name) \(v.rendered)\n"
            case .series(let label, let read):
                let series = read(r)
                guard !series.isEmpty else { continue }
                out += head
                for (value, v) in series { out += "\(f.name){\(label)=\(Log.jsonString(value))} \(v.rendered)\n" }
            case .lines:
                continue
            }
        }
        return out
    }
}
