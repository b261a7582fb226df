import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// LEDGER.md §2: a segment is sealed on the first append after it passes
/// `segment_bytes`, however busy the writer is.
@Suite struct SegmentSealTests {
    /// A slow disk (every fsync takes 50 ms) under `fsync: always`, and a
    /// publisher whose PUBLISH replies do not wait for the disk: fsyncs follow
    /// one another without a gap. Sealing once waited for a moment with no
    /// fsync in flight and never found one, so the active segment grew
    /// without bound (1.2 GB under `fsync: no` in the restart benchmark), and
    /// restarts, compaction and retention with it.
    @Test func segmentsSealWhileFsyncsFollowOneAnother() throws {
        let shim = try FsyncShim.path()
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: "ledger:\n  segment_bytes: 64KiB\n",
                                       logLevel: "info",
                                       environment: ["LD_PRELOAD": shim, "VIMANA_FSYNC_DELAY_MS": "50"])
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        let replies = RESPReader(c)
        var g = SystemRandomNumberGenerator()
        // 40 rounds of 100 messages of 1,000 random hex digits: about 4 MB of
        // records, 2 MB written (hex deflates to half), some 30 segments' worth.
        for round in 0..<40 {
            var batch = ""
            for _ in 0..<100 {
                var hex = ""
                for _ in 0..<63 { hex += String(g.next() as UInt64, radix: 16) }
                batch += "PUBLISH t \(hex.prefix(1000))\r\n"
            }
            c.send(batch)
            for _ in 0..<100 { #expect(replies.next(timeout: 30) == .integer(0), "round \(round)") }
        }
        // No segment grew far past segment_bytes: the writer stops at the
        // frame that fills a segment and appends nothing more until the seal
        // (LEDGER.md §2), so a segment holds at most about one loop pass's
        // records more. (The old writer kept all 2 MB in one segment; a later
        // one, writing on while the fsync ran, 1.2 MB under load.) How many
        // segments there are depends on the machine's pace; their size does not.
        let sizes = try FileManager.default.contentsOfDirectory(atPath: server.ledgerDirectory)
            .filter { $0.hasSuffix(".seg") }
            .map { (try FileManager.default.attributesOfItem(atPath: server.ledgerDirectory + "/" + $0)[.size] as? Int) ?? 0 }
        #expect(sizes.count >= 2, "segments: \(sizes)")
        #expect((sizes.max() ?? 0) <= 256 << 10, "segments: \(sizes)")
    }
}
