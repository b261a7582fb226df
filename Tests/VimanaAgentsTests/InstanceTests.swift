import Foundation
import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// Which connection is which agent instance is the agents' own record: the
/// kernel asks (`isInstance`, `agentRefusing`), joins, leaves and says when
/// a connection closes. Every change to a group that follows goes through
/// the group store.
@Suite(.serialized) struct InstanceTests {
    let topic = Array("jobs".utf8)

    func inFlight(_ a: AgentRuntime) -> [Int] { a.instances.map(\.inFlight) }

    func configs() -> [AgentConfig] {
        var off = agentConfig("off", subscribes: ["x"])
        off.enabled = false
        var echo = agentConfig("echo", subscribes: ["echo.requests"])
        echo.kind = .builtin
        var narrow = agentConfig("v", subscribes: ["other"])
        narrow.publishes = ["results.*"]
        return [agentConfig("w", subscribes: ["jobs"], prefetch: 2), narrow, off, echo]
    }

    /// Journal records written so far (the ledger's count of the journal topic).
    func journalRecords(_ bench: AgentsBench) -> UInt64 {
        bench.ledger.stream(GroupStore.journalTopic)?.entriesAdded ?? 0
    }

    @Test func joinIsRefusedForWhatCannotHaveInstancesAndForAConnectionThatIsOne() throws {
        let bench = try AgentsBench(configs())
        defer { bench.close() }
        func refusal(_ id: String, _ fd: Int32) -> JoinRefusal? {
            do throws(JoinRefusal) {
                try bench.agents.join(agentID: id, fd: fd, clientID: Int(fd))
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal("nosuch", 10) == .unknownAgent)
        #expect(refusal("off", 10) == .disabled)
        #expect(refusal("echo", 10) == .builtIn)
        #expect(!bench.agents.isInstance(fd: 10), "a refused join leaves no trace")
        #expect(refusal("w", 10) == nil)
        #expect(refusal("v", 10) == .alreadyInstance)
        #expect(refusal("w", 10) == .alreadyInstance)
        #expect(bench.agents.all[0].instances.map(\.fd) == [10] && bench.agents.all[1].instances.isEmpty)
        #expect(bench.agents.isInstance(fd: 10))
        for fd: Int32 in [-1, 0, 9, 11, 1 << 20] { #expect(!bench.agents.isInstance(fd: fd), "\(fd)") }
        #expect(!bench.agents.leave(fd: 11), "not an instance")
        #expect(bench.agents.leave(fd: 10))
        #expect(!bench.agents.isInstance(fd: 10))
        #expect(refusal("v", 10) == nil, "after LEAVE the connection may join again, another agent too")
    }

    /// `publishes` holds an instance to its patterns; other connections
    /// and agents without `publishes` may publish anywhere.
    @Test func thePublishCheckFollowsTheConnectionsAgent() throws {
        let bench = try AgentsBench(configs())
        defer { bench.close() }
        func refused(_ fd: Int32, _ topic: String) -> String? {
            Array(topic.utf8).withUnsafeBufferPointer { bench.agents.agentRefusing(fd: fd, publishTo: $0)?.id }
        }
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        try bench.agents.join(agentID: "v", fd: 11, clientID: 2)
        #expect(refused(10, "anything") == nil)
        #expect(refused(11, "results.x") == nil)
        #expect(refused(11, "jobs") == "v")
        #expect(refused(12, "jobs") == nil, "not an instance")
        bench.agents.connectionClosed(fd: 11)
        #expect(refused(11, "jobs") == nil, "the closed connection's fd is no instance any more")
    }

    /// A connection that closes leaves: its slots are freed, its tasks go
    /// to the other instances with their delivery counts, it can answer
    /// nothing more, and its fd, reused by a new connection, is a stranger.
    @Test func aClosedConnectionLeavesAndItsTasksGoToTheOthers() throws {
        let bench = try AgentsBench(configs())
        defer { bench.close() }
        let w = bench.agents.all[0]
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        let ids = [bench.publish("jobs", "a"), bench.publish("jobs", "b")]
        bench.pass()
        #expect(bench.host.pushed.map(\.fd) == [10, 10])
        try bench.agents.join(agentID: "w", fd: 11, clientID: 2)
        #expect(inFlight(w) == [2, 0])

        let journaled = journalRecords(bench)
        bench.agents.connectionClosed(fd: 10)
        #expect(!bench.agents.isInstance(fd: 10) && bench.agents.isInstance(fd: 11))
        #expect(w.instances.map(\.fd) == [11] && inFlight(w) == [0])
        let g = try #require(w.group(for: topic))
        #expect(g.pending.map(\.id) == ids && g.pending.allSatisfy { !$0.isHeld }, "given back, still pending")
        bench.agents.endPass()
        bench.ledger.commit()
        #expect(journalRecords(bench) == journaled, "giving back a leaving instance's tasks is not journaled")

        #expect(!bench.agents.ack(fd: 10, topic: topic, id: ids[0]), "a closed connection answers nothing")
        bench.pass()
        #expect(bench.host.pushed.suffix(2).map(\.fd) == [11, 11])
        #expect(bench.host.pushed.suffix(2).map(\.deliveries) == [2, 2])
        #expect(inFlight(w) == [2])

        // The fd comes back with another connection, an instance of another agent.
        try bench.agents.join(agentID: "v", fd: 10, clientID: 3)
        #expect(!bench.agents.ack(fd: 10, topic: topic, id: ids[0]), "not the w instance that held it")
        #expect(bench.agents.ack(fd: 11, topic: topic, id: ids[0]))
        bench.agents.connectionClosed(fd: 10)
        bench.agents.connectionClosed(fd: 10)
        #expect(bench.agents.all[1].instances.isEmpty && w.instances.map(\.fd) == [11])
        #expect(bench.agents.all[1].status == .idle)
    }

    /// What a group's earlier instances held is given back when an agent is
    /// wired to it at a start, through the group store: due at once, with
    /// its delivery count, to this run's instances.
    @Test func tasksHeldBeforeARestartAreGivenBackWhenTheGroupIsAttached() throws {
        let bench = try AgentsBench(configs())
        defer { bench.close() }
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        let id = bench.publish("jobs", "a")
        bench.pass()
        try bench.restart()
        let w = bench.agents.all[0]
        let g = try #require(w.group(for: topic))
        #expect(g.entry(id)?.isHeld == false, "given back at the start")
        #expect(g.entry(id)?.deliveries == 1)
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        bench.pass()
        #expect(bench.host.pushed.last?.id == id && bench.host.pushed.last?.deliveries == 2)
        #expect(inFlight(w) == [1])
    }

    /// A NACK is journaled, so that its delay outlives a restart.
    @Test func aNackIsJournaledThroughTheStore() throws {
        let bench = try AgentsBench(configs())
        defer { bench.close() }
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        let id = bench.publish("jobs", "a")
        bench.pass()
        let journaled = journalRecords(bench)
        #expect(bench.agents.nack(fd: 10, topic: topic, id: id, delayMillis: 3_600_000))
        bench.pass()
        #expect(journalRecords(bench) == journaled + 1)
        try bench.restart()
        let g = try #require(bench.agents.all[0].group(for: topic))
        #expect((g.entry(id)?.eligibleAtMillis ?? 0) > Clock.wallMillis() + 3_000_000, "the delay came back from the journal")
    }

    /// "Every change to a group is journaled" holds because only the group
    /// store (GroupStore.swift, and its replay in GroupJournal.swift) calls
    /// a group's mutators; ConsumerGroup's are internal, so outside the
    /// module the compiler refuses them. Inside it, this looks.
    @Test func onlyTheGroupStoreCallsAGroupsMutators() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/VimanaAgents").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        #expect(files.contains("GroupStore.swift") && files.contains("AgentRuntime.swift"))
        let mutators = ["setEligible", "deliver", "ack", "touch", "advance", "deleteConsumer", "consumer"]
        let call = try Regex("([A-Za-z_][A-Za-z0-9_]*|\\])\\.(\(mutators.joined(separator: "|")))\\(")
        let assignment = try Regex("\\.(lastDelivered|entriesRead|lastDeliveredSequence)\\s*=[^=]")
        for file in files where file != "GroupStore.swift" && file != "ConsumerGroup.swift" {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                for m in code.matches(of: call) where m.output[1].substring != "groups" {
                    Issue.record("\(file):\(n + 1) changes a group outside the store: \(line)")
                }
                #expect(code.firstMatch(of: assignment) == nil, "\(file):\(n + 1): \(line)")
            }
        }
    }
}
