import Foundation
import Testing
import VimanaClient
import VimanaCluster
import VimanaCore
import VimanaRESP
import VimanaTestSupport

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func settings(_ cluster: RedisCluster, password: String? = nil, user: String? = nil) -> ClusterSettings {
    ClusterSettings(seeds: cluster.seeds.compactMap(ClusterNode.parse), user: user, password: password ?? cluster.password,
                    clientName: "vimana-cluster-test")
}

func node(_ port: Int) -> ClusterNode { ClusterNode(host: "127.0.0.1", port: port) }

/// Tests against real clusters of redis-server 7.0.15 on loopback. One at a
/// time: forming a cluster loads the machine, and a loaded machine delays
/// the cluster bus's pings, which can look like a failure to the nodes.
@Suite(.serialized) struct ClusterClientTests {
    // MARK: - On the shared cluster (no node killed, no slot moved)

    /// ~200 keys, the hash-tag edge cases and binary ones included: the
    /// client's slot is the node's `CLUSTER KEYSLOT`.
    @Test func hashSlotAgreesWithClusterKeyslot() throws {
        let cluster = try RedisCluster.shared()
        var keys: [[UInt8]] = ["{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap",
                               "foo{bar}{zap}", "{}", "{}x", "x{}", "}{", "}foo{bar}", "foo}bar{zap}", "{a", "a}",
                               "{{}}", "{ }", "", "123456789", "vimana:{orders.eu}", "vimana:{orders.eu}:origins"].map(bytes)
        var rng = SplitMix(seed: 15)
        while keys.count < 200 {
            let length = Int(rng.next() % 24)
            // Binary bytes, braces made common so that tags appear often.
            keys.append((0..<length).map { _ in
                let r = rng.next()
                return r % 5 == 0 ? (r % 2 == 0 ? UInt8(ascii: "{") : UInt8(ascii: "}")) : UInt8(truncatingIfNeeded: r >> 8)
            })
        }
        let c = try RESPConnection(host: "127.0.0.1", port: cluster.ports[0])
        try c.write(keys.flatMap { CommandEncoding.encode([bytes("CLUSTER"), bytes("KEYSLOT"), $0]) })
        for key in keys {
            let reply = try c.readValue()
            #expect(reply == .integer(HashSlot.of(key)), "key \(RESPValue.quoted(key))")
        }
    }

    /// 1000 keys through `call(key:)`: each answered by, and stored on, the
    /// master CLUSTER KEYSLOT and CLUSTER SLOTS name; every master gets some.
    @Test func callStoresEachKeyOnTheMasterOfItsSlot() throws {
        let cluster = try RedisCluster.shared()
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let keys = (0..<1000).map { bytes("store-test:\($0)") }
        var answeredBy: [ClusterNode] = []
        for (i, key) in keys.enumerated() {
            let (reply, by) = try client.call(key: key, [bytes("SET"), key, bytes("value \(i)")])
            #expect(reply == .simpleString("OK"))
            answeredBy.append(by)
        }
        // What the cluster itself says, asked of one node on its own connection.
        let c = try RESPConnection(host: "127.0.0.1", port: cluster.ports[1])
        try c.write(keys.flatMap { CommandEncoding.encode([bytes("CLUSTER"), bytes("KEYSLOT"), $0]) })
        let slots = try keys.map { _ in try c.readValue().integer ?? -1 }
        let map = try #require(cluster.slots(port: cluster.ports[1]))
        for (i, key) in keys.enumerated() {
            let owner = try #require(map.first { $0.range.contains(slots[i]) })
            #expect(answeredBy[i] == node(owner.master), "key \(i)")
            // Stored there: that node answers GET itself (no MOVED).
            #expect(try client.call(node: answeredBy[i], [bytes("GET"), key]) == .bulk("value \(i)"))
        }
        #expect(Set(answeredBy).count == 3)
        #expect(Set(client.masters) == Set(map.map { node($0.master) }))
        #expect(try client.master(forKey: keys[7]) == answeredBy[7])
        #expect(client.stats.moved == 0)
    }

