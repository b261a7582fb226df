import Foundation
import Synchronization
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// Faults of the cluster under federated load (issue 15 §3): each test has
/// a cluster of its own, since it kills or stops its nodes.
@Suite(.serialized) struct FederationFaultTests {
    /// Publishes `payload`s numbered from 0 on `topic` through `c` until
    /// told to stop; the count acknowledged is what must not be lost.
    final class Load: @unchecked Sendable {
        let acknowledged = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let failures = Atomic<Int>(0)
        private var thread: Thread?

        init(_ port: Int, topic: String, prefix: String) {
            let t = Thread { [self] in
                guard let c = try? RESPConnection(host: "127.0.0.1", port: port) else { failures.add(1, ordering: .relaxed); return }
                var n = 0
                while !stopping.load(ordering: .relaxed) {
                    guard case .bulkString? = try? c.call("XADD", topic, "*", "payload", "\(prefix)\(n)") else {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                    n += 1
                    acknowledged.store(n, ordering: .relaxed)
                    // About a thousand a second: enough to span each failover,
                    // few enough that the checks read every entry quickly.
                    usleep(1_000)
                }
            }
            thread = t
            t.start()
        }

        /// Stops and returns how many were acknowledged.
        func finish() -> Int {
            stopping.store(true, ordering: .relaxed)
            while !(thread?.isFinished ?? true) { usleep(10_000) }
            return acknowledged.load(ordering: .relaxed)
        }
    }

    /// kill -9 of the master of a federated topic's slot, three times,
    /// while a kernel publishes: no entry acknowledged to the publisher is
    /// lost, none is stored twice, in the cluster or on the other kernel,
    /// and publishers never wait for the cluster.
    @Test func aMasterKilledThreeTimesDuringLoadLosesNothingAndStoresNothingTwice() throws {
        let cluster = try RedisCluster()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let load = Load(k1.port, topic: "fed.load", prefix: "n")
        let key = "\(prefix):{fed.load}"
        for round in 1...3 {
            // Some entries in before each kill.
            let before = load.acknowledged.load(ordering: .relaxed)
            #expect(Federated.eventually(30) { load.acknowledged.load(ordering: .relaxed) >= before + 200 }, "round \(round): load moves")
            let master = try cluster.masterPort(forKey: key)
            cluster.kill(port: master)
            // Served again by a promoted replica, then the old master back as a replica.
            try cluster.waitHealthy(timeout: 90)
            try cluster.restart(port: master)
            try cluster.waitHealthy(timeout: 90, replicasLinked: true)
        }
        let total = load.finish()
        #expect(load.failures.load(ordering: .relaxed) == 0, "the publisher saw errors")
        let expected = Set((0..<total).map { "n\($0)" })
        let c2 = try Federated.connect(k2)
        #expect(Federated.eventually(120) { (try? Federated.payloads(c2, "fed.load").count) ?? 0 >= total }, "k2 caught up")
        let onK2 = try Federated.payloads(c2, "fed.load")
        #expect(Federated.difference(onK2, expected) == nil, "k2")
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.load")
        #expect(Federated.difference(inCluster, expected) == nil, "the cluster")
        let c1 = try Federated.connect(k1)
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_mirror_lag")) == "0" })
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_status")) == "ok" })
    }

