import Foundation
import Testing

/// An agent's backlog and its process's restarts, as AGENTS, /health and
/// /metrics show them (Protocol/AGENTS.md §7, PROTOCOL.md §10): the same
/// numbers in all three, and a required agent with no instance is a problem.
@Suite struct AgentObservabilityTests {
    /// A required agent whose process exits at once (so it never joins),
    /// with tasks waiting.
    static let config = """
        ledger:
          fsync: always
        agents:
          - id: quitter
            subscribes: ["jobs.*"]
            required: true
            prefetch: 1
            command: ["sh", "-c", "exit 0"]
            restart: always
            max_restarts: 100
        """

    /// The integer fields of the agent's map in the AGENTS reply.
    func agentsReply(_ server: ServerProcess, _ id: String) throws -> [String: Int] {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AGENTS\r\n")
        guard case .array(let agents)? = r.next() else { return [:] }
        for case .array(let flat) in agents {
            var fields: [String: Int] = [:]
            var name: String?
            for k in stride(from: 0, to: flat.count - 1, by: 2) {
                guard case .bulk(let key) = flat[k] else { continue }
                switch flat[k + 1] {
                case .integer(let n): fields[key] = n
                case .bulk(let text) where key == "id": name = text
                default: break
                }
            }
            if name == id { return fields }
        }
        return [:]
    }

    /// The /health body, decoded.
    func health(_ server: ServerProcess) -> [String: Any] {
        let response = RawClient.httpGet(port: server.httpPort, path: "/health")
        guard let body = response.range(of: "\r\n\r\n").map({ String(response[$0.upperBound...]) }),
              let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return [:] }
        return object
    }

    /// `vimana_agent_<name>{agent="<id>"}` in /metrics.
    func metric(_ text: String, _ name: String, _ id: String) -> Int? {
        let prefix = "vimana_agent_\(name){agent=\"\(id)\"} "
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Int(line.dropFirst(prefix.count))
    }

    @Test func backlogAndRestartsOfAnAgentWithNoInstanceShowEverywhere() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        for k in 0..<3 {
            c.send(RawClient.command(["XADD", "jobs.a", "*", "payload", "job-\(k)"]))
            guard case .bulk? = r.next() else { Issue.record("XADD failed"); return }
        }
        // The supervisor restarts the process (backoff 0.5 s, then 1 s): wait for it.
        let deadline = Date().addingTimeInterval(20)
        var agents: [String: Int] = [:]
        while Date() < deadline {
            agents = try agentsReply(server, "quitter")
            if (agents["restarts"] ?? 0) > 0 { break }
            usleep(50_000)
        }
        #expect(agents["lag"] == 3, "\(agents)")
        #expect(agents["pending"] == 0)
        #expect(agents["instances"] == 0)
        #expect((agents["restarts"] ?? 0) > 0, "never restarted: \(agents)")

        let h = health(server)
        #expect(h["status"] as? String == "degraded", "\(h)")
        #expect((h["problems"] as? [String]) == ["agent 'quitter' is required and has no instance"], "\(h)")
        let listed = (h["agents"] as? [[String: Any]])?.first { $0["id"] as? String == "quitter" } ?? [:]
        #expect(listed["lag"] as? Int == 3, "\(listed)")
        #expect(listed["instances"] as? Int == 0)
        #expect((listed["restarts"] as? Int ?? 0) > 0)

        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metric(metrics, "lag", "quitter") == 3, "\(metrics)")
        #expect(metric(metrics, "instances", "quitter") == 0)
        #expect(metric(metrics, "pending", "quitter") == 0)
        #expect((metric(metrics, "restarts_total", "quitter") ?? 0) > 0, "\(metrics)")
        #expect(metric(metrics, "up", "quitter") == 0)

        // An instance takes one task and goes away without answering: one
        // pending (due again), two never delivered.
        let worker = try RawClient(port: server.port)
        let wr = RESPReader(worker)
        worker.send("AGENT JOIN quitter\r\n")
        #expect(wr.next() == .simple("OK"))
        #expect(wr.next()?.strings.first == "task")
        #expect(health(server)["status"] as? String == "ok", "an instance is live")
        shutdown(worker.fd, Int32(SHUT_RDWR))
        var after: [String: Int] = [:]
        while Date() < deadline {
            after = try agentsReply(server, "quitter")
            if after["instances"] == 0 { break }
            usleep(20_000)
        }
        #expect(after["pending"] == 1 && after["lag"] == 2 && after["instances"] == 0, "\(after)")
        let later = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metric(later, "pending", "quitter") == 1 && metric(later, "lag", "quitter") == 2, "\(later)")
        #expect(metric(later, "delivered_total", "quitter") == 1)
    }
}
