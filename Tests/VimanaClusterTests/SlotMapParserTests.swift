import Testing
import VimanaCluster
import VimanaRESP

/// A reply written once and sent as RESP2 (maps as flat lists) or RESP3
/// (maps as `%`), then decoded by the client's own decoder, so the parser
/// sees exactly what a connection would hand it.
indirect enum Wire {
    case int(Int), str(String), null, list([Wire]), map([(String, Wire)])

    func encoded(resp3: Bool) -> [UInt8] {
        switch self {
        case .int(let n): return Array(":\(n)\r\n".utf8)
        case .str(let s): return Array("$\(s.utf8.count)\r\n\(s)\r\n".utf8)
        case .null: return Array((resp3 ? "_\r\n" : "$-1\r\n").utf8)
        case .list(let items): return Array("*\(items.count)\r\n".utf8) + items.flatMap { $0.encoded(resp3: resp3) }
        case .map(let pairs):
            let head = resp3 ? "%\(pairs.count)\r\n" : "*\(pairs.count * 2)\r\n"
            return Array(head.utf8) + pairs.flatMap { Wire.str($0.0).encoded(resp3: resp3) + $0.1.encoded(resp3: resp3) }
        }
    }

    func decoded(resp3: Bool) throws -> RESPValue {
        var d = ReplyDecoder()
        d.feed(encoded(resp3: resp3))
        guard case .value(let v) = try d.next() else { throw ParseFailure() }
        return v
    }

    struct ParseFailure: Error {}
}

/// A CLUSTER SHARDS node as Redis 7.0 writes it.
func shardNode(ip: String, endpoint: String? = nil, port: Wire, role: String, health: String = "online") -> Wire {
    .map([("id", .str(String(repeating: "a", count: 40))), ("port", port), ("ip", .str(ip)),
          ("endpoint", .str(endpoint ?? ip)), ("role", .str(role)), ("replication-offset", .int(0)),
          ("health", .str(health))])
}

@Suite struct SlotMapParserTests {
    let asked = "10.1.1.1"
    func node(_ port: Int, _ host: String = "127.0.0.1") -> ClusterNode { ClusterNode(host: host, port: port) }

    /// Three shards: one with two ranges (slot 12001 left unserved), one
    /// whose master's endpoint is unknown (`?`, empty ip: the asked host),
    /// one replica each, and a shard without slots (a failed master).
    var shards: Wire {
        .list([
            .map([("slots", .list([.int(0), .int(5460)])),
                  ("nodes", .list([shardNode(ip: "127.0.0.1", port: .int(7000), role: "master"),
                                   shardNode(ip: "127.0.0.1", port: .int(7003), role: "replica")]))]),
            .map([("slots", .list([.int(10923), .int(12000), .int(12002), .int(16383)])),
                  ("nodes", .list([shardNode(ip: "127.0.0.1", port: .int(7005), role: "replica"),
                                   shardNode(ip: "127.0.0.1", endpoint: "redis-c.example", port: .int(7002), role: "master")]))]),
            .map([("slots", .list([])),
                  ("nodes", .list([shardNode(ip: "127.0.0.1", port: .int(7009), role: "master", health: "fail")]))]),
            .map([("slots", .list([.int(5461), .int(10922)])),
                  ("nodes", .list([shardNode(ip: "", endpoint: "?", port: .int(7001), role: "master"),
                                   shardNode(ip: "127.0.0.1", port: .int(7004), role: "replica", health: "loading")]))]),
        ])
    }

