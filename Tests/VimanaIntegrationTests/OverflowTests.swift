import Foundation
import Testing

/// One integer from a client must never crash the server: each of these
/// inputs trapped (and killed the process) before numbers were range-checked
/// where they are parsed and the arithmetic on them saturated.
@Suite struct OverflowTests {
    static let agentConfig = """
        agents:
          - id: worker
            subscribes: ["t"]
        """

    /// The server answers a PING on a fresh connection and is still running.
    func expectServing(_ server: ServerProcess, _ comment: Comment? = nil) throws {
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n", comment)
        #expect(server.process.isRunning, "\(comment.map { "\($0)" } ?? ""): \(server.log.suffix(2000))")
    }

    /// Waits until the client `id` has run `command` (CLIENT LIST's `cmd=`):
    /// a command that blocks has no reply to wait for.
    func waitUntilRan(_ server: ServerProcess, clientID: Int, _ command: String) -> Bool {
        guard let q = try? RawClient(port: server.port) else { return false }
        let r = RESPReader(q)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            q.send("CLIENT LIST ID \(clientID)\r\n")
            guard case .bulk(let line)? = r.next() else { return false }
            if line.contains("cmd=\(command) ") { return true }
            usleep(10_000)
        }
        return false
    }

    /// Sends `command` on a new connection, which blocks; returns once the
    /// server has run it.
    func blockOn(_ server: ServerProcess, setup: String = "", _ command: String, name: String) throws -> RawClient {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send(setup + "CLIENT ID\r\n")
        var id = 0
        while let v = r.next() {
            if case .integer(let n) = v { id = n; break }
        }
        c.send(command)
        #expect(waitUntilRan(server, clientID: id, name), "\(command) was not run: \(server.log.suffix(2000))")
        return c
    }

    @Test(arguments: ["9223372036854775807", "9223372036855"])
    func xreadBlockWithAHugeTimeoutBlocks(_ millis: String) throws {
        // 9223372036855 ms is the smallest whose nanoseconds overflow.
        let server = try ServerProcess(logLevel: "info")
        let blocked = try blockOn(server, setup: "XADD t * f v\r\n", "XREAD BLOCK \(millis) STREAMS t $\r\n", name: "xread")
        try expectServing(server, "XREAD BLOCK \(millis)")
        // Still blocked, and woken by the next entry as any reader.
        let w = try RawClient(port: server.port)
        w.send("XADD t 99999999999999-1 f v\r\n")
        let reply = blocked.readReplies()
        #expect(reply.contains("99999999999999-1"), "\(visible(reply))")
    }

    @Test func xreadgroupBlockWithAHugeTimeoutBlocks() throws {
        let server = try ServerProcess(logLevel: "info")
        _ = try blockOn(server, setup: "XGROUP CREATE t g $ MKSTREAM\r\n",
                        "XREADGROUP GROUP g c BLOCK 9223372036854775807 STREAMS t >\r\n", name: "xreadgroup")
        try expectServing(server, "XREADGROUP BLOCK 9223372036854775807")
    }

    @Test func nackWithAHugeDelayIsRefused() throws {
        let server = try ServerProcess(config: Self.agentConfig, logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AGENT JOIN worker\r\n")
        #expect(r.next() == .simple("OK"))
        let p = try RawClient(port: server.port)
        p.send("XADD t 1-1 f v\r\n")
        #expect(r.next(where: { $0.task != nil })?.task?.id == "1-1")
        c.send("NACK t 1-1 9223372036854775807\r\nNACK t 1-1 3153600000001\r\nNACK t 1-1 -1\r\nNACK t 1-1 x\r\n")
        let refusal = RESP.error("ERR NACK delay must be an integer from 0 to 3153600000000 (milliseconds)")
        for _ in 0..<4 { #expect(r.next() == refusal) }
        // The longest delay allowed is taken, and the task stays given back.
        c.send("NACK t 1-1 3153600000000\r\nNACK t 1-1\r\n")
        #expect(r.next() == .integer(1))
        #expect(r.next() == .integer(0), "given back: no longer held, and not due for 100 years")
        try expectServing(server, "NACK")
    }

    @Test func entriesReadOfTheLargestIntegerCountsOnWithoutOverflow() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("XADD t 1-1 f v\r\nXGROUP CREATE t g $ ENTRIESREAD 9223372036854775807\r\nXADD t 2-1 f v\r\n"
            + "XREADGROUP GROUP g c STREAMS t >\r\nXINFO GROUPS t\r\n")
        for _ in 0..<4 { _ = r.next() }
        let groups = r.next()
        guard case .array(let list)? = groups, case .array(let fields)? = list.first, fields.count == 12 else {
            Issue.record("XINFO GROUPS: \(groups?.description ?? "nil")")
            return
        }
        #expect(fields[8] == .bulk("entries-read") && fields[9] == .integer(Int.max), "saturates: \(fields)")
        #expect(fields[10] == .bulk("lag") && fields[11] == .integer(2 - Int.max), "added - read, as Redis: \(fields)")
        try expectServing(server, "XREADGROUP after ENTRIESREAD 9223372036854775807")
    }

    @Test func entriesReadBelowMinusOneIsRefusedAsRedisDoes() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("XADD t 1-1 f v\r\nXGROUP CREATE t g $ ENTRIESREAD -9223372036854775808\r\nXINFO GROUPS t\r\n")
        let expected = "$3\r\n1-1\r\n-ERR value for ENTRIESREAD must be positive or -1\r\n*0\r\n"
        #expect(c.read(matching: expected) == expected)
        try expectServing(server, "XINFO GROUPS after ENTRIESREAD -9223372036854775808")
    }

    @Test func retryCountOfTheLargestIntegerCountsOnWithoutOverflow() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("XADD t 1-1 f v\r\nXGROUP CREATE t g 0\r\nXREADGROUP GROUP g c STREAMS t >\r\n"
            + "XCLAIM t g d 0 1-1 RETRYCOUNT 9223372036854775807\r\nXCLAIM t g e 0 1-1\r\nXPENDING t g - + 10\r\n")
        for _ in 0..<5 { _ = r.next() }
        let pending = r.next()
        guard case .array(let rows)? = pending, case .array(let row)? = rows.first, row.count == 4 else {
            Issue.record("XPENDING: \(pending?.description ?? "nil")")
            return
        }
        #expect(row[0] == .bulk("1-1") && row[1] == .bulk("e"))
        #expect(row[3] == .integer(Int.max), "the delivery count saturates: \(row)")
        try expectServing(server, "XCLAIM after RETRYCOUNT 9223372036854775807")
    }

    /// Any client could destroy an agent's group and re-create it with
    /// ENTRIESREAD 2^63 - 1; the value was journaled, and every restart
    /// crashed as soon as the agent took a task. Redis allows the value, so
    /// the journal keeps it: counting on from it must not trap, now or after
    /// a restart.
    @Test func journaledEntriesReadOfTheLargestIntegerDoesNotCrashARestart() throws {
        let config = "ledger:\n  fsync: always\n" + Self.agentConfig
        let first = try ServerProcess(config: config, logLevel: "info")
        let c = try RawClient(port: first.port)
        c.send("XADD t 1-1 f v\r\nXGROUP DESTROY t worker\r\nXGROUP CREATE t worker $ ENTRIESREAD 9223372036854775807\r\n"
            + "XADD t 2-1 f v\r\n")
        let expected = "$3\r\n1-1\r\n:1\r\n+OK\r\n$3\r\n2-1\r\n"
        #expect(c.read(matching: expected) == expected)
        _ = first.terminate(signal: SIGKILL)
        for restart in 1...2 {
            let server = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
            let a = try RawClient(port: server.port)
            let r = RESPReader(a)
            a.send("AGENT JOIN worker\r\n")
            #expect(r.next() == .simple("OK"))
            let task = r.next(where: { $0.task != nil })?.task
            #expect(task?.id == "2-1", "restart \(restart): \(server.log.suffix(2000))")
            if restart == 2 { a.send("ACK t 2-1\r\n"); #expect(r.next() == .integer(1)) }
            try expectServing(server, "restart \(restart) after a journaled ENTRIESREAD 9223372036854775807")
            _ = server.terminate(signal: SIGKILL)
        }
    }
}
