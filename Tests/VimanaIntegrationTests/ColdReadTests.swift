import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Reads of data not in memory neither stall the other clients nor read
/// more than they return; a client that never reads its replies is cut off
/// at the output limit (issue 9 §1).
@Suite struct ColdReadTests {
    static let smallSegments = "ledger:\n  segment_bytes: 64KiB\n  compaction_level: off\n"

    /// Restarts a stopped server on its ledger: nothing of it is in memory.
    static func restart(_ stopped: ServerProcess, config: String?) throws -> ServerProcess {
        try ServerProcess(config: config, logLevel: "info", ledgerDirectory: stopped.ledgerDirectory)
    }

    static func framesRead(_ server: ServerProcess) -> Int { Int(infoField(server, "ledger_frames_read") ?? "") ?? -1 }

    @Test func reverseReadWithCountInflatesOnlyTheFramesItReturns() throws {
        // One XADD per round trip: one record per frame, about 400 frames per 64 KiB segment.
        let writer = try ServerProcess(config: Self.smallSegments, logLevel: "info")
        let w = try RawClient(port: writer.port)
        let wr = RESPReader(w)
        let entries = 2000
        for i in 1...entries {
            let payload = String((0..<100).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122))) })
            w.send(RawClient.command(["XADD", "t", "\(i)-1", "p", payload]))
            guard wr.next() == .bulk("\(i)-1") else { throw TestFailure("XADD \(i) failed") }
        }
        #expect(writer.terminate() == 0)
        let server = try Self.restart(writer, config: Self.smallSegments)
        #expect((Int(infoField(server, "ledger_segments") ?? "") ?? 0) >= 3)
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)

        let before = Self.framesRead(server)
        c.send(RawClient.command(["XREVRANGE", "t", "+", "-", "COUNT", "10"]))
        let reply = try #require(r.next(timeout: 10))
        guard case .array(let got) = reply else { throw TestFailure("XREVRANGE: \(reply)") }
        #expect(got.map { $0.strings.first ?? "" } == (entries - 9...entries).reversed().map { "\($0)-1" })
        let reverse = Self.framesRead(server) - before
        // Reading the whole last segment inflated hundreds.
        #expect(reverse >= 10 && reverse <= 12, "frames read: \(reverse)")

        let beforeInfo = Self.framesRead(server)
        c.send("XINFO STREAM t\r\n")
        let info = try #require(r.next(timeout: 10))
        let fields = info.strings
        #expect(fields.count == 20)
        guard case .array(let items) = info, items.count == 20 else { throw TestFailure("XINFO: \(info)") }
        #expect(items[1] == .integer(entries))
        #expect(items[17].strings.first == "1-1")
        #expect(items[19].strings.first == "\(entries)-1")
        let xinfo = Self.framesRead(server) - beforeInfo
        #expect(xinfo <= 2, "frames read by XINFO STREAM: \(xinfo)")
    }

    @Test func pingIsAnsweredWhileABigRangeIsRead() throws {
        let writer = try ServerProcess(logLevel: "info")
        let w = try RawClient(port: writer.port)
        let wr = RESPReader(w)
        let entries = 200_000, chunk = 2000
        var n = 0
        while n < entries {
            var commands = ""
            for i in n..<(n + chunk) { commands += RawClient.command(["XADD", "big", "*", "n", "\(i)"]) }
            w.send(commands)
            for _ in 0..<chunk { guard case .bulk = wr.next(timeout: 10) else { throw TestFailure("XADD failed at \(n)") } }
            n += chunk
        }
        #expect(writer.terminate() == 0)
        let server = try Self.restart(writer, config: nil)

        let a = try RawClient(port: server.port)
        let b = try RawClient(port: server.port)
        let br = RESPReader(b)
        let last = "$1\r\nn\r\n$6\r\n\(entries - 1)\r\n"
        for (read, head) in [("XRANGE big - +", "*\(entries)\r\n*2\r\n$"),
                             ("XREAD STREAMS big 0-0", "*1\r\n*2\r\n$3\r\nbig\r\n*\(entries)\r\n*2\r\n$")] {
            a.send(read + "\r\nPING\r\n")
            // B's replies come while A's read is in progress: INFO says so
            // itself (the read is on the reader thread, A's reply not yet queued).
            var inProgress = false
            let deadline = Date().addingTimeInterval(20)
            while !inProgress && Date() < deadline {
                b.send("INFO ledger\r\n")
                guard case .bulk(let text) = br.next(timeout: 10) else { throw TestFailure("INFO did not answer") }
                inProgress = text.contains("ledger_reads_in_progress:1\r\n")
            }
            #expect(inProgress, "no INFO reply was served while \(read) was being read")
            b.send("PING\r\n")
            #expect(br.next(timeout: 10) == .simple("PONG"))

            // A's later command waited behind its read: replies in order, the
            // PONG last. (Read raw: the reply is about 12 MB.)
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            let pong = Array("+PONG\r\n".utf8)
            // Given up only when nothing arrives for `stall` s: how long all
            // of it takes depends on the machine's load, not on the server.
            let stall = 60.0
            var arrived = Date()
            while !received.suffix(pong.count).elementsEqual(pong) && Date().timeIntervalSince(arrived) < stall {
                let got = recv(a.fd, &buffer, buffer.count, 0)
                if got == 0 { break }
                if got > 0 {
                    received += buffer[0..<got]
                    arrived = Date()
                }
            }
            #expect(received.starts(with: Array(head.utf8)), "\(read)")
            #expect(received.suffix(pong.count).elementsEqual(pong), "\(read)")
            // The last entry is n = 199999.
            #expect(received.dropLast(pong.count).suffix(last.utf8.count).elementsEqual(Array(last.utf8)), "\(read)")
        }
        #expect(infoField(server, "ledger_reads_in_progress") == "0")
    }

    @Test func clientThatNeverReadsIsDisconnectedAtTheOutputLimit() throws {
        let config = "kernel:\n  limits:\n    normal_output:\n      hard: 1MiB\n"
        let server = try ServerProcess(config: config, logLevel: "info")
        let c = try RawClient(port: server.port)
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(c.fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: local.sin_port))
        // Far more than the socket buffers hold: the rest waits in the server.
        let echo = RawClient.command(["ECHO", String(repeating: "x", count: 64 << 10)])
        for _ in 0..<400 where !server.log.contains("output buffer limit") { c.send(echo) }
        #expect(server.waitForLog("client disconnected: output buffer limit"))
        let line = server.logLines.first { $0.contains("client disconnected: output buffer limit") } ?? ""
        #expect(line.contains("\"addr\":\"127.0.0.1:\(port)\""), "\(line)")
        #expect(line.contains("\"level\":\"warn\""), "\(line)")
        #expect(line.contains("\"class\":\"normal\""), "\(line)")
        #expect(c.isClosedByPeer(timeout: 10))
        #expect(infoField(server, "client_output_buffer_limit_disconnections", section: "stats") == "1")
        // Others are served as before.
        let other = try RawClient(port: server.port)
        other.send("PING\r\n")
        #expect(other.read(matching: "+PONG\r\n") == "+PONG\r\n")
    }
}
