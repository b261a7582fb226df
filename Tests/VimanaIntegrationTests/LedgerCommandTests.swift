import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// LEDGER SEAL|RETAIN|ARCHIVES|VERIFY|RESTORE (Protocol/PROTOCOL.md §6,
/// "Ledger housekeeping"; LEDGER.md §8), in raw bytes against a real server.
@Suite struct LedgerCommandTests {
    /// A server whose ledger archives retired segments in its own directory.
    func start(extra: String = "") throws -> (ServerProcess, String) {
        let archive = NSTemporaryDirectory() + "vimana-archive-\(UUID().uuidString)"
        let server = try ServerProcess(config: "ledger:\n  archive_dir: \(archive)\n" + extra, logLevel: "info")
        return (server, archive)
    }

    func name(_ n: Int) -> String { String(repeating: "0", count: 20 - String(n).count) + String(n) + ".seg" }

    @Test func sealRetainListVerifyAndRestoreAnArchivedSegment() throws {
        let (server, archive) = try start()
        defer {
            server.stop()
            try? FileManager.default.removeItem(atPath: archive)
        }
        let c = try RawClient(port: server.port)
        // Nothing appended yet: nothing to seal; no archive directory yet: none listed.
        c.send("LEDGER SEAL\r\nLEDGER ARCHIVES\r\n")
        #expect(c.readReplies(2) == "-ERR the active segment is empty: nothing to seal\r\n*0\r\n")
        c.send("XADD t 1-1 a b\r\nXADD t 2-1 c d\r\nLEDGER SEAL\r\n")
        #expect(c.readReplies(3) == "$3\r\n1-1\r\n$3\r\n2-1\r\n$24\r\n\(name(1))\r\n")
        // The next segment begins at sequence 3; sealing it needs a record.
        c.send("LEDGER SEAL\r\nXADD t 3-1 e f\r\nLEDGER SEAL\r\n")
        #expect(c.readReplies(3) == "-ERR the active segment is empty: nothing to seal\r\n$3\r\n3-1\r\n$24\r\n\(name(3))\r\n")
        // No retention configured: nothing retires.
        c.send("LEDGER RETAIN\r\n")
        #expect(c.readReplies() == "*0\r\n")
        // Past max_bytes of 1 byte every sealed segment retires, the active one stays.
        server.stop()
        let again = try ServerProcess(config: "ledger:\n  archive_dir: \(archive)\n  retention:\n    max_bytes: 1\n",
                                      logLevel: "info", ledgerDirectory: server.ledgerDirectory)
        defer { again.stop() }
        let d = try RawClient(port: again.port)
        // Retention may already have run (each second): then RETAIN answers nothing more.
        d.send("LEDGER RETAIN\r\n")
        let retired = d.readReplies()
        #expect(retired == "*2\r\n$24\r\n\(name(1))\r\n$24\r\n\(name(3))\r\n" || retired == "*0\r\n", "\(visible(retired))")
        let listed = "*2\r\n*6\r\n$4\r\nname\r\n$24\r\n\(name(1))\r\n$5\r\nbytes\r\n:{B1}\r\n$14\r\nfirst-sequence\r\n:1\r\n"
            + "*6\r\n$4\r\nname\r\n$24\r\n\(name(3))\r\n$5\r\nbytes\r\n:{B3}\r\n$14\r\nfirst-sequence\r\n:3\r\n"
        // The move to the archive is the maintenance thread's: wait for both files.
        let deadline = Date().addingTimeInterval(10)
        var sizes: [Int] = []
        while Date() < deadline {
            sizes = [name(1), name(3)].compactMap { n in
                FileManager.default.fileExists(atPath: archive + "/" + n)
                    ? (try? FileManager.default.attributesOfItem(atPath: archive + "/" + n)[.size] as? Int) ?? nil : nil
            }
            if sizes.count == 2 && !FileManager.default.fileExists(atPath: again.ledgerDirectory + "/" + name(3)) { break }
            usleep(20_000)
        }
        try #require(sizes.count == 2, "archived: \(sizes)")
        d.send("LEDGER ARCHIVES\r\n")
        #expect(d.readReplies() == listed.replacingOccurrences(of: "{B1}", with: String(sizes[0]))
            .replacingOccurrences(of: "{B3}", with: String(sizes[1])))
        // RESP3: maps.
        d.send("HELLO 3\r\n")
        _ = d.readReplies()
        d.send("LEDGER ARCHIVES\r\n")
        #expect(d.readReplies().hasPrefix("*2\r\n%3\r\n$4\r\nname\r\n$24\r\n\(name(1))\r\n"))
        d.send("HELLO 2\r\n")
        _ = d.readReplies()
        d.send("LEDGER VERIFY \(name(1))\r\n")
        #expect(d.readReplies() == "*10\r\n$7\r\nsegment\r\n$24\r\n\(name(1))\r\n$6\r\nframes\r\n:1\r\n$7\r\nrecords\r\n:2\r\n"
            + "$6\r\nerrors\r\n*0\r\n$8\r\nwarnings\r\n*0\r\n")
        let restored = archive + "/restored/" + name(1)
        d.send("LEDGER RESTORE \(name(1))\r\nLEDGER RESTORE \(name(1))\r\n")
        #expect(d.readReplies(2) == "$\(restored.utf8.count)\r\n\(restored)\r\n-ERR segment '\(name(1))' is already restored\r\n")
        #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: archive + "/" + name(1)))
        // The offline tool reads the restored directory as a ledger.
        let tool = try runVimana(["ledger", "verify", archive + "/restored"])
        #expect(tool.status == 0, "\(tool.stdout)\(tool.stderr)")
        // A damaged archived segment: VERIFY names the bad frame.
        let path = archive + "/" + name(3)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        d.send("LEDGER VERIFY \(name(3))\r\n")
        let verified = d.readReplies()
        #expect(verified.contains("$6\r\nerrors\r\n*1\r\n$"), "\(visible(verified))")
        #expect(verified.contains("segment \(name(3)): frame 0 at offset 0"), "\(visible(verified))")
    }

    @Test func namesAreSegmentFileNamesOnlyAndMissingOnesAreRefused() throws {
        let (server, archive) = try start()
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        for bad in ["../../etc/passwd", "00000000000000000001.idx", "0000000000000000001.seg", "/00000000000000000001.seg",
                    "0000000000000000000a.seg"] {
            c.send(RawClient.command(["LEDGER", "RESTORE", bad]))
            #expect(c.readReplies() == "-ERR invalid segment name '\(bad)' (20 digits and .seg, as LEDGER ARCHIVES lists them)\r\n")
        }
        c.send("LEDGER VERIFY \(name(7))\r\nLEDGER RESTORE \(name(7))\r\n")
        #expect(c.readReplies(2) == "-ERR no archived segment '\(name(7))'\r\n-ERR no archived segment '\(name(7))'\r\n")
        #expect(!FileManager.default.fileExists(atPath: archive + "/restored"))
        c.send("LEDGER COMPACT\r\nLEDGER VERIFY\r\nMULTI\r\nLEDGER SEAL\r\nLEDGER RETAIN\r\nEXEC\r\n")
        #expect(c.readReplies(6) == "-ERR unknown subcommand 'COMPACT'. Try LEDGER SEAL, RETAIN, ARCHIVES, VERIFY <segment>, RESTORE <segment>, SCAN <cursor> [COUNT n] or CHECK.\r\n"
            + "-ERR wrong number of arguments for 'ledger|verify' command\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n"
            + "*2\r\n-ERR LEDGER SEAL cannot run inside MULTI (its reply comes once the disk work is done)\r\n*0\r\n")
    }

    @Test func onlyAdminsAndUsersGrantedLedgerMayRunIt() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin"]
              - name: keeper
                nopass: true
                permissions: ["-@all", "+ledger|archives", "+auth"]
            """, logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("AUTH app x\r\nLEDGER ARCHIVES\r\nAUTH keeper x\r\nLEDGER ARCHIVES\r\nLEDGER SEAL\r\n")
        #expect(c.readReplies(5) == "+OK\r\n-NOPERM this user has no permissions to run the 'ledger|archives' command\r\n+OK\r\n"
            + "-ERR the ledger has no archive (set ledger.archive_dir)\r\n"
            + "-NOPERM this user has no permissions to run the 'ledger|seal' command\r\n")
    }

    /// Without a ledger: the stream commands' error.
    @Test func withoutALedgerLedgerAnswersItIsDisabled() throws {
        let server = try ServerProcess(arguments: ["--no-ledger"], logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("LEDGER SEAL\r\n")
        #expect(c.readReplies() == "-ERR the ledger is disabled (--no-ledger)\r\n")
    }
}
