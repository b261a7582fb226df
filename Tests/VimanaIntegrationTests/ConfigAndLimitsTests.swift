import Foundation
import Testing

/// phoenix.yaml errors at start, and the limits it sets enforced at run time.
@Suite struct ConfigAndLimitsTests {
    @Test func badConfigExitsTwoWithFileLineAndColumn() throws {
        let path = try temporaryFile("kernel:\n  port: 7379\n  limits:\n    max_clients: lots\n")
        let r = try runVimana(["serve", "--config", path])
        #expect(r.status == 2)
        #expect(r.stderr == "\(path):4:18: kernel.limits.max_clients: expected an integer from 1 to 1000000, got 'lots'\n")
        let unknown = try temporaryFile("kernel:\n  prot: 1\n")
        let u = try runVimana(["serve", "--config", unknown])
        #expect(u.status == 2)
        #expect(u.stderr.hasPrefix("\(unknown):2:3: unknown key 'prot' in kernel"))
        let missing = try runVimana(["serve", "--config", "/nonexistent/phoenix.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/phoenix.yaml"))
    }

    @Test func checkAndDryRunPrintTheEffectiveConfiguration() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = root.appendingPathComponent("config/phoenix.yaml").path
        let check = try runVimana(["check", shipped])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("  port: 7379\n"))
        let dry = try runVimana(["serve", "--config", shipped, "--port", "9999", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("  port: 9999\n"), "flags override the file")
        #expect(dry.stdout.contains("# effective configuration (source: \(shipped))"))
    }

    /// Configurations that `vimana serve` refuses to start with are refused
    /// by `vimana check` too, with the same reason and a non-zero status.
    @Test(arguments: ["agents without the ledger", "ledger dir is a file", "ledger dir under a file",
                      "archive dir is a file"])
    func checkRefusesWhatServeRefuses(_ name: String) throws {
        let file = try temporaryFile("not a directory\n", suffix: ".txt")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (yaml, reason): (String, String) = switch name {
        case "agents without the ledger":
            ("ledger:\n  enabled: false\nagents:\n  - id: w\n    subscribes: [\"t\"]\n",
             // The loader refuses it with the file's position, for check and serve alike.
             "ledger.enabled: false, but agents need the ledger, and this file declares agent w")
        case "ledger dir is a file":
            ("ledger:\n  dir: \(file)\n", "ledger directory '\(file)': exists and is not a directory")
        case "ledger dir under a file":
            ("ledger:\n  dir: \(file)/ledger\n", "ledger directory '\(file)/ledger': Not a directory")
        default:
            ("ledger:\n  dir: \(NSTemporaryDirectory())vimana-unused-\(UUID().uuidString)\n  archive_dir: \(file)\n",
             "ledger archive directory '\(file)': exists and is not a directory")
        }
        let path = try temporaryFile(yaml)
        let check = try runVimana(["check", path])
        #expect(check.status != 0, "\(name): check exited 0")
        #expect(check.stderr.contains(reason), "\(name): \(check.stderr)")
        let serve = try runVimana(["serve", "--config", path, "--port", "0", "--http-port", "-1"])
        #expect(serve.status != 0, "\(name): serve started")
        #expect(serve.stderr.contains(reason), "\(name): \(serve.stderr)")
    }

    @Test func connectionsPastMaxClientsAreRefusedWithRedisError() throws {
        let server = try ServerProcess(config: "kernel:\n  limits:\n    max_clients: 2\n")
        let a = try RawClient(port: server.port)
        let b = try RawClient(port: server.port)
        a.send("PING\r\n"); b.send("PING\r\n")
        #expect(a.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(b.read(matching: "+PONG\r\n") == "+PONG\r\n")
        let c = try RawClient(port: server.port)
        let refusal = "-ERR max number of clients reached\r\n"
        #expect(c.read(matching: refusal) == refusal)
        #expect(c.isClosedByPeer())
        // A slot frees up when a client leaves.
        a.send("QUIT\r\n")
        #expect(a.isClosedByPeer())
        // The server frees the slot when it processes the close: retry until it has.
        var reply = ""
        let deadline = Date().addingTimeInterval(3)
        while reply != "+PONG\r\n" && Date() < deadline {
            let d = try RawClient(port: server.port)
            d.send("PING\r\n")
            reply = d.read(matching: "+PONG\r\n")
        }
        #expect(reply == "+PONG\r\n")
    }

    @Test func payloadOverMaxPayloadIsAProtocolError() throws {
        let server = try ServerProcess(config: "kernel:\n  limits:\n    max_payload: 1KiB\n")
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "t", String(repeating: "x", count: 1024)]))
        #expect(c.read(matching: ":0\r\n") == ":0\r\n")
        c.send("*3\r\n$7\r\nPUBLISH\r\n$1\r\nt\r\n$1025\r\n")
        let e = "-ERR Protocol error: invalid bulk length (1025 > max_payload 1024)\r\n"
        #expect(c.read(matching: e) == e)
        #expect(c.isClosedByPeer())
    }

    @Test func slowSubscriberIsDisconnectedWhilePublisherContinues() throws {
        let server = try ServerProcess(config: """
            kernel:
              limits:
                pubsub_output:
                  hard: 256KiB
                  soft: 128KiB
                  soft_seconds: 60
            """)
        let slow = try RawClient(port: server.port)
        slow.send("SUBSCRIBE firehose\r\n")
        _ = slow.read(count: "*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n".utf8.count)
        let fast = try RawClient(port: server.port)
        fast.send("SUBSCRIBE firehose\r\n")
        _ = fast.readReplies()
        let publisher = try RawClient(port: server.port)
        let payload = String(repeating: "p", count: 1000)
        let batch = String(repeating: RawClient.command(["PUBLISH", "firehose", payload]), count: 100)
        var batches = 0
        // The slow one never reads; the fast one drains as we go. Publish until
        // the server cuts the slow one off (its socket buffers fill first).
        while !server.log.contains("slow subscriber disconnected") && batches < 2000 {
            publisher.send(batch)
            _ = publisher.read(count: 100 * 4)  // ":2\r\n" or ":1\r\n" per publish
            _ = fast.readReplies(100)  // the batch's 100 messages
            batches += 1
        }
        #expect(server.waitForLog("slow subscriber disconnected"))
        #expect(server.log.contains("\"limit\":\"hard\""))
        // The publisher was never blocked and still gets prompt replies.
        publisher.send("PUBLISH firehose last\r\n")
        #expect(publisher.read(matching: ":1\r\n") == ":1\r\n")
        #expect(slow.isClosedByPeer(timeout: 10))
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metrics.contains("\nvimana_slow_subscriber_disconnects_total 1\n"))
    }

    /// The soft limit's seconds are counted by the timer too (Redis's
    /// clientsCron): a subscriber that stays over it is cut off once they
    /// pass although nothing more is queued for it.
    @Test func subscriberOverTheSoftLimitIsDisconnectedByTheTimerWithNothingMoreQueued() throws {
        let server = try ServerProcess(config: """
            kernel:
              limits:
                pubsub_output:
                  hard: 0
                  soft: 64KiB
                  soft_seconds: 3
            """)
        let slow = try RawClient(port: server.port)
        // A small receive buffer that does not grow: what the kernel can still
        // take for it is then at most the server's send buffer, which grows to
        // tcp_wmem's maximum.
        var receiveBuffer: Int32 = 64 << 10
        setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        let sendBufferMax = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) } ?? 4 << 20
        let neverDrained = sendBufferMax + (1 << 20)
        slow.send("CLIENT SETNAME slow\r\nSUBSCRIBE t\r\n")
        let subscribed = "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nt\r\n:1\r\n"
        #expect(slow.read(matching: subscribed) == subscribed)
        let publisher = try RawClient(port: server.port)
        let replies = RESPReader(publisher)
        /// The slow one's output queue (CLIENT LIST's `omem=`), nil once it is gone.
        func slowOutput() -> Int? {
            publisher.send("CLIENT LIST\r\n")
            guard case .bulk(let list)? = replies.next(timeout: 10),
                  let line = list.split(separator: "\n").first(where: { $0.contains(" name=slow ") }),
                  let omem = line.firstMatch(of: #/ omem=(\d+) /#) else { return nil }
            return Int(omem.1)
        }
        let message = RawClient.command(["PUBLISH", "t", String(repeating: "p", count: 256 << 10)])
        // Publish until more is queued for it than its socket could ever take,
        // so it stays over the soft limit; then stop: from here only the timer
        // can cut it off.
        var pending = slowOutput()
        var published = 0
        while let p = pending, p <= neverDrained, published < 1024 {
            publisher.send(message)
            guard case .integer(1)? = replies.next(timeout: 10) else { break }
            published += 1
            pending = slowOutput()
        }
        let over = try #require(pending, "cut off while still publishing: \(server.log.suffix(2000))")
        #expect(over > neverDrained)
        #expect(server.waitForLog("slow subscriber disconnected", timeout: 20))
        #expect(server.log.contains("\"limit\":\"soft\""))
        #expect(slowOutput() == nil)
        // What the socket held is still delivered before the close.
        #expect(slow.isClosedByPeer(timeout: 30))
    }
}

