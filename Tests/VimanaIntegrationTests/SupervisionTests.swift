import Foundation
import Testing

/// Agents with a `command` are started, restarted and given up on by the
/// kernel, without harming the kernel or other agents.
@Suite struct SupervisionTests {
    @Test func crashingAgentIsRestartedThenMarkedFailedWhileOthersGoOn() throws {
        let marker = NSTemporaryDirectory() + "vimana-starts-\(UUID().uuidString)"
        let server = try ServerProcess(config: """
            agents:
              - id: crasher
                subscribes: ["crash.*"]
                command: ["sh", "-c", "echo started $VIMANA_AGENT_ID at $VIMANA_ADDR ack_wait $VIMANA_ACK_WAIT_MS max_payload $VIMANA_MAX_PAYLOAD; echo x >> \(marker); exit 3"]
                ack_wait: 2500ms
                restart: on-failure
                max_restarts: 2
              - id: steady
                subscribes: ["steady.*"]
                command: ["sh", "-c", "echo steady up; exec sleep 60"]
            """, logLevel: "info")
        // Three starts (the first and two restarts, with backoff), then failed.
        #expect(server.waitForLog("\"agent\":\"crasher\"", timeout: 5))
        let deadline = Date().addingTimeInterval(15)
        var status = ""
        while Date() < deadline {
            let c = try RawClient(port: server.port)
            c.send("AGENTS\r\n")
            status = c.readReplies()
            if status.contains("$6\r\nstatus\r\n$6\r\nfailed\r\n") { break }
            usleep(200_000)
        }
        #expect(status.contains("$6\r\nstatus\r\n$6\r\nfailed\r\n"), "crasher never marked failed: \(visible(status))")
        let starts = (try? String(contentsOfFile: marker, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(starts == 3)
        #expect(server.log.contains("started crasher at 127.0.0.1:\(server.port) ack_wait 2500 max_payload 1048576"), "environment and output capture")
        #expect(server.log.contains("steady up"))
        // The kernel and the steady agent carry on.
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        let health = RawClient.httpGet(port: server.httpPort, path: "/health")
        #expect(health.contains("\"id\":\"crasher\",\"name\":\"crasher\",\"kind\":\"external\",\"status\":\"failed\""))
        #expect(health.contains("\"restarts\":2"))
        // /metrics counts the same restarts as /health and AGENTS.
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metrics.contains("\nvimana_agent_restarts_total{agent=\"crasher\"} 2\n"), "\(metrics)")
        // Shutdown stops the steady child.
        #expect(server.terminate() == 0)
        #expect(server.log.contains("\"agent\":\"steady\""))
    }
}