    /// The map from CLUSTER SHARDS and from CLUSTER SLOTS, in RESP2 and RESP3,
    /// of a real node: the same masters, replicas and ranges.
    @Test func slotMapsFromShardsAndSlotsAgreeInBothProtocols() throws {
        let cluster = try RedisCluster.shared()
        var maps: [SlotMap] = []
        for resp3 in [false, true] {
            let c = try RESPConnection(host: "127.0.0.1", port: cluster.ports[2])
            if resp3 { try c.hello(3) }
            maps.append(try SlotMap.fromShards(try c.call("CLUSTER", "SHARDS"), askedHost: "127.0.0.1"))
            maps.append(try SlotMap.fromSlots(try c.call("CLUSTER", "SLOTS"), askedHost: "127.0.0.1"))
        }
        let reference = try #require(cluster.slots(port: cluster.ports[2]))
        #expect(Set(reference.map(\.master)).count == 3)
        for (i, map) in maps.enumerated() {
            #expect(map.servedSlots == 16384)
            #expect(map.shards.count == 3)
            #expect(map.shards.map(\.master) == maps[0].shards.map(\.master))
            for (k, shard) in map.shards.enumerated() {
                let entries = reference.filter { $0.master == shard.master.port }
                #expect(!entries.isEmpty)
                #expect(shard.slots == entries.map(\.range))
                // SHARDS lists every replica; SLOTS leaves out those with
                // replication offset 0 (cluster.c isReplicaAvailable): some of them.
                if i % 2 == 0 {
                    #expect(shard.replicas.count == 2)
                } else {
                    #expect(Set(shard.replicas).isSubset(of: Set(maps[i - 1].shards[k].replicas)))
                }
            }
        }
    }