extension RawClient {
    static func httpGet(port: Int, path: String) -> String {
        guard let c = try? RawClient(port: port) else { return "" }
        c.send("GET \(path) HTTP/1.1\r\n\r\n")
        return c.readToEnd()
    }
}

/// `kernel.password`: Redis's requirepass behaviour.
@Suite struct PasswordTests {
    static let config = "kernel:\n  password: s3cret\n  limits:\n    query_buffer_before_auth: 4KiB\n"

    @Test func commandsNeedAuthFirst() throws {
        let server = try ServerProcess(config: Self.config)
        let c = try RawClient(port: server.port)
        c.send("PING\r\nSUBSCRIBE a\r\nHELLO 3\r\nAUTH wrong\r\nAUTH alice s3cret\r\nAUTH s3cret\r\nPING\r\n")
        let expected = "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n"
            + "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
            + "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            + "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("RESET\r\nPING\r\n")
        #expect(c.read(matching: "+RESET\r\n-NOAUTH Authentication required.\r\n") == "+RESET\r\n-NOAUTH Authentication required.\r\n")
        #expect(!server.log.contains("s3cret"))
    }

    @Test func helloCanAuthenticate() throws {
        let server = try ServerProcess(config: Self.config)
        let c = try RawClient(port: server.port)
        c.send("HELLO 3 AUTH default s3cret\r\n")
        #expect(c.read(count: 4) == Array("%7\r\n".utf8))
        _ = c.readReplies(14)  // the map's 7 pairs
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
    }

    @Test func unauthenticatedClientsCannotBufferMuchInput() throws {
        let server = try ServerProcess(config: Self.config)
        let c = try RawClient(port: server.port)
        c.send("*2\r\n$4\r\nECHO\r\n$100000\r\n" + String(repeating: "x", count: 10_000))
        #expect(c.isClosedByPeer())
        let ok = try RawClient(port: server.port)
        ok.send("AUTH s3cret\r\n" + RawClient.command(["ECHO", String(repeating: "y", count: 10_000)]))
        #expect(ok.read(count: 5 + 10_000 + 9).count == 5 + 10_000 + 9)
    }
}
