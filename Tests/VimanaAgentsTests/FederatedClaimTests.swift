import Foundation
import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// Claims made in the cluster for this kernel (Protocol/FEDERATION.md §6)
/// whose local entry the federation could not name: the agents find it in
/// the ledger by its origin and sequence, however far back it lies.
@Suite(.serialized) struct FederatedClaimTests {
    /// What the agents told the federation.
    final class Sink: FederatedTaskSink {
        var answered: [[UInt8]] = []
        var released: [[UInt8]] = []
        func taskDemand(_ demand: [FederatedTaskDemand]) {}
        func tasksAnswered(group: [UInt8], topic: [UInt8], clusterIDs: [[UInt8]], released: [[UInt8]]) {
            answered += clusterIDs
            self.released += released
        }
    }

    /// Appends an entry another kernel published, as the federation's reader does.
    static func imported(_ bench: AgentsBench, _ topic: String, origin: String, sequence: UInt64, ms: UInt64) -> StreamID {
        let t = Array(topic.utf8), o = Array(origin.utf8), u = Array("producer".utf8)
        let payload = Array("\(origin)-\(sequence)".utf8), name = Array("payload".utf8)
        return t.withUnsafeBytes { tb in
            o.withUnsafeBytes { ob in
                u.withUnsafeBytes { ub in
                    let r = bench.ledger.append(topic: tb, id: .auto, client: .federated(origin: ob, originSequence: sequence, user: ub),
                                                nowMillis: ms, nowMicros: Int64(ms) * 1000) { fields in
                        name.withUnsafeBytes { n in payload.withUnsafeBytes { v in fields.add(name: n, value: v) } }
                    }
                    if case .success(let done) = r { return done.id }
                    return .zero
                }
            }
        }
    }

