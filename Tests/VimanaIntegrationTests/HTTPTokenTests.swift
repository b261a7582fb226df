import Foundation
import Testing

/// `kernel.http_token`: with it, every request on the HTTP port needs
/// `Authorization: Bearer <token>`; without it, every request is served.
@Suite struct HTTPTokenTests {
    static let token = "7c0d1e5b9a8f4e3d2c1b0a9f8e7d6c5b"
    static let config = "kernel:\n  http_token: \(token)\n"

    static let body = "unauthorized: send Authorization: Bearer <kernel.http_token>\n"
    static let unauthorized = "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
        + "WWW-Authenticate: Bearer realm=\"vimana\"\r\nConnection: close\r\n\r\n"

    func get(_ port: Int, _ request: String) throws -> String {
        let c = try RawClient(port: port)
        c.send(request)
        return c.readToEnd()
    }

    @Test func everyRequestWithoutTheTokenGets401() throws {
        let server = try ServerProcess(config: Self.config)
        for path in ["/health", "/ready", "/metrics", "/nope"] {
            #expect(try get(server.httpPort, "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n") == Self.unauthorized + Self.body, "\(path)")
        }
        for header in ["Authorization: Bearer wrong-token-wrong-token\r\n", "Authorization: Basic \(Self.token)\r\n",
                       "Authorization: Bearer \(Self.token)0\r\n"] {
            #expect(try get(server.httpPort, "GET /metrics HTTP/1.1\r\n\(header)\r\n") == Self.unauthorized + Self.body)
        }
        #expect(try get(server.httpPort, "POST /health HTTP/1.1\r\n\r\n") == Self.unauthorized + Self.body)
        #expect(try get(server.httpPort, "HEAD /health HTTP/1.1\r\n\r\n") == Self.unauthorized)
        // Refusals are requests read, as 404s are.
        let metrics = try get(server.httpPort, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer \(Self.token)\r\n\r\n")
        #expect(metrics.contains("\nvimana_http_requests_total 10\n"), "\(metrics)")
    }

    @Test func theTokenOpensEveryEndpointAndIsNeverLogged() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "debug")
        let auth = "Authorization: Bearer \(Self.token)\r\n"
        let health = try get(server.httpPort, "GET /health HTTP/1.1\r\n\(auth)\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n") && health.contains("{\"status\":\"ok\""), "\(health)")
        #expect(try get(server.httpPort, "GET /ready HTTP/1.1\r\nauthorization: bearer \(Self.token)\r\n\r\n")
                .hasSuffix("\r\n\r\n{\"ready\":true}\n"))
        let metrics = try get(server.httpPort, "GET /metrics HTTP/1.1\r\n\(auth)\r\n")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK\r\n") && metrics.contains("\nvimana_connections 0\n"), "\(metrics)")
        #expect(try get(server.httpPort, "GET /nope HTTP/1.1\r\n\(auth)\r\n").hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        // The RESP port is not the HTTP port's business: it answers as before.
        let c = try RawClient(port: server.port)
        c.send("CONFIG GET protected-mode\r\n")
        #expect(c.readReplies() == "*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n")
        #expect(server.terminate() == 0)
        #expect(!server.log.contains(Self.token))
    }

    @Test func theTokenCanComeFromAFile() throws {
        let file = try temporaryFile(Self.token + "\n", suffix: ".token")
        defer { try? FileManager.default.removeItem(atPath: file) }
        chmod(file, 0o600)  // a secret file: other users may not read it
        let server = try ServerProcess(config: "kernel:\n  http_token_file: \(file)\n")
        #expect(try get(server.httpPort, "GET /health HTTP/1.1\r\n\r\n") == Self.unauthorized + Self.body)
        #expect(try get(server.httpPort, "GET /health HTTP/1.1\r\nAuthorization: Bearer \(Self.token)\r\n\r\n")
                .hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    /// `vimana check` says a token is set, never what it is.
    @Test func checkShowsTheTokenAsSetOnly() throws {
        let path = try temporaryFile(Self.config)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try runVimana(["check", path])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("\n  protected_mode: true\n  # http_token: set (not shown)\n"), "\(check.stdout)")
        #expect(!check.stdout.contains(Self.token) && !check.stderr.contains(Self.token))
    }
}