    /// Replies in order from one node in one write; a MOVED among them is
    /// returned as it came, and the map still routes that key right.
    @Test func pipelineToOneNodeReturnsRepliesInOrder() throws {
        let cluster = try RedisCluster.shared()
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let here = bytes("pipeline-test:{a}")
        let target = try client.master(forKey: here)
        // A key of another master's slot.
        let elsewhere = try #require((0..<100).map { bytes("pipeline-test:\($0)") }
            .first { try client.master(forKey: $0) != target })
        let replies = try client.pipeline(node: target, [[bytes("SET"), here, bytes("1")], [bytes("INCR"), here],
                                                         [bytes("GET"), elsewhere], [bytes("GET"), here]])
        #expect(replies.count == 4)
        #expect(replies[0] == .simpleString("OK"))
        #expect(replies[1] == .integer(2))
        guard case .error(let moved) = replies[2] else { Issue.record("expected MOVED, got \(replies[2])"); return }
        #expect(moved.hasPrefix("MOVED \(HashSlot.of(elsewhere)) 127.0.0.1:\(try cluster.masterPort(forKeyBytes: elsewhere))"))
        #expect(replies[3] == .bulk("2"))
        #expect(try client.master(forKey: elsewhere).port == (try cluster.masterPort(forKeyBytes: elsewhere)))
        #expect(try client.pipeline(node: target, []) == [])
    }

    /// A PUBLISH on one node reaches a subscriber on another (cluster-wide
    /// pub/sub); with nothing published, `next` times out with nil.
    @Test func subscriberReceivesPublishSentOnAnotherNode() throws {
        let cluster = try RedisCluster.shared()
        var s = settings(cluster)
        s.seeds = [node(cluster.ports[0])]
        let channel = bytes("vimana:doorbell:test")
        let subscriber = try ClusterSubscriber(s, channel: channel)
        defer { subscriber.close() }
        #expect(subscriber.node == node(cluster.ports[0]))
        let began = Clock.monotonicNanos()
        #expect(try subscriber.next(timeout: 0.2) == nil)
        #expect(Clock.monotonicNanos() - began >= 150_000_000)
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let payload: [UInt8] = [0, 1, 2, 13, 10, 255] + bytes("orders.eu")
        // Published on another node: that node has no subscriber of its own.
        #expect(try client.call(node: node(cluster.ports[4]), [bytes("PUBLISH"), channel, payload]) == .integer(0))
        #expect(try subscriber.next(timeout: 10) == payload)
        _ = try client.call(node: node(cluster.ports[7]), [bytes("PUBLISH"), bytes("another channel"), bytes("x")])
        _ = try client.call(node: node(cluster.ports[8]), [bytes("PUBLISH"), channel, bytes("second")])
        #expect(try subscriber.next(timeout: 10) == bytes("second"))
    }

    // MARK: - Slot migration (a cluster of its own: 3 masters, no replicas)

    /// A slot moved whole (IMPORTING, MIGRATING, MIGRATE, SETSLOT NODE) after
    /// the client fetched its map: the old master answers MOVED, the client
    /// follows it to the new one and patches its map.
    @Test func movedAfterASlotMigrationIsFollowedAndTheMapUpdated() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 0)
        defer { cluster.stop() }
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let key = bytes("moved-test:{topic}")
        #expect(try client.call(key: key, [bytes("SET"), key, bytes("before")]).reply == .simpleString("OK"))
        let source = try client.master(forKey: key)
        let destination = try #require(client.masters.first { $0 != source })
        try migrate(cluster, slot: HashSlot.of(key), keys: [key], from: source.port, to: destination.port)
        #expect(try cluster.masterPort(forKeyBytes: key) == destination.port)
        #expect(client.slotMap?.master(forSlot: HashSlot.of(key)) == source)

        let (reply, by) = try client.call(key: key, [bytes("GET"), key])
        #expect(reply == .bulk("before"))
        #expect(by == destination)
        #expect(client.stats.moved == 1)
        #expect(client.slotMap?.master(forSlot: HashSlot.of(key)) == destination)
        // The next call fetches the whole map again first.
        let refreshes = client.stats.refreshes
        #expect(try client.call(key: key, [bytes("SET"), key, bytes("after")]).node == destination)
        #expect(client.stats.refreshes == refreshes + 1)
        #expect(client.stats.moved == 1)
    }

    /// Mid-migration, a key already moved: the source answers ASK, the
    /// client sends ASKING and the command to the destination, and its map
    /// keeps the source (ASK is a one-off). A key not yet moved is served
    /// by the source.
    @Test func askDuringAMigrationIsFollowedWithAsking() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 0)
        defer { cluster.stop() }
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let moved = bytes("ask-test:{topic}:moved"), stays = bytes("ask-test:{topic}:stays")
        for key in [moved, stays] { _ = try client.call(key: key, [bytes("SET"), key, key]) }
        let slot = HashSlot.of(moved)
        let source = try client.master(forKey: moved)
        let destination = try #require(client.masters.first { $0 != source })
        let sourceID = try nodeID(cluster, source.port), destinationID = try nodeID(cluster, destination.port)
        #expect(cluster.command(port: destination.port, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID]) == .simple("OK"))
        #expect(cluster.command(port: source.port, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", destinationID]) == .simple("OK"))
        #expect(cluster.command(port: source.port, [bytes("MIGRATE"), bytes("127.0.0.1"), bytes(String(destination.port)),
                                                    moved, bytes("0"), bytes("5000")]) == .simple("OK"))

        let (reply, by) = try client.call(key: moved, [bytes("GET"), moved])
        #expect(reply == .bulk(String(decoding: moved, as: UTF8.self)))
        #expect(by == destination)
        #expect(client.stats.asked == 1)
        #expect(client.slotMap?.master(forSlot: slot) == source)
        let (other, otherBy) = try client.call(key: stays, [bytes("GET"), stays])
        #expect(other == .bulk(String(decoding: stays, as: UTF8.self)))
        #expect(otherBy == source)
        #expect(client.stats.asked == 1)
        #expect(client.stats.moved == 0)
        // Without ASKING the destination refuses the key: the redirect was needed.
        guard case .error(let refusal) = try client.call(node: destination, [bytes("GET"), moved]) else {
            Issue.record("the destination served a key of a slot it is only importing")
            return
        }
        #expect(refusal.hasPrefix("MOVED"))
    }

    /// With no replica to take over, a dead master's keys fail after the
    /// deadline, not before it and not long after.
    @Test func callThrowsWhenTheDeadlinePassesWithTheMasterDown() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 0)
        defer { cluster.stop() }
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let key = bytes("deadline-test")
        _ = try client.call(key: key, [bytes("SET"), key, bytes("1")])
        let master = try client.master(forKey: key)
        cluster.kill(port: master.port)
        let began = Clock.monotonicNanos()
        var thrown: ClusterError?
        do {
            _ = try client.call(key: key, [bytes("GET"), key], within: 1.5)
        } catch {
            thrown = error
        }
        let seconds = Double(Clock.monotonicNanos() - began) / 1e9
        let error = try #require(thrown)
        #expect(seconds >= 1.5 && seconds < 5, "\(seconds) s")
        #expect("\(error)".contains(String(master.port)) || "\(error)".contains("cluster down"), "\(error)")
        #expect(client.stats.retries > 1)
    }

    // MARK: - Failover (a cluster of its own: 3 masters × 2 replicas)

    /// SIGKILL of the master of a key: `call` retries through the failover
    /// and succeeds, within 30 s, on the replica that took over.
    @Test func callSucceedsOnThePromotedReplicaAfterTheMasterIsKilled() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 2)
        defer { cluster.stop() }
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let key = bytes("failover-test:{orders}")
        #expect(try client.call(key: key, [bytes("SET"), key, bytes("1")]).reply == .simpleString("OK"))
        let master = try client.master(forKey: key)
        // Both replicas have the write before the kill.
        #expect(try client.call(node: master, [bytes("WAIT"), bytes("2"), bytes("5000")], readTimeout: 10) == .integer(2))
        let replicas = try #require(client.shards.first { $0.master == master }).replicas
        #expect(replicas.count == 2)
        cluster.kill(port: master.port)
        let began = Clock.monotonicNanos()
        let (reply, by) = try client.call(key: key, [bytes("INCR"), key], within: 30)
        let seconds = Double(Clock.monotonicNanos() - began) / 1e9
        // The write was replicated before the kill (replicas linked, then idle): the value survives.
        #expect(reply == .integer(2))
        #expect(replicas.contains(by), "answered by \(by), replicas \(replicas)")
        #expect(seconds < 30)
        try cluster.waitHealthy(timeout: 60)
        #expect(try cluster.masterPort(forKeyBytes: key) == by.port)
        #expect(try client.master(forKey: key) == by)
        // The old master comes back as a replica of the new one.
        try cluster.restart(port: master.port)
        try cluster.waitHealthy(timeout: 60, replicasLinked: true)
        #expect(try client.call(key: key, [bytes("GET"), key]) .reply == .bulk("2"))
        print("failover: call succeeded \(String(format: "%.1f", seconds)) s after SIGKILL of the master; cluster formed in \(String(format: "%.1f", cluster.formationSeconds)) s")
    }

    // MARK: - Outage (a cluster of its own, stopped and started whole)

    /// Every node stopped: `call` fails at its deadline (nothing answers);
    /// started again from their directories, the nodes have the data and
    /// the same client carries on, reconnecting by itself.
    @Test func clientCarriesOnAfterTheWholeClusterIsStoppedAndStarted() throws {
        let cluster = try RedisCluster(masters: 3, replicas: 1)
        defer { cluster.stop() }
        let client = ClusterClient(settings(cluster))
        defer { client.close() }
        let keys = (0..<30).map { bytes("outage-test:\($0)") }
        for key in keys { _ = try client.call(key: key, [bytes("SET"), key, key]) }
        cluster.stopAll()
        #expect(cluster.livePorts.isEmpty)
        let began = Clock.monotonicNanos()
        #expect(throws: ClusterError.self) { _ = try client.call(key: keys[0], [bytes("GET"), keys[0]], within: 1) }
        #expect(Clock.monotonicNanos() - began < 4_000_000_000)
        #expect(throws: ClusterError.self) { try client.refreshSlots() }
        try cluster.startAll()
        #expect(cluster.livePorts.count == 6)
        for key in keys {
            #expect(try client.call(key: key, [bytes("GET"), key], within: 30).reply == .bulkString(key))
        }
    }

    // MARK: - Authentication (a cluster of its own with requirepass and masterauth)

    @Test func authWithRequirepassAndMasterauth() throws {
        let password = "cluster-test-secret-\(UUID().uuidString.prefix(8))"
        let cluster = try RedisCluster(masters: 3, replicas: 1, password: password)
        defer { cluster.stop() }
        // Replicas authenticated to their masters (masterauth): the cluster formed with links up.
        for form in [settings(cluster, password: password), settings(cluster, password: password, user: "default")] {
            let client = ClusterClient(form)
            defer { client.close() }
            for i in 0..<30 {
                let key = bytes("auth-test:\(i)")
                #expect(try client.call(key: key, [bytes("SET"), key, bytes("v")]).reply == .simpleString("OK"))
            }
            #expect(client.masters.count == 3)
            // CLIENT SETNAME ran after AUTH on each connection.
            guard case .bulkString(let name) = try client.call(node: client.masters[0], [bytes("CLIENT"), bytes("GETNAME")]) else {
                Issue.record("no client name")
                continue
            }
            #expect(name == bytes("vimana-cluster-test"))
        }
        // Without a password: the node's NOAUTH refusal of CLUSTER SHARDS
        // (no map), or of CLIENT SETNAME when a name is set (`.auth`).
        var none = settings(cluster)
        none.password = nil
        #expect {
            try ClusterClient(none).refreshSlots()
        } throws: { error in
            guard case ClusterError.auth(_, let why) = error else { return false }
            return why.contains("NOAUTH")
        }
        none.clientName = nil
        #expect {
            try ClusterClient(none).refreshSlots()
        } throws: { error in
            guard case ClusterError.noSlotMap(let why) = error else { return false }
            return why.contains("NOAUTH")
        }
        // A wrong password: `.auth` at once, and the password is not in the message.
        let wrong = "not-the-\(password)"
        let began = Clock.monotonicNanos()
        #expect {
            _ = try ClusterClient(settings(cluster, password: wrong)).call(key: bytes("k"), [bytes("GET"), bytes("k")], within: 20)
        } throws: { error in
            guard case ClusterError.auth = error else { return false }
            return !"\(error)".contains(wrong) && !"\(error)".contains(password)
        }
        #expect(Clock.monotonicNanos() - began < 5_000_000_000)
        #expect {
            _ = try ClusterSubscriber(settings(cluster, password: wrong), channel: bytes("c"))
        } throws: { error in
            if case ClusterError.auth = error { return true }
            return false
        }
    }

    // MARK: - Helpers

    /// Moves `slot` (and `keys`) from one master to another the way redis-cli
    /// reshards: IMPORTING, MIGRATING, MIGRATE, then SETSLOT NODE on every master.
    func migrate(_ cluster: RedisCluster, slot: Int, keys: [[UInt8]], from: Int, to: Int) throws {
        let sourceID = try nodeID(cluster, from), destinationID = try nodeID(cluster, to)
        #expect(cluster.command(port: to, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID]) == .simple("OK"))
        #expect(cluster.command(port: from, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", destinationID]) == .simple("OK"))
        for key in keys {
            #expect(cluster.command(port: from, [bytes("MIGRATE"), bytes("127.0.0.1"), bytes(String(to)), key, bytes("0"), bytes("5000")])
                == .simple("OK"))
        }
        for port in [to, from] + cluster.livePorts.filter({ $0 != to && $0 != from }) {
            #expect(cluster.command(port: port, ["CLUSTER", "SETSLOT", String(slot), "NODE", destinationID]) == .simple("OK"))
        }
    }

    func nodeID(_ cluster: RedisCluster, _ port: Int) throws -> String {
        guard case .bulk(let id)? = cluster.command(port: port, ["CLUSTER", "MYID"]) else {
            throw TestFailure("no CLUSTER MYID from \(port)")
        }
        return id
    }
}

/// A small deterministic generator (SplitMix64) for reproducible keys.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
