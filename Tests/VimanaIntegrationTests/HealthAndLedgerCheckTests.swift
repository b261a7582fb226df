import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// LEDGER CHECK (every frame of the live ledger, as far as written) and
/// HEALTH REPORT|CLEAR (a problem on /health), in raw bytes against a real
/// server (Protocol/PROTOCOL.md §6).
@Suite struct HealthAndLedgerCheckTests {
    func name(_ n: Int) -> String { String(repeating: "0", count: 20 - String(n).count) + String(n) + ".seg" }

    func segmentReply(_ segment: String, frames: Int, records: Int) -> String {
        "*10\r\n$7\r\nsegment\r\n$24\r\n\(segment)\r\n$6\r\nframes\r\n:\(frames)\r\n$7\r\nrecords\r\n:\(records)\r\n"
            + "$6\r\nerrors\r\n*0\r\n$8\r\nwarnings\r\n*0\r\n"
    }

    @Test func ledgerCheckVerifiesSealedAndActiveSegmentsAndNamesADamagedFrame() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: "ledger:\n  compaction_level: off\n", logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\nXADD t 2-1 c d\r\nLEDGER SEAL\r\nXADD t 3-1 e f\r\n")
        #expect(c.readReplies(4) == "$3\r\n1-1\r\n$3\r\n2-1\r\n$24\r\n\(name(1))\r\n$3\r\n3-1\r\n")
        c.send("LEDGER CHECK\r\n")
        let clean = c.readReplies()
        // The two pipelined XADDs went to the writer together: one frame.
        #expect(clean == "*2\r\n" + segmentReply(name(1), frames: 1, records: 2) + segmentReply(name(3), frames: 1, records: 1),
                "\(visible(clean))")
        // While records are being written: a frame being written is no damage.
        var pipeline = ""
        for i in 4...300 { pipeline += "XADD t \(i)-1 n \(i)\r\n" + (i % 50 == 0 ? "LEDGER CHECK\r\n" : "") }
        c.send(pipeline)
        let busy = c.readReplies(297 + 6)
        #expect(!busy.contains("$6\r\nerrors\r\n*1") && !busy.contains("-ERR"), "\(visible(String(busy.prefix(2000))))")
        // One bad byte in the sealed segment's last frame.
        let path = server.ledgerDirectory + "/" + name(1)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        c.send("LEDGER CHECK\r\n")
        let damaged = c.readReplies()
        #expect(damaged.hasPrefix("*2\r\n*10\r\n$7\r\nsegment\r\n$24\r\n\(name(1))\r\n$6\r\nframes\r\n:0\r\n"), "\(visible(damaged))")
        #expect(damaged.contains("$6\r\nerrors\r\n*1\r\n$"), "\(visible(damaged))")
        #expect(damaged.contains("segment \(name(1)): frame 0 at offset 0: "), "\(visible(damaged))")
        // The active segment is whole.
        #expect(damaged.contains("$24\r\n\(name(3))\r\n$6\r\nframes\r\n"), "\(visible(damaged))")
        #expect(damaged.components(separatedBy: "$6\r\nerrors\r\n*0\r\n").count == 2, "\(visible(damaged))")
        // The offline verifier says the same of the same frame (one definition of a good frame).
        let tool = try runVimana(["ledger", "verify", server.ledgerDirectory])
        #expect(tool.status == 1 && tool.stdout.contains("segment \(name(1)): frame 0 at offset 0: "), "\(tool.stdout)")
        c.send("MULTI\r\nLEDGER CHECK\r\nEXEC\r\nLEDGER CHECK now\r\n")
        #expect(c.readReplies(4) == "+OK\r\n+QUEUED\r\n*1\r\n-ERR LEDGER CHECK cannot run inside MULTI (its reply comes once the disk work is done)\r\n"
                + "-ERR wrong number of arguments for 'ledger|check' command\r\n")
    }

    @Test func healthReportMakesHealthDegradedUntilCleared() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
              - name: reporter
                nopass: true
                permissions: ["-@all", "+auth", "+health|report", "+health|clear"]
            """, logLevel: "info")
        defer { server.stop() }
        #expect(RawClient.httpGet(port: server.httpPort, path: "/health").contains("{\"status\":\"ok\","))
        let c = try RawClient(port: server.port)
        c.send("AUTH app x\r\nHEALTH REPORT auditor broken\r\nHEALTH CLEAR auditor\r\n")
        #expect(c.readReplies(3) == "+OK\r\n-NOPERM this user has no permissions to run the 'health|report' command\r\n"
                + "-NOPERM this user has no permissions to run the 'health|clear' command\r\n")
        c.send("AUTH reporter x\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        c.send(RawClient.command(["HEALTH", "REPORT", "auditor", "1 critical finding: ledger 00000000000000000001.seg: bad CRC"]))
        #expect(c.readReplies() == "+OK\r\n")
        let degraded = RawClient.httpGet(port: server.httpPort, path: "/health")
        #expect(degraded.contains("{\"status\":\"degraded\",\"problems\":[\"auditor: 1 critical finding: ledger 00000000000000000001.seg: bad CRC\"],"),
                "\(degraded)")
        // Replaced, not added; cleared once.
        c.send("HEALTH REPORT auditor again\r\nHEALTH CLEAR auditor\r\nHEALTH CLEAR auditor\r\n")
        #expect(c.readReplies(3) == "+OK\r\n:1\r\n:0\r\n")
        #expect(RawClient.httpGet(port: server.httpPort, path: "/health").contains("{\"status\":\"ok\","))
        // Arguments: arity, the source's bytes and length, the problem's size, the number of sources.
        let long = String(repeating: "a", count: 65)
        c.send("HEALTH REPORT auditor\r\nHEALTH\r\nHEALTH NAP x\r\nHEALTH REPORT Bad! x\r\n")
        #expect(c.readReplies(4) == "-ERR wrong number of arguments for 'health|report' command\r\n"
                + "-ERR wrong number of arguments for 'health' command\r\n"
                + "-ERR unknown subcommand 'NAP'. Try HEALTH REPORT <source> <problem> or HEALTH CLEAR <source>.\r\n"
                + "-ERR invalid health source 'Bad!' (1 to 64 characters from a-z, 0-9, '_', '.', '-')\r\n")
        c.send(RawClient.command(["HEALTH", "REPORT", long, "x"]) + RawClient.command(["HEALTH", "CLEAR", ""])
               + RawClient.command(["HEALTH", "REPORT", "auditor", ""])
               + RawClient.command(["HEALTH", "REPORT", "auditor", String(repeating: "x", count: 1025)]))
        #expect(c.readReplies(4) == "-ERR invalid health source '\(long)' (1 to 64 characters from a-z, 0-9, '_', '.', '-')\r\n"
                + "-ERR invalid health source '' (1 to 64 characters from a-z, 0-9, '_', '.', '-')\r\n"
                + "-ERR a health problem is 1 to 1024 bytes\r\n-ERR a health problem is 1 to 1024 bytes\r\n")
        var many = ""
        for i in 0..<17 { many += "HEALTH REPORT s\(i) p\r\n" }
        c.send(many)
        #expect(c.readReplies(17) == String(repeating: "+OK\r\n", count: 16) + "-ERR too many health sources (16): clear one first\r\n")
        let listed = RawClient.httpGet(port: server.httpPort, path: "/health")
        #expect(listed.contains("\"s0: p\",\"s1: p\",\"s10: p\""), "\(listed)")
    }
}
