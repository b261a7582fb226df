import Foundation
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// What the cluster (or a foreign tool writing into it) can do to federated
/// kernels, on the shared cluster with a prefix of each test's own
/// (Protocol/FEDERATION.md §2, §4; docs/FEDERATION.md, when something fails).
@Suite(.serialized) struct FederationInputTests {
    /// A topic in `P:topics` whose stream the reader cannot read (a foreign
    /// tool made `P:{T}` a string: XREAD answers WRONGTYPE) costs that topic
    /// only: the topics after it are read and delivered as usual.
    @Test func aTopicTheReaderCannotReadDoesNotStopTheOthers() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let bad = "\(prefix):{fed.a}"
        #expect(cluster.command(port: try cluster.masterPort(forKey: bad), ["SET", bad, "not a stream"]) == .simple("OK"))
        let topics = "\(prefix):topics"
        #expect(cluster.command(port: try cluster.masterPort(forKey: topics), ["SADD", topics, "fed.a"]) == .integer(1))
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        _ = try c1.call("XADD", "fed.b", "*", "payload", "after the bad topic")
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.b")) == ["after the bad topic"] },
                "k2: \((try? Federated.info(c2, "federation_last_error")) ?? "")")
    }

    /// An entry a foreign tool appended whose `origin` is not a node id
    /// (here empty) is passed over and counted: taken in, it would have no
    /// origin in the ledger, and the mirror would send it back to the
    /// cluster as this kernel's own — stored twice.
    @Test func anEntryWithoutANodeIdAsOriginIsPassedOverNotMirroredBack() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let stream = "\(prefix):{fed.x}"
        let master = try cluster.masterPort(forKey: stream)
        guard case .bulk? = cluster.command(port: master, ["XADD", stream, "*", "origin", "", "seq", "1", "id", "1-1",
                                                           "ts", "1", "publisher", "", "payload", "foreign"]) else {
            Issue.record("XADD of the foreign entry failed")
            return
        }
        let topics = "\(prefix):topics"
        #expect(cluster.command(port: try cluster.masterPort(forKey: topics), ["SADD", topics, "fed.x"]) == .integer(1))
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix)
        let c1 = try Federated.connect(k1)
        #expect(Federated.eventually(30) {
            (try? Federated.info(c1, "federation_malformed_entries")) == "1" || (try? Federated.payloads(c1, "fed.x"))?.isEmpty == false
        })
        // A sentinel of k1's own: once it is in the cluster, anything mirrored before it is too.
        _ = try c1.call("XADD", "fed.x", "*", "payload", "mine")
        #expect(Federated.eventually(30) { (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.x"))?.last == "mine" })
        let inCluster = try Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.x")
        #expect(inCluster == ["foreign", "mine"])
        let local = try Federated.payloads(c1, "fed.x")
        #expect(local == ["mine"])
        #expect(try Federated.info(c1, "federation_malformed_entries") == "1")
    }

    /// A WAIT the cluster answers with an error (here an ACL user without
    /// WAIT) is a failed call, reported, retried after a pause: not a
    /// shortfall sent again at once forever while the status says `ok`.
    @Test func aWaitAnsweredWithAnErrorIsReportedNotRetriedInALoop() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let user = "nowait" + prefix
        for port in cluster.ports {
            #expect(cluster.command(port: port, ["ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-wait"]) == .simple("OK"))
        }
        defer { for port in cluster.ports { _ = cluster.command(port: port, ["ACL", "DELUSER", user]) } }
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: "  user: \(user)\n  password: secret")
        let c1 = try Federated.connect(k1)
        _ = try c1.call("XADD", "fed.w", "*", "payload", "one")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_last_error"))?.contains("WAIT") == true },
                "last error: \((try? Federated.info(c1, "federation_last_error")) ?? "nil")")
        #expect(try Federated.info(c1, "federation_status") == "degraded")
        #expect(try Federated.info(c1, "federation_wait_shortfalls") == "0")
        // The cursor never passes an entry WAIT did not acknowledge.
        #expect(try Federated.info(c1, "federation_mirror_lag") != "0")
    }

    /// A topic whose keys would have no hash tag (empty, or starting with
    /// `}`: `P:{}x}` hashes whole, `P:{}x}:origins` elsewhere, and the script
    /// is refused with CROSSSLOT) stays local: federated, it stopped the
    /// mirror's cursor for good, and every federated entry after it with it.
    @Test func aTopicWithoutAHashTagStaysLocalAndStopsNothing() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, topics: ["*"])
        let c1 = try Federated.connect(k1)
        _ = try c1.call("XADD", "}x", "*", "payload", "untagged")
        _ = try c1.call("XADD", "fed.after", "*", "payload", "after")
        #expect(Federated.eventually(30) { (try? Federated.clusterPayloads(cluster, prefix: prefix, topic: "fed.after")) == ["after"] },
                "k1: \((try? Federated.info(c1, "federation_last_error")) ?? "")")
        #expect(Federated.eventually(10) { (try? Federated.info(c1, "federation_mirror_lag")) == "0" })
        let topics = "\(prefix):topics"
        #expect(cluster.command(port: try cluster.masterPort(forKey: topics), ["SMEMBERS", topics]) == .array([.bulk("fed.after")]))
    }
}
