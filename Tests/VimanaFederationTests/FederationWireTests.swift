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
            #expect(Federated.difference(got, expected) == nil, "k\(i + 1)'s subscriber")
            for origin in 1...3 {
                let mine = got.filter { $0.hasPrefix("k\(origin)-") }
                #expect(mine == (0..<perKernel).map { "k\(origin)-\($0)" }, "order of k\(origin)'s on k\(i + 1)")
            }
        }
        for (i, p) in publishers.enumerated() {
            let stored = try Federated.payloads(p, "fed.chat")
            #expect(Federated.difference(stored, expected) == nil, "XRANGE on k\(i + 1)")
            let mirrored = try Federated.info(p, "federation_mirrored_entries")
            let imported = try Federated.info(p, "federation_imported_entries")
            let status = try Federated.info(p, "federation_status")
            #expect(mirrored == String(perKernel), "k\(i + 1) mirrored \(mirrored ?? "nil")")
            #expect(imported == String(total - perKernel), "k\(i + 1) imported \(imported ?? "nil")")
            let lastError = try Federated.info(p, "federation_last_error") ?? ""
            #expect(status == "ok", "k\(i + 1): \(status ?? "nil"): \(lastError)")
        }
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.chat")
        #expect(Federated.difference(inCluster, expected) == nil, "the cluster")
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
        // k1 as if killed before it ever wrote its cursors: its mirror sends
        // everything again and its reader reads the cluster from the start,
        // and neither may store anything twice.
        for file in ["mirror", "import"] { try? FileManager.default.removeItem(atPath: dir1 + "/federation/" + file) }
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
            #expect(Federated.difference(stored, expected) == nil, "\(name)")
        }
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.jobs")
        #expect(Federated.difference(inCluster, expected) == nil, "the cluster")
    }

    /// A second kernel with another ledger under a node id already taken
    /// federates nothing (it would share the first one's high marks and
    /// skip its entries as its own) and says why; the first is unaffected.
    @Test func aNodeIdTakenByAnotherLedgerIsRefused() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let first = try Federated.kernel("twin", cluster, prefix: prefix)
        let c1 = try Federated.connect(first)
        _ = try c1.call("XADD", "fed.twin", "*", "payload", "one")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_mirrored_entries")) == "1" })
        let second = try Federated.kernel("twin", cluster, prefix: prefix)
        let c2 = try Federated.connect(second)
        var lastError = ""
        #expect(Federated.eventually(30) {
            lastError = (try? Federated.info(c2, "federation_last_error")) ?? ""
            return lastError.contains("node id 'twin' belongs to another kernel's ledger")
        }, "last error: \(lastError)")
        #expect(try Federated.info(c2, "federation_status") == "degraded")
        _ = try c2.call("XADD", "fed.twin", "*", "payload", "two")
        let other = try Federated.kernel("other", cluster, prefix: prefix)
        let c3 = try Federated.connect(other)
        #expect(Federated.eventually(30) { (try? Federated.payloads(c3, "fed.twin")) == ["one"] })
        #expect(try Federated.payloads(c2, "fed.twin") == ["two"], "the refused kernel imported nothing")
        #expect(try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.twin") == ["one"])
        #expect(try Federated.info(c1, "federation_status") == "ok")
    }

    /// Doorbells that keep coming less than a millisecond apart (another
    /// kernel mirroring a thousand one-entry batches a second, played here
    /// by the test) do not hold the reader back: k1's entries reach k2
    /// while they ring. The reader once took doorbells for as long as they
    /// kept coming and read nothing until they stopped (in the bench, k2
    /// fell up to 3.7 s behind the cluster).
    @Test func aFloodOfDoorbellsDoesNotHoldTheReaderBack() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        _ = try c1.call("XADD", "fed.steady", "*", "payload", "first")
        #expect(Federated.eventually(30) { (try? c2.call("XLEN", "fed.steady")) == .integer(1) })
        // One ringer per node, back to back: a node hands its subscribers
        // other nodes' messages in bursts, so one ringer alone leaves gaps.
        let flooding = FederationTaskTests.Instance.Flag()
        let rang = FederationTaskTests.Work()
        defer { flooding.raise() }
        for address in cluster.seeds {
            let parts = address.split(separator: ":")
            let box = FederationTaskTests.UncheckedSendable(try RESPConnection(host: String(parts[0]), port: Int(parts[1]) ?? 0))
            let ringer = Thread {
                while !flooding.isRaised {
                    for _ in 0..<5 { try? box.value.send("PUBLISH", "\(prefix):doorbell", "kX fed.noise") }
                    for _ in 0..<5 { _ = try? box.value.readValue() }
                    rang.acked()
                }
                box.value.close()
            }
            ringer.start()
        }
        #expect(Federated.eventually(10) { rang.acks >= 50 }, "the flood rings")
        for n in 0..<100 { _ = try c1.call("XADD", "fed.steady", "*", "payload", "p\(n)") }
        let ringing = rang.acks
        let began = Date()
        let imported = Federated.eventually(30) { (try? c2.call("XLEN", "fed.steady")) == .integer(101) }
        let took = Date().timeIntervalSince(began)
        // About 0.1 s here; when the reader waited for the doorbells to stop, the whole flood.
        #expect(imported && took < 5, "k2 imported k1's 100 entries in \(took) s while the doorbells rang")
        #expect(rang.acks > ringing, "the doorbells were still ringing")
    }
}
