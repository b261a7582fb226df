import VimanaCore
import VimanaEventLoop
import VimanaAgents
#if canImport(Glibc)
import Glibc
#endif

/// The observability port: GET /health, /ready, /metrics over HTTP/1.1 on
/// the same event loop. One request per connection (`Connection: close`),
/// which is all health checkers and Prometheus need.
extension Kernel {
    func readHTTP(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.closeAfterReply) {
            discardInput(c)
            return
        }
        c.pointee.input.reserve(2048)
        let room = min(c.pointee.input.writableBytes, KernelConstants.maxHTTPRequest + 1 - c.pointee.input.readableBytes)
        switch Socket.read(c.pointee.fd, into: &c.pointee.input, limit: max(room, 1)) {
        case .bytes: break
        case .wouldBlock: return
        case .closed: markClose(c, reason: "eof"); return
        case .failed(let e): markClose(c, reason: String(cString: strerror(e))); return
        }
        let bytes = c.pointee.input.unreadBytes
        guard let headEnd = Self.findHeadEnd(bytes) else {
            if bytes.count > KernelConstants.maxHTTPRequest {
                respondHTTP(c, status: "431 Request Header Fields Too Large", type: "text/plain", body: "request head too large\n")
            }
            return
        }
        s.pointee.metrics.httpRequests += 1
        let line = bytes[..<headEnd].split(separator: 13, maxSplits: 1).first ?? []
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)) else {
            respondHTTP(c, status: "400 Bad Request", type: "text/plain", body: "bad request\n")
            return
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        var path = String(decoding: parts[1], as: UTF8.self)
        if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
        guard method == "GET" || method == "HEAD" else {
            respondHTTP(c, status: "405 Method Not Allowed", type: "text/plain", body: "only GET\n", head: false)
            return
        }
        let head = method == "HEAD"
        switch path {
        case "/health":
            var agentsJSON = ""
            for (k, a) in agents.all.enumerated() {
                if k > 0 { agentsJSON += "," }
                agentsJSON += "{" + agentFields(a).map { key, value in
                    let v: String
                    switch value {
                    case .int(let n): v = String(n)
                    case .string(let text): v = Log.jsonString(text)
                    default: v = "null"
                    }
                    return Log.jsonString(key) + ":" + v
                }.joined(separator: ",") + "}"
            }
            // Degraded, not down: serving, but some recorded entries cannot be read,
            // or nothing can be recorded now (a restart would not free the disk),
            // so the status stays 200.
            var problems = (ledger?.damageReport ?? []).map { "ledger: " + $0 }
            if let reason = ledgerRefusal { problems.insert(reason, at: 0) }
            // Its tasks wait (`lag`, `pending`) until an instance joins.
            problems += requiredAgentsDown.map { "agent '\($0.id)' is required and has no instance" }
            var status = "\"status\":\"ok\","
            if !problems.isEmpty {
                status = "\"status\":\"degraded\","
                if let reason = ledgerRefusal { status += "\"reason\":\(Log.jsonString(reason))," }
                status += "\"problems\":[" + problems.map { Log.jsonString($0) }.joined(separator: ",") + "],"
            }
            let body = "{\(status)\"uptime_seconds\":\(uptimeSeconds),\"connections\":\(s.pointee.clientCount),"
                + "\"agents\":[\(agentsJSON)]}\n"
            respondHTTP(c, status: "200 OK", type: "application/json", body: body, head: head)
        case "/ready":
            if s.pointee.ready, let reason = ledgerRefusal {
                respondHTTP(c, status: "503 Service Unavailable", type: "application/json",
                            body: "{\"ready\":false,\"reason\":\(Log.jsonString(reason))}\n", head: head)
            } else if s.pointee.ready && !requiredAgentsUp {
                let down = requiredAgentsDown.map(\.id)
                respondHTTP(c, status: "503 Service Unavailable", type: "application/json",
                            body: "{\"ready\":false,\"reason\":\"required agents down\",\"agents\":[\(down.map { Log.jsonString($0) }.joined(separator: ","))]}\n",
                            head: head)
            } else if s.pointee.ready {
                respondHTTP(c, status: "200 OK", type: "application/json", body: "{\"ready\":true}\n", head: head)
            } else {
                let reason = s.pointee.shuttingDown ? "shutting down" : "starting"
                respondHTTP(c, status: "503 Service Unavailable", type: "application/json",
                            body: "{\"ready\":false,\"reason\":\"\(reason)\"}\n", head: head)
            }
        case "/metrics":
            respondHTTP(c, status: "200 OK", type: "text/plain; version=0.0.4", body: metricsText(), head: head)
        default:
            respondHTTP(c, status: "404 Not Found", type: "text/plain", body: "not found: try /health, /ready, /metrics\n", head: head)
        }
    }

    /// Why nothing can be recorded now (the ledger writer is failing), or nil.
    var ledgerRefusal: String? {
        ledger?.writeError.map { "ledger cannot write: \($0.description)" }
    }

    private static func findHeadEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        // Tolerate bare-LF clients (hand-typed netcat requests).
        for i in 0..<(b.count - 1) where b[i] == 10 && b[i + 1] == 10 { return i }
        return nil
    }

    private func respondHTTP(_ c: UnsafeMutablePointer<ClientState>, status: String, type: String, body: String, head: Bool = false) {
        let text = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + (head ? "" : body)
        c.pointee.input.clear()
        c.pointee.output.tail.append(string: text)
        // Linger: a client whose head was refused (431) may still be sending it.
        c.pointee.flags.insert([.closeAfterReply, .lingerAfterReply])
        markPending(c)
    }

    /// Prometheus text exposition format (version 0.0.4).
    func metricsText() -> String {
        let st = s.pointee
        let m = st.metrics
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("vimana_connections", "gauge", "Open client connections.", st.clientCount)
        metric("vimana_connections_accepted_total", "counter", "Client connections accepted.", m.connectionsAccepted)
        metric("vimana_connections_rejected_total", "counter", "Connections refused at max_clients.", m.connectionsRejected)
        out += "# HELP vimana_commands_total Commands processed, by command.\n# TYPE vimana_commands_total counter\n"
        for command in Command.allCases {
            out += "vimana_commands_total{command=\"\(CommandTable.spec(command).name)\"} \(m.commandCalls[command.rawValue])\n"
        }
        metric("vimana_net_input_bytes_total", "counter", "Bytes read from clients.", m.netInputBytes)
        metric("vimana_net_output_bytes_total", "counter", "Bytes written to clients.", m.netOutputBytes)
        metric("vimana_messages_published_total", "counter", "Messages published.", m.messagesPublished)
        metric("vimana_messages_delivered_total", "counter", "Messages delivered to subscribers.", m.messagesDelivered)
        metric("vimana_slow_subscriber_disconnects_total", "counter",
               "Subscribers disconnected for exceeding the pubsub output limits.", m.slowSubscriberDisconnects)
        out += "# HELP vimana_output_limit_disconnects_total Clients disconnected at an output buffer limit, by class.\n"
            + "# TYPE vimana_output_limit_disconnects_total counter\n"
            + "vimana_output_limit_disconnects_total{class=\"normal\"} \(m.normalOutputDisconnects)\n"
            + "vimana_output_limit_disconnects_total{class=\"pubsub\"} \(m.slowSubscriberDisconnects)\n"
        metric("vimana_protocol_errors_total", "counter", "Connections closed for malformed requests.", m.protocolErrors)
        metric("vimana_query_buffer_disconnects_total", "counter",
               "Connections closed for an unfinished request over the query buffer limit.", m.queryBufferDisconnects)
        metric("vimana_payload_limit_disconnects_total", "counter",
               "Connections closed for a bulk longer than max_payload.", m.payloadLimitDisconnects)
        metric("vimana_accept_errors_total", "counter",
               "Failed accepts (no file descriptor left, and the like).", m.acceptErrors)
        metric("vimana_blocked_clients", "gauge", "Clients waiting in XREAD or XREADGROUP BLOCK.", blockedClientCount)
        metric("vimana_pubsub_channels", "gauge", "Channels with at least one subscriber.", st.channels.count)
        metric("vimana_pubsub_patterns", "gauge", "Patterns with at least one subscriber.", st.patterns.count)
        metric("vimana_uptime_seconds", "gauge", "Seconds since the kernel started.", Int(uptimeSeconds))
        metric("vimana_resident_memory_bytes", "gauge", "Resident set size.", Self.residentBytes())
        if !agents.isEmpty {
            // Rendered from agentFields, as AGENTS and /health are.
            let facts = agents.all.map { a in (a.id, Dictionary(agentFields(a), uniquingKeysWith: { first, _ in first })) }
            for (field, counter, help) in Self.agentMetrics {
                let name = "vimana_agent_" + String(field.map { $0 == "-" ? "_" : $0 }) + (counter ? "_total" : "")
                out += "# HELP \(name) \(help)\n# TYPE \(name) \(counter ? "counter" : "gauge")\n"
                for (id, fields) in facts {
                    guard case .int(let value)? = fields[field] else { continue }
                    out += "\(name){agent=\(Log.jsonString(id))} \(value)\n"
                }
            }
            out += "# HELP vimana_agent_up 1 when the agent is running (has a live instance).\n# TYPE vimana_agent_up gauge\n"
            for (id, fields) in facts {
                let up: Bool = if case .string(let status)? = fields["status"] { status == AgentStatus.running.rawValue } else { false }
                out += "vimana_agent_up{agent=\(Log.jsonString(id))} \(up ? 1 : 0)\n"
            }
        }
        if let ledger {
            let l = ledger.stats
            metric("vimana_ledger_records", "gauge", "Records in the ledger's segments.", Int(clamping: ledger.recordsOnDisk))
            metric("vimana_ledger_segments", "gauge", "Segment files.", ledger.segmentCount)
            metric("vimana_ledger_disk_bytes", "gauge", "Bytes of segment files.", ledger.diskBytes)
            metric("vimana_ledger_records_written_total", "counter", "Records written since start.", Int(clamping: l.recordsWritten))
            metric("vimana_ledger_raw_bytes_total", "counter", "Record bytes before compression, since start.", l.rawBytesWritten)
            metric("vimana_ledger_compressed_bytes_total", "counter", "Frame bytes written, since start.", l.compressedBytesWritten)
            metric("vimana_ledger_fsyncs_total", "counter", "fsync calls on the active segment.", l.fsyncs)
            out += "# HELP vimana_ledger_fsync_seconds_total Time spent in fsync.\n# TYPE vimana_ledger_fsync_seconds_total counter\n"
            out += "vimana_ledger_fsync_seconds_total \(Double(l.fsyncNanosTotal) / 1e9)\n"
            metric("vimana_ledger_last_fsync_timestamp_seconds", "gauge", "Wall time of the last fsync.", Int(l.lastFsyncMillis / 1000))
            metric("vimana_ledger_pending_bytes", "gauge", "Bytes handed to the writer and not yet written.", ledger.pendingBytes)
            metric("vimana_ledger_writer_queue_depth", "gauge", "Batches waiting for the writer.", ledger.pendingBatches)
            metric("vimana_ledger_stalls_total", "counter", "Times a publisher was paused for the writer.", ledgerStalls)
            metric("vimana_ledger_write_errors_total", "counter", "Failed writes or fsyncs.", l.writeErrors)
            metric("vimana_ledger_frames_read_total", "counter", "Frames inflated to answer reads.", l.framesRead)
            metric("vimana_ledger_reads_in_progress", "gauge", "Reads on the reader thread now.", ledger.readsInProgress)
            metric("vimana_ledger_damaged_segments", "gauge", "Sealed segments with frames that cannot be read.", ledger.damagedSegments)
            metric("vimana_ledger_writable", "gauge", "1 while the ledger can write; 0 while appends are refused.",
                   ledger.writeError == nil ? 1 : 0)
        }
        return out
    }
}
