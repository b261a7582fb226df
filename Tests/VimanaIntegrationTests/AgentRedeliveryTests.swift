import Foundation
import Testing

/// Redelivery after `ack_wait` and dead-lettering after `max_deliver`
/// (Protocol/AGENTS.md §2), against the real server: an expired delivery
/// leaves its instance's prefetch slot, so the task comes back even when its
/// only instance was full.
@Suite struct AgentRedeliveryTests {
    /// `lone` has the default prefetch (1); `pair` holds two tasks per instance.
    static let config = """
        agents:
          - id: lone
            subscribes: ["jobs.*"]
            ack_wait: 1s
            max_deliver: 2
          - id: pair
            subscribes: ["pairs.*"]
            ack_wait: 1s
            max_deliver: 3
            prefetch: 2
          - id: trio
            subscribes: ["batch.*"]
            ack_wait: 1s
            max_deliver: 3
            prefetch: 3
        """

    /// Generous: the machine may be loaded; every wait ends as soon as its fact arrives.
    static let patience = 10.0

    func join(_ server: ServerProcess, _ agent: String) throws -> (RawClient, RESPReader) {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AGENT JOIN \(agent)\r\n")
        #expect(r.next() == .simple("OK"))
        return (c, r)
    }

    /// A plain client for XADD, XPENDING, XRANGE.
    func control(_ server: ServerProcess) throws -> (RawClient, RESPReader) {
        let c = try RawClient(port: server.port)
        return (c, RESPReader(c))
    }

    func add(_ q: (RawClient, RESPReader), _ topic: String, _ payload: String) throws -> String {
        q.0.send(RawClient.command(["XADD", topic, "*", "payload", payload]))
        guard case .bulk(let id) = q.1.next() else { throw Failure("XADD got no ID") }
        return id
    }

    /// XPENDING's extended form: (id, consumer, deliveries) per pending task.
    func pending(_ q: (RawClient, RESPReader), _ topic: String, _ group: String) -> [(id: String, consumer: String, deliveries: Int)] {
        q.0.send("XPENDING \(topic) \(group) - + 100\r\n")
        guard case .array(let rows) = q.1.next() else { return [] }
        return rows.compactMap { row in
            guard case .array(let f) = row, f.count == 4, case .bulk(let id) = f[0], case .bulk(let consumer) = f[1],
                  case .integer(let n) = f[3] else { return nil }
            return (id, consumer, n)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// The issue's reproduction: one instance, prefetch 1, never an ACK. The
    /// task comes back after ack_wait with deliveries 2, then goes to
    /// `dead.lone` after its second ack_wait, and XPENDING follows each step.
    @Test func aTaskHeldByAFullOnlyInstanceIsRedeliveredThenDeadLettered() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let dead = try RawClient(port: server.port)
        let rd = RESPReader(dead)
        dead.send("SUBSCRIBE dead.lone\r\n")
        #expect(rd.next()?.strings == ["subscribe", "dead.lone", "1"])
        let (c, r) = try join(server, "lone")
        let q = try control(server)
        let id = try add(q, "jobs.a", "stuck")

        let first = try #require(r.next()?.task)
        let firstAt = Date()
        #expect(first.id == id && first.deliveries == 1)
        let holder = try #require(pending(q, "jobs.a", "lone").first)
        #expect(holder.id == id && holder.deliveries == 1)

        let again = try #require(r.next(timeout: Self.patience)?.task, "never redelivered: the expired delivery kept the only slot")
        #expect(again.id == id && again.deliveries == 2)
        #expect(Date().timeIntervalSince(firstAt) >= 0.9, "redelivered before ack_wait")
        let second = pending(q, "jobs.a", "lone")
        #expect(second.count == 1 && second.first?.deliveries == 2 && second.first?.consumer == holder.consumer)

        // Delivered max_deliver (2) times and not acknowledged: dead-lettered.
        let letter = try #require(rd.next(timeout: Self.patience), "never dead-lettered")
        #expect(letter.strings.first == "message" && letter.strings.dropFirst().first == "dead.lone")
        #expect(pending(q, "jobs.a", "lone").isEmpty)
        q.0.send("XRANGE dead.lone - +\r\n")
        let entries = q.1.next()?.description ?? ""
        #expect(entries.contains("\"topic\", \"jobs.a\", \"id\", \"\(id)\", \"deliveries\", \"2\", \"reason\", \"not acknowledged within ack_wait 2 times\", \"payload\", \"stuck\""), "\(entries)")
        // The late ACK of a dead-lettered task is refused, and there is no third delivery.
        c.send("ACK jobs.a \(id)\r\n")
        #expect(r.next() == .integer(0))
        c.send("PING\r\n")
        #expect(r.next() == .simple("PONG"))
    }

    /// A dead letter is recorded even where `ledger.record` leaves its topic
    /// out (the journal is): the task has left the pending list, and the
    /// entry on `dead.<agent>` is all that is left of it (AGENTS.md §2).
    /// A NACKed task given back with a delay holds no prefetch slot meanwhile.
    @Test func aDeadLetterIsRecordedWhateverLedgerRecordSays() throws {
        let config = """
            ledger:
              record: ["jobs.*"]
            agents:
              - id: strict
                subscribes: ["jobs.*"]
                max_deliver: 1
            """
        let server = try ServerProcess(config: config, logLevel: "info")
        let (c, r) = try join(server, "strict")
        let q = try control(server)
        let later = try add(q, "jobs.a", "later")
        let first = try #require(r.next()?.task)
        #expect(first.id == later)
        // Given back for a minute: the only slot is free for the next task.
        c.send("NACK jobs.a \(later) 60000\r\n")
        #expect(r.next() == .integer(1))
        let now = try add(q, "jobs.a", "now")
        let second = try #require(r.next(timeout: Self.patience)?.task, "the delayed task kept the only slot")
        #expect(second.id == now)
        // Given back with no delay after its only delivery: dead-lettered.
        c.send("NACK jobs.a \(now)\r\n")
        #expect(r.next() == .integer(1))
        c.send("PING\r\n")
        #expect(r.next() == .simple("PONG"))
        q.0.send("XRANGE dead.strict - +\r\n")
        let entries = q.1.next()?.description ?? ""
        #expect(entries.contains("\"topic\", \"jobs.a\", \"id\", \"\(now)\", \"deliveries\", \"1\", \"reason\", \"rejected (NACK) 1 times\", \"payload\", \"now\""),
                "\(entries)")
        q.0.send("XADD dead.strict * a b\r\n")
        #expect(q.1.next() == .error("ERR topic 'dead.strict' is not recorded (see ledger.record and ledger.exclude in phoenix.yaml)"))
    }

