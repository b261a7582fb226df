import Foundation
import Testing

/// Rebuilding consumer groups at start reads what the groups' journal needs,
/// not the ledger around it (AGENTS.md §2): the `consumer groups restored`
/// log line counts the frames read.
@Suite struct GroupRestartTests {
    /// Frames the server read to restore the groups, from its log.
    func framesRead(_ server: ServerProcess) -> (frames: Int?, line: String) {
        let line = server.logLines.first { $0.contains("\"consumer groups restored\"") } ?? ""
        return (ServerProcess.field(line, "frames_read"), line)
    }

    /// A group created before 500 frames of entries and never read from, and
    /// a crash: its journal is one record at the start of the segment and no
    /// snapshot (no segment was sealed, less than 1 MiB was written, no clean
    /// stop). A start reads the index stretch holding that record (64 KiB of
    /// frames, about 50 of these), not the 500 frames; the next start
    /// replays from the snapshot the previous one wrote.
    @Test func restartReadsTheJournalNotTheLedger() throws {
        let config = "ledger:\n  segment_bytes: 64MiB\n"
        let first = try ServerProcess(config: config, logLevel: "info")
        let c = try RawClient(port: first.port)
        let r = RESPReader(c)
        c.send("XGROUP CREATE jobs g $ MKSTREAM\r\n")
        #expect(r.next() == .simple("OK"))
        // Entries of about 1.2 KB of frame each (800 KB of records in all),
        // one frame each: each is answered before the next is sent.
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let entries = 500
        for _ in 0..<entries {
            let payload = String((0..<1600).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
            c.send(RawClient.command(["XADD", "jobs", "*", "payload", payload]))
            guard case .bulk? = r.next() else { Issue.record("XADD failed"); return }
        }
        // Killed: no snapshot at the stop either.
        _ = first.terminate(signal: SIGKILL)

        let second = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let (frames, line) = framesRead(second)
        #expect(line.contains("\"from_snapshot\":\"none\""), "no segment was sealed: \(line)")
        #expect((frames ?? 0) > 0 && (frames ?? .max) <= entries / 5, "\(line)")
        // The group is whole: everything is still to be read.
        let c2 = try RawClient(port: second.port)
        let r2 = RESPReader(c2)
        c2.send("XINFO GROUPS jobs\r\n")
        #expect(r2.next()?.description.contains("\"last-delivered-id\", \"0-0\"") == true)
        // The second start wrote a snapshot; the third replays from it.
        let pointer = first.ledgerDirectory + "/groups.snapshot"
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: pointer) && Date() < deadline { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: pointer), "no snapshot written at start")
        #expect(second.terminate() == 0)
        let third = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let (again, line3) = framesRead(third)
        #expect(!line3.contains("\"from_snapshot\":\"none\""), "\(line3)")
        #expect((again ?? .max) <= entries / 5, "\(line3)")
    }

    /// A clean stop writes a snapshot after the group's last change: the
    /// next start replays that snapshot only, and the group is whole.
    @Test func cleanStopLeavesASnapshotToStartFrom() throws {
        let first = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: first.port)
        let r = RESPReader(c)
        var script = "XGROUP CREATE s g 0 MKSTREAM\r\n"
        for i in 0..<20 { script += "XADD s * f v\(i)\r\n" }
        script += "XREADGROUP GROUP g alice COUNT 5 STREAMS s >\r\nXPENDING s g\r\n"
        c.send(script)
        for _ in 0..<22 { _ = r.next() }
        let pending = r.next()?.description ?? "nil"
        #expect(pending.hasPrefix("[:5,"), "\(pending)")
        #expect(first.terminate() == 0)
        let second = try ServerProcess(logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let line = second.logLines.first { $0.contains("\"consumer groups restored\"") } ?? ""
        #expect(!line.contains("\"from_snapshot\":\"none\""), "\(line)")
        // snapshot-begin, the group's snapshot, alice's pending, snapshot-end.
        #expect(ServerProcess.field(line, "journal_records") == 4, "\(line)")
        let c2 = try RawClient(port: second.port)
        let r2 = RESPReader(c2)
        c2.send("XPENDING s g\r\n")
        #expect(r2.next()?.description == pending)
    }
}
