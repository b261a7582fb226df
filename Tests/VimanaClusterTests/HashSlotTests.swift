import Testing
import VimanaCluster

/// CRC16 and the hash-tag rule, against Redis's published values.
@Suite struct HashSlotTests {
    @Test func crc16OfTheCheckStringIsRedisValue() {
        // Redis's crc16.c: "Output for "123456789" : 31C3".
        let crc = Array("123456789".utf8).withUnsafeBytes { HashSlot.crc16($0) }
        #expect(crc == 0x31C3)
        #expect([UInt8]().withUnsafeBytes { HashSlot.crc16($0) } == 0)
    }

    /// Slots from Redis's cluster specification and from `CLUSTER KEYSLOT`
    /// of redis-server 7.0.15 (the wire test checks ~200 keys live).
    @Test func slotsOfKnownKeys() {
        #expect(HashSlot.of(Array("foo".utf8)) == 12182)
        #expect(HashSlot.of(Array("bar".utf8)) == 5061)
        #expect(HashSlot.of(Array("123456789".utf8)) == 0x31C3 % 16384)
        #expect(HashSlot.of([]) == 0)
    }

    @Test func hashTagIsTheBytesBetweenTheFirstBraceAndTheNextClosingOne() {
        func slot(_ s: String) -> Int { HashSlot.of(Array(s.utf8)) }
        // Same tag, same slot.
        #expect(slot("{user1000}.following") == slot("user1000"))
        #expect(slot("{user1000}.followers") == slot("user1000"))
        // Only the first tag counts.
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        // An empty first tag: the whole key is hashed.
        #expect(slot("foo{}{bar}") != slot("bar"))
        #expect(slot("foo{}{bar}") == wholeKey("foo{}{bar}"))
        // The tag runs to the first `}` after the first `{`.
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        // `}` before any `{` is not a tag; no closing brace, no tag.
        #expect(slot("}foo{bar}") == slot("bar"))
        #expect(slot("foo}bar") == wholeKey("foo}bar"))
        #expect(slot("foo{bar") == wholeKey("foo{bar"))
        #expect(slot("{}") == wholeKey("{}"))
    }

    private func wholeKey(_ s: String) -> Int {
        Int(Array(s.utf8).withUnsafeBytes { HashSlot.crc16($0) } & 0x3FFF)
    }
}

@Suite struct ClusterNodeTests {
    @Test func parsesHostPortAndBracketedIPv6() {
        #expect(ClusterNode.parse("127.0.0.1:7000") == ClusterNode(host: "127.0.0.1", port: 7000))
        #expect(ClusterNode.parse("redis-1.example:65535") == ClusterNode(host: "redis-1.example", port: 65535))
        #expect(ClusterNode.parse("[::1]:7000") == ClusterNode(host: "::1", port: 7000))
        // Redis's MOVED writes a bare IPv6 address: the port is after the last colon.
        #expect(ClusterNode.parse("::1:7000") == ClusterNode(host: "::1", port: 7000))
        #expect(ClusterNode(host: "::1", port: 7000).description == "[::1]:7000")
        #expect(ClusterNode(host: "10.0.0.1", port: 1).description == "10.0.0.1:1")
    }

    @Test func rejectsPortsOutOfRangeAndMissingParts() {
        for bad in ["127.0.0.1", "127.0.0.1:", ":7000", "host:0", "host:65536", "host:99999999999999999999",
                    "host:+1", "host:-1", "host:7o00", "host:007000", "[::1]7000", "[::1", "[]:7000", "a b:1", ""] {
            #expect(ClusterNode.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct ClusterReplyTests {
    let from = ClusterNode(host: "10.0.0.9", port: 7009)

    @Test func redirectsAndRetriesAreClassified() throws {
        #expect(try ClusterReply.classify(.error("MOVED 3999 127.0.0.1:6381"), from: from)
            == .moved(slot: 3999, node: ClusterNode(host: "127.0.0.1", port: 6381)))
        #expect(try ClusterReply.classify(.error("ASK 16383 [::1]:7000"), from: from)
            == .ask(slot: 16383, node: ClusterNode(host: "::1", port: 7000)))
        // An unknown endpoint is written as an empty host: the node that answered.
        #expect(try ClusterReply.classify(.error("MOVED 0 :6380"), from: from)
            == .moved(slot: 0, node: ClusterNode(host: "10.0.0.9", port: 6380)))
        for code in ["TRYAGAIN Multiple keys request during rehashing of slot",
                     "CLUSTERDOWN The cluster is down", "LOADING Redis is loading the dataset in memory",
                     "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."] {
            #expect(try ClusterReply.classify(.error(code), from: from) == .retry(code))
        }
        #expect(try ClusterReply.classify(.error("ERR wrong number of arguments"), from: from) == .answer)
        #expect(try ClusterReply.classify(.error("MOVEDX 1 a:1"), from: from) == .answer)
        #expect(try ClusterReply.classify(.simpleString("MOVED 1 a:1"), from: from) == .answer)
        #expect(try ClusterReply.classify(.bulk("MOVED 1 a:1"), from: from) == .answer)
    }

    @Test func malformedRedirectsAreProtocolErrors() {
        for bad in ["MOVED 16384 127.0.0.1:7000", "MOVED -1 127.0.0.1:7000", "MOVED 1 127.0.0.1:0",
                    "MOVED 1 127.0.0.1:70000", "MOVED 1", "ASK x 127.0.0.1:7000", "ASK 1 127.0.0.1",
                    "MOVED 1 127.0.0.1:7000 extra", "MOVED 99999999999999999999999 a:1"] {
            #expect(throws: ClusterError.self, "\(bad)") { try ClusterReply.classify(.error(bad), from: from) }
        }
    }
}