    /// After a restart a pending task keeps its delivery count; one already
    /// delivered `max_deliver` times is dead-lettered, not delivered, once an
    /// instance joins, as `instance gone` (AGENTS.md §2).
    @Test func aTaskAtMaxDeliverBeforeARestartIsDeadLetteredAsInstanceGone() throws {
        let config = """
            agents:
              - id: once
                subscribes: ["jobs.*"]
                max_deliver: 1
            """
        let first = try ServerProcess(config: config, logLevel: "info")
        let (_, r) = try join(first, "once")
        let q = try control(first)
        let id = try add(q, "jobs.a", "held")
        #expect(try #require(r.next()?.task).id == id)
        #expect(first.terminate() == 0)

        let second = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let q2 = try control(second)
        q2.0.send("XLEN dead.once\r\n")
        #expect(q2.1.next() == .integer(0), "dead-lettered before an instance joined")
        let (c2, r2) = try join(second, "once")
        c2.send("PING\r\n")
        #expect(r2.next() == .simple("PONG"), "the task was delivered again past max_deliver")
        q2.0.send("XRANGE dead.once - +\r\n")
        let entries = q2.1.next()?.description ?? ""
        #expect(entries.contains("\"topic\", \"jobs.a\", \"id\", \"\(id)\", \"deliveries\", \"1\", \"reason\", \"instance gone, delivered 1 times\", \"payload\", \"held\""),
                "\(entries)")
        #expect(pending(q2, "jobs.a", "once").isEmpty)
    }

    /// Two instances: the redelivery goes to the one that did not let the
    /// task expire (even though the first has a free slot again), and once
    /// it acknowledges, nothing is pending and nothing is dead-lettered.
    @Test func aRedeliveryGoesToAnotherInstanceWhenThereIsOne() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (a, ra) = try join(server, "pair")
        let (b, rb) = try join(server, "pair")
        let q = try control(server)
        // Round-robin: the first task to a, the second to b; the turn is a's again.
        let t1 = try add(q, "pairs.x", "slow")
        let held = try #require(ra.next()?.task)
        #expect(held.id == t1)
        let t2 = try add(q, "pairs.x", "quick")
        let quick = try #require(rb.next()?.task)
        #expect(quick.id == t2)
        b.send("ACK pairs.x \(t2)\r\n")
        #expect(rb.next() == .integer(1))

        // a never answers t1: after ack_wait it goes to b.
        let moved = try #require(rb.next(timeout: Self.patience)?.task, "not redelivered to the other instance")
        #expect(moved.id == t1 && moved.deliveries == 2)
        a.send("PING\r\n")
        #expect(ra.next() == .simple("PONG"), "the task came back to the instance that let it expire")
        b.send("ACK pairs.x \(t1)\r\n")
        #expect(rb.next() == .integer(1))
        #expect(pending(q, "pairs.x", "pair").isEmpty)
        q.0.send("XLEN dead.pair\r\n")
        #expect(q.1.next() == .integer(0))
    }

    /// A late ACK (after ack_wait ran out): accepted while the task was last
    /// delivered to this instance, even when that was a redelivery to it;
    /// refused once the task went to another instance.
    @Test func aLateAckCountsOnlyFromTheInstanceThatHoldsTheTaskNow() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let q = try control(server)
        // Redelivered to the same (only) instance: its ACK is accepted.
        do {
            let (c, r) = try join(server, "lone")
            let id = try add(q, "jobs.late", "x")
            #expect(r.next()?.task?.deliveries == 1)
            let again = try #require(r.next(timeout: Self.patience)?.task)
            #expect(again.id == id && again.deliveries == 2)
            c.send("ACK jobs.late \(id)\r\n")
            #expect(r.next() == .integer(1))
            #expect(pending(q, "jobs.late", "lone").isEmpty)
            c.send("AGENT LEAVE\r\n")
            #expect(r.next() == .simple("OK"))
        }
        // Redelivered to another instance: the first one's ACK is refused, the holder's accepted.
        let (a, ra) = try join(server, "lone")
        let (b, rb) = try join(server, "lone")
        let id = try add(q, "jobs.late", "y")
        let first = try #require(ra.next()?.task)
        #expect(first.id == id)
        let firstHolder = pending(q, "jobs.late", "lone").first?.consumer
        let moved = try #require(rb.next(timeout: Self.patience)?.task)
        #expect(moved.id == id && moved.deliveries == 2)
        a.send("ACK jobs.late \(id)\r\n")
        #expect(ra.next() == .integer(0))
        let now = pending(q, "jobs.late", "lone")
        #expect(now.count == 1 && now.first?.consumer != firstHolder, "the refused ACK changed what is pending")
        b.send("ACK jobs.late \(id)\r\n")
        #expect(rb.next() == .integer(1))
        #expect(pending(q, "jobs.late", "lone").isEmpty)
    }

    /// prefetch 3, three tasks, none acknowledged: all three expire and all
    /// three slots are free again (all three come back), and after their
    /// ACKs the instance still holds no more than prefetch tasks.
    @Test func expiredTasksFreeEverySlotTheyHeld() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(server, "trio")
        let q = try control(server)
        var ids: [String] = []
        for n in 0..<3 { ids.append(try add(q, "batch.b", "b\(n)")) }
        var first: [String: Int] = [:]
        while first.count < 3, let t = r.next()?.task { first[t.id] = t.deliveries }
        #expect(first == [ids[0]: 1, ids[1]: 1, ids[2]: 1])
        var again: [String: Int] = [:]
        while again.count < 3, let t = r.next(timeout: Self.patience)?.task { again[t.id] = t.deliveries }
        #expect(again == [ids[0]: 2, ids[1]: 2, ids[2]: 2], "not every expired task came back")
        for id in ids {
            c.send("ACK batch.b \(id)\r\n")
            #expect(r.next() == .integer(1))
        }
        // Five new tasks: exactly three are pushed (no slot was freed twice).
        var more: [String] = []
        for n in 0..<5 { more.append(try add(q, "batch.b", "m\(n)")) }
        var pushed: [String] = []
        while pushed.count < 3, let t = r.next()?.task { pushed.append(t.id) }
        #expect(pushed == Array(more.prefix(3)))
        c.send("PING\r\n")
        #expect(r.next() == .simple("PONG"), "more than prefetch tasks in flight")
    }

    /// PROGRESS restarts the ack_wait clock: the task comes back one
    /// ack_wait after the PROGRESS, not after the delivery.
    @Test func progressPostponesTheRedelivery() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let (c, r) = try join(server, "lone")
        let q = try control(server)
        let id = try add(q, "jobs.p", "long")
        #expect(r.next()?.task?.id == id)
        let delivered = Date()
        // Past half of ack_wait (XPENDING's idle time says so), still working.
        while true {
            q.0.send("XPENDING jobs.p lone IDLE 600 - + 1\r\n")
            if case .array(let rows) = q.1.next(), !rows.isEmpty { break }
            if Date().timeIntervalSince(delivered) > Self.patience { Issue.record("idle never reached 600 ms"); return }
            usleep(20_000)
        }
        c.send("PROGRESS jobs.p \(id)\r\n")
        #expect(r.next() == .integer(1))
        let progressed = Date()
        let again = try #require(r.next(timeout: Self.patience)?.task)
        #expect(again.id == id && again.deliveries == 2)
        #expect(Date().timeIntervalSince(progressed) >= 0.9, "redelivered before ack_wait after the PROGRESS")
    }
}

