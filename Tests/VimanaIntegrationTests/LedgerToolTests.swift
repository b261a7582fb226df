import Foundation
import Testing

/// `vimana ledger stats|verify|dump|tail DIR` read what a real server wrote,
/// with the server stopped (or, for `tail --follow`, still writing), and
/// name the segment, frame and offset of damage.
@Suite struct LedgerToolTests {
    static let segment = "00000000000000000001.seg"

    /// Sends one command and checks the exact reply.
    static func call(_ c: RawClient, _ args: [String], _ reply: String) {
        c.send(RawClient.command(args))
        let got = c.read(matching: reply)
        #expect(got == reply, "\(args): \(visible(got))")
    }

    /// A stopped server, whose ledger holds four XADDs with explicit IDs and
    /// one PUBLISH. `fsync always` makes every reply wait for its own write,
    /// so each record is one frame. The ledger directory lives as long as the
    /// returned object.
    static func writeLedger() throws -> ServerProcess {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let c = try RawClient(port: server.port)
        call(c, ["CLIENT", "SETNAME", "writer"], "+OK\r\n")
        call(c, ["XADD", "t", "5-1", "a", "b"], "$3\r\n5-1\r\n")
        call(c, ["XADD", "t", "5-2", "name with space", "v a l", "k", "\u{1}"], "$3\r\n5-2\r\n")
        call(c, ["XADD", "t", "6-0", "a", "1", "a", "2"], "$3\r\n6-0\r\n")
        call(c, ["XADD", "other", "7-0", "x", "y"], "$3\r\n7-0\r\n")
        call(c, ["PUBLISH", "news", "hello world"], ":0\r\n")
        #expect(server.terminate() == 0)
        return server
    }

    static let xaddLines = [
        "1 5-1 t a=b",
        "2 5-2 t \"name with space\"=\"v a l\" k=\"\\x01\"",
        "3 6-0 t a=1 a=2",
        "4 7-0 other x=y",
    ]

