import Foundation
import Testing

/// One server per ledger directory: a second one exits 2 naming the first,
/// a server that cannot bind leaves the directory as it was, offline readers
/// beside a running server change nothing and say a server is running, and
/// a killed server's lock file never blocks the next start.
@Suite struct OneServerPerLedgerTests {
    /// A `vimana serve` run until it exits or logs `listening`.
    final class ServeAttempt {
        let process = Process()
        let stderr = FollowerOutput()

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
            process.arguments = ["serve", "--log-format", "json", "--log-level", "info", "--no-system-agents"] + arguments
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = FileHandle.nullDevice
            pipe.fileHandleForReading.readabilityHandler = { [stderr] h in stderr.append(h.availableData) }
            try process.run()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && !listening && Date() < deadline { usleep(10_000) }
            if !process.isRunning { process.waitUntilExit() }
            // The last bytes written before exit.
            pipe.fileHandleForReading.readabilityHandler = nil
            if !process.isRunning { stderr.append(pipe.fileHandleForReading.readDataToEndOfFile()) }
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }

        var listening: Bool { stderr.text.contains("\"event\":\"listening\"") }
        /// The exit status, or nil while it runs.
        var status: Int32? { process.isRunning ? nil : process.terminationStatus }
        var port: Int? {
            stderr.text.split(separator: "\n").first { $0.contains("\"event\":\"listening\"") }
                .flatMap { ServerProcess.field(String($0), "port") }
        }
    }

    /// Every file of `dir` (and of its subdirectories): its bytes and mtime.
    static func snapshot(_ dir: String) -> [String: (Data, Date)] {
        var out: [String: (Data, Date)] = [:]
        let fm = FileManager.default
        for name in ((try? fm.subpathsOfDirectory(atPath: dir)) ?? []).sorted() {
            let path = dir + "/" + name
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            out[name] = ((fm.contents(atPath: path) ?? Data()), (attributes[.modificationDate] as? Date) ?? .distantPast)
        }
        return out
    }

    static func expectUnchanged(_ before: [String: (Data, Date)], _ dir: String, _ what: String) {
        let after = snapshot(dir)
        #expect(after.keys.sorted() == before.keys.sorted(), "\(what): files \(before.keys.sorted()) became \(after.keys.sorted())")
        for (name, (bytes, mtime)) in before {
            guard let now = after[name] else { continue }
            #expect(now.0 == bytes, "\(what): \(name) changed (\(bytes.count) → \(now.0.count) bytes)")
            #expect(now.1 == mtime, "\(what): \(name) modified")
        }
    }

    /// XADD with the explicit ID `n+1-1`; true when it is acknowledged.
    @discardableResult
    static func xadd(_ c: RawClient, _ topic: String, _ n: Int) -> Bool {
        let id = "\(n + 1)-1"
        c.send(RawClient.command(["XADD", topic, id, "n", "\(n)"]))
        let reply = "$\(id.utf8.count)\r\n\(id)\r\n"
        return c.read(matching: reply) == reply
    }

    // MARK: - Two servers

    @Test func aSecondServerOnTheSameLedgerExitsTwoAndTheFirstKeepsEveryAcknowledgedWrite() throws {
        let first = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let dir = first.ledgerDirectory
        let c = try RawClient(port: first.port)
        var acked: [String] = []
        for n in 0..<25 where Self.xadd(c, "orders", n) { acked.append("\(n + 1)-1") }

        let second = try ServeAttempt(["--port", "0", "--http-port", "0", "--ledger-dir", dir, "--fsync", "always"])
        #expect(second.status == 2, "second server: \(second.stderr.text)")
        #expect(second.stderr.text.contains("ledger directory \(dir) is in use by process \(first.process.processIdentifier)"),
                "\(second.stderr.text)")
        if second.listening, let port = second.port {
            // Without the lock: the second server writes too, as in the report.
            let other = try RawClient(port: port)
            for n in 0..<25 { Self.xadd(other, "returns", n) }
        }
        for n in 25..<50 where Self.xadd(c, "orders", n) { acked.append("\(n + 1)-1") }
        #expect(acked.count == 50)
        if second.status == nil { kill(second.process.processIdentifier, SIGTERM); second.process.waitUntilExit() }
        #expect(first.terminate() == 0)

        let restarted = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info", ledgerDirectory: dir)
        let stored = try streamIDs(restarted, "orders")
        #expect(stored == acked, "\(acked.count) acknowledged, \(stored.count) after the restart")
        #expect(!restarted.log.contains("ledger tail truncated"), "\(restarted.log)")
    }

    // MARK: - Bind before the ledger

    @Test func aServerThatCannotBindLeavesTheLedgerDirectoryUntouched() throws {
        let occupant = try ServerProcess(logLevel: "info")

        // A fresh directory is not even created.
        let fresh = NSTemporaryDirectory() + "vimana-ledger-\(UUID().uuidString)/ledger"
        let a = try ServeAttempt(["--port", "\(occupant.port)", "--http-port", "0", "--ledger-dir", fresh])
        #expect(a.status == 1, "\(a.stderr.text)")
        #expect(a.stderr.text.contains("Address already in use"), "\(a.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: fresh))

        // An existing ledger that recovery would change (a temporary file
        // to delete, an index to rewrite at close) stays byte for byte.
        let writer = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let c = try RawClient(port: writer.port)
        for n in 0..<20 { Self.xadd(c, "orders", n) }
        #expect(writer.terminate() == 0)
        let dir = writer.ledgerDirectory
        try Data("half-written".utf8).write(to: URL(fileURLWithPath: dir + "/00000000000000000001.idx.tmp"))
        try FileManager.default.removeItem(atPath: dir + "/00000000000000000001.idx")
        let before = Self.snapshot(dir)
        #expect(before["00000000000000000001.seg"] != nil)
        let b = try ServeAttempt(["--port", "0", "--http-port", "\(occupant.httpPort)", "--ledger-dir", dir])
        #expect(b.status == 1, "\(b.stderr.text)")
        #expect(b.stderr.text.contains("Address already in use"), "\(b.stderr.text)")
        Self.expectUnchanged(before, dir, "after a failed start")
        withExtendedLifetime(occupant) {}
    }

    // MARK: - Offline readers beside a server

    @Test func offlineToolsBesideARunningServerChangeNothingAndSaySoAndRepairIsRefused() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let dir = server.ledgerDirectory
        let c = try RawClient(port: server.port)
        for n in 0..<20 { Self.xadd(c, "orders", n) }
        // A stray temporary file: the server removes them only when it starts.
        try Data("stray".utf8).write(to: URL(fileURLWithPath: dir + "/stray.tmp"))
        // Settled: the active segment's index checkpoint covers the whole segment.
        let seg = dir + "/00000000000000000001.seg", idx = dir + "/00000000000000000001.idx"
        let deadline = Date().addingTimeInterval(10)
        func covered() -> Int? {
            guard let d = FileManager.default.contents(atPath: idx), d.count >= 24 else { return nil }
            return d[16..<24].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        while covered() != (try? FileManager.default.attributesOfItem(atPath: seg)[.size] as? Int) && Date() < deadline {
            usleep(20_000)
        }
        try #require(covered() != nil, "the server never checkpointed the active segment")

        let before = Self.snapshot(dir)
        let note = "a server (pid \(server.process.processIdentifier)) is running on \(dir)"
        for args in [["stats", dir], ["verify", dir], ["dump", dir], ["tail", dir, "-n", "3"]] {
            let r = try runVimana(["ledger"] + args)
            #expect(r.status == 0, "ledger \(args): \(r.stderr)")
            #expect(r.stderr.contains(note), "ledger \(args): \(r.stderr)")
        }
        let reader = LedgerReaderTests.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        for args in [["stats", dir], ["verify", dir], ["dump", dir]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", reader] + args
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "python \(args): \(text)")
            #expect(text.contains(note), "python \(args): \(text)")
        }
        // repair writes, so it takes the server's own lock: refused, nothing changed.
        let repair = try runVimana(["ledger", "repair", dir])
        #expect(repair.status == 1, "ledger repair: \(repair.stderr)")
        #expect(repair.stderr.contains("ledger directory \(dir) is in use by process \(server.process.processIdentifier)"),
                "ledger repair: \(repair.stderr)")
        Self.expectUnchanged(before, dir, "after the offline readers and a refused repair")

        // The server was not disturbed, and once it stops the readers say nothing.
        #expect(Self.xadd(c, "orders", 20))
        #expect(server.terminate() == 0)
        let quiet = try runVimana(["ledger", "stats", dir])
        #expect(!quiet.stderr.contains("is running"), "\(quiet.stderr)")
    }

    // MARK: - A killed server

    @Test func aLockLeftByAKilledServerDoesNotBlockTheNextStart() throws {
        // A supervised child that outlives the kill: the lock must not have
        // been inherited by it, or it would hold the directory.
        let first = try ServerProcess(arguments: ["--fsync", "always"], config: """
            agents:
              - id: lingerer
                subscribes: ["linger.*"]
                command: ["sleep", "300"]
            """, logLevel: "info")
        try #require(first.waitForLog("\"event\":\"agent started\""), "\(first.log)")
        let started = first.logLines.first { $0.contains("\"event\":\"agent started\"") }
        let child = Int32(try #require(started.flatMap { ServerProcess.field($0, "pid") }))
        let c = try RawClient(port: first.port)
        #expect(Self.xadd(c, "orders", 1))
        let pid = first.process.processIdentifier
        kill(pid, SIGKILL)
        // Exited (a zombie until reaped: Foundation reaps it only once the
        // orphaned agent, which holds one of the test's pipes, is gone too).
        let deadline = Date().addingTimeInterval(10)
        while !Self.hasExited(pid) && Date() < deadline { usleep(10_000) }
        let lockFile = first.ledgerDirectory + "/ledger.lock"
        #expect((try? String(contentsOfFile: lockFile, encoding: .utf8)) == "\(pid)\n")
        #expect(kill(child, 0) == 0, "the agent should outlive the kill")

        let next = try ServeAttempt(["--port", "0", "--http-port", "0", "--ledger-dir", first.ledgerDirectory])
        #expect(next.listening, "\(next.stderr.text)")
        #expect((try? String(contentsOfFile: lockFile, encoding: .utf8)) == "\(next.process.processIdentifier)\n")
        if next.listening, let port = next.port {
            let r = try RawClient(port: port)
            r.send("XLEN orders\r\n")
            #expect(r.read(matching: ":1\r\n") == ":1\r\n")
        }
        kill(child, SIGKILL)
        first.process.waitUntilExit()
    }

    /// True once `pid` has exited (gone, or a zombie not yet reaped).
    static func hasExited(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state == "Z" || state == "X"
    }
}
