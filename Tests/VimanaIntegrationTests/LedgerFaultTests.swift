import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the ledger promises when the disk refuses writes: appends are
/// refused with Redis's MISCONF shape (those in flight wait), /health and
/// /ready say so, the server carries on by itself once writes succeed again,
/// and every acknowledged record survives a restart (Protocol/LEDGER.md §5).
@Suite(.serialized) struct LedgerFaultTests {
    /// A full 16 MiB tmpfs under the ledger, then space freed.
    @Test(arguments: ["always", "everysec", "no"])
    func acknowledgedAppendsSurviveAFullDisk(fsync: String) throws {
        let fs = try Tmpfs(megabytes: 16)
        defer { fs.unmount() }
        // Most of the space goes to a filler file, deleted to free it.
        let filler = fs.path + "/filler"
        try Data(count: 11 << 20).write(to: URL(fileURLWithPath: filler))
        // Random hex deflates to no less than half its size: by the time
        // twice the free space has been acknowledged, the disk has refused.
        let valueBytes = 4096
        let appends = 2 * fs.freeBytes / (valueBytes / 2)
        let directory = fs.path + "/ledger"
        // Small segments: sealing, compaction and index writes meet the full disk too.
        let config = "ledger:\n  segment_bytes: 1MiB\n"
        let server = try ServerProcess(arguments: ["--fsync", fsync], config: config, logLevel: "info",
                                       ledgerDirectory: directory)
        defer { server.stop() }
        try Self.refuseAndRecover(server, valueBytes: valueBytes, failsWithin: appends, error: "No space left on device") {
            try FileManager.default.removeItem(atPath: filler)
        }
    }