extension AgentRedeliveryTests {
    /// AGENTS's integer fields of `agent` (RESP2: name, value, …).
    func counters(_ q: (RawClient, RESPReader), _ agent: String) -> [String: Int] {
        q.0.send("AGENTS\r\n")
        guard case .array(let all) = q.1.next() else { return [:] }
        for case .array(let f) in all where f.count >= 2 && f[1] == .bulk(agent) {
            var out: [String: Int] = [:]
            for k in stride(from: 0, to: f.count - 1, by: 2) {
                if case .bulk(let name) = f[k], case .integer(let n) = f[k + 1] { out[name] = n }
            }
            return out
        }
        return [:]
    }

    /// `expired` counts the deliveries whose ack_wait ran out while held,
    /// and nothing else: a NACKed and then acknowledged task adds none; a
    /// task never answered adds one when it is taken back for redelivery
    /// and one more when its second ack_wait runs out and it is dead-lettered.
    @Test func expiredCountsEachDeliveryHeldPastAckWait() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let dead = try RawClient(port: server.port)
        let rd = RESPReader(dead)
        dead.send("SUBSCRIBE dead.lone\r\n")
        #expect(rd.next()?.strings == ["subscribe", "dead.lone", "1"])
        let (c, r) = try join(server, "lone")
        let q = try control(server)