    /// 30,000 entries of two other kernels, interleaved with this kernel's
    /// own and imported in bursts that share a millisecond: claims of the
    /// oldest, of one in the middle and of the newest are each found and
    /// delivered; a claim of an entry this ledger does not hold is given up.
    @Test func claimsAreFoundInTheLedgerHoweverOldTheirEntries() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 8)])
        defer { bench.close() }
        bench.agents.isFederatedTopic = { _ in true }
        let sink = Sink()
        bench.agents.federationSink = sink
        var local: [String: StreamID] = [:]
        var ms: UInt64 = 1_700_000_000_000
        for k in 0..<30_000 {
            if k % 64 == 0 { ms += 1 }
            let origin = k % 2 == 0 ? "k2" : "k3"
            let sequence = UInt64(k / 2 + 1)
            local["\(origin)-\(sequence)"] = Self.imported(bench, "jobs", origin: origin, sequence: sequence, ms: ms)
            if k % 7 == 0 {
                bench.host.passMillis = Int64(ms)
                bench.publish("jobs", "own\(k)")
            }
        }
        bench.ledger.commit()
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        let wanted = ["k2-1", "k3-1", "k2-7500", "k3-15000", "k2-15000"]
        let claims = wanted.enumerated().map { n, name in
            let parts = name.split(separator: "-")
            return FederatedClaim(clusterID: Array("1-\(n)".utf8), local: nil, origin: Array(parts[0].utf8),
                                  originSequence: UInt64(parts[1]) ?? 0)
        }
        let missing = FederatedClaim(clusterID: Array("2-0".utf8), local: nil, origin: Array("k2".utf8), originSequence: 15_001)
        let released = bench.agents.claimed(group: Array("w".utf8), topic: Array("jobs".utf8), claims: claims + [missing])
        #expect(released == [Array("2-0".utf8)], "given up: \(released.map { String(decoding: $0, as: UTF8.self) })")
        bench.pass()
        #expect(bench.host.pushed.map(\.id) == wanted.compactMap { local[$0] })
    }

    /// One batch of claims in order (each search starts near the last
    /// found), an origin whose few entries lie among many of this kernel's
    /// own, and sequences the ledger skipped: each found entry is
    /// delivered, in the claims' order; the absent are given up.
    @Test func aBatchOfClaimsFindsSparseOriginsAndGivesUpGaps() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 1_000)])
        defer { bench.close() }
        bench.agents.isFederatedTopic = { _ in true }
        let sink = Sink()
        bench.agents.federationSink = sink
        var local: [String: StreamID] = [:]
        var ms: UInt64 = 1_700_000_000_000
        var k2: UInt64 = 0, k4: UInt64 = 0
        for k in 0..<20_000 {
            if k % 100 == 0 { ms += 37 }
            if k % 3 == 0 {
                k2 += 1
                // Sequences 5000-5009 never reached this kernel.
                if k2 >= 5000 && k2 < 5010 { continue }
                local["k2-\(k2)"] = Self.imported(bench, "jobs", origin: "k2", sequence: k2, ms: ms)
            } else if k % 2_500 == 1 {
                k4 += 1
                local["k4-\(k4)"] = Self.imported(bench, "jobs", origin: "k4", sequence: k4, ms: ms)
            } else {
                bench.host.passMillis = Int64(ms)
                bench.publish("jobs", "own\(k)")
            }
        }
        bench.ledger.commit()
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        var wanted: [String] = stride(from: 1, to: 6_000, by: 97).map { "k2-\($0)" }
        wanted += (1...k4).map { "k4-\($0)" }
        let absent = ["k2-5000", "k2-5009", "k4-\(k4 + 1)", "k9-1"]
        let names = wanted.prefix(40) + absent + wanted.dropFirst(40)
        let claims = names.enumerated().map { n, name in
            let parts = name.split(separator: "-")
            return FederatedClaim(clusterID: Array(name.utf8), local: nil, origin: Array(parts[0].utf8),
                                  originSequence: UInt64(parts[1]) ?? 0)
        }
        let released = bench.agents.claimed(group: Array("w".utf8), topic: Array("jobs".utf8), claims: claims)
        #expect(released.map { String(decoding: $0, as: UTF8.self) } == absent)
        bench.pass()
        let expected = wanted.compactMap { local[$0] }
        #expect(expected.count == wanted.count)
        #expect(bench.host.pushed.map(\.id) == expected)
    }

    /// Tasks claimed here and delivered leave the group another way than
    /// by an answer — their consumer deleted (XGROUP DELCONSUMER), the
    /// group destroyed (XGROUP DESTROY): their claims are given up, for
    /// other kernels to take over, not kept (and refreshed) forever.
    @Test func claimsOfTasksThatLeaveTheGroupUnansweredAreGivenUp() throws {
        let bench = try AgentsBench([agentConfig("w", subscribes: ["jobs"], prefetch: 2)])
        defer { bench.close() }
        bench.agents.isFederatedTopic = { _ in true }
        let sink = Sink()
        bench.agents.federationSink = sink
        let ids = (0..<4).map { bench.publish("jobs", "m\($0)") }
        try bench.agents.join(agentID: "w", fd: 10, clientID: 1)
        let claims = ids.enumerated().map { n, id in
            FederatedClaim(clusterID: Array("1-\(n)".utf8), local: id, origin: Array("k1".utf8), originSequence: UInt64(n + 1))
        }
        #expect(bench.agents.claimed(group: Array("w".utf8), topic: Array("jobs".utf8), claims: claims).isEmpty)
        bench.pass()
        #expect(bench.host.pushed.map(\.id) == Array(ids.prefix(2)))
        let g = try #require(bench.agents.groups.group(Array("jobs".utf8), Array("w".utf8)))
        let consumer = try #require(g.liveConsumers.first?.name)
        #expect(bench.agents.groups.deleteConsumer(g, consumer) == 2)
        bench.pass()
        #expect(sink.released.map { String(decoding: $0, as: UTF8.self) } == ["1-0", "1-1"])
        #expect(bench.host.pushed.map(\.id) == ids, "the queued claims go out")
        #expect(bench.agents.destroyGroup(topic: Array("jobs".utf8), name: Array("w".utf8)))
        bench.pass()
        #expect(Set(sink.released.map { String(decoding: $0, as: UTF8.self) }) == ["1-0", "1-1", "1-2", "1-3"])
        #expect(sink.answered.isEmpty)
    }
}
