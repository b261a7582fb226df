import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a connection may cost the server — idle HTTP slots, an unfinished
/// request's memory, a payload over the limit, a process out of file
/// descriptors — and what the server says when it refuses (issue 9 §1).
@Suite struct ConnectionLimitTests {
    // MARK: - HTTP

    /// One GET on the observability port; the whole reply, or "" when refused.
    func httpGet(_ server: ServerProcess, _ path: String) -> String {
        guard let c = try? RawClient(port: server.httpPort, timeout: 2) else { return "" }
        c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        return c.readToEnd(timeout: 2)
    }

    @Test func idleHTTPConnectionsAtTheCapDoNotLockOutHealth() throws {
        let server = try ServerProcess()
        // Every slot taken by a connection that sends nothing. The listener
        // accepts in arrival order, so they all hold a slot before the probe.
        let idle = try (0..<64).map { _ in try RawClient(port: server.httpPort) }
        var health = ""
        #expect(waitFor(10) {
            health = httpGet(server, "/health")
            return health.hasPrefix("HTTP/1.1 200 OK\r\n")
        }, "health: \(visible(health))")
        _ = idle
    }

    @Test func httpConnectionWithoutARequestHeadIsClosed() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.httpPort)
        c.send("GET /health HTTP/1.1\r\n")  // never finished
        #expect(c.isClosedByPeer(timeout: 20))
        #expect(httpGet(server, "/health").hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func oversizedHTTPHeadIsAnswered431NotReset() throws {
        let server = try ServerProcess()
        for _ in 0..<10 {
            let c = try RawClient(port: server.httpPort)
            // As a client with a large header sends it: in pieces, the rest
            // after the server has already refused the first 8 KiB.
            c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 8300))
            #expect(waitForReadable(c.fd, timeout: 5))
            let rest = [UInt8](String(repeating: "b", count: 1000).utf8)
            #expect(sendAll(c.fd, rest) && sendAll(c.fd, rest + Array("\r\n\r\n".utf8)), "the rest of the head was refused")
            let (reply, end) = readToEnd(c.fd)
            #expect(reply.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "reply: \(visible(reply))")
            #expect(end == 0, "the connection ended with \(String(cString: strerror(end))), not a clean close")
        }
    }

    @Test func protocolErrorReplyReachesAClientStillSending() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("*2\r\n$4\r\nECHO\r\n$-5\r\n")
        #expect(waitForReadable(c.fd, timeout: 5))
        let junk = [UInt8](repeating: 120, count: 64 << 10)
        #expect(sendAll(c.fd, junk) && sendAll(c.fd, junk), "the rest of the request was refused")
        let (reply, end) = readToEnd(c.fd)
        #expect(reply == "-ERR Protocol error: invalid bulk length\r\n")
        #expect(end == 0, "the connection ended with \(String(cString: strerror(end))), not a clean close")
    }

    // MARK: - Query buffer and payload limits

    @Test func unfinishedRequestOfManyEmptyArgumentsIsCutOffAtTheQueryBufferLimit() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        // 3 million empty arguments: 18 MB sent, but 16 bytes of argument
        // table each on top: over the 64 MiB the request may hold.
        c.send("*4000000\r\n")
        let chunk = [UInt8](String(repeating: "$0\r\n\r\n", count: 100_000).utf8)
        for _ in 0..<30 { c.send(chunk) }
        #expect(c.isClosedByPeer(timeout: 10))
        #expect(server.waitForLog("\"event\":\"client closed: query buffer limit\""))
        let line = server.logLines.first { $0.contains("client closed: query buffer limit") } ?? ""
        #expect(line.contains("\"limit\":67108864") && line.contains("\"addr\":\"127.0.0.1:"), "log: \(line)")
        #expect(infoField(server, "client_query_buffer_limit_disconnections", section: "stats") == "1")
        #expect(httpGet(server, "/metrics").contains("\nvimana_query_buffer_disconnects_total 1\n"))
    }

    @Test func queryBufferLimitIsConfigurable() throws {
        let server = try ServerProcess(config: "kernel:\n  limits:\n    query_buffer: 4MiB\n")
        let c = try RawClient(port: server.port)
        // 300,000 empty arguments: 1.8 MB sent, 4.8 MB of argument table.
        c.send("*1000000\r\n")
        c.send([UInt8](String(repeating: "$0\r\n\r\n", count: 300_000).utf8))
        #expect(c.isClosedByPeer(timeout: 10))
        #expect(server.waitForLog("\"limit\":4194304"))
        let d = try RawClient(port: server.port)
        d.send("CONFIG GET client-query-buffer-limit\r\n")
        let reply = "*2\r\n$25\r\nclient-query-buffer-limit\r\n$7\r\n4194304\r\n"
        #expect(d.read(matching: reply) == reply)
    }

    @Test func payloadOverMaxPayloadIsRefusedWithTheLimitAndTheClientReadsIt() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        // The whole command, as redis-py sends it: the client is still
        // writing when the server refuses the header.
        c.send(RawClient.command(["PUBLISH", "t", String(repeating: "x", count: 2_000_000)]))
        let e = "-ERR Protocol error: invalid bulk length (2000000 > max_payload 1048576)\r\n"
        #expect(c.read(matching: e) == e)
        #expect(c.isClosedByPeer())
        #expect(server.waitForLog("\"event\":\"client closed: payload over max_payload\""))
        let line = server.logLines.first { $0.contains("payload over max_payload") } ?? ""
        #expect(line.contains("\"bytes\":2000000") && line.contains("\"limit\":1048576")
                && line.contains("\"addr\":\"127.0.0.1:"), "log: \(line)")
        #expect(infoField(server, "client_payload_limit_disconnections", section: "stats") == "1")
        #expect(httpGet(server, "/metrics").contains("\nvimana_payload_limit_disconnects_total 1\n"))
    }

    // MARK: - Out of file descriptors

    @Test func acceptBacksOffWhenDescriptorsRunOutAndClientsAreStillServed() throws {
        let started = Date()
        let server = try ServerProcess(arguments: ["--no-ledger"], logLevel: "info", fileLimit: 64)
        let first = try RawClient(port: server.port)
        first.send("PING\r\n")
        #expect(first.read(matching: "+PONG\r\n") == "+PONG\r\n")
        // More connections than descriptors: the kernel queues the rest.
        var clients: [RawClient] = []
        for _ in 0..<80 { clients.append(try RawClient(port: server.port)) }
        #expect(server.waitForLog("\"event\":\"accept failed\""))
        // Keep the server busy with a client it serves while the listener
        // stays ready: a server that retried at once would log on every pass.
        for _ in 0..<200 {
            first.send("PING\r\n")
            #expect(first.read(matching: "+PONG\r\n") == "+PONG\r\n")
        }
        // One line, and one more per 10 s the test has run (a slow machine).
        let failures = server.logLines.filter { $0.contains("\"event\":\"accept failed\"") }
        let allowed = 1 + Int(Date().timeIntervalSince(started) / 10) + 1
        #expect(failures.count <= allowed, "\(failures.count) accept-failure lines")
        #expect(failures.first?.contains("Too many open files") == true)
        // A client closing frees a descriptor: the queued connections are served.
        // (Asked on `first`: a new connection would wait in the queue too.)
        first.send("INFO clients\r\nINFO stats\r\n")
        let info = first.readReplies(2)
        func field(_ name: String) -> Int? {
            info.split(separator: "\r\n").first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1)) }
        }
        #expect(field("accept_errors").map { $0 >= 1 } == true, "\(visible(info))")
        guard let accepted = field("connected_clients").map({ $0 - 1 }), accepted > 3, accepted < 80 else {
            Issue.record("connected_clients: \(visible(info))")
            return
        }
        clients.removeFirst(3)  // closes three that were accepted
        let waiting = clients[accepted - 3]  // the first one still queued
        waiting.send("PING\r\n")
        #expect(waiting.read(matching: "+PONG\r\n") == "+PONG\r\n")
    }

    // MARK: - Pattern subscribers that disconnect

    @Test func numpatNeverCountsADisconnectedPatternSubscriber() throws {
        let server = try ServerProcess(logLevel: "info")
        let asker = try RawClient(port: server.port)
        let busy = try RawClient(port: server.port)
        let pings = String(repeating: "PING\r\n", count: 3000)
        for i in 0..<200 {
            let sub = try RawClient(port: server.port)
            sub.send("PSUBSCRIBE news.*\r\n")
            let confirm = "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n"
            #expect(sub.read(matching: confirm) == confirm)
            // Keep the loop busy so that the disconnect and the question
            // arrive in the same batch of events, the disconnect first.
            busy.send(pings)
            shutdown(sub.fd, Int32(SHUT_WR))
            asker.send("PUBSUB NUMPAT\r\n")
            let reply = asker.read(matching: ":0\r\n")
            #expect(reply == ":0\r\n", "iteration \(i): \(visible(reply))")
            _ = busy.read(count: 7 * 3000)
            if reply != ":0\r\n" { break }
        }
    }

    // MARK: - Blocked clients

    @Test func blockedReadersAreCountedAndFlaggedAsRedisShowsThem() throws {
        let server = try ServerProcess()
        let redis = try RedisProcess()
        for port in [server.port, redis.port] {
            let setup = try RawClient(port: port)
            setup.send("XADD s 1-1 f v\r\n")
            _ = setup.readReplies()
            let reader = try RawClient(port: port)
            reader.send("XREAD BLOCK 0 STREAMS s $\r\n")
            let readerGroup = try RawClient(port: port)
            readerGroup.send("XGROUP CREATE s g $\r\nXREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n")
            let q = try RawClient(port: port)
            var clients = ""
            #expect(waitFor(10) {
                q.send("INFO clients\r\n")
                clients = q.readReplies()
                return clients.contains("\r\nblocked_clients:2\r\n")
            }, "port \(port == redis.port ? "redis" : "vimana"): \(visible(clients))")
            q.send(RawClient.command(["CLIENT", "LIST"]))
            let list = q.readReplies()
            let lines = list.split(separator: "\n")
            let blocked = lines.filter { $0.contains(" cmd=xread ") || $0.contains(" cmd=xreadgroup ") }
            #expect(blocked.count == 2 && blocked.allSatisfy { $0.contains(" flags=b ") && $0.contains(" qbuf=0 ") },
                    "\(visible(list))")
            let own = lines.first { $0.contains(" cmd=client|list ") } ?? ""
            #expect(own.contains(" flags=N ") && own.contains(" qbuf=26 "), "\(visible(String(own)))")
        }
    }
}

/// Sends every byte; false when the connection refuses them (reset, EPIPE).
func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes[off...].withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { return false }
        off += n
    }
    return true
}

/// Reads until the peer closes: the bytes, and 0 for a clean end of file or
/// the errno that ended it (ECONNRESET for a reset, EAGAIN for a 5 s silence).
func readToEnd(_ fd: Int32) -> (String, Int32) {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n == 0 { return (String(decoding: out, as: UTF8.self), 0) }
        if n < 0 { return (String(decoding: out, as: UTF8.self), errno) }
        out += buf[0..<n]
    }
}

/// True when `fd` has bytes to read (or EOF) within `timeout` seconds.
func waitForReadable(_ fd: Int32, timeout: TimeInterval) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, Int32(timeout * 1000)) == 1
}
