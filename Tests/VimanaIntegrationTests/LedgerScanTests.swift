import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// LEDGER SCAN (Protocol/PROTOCOL.md §6, "Ledger housekeeping"; LEDGER.md
/// §8), in raw bytes against a real server.
@Suite struct LedgerScanTests {
    /// Timestamps (µs since the epoch, 16 digits) as `:T`: they are the server's clock.
    func masked(_ reply: String) -> String {
        reply.replacingOccurrences(of: #":1[0-9]{15}\r\n"#, with: ":T\r\n", options: .regularExpression)
    }

    func entry(_ seq: Int, _ topic: String, _ id: String, _ publisher: String, _ bytes: Int) -> String {
        "*6\r\n:\(seq)\r\n$\(topic.utf8.count)\r\n\(topic)\r\n$\(id.utf8.count)\r\n\(id)\r\n"
            + "$\(publisher.utf8.count)\r\n\(publisher)\r\n:\(bytes)\r\n:T\r\n"
    }

    func page(cursor: Int, end: Int, skipped: Int, _ entries: [String]) -> String {
        "*8\r\n$6\r\ncursor\r\n$\(String(cursor).count)\r\n\(cursor)\r\n$3\r\nend\r\n:\(end)\r\n"
            + "$7\r\nskipped\r\n:\(skipped)\r\n$7\r\nrecords\r\n*\(entries.count)\r\n" + entries.joined()
    }

    @Test func pagesOfMetadataFromACursorInSequenceOrder() throws {
        let server = try ServerProcess(config: "users:\n  - name: alice\n    nopass: true\n    permissions: [\"+@all\", \"~*\", \"&*\"]\n",
                                       logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("XADD orders 1-1 item pen\r\nAUTH alice x\r\nXADD orders 2-1 item inkwell qty 12\r\nXADD audit 7-3 ok 1\r\n")
        #expect(c.readReplies(4) == "$3\r\n1-1\r\n+OK\r\n$3\r\n2-1\r\n$3\r\n7-3\r\n")
        // Values' bytes only (pen: 3; inkwell + 12: 9), never the values themselves.
        c.send("LEDGER SCAN 0 COUNT 2\r\n")
        #expect(masked(c.readReplies()) == page(cursor: 3, end: 4, skipped: 0,
                                                [entry(1, "orders", "1-1", "default", 3), entry(2, "orders", "2-1", "alice", 9)]))
        c.send("LEDGER SCAN 3\r\nLEDGER SCAN 4 COUNT 10000\r\nLEDGER SCAN $\r\n")
        #expect(masked(c.readReplies(3)) == page(cursor: 4, end: 4, skipped: 0, [entry(3, "audit", "7-3", "alice", 1)])
                + page(cursor: 4, end: 4, skipped: 0, []) + page(cursor: 4, end: 4, skipped: 0, []))
        // RESP3: a map.
        c.send("HELLO 3\r\n")
        _ = c.readReplies()
        c.send("LEDGER SCAN 3 count 1\r\n")
        #expect(masked(c.readReplies()) == "%4\r\n$6\r\ncursor\r\n$1\r\n4\r\n$3\r\nend\r\n:4\r\n$7\r\nskipped\r\n:0\r\n"
                + "$7\r\nrecords\r\n*1\r\n" + entry(3, "audit", "7-3", "alice", 1))
    }

    @Test func aBadCursorOrCountIsAClearErrorAndANonAdminGetsNOPERM() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            """, logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\n")
        #expect(c.readReplies() == "$3\r\n1-1\r\n")
        let cursor = "-ERR invalid LEDGER SCAN cursor (a sequence number from 0, or $)\r\n"
        c.send("LEDGER SCAN x\r\nLEDGER SCAN -1\r\nLEDGER SCAN 1.5\r\nLEDGER SCAN 99999999999999999999\r\nLEDGER SCAN 3\r\n")
        #expect(c.readReplies(5) == cursor + cursor + cursor + cursor
                + "-ERR LEDGER SCAN cursor 3 is beyond the ledger's end (next sequence 2)\r\n")
        let count = "-ERR LEDGER SCAN COUNT must be from 1 to 10000\r\n"
        c.send("LEDGER SCAN 0 COUNT 0\r\nLEDGER SCAN 0 COUNT 10001\r\nLEDGER SCAN 0 COUNT -5\r\nLEDGER SCAN 0 COUNT x\r\n")
        #expect(c.readReplies(4) == count + count + count + count)
        c.send("LEDGER SCAN 0 LIMIT 5\r\nLEDGER SCAN 0 COUNT\r\nLEDGER SCAN 0 COUNT 1 x\r\nLEDGER SCAN\r\n")
        #expect(c.readReplies(4) == "-ERR syntax error\r\n-ERR syntax error\r\n"
                + "-ERR wrong number of arguments for 'ledger|scan' command\r\n-ERR wrong number of arguments for 'ledger|scan' command\r\n")
        // The cursor 2 is the end: nothing yet, and no error.
        c.send("LEDGER SCAN 2\r\n")
        #expect(masked(c.readReplies()) == page(cursor: 2, end: 2, skipped: 0, []))
        c.send("MULTI\r\nLEDGER SCAN 0\r\nEXEC\r\n")
        #expect(c.readReplies(3) == "+OK\r\n+QUEUED\r\n*1\r\n-ERR LEDGER SCAN cannot run inside MULTI (its reply comes once the disk work is done)\r\n")
        c.send("AUTH app x\r\nLEDGER SCAN 0\r\n")
        #expect(c.readReplies(2) == "+OK\r\n-NOPERM this user has no permissions to run the 'ledger|scan' command\r\n")
    }

    @Test func aCursorBeforeWhatRetentionKeptResumesAtTheOldestAndSaysHowManyWereSkipped() throws {
        let server = try ServerProcess(config: "ledger:\n  retention:\n    max_bytes: 1\n", logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 a b\r\nXADD t 2-1 a b\r\nLEDGER SEAL\r\nXADD t 3-1 a bcd\r\nLEDGER RETAIN\r\n")
        let replies = c.readReplies(5)
        #expect(replies.hasPrefix("$3\r\n1-1\r\n$3\r\n2-1\r\n$24\r\n00000000000000000001.seg\r\n$3\r\n3-1\r\n"), "\(visible(replies))")
        // Retention runs each second too: wait until the first segment is gone.
        let deadline = Date().addingTimeInterval(10)
        var info = ""
        while Date() < deadline {
            c.send("INFO ledger\r\n")
            info = c.readReplies()
            if info.contains("ledger_first_sequence:3\r\n") { break }
            usleep(20_000)
        }
        #expect(info.contains("ledger_first_sequence:3\r\n"))
        c.send("LEDGER SCAN 0\r\nLEDGER SCAN 2\r\nLEDGER SCAN 3\r\n")
        let third = [entry(3, "t", "3-1", "default", 3)]
        #expect(masked(c.readReplies(3)) == page(cursor: 4, end: 4, skipped: 2, third) + page(cursor: 4, end: 4, skipped: 1, third)
                + page(cursor: 4, end: 4, skipped: 0, third))
    }

    @Test func aLongLedgerReadsAcrossSealedSegmentsAndRestartsPageByPage() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        var batch = ""
        for i in 1...1500 { batch += RawClient.command(["XADD", i % 3 == 0 ? "b" : "a", "*", "v", String(repeating: "x", count: i % 40)]) }
        c.send(batch)
        _ = c.readReplies(1500, timeout: 30)
        c.send("LEDGER SEAL\r\n")
        #expect(c.readReplies() == "$24\r\n00000000000000000001.seg\r\n")
        c.send(batch)
        _ = c.readReplies(1500, timeout: 30)
        /// Every page: entries' sequences, topics and sizes, and the next cursor.
        func scanAll(_ c: RawClient) -> (sequences: [Int], bytes: Int, last: String) {
            var cursor = "0", sequences: [Int] = [], bytes = 0, last = ""
            for _ in 0..<100 {
                c.send("LEDGER SCAN \(cursor) COUNT 333\r\n")
                let reply = c.readReplies(timeout: 30)
                last = reply
                let lines = reply.components(separatedBy: "\r\n")
                guard lines.count > 3 else { break }
                let next = lines[4]
                // Each entry: *6, :seq, $n, topic, $n, id, $n, publisher, :bytes, :time.
                var k = lines.firstIndex(of: "records").map { $0 + 2 } ?? lines.count
                while k + 9 < lines.count && lines[k] == "*6" {
                    sequences.append(Int(lines[k + 1].dropFirst()) ?? -1)
                    bytes += Int(lines[k + 8].dropFirst()) ?? -1
                    k += 10
                }
                if next == cursor { break }
                cursor = next
            }
            return (sequences, bytes, last)
        }
        let expectedBytes = 2 * (1...1500).reduce(0) { $0 + $1 % 40 }
        let first = scanAll(c)
        #expect(first.sequences == Array(1...3000) && first.bytes == expectedBytes, "\(first.sequences.count) \(visible(String(first.last.prefix(300))))")
        // After a restart (sealed segments compacted meanwhile or not) the same.
        server.stop()
        let again = try ServerProcess(logLevel: "info", ledgerDirectory: server.ledgerDirectory)
        defer { again.stop() }
        let d = try RawClient(port: again.port)
        let second = scanAll(d)
        #expect(second.sequences == Array(1...3000) && second.bytes == expectedBytes)
    }

    /// A damaged frame in a sealed segment: the scan stops before it (or,
    /// when nothing came before it, says so), the segment is examined, and
    /// the next call passes the damage, counting the record lost in `skipped`.
    @Test func aDamagedStretchIsPassedAndItsRecordsCountedAsSkipped() throws {
        let writer = try LedgerDamageTests.writeSealedLedger()
        let dir = writer.ledgerDirectory
        let path = dir + "/" + LedgerDamageTests.segment
        let frames = try LedgerToolTests.frames(path)
        try #require(frames.count >= 20)
        // Frame 10 of the first (sealed) segment holds sequence 11.
        try LedgerDamageTests.flip(path, at: frames[10].offset + 40)
        // Compaction off: compaction at start would find the damage first.
        let server = try ServerProcess(config: "ledger:\n  compaction_level: off\n", logLevel: "info", ledgerDirectory: dir)
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        c.send("LEDGER SCAN 11 COUNT 2\r\n")
        let refused = c.readReplies()
        #expect(refused.hasPrefix("-ERR LEDGER SCAN could not read the ledger (try again): ") && refused.contains("offset \(frames[10].offset)"),
                "\(visible(refused))")
        c.send("LEDGER SCAN 11 COUNT 2\r\n")
        #expect(masked(c.readReplies()) == page(cursor: 14, end: 401, skipped: 1,
                                                [entry(12, "b", "12-1", "default", 300), entry(13, "a", "13-1", "default", 300)]))
        // From the start: pages stop before the damage, then pass it.
        var cursor = 0, sequences: [Int] = [], skipped = 0
        for _ in 0..<50 where cursor < 401 {
            c.send("LEDGER SCAN \(cursor) COUNT 100\r\n")
            let lines = c.readReplies().components(separatedBy: "\r\n")
            guard lines.count > 12, let next = Int(lines[4]), let s = Int(lines[10].dropFirst()) else { break }
            var k = (lines.firstIndex(of: "records") ?? lines.count) + 2
            while k + 9 < lines.count && lines[k] == "*6" {
                sequences.append(Int(lines[k + 1].dropFirst()) ?? -1)
                k += 10
            }
            skipped += s
            cursor = next
        }
        #expect(sequences == Array(1...10) + Array(12...400) && skipped == 1 && cursor == 401)
    }
    /// A segment file that cannot be opened is never passed: the scan stops
    /// before it (an error when it holds the cursor), and once it can be
    /// opened again every record is read, none counted as skipped.
    @Test func aSegmentThatCannotBeOpenedIsNotSkipped() throws {
        let writer = try ServerProcess(logLevel: "info")
        let w = try RawClient(port: writer.port)
        var batch = ""
        for i in 1...500 { batch += RawClient.command(["XADD", "a", "*", "v", String(i)]) }
        w.send(batch)
        _ = w.readReplies(500, timeout: 30)
        w.send("LEDGER SEAL\r\n")
        #expect(w.readReplies() == "$24\r\n00000000000000000001.seg\r\n")
        w.send(batch)
        _ = w.readReplies(500, timeout: 30)
        writer.stop()
        let server = try ServerProcess(config: "ledger:\n  compaction_level: off\n", logLevel: "info",
                                       ledgerDirectory: writer.ledgerDirectory)
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        let path = writer.ledgerDirectory + "/00000000000000000001.seg"
        try #require(rename(path, path + ".away") == 0)
        c.send("LEDGER SCAN 0 COUNT 10000\r\n")
        let refused = c.readReplies(timeout: 30)
        #expect(refused.hasPrefix("-ERR LEDGER SCAN could not read the ledger (try again): "), "\(visible(refused))")
        try #require(rename(path + ".away", path) == 0)
        c.send("LEDGER SCAN 0 COUNT 10000\r\n")
        let lines = c.readReplies(timeout: 30).components(separatedBy: "\r\n")
        var sequences: [Int] = []
        var k = (lines.firstIndex(of: "records") ?? lines.count) + 2
        while k + 9 < lines.count && lines[k] == "*6" {
            sequences.append(Int(lines[k + 1].dropFirst()) ?? -1)
            k += 10
        }
        #expect(sequences == Array(1...1000) && lines.count > 10 && lines[10] == ":0")
    }
    /// A page stops at about a megabyte of entries (LedgerLimits.scanPageBytes),
    /// whatever COUNT is: long topic names make it hold fewer records, and
    /// the next page goes on from its cursor.
    @Test func aPageStopsAtItsByteBudgetWithFewerRecordsThanCount() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        var batch = ""
        for i in 0..<12 { batch += RawClient.command(["XADD", String(i % 10) + String(repeating: "t", count: 200_000), "*", "v", "x"]) }
        c.send(batch)
        _ = c.readReplies(12, timeout: 30)
        var cursor = "0", pages: [[Int]] = []
        for _ in 0..<10 {
            c.send("LEDGER SCAN \(cursor) COUNT 100\r\n")
            let lines = c.readReplies(timeout: 30).components(separatedBy: "\r\n")
            guard lines.count > 4 else { break }
            var sequences: [Int] = []
            var k = (lines.firstIndex(of: "records") ?? lines.count) + 2
            while k + 9 < lines.count && lines[k] == "*6" {
                sequences.append(Int(lines[k + 1].dropFirst()) ?? -1)
                k += 10
            }
            if sequences.isEmpty { break }
            pages.append(sequences)
            cursor = lines[4]
        }
        // 200,000-byte topics: the sixth entry passes 1 MiB and ends the page.
        #expect(pages.first == Array(1...6) && pages.flatMap { $0 } == Array(1...12), "\(pages)")
    }
    /// The cursor's range as PROTOCOL.md §6 gives it: past Int64's largest
    /// value it is an invalid cursor; at it, beyond the ledger's end.
    @Test func aCursorPastTheLargestSequenceIsInvalid() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        let invalid = "-ERR invalid LEDGER SCAN cursor (a sequence number from 0, or $)\r\n"
        c.send("LEDGER SCAN 9999999999999999999\r\n")
        #expect(c.readReplies() == invalid)
        c.send("LEDGER SCAN 9223372036854775808\r\n")
        #expect(c.readReplies() == invalid)
        c.send("LEDGER SCAN 9223372036854775807\r\n")
        #expect(c.readReplies().hasPrefix("-ERR LEDGER SCAN cursor 9223372036854775807 is beyond the ledger's end"))
    }
}
