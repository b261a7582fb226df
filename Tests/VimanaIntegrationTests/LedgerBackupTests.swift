import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `vimana ledger backup DIR DEST` (Protocol/LEDGER.md §10): a copy taken
/// beside a running server, restored by starting a server on it.
@Suite struct LedgerBackupTests {
    func temporaryPath(_ what: String) -> String { NSTemporaryDirectory() + "vimana-\(what)-\(UUID().uuidString)" }

    func segments(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".seg") }.sorted()
    }

    /// Every stream ID (`ms-seq`) among the bulk strings of a reply.
    func ids(_ reply: String) -> Set<String> {
        var out: Set<String> = []
        for part in reply.split(separator: "\r\n") {
            let halves = part.split(separator: "-", omittingEmptySubsequences: false)
            if halves.count == 2, halves.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { out.insert(String(part)) }
        }
        return out
    }

    @Test func backupDuringAPublishingLoadRestoresEveryEntryAcknowledgedBeforeIt() throws {
        // Small segments, so that segments are sealed while the backup copies.
        let server = try ServerProcess(config: "ledger:\n  segment_bytes: 64KiB\n  fsync: everysec\n", logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        // The two journals kept in the ledger: a consumer group, a user made at runtime.
        c.send("XGROUP CREATE jobs workers $ MKSTREAM\r\nXADD jobs 5-1 k v\r\nACL SETUSER backup-probe on >pw ~* +@all\r\n")
        #expect(c.readReplies(3) == "+OK\r\n$3\r\n5-1\r\n+OK\r\n")
        let appender = try XAddAppender(port: server.port, topic: "load", valueBytes: 512)
        appender.start()
        defer { appender.finish() }
        // Enough acknowledged to fill several segments before the backup begins.
        #expect(waitWhileAdvancing(stall: 10, progress: { appender.ackedCount }) { appender.ackedCount >= 1500 })
        let before = Set(appender.acked.withLock { $0 })
        let dest = temporaryPath("backup")
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let backup = try runVimana(["ledger", "backup", server.ledgerDirectory, dest])
        let during = appender.ackedCount
        #expect(appender.finish())
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        #expect(backup.stdout.contains("ok: backup of \(server.ledgerDirectory) in \(dest), verified: "), "\(backup.stdout)")
        // The load went on while the backup ran: the copy is of a live ledger.
        #expect(appender.ackedCount > before.count && during >= before.count)
        #expect(appender.errorCount == 0)
        #expect(segments(dest).count >= 3, "\(segments(dest))")
        // The server's lock was never taken: it still serves.
        c.send("PING\r\n")
        #expect(c.readReplies() == "+PONG\r\n")

        let verify = try runVimana(["ledger", "verify", dest])
        #expect(verify.status == 0 && verify.stdout.contains("ok: "), "\(verify.stdout)\(verify.stderr)")

        // Restoring is starting a server on the copy.
        let restored = try ServerProcess(logLevel: "info", ledgerDirectory: dest)
        defer { restored.stop() }
        let r = try RawClient(port: restored.port, timeout: 30)
        r.send("XRANGE load - +\r\n")
        let held = ids(r.readReplies(timeout: 30))
        let missing = before.subtracting(held)
        #expect(missing.isEmpty, "\(missing.count) acknowledged entries missing, e.g. \(missing.sorted().prefix(3))")
        r.send("XINFO GROUPS jobs\r\n")
        #expect(r.readReplies().contains("$7\r\nworkers\r\n"))
        r.send("ACL GETUSER backup-probe\r\n")
        #expect(r.readReplies().contains("$5\r\nflags\r\n"), "the user made at runtime is restored")
        restored.stop()
        let after = try runVimana(["ledger", "verify", dest])
        #expect(after.status == 0, "\(after.stdout)\(after.stderr)")
    }

    /// A stopped server's ledger whose active segment ends in part of a
    /// frame (as a frame being written, or a crash's torn tail, leaves it).
    @Test func theActiveSegmentIsCutAfterItsLastWholeFrame() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\nXADD t 2-1 c d\r\n")
        #expect(c.readReplies(2) == "$3\r\n1-1\r\n$3\r\n2-1\r\n")
        #expect(server.terminate() == 0)
        let dir = server.ledgerDirectory
        let name = try #require(segments(dir).last)
        let path = dir + "/" + name
        let whole = try #require(FileManager.default.contents(atPath: path))
        // The first 20 bytes of a frame header: a frame being written.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(whole.prefix(20))
        handle.closeFile()
        let dest = temporaryPath("backup")
        defer { try? FileManager.default.removeItem(atPath: dest) }
        let backup = try runVimana(["ledger", "backup", dir, dest])
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        #expect(backup.stdout.hasPrefix("\(name): \(whole.count) bytes, "), "\(backup.stdout)")
        #expect(backup.stdout.contains(" frames, 2 records, cut after its last whole frame (20 bytes after it left out)\n"),
                "\(backup.stdout)")
        #expect(FileManager.default.contents(atPath: dest + "/" + name) == whole)
        // The source is left as it was: the backup never writes to DIR.
        #expect(FileManager.default.contents(atPath: path)?.count == whole.count + 20)
        let restored = try ServerProcess(logLevel: "info", ledgerDirectory: dest)
        defer { restored.stop() }
        let r = try RawClient(port: restored.port)
        r.send("XRANGE t - +\r\n")
        #expect(ids(r.readReplies()) == ["1-1", "2-1"])
    }

    /// Damage in a sealed segment is copied as found and reported (exit 1);
    /// after a repair, `damaged/` travels with the copy, so the gap it left
    /// stays legitimate and the copy verifies.
    @Test func damageIsCopiedAsFoundAndARepairsRecordTravels() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\nLEDGER SEAL\r\nXADD t 2-1 c d\r\nLEDGER SEAL\r\nXADD t 3-1 e f\r\n")
        #expect(c.readReplies(5) == "$3\r\n1-1\r\n$24\r\n00000000000000000001.seg\r\n$3\r\n2-1\r\n"
            + "$24\r\n00000000000000000002.seg\r\n$3\r\n3-1\r\n")
        #expect(server.terminate() == 0)
        let dir = server.ledgerDirectory
        // Segments 1, 2 and 3, one record each; a flipped bit in the data of segment 2's only frame.
        let sealed = dir + "/00000000000000000002.seg"
        var bytes = try #require(FileManager.default.contents(atPath: sealed))
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: sealed))

        let first = temporaryPath("backup")
        defer { try? FileManager.default.removeItem(atPath: first) }
        let damaged = try runVimana(["ledger", "backup", dir, first])
        #expect(damaged.status == 1)
        #expect(damaged.stdout.contains("00000000000000000002.seg: \(bytes.count) bytes, 0 frames, 0 records, damaged (copied as found)"),
                "\(damaged.stdout)")
        #expect(damaged.stdout.contains("1 problem in the backup in \(first)"), "\(damaged.stdout)")
        #expect(FileManager.default.contents(atPath: first + "/00000000000000000002.seg") == bytes)

        let repair = try runVimana(["ledger", "repair", dir])
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        let second = temporaryPath("backup")
        defer { try? FileManager.default.removeItem(atPath: second) }
        let backup = try runVimana(["ledger", "backup", dir, second])
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        #expect(backup.stdout.contains("\ndamaged/00000000000000000002-00000000000000000003.00000000000000000002.seg.0.damaged\n"),
                "\(backup.stdout)")
        let verify = try runVimana(["ledger", "verify", second])
        #expect(verify.status == 0 && verify.stdout.contains("lost to damage"), "\(verify.stdout)")
        let restored = try ServerProcess(logLevel: "info", ledgerDirectory: second)
        defer { restored.stop() }
        let r = try RawClient(port: restored.port)
        r.send("XRANGE t - +\r\n")
        #expect(ids(r.readReplies()) == ["1-1", "3-1"])
    }

    @Test func destinationsThatCannotTakeABackupAreRefusedWithoutWriting() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\n")
        #expect(c.readReplies() == "$3\r\n1-1\r\n")
        let dir = server.ledgerDirectory
        defer { server.stop() }

        let full = temporaryPath("nonempty")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: full) }
        try "x".write(toFile: full + "/notes.txt", atomically: false, encoding: .utf8)
        let notEmpty = try runVimana(["ledger", "backup", dir, full])
        #expect(notEmpty.status == 2)
        #expect(notEmpty.stderr.contains("vimana ledger: backup: \(full): not empty (1 entry)"), "\(notEmpty.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: full) == ["notes.txt"])

        let inside = try runVimana(["ledger", "backup", dir, dir + "/copy"])
        #expect(inside.status == 2 && inside.stderr.contains("is inside the ledger directory"), "\(inside.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/copy"))

        let file = full + "/notes.txt"
        let notDirectory = try runVimana(["ledger", "backup", dir, file])
        #expect(notDirectory.status == 2 && notDirectory.stderr.contains("\(file): not a directory"), "\(notDirectory.stderr)")

        let notLedger = try runVimana(["ledger", "backup", full, temporaryPath("unused")])
        #expect(notLedger.status == 2 && notLedger.stderr.contains("not a ledger directory"), "\(notLedger.stderr)")

        let usage = try runVimana(["ledger", "backup", dir])
        #expect(usage.status == 2 && usage.stderr.contains("usage: vimana ledger backup DIR DEST"), "\(usage.stderr)")
    }

    /// A destination on a full file system, then on a read-only one: exit 1
    /// with the system's reason, and nothing of the backup left behind.
    @Test func aFullOrReadOnlyDestinationFailsAndLeavesNothing() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        // About 2 MiB of ledger (random hex compresses about 2:1): more than the 1 MiB file system takes.
        let appender = try XAddAppender(port: server.port, topic: "fill", valueBytes: 4096)
        appender.start()
        #expect(waitWhileAdvancing(stall: 10, progress: { appender.ackedCount }) { appender.ackedCount >= 1000 })
        #expect(appender.finish())
        let fs = try Tmpfs(megabytes: 1)
        defer { fs.unmount() }
        let dest = fs.path + "/backup"
        let full = try runVimana(["ledger", "backup", server.ledgerDirectory, dest])
        #expect(full.status == 1)
        #expect(full.stderr.contains("No space left on device") && full.stderr.contains("removed \(dest)"), "\(full.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path).isEmpty)

        try fs.remountReadOnly()
        let readOnly = try runVimana(["ledger", "backup", server.ledgerDirectory, dest])
        #expect(readOnly.status == 1)
        #expect(readOnly.stderr.contains("mkdir \(dest): Read-only file system"), "\(readOnly.stderr)")
    }
}