        let answered = try add(q, "jobs.a", "answered")
        #expect(try #require(r.next()?.task).id == answered)
        c.send("NACK jobs.a \(answered)\r\n")
        #expect(r.next() == .integer(1))
        let again = try #require(r.next(timeout: Self.patience)?.task)
        #expect(again.id == answered && again.deliveries == 2)
        c.send("ACK jobs.a \(answered)\r\n")
        #expect(r.next() == .integer(1))
        #expect(counters(q, "lone")["expired"] == 0, "a NACK or an ACK is no expiry")

        let stuck = try add(q, "jobs.a", "stuck")
        #expect(try #require(r.next()?.task).id == stuck)
        let second = try #require(r.next(timeout: Self.patience)?.task, "never redelivered")
        #expect(second.id == stuck && second.deliveries == 2)
        #expect(counters(q, "lone")["expired"] == 1, "taken back after its first ack_wait")
        _ = try #require(rd.next(timeout: Self.patience), "never dead-lettered")
        let after = counters(q, "lone")
        #expect(after["expired"] == 2 && after["dead-lettered"] == 1 && after["acknowledged"] == 1 && after["delivered"] == 4, "\(after)")
        #expect(counters(q, "pair")["expired"] == 0, "another agent's count")
    }

    /// INFO server's `run_id`.
    func runID(_ q: (RawClient, RESPReader)) -> String? {
        q.0.send("INFO server\r\n")
        guard case .bulk(let text) = q.1.next() else { return nil }
        return text.components(separatedBy: "\r\n").first { $0.hasPrefix("run_id:") }.map { String($0.dropFirst(7)) }
    }

    /// The counters are of one run of the kernel: after a restart on the
    /// same ledger `expired` is 0 again, and INFO's `run_id` (40 hex
    /// characters) is another, so a reader of the counter (watchman) can
    /// tell a new run's first expiry from the last run's.
    @Test func aRestartStartsTheCountAgainUnderANewRunID() throws {
        let first = try ServerProcess(config: Self.config, logLevel: "info")
        let (_, r) = try join(first, "lone")
        let q = try control(first)
        let id = try add(q, "jobs.a", "stuck")
        #expect(try #require(r.next()?.task).id == id)
        _ = try #require(r.next(timeout: Self.patience)?.task, "never redelivered")
        #expect(counters(q, "lone")["expired"] == 1)
        let run1 = try #require(runID(q))
        #expect(run1.count == 40 && run1.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(run1)")
        #expect(runID(q) == run1, "one run, one id")
        #expect(first.terminate() == 0)

        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let q2 = try control(second)
        #expect(counters(q2, "lone")["expired"] == 0)
        let run2 = try #require(runID(q2))
        #expect(run2.count == 40 && run2 != run1)
    }
}
