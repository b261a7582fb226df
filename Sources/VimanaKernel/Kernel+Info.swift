import VimanaCore
import VimanaRESP
import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// INFO [section ...]: Redis's `# Section` / `key:value` text.
extension Kernel {
    static let version = "0.1.0"
    static let defaultSections = ["server", "clients", "memory", "stats", "pubsub", "ledger"]

    func infoCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var wanted: [String] = []
        if args.count == 1 {
            wanted = Self.defaultSections
        } else {
            for i in 1..<args.count {
                let name = args.string(i).lowercased()
                if name == "all" || name == "everything" || name == "default" {
                    wanted += Self.defaultSections
                } else {
                    wanted.append(name)
                }
            }
        }
        c.pointee.output.tail.writeVerbatim(infoText(sections: wanted), resp3: c.pointee.flags.contains(.resp3))
    }

    /// The INFO text for the named sections; unknown names are skipped, as Redis.
    func infoText(sections: [String]) -> String {
        var text = ""
        var seen = Set<String>()
        for name in sections where !seen.contains(name) {
            seen.insert(name)
            guard let lines = infoSection(name) else { continue }
            if !text.isEmpty { text += "\r\n" }
            text += "# \(name.prefix(1).uppercased() + name.dropFirst())\r\n"
            for (k, v) in lines { text += "\(k):\(v)\r\n" }
        }
        return text
    }

    private func infoSection(_ name: String) -> [(String, String)]? {
        let st = s.pointee
        let m = st.metrics
        switch name {
        case "server":
            let uptime = uptimeSeconds
            return [
                ("redis_version", "\(Self.redisCompatibilityVersion)"),
                ("vimana_version", Self.version),
                ("redis_mode", "standalone"),
                ("os", Self.osName()),
                ("arch_bits", "\(Int.bitWidth)"),
                ("process_id", "\(getpid())"),
                ("tcp_port", "\(port)"),
                ("http_port", "\(httpPort)"),
                ("uptime_in_seconds", "\(uptime)"),
                ("uptime_in_days", "\(uptime / 86400)"),
                ("hz", "10"),
                ("config_file", config.source),
            ]
        case "clients":
            var pubsubClients = 0
            forEachClient { if $0.pointee.isSubscribed { pubsubClients += 1 } }
            return [
                ("connected_clients", "\(st.clientCount)"),
                ("maxclients", "\(st.limits.maxClients)"),
                ("pubsub_clients", "\(pubsubClients)"),
                ("blocked_clients", "\(blockedClientCount)"),
            ]
        case "memory":
            let used = Self.heapBytes()
            let rss = Self.residentBytes()
            return [
                ("used_memory", "\(used)"),
                ("used_memory_human", Self.human(used)),
                ("used_memory_rss", "\(rss)"),
                ("used_memory_rss_human", Self.human(rss)),
                ("maxmemory", "0"),
                ("maxmemory_human", "0B"),
                ("mem_allocator", "libc"),
            ]
        case "stats":
            return [
                ("total_connections_received", "\(m.connectionsAccepted)"),
                ("total_commands_processed", "\(m.commandsProcessed)"),
                ("total_net_input_bytes", "\(m.netInputBytes)"),
                ("total_net_output_bytes", "\(m.netOutputBytes)"),
                ("rejected_connections", "\(m.connectionsRejected)"),
                ("protocol_errors", "\(m.protocolErrors)"),
                ("pubsub_channels", "\(st.channels.count)"),
                ("pubsub_patterns", "\(st.patterns.count)"),
                ("client_query_buffer_limit_disconnections", "\(m.queryBufferDisconnects)"),
                ("client_payload_limit_disconnections", "\(m.payloadLimitDisconnects)"),
                ("accept_errors", "\(m.acceptErrors)"),
                ("client_output_buffer_limit_disconnections", "\(m.slowSubscriberDisconnects + m.normalOutputDisconnects)"),
            ]
        case "pubsub":
            return [
                ("pubsub_channels", "\(st.channels.count)"),
                ("pubsub_patterns", "\(st.patterns.count)"),
                ("pubsub_pattern_subscriptions", "\(st.patterns.subscriptionCount)"),
                ("messages_published", "\(m.messagesPublished)"),
                ("messages_delivered", "\(m.messagesDelivered)"),
                ("slow_subscriber_disconnects", "\(m.slowSubscriberDisconnects)"),
            ]
        case "ledger":
            return ledgerInfo()
        default:
            return nil
        }
    }

    /// Clients waiting in XREAD or XREADGROUP BLOCK (Redis's blocked_clients).
    var blockedClientCount: Int { blockedReaders.count }

    /// INFO ledger: what the ledger holds and how its writer is doing.
    func ledgerInfo() -> [(String, String)] {
        guard let ledger else { return [("ledger_enabled", "0")] }
        let st = ledger.stats
        let raw = st.rawBytesWritten
        let compressed = st.compressedBytesWritten
        let ratio = compressed > 0 ? Double(raw) / Double(compressed) : 0
        let avgFsync = st.fsyncs > 0 ? st.fsyncNanosTotal / Int64(st.fsyncs) / 1000 : 0
        return [
            ("ledger_enabled", "1"),
            ("ledger_dir", ledger.config.dir),
            ("ledger_fsync", ledger.config.fsync.rawValue),
            ("ledger_records", "\(ledger.recordsOnDisk)"),
            ("ledger_first_sequence", "\(ledger.firstSequence)"),
            ("ledger_next_sequence", "\(ledger.nextSequence)"),
            ("ledger_written_sequence", "\(ledger.writtenSequence)"),
            ("ledger_durable_sequence", "\(ledger.durableSequence)"),
            ("ledger_segments", "\(ledger.segmentCount)"),
            ("ledger_disk_bytes", "\(ledger.diskBytes)"),
            ("ledger_streams", "\(ledger.streamCount)"),
            ("ledger_written_records", "\(st.recordsWritten)"),
            ("ledger_raw_bytes", "\(raw)"),
            ("ledger_compressed_bytes", "\(compressed)"),
            ("ledger_compression_ratio", String(format2: ratio)),
            ("ledger_fsyncs", "\(st.fsyncs)"),
            ("ledger_fsync_avg_us", "\(avgFsync)"),
            ("ledger_fsync_last_us", "\(st.fsyncNanosLast / 1000)"),
            ("ledger_last_fsync_time", st.lastFsyncMillis > 0 ? Clock.rfc3339(millis: st.lastFsyncMillis) : ""),
            ("ledger_pending_bytes", "\(ledger.pendingBytes)"),
            ("ledger_pending_batches", "\(ledger.pendingBatches)"),
            ("ledger_max_pending", "\(ledger.config.maxPending)"),
            ("ledger_stalled_clients", "\(stalled.count)"),
            ("ledger_stalls", "\(ledgerStalls)"),
            ("ledger_write_errors", "\(st.writeErrors)"),
            ("ledger_frames_read", "\(st.framesRead)"),
            ("ledger_background_reads", "\(st.backgroundReads)"),
            ("ledger_reads_in_progress", "\(ledger.readsInProgress)"),
            ("ledger_status", ledger.damagedSegments == 0 ? "ok" : "degraded"),
            ("ledger_damaged_segments", "\(ledger.damagedSegments)"),
            ("ledger_unreadable_records", "\(ledger.unreadableRecords)"),
            ("ledger_damage", ledger.damageReport.first ?? ""),
            ("ledger_write_status", ledger.writeError == nil ? "ok" : "err"),
            ("ledger_last_error", st.lastError),
        ]
    }

    // MARK: - Process facts

    static func osName() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: T) -> String {
            withUnsafeBytes(of: v) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    /// Bytes in use by the allocator (glibc mallinfo2).
    static func heapBytes() -> Int {
        Int(vimana_heap_bytes())
    }

    /// Resident set size from /proc/self/statm.
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, 127)
        guard n > 0 else { return 0 }
        let fields = buffer[0..<n].split(separator: 32)
        guard fields.count > 1, let pages = Decimal.parse(Array(fields[1])) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Redis's bytesToHuman: `1.50K`, `12.00M`.
    static func human(_ bytes: Int) -> String {
        let units: [(Int, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (size, unit) in units where bytes >= size {
            let hundredths = (bytes * 100 + size / 2) / size
            let frac = hundredths % 100
            return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)\(unit)"
        }
        return "\(bytes)B"
    }
}

extension String {
    /// A non-negative number with two decimals, without Foundation.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let frac = hundredths % 100
        self = "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
    }
}
