import Foundation
import Testing

/// /health, /ready, /metrics on the observability port.
@Suite struct HTTPTests {
    func get(_ port: Int, _ request: String) throws -> String {
        let c = try RawClient(port: port)
        c.send(request)
        return c.readToEnd()
    }

    @Test func healthAndReadyAnswerJSON() throws {
        let server = try ServerProcess()
        let health = try get(server.httpPort, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(health.contains("Content-Type: application/json"))
        #expect(health.contains("{\"status\":\"ok\""))
        let ready = try get(server.httpPort, "GET /ready HTTP/1.1\r\n\r\n")
        #expect(ready.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ready.hasSuffix("{\"ready\":true}\n"))
    }

    @Test func metricsCountWhatHappened() throws {
        let server = try ServerProcess()
        let sub = try RawClient(port: server.port)
        sub.send("SUBSCRIBE m\r\n")
        _ = sub.readReplies()
        let pub = try RawClient(port: server.port)
        pub.send("PUBLISH m 1\r\nPUBLISH m 2\r\nPUBLISH none 3\r\nPING\r\n")
        _ = pub.readReplies(4)
        let metrics = try get(server.httpPort, "GET /metrics HTTP/1.1\r\n\r\n")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(metrics.contains("\nvimana_connections 2\n"))
        #expect(metrics.contains("\nvimana_messages_published_total 3\n"))
        #expect(metrics.contains("\nvimana_messages_delivered_total 2\n"))
        #expect(metrics.contains("\nvimana_commands_total{command=\"publish\"} 3\n"))
        #expect(metrics.contains("\nvimana_commands_total{command=\"ping\"} 1\n"))
        #expect(metrics.contains("# TYPE vimana_net_input_bytes_total counter\n"))
        #expect(metrics.contains("\nvimana_slow_subscriber_disconnects_total 0\n"))
        #expect(metrics.contains("\nvimana_uptime_seconds "))
    }

    @Test func badRequestsGetErrorsAndHarmNothing() throws {
        let server = try ServerProcess()
        #expect(try get(server.httpPort, "garbage\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(try get(server.httpPort, "POST /health HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 405 "))
        #expect(try get(server.httpPort, "GET /nope HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 "))
        #expect(try get(server.httpPort, "GET /" + String(repeating: "a", count: 10_000)).hasPrefix("HTTP/1.1 431 "))
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(try get(server.httpPort, "GET /health HTTP/1.0\r\n\r\n").hasPrefix("HTTP/1.1 200 OK"))
    }
}
