import Foundation
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// Three kernels and a real 3 × (1+2) Redis Cluster on loopback behave as
/// one bus for federated topics (issue 15 §3; Protocol/FEDERATION.md).
@Suite(.serialized) struct FederationWireTests {
    /// A message published on any kernel reaches the subscribers on every
    /// kernel once, in order per origin; XRANGE of the topic on every kernel
    /// holds the same entries; the cluster stores each once.
    @Test func publishedOnAnyKernelReachesEveryKernelOnceInOrderPerOrigin() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let kernels = try ["k1", "k2", "k3"].map { try Federated.kernel($0, cluster, prefix: prefix) }
        let subscribers = try kernels.map { k -> RESPConnection in
            let c = try Federated.connect(k)
            _ = try c.call("SUBSCRIBE", "fed.chat")
            return c
        }
        let publishers = try kernels.map { try Federated.connect($0) }
        let perKernel = 100
        for n in 0..<perKernel {
            for (i, p) in publishers.enumerated() {
                #expect(try p.call("PUBLISH", "fed.chat", "k\(i + 1)-\(n)") != nil)
            }
        }
        let total = perKernel * kernels.count
        let expected = Set((1...3).flatMap { i in (0..<perKernel).map { "k\(i)-\($0)" } })
        for (i, s) in subscribers.enumerated() {
            let got = Federated.messages(s, count: total, seconds: 60)
            #expect(got.count == total, "kernel k\(i + 1) subscriber got \(got.count) of \(total)")
            #expect(Set(got) == expected)
            #expect(got.repeated.isEmpty, "k\(i + 1) received twice: \(got.repeated.prefix(5))")
            for origin in 1...3 {
                let mine = got.filter { $0.hasPrefix("k\(origin)-") }
                #expect(mine == (0..<perKernel).map { "k\(origin)-\($0)" }, "order of k\(origin)'s on k\(i + 1)")
            }
        }
        for (i, p) in publishers.enumerated() {
            let stored = try Federated.payloads(p, "fed.chat")
            #expect(stored.count == total && Set(stored) == expected, "XRANGE on k\(i + 1): \(stored.count)")
            let mirrored = try Federated.info(p, "federation_mirrored_entries")
            let imported = try Federated.info(p, "federation_imported_entries")
            let status = try Federated.info(p, "federation_status")
            #expect(mirrored == String(perKernel), "k\(i + 1) mirrored \(mirrored ?? "nil")")
            #expect(imported == String(total - perKernel), "k\(i + 1) imported \(imported ?? "nil")")
            let lastError = try Federated.info(p, "federation_last_error") ?? ""
            #expect(status == "ok", "k\(i + 1): \(status ?? "nil"): \(lastError)")
        }
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.chat")
        #expect(inCluster.count == total && Set(inCluster) == expected)
        // INFO federation holds the lines Protocol/PROTOCOL.md lists, in its order.
        #expect(try Federated.infoFields(publishers[0], "federation") == Federated.documentedInfoFields("federation"))
        let metrics = try Federated.httpGet(kernels[0].httpPort, "/metrics")
        for family in ["vimana_federation_mirror_cursor", "vimana_federation_mirrored_entries_total", "vimana_federation_imported_entries_total"] {
            #expect(metrics.contains("\n# TYPE \(family) "), "/metrics lacks \(family)")
        }
    }

    /// A topic that matches no `federation.topics` pattern stays on its kernel.
    @Test func anUnfederatedTopicStaysLocal() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        _ = try c1.call("XADD", "local.notes", "*", "payload", "mine")
        _ = try c1.call("XADD", "fed.sync", "*", "payload", "shared")
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.sync")) == ["shared"] })
        #expect(try Federated.payloads(c2, "local.notes").isEmpty)
        let port = try cluster.masterPort(forKey: "\(prefix):topics")
        #expect(cluster.command(port: port, ["SMEMBERS", "\(prefix):topics"]) == .array([.bulk("fed.sync")]))
    }

    /// kill -9 of kernels while they publish and mirror: after restarts
    /// every kernel and the cluster hold each entry once.
    @Test func kernelsKilledMidRunCatchUpWithoutDuplicates() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        // Directories of the test's own: a ServerProcess made without one deletes its own when released.
        let dir1 = NSTemporaryDirectory() + "vimana-fed-\(UUID().uuidString)", dir2 = NSTemporaryDirectory() + "vimana-fed-\(UUID().uuidString)"
        var k1 = try Federated.kernel("k1", cluster, prefix: prefix, ledgerDirectory: dir1)
        var k2 = try Federated.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2)
        defer { for d in [dir1, dir2] { try? FileManager.default.removeItem(atPath: d) } }
        var c1 = try Federated.connect(k1)
        var c2 = try Federated.connect(k2)
        for n in 0..<100 { _ = try c1.call("XADD", "fed.jobs", "*", "payload", "a\(n)") }
        for n in 0..<50 { _ = try c2.call("XADD", "fed.jobs", "*", "payload", "b\(n)") }
        // Killed at once: the mirror may have appended without writing its
        // cursor, the reader may have appended without writing its file.
        k1.stop()
        k2.stop()
        k1 = try Federated.kernel("k1", cluster, prefix: prefix, ledgerDirectory: dir1)
        c1 = try Federated.connect(k1)
        for n in 100..<150 { _ = try c1.call("XADD", "fed.jobs", "*", "payload", "a\(n)") }
        k2 = try Federated.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2)
        c2 = try Federated.connect(k2)
        let expected = Set((0..<150).map { "a\($0)" } + (0..<50).map { "b\($0)" })
        for (name, c) in [("k1", c1), ("k2", c2)] {
            #expect(Federated.eventually(60) { (try? Federated.payloads(c, "fed.jobs").count) ?? 0 >= expected.count },
                    "\(name) caught up")
            let stored = try Federated.payloads(c, "fed.jobs")
            #expect(stored.repeated.isEmpty, "\(name) stored twice: \(stored.repeated.prefix(5))")
            #expect(Set(stored) == expected)
        }
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.jobs")
        #expect(inCluster.repeated.isEmpty && Set(inCluster) == expected, "cluster: \(inCluster.count)")
    }
}
