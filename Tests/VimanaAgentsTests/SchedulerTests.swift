import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// The scheduler driven through its API, with a fake host and a real
/// ledger: which task goes to which instance, how prefetch slots are taken
/// and given back, and when a task is dead-lettered.
@Suite(.serialized) struct SchedulerTests {
    let topic = Array("jobs".utf8)

    func inFlight(_ a: AgentRuntime) -> [Int] { a.instances.map(\.inFlight) }

    @Test func tasksGoRoundRobinAndNeverPastPrefetch() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 1)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 11, clientID: 2)
        let ids = (0..<3).map { bench.publish("jobs", "m\($0)") }
        bench.pass()
        #expect(bench.host.pushed.map(\.fd) == [10, 11], "one task per instance: prefetch 1")
        #expect(bench.host.pushed.map(\.id) == [ids[0], ids[1]])
        #expect(inFlight(a) == [1, 1])
        bench.pass()
        #expect(bench.host.pushed.count == 2, "no slot free, nothing more")

        #expect(bench.agents.ack(fd: 10, topic: topic, id: ids[0]))
        #expect(inFlight(a) == [0, 1], "an ACK frees its slot")
        #expect(!bench.agents.ack(fd: 10, topic: topic, id: ids[1]), "a task of another instance is not this one's to ACK")
        bench.pass()
        #expect(bench.host.pushed.map(\.fd) == [10, 11, 10])
        #expect(bench.host.pushed.last?.id == ids[2])
        #expect(inFlight(a) == [1, 1])
        #expect(a.delivered == 3 && a.acknowledged == 1)
    }

    /// Answers come in any order: each frees the slot of its own task,
    /// and the task whose ack_wait ends first stays the first to expire.
    @Test func answersOutOfOrderFreeTheirOwnSlots() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 3)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        let ids = (0..<3).map { bench.publish("jobs", "m\($0)") }
        bench.pass()
        #expect(inFlight(a) == [3])
        #expect(bench.agents.ack(fd: 10, topic: topic, id: ids[2]))
        #expect(inFlight(a) == [2])
        #expect(bench.agents.nack(fd: 10, topic: topic, id: ids[1], delayMillis: 60_000))
        #expect(inFlight(a) == [1])
        #expect(a.instances[0].held.first?.id == ids[0])
        #expect(!bench.agents.ack(fd: 10, topic: topic, id: ids[2]), "answered once only")
        #expect(inFlight(a) == [1])
        bench.publish("jobs", "m3")
        bench.pass()
        #expect(inFlight(a) == [2], "a freed slot takes the new task; the one given back waits for its delay")
        #expect(bench.host.pushed.map(\.deliveries) == [1, 1, 1, 1])
    }

    @Test func aNackGivesTheTaskBackToAnotherInstance() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 2)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        let id = bench.publish("jobs", "m")
        bench.pass()
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 11, clientID: 2)
        #expect(bench.agents.nack(fd: 10, topic: topic, id: id, delayMillis: 0))
        #expect(inFlight(a) == [0, 0], "a NACK frees the slot at once")
        #expect(!bench.agents.nack(fd: 10, topic: topic, id: id, delayMillis: 0), "given back: no longer held")
        bench.pass()
        #expect(bench.host.pushed.map(\.fd) == [10, 11], "redelivered to the other instance")
        #expect(bench.host.pushed.map(\.deliveries) == [1, 2])
        #expect(inFlight(a) == [0, 1])
    }

    @Test func aLeavingInstanceGivesItsTasksToTheOthers() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 3)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        for k in 0..<3 { bench.publish("jobs", "m\(k)") }
        bench.pass()
        #expect(inFlight(a) == [3])
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 11, clientID: 2)
        bench.agents.leave(fd: 10)
        #expect(inFlight(a) == [0])
        bench.pass()
        #expect(bench.host.pushed.suffix(3).map(\.fd) == [11, 11, 11])
        #expect(inFlight(a) == [3])
        #expect(a.pendingCount == 3)
    }

    @Test func aTaskRejectedMaxDeliverTimesIsDeadLetteredWithItsFieldsAndPublisher() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], maxDeliver: 2)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        let id = bench.publish("jobs", "payload-1", publisher: "alice")
        bench.pass()
        #expect(bench.host.pushedPublishers == ["alice"], "the task is pushed with its publisher")
        #expect(bench.agents.nack(fd: 10, topic: topic, id: id, delayMillis: 0))
        bench.pass()
        #expect(bench.host.pushed.map(\.deliveries) == [1, 2])
        #expect(bench.agents.nack(fd: 10, topic: topic, id: id, delayMillis: 0))
        bench.pass()
        #expect(bench.host.pushed.count == 2, "not delivered a third time")
        let dead = try #require(bench.host.appended.first)
        #expect(dead.topic == "dead.w")
        #expect(dead.alwaysRecorded)
        #expect(dead.fields.map(\.0) == ["topic", "id", "deliveries", "reason", "payload"])
        #expect(dead.fields.map(\.1) == ["jobs", id.description, "2", "rejected (NACK) 2 times", "payload-1"])
        #expect(bench.host.appendedPublishers == ["alice"], "a dead letter keeps its task's publisher")
        #expect(a.pendingCount == 0 && a.deadLettered == 1)
        #expect(inFlight(a) == [0])
    }

    @Test func aTaskNotAcknowledgedWithinAckWaitIsDeadLetteredAfterMaxDeliver() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], maxDeliver: 1, ackWaitMillis: 1)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        bench.publish("jobs", "m")
        bench.pass()
        #expect(inFlight(a) == [1])
        // Wait for the fact (the monotonic clock past ack_wait), not for a time.
        let start = AgentRuntime.monotonicMillis()
        while AgentRuntime.monotonicMillis() < start + 2 {}
        bench.agents.tick()
        #expect(a.dirty, "the tick sees the expired task")
        bench.pass()
        #expect(bench.host.appended.map(\.topic) == ["dead.w"])
        #expect(bench.host.appended.first?.fields.first { $0.0 == "reason" }?.1 == "not acknowledged within ack_wait 1 times")
        #expect(inFlight(a) == [0], "the expired task left its slot")
        #expect(a.pendingCount == 0)
    }

    /// More tasks due at once than one dead-letter batch: one batch per loop
    /// pass (other clients are served between), another pass asked for at
    /// once, and in the end each task dead-lettered once with its own
    /// entry's fields.
    @Test func manyTasksDueAtOnceAreDeadLetteredInBatches() throws {
        let n = Agents.deadLetterBatch + 904
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: n, maxDeliver: 1)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        for k in 0..<n { bench.publish("jobs", "m\(k)") }
        bench.pass()
        #expect(bench.host.pushed.count == n)
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 11, clientID: 2)
        bench.agents.leave(fd: 10)
        bench.pass()
        #expect(bench.host.appended.count == Agents.deadLetterBatch, "one batch in a pass")
        #expect(bench.host.passesAsked == 1 && a.dirty, "the rest in the next pass, asked for at once")
        var passes = 1
        while a.dirty && passes < 10 {
            bench.pass()
            passes += 1
        }
        #expect(passes == 2)
        #expect(bench.host.pushed.count == n, "delivered max_deliver times already: none goes out again")
        #expect(bench.host.appended.count == n)
        #expect(bench.host.appended.map { $0.fields.last?.1 } == (0..<n).map { "m\($0)" })
        #expect(bench.host.appended.allSatisfy { $0.fields.first { $0.0 == "reason" }?.1 == "instance gone, delivered 1 times" })
        #expect(a.pendingCount == 0 && a.deadLettered == n)
    }

    @Test func destroyingAnAgentsGroupFreesItsSlotsAndStopsDelivery() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 2)])
        defer { bench.close() }
        let a = bench.agents.all[0]
        try bench.agents.join(agentID: bench.agents.all[0].id, fd: 10, clientID: 1)
        bench.publish("jobs", "m")
        bench.pass()
        #expect(inFlight(a) == [1])
        #expect(bench.agents.destroyGroup(topic: topic, name: Array("w".utf8)))
        #expect(inFlight(a) == [0])
        #expect(a.groups.isEmpty)
    }
}
