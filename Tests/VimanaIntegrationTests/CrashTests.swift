import Foundation
import Synchronization
import Testing

/// The ledger's promise under every fsync policy: an acknowledged XADD
/// survives kill -9, in order (its frame was written to the OS before the
/// reply left), and recovery leaves nothing corrupt behind it.
@Suite struct CrashTests {
    @Test(arguments: ["always", "everysec", "no"])
    func acknowledgedAppendsSurviveKill9(fsync: String) throws {
        let server = try ServerProcess(arguments: ["--fsync", fsync], logLevel: "info")
        let appenders = try (0..<3).map { try XAddAppender(port: server.port, topic: "crash.\($0)") }
        appenders.forEach { $0.start() }
        // Killed in the middle of the load: once every appender has 200 acknowledged.
        _ = waitFor(20) { appenders.allSatisfy { $0.ackedCount >= 200 } }
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        // The connections end with the process: each appender returns.
        #expect(appenders.allSatisfy { $0.finish(timeout: 5) })
        let acked = appenders.map { $0.acked.withLock { $0 } }
        #expect(acked.allSatisfy { $0.count > 50 }, "load ran: \(acked.map(\.count))")

        let restarted = try ServerProcess(arguments: ["--fsync", fsync], logLevel: "info",
                                          ledgerDirectory: server.ledgerDirectory)
        for (k, ids) in acked.enumerated() {
            let stored = try streamIDs(restarted, "crash.\(k)")
            // Every acknowledged ID is there, in the same order; anything after
            // them was written but not yet acknowledged when the server died.
            #expect(Array(stored.prefix(ids.count)) == ids, "topic crash.\(k): \(ids.count) acked, \(stored.count) stored")
            #expect(stored.count >= ids.count)
        }
        // Nothing corrupt remains: the Python reader verifies every frame.
        #expect(restarted.terminate() == 0)
        #expect(try Self.verifyLedger(server.ledgerDirectory) == 0)
    }

    /// `tools/ledger/vimana_ledger.py verify DIR`: its exit status.
    static func verifyLedger(_ directory: String) throws -> Int32 {
        let reader = LedgerReaderTests.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", reader, "verify", directory]
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
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
        let info = c.readReplies()
        #expect(info.contains("ledger_durable_sequence:3\r\n"))
    }
}
