import Foundation
import Testing

/// Agents declared in phoenix.yaml, fed through consumer groups with
/// acknowledgements (Protocol/AGENTS.md), against the real server.
@Suite struct AgentTests {
    static let config = """
        ledger:
          fsync: always
        agents:
          - id: worker
            subscribes: ["tasks.*"]
            ack_wait: 600ms
            max_deliver: 3
            prefetch: 2
          - id: slowpoke
            subscribes: ["slow.*"]
            publishes: ["results.*"]
            prefetch: 1
            required: true
          - id: off
            enabled: false
            subscribes: ["x"]
          - id: echo
            kind: builtin
            subscribes: ["echo.requests"]
        """

    func join(_ server: ServerProcess, _ agent: String = "worker", resp3: Bool = false) throws -> (RawClient, RESPReader) {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        if resp3 {
            c.send("HELLO 3\r\n")
            _ = r.next()
        }
        c.send("AGENT JOIN \(agent)\r\n")
        #expect(r.next() == .simple("OK"))
        return (c, r)
    }

    func publish(_ server: ServerProcess, _ topic: String, _ payloads: [String]) throws -> [String] {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        var ids: [String] = []
        for p in payloads {
            c.send(RawClient.command(["XADD", topic, "*", "payload", p]))
            if case .bulk(let id) = r.next() { ids.append(id) }
        }
        return ids
    }

