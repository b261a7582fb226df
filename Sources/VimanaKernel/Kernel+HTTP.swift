import VimanaCore
import VimanaFederation
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
        // Before anything else is answered: without the token, not even
        // which paths or methods exist is told.
        guard Self.httpAuthorized(head: bytes[..<headEnd], token: config.kernel.httpToken) else {
            respondHTTP(c, status: "401 Unauthorized", type: "text/plain",
                        body: "unauthorized: send Authorization: Bearer <kernel.http_token>\n",
                        head: parts[0].elementsEqual("HEAD".utf8), extraHeaders: "WWW-Authenticate: Bearer realm=\"vimana\"\r\n")
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
            // What an operator's agent found (auditor: a damaged frame, a broken invariant).
            problems += healthReports.lines
            // The local bus serves on; federated entries wait in the ledger.
            if let f = federation?.status, !f.clusterReachable {
                problems.append("federation degraded: \(f.lastError); mirror lag \(f.mirrorLag) records")
            }
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

    private func respondHTTP(_ c: UnsafeMutablePointer<ClientState>, status: String, type: String, body: String,
                             head: Bool = false, extraHeaders: String = "") {
        let text = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n"
            + extraHeaders + "Connection: close\r\n\r\n" + (head ? "" : body)
        c.pointee.input.clear()
        c.pointee.output.tail.append(string: text)
        // Linger: a client whose head was refused (431) may still be sending it.
        c.pointee.flags.insert([.closeAfterReply, .lingerAfterReply])
        markPending(c)
    }

    /// Prometheus text exposition format (version 0.0.4), rendered from the
    /// registry (MetricRegistry.swift).
    func metricsText() -> String {
        MetricRegistry.prometheus(MetricReader(self))
    }
}
