import Foundation
import Synchronization
import Testing

/// The ledger's promise under `fsync always`: an acknowledged XADD survives
/// kill -9, in order, and recovery leaves nothing corrupt behind it.
@Suite struct CrashTests {
    /// Sends pipelined XADDs and collects the IDs the server acknowledged.
    final class Appender: @unchecked Sendable {
        let client: RawClient
        let topic: String
        let acked = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        /// Set when `run` has returned: nothing is appended to `acked` after.
        let finished = Atomic<Bool>(false)

        init(port: Int, topic: String) throws {
            client = try RawClient(port: port, timeout: 0.2)
            self.topic = topic
        }

        func run() {
            defer { finished.store(true, ordering: .releasing) }
            var pending = 0
            var buffer: [UInt8] = []
            var n = 0
            var chunk = [UInt8](repeating: 0, count: 65536)
            while !stop.load(ordering: .relaxed) {
                while pending < 16 {
                    client.send(RawClient.command(["XADD", topic, "*", "n", "\(n)", "pad", String(repeating: "x", count: 100)]))
                    n += 1
                    pending += 1
                }
                let got = recv(client.fd, &chunk, chunk.count, 0)
                if got == 0 { return }
                if got < 0 { if errno == EAGAIN || errno == EWOULDBLOCK { continue }; return }
                buffer += chunk[0..<got]
                // Complete "$L\r\nID\r\n" replies.
                while let cr = buffer.firstIndex(of: 13), buffer.first == 36,
                      let len = Int(String(decoding: buffer[1..<cr], as: UTF8.self)), buffer.count >= cr + 2 + len + 2 {
                    let id = String(decoding: buffer[(cr + 2)..<(cr + 2 + len)], as: UTF8.self)
                    acked.withLock { $0.append(id) }
                    buffer.removeFirst(cr + 2 + len + 2)
                    pending -= 1
                }
            }
        }
    }

    @Test func acknowledgedAppendsSurviveKill9() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let appenders = try (0..<3).map { try Appender(port: server.port, topic: "crash.\($0)") }
        let threads = appenders.map { a in Thread { a.run() } }
        threads.forEach { $0.start() }
        // Killed in the middle of the load: once every appender has 200 acknowledged.
        let loaded = Date().addingTimeInterval(20)
        while appenders.contains(where: { $0.acked.withLock { $0.count } < 200 }) && Date() < loaded { usleep(10_000) }
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        appenders.forEach { $0.stop.store(true, ordering: .relaxed) }
        let stopped = Date().addingTimeInterval(5)
        while appenders.contains(where: { !$0.finished.load(ordering: .acquiring) }) && Date() < stopped { usleep(10_000) }
        let acked = appenders.map { $0.acked.withLock { $0 } }
        #expect(acked.allSatisfy { $0.count > 50 }, "load ran: \(acked.map(\.count))")

        let restarted = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info",
                                          ledgerDirectory: server.ledgerDirectory)
        let c = try RawClient(port: restarted.port)
        for (k, ids) in acked.enumerated() {
            c.send(RawClient.command(["XRANGE", "crash.\(k)", "-", "+"]))
            let reply = c.readAvailable(quiet: 0.5)
            let stored = Self.ids(in: reply)
            // Every acknowledged ID is there, in the same order; anything after
            // them was written but not yet acknowledged when the server died.
            #expect(Array(stored.prefix(ids.count)) == ids, "topic crash.\(k): \(ids.count) acked, \(stored.count) stored")
            #expect(stored.count >= ids.count)
        }
        // Nothing corrupt remains: the Python reader verifies every frame.
        let reader = LedgerReaderTests.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        #expect(restarted.terminate() == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", reader, "verify", server.ledgerDirectory]
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    static func ids(in reply: String) -> [String] {
        // Entries are "*2\r\n$L\r\nID\r\n*4..." — take each ID line after "*2".
        let lines = reply.components(separatedBy: "\r\n")
        var out: [String] = []
        var i = 0
        while i + 2 < lines.count {
            if lines[i] == "*2" && lines[i + 1].hasPrefix("$") && lines[i + 2].contains("-") {
                out.append(lines[i + 2])
                i += 3
            } else {
                i += 1
            }
        }
        return out
    }
}

@Suite struct DurableReplyTests {
    @Test func repliesAfterADurableWriteKeepTheirOrder() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("XADD s 1-1 a b\r\nPING\r\nXADD s 1-2 a b\r\nECHO x\r\nXLEN s\r\n")
        let expected = "$3\r\n1-1\r\n+PONG\r\n$3\r\n1-2\r\n$1\r\nx\r\n:2\r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("INFO ledger\r\n")
        let info = c.readAvailable()
        #expect(info.contains("ledger_durable_sequence:3\r\n"))
    }
}
