import Foundation
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// A cluster master killed under federated kernels (a cluster of its own:
/// its nodes are killed). docs/FEDERATION.md: "the mirror's calls fail until
/// a replica is promoted, then it sends the same batch again to the new
/// master; nothing acknowledged is lost, nothing is stored twice".
@Suite(.serialized) struct FederationFailoverTests {
    /// The master of a topic killed for good (its host gone): the mirror
    /// finds the promoted replica and carries on; every entry reaches the
    /// other kernel and the cluster once.
    @Test func theMirrorCarriesOnOnThePromotedReplicaWhenTheMasterStaysDead() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 2)
        defer { cluster.stop() }
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        for n in 0..<20 { _ = try c1.call("XADD", "fed.jobs", "*", "payload", "a\(n)") }
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.jobs").count) == 20 })
        let master = try cluster.masterPort(forKey: "\(prefix):{fed.jobs}")
        cluster.kill(port: master)
        let errorsBefore = Int(try Federated.info(c1, "federation_errors") ?? "") ?? 0
        let began = Date()
        for n in 20..<40 { _ = try c1.call("XADD", "fed.jobs", "*", "payload", "a\(n)") }
        // Local traffic while the shard has no master: every record the
        // ledger confirms wakes the mirror, but a failed round is followed
        // by its pause (FederationLimits.retryMillis), not by another round
        // at once per confirmation.
        for n in 0..<2000 { _ = try c1.call("XADD", "local.notes", "*", "payload", "n\(n)") }
        let errors = (Int(try Federated.info(c1, "federation_errors") ?? "") ?? 0) - errorsBefore
        let seconds = Date().timeIntervalSince(began)
        #expect(errors <= 10 + Int(seconds * 10), "\(errors) failed rounds in \(seconds) s")
        let expected = (0..<40).map { "a\($0)" }
        #expect(Federated.eventually(90) { (try? Federated.payloads(c2, "fed.jobs")) == expected },
                "k2 has \((try? Federated.payloads(c2, "fed.jobs").count) ?? -1); k1: \((try? Federated.info(c1, "federation_last_error")) ?? "")")
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.jobs")
        #expect(inCluster == expected, "cluster: \(inCluster.count), twice: \(inCluster.repeated.prefix(5))")
    }

    /// The whole cluster stopped: each kernel serves its local bus (XADD is
    /// answered), `/health` says `federation degraded`; started again, the
    /// federated entries catch up by themselves, each once, in order per origin.
    @Test func federatedEntriesCatchUpAfterTheClusterIsStoppedAndStarted() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 1)
        defer { cluster.stop() }
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        for n in 0..<10 { _ = try c1.call("XADD", "fed.out", "*", "payload", "a\(n)") }
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.out").count) == 10 })
        cluster.stopAll()
        for n in 10..<60 {
            guard case .bulkString = try c1.call("XADD", "fed.out", "*", "payload", "a\(n)") else {
                Issue.record("XADD on k1 not answered with an ID while the cluster is down")
                return
            }
        }
        for n in 0..<10 { _ = try c2.call("XADD", "fed.out", "*", "payload", "b\(n)") }
        #expect(Federated.eventually(30) { (try? Federated.httpGet(k1.httpPort, "/health"))?.contains("federation degraded") == true })
        try cluster.startAll()
        let expected = Set((0..<60).map { "a\($0)" } + (0..<10).map { "b\($0)" })
        for (name, c) in [("k1", c1), ("k2", c2)] {
            #expect(Federated.eventually(90) { (try? Federated.payloads(c, "fed.out").count) ?? 0 >= expected.count }, "\(name) caught up")
            let stored = try Federated.payloads(c, "fed.out")
            #expect(stored.count == expected.count && Set(stored) == expected, "\(name): \(stored.count), twice: \(stored.repeated.prefix(5))")
            #expect(stored.filter { $0.hasPrefix("a") } == (0..<60).map { "a\($0)" }, "\(name): order of k1's")
            #expect(stored.filter { $0.hasPrefix("b") } == (0..<10).map { "b\($0)" }, "\(name): order of k2's")
        }
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.out")
        #expect(inCluster.count == expected.count && Set(inCluster) == expected, "cluster: \(inCluster.count)")
        #expect(Federated.eventually(30) { (try? Federated.httpGet(k1.httpPort, "/health"))?.contains("federation degraded") == false })
    }

    /// A cluster whose state is `fail` (a master without replicas killed:
    /// every node answers CLUSTERDOWN) stops the mirror; it says so, as
    /// FederationLimits.callSeconds promises ("before the thread records an
    /// error and starts over"), instead of retrying in silence for ever.
    @Test func theMirrorReportsAClusterThatStaysDown() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 0)
        defer { cluster.stop() }
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: "  wait_replicas: 0")
        let c1 = try Federated.connect(k1)
        _ = try c1.call("XADD", "fed.down", "*", "payload", "before")
        #expect(Federated.eventually(30) { (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.down")) == ["before"] })
        let topicMaster = try cluster.masterPort(forKey: "\(prefix):{fed.down}")
        let other = try #require(cluster.livePorts.first { port in cluster.slots(port: port)?.contains { $0.master == port } == true && port != topicMaster })
        cluster.kill(port: other)
        #expect(Federated.eventually(30) { cluster.command(port: topicMaster, ["SET", "{x}probe", "1"]).map { "\($0)" }?.contains("CLUSTERDOWN") == true })
        _ = try c1.call("XADD", "fed.down", "*", "payload", "while down")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_last_error"))?.hasPrefix("mirror") == true },
                "last error: \((try? Federated.info(c1, "federation_last_error")) ?? "nil")")
        try cluster.restart(port: other)
        try cluster.waitHealthy(timeout: 60)
        #expect(Federated.eventually(60) { (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.down")) == ["before", "while down"] })
    }

    /// A kernel asked to stop (SIGTERM) while every cluster node accepts
    /// connections and answers nothing (a partition) exits within a cluster
    /// call's time: the mirror's map refresh gives up at its deadline
    /// instead of waiting out a reply timeout per node.
    @Test func aKernelStopsPromptlyWhileTheClusterAnswersNothing() throws {
        // Nine nodes: a refresh that waits out a reply timeout per node takes 45 s and more.
        let cluster = try RedisCluster(masters: 3, replicas: 2)
        defer {
            for port in cluster.ports { cluster.thaw(port: port) }
            cluster.stop()
        }
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: "  wait_replicas: 0")
        let c1 = try Federated.connect(k1)
        _ = try c1.call("XADD", "fed.frozen", "*", "payload", "before")
        #expect(Federated.eventually(30) { (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.frozen")) == ["before"] })
        for port in cluster.ports { cluster.freeze(port: port) }
        _ = try c1.call("XADD", "fed.frozen", "*", "payload", "while frozen")
        // The mirror's call times out, and its next round asks the nodes for the map.
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_last_error"))?.hasPrefix("mirror") == true })
        // Its pause after the failure (retryMillis) is over: it is asking for the map now.
        usleep(1_000_000)
        let began = Date()
        let status = k1.terminate(signal: SIGTERM, timeout: 60)
        let seconds = Date().timeIntervalSince(began)
        #expect(status == 0)
        // A call in progress in each thread (FederationLimits.callSeconds, 5 s,
        // and a reply's timeout), with room for a loaded machine (14 s seen under
        // the full suite); with the refresh unbounded and the threads stopped in
        // turn, three nodes took 19.5 s and nine take 45 s and more.
        #expect(seconds < 30, "the kernel took \(seconds) s to stop")
    }
}
