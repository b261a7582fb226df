import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the real server and `vimana ledger` do with damage on disk
/// (Protocol/LEDGER.md §5–6): a torn tail is cut, corruption in the active
/// segment stops the start until `vimana ledger repair`, a damaged sealed
/// segment is served around its damage and said to be; the Python reader
/// applies the same rules.
@Suite struct LedgerDamageTests {
    static let segment = "00000000000000000001.seg"

    // MARK: - Helpers

    /// A stopped server whose ledger holds `count` XADDs to `t` (IDs `i-1`),
    /// one frame each (`fsync always`, each reply awaited).
    static func writeLedger(count: Int = 100) throws -> ServerProcess {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        for i in 1...count {
            c.send(RawClient.command(["XADD", "t", "\(i)-1", "n", "\(i)"]))
            guard r.next() == .bulk("\(i)-1") else { throw TestFailure("XADD \(i) failed") }
        }
        #expect(server.terminate() == 0)
        return server
    }

    /// A stopped server whose ledger has sealed segments in small frames:
    /// 400 XADDs, topic `a` for odd i and `b` for even, ID `i-1`, 300 random letters each.
    static func writeSealedLedger() throws -> ServerProcess {
        let config = "ledger:\n  segment_bytes: 64KiB\n  compaction_level: off\n"
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: config, logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        for i in 1...400 {
            let payload = String((0..<300).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122))) })
            c.send(RawClient.command(["XADD", i % 2 == 1 ? "a" : "b", "\(i)-1", "p", payload]))
            guard r.next() == .bulk("\(i)-1") else { throw TestFailure("XADD \(i) failed") }
        }
        #expect(server.terminate() == 0)
        return server
    }

    static func flip(_ path: String, at offset: Int) throws {
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        data[offset] ^= 0xFF
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    static func contents(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        // ledger.lock names whichever process locked the directory last: not ledger data.
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name != "ledger.lock" {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    /// `vimana serve` on `dir`, expected to exit on its own: status (nil if
    /// it was still running after 10 s, and was killed) and stderr.
    static func serveToExit(_ dir: String) throws -> (status: Int32?, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
        p.arguments = ["serve", "--port", "0", "--http-port", "0", "--ledger-dir", dir, "--no-system-agents"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        let exited = !p.isRunning
        if !exited { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (exited ? p.terminationStatus : nil, text)
    }

    static func python(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let script = LedgerReaderTests.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func call(_ c: RawClient, _ r: RESPReader, _ args: [String]) -> RESP? {
        c.send(RawClient.command(args))
        return r.next()
    }

    // MARK: - Corruption in the active segment

    @Test func oneBadByteInTheActiveSegmentStopsTheStartUntilRepairKeepsTheRest() throws {
        let writer = try Self.writeLedger()
        let dir = writer.ledgerDirectory
        let path = dir + "/" + Self.segment
        let frames = try LedgerToolTests.frames(path)
        try #require(frames.count == 100)
        try Self.flip(path, at: frames[20].offset + 40)
        let before = try Self.contents(dir)

        let refused = try Self.serveToExit(dir)
        #expect(refused.status == 1, "the server did not refuse: \(refused.stderr)")
        #expect(refused.stderr.contains("corrupt active segment \(path): frame 20 at offset \(frames[20].offset): "
                                        + "data checksum mismatch; 79 valid frames (79 records) follow it, so it is not a torn tail"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("No file was changed. Run `vimana ledger repair \(dir)`"), "\(refused.stderr)")
        #expect(try Self.contents(dir) == before, "the refused start changed files")

        let repair = try runVimana(["ledger", "repair", dir])
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.contains("frame 20 at offset \(frames[20].offset): data checksum mismatch: moved \(frames[20].length) bytes "
                                       + "(sequence 21, lost) to damaged/"), "\(repair.stdout)")
        let again = try runVimana(["ledger", "repair", dir])
        #expect(again.status == 0 && again.stdout.hasPrefix("nothing to repair"), "\(again.stdout)")

        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info", ledgerDirectory: dir)
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        #expect(Self.call(c, r, ["XLEN", "t"]) == .integer(99))
        let ids = (Self.call(c, r, ["XRANGE", "t", "-", "+"]).map { v -> [String] in
            guard case .array(let entries) = v else { return [] }
            return entries.compactMap { $0.strings.first }
        }) ?? []
        #expect(ids == (1...100).filter { $0 != 21 }.map { "\($0)-1" })
        #expect(Self.call(c, r, ["XADD", "t", "*", "n", "new"]).map { if case .bulk = $0 { true } else { false } } == true)
        #expect(server.terminate() == 0)
        let verify = try runVimana(["ledger", "verify", dir])
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("sequence 21 lost to damage before it"), "\(verify.stdout)")
    }

    // MARK: - Torn tails

    @Test func aTornTailIsCutSilentlyAndEveryRecordInItIsCounted() throws {
        let writer = try Self.writeLedger()
        let dir = writer.ledgerDirectory
        let path = dir + "/" + Self.segment
        let frames = try LedgerToolTests.frames(path)
        try #require(frames.count == 100)
        // A crash while writing the last two frames: 98 garbled, 99 cut short.
        try Self.flip(path, at: frames[98].offset + 40)
        #expect(truncate(path, off_t(frames[99].offset + frames[99].length - 5)) == 0)

        var server = try ServerProcess(logLevel: "info", ledgerDirectory: dir)
        var line = server.logLines.first { $0.contains("ledger tail truncated") } ?? ""
        #expect(line.contains("\"offset\":\(frames[98].offset)"), "\(line)")
        #expect(line.contains("\"records_dropped\":2,"), "\(line)")
        #expect(line.contains("\"records_dropped_exact\":true"), "\(line)")
        var c = try RawClient(port: server.port)
        var r = RESPReader(c)
        #expect(Self.call(c, r, ["XLEN", "t"]) == .integer(98))
        #expect(server.terminate() == 0)

        // Garbage after the last frame, with the magic in it: cut too, its records uncountable.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(Array("VMLF".utf8) + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) }))
        handle.closeFile()
        server = try ServerProcess(logLevel: "info", ledgerDirectory: dir)
        line = server.logLines.first { $0.contains("ledger tail truncated") } ?? ""
        #expect(line.contains("\"bytes_dropped\":204,"), "\(line)")
        #expect(line.contains("\"records_dropped\":0,") && line.contains("\"records_dropped_exact\":false"), "\(line)")
        c = try RawClient(port: server.port)
        r = RESPReader(c)
        #expect(Self.call(c, r, ["XLEN", "t"]) == .integer(98))
        #expect(server.terminate() == 0)
    }

    // MARK: - A damaged sealed segment

    @Test func aDamagedSealedSegmentAnswersDamagedAcrossItAndIsCountedOut() throws {
        let writer = try Self.writeSealedLedger()
        let dir = writer.ledgerDirectory
        let path = dir + "/" + Self.segment
        let frames = try LedgerToolTests.frames(path)
        try #require(frames.count >= 20 && (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.hasSuffix(".seg") }.count >= 2)
        // Frame 10 of the first (sealed) segment holds sequence 11: XADD a 11-1.
        try Self.flip(path, at: frames[10].offset + 40)

        let server = try ServerProcess(logLevel: "info", ledgerDirectory: dir)
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        let damaged = "DAMAGED entries of 'a' after 9-1 before 13-1 are in a damaged part of the ledger "
            + "(segment \(Self.segment), frame 10 at offset \(frames[10].offset): data checksum mismatch; sequence 11 lost) "
            + "and cannot be read; run vimana ledger verify"
        #expect(Self.call(c, r, ["XRANGE", "a", "-", "+"]) == .error(damaged))
        #expect(Self.call(c, r, ["XREVRANGE", "a", "+", "-"]) == .error(damaged))
        #expect(Self.call(c, r, ["XREAD", "STREAMS", "a", "0"]) == .error(damaged))
        // What can be read is read, and counted.
        #expect(Self.call(c, r, ["XLEN", "a"]) == .integer(199))
        let head = Self.call(c, r, ["XRANGE", "a", "-", "9-1"]), rest = Self.call(c, r, ["XRANGE", "a", "13-1", "+"])
        guard case .array(let first)? = head, case .array(let second)? = rest else {
            Issue.record("reads around the damage failed: \(String(describing: head)) \(String(describing: rest))")
            return
        }
        #expect(first.count == 5 && second.count == 194)
        guard case .array(let info)? = Self.call(c, r, ["XINFO", "STREAM", "a"]) else { Issue.record("XINFO failed"); return }
        #expect(info.prefix(2) == [.bulk("length"), .integer(199)])
        guard case .array(let two)? = Self.call(c, r, ["XREAD", "COUNT", "2", "STREAMS", "a", "0"]) else {
            Issue.record("XREAD COUNT 2 before the damage failed")
            return
        }
        #expect(two.count == 1)
        // "b" lost nothing: read whole.
        #expect(Self.call(c, r, ["XLEN", "b"]) == .integer(200))
        if case .array(let all)? = Self.call(c, r, ["XRANGE", "b", "-", "+"]) { #expect(all.count == 200) } else { Issue.record("XRANGE b") }

        let health = RawClient.httpGet(port: server.httpPort, path: "/health")
        #expect(health.hasPrefix("HTTP/1.1 200 OK"))
        #expect(health.contains("{\"status\":\"degraded\",\"problems\":[\"ledger: segment \(Self.segment): frame 10 at offset \(frames[10].offset): "
                                + "data checksum mismatch; 1 damaged stretch, sequence 11 cannot be read (run vimana ledger verify)\"]"), "\(health)")
        #expect(RawClient.httpGet(port: server.httpPort, path: "/ready").hasPrefix("HTTP/1.1 200 OK"))
        c.send("INFO ledger\r\n")
        let info2 = c.readReplies()
        #expect(info2.contains("ledger_status:degraded\r\n") && info2.contains("ledger_damaged_segments:1\r\n")
                && info2.contains("ledger_unreadable_records:1\r\n"), "\(visible(info2))")
        #expect(server.terminate() == 0)
    }

    // MARK: - The Python reader agrees

    /// Each damaged stretch `verify` reports: segment, frame, offset, and whether it is a torn tail.
    static func swiftFindings(_ stdout: String) -> Set<String> {
        var out: Set<String> = []
        for line in stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 7)
            guard parts.count == 8, parts[0] == "segment", parts[2] == "frame", parts[4] == "at", parts[5] == "offset" else { continue }
            // Stream-ID findings are not damage.
            guard !parts[7].hasPrefix("stream ID") else { continue }
            let segment = parts[1].dropLast(), frame = parts[3], offset = parts[6].dropLast()
            out.insert("\(segment) \(frame) \(offset) " + (parts[7].hasPrefix("torn tail:") ? "torn" : "damage"))
        }
        return out
    }

    static func pythonFindings(_ stdout: String) -> Set<String> {
        var out: Set<String> = []
        for line in stdout.split(separator: "\n") where line.hasPrefix("problem: ") {
            let text = String(line.dropFirst("problem: ".count))
            if let m = text.firstMatch(of: /^(\S+): torn tail: \d+ bytes after the last whole frame \(frame (\d+) at offset (\d+):/) {
                out.insert("\(m.1) \(m.2) \(m.3) torn")
            } else if let m = text.firstMatch(of: /^(\S+): frame (\d+) at offset (\d+): (.*)$/), !m.4.contains("stream ID") {
                out.insert("\(m.1) \(m.2) \(m.3) damage")
            }
        }
        return out
    }

    @Test func thePythonReaderAndVerifyAgreeOnEveryKindOfDamage() throws {
        let plain = try Self.writeLedger(count: 30)
        let sealed = try Self.writeSealedLedger()
        var scenarios: [(String, String)] = []
        func scenario(_ name: String, from source: ServerProcess, _ damage: (String) throws -> Void) throws {
            let dir = try LedgerToolTests.copy(source.ledgerDirectory)
            try damage(dir)
            scenarios.append((name, dir))
        }
        defer { for (_, dir) in scenarios { try? FileManager.default.removeItem(atPath: dir) } }
        let plainFrames = try LedgerToolTests.frames(plain.ledgerDirectory + "/" + Self.segment)
        let sealedFrames = try LedgerToolTests.frames(sealed.ledgerDirectory + "/" + Self.segment)
        try #require(plainFrames.count == 30 && sealedFrames.count > 10,
                     "frames: \(plainFrames.count) in the plain ledger, \(sealedFrames.count) in the sealed one")
        try scenario("corrupt active", from: plain) { try Self.flip($0 + "/" + Self.segment, at: plainFrames[12].offset + 40) }
        try scenario("cut last frame", from: plain) {
            #expect(truncate($0 + "/" + Self.segment, off_t(plainFrames[29].offset + plainFrames[29].length - 3)) == 0)
        }
        try scenario("garbage appended", from: plain) { dir in
            let h = try #require(FileHandle(forWritingAtPath: dir + "/" + Self.segment))
            h.seekToEndOfFile()
            h.write(Data(Array("garbage VMLF".utf8) + [UInt8](repeating: 0, count: 100)))
            h.closeFile()
        }
        try scenario("whole last frame, damaged length", from: plain) { try Self.flip($0 + "/" + Self.segment, at: plainFrames[29].offset + 25) }
        try scenario("damaged sealed segment", from: sealed) { try Self.flip($0 + "/" + Self.segment, at: sealedFrames[10].offset + 40) }
        try scenario("repaired", from: plain) { dir in
            try Self.flip(dir + "/" + Self.segment, at: plainFrames[12].offset + 40)
            #expect(try runVimana(["ledger", "repair", dir]).status == 0)
        }

        for (name, dir) in scenarios {
            let swift = try runVimana(["ledger", "verify", dir]), py = try Self.python(["verify", dir])
            #expect(swift.status == py.status, "\(name): verify exit \(swift.status) vs \(py.status)\n\(swift.stdout)\n\(py.stdout)")
            #expect(Self.swiftFindings(swift.stdout) == Self.pythonFindings(py.stdout),
                    "\(name):\n\(swift.stdout)\n\(py.stdout)")
            let swiftDump = try runVimana(["ledger", "dump", dir]), pyDump = try Self.python(["dump", dir])
            #expect(swiftDump.status == pyDump.status, "\(name): dump exit \(swiftDump.status) vs \(pyDump.status)")
            #expect(swiftDump.stdout == pyDump.stdout, "\(name): the dumps differ")
        }
        // What each scenario is, as both say.
        let kinds = try scenarios.map { try Self.swiftFindings(runVimana(["ledger", "verify", $0.1]).stdout).map { $0.split(separator: " ").last.map(String.init) ?? "" } }
        #expect(kinds == [["damage"], ["torn"], ["torn"], ["damage"], ["damage"], []])
    }
}