    /// fsync fails with EIO (an LD_PRELOAD shim) and, as after a real
    /// writeback error, the bytes written since the last good fsync are gone
    /// from the file: the writer must write them again from memory.
    @Test(arguments: ["always", "everysec"])
    func acknowledgedAppendsSurviveAFailedFsync(fsync: String) throws {
        let shim = try FsyncShim.path()
        let flag = NSTemporaryDirectory() + "vimana-fail-fsync-\(UUID().uuidString)"
        defer { unlink(flag) }
        let server = try ServerProcess(arguments: ["--fsync", fsync], logLevel: "info",
                                       environment: ["LD_PRELOAD": shim, "VIMANA_FAIL_FSYNC": flag])
        defer { server.stop() }
        // One good fsync first, so the shim knows the segment's good length.
        let c = try RawClient(port: server.port)
        c.send("XADD first * a b\r\n")
        #expect(RESPReader(c).next() != nil)
        #expect(waitFor(10) { (infoField(server, "ledger_fsyncs").flatMap { Int($0) } ?? 0) >= 1 })
        // Under `always` the first fsync fails; under `everysec` one comes
        // within a second, and at the latest once 16 MiB of frames are
        // unsynced (LEDGER.md §5), at least 100 bytes per 200-byte value.
        try Self.refuseAndRecover(server, valueBytes: 200, failsWithin: 2 * (16 << 20) / 100, error: "Input/output error",
                                  fail: { #expect(FileManager.default.createFile(atPath: flag, contents: nil)) },
                                  recover: { unlink(flag) })
    }

    /// How long appends may go unacknowledged before the ledger has failed:
    /// far beyond a round trip on any machine, however loaded, so only a
    /// reply held for good, or a client no longer read, reaches it.
    static let stallSeconds: TimeInterval = 30

    /// Appends until the ledger refuses them (it must, before `failsWithin`
    /// appends are acknowledged), checks what clients and the HTTP port
    /// see, runs `recover`, waits for the server to carry on, appends 200
    /// more, then kill -9 and a restart: every acknowledged ID must be there.
    static func refuseAndRecover(_ server: ServerProcess, valueBytes: Int, failsWithin: Int, error: String,
                                 fail: () throws -> Void = {}, recover: () throws -> Void) throws {
        try fail()
        let appender = try XAddAppender(port: server.port, topic: "t", valueBytes: valueBytes)
        appender.start()
        let writeErrors = { Int(infoField(server, "ledger_write_errors") ?? "") ?? 0 }
        // The ledger fails after an amount of appending, not of time: on a
        // loaded machine filling the disk took from 20 s to over a minute.
        // So the wait lasts while appends are acknowledged, as they must be
        // until the ledger fails.
        let moving = waitWhileAdvancing(stall: stallSeconds, progress: { appender.ackedCount }) {
            writeErrors() > 0 || appender.ackedCount > failsWithin
        }
        let why = moving ? "the ledger never failed to write: \(appender.ackedCount) appends acknowledged"
            : "no append acknowledged for \(Int(stallSeconds)) s and the ledger has not failed (\(appender.ackedCount) acknowledged)"
        try #require(writeErrors() > 0, "\(why)")
        // New appends are refused, as Redis refuses writes it cannot persist.
        // (The appender's own window is full of replies that wait.) A probe
        // may still be taken, or held, in the moment before the loop learns
        // of the failure: those are tracked, or retried on a new connection.
        let refusal = "MISCONF Errors writing to the ledger: \(error)"
        var probed: [String] = []
        var refused: String?
        let deadline = Date().addingTimeInterval(30)
        while refused == nil && Date() < deadline {
            let p = try RawClient(port: server.port)
            p.send("XADD probe * p 1\r\n")
            switch RESPReader(p).next(timeout: 3) {
            case .error(let text): refused = text
            case .bulk(let id): probed.append(id)
            default: continue
            }
        }
        #expect(refused == refusal)
        #expect(appender.errors.withLock { $0.allSatisfy { $0 == refusal } }, "\(appender.errors.withLock { Array($0.prefix(3)) })")
        // INFO, /health and /ready all say so while it fails. The ledger may
        // carry on by itself for a moment in between (a sealed segment's
        // compaction frees space, and the appender fills it again): they are
        // read again until one reading of the three finds it failed.
        var status = "", health = "", ready = ""
        let failedDeadline = Date().addingTimeInterval(30)
        repeat {
            status = infoField(server, "ledger_write_status") ?? ""
            health = RawClient.httpGet(port: server.httpPort, path: "/health")
            ready = RawClient.httpGet(port: server.httpPort, path: "/ready")
            if status == "err" && health.contains("\"status\":\"degraded\"") && ready.hasPrefix("HTTP/1.1 503") { break }
            usleep(50_000)
        } while Date() < failedDeadline
        #expect(status == "err")
        #expect(health.hasPrefix("HTTP/1.1 200") && health.contains("\"status\":\"degraded\"") && health.contains(error), "\(health)")
        #expect(ready.hasPrefix("HTTP/1.1 503") && ready.contains("ledger cannot write"), "\(ready)")

        // Appends in flight when it failed wait; they are answered once written.
        appender.stop.store(true, ordering: .relaxed)
        try recover()
        #expect(waitFor(30) { infoField(server, "ledger_write_status") == "ok" }, "the ledger did not recover")
        #expect(appender.finish(timeout: 10), "replies held for the ledger were not released")
        #expect(RawClient.httpGet(port: server.httpPort, path: "/ready").hasPrefix("HTTP/1.1 200"))
        var acked = appender.acked.withLock { $0 }
        #expect(acked.count > 0)

        // And it carries on by itself.
        let c = try RawClient(port: server.port)
        let reader = RESPReader(c)
        c.send((0..<200).map { RawClient.command(["XADD", "t", "*", "after", "\($0)"]) }.joined())
        for k in 0..<200 {
            guard case .bulk(let id) = reader.next(timeout: 10) else {
                Issue.record("XADD \(k) after recovery was not acknowledged")
                break
            }
            acked.append(id)
        }

        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        let restarted = try ServerProcess(logLevel: "info", ledgerDirectory: server.ledgerDirectory)
        defer { restarted.stop() }
        #expect(try streamIDs(restarted, "probe").prefix(probed.count) == probed[...])
        let stored = try streamIDs(restarted, "t")
        let storedSet = Set(stored)
        let lost = acked.filter { !storedSet.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) of \(acked.count) acknowledged entries lost, e.g. \(lost.prefix(3))")
        #expect(Array(stored.prefix(acked.count)) == acked, "acknowledged entries out of order")
    }
}

/// A tmpfs of its own (the tests run as root; CI does). Failing to mount is
/// a test failure, not a skip.
final class Tmpfs {
    let path: String
    private var mounted = false

    init(megabytes: Int) throws {
        path = NSTemporaryDirectory() + "vimana-tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let status = try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
        guard status == 0 else {
            rmdir(path)
            throw TestFailure("cannot mount a \(megabytes) MiB tmpfs at \(path) (mount exited \(status)): this test needs root")
        }
        mounted = true
    }

    deinit { unmount() }

    /// Bytes a file may still take.
    var freeBytes: Int {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return Int(st.f_bavail) * Int(st.f_frsize)
    }

    /// Makes it read-only (a destination that cannot be written, even by root).
    func remountReadOnly() throws {
        let status = try Self.run("/bin/mount", ["-o", "remount,ro", path])
        guard status == 0 else { throw TestFailure("cannot remount \(path) read-only (mount exited \(status))") }
    }

    /// Unmounts (lazily, should something still hold it) and removes the mount point.
    func unmount() {
        guard mounted else { return }
        mounted = false
        _ = try? Self.run("/bin/umount", ["-l", path])
        rmdir(path)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// tools/dev/fail_fsync.c, compiled once per test run.
enum FsyncShim {
    private static let built: Result<String, TestFailure> = {
        let source = LedgerReaderTests.root.appendingPathComponent("tools/dev/fail_fsync.c").path
        let output = NSTemporaryDirectory() + "vimana-fail-fsync-\(UUID().uuidString).so"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", output, source, "-ldl"]
        do { try p.run() } catch { return .failure(TestFailure("cannot run cc: \(error)")) }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? .success(output) : .failure(TestFailure("cc \(source) failed"))
    }()

    static func path() throws -> String { try built.get() }
}