    /// The whole cluster stopped for 30 s: each kernel's local bus goes on
    /// (publishes answered, local subscribers served), /health and INFO say
    /// federation is degraded, and once the cluster is back everything
    /// federated meanwhile reaches the other kernel once.
    @Test func aClusterStoppedForThirtySecondsIsCaughtUpWithNothingLostOrDoubled() throws {
        let cluster = try RedisCluster()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        _ = try c1.call("XADD", "fed.outage", "*", "payload", "before")
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.outage")) == ["before"] })
        let local = try Federated.connect(k1)
        _ = try local.call("SUBSCRIBE", "fed.outage")

        cluster.stopAll()
        let stoppedAt = Date()
        for n in 0..<200 {
            guard case .integer = try c1.call("PUBLISH", "fed.outage", "during\(n)") else {
                Issue.record("PUBLISH \(n) during the outage was not answered")
                break
            }
        }
        #expect(Federated.messages(local, count: 200, seconds: 30).count == 200, "local subscribers served during the outage")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_status")) == "degraded" })
        let health = try Federated.httpGet(k1.httpPort, "/health")
        #expect(health.contains("federation degraded"), "health: \(health)")
        #expect(try Federated.info(c1, "federation_mirror_lag").flatMap(Int.init) ?? 0 > 0)
        // The outage lasts 30 s in all: the scenario itself, not a wait for a condition.
        let rest = 30 - Date().timeIntervalSince(stoppedAt)
        if rest > 0 { usleep(UInt32(rest * 1_000_000)) }
        try cluster.startAll()

        let expected = ["before"] + (0..<200).map { "during\($0)" }
        #expect(Federated.eventually(120) { (try? Federated.payloads(c2, "fed.outage").count) ?? 0 >= expected.count })
        let onK2 = try Federated.payloads(c2, "fed.outage")
        #expect(onK2 == expected, "k2 holds \(onK2.count), in order: \(onK2 == expected)")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_status")) == "ok" })
        var lag: String?
        #expect(Federated.eventually(30) { lag = try? Federated.info(c1, "federation_mirror_lag"); return lag == "0" },
                "mirror lag \(lag ?? "nil")")
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.outage")
        #expect(inCluster == expected)
    }
}

/// WAIT is not consensus: the replica promoted after a failover may lack
/// entries WAIT acknowledged. The cluster's loss is played here exactly
/// (the last entries deleted and the high mark set back, as a promoted
/// replica without them would have it); the mirror must find the gap at
/// its next append and send them again, in order, from its ledger.
@Suite struct FederationGapTests {
    @Test func entriesTheClusterLostAfterWaitAreSentAgainInOrder() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        for n in 0..<20 { _ = try c1.call("XADD", "fed.gap", "*", "payload", "e\(n)") }
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_mirrored_entries")) == "20" })
        // The cluster loses the last five: gone from the stream, and the high mark back before them.
        let key = "\(prefix):{fed.gap}", origins = "\(prefix):{fed.gap}:origins"
        let port = try cluster.masterPort(forKey: key)
        guard case .array(let entries)? = cluster.command(port: port, ["XRANGE", key, "-", "+"]), entries.count == 20 else {
            throw TestFailure("the cluster does not hold the 20 entries")
        }
        func idAndSeq(_ e: RESP) -> (String, String)? {
            guard case .array(let pair) = e, case .bulk(let id) = pair[0], case .array(let f) = pair[1], f.count > 3,
                  case .bulk(let seq) = f[3] else { return nil }
            return (id, seq)
        }
        let lost = entries.suffix(5).compactMap(idAndSeq)
        guard lost.count == 5, let kept = idAndSeq(entries[14]) else { throw TestFailure("entries not as §2 says") }
        #expect(cluster.command(port: port, ["XDEL", key] + lost.map(\.0)) == .integer(5))
        #expect(cluster.command(port: port, ["HSET", origins, "k1", kept.1]) == .integer(0))
        // The next entry finds the gap: the five are sent again before it.
        _ = try c1.call("XADD", "fed.gap", "*", "payload", "e20")
        let expected = (0...20).map { "e\($0)" }
        var inCluster: [String] = []
        #expect(Federated.eventually(30) {
            inCluster = (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.gap")) ?? []
            return inCluster.count >= 21
        }, "the cluster holds \(inCluster.count)")
        #expect(inCluster == expected, "the cluster: \(inCluster)")
        #expect(try Federated.info(c1, "federation_rewinds") == "1")
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.gap")) == expected })
    }
}