    /// (offset, length) of each frame of a segment, from the headers.
    static func frames(_ path: String) throws -> [(offset: Int, length: Int)] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var out: [(Int, Int)] = []
        var at = 0
        while at + 36 <= bytes.count {
            let compressed = Int(bytes[at + 24]) | Int(bytes[at + 25]) << 8 | Int(bytes[at + 26]) << 16 | Int(bytes[at + 27]) << 24
            out.append((at, 36 + compressed))
            at += 36 + compressed
        }
        return out
    }

    static func copy(_ dir: String) throws -> String {
        let to = NSTemporaryDirectory() + "vimana-ledger-copy-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: dir, toPath: to)
        return to
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    // MARK: - Reading a whole ledger

    @Test func dumpPrintsEveryRecordInSequenceOrder() throws {
        let server = try Self.writeLedger()
        let dir = server.ledgerDirectory
        let r = try runVimana(["ledger", "dump", dir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "")
        let out = Self.lines(r.stdout)
        #expect(out.count == 5)
        #expect(Array(out.prefix(4)) == Self.xaddLines)
        #expect(out.last?.range(of: #"^5 [0-9]+-0 news payload="hello world"$"#, options: .regularExpression) != nil, "\(out)")

        let filtered = try runVimana(["ledger", "dump", dir, "--from", "2", "--topic", "[to]*"])
        #expect(filtered.status == 0)
        #expect(filtered.stdout == Self.xaddLines[1...].joined(separator: "\n") + "\n")
        let none = try runVimana(["ledger", "dump", dir, "--from", "6"])
        #expect(none.status == 0 && none.stdout == "")
    }

    @Test func dumpJSONHasOneObjectPerRecord() throws {
        let server = try Self.writeLedger()
        let dir = server.ledgerDirectory
        let r = try runVimana(["ledger", "dump", dir, "--json", "--topic", "t"])
        #expect(r.status == 0, "\(r.stderr)")
        let objects = try Self.lines(r.stdout).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 3)
        #expect(objects.map { $0["seq"] as? Int } == [1, 2, 3])
        #expect(objects.map { $0["id"] as? String } == ["5-1", "5-2", "6-0"])
        #expect(objects.allSatisfy { $0["topic"] as? String == "t" && $0["client_name"] as? String == "writer" })
        #expect(objects.allSatisfy { ($0["client_id"] as? Int ?? 0) > 0 })
        #expect(objects[0]["fields"] as? [String: String] == ["a": "b"])
        #expect(objects[1]["fields"] as? [String: String] == ["name with space": "v a l", "k": "\u{1}"])
        // A repeated field name: pairs, in order.
        #expect(objects[2]["fields"] as? [[String]] == [["a", "1"], ["a", "2"]])
        let ts = try #require(objects[0]["ts"] as? String)
        #expect(ts.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression) != nil, "\(ts)")
    }

    @Test func statsCountsRecordsBytesAndTopics() throws {
        let server = try Self.writeLedger()
        let dir = server.ledgerDirectory
        let r = try runVimana(["ledger", "stats", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let out = Self.lines(r.stdout)
        #expect(out.contains("records: 5 (sequences 1..5)"))
        #expect(out.contains("segments: 1"))
        let segment = try #require(out.first { $0.hasPrefix("  \(Self.segment): ") })
        #expect(segment.hasPrefix("  \(Self.segment): 1..5, 5 frames, 5 records, "), "\(segment)")
        #expect(segment.hasSuffix(", active, index valid"), "\(segment)")
        #expect(out.contains { $0.range(of: #"^ratio: \d+\.\d\d$"#, options: .regularExpression) != nil })
        #expect(out.contains { $0.hasPrefix("raw bytes: ") } && out.contains { $0.hasPrefix("compressed bytes: ") })
        let topics = try #require(out.firstIndex(of: "topics: 3"))
        #expect(Array(out[(topics + 1)...(topics + 3)]) == ["  t 3", "  news 1", "  other 1"])
        #expect(out.contains { $0.hasPrefix("oldest: ") } && out.contains { $0.hasPrefix("newest: ") })

        let j = try runVimana(["ledger", "stats", dir, "--json"])
        #expect(j.status == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        #expect(obj["records"] as? Int == 5)
        let segments = try #require(obj["segments"] as? [[String: Any]])
        #expect(segments.count == 1)
        #expect(segments.first?["name"] as? String == Self.segment)
        #expect(segments.first?["frames"] as? Int == 5)
        #expect(segments.first?["index"] as? String == "valid")
        let raw = try #require(obj["raw_bytes"] as? Int), compressed = try #require(obj["compressed_bytes"] as? Int)
        #expect(raw > 0 && compressed > 0)
    }

    @Test func verifyPassesAnIntactLedger() throws {
        let server = try Self.writeLedger()
        let dir = server.ledgerDirectory
        let r = try runVimana(["ledger", "verify", dir])
        #expect(r.status == 0)
        #expect(r.stdout == "ok: 1 segments, 5 frames, 5 records\n")
    }

    @Test func tailPrintsTheLastRecords() throws {
        let server = try Self.writeLedger()
        let dir = server.ledgerDirectory
        let r = try runVimana(["ledger", "tail", dir, "-n", "2", "--topic", "t"])
        #expect(r.status == 0)
        #expect(r.stdout == Self.xaddLines[1...2].joined(separator: "\n") + "\n")
        let all = try runVimana(["ledger", "tail", dir])
        #expect(Self.lines(all.stdout).count == 5)
    }

    // MARK: - Damage

    @Test func verifyNamesCorruptionFollowedByValidFramesAndDumpSkipsIt() throws {
        let server = try Self.writeLedger()
        let dir = try Self.copy(server.ledgerDirectory)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + Self.segment
        let frames = try Self.frames(path)
        try #require(frames.count == 5)
        // Flip a byte in the middle of frame 2's compressed data: frames 3 and 4 are intact.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[frames[2].offset + 36 + (frames[2].length - 36) / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let v = try runVimana(["ledger", "verify", dir])
        #expect(v.status == 1)
        let first = Self.lines(v.stdout).first ?? ""
        #expect(first == "segment \(Self.segment): frame 2 at offset \(frames[2].offset): data checksum mismatch; "
                + "2 valid frames (2 records) follow, so this is corruption, not a torn tail: sequence 3 in the "
                + "\(frames[2].length) damaged bytes; the server refuses to start (run vimana ledger repair)", "\(v.stdout)")
        #expect(Self.lines(v.stdout).last == "1 problem: 1 segments, 4 frames, 4 records")

        // Dump prints what a repair keeps: every record but those of the damaged frame.
        let d = try runVimana(["ledger", "dump", dir])
        #expect(d.status == 1)
        #expect(Array(Self.lines(d.stdout).prefix(3)) == Array(Self.xaddLines.prefix(2)) + [Self.xaddLines[3]])
        #expect(Self.lines(d.stdout).count == 4)
        #expect(d.stderr.contains("frame 2 at offset \(frames[2].offset)"), "\(d.stderr)")
        #expect(d.stderr.contains("vimana ledger repair"), "\(d.stderr)")
    }

    /// A segment missing between two others is damage (LEDGER.md §1): dump
    /// prints the records around it, says where it is and exits 1, as for
    /// corruption; the same gap named in damaged/, as `vimana ledger repair`
    /// leaves one, is read past with exit 0.
    @Test func dumpExitsOneOnAMissingSegmentUnlessDamagedNamesTheGap() throws {
        let server = try ServerProcess(config: "ledger:\n  segment_bytes: 64KiB\n  compaction_level: off\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        var id = 1_000_000
        // UUIDs, so that even compressed the records fill several 64 KiB segments.
        for _ in 0..<40 {
            var commands = ""
            for _ in 0..<20 {
                id += 1
                commands += RawClient.command(["XADD", "t", "\(id)-1", "v", (0..<20).map { _ in UUID().uuidString }.joined()])
            }
            c.send(commands)
            #expect(c.read(count: 20 * 15).count == 20 * 15)  // $9 1000001-1
        }
        #expect(server.terminate() == 0)
        let dir = try Self.copy(server.ledgerDirectory)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        try #require(segments.count >= 3, "\(segments)")
        let whole = try runVimana(["ledger", "dump", dir])
        #expect(whole.status == 0 && Self.lines(whole.stdout).count == 800, "\(whole.stderr)")

        let missing = segments[1], after = segments[2]
        try FileManager.default.removeItem(atPath: dir + "/" + missing)
        try? FileManager.default.removeItem(atPath: dir + "/" + missing.replacingOccurrences(of: ".seg", with: ".idx"))
        let first = try #require(Int(missing.prefix(20))), next = try #require(Int(after.prefix(20)))
        let lost = next - first
        let gap = try runVimana(["ledger", "dump", dir])
        #expect(gap.status == 1)
        #expect(Self.lines(gap.stdout).count == 800 - lost)
        #expect(gap.stderr.contains("segment \(after) starts at sequence") && gap.stderr.contains("missing or wrong"), "\(gap.stderr)")

        try FileManager.default.createDirectory(atPath: dir + "/damaged", withIntermediateDirectories: false)
        let name = String(format: "%020d-%020d.", first, next) + missing + ".0.damaged"
        #expect(FileManager.default.createFile(atPath: dir + "/damaged/" + name, contents: Data()))
        let repaired = try runVimana(["ledger", "dump", dir])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(Self.lines(repaired.stdout).count == 800 - lost)
    }

    @Test func verifyReportsATornTailAndDumpStopsBeforeIt() throws {
        let server = try Self.writeLedger()
        let dir = try Self.copy(server.ledgerDirectory)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + Self.segment
        let frames = try Self.frames(path)
        try #require(frames.count == 5)
        let size = frames[4].offset + frames[4].length
        // A crash in the middle of writing the last frame.
        #expect(truncate(path, off_t(size - 10)) == 0)

        let v = try runVimana(["ledger", "verify", dir])
        #expect(v.status == 1)
        let expected = "segment \(Self.segment): frame 4 at offset \(frames[4].offset): torn tail: truncated: 10 bytes missing"
        #expect(Self.lines(v.stdout).first?.hasPrefix(expected) == true, "\(v.stdout)")
        #expect(v.stdout.contains("the server truncates"))

        let d = try runVimana(["ledger", "dump", dir])
        #expect(d.status == 0)
        #expect(Array(Self.lines(d.stdout).prefix(4)) == Self.xaddLines && Self.lines(d.stdout).count == 4)
        #expect(d.stderr.contains("torn tail"), "\(d.stderr)")

        let s = try runVimana(["ledger", "stats", dir])
        #expect(s.status == 0)
        #expect(s.stdout.contains("records: 4 (sequences 1..4)"))
        #expect(s.stdout.contains(", torn tail"))
    }

    // MARK: - Several segments, and a server still writing

    @Test func segmentsRollAndTailFollowsNewRecords() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: "ledger:\n  segment_age: 1s\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        Self.call(c, ["XADD", "s", "1-1", "n", "1"], "$3\r\n1-1\r\n")
        Self.call(c, ["XADD", "s", "2-1", "n", "2"], "$3\r\n2-1\r\n")

        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
        follower.arguments = ["ledger", "tail", server.ledgerDirectory, "-n", "1", "--follow"]
        let pipe = Pipe()
        follower.standardOutput = pipe
        follower.standardError = FileHandle.nullDevice
        let output = FollowerOutput()
        pipe.fileHandleForReading.readabilityHandler = { h in output.append(h.availableData) }
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) } }
        #expect(output.wait { $0 == "2 2-1 s n=2\n" })

        Self.call(c, ["XADD", "s", "3-1", "n", "3"], "$3\r\n3-1\r\n")
        #expect(output.wait { $0.hasSuffix("3 3-1 s n=3\n") })
        usleep(1_100_000)  // past segment_age: the next write starts a new segment
        Self.call(c, ["XADD", "s", "4-1", "n", "4"], "$3\r\n4-1\r\n")
        #expect(output.wait { $0 == "2 2-1 s n=2\n3 3-1 s n=3\n4 4-1 s n=4\n" }, "\(output.text)")

        kill(follower.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(5)
        while follower.isRunning && Date() < deadline { usleep(10_000) }
        try #require(!follower.isRunning, "tail --follow ignored SIGINT")
        #expect(follower.terminationReason == .exit && follower.terminationStatus == 0)
        #expect(server.terminate() == 0)

        let stats = try runVimana(["ledger", "stats", server.ledgerDirectory])
        #expect(stats.stdout.contains("records: 4 (sequences 1..4)"))
        #expect(stats.stdout.contains("segments: 2"), "\(stats.stdout)")
        #expect(stats.stdout.contains("  \(Self.segment): 1..3, "), "\(stats.stdout)")
        #expect(stats.stdout.contains("  00000000000000000004.seg: 4..4, "), "\(stats.stdout)")
        let verify = try runVimana(["ledger", "verify", server.ledgerDirectory])
        #expect(verify.status == 0 && verify.stdout.hasPrefix("ok: 2 segments, "), "\(verify.stdout)")
        let from = try runVimana(["ledger", "dump", server.ledgerDirectory, "--from", "3"])
        #expect(from.stdout == "3 3-1 s n=3\n4 4-1 s n=4\n")
    }

    // MARK: - Arguments

    @Test func usageErrorsAndAMissingDirectoryExitTwo() throws {
        for args in [["ledger"], ["ledger", "dump"], ["ledger", "frobnicate", "x"], ["ledger", "dump", "/tmp", "--from", "x"],
                     ["ledger", "tail", "/tmp", "-n"], ["ledger", "stats", "/tmp", "--bogus"], ["ledger", "verify", "a", "b"]] {
            let r = try runVimana(args)
            #expect(r.status == 2, "\(args)")
            #expect(Self.lines(r.stderr).count == 1, "\(args): \(r.stderr)")
            #expect(r.stdout == "")
        }
        let missing = try runVimana(["ledger", "verify", "/nonexistent/vimana-ledger"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "vimana ledger: /nonexistent/vimana-ledger: no such directory\n")
    }
}

/// Text arriving on a pipe, read from a handler thread, waited for by the test.
final class FollowerOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ d: Data) {
        lock.lock()
        data.append(d)
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// Waits until `condition` holds of the text so far.
    func wait(timeout: TimeInterval = 5, _ condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(text) { return true }
            usleep(20_000)
        }
        return condition(text)
    }
}