    @Test func joinErrorsAreClear() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("AGENT JOIN nosuch\r\nAGENT JOIN off\r\nAGENT JOIN echo\r\nACK tasks.a 1-1\r\nAGENT LEAVE\r\n")
        let expected = "-ERR unknown agent 'nosuch' (declare it under agents: in phoenix.yaml)\r\n"
            + "-ERR agent 'off' is disabled\r\n-ERR agent 'echo' is built in\r\n:0\r\n"
            + "-ERR this connection is not an agent instance\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    /// AGENT's subcommands and NACK take their argument counts from the
    /// command table, as Redis's containers do: a refused AGENT LEAVE leaves
    /// nothing (the connection stays an instance), and inside MULTI each
    /// error comes when the command is queued, in the same words.
    @Test func agentAndNackArgumentCountsComeFromTheTable() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("AGENT JOIN worker\r\nAGENT LEAVE now\r\nAGENT JOIN\r\nAGENT JOIN worker extra\r\nAGENT nope\r\n"
               + "NACK tasks.a 1-1 0 extra\r\nMULTI\r\nNACK tasks.a 1-1 0 extra\r\nAGENT nope\r\nAGENT LEAVE now\r\n"
               + "EXEC\r\nAGENT LEAVE\r\n")
        let expected = "+OK\r\n-ERR wrong number of arguments for 'agent|leave' command\r\n"
            + "-ERR wrong number of arguments for 'agent|join' command\r\n"
            + "-ERR wrong number of arguments for 'agent|join' command\r\n"
            + "-ERR unknown subcommand 'nope'. Try AGENT JOIN <agent-id>, AGENT LEAVE, AGENT PS, AGENT START <agent-id>, AGENT STOP <agent-id> or AGENT RESTART <agent-id>.\r\n"
            + "-ERR wrong number of arguments for 'nack' command\r\n+OK\r\n"
            + "-ERR wrong number of arguments for 'nack' command\r\n"
            + "-ERR unknown subcommand 'nope'. Try AGENT JOIN <agent-id>, AGENT LEAVE, AGENT PS, AGENT START <agent-id>, AGENT STOP <agent-id> or AGENT RESTART <agent-id>.\r\n"
            + "-ERR wrong number of arguments for 'agent|leave' command\r\n"
            + "-EXECABORT Transaction discarded because of previous errors.\r\n+OK\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func anAgentPublishesOnlyWhereItMay() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(server, "slowpoke")
        c.send("PUBLISH results.x ok\r\nPUBLISH tasks.other no\r\nXADD elsewhere * a b\r\n"
               + "SPUBLISH results.y ok\r\nSPUBLISH elsewhere no\r\n")
        #expect(r.next() == .integer(0))
        #expect(r.next() == .error("ERR agent 'slowpoke' may not publish to 'tasks.other' (publishes: results.*)"))
        #expect(r.next() == .error("ERR agent 'slowpoke' may not publish to 'elsewhere' (publishes: results.*)"))
        // A shard channel is held to the same patterns (PROTOCOL.md §5.5).
        #expect(r.next() == .integer(0))
        #expect(r.next() == .error("ERR agent 'slowpoke' may not publish to 'elsewhere' (publishes: results.*)"))
    }

    @Test func eachTaskGoesToExactlyOneInstance() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (a, ra) = try join(server)
        let (b, rb) = try join(server, resp3: true)
        let ids = try publish(server, "tasks.split", (0..<20).map { "job-\($0)" })
        var seen: [String: String] = [:]
        // Waited for while tasks keep coming: a loaded machine is slower.
        _ = waitWhileAdvancing(stall: 10, progress: { seen.count }) {
            for (name, c, r) in [("a", a, ra), ("b", b, rb)] {
                guard let t = r.next(timeout: 0.05)?.task else { continue }
                #expect(seen[t.id] == nil, "task \(t.id) delivered twice")
                #expect(t.deliveries == 1)
                seen[t.id] = name
                c.send("ACK \(t.topic) \(t.id)\r\n")
            }
            return seen.count >= 20
        }
        #expect(Set(seen.keys) == Set(ids))
        #expect(Set(seen.values) == ["a", "b"], "both instances got work")
    }

    /// A Redis client reading the agent's group is an instance too: its task
    /// is not taken from it before ack_wait, then goes to a joined instance.
    @Test func aRedisReaderHoldsItsTaskUntilAckWait() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let ids = try publish(server, "tasks.mixed", ["m1"])
        let reader = try RawClient(port: server.port)
        let rr = RESPReader(reader)
        reader.send("XREADGROUP GROUP worker r1 COUNT 1 STREAMS tasks.mixed >\r\n")
        #expect(rr.next()?.description == "[[\"tasks.mixed\", [[\"\(ids[0])\", [\"payload\", \"m1\"]]]]]")
        let (_, ra) = try join(server)
        reader.send("AGENTS\r\n")
        #expect(rr.next()?.description.contains("\"instances\", :2") == true)
        #expect(ra.next(timeout: 0.3) == nil, "the reader's task was taken before ack_wait")
        let t = try #require(ra.next(timeout: 3)?.task)
        #expect(t.id == ids[0] && t.deliveries == 2)
    }

    @Test func prefetchBoundsTasksInFlight() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(server)
        _ = try publish(server, "tasks.p", (0..<5).map { "p\($0)" })
        let first = r.next()?.task, second = r.next()?.task
        #expect(first != nil && second != nil)
        #expect(r.next(timeout: 0.3) == nil, "a third task arrived with prefetch 2")
        c.send("ACK \(first!.topic) \(first!.id)\r\n")
        #expect(r.next() == .integer(1))
        #expect(r.next()?.task?.payload == "p2")
    }

    @Test func unacknowledgedTasksComeBackAfterAckWaitOrDisconnect() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (a, ra) = try join(server)
        _ = try publish(server, "tasks.r", ["only"])
        let t = try #require(ra.next()?.task)
        #expect(t.deliveries == 1)
        // Not acknowledged within ack_wait: delivered again (same instance, it is the only one).
        let again = try #require(ra.next(timeout: 3)?.task)
        #expect(again.id == t.id)
        #expect(again.deliveries == 2)
        // A second instance joins and the first disconnects: the task moves at once.
        let (_, rb) = try join(server)
        a.send("QUIT\r\n")
        let moved = try #require(rb.next(timeout: 3)?.task)
        #expect(moved.id == t.id)
        #expect(moved.deliveries == 3)
    }

    @Test func afterMaxDeliverTheTaskIsDeadLettered() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(server)
        let ids = try publish(server, "tasks.bad", ["poison"])
        for n in 1...3 {
            let t = try #require(r.next(where: { $0.task != nil })?.task)
            #expect(t.deliveries == n)
            c.send("NACK \(t.topic) \(t.id)\r\n")
        }
        #expect(server.waitForLog("task dead-lettered"))
        let q = try RawClient(port: server.port)
        q.send("XRANGE dead.worker - +\r\n")
        let reply = q.readReplies()
        #expect(reply.contains("$5\r\ntopic\r\n$9\r\ntasks.bad\r\n$2\r\nid\r\n$\(ids[0].utf8.count)\r\n\(ids[0])\r\n"))
        #expect(reply.contains("$10\r\ndeliveries\r\n$1\r\n3\r\n"))
        #expect(reply.contains("$7\r\npayload\r\n$6\r\npoison\r\n"))
        #expect(r.next(timeout: 0.5)?.task == nil, "no fourth delivery")
    }

    /// Deliveries and ACKs of a loop pass share journal records; under every
    /// policy an ACK is answered once its record is written (`always`: fsynced),
    /// so a kill -9 right after the answer cannot bring the task back.
    @Test(arguments: ["always", "everysec", "no"]) func pendingTasksSurviveRestartAndKill9(_ fsync: String) throws {
        let config = Self.config.replacingOccurrences(of: "fsync: always", with: "fsync: \(fsync)")
        let first = try ServerProcess(config: config, logLevel: "info")
        let (c, r) = try join(first)
        let ids = try publish(first, "tasks.keep", ["k0", "k1", "k2", "k3"])
        var got: [String] = []
        while got.count < 2, let t = r.next()?.task { got.append(t.id) }
        c.send("ACK tasks.keep \(got[0])\r\n")
        #expect(r.next(where: { $0 == .integer(1) }) != nil)
        // Clean restart.
        #expect(first.terminate() == 0)
        let second = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        var after: [String: Int] = [:]
        do {
            let (c2, r2) = try join(second)
            // k1 and k2 were pending: they come back first (prefetch 2), k3 once a slot frees.
            while after.count < 2, let t = r2.next(timeout: 3)?.task { after[t.id] = t.deliveries }
            #expect(Set(after.keys) == [ids[1], ids[2]], "acknowledged k0 must not come back")
            #expect(after[ids[1]] == 2, "k1 was delivered once before the restart")
            c2.send("ACK tasks.keep \(ids[1])\r\n")
            let next = r2.next(where: { $0.task != nil })?.task
            #expect(next?.id == ids[3])
            #expect(next?.deliveries == 1)
            c2.send("ACK tasks.keep \(ids[3])\r\n")
            #expect(r2.next(where: { $0 == .integer(1) }) != nil)
        }
        // kill -9 at once: only k2, never acknowledged, is still pending.
        kill(second.process.processIdentifier, SIGKILL)
        second.process.waitUntilExit()
        let third = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let (_, r3) = try join(third)
        let last = r3.next(timeout: 3)?.task
        #expect(last?.id == ids[2])
        #expect(last?.deliveries == 3)
        #expect(r3.next(timeout: 1)?.task == nil, "nothing else is pending")
    }

    @Test func aNackDelayOutlivesARestart() throws {
        let first = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(first)
        _ = try publish(first, "tasks.later", ["n0"])
        let t = try #require(r.next()?.task)
        c.send("NACK \(t.topic) \(t.id) 2500\r\n")
        let nacked = Date()
        #expect(r.next(where: { $0 == .integer(1) }) != nil)
        #expect(first.terminate() == 0)
        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let (_, r2) = try join(second)
        let back = try #require(r2.next(timeout: 8)?.task)
        #expect(back.id == t.id && back.deliveries == 2)
        #expect(Date().timeIntervalSince(nacked) >= 2.4, "redelivered before its NACK delay")
    }

    /// Retention retires the segment holding a group's creation and first
    /// deliveries; the snapshot written at each seal keeps the group whole.
    @Test(arguments: [false, true]) func groupStateOutlivesRetentionOfItsJournal(corruptPointer: Bool) throws {
        let config = """
            ledger:
              segment_bytes: 64KiB
              retention:
                max_bytes: 256KiB
            agents:
              - id: keeper
                subscribes: ["jobs.*"]
                prefetch: 2
            """
        let first = try ServerProcess(config: config, logLevel: "info")
        let t0 = try publish(first, "jobs.a", ["t0"])
        do {
            let (c, r) = try join(first, "keeper")
            let t = try #require(r.next()?.task)
            #expect(t.id == t0[0])
            c.send("ACK jobs.a \(t.id)\r\n")
            #expect(r.next(where: { $0 == .integer(1) }) != nil)
            c.send("AGENT LEAVE\r\n")
            #expect(r.next() == .simple("OK"))
        }
        // Incompressible filler seals segments; retention deletes the oldest.
        var rng = SystemRandomNumberGenerator()
        let filler = (0..<160).map { _ in String((0..<3000).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement(using: &rng) ?? "x" }) }
        _ = try publish(first, "filler", filler)
        #expect(first.waitForLog("ledger segment deleted", timeout: 10), "retention did not run")
        let ids = try publish(first, "jobs.a", ["t1", "t2", "t3"])
        do {
            let (c, r) = try join(first, "keeper")
            let a = try #require(r.next()?.task), b = try #require(r.next()?.task)
            #expect([a.id, b.id] == [ids[0], ids[1]])
            c.send("ACK jobs.a \(ids[0])\r\n")
            #expect(r.next(where: { $0 == .integer(1) }) != nil)
            // The freed slot takes t3 at once.
            #expect(r.next(where: { $0.task != nil })?.task?.id == ids[2])
        }
        let t4 = try publish(first, "jobs.a", ["t4"])
        // Once a snapshot is durable, where it begins is kept beside the segments.
        let pointer = first.ledgerDirectory + "/groups.snapshot"
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: pointer) && Date() < deadline { usleep(50_000) }
        let recorded = try String(contentsOfFile: pointer, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(first.terminate() == 0)
        if corruptPointer { try "garbage\n".write(toFile: pointer, atomically: true, encoding: .utf8) }
        let second = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let restored = second.logLines.first { $0.contains("consumer groups restored") } ?? ""
        #expect(!restored.contains("\"from_snapshot\":\"none\""), "\(restored)")
        if !corruptPointer {
            // At least as recent as the pointer read before the stop (a later one may have become durable since).
            let used = restored.components(separatedBy: "\"from_snapshot\":\"").last?.prefix { $0 != "\"" } ?? ""
            #expect(!used.isEmpty && String(used) >= recorded || String(used).count > recorded.count, "\(restored) vs \(recorded)")
        }
        let (c2, r2) = try join(second, "keeper")
        var after: [String: Int] = [:]
        while after.count < 3, let t = r2.next(timeout: 3, where: { $0.task != nil })?.task {
            after[t.id] = t.deliveries
            c2.send("ACK jobs.a \(t.id)\r\n")
        }
        #expect(after == [ids[1]: 2, ids[2]: 2, t4[0]: 1], "t2, t3 pending, t4 never delivered, t1 acknowledged: \(after)")
    }

    /// A server with the echo built-in, a subscriber to `results.me`, and a publisher.
    func echoSetup() throws -> (ServerProcess, RESPReader, RawClient) {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let rs = RESPReader(sub)
        sub.send("SUBSCRIBE results.me\r\n")
        _ = rs.next()
        return (server, rs, try RawClient(port: server.port))
    }

    @Test func echoBuiltinRepliesToReplyTo() throws {
        let (server, rs, pub) = try echoSetup()
        defer { withExtendedLifetime(server) {} }  // the server runs until the test ends
        let body = "{\"id\":\"7\",\"reply_to\":\"results.me\",\"text\":\"hi\"}"
        pub.send(RawClient.command(["PUBLISH", "echo.requests", body]))
        let message = try #require(rs.next(timeout: 5))
        #expect(message.strings == ["message", "results.me", body])
    }

    /// A built-in that throws: the task is retried, then dead-lettered with
    /// the error; the agent and the kernel go on answering.
    @Test func aFailingBuiltinDeadLettersTheTaskAndCarriesOn() throws {
        let (server, rs, pub) = try echoSetup()
        let good = "{\"id\":\"8\",\"reply_to\":\"results.me\"}"
        pub.send(RawClient.command(["PUBLISH", "echo.requests", "{\"id\":\"bad\",\"reply_to\":5}"]))
        pub.send(RawClient.command(["PUBLISH", "echo.requests", "{\"id\":\"deputy\",\"reply_to\":\"tasks.billing\"}"]))
        pub.send(RawClient.command(["PUBLISH", "echo.requests", good]))
        #expect(rs.next(timeout: 5)?.strings == ["message", "results.me", good])
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        var dead = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            c.send("XRANGE dead.echo - +\r\n")
            dead = r.next()?.description ?? ""
            if dead.contains("deputy") { break }
            usleep(100_000)
        }
        #expect(dead.contains("\"reason\", \"failed 5 times: reply_to must be a non-empty string (a topic)\""), "\(dead)")
        #expect(dead.contains("\"reason\", \"failed 5 times: reply_to must not be a topic in tasks.*, events.*, dead.* or _vimana.*\""),
                "\(dead)")
        c.send("XLEN tasks.billing\r\n")
        #expect(r.next() == .integer(0), "echo appended to another agent's tasks")
        #expect(dead.contains("\"payload\", \"{\"id\":\"bad\",\"reply_to\":5}\""), "\(dead)")
        c.send("AGENTS\r\n")
        let agents = r.next()?.description ?? ""
        #expect(agents.contains("\"id\", \"echo\", \"name\", \"echo\", \"kind\", \"builtin\", \"status\", \"running\""), "\(agents)")
        #expect(server.log.contains("built-in agent failed a task"))
        pub.send(RawClient.command(["PUBLISH", "echo.requests", good]))
        #expect(rs.next(timeout: 5)?.strings == ["message", "results.me", good], "echo still answers")
    }

    @Test func aBuiltinIsHeldToItsPublishes() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: echo
                kind: builtin
                subscribes: ["echo.requests"]
                publishes: ["results.*"]
                max_deliver: 2
            """, logLevel: "info")
        let sub = try RawClient(port: server.port)
        let rs = RESPReader(sub)
        sub.send("PSUBSCRIBE *\r\n")
        _ = rs.next()
        let pub = try RawClient(port: server.port)
        let good = "{\"reply_to\":\"results.me\"}", bad = "{\"reply_to\":\"elsewhere\"}"
        pub.send(RawClient.command(["PUBLISH", "echo.requests", bad]))
        pub.send(RawClient.command(["PUBLISH", "echo.requests", good]))
        var seen: [[String]] = []
        while let m = rs.next(timeout: 2) { seen.append(m.strings) }
        #expect(seen.contains(["pmessage", "*", "results.me", good]))
        #expect(!seen.contains { $0.count == 4 && $0[2] == "elsewhere" }, "published outside publishes: \(seen)")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("XRANGE dead.echo - +\r\n")
        let dead = r.next()?.description ?? ""
        #expect(dead.contains("\"failed 2 times: may not publish to 'elsewhere' (publishes: results.*)\""), "\(dead)")
    }

    @Test func agentsHealthAndReadiness() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let ready = RawClient.httpGet(port: server.httpPort, path: "/ready")
        #expect(ready.hasPrefix("HTTP/1.1 503"), "slowpoke is required and has no instance")
        #expect(ready.contains("slowpoke"))
        let instance = try join(server, "slowpoke")
        #expect(RawClient.httpGet(port: server.httpPort, path: "/ready").hasPrefix("HTTP/1.1 200"))
        defer { withExtendedLifetime(instance) {} }
        let health = RawClient.httpGet(port: server.httpPort, path: "/health")
        #expect(health.contains("\"id\":\"echo\",\"name\":\"echo\",\"kind\":\"builtin\",\"status\":\"running\""))
        #expect(health.contains("\"id\":\"off\""))
        let c = try RawClient(port: server.port)
        c.send("AGENTS\r\n")
        let listing = c.readReplies()
        #expect(listing.hasPrefix("*4\r\n"))
        #expect(listing.contains("$6\r\nstatus\r\n$8\r\ndisabled\r\n"))
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metrics.contains("vimana_agent_up{agent=\"slowpoke\"} 1"))
    }
}