    func checkThreeShards(_ map: SlotMap) {
        #expect(map.master(forSlot: 0) == node(7000))
        #expect(map.master(forSlot: 5460) == node(7000))
        #expect(map.master(forSlot: 5461) == node(7001, asked))
        #expect(map.master(forSlot: 10922) == node(7001, asked))
        #expect(map.master(forSlot: 12000) == node(7002, "redis-c.example"))
        #expect(map.master(forSlot: 12001) == nil)
        #expect(map.master(forSlot: 16383) == node(7002, "redis-c.example"))
        #expect(map.master(forSlot: 16384) == nil)
        #expect(map.master(forSlot: -1) == nil)
        #expect(map.servedSlots == 16383)
        #expect(map.shards == [
            ClusterShard(master: node(7000), replicas: [node(7003)], slots: [0...5460]),
            ClusterShard(master: node(7001, asked), replicas: [node(7004)], slots: [5461...10922]),
            ClusterShard(master: node(7002, "redis-c.example"), replicas: [node(7005)], slots: [10923...12000, 12002...16383]),
        ])
    }

    @Test func clusterShardsInRESP2AndRESP3() throws {
        for resp3 in [false, true] {
            checkThreeShards(try SlotMap.fromShards(try shards.decoded(resp3: resp3), askedHost: asked))
        }
    }

    /// CLUSTER SLOTS: `[start, end, [host, port, id], replicas…]`, 7.0 adds a
    /// metadata map (`*0` in RESP2, `%0` in RESP3); a null or `?` host is the asked host.
    @Test func clusterSlotsInRESP2AndRESP3() throws {
        func n(_ host: Wire, _ port: Int) -> Wire { .list([host, .int(port), .str("id"), .map([])]) }
        let slots = Wire.list([
            .list([.int(0), .int(5460), n(.str("127.0.0.1"), 7000), n(.str("127.0.0.1"), 7003)]),
            .list([.int(5461), .int(10922), n(.str("?"), 7001), n(.str("127.0.0.1"), 7004)]),
            .list([.int(10923), .int(12000), n(.str("redis-c.example"), 7002), n(.str("127.0.0.1"), 7005)]),
            .list([.int(12002), .int(16383), .list([.str("redis-c.example"), .int(7002)]), n(.str("127.0.0.1"), 7005)]),
        ])
        for resp3 in [false, true] {
            checkThreeShards(try SlotMap.fromSlots(try slots.decoded(resp3: resp3), askedHost: asked))
        }
        let nullHost = Wire.list([.list([.int(0), .int(16383), n(.null, 7000)])])
        #expect(try SlotMap.fromSlots(try nullHost.decoded(resp3: false), askedHost: asked).master(forSlot: 9) == node(7000, asked))
    }

    @Test func movedPatchesOneSlot() throws {
        var map = try SlotMap.fromShards(try shards.decoded(resp3: false), askedHost: asked)
        map.assign(slot: 100, to: node(7001, asked))
        map.assign(slot: 12001, to: node(7100))
        map.assign(slot: 16384, to: node(7100))
        #expect(map.master(forSlot: 100) == node(7001, asked))
        #expect(map.master(forSlot: 12001) == node(7100))
        #expect(map.shards.first?.slots == [0...99, 101...5460])
        #expect(map.shards.count == 4)
        #expect(map.servedSlots == 16384)
    }

    /// Each of these is a ClusterError, never a trap or a partial map.
    @Test func malformedShardsRepliesAreProtocolErrors() throws {
        func shard(_ slots: [Wire], _ nodes: [Wire]) -> Wire {
            .list([.map([("slots", .list(slots)), ("nodes", .list(nodes))])])
        }
        let master = shardNode(ip: "127.0.0.1", port: .int(7000), role: "master")
        let bad: [(String, Wire)] = [
            ("slot past the end", shard([.int(0), .int(16384)], [master])),
            ("negative slot", shard([.int(-1), .int(5)], [master])),
            ("start after end", shard([.int(9), .int(5)], [master])),
            ("odd slot list", shard([.int(0), .int(5), .int(7)], [master])),
            ("slot as a string", shard([.str("0"), .int(5)], [master])),
            ("port 0", shard([.int(0), .int(5)], [shardNode(ip: "127.0.0.1", port: .int(0), role: "master")])),
            ("port 70000", shard([.int(0), .int(5)], [shardNode(ip: "127.0.0.1", port: .int(70000), role: "master")])),
            ("port as a string", shard([.int(0), .int(5)], [shardNode(ip: "127.0.0.1", port: .str("7000"), role: "master")])),
            ("host with a space", shard([.int(0), .int(5)], [shardNode(ip: "a b", port: .int(7000), role: "master")])),
            ("slots without a master", shard([.int(0), .int(5)], [shardNode(ip: "127.0.0.1", port: .int(7000), role: "replica")])),
            ("no nodes field", .list([.map([("slots", .list([.int(0), .int(5)]))])])),
            ("shard not a map", .list([.list([.str("slots")])])),
            ("not an array", .int(3)),
            ("a slot claimed twice", .list([
                .map([("slots", .list([.int(0), .int(10)])), ("nodes", .list([master]))]),
                .map([("slots", .list([.int(10), .int(20)])),
                      ("nodes", .list([shardNode(ip: "127.0.0.1", port: .int(7001), role: "master")]))]),
            ])),
        ]
        for (what, reply) in bad {
            for resp3 in [false, true] {
                let value = try reply.decoded(resp3: resp3)
                #expect(throws: ClusterError.self, "\(what)") { try SlotMap.fromShards(value, askedHost: asked) }
            }
        }
        #expect(throws: ClusterError.self) { try SlotMap.fromShards(.error("ERR unknown subcommand"), askedHost: asked) }
    }

    @Test func malformedSlotsRepliesAreProtocolErrors() throws {
        let bad: [(String, Wire)] = [
            ("too short", .list([.list([.int(0), .int(5)])])),
            ("slot past the end", .list([.list([.int(0), .int(16384), .list([.str("h"), .int(1)])])])),
            ("port 0", .list([.list([.int(0), .int(5), .list([.str("h"), .int(0)])])])),
            ("port as a string", .list([.list([.int(0), .int(5), .list([.str("h"), .str("7000")])])])),
            ("node not a list", .list([.list([.int(0), .int(5), .str("h:7000")])])),
            ("node without a port", .list([.list([.int(0), .int(5), .list([.str("h")])])])),
            ("not an array", .str("slots")),
        ]
        for (what, reply) in bad {
            let value = try reply.decoded(resp3: false)
            #expect(throws: ClusterError.self, "\(what)") { try SlotMap.fromSlots(value, askedHost: asked) }
        }
    }
}
