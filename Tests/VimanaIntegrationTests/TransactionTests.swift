import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// MULTI/EXEC where Vimana's parts meet Redis's semantics: replies held for
/// the ledger, recorded PUBLISH, connection state, limits
/// (Protocol/PROTOCOL.md §6, Transactions). The byte-for-byte cases against
/// redis-server are in RedisParityTests; redis-py's pipeline() in
/// tools/compat/redis_py_compat.py (CompatibilityTests).
@Suite struct TransactionTests {
    /// An EXEC whose XADD waits for the ledger sends nothing (not its array
    /// header, not the PING before the XADD) until the entry is written.
    /// fsync fails while the flag file exists (tools/dev/fail_fsync.c), so
    /// the write cannot be confirmed until the flag goes.
    @Test func execReplyWaitsUntilItsEntriesAreWritten() throws {
        let shim = try FsyncShim.path()
        let flag = NSTemporaryDirectory() + "vimana-fail-fsync-\(UUID().uuidString)"
        defer { unlink(flag) }
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info",
                                       environment: ["LD_PRELOAD": shim, "VIMANA_FAIL_FSYNC": flag])
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        // One good fsync first, so the shim knows the segment's good length.
        c.send("XADD first 1-1 a b\r\n")
        #expect(c.read(matching: "$3\r\n1-1\r\n") == "$3\r\n1-1\r\n")
        #expect(waitFor(10) { (infoField(server, "ledger_fsyncs").flatMap { Int($0) } ?? 0) >= 1 })

        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        c.send("MULTI\r\nPING\r\nXADD t 7-1 k v\r\nPING\r\nEXEC\r\n")
        let queued = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
        #expect(c.read(matching: queued) == queued)
        // The writer has taken the record and failed to fsync it: by now the
        // loop has long flushed whatever of the EXEC reply it would send.
        #expect(waitFor(30) { (infoField(server, "ledger_write_errors").flatMap { Int($0) } ?? 0) > 0 })
        let early = c.readAvailable(quiet: 0.5)
        #expect(early == "", "EXEC reply sent before its entry was written: \(visible(early))")

        unlink(flag)
        let reply = "*3\r\n+PONG\r\n$3\r\n7-1\r\n+PONG\r\n"
        #expect(c.read(matching: reply) == reply)
    }

    /// CLIENT LIST shows `x` and the queued count while in MULTI, `d` once a
    /// watched topic changed, and `cmd=` names the command just queued.
    @Test func clientListShowsTransactionState() throws {
        let server = try ServerProcess(logLevel: "info")
        let a = try RawClient(port: server.port)
        a.send("CLIENT SETNAME txa\r\nMULTI\r\nPING\r\nXLEN s\r\n")
        let queued = "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n"
        #expect(a.read(matching: queued) == queued)
        let w = try RawClient(port: server.port)
        w.send("CLIENT SETNAME txw\r\nWATCH s\r\n")
        #expect(w.read(matching: "+OK\r\n+OK\r\n") == "+OK\r\n+OK\r\n")
        let other = try RawClient(port: server.port)
        other.send("XADD s 1-1 f v\r\n")
        #expect(other.read(matching: "$3\r\n1-1\r\n") == "$3\r\n1-1\r\n")

        func line(_ name: String) -> String {
            other.send("CLIENT LIST\r\n")
            let text = other.readReplies()
            return text.split(separator: "\n").first { $0.contains(" name=\(name) ") }.map(String.init) ?? ""
        }
        let inMulti = line("txa")
        #expect(inMulti.contains(" flags=x ") && inMulti.contains(" multi=2 ") && inMulti.contains(" cmd=xlen "), "\(inMulti)")
        let dirty = line("txw")
        #expect(dirty.contains(" flags=d ") && dirty.contains(" multi=-1 "), "\(dirty)")

        a.send("EXEC\r\n")
        #expect(a.read(matching: "*2\r\n+PONG\r\n:1\r\n") == "*2\r\n+PONG\r\n:1\r\n")
        let after = line("txa")
        #expect(after.contains(" flags=N ") && after.contains(" multi=-1 ") && after.contains(" multi-mem=0 "), "\(after)")
        // While EXEC runs, the connection is still in MULTI with its queue (Redis: flags=x multi=2).
        a.send("MULTI\r\nPING\r\nCLIENT INFO\r\nEXEC\r\n")
        let ran = a.readReplies(4)  // +OK, two +QUEUED, EXEC's array
        #expect(ran.contains("*2\r\n+PONG\r\n$") && ran.contains(" flags=x ") && ran.contains(" multi=2 "), "\(visible(ran))")
    }

    /// With kernel.password: EXEC before AUTH is refused with EXECABORT's
    /// "because of" form; AUTH inside a transaction is queued. The bytes are
    /// redis-server 7.0.15's with requirepass set.
    @Test func execBeforeAuthenticationAndAuthInsideMulti() throws {
        let server = try ServerProcess(config: "kernel:\n  password: secret\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("MULTI\r\nEXEC\r\nDISCARD\r\nWATCH a\r\nAUTH secret\r\nMULTI\r\nAUTH bad\r\nPING\r\nEXEC\r\n")
        let expected = "-NOAUTH Authentication required.\r\n"
            + "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
            + "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n"
            + "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n"
            + "*2\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+PONG\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    /// A PUBLISH on a recorded topic appends an entry to its stream, so a
    /// WATCH on it fails the EXEC; on a topic that is not recorded (`_…` by
    /// default) nothing changes and the EXEC runs.
    @Test func recordedPublishChangesAWatchedTopic() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        let p = try RawClient(port: server.port)
        c.send("WATCH news\r\n")
        #expect(c.read(matching: "+OK\r\n") == "+OK\r\n")
        p.send("PUBLISH news hello\r\n")
        #expect(p.read(matching: ":0\r\n") == ":0\r\n")
        c.send("MULTI\r\nXLEN news\r\nEXEC\r\nXLEN news\r\n")
        #expect(c.read(matching: "+OK\r\n+QUEUED\r\n*-1\r\n:1\r\n") == "+OK\r\n+QUEUED\r\n*-1\r\n:1\r\n")

        c.send("WATCH _private\r\n")
        #expect(c.read(matching: "+OK\r\n") == "+OK\r\n")
        p.send("PUBLISH _private hello\r\n")
        #expect(p.read(matching: ":0\r\n") == ":0\r\n")
        c.send("MULTI\r\nPING\r\nEXEC\r\n")
        #expect(c.read(matching: "+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n") == "+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n")
    }

    /// A watcher that disconnects leaves no watch behind: the connections
    /// opened after it (one of which gets its file descriptor: the kernel
    /// hands out the lowest free one) are not failed by a change to the
    /// topic it watched.
    @Test func closedConnectionForgetsItsWatches() throws {
        let server = try ServerProcess(logLevel: "info")
        let clients = { Int(infoField(server, "connected_clients", section: "clients") ?? "") ?? -1 }
        let base = clients()
        do {
            let gone = try RawClient(port: server.port)
            gone.send("WATCH s\r\nMULTI\r\nPING\r\n")
            #expect(gone.read(matching: "+OK\r\n+OK\r\n+QUEUED\r\n") == "+OK\r\n+OK\r\n+QUEUED\r\n")
        }
        #expect(waitFor(10) { clients() == base }, "the watcher's close was not seen")
        let next = try (0..<16).map { _ in try RawClient(port: server.port) }
        for c in next {
            c.send("MULTI\r\nPING\r\n")
            #expect(c.read(matching: "+OK\r\n+QUEUED\r\n") == "+OK\r\n+QUEUED\r\n")
        }
        let writer = try RawClient(port: server.port)
        writer.send("XADD s 1-1 f v\r\n")
        #expect(writer.read(matching: "$3\r\n1-1\r\n") == "$3\r\n1-1\r\n")
        for (k, c) in next.enumerated() {
            c.send("EXEC\r\n")
            let reply = c.read(matching: "*1\r\n+PONG\r\n")
            #expect(reply == "*1\r\n+PONG\r\n", "connection \(k): \(visible(reply))")
        }
    }

    /// Queued commands are bounded like one request's query buffer
    /// (64 MiB with the default 1 MiB max_payload): past it the connection
    /// is closed, logged and counted, and nothing it queued runs.
    @Test func transactionQueueIsBounded() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("MULTI\r\n")
        #expect(c.read(matching: "+OK\r\n") == "+OK\r\n")
        let value = String(repeating: "x", count: 1 << 20)
        let command = RawClient.command(["XADD", "big", "*", "v", value])
        // 65 × 1 MiB queued: over 64 MiB.
        for _ in 0..<65 { c.send(command) }
        #expect(c.isClosedByPeer(timeout: 30), "a 65 MiB transaction was still open")
        #expect(server.waitForLog("client closed: transaction queue limit", timeout: 10))
        #expect(infoField(server, "client_query_buffer_limit_disconnections", section: "stats") == "1")
        let q = try RawClient(port: server.port)
        q.send("XLEN big\r\n")
        #expect(q.read(matching: ":0\r\n") == ":0\r\n")
    }
}
