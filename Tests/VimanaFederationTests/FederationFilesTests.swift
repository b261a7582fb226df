import Testing
@testable import VimanaFederation

/// The pieces of Protocol/FEDERATION.md a stranger's tool must agree with:
/// key names, the entry's positional fields, the cursor files.
@Suite struct FederationFormatTests {
    @Test func keysCarryTheTopicAsTheirHashTag() {
        let keys = FederationKeys(prefix: "vimana")
        #expect(keys.stream(Array("orders".utf8)) == Array("vimana:{orders}".utf8))
        #expect(keys.origins(Array("orders".utf8)) == Array("vimana:{orders}:origins".utf8))
        #expect(keys.topics == Array("vimana:topics".utf8))
        #expect(keys.doorbell == Array("vimana:doorbell".utf8))
    }

    @Test func federatedTopicsMatchTheGlobsButNeverTheServersOwn() {
        let topics = FederatedTopics(["orders.*", "chat", "*"])
        #expect(topics.contains(Array("orders.eu".utf8)))
        #expect(topics.contains(Array("chat".utf8)))
        #expect(!topics.contains(Array("_vimana.groups".utf8)))
        // No hash tag for their keys: never federated, whatever the patterns.
        #expect(!topics.contains([]))
        #expect(!topics.contains(Array("}x".utf8)))
        #expect(topics.contains(Array("x}".utf8)))
        let narrow = FederatedTopics(["orders.*"])
        #expect(!narrow.contains(Array("ordersX".utf8)))
    }

    @Test func anEntryDecodesFromItsPositionalFields() throws {
        let flat = ["origin", "k1", "seq", "42", "id", "1700000000000-3", "ts", "1700000000000123", "publisher", "alice",
                    "origin", "not the origin", "payload", "hi"].map { Array($0.utf8) }
        let e = try #require(FederatedEntry.decode(flat))
        #expect(e.origin == Array("k1".utf8))
        #expect(e.sequence == 42)
        #expect(e.originID == Array("1700000000000-3".utf8))
        #expect(e.timestampMicros == 1_700_000_000_000_123)
        #expect(e.publisher == Array("alice".utf8))
        #expect(e.fields == ["origin", "not the origin", "payload", "hi"].map { Array($0.utf8) })
    }

    @Test func malformedEntriesAreRefused() {
        func flat(_ words: [String]) -> [[UInt8]] { words.map { Array($0.utf8) } }
        let good = ["origin", "k", "seq", "1", "id", "1-1", "ts", "5", "publisher", ""]
        #expect(FederatedEntry.decode(flat(good)) != nil)
        #expect(FederatedEntry.decode(flat(Array(good.dropLast(2)))) == nil)            // four pairs
        #expect(FederatedEntry.decode(flat(good + ["odd"])) == nil)                       // odd count
        var swapped = good; swapped[0] = "seq"; swapped[2] = "origin"
        #expect(FederatedEntry.decode(flat(swapped)) == nil)                              // names out of place
        for bad in ["0", "-1", "01", "1.5", "18446744073709551616", "", "x"] {
            var g = good; g[3] = bad
            #expect(FederatedEntry.decode(flat(g)) == nil, "seq \(bad)")
        }
        var hugeTs = good; hugeTs[7] = "9223372036854775808"
        #expect(FederatedEntry.decode(flat(hugeTs)) == nil)
        // The origin is a node id: never empty (the entry would pass for this kernel's own).
        for bad in ["", "a b", "k=1", "k\n", String(repeating: "k", count: 65), "{t}"] {
            var g = good; g[1] = bad
            #expect(FederatedEntry.decode(flat(g)) == nil, "origin \(bad.debugDescription)")
        }
        var longest = good; longest[1] = String(repeating: "k", count: 64)
        #expect(FederatedEntry.decode(flat(longest)) != nil)
    }

    @Test func theReadersCursorFileRoundTripsTopicsWithAnyBytes() throws {
        var state = ImportState()
        state.asOf = 1234
        var a = TopicCursor()
        a.lastID = Array("1700-0".utf8)
        a.high = [Array("k1".utf8): 17, Array("k2".utf8): 99]
        state.topics[Array("orders".utf8)] = a
        state.topics[Array("two words\nand a newline 5 x".utf8)] = TopicCursor()
        state.topics[[]] = a
        let bytes = FederationFiles.encode(state)
        #expect(FederationFiles.decode(bytes) == state)
    }

    @Test func aDamagedCursorFileIsRefusedNotTrusted() {
        var state = ImportState()
        state.asOf = 7
        var c = TopicCursor()
        c.high = [Array("k1".utf8): 3]
        state.topics[Array("t".utf8)] = c
        let good = FederationFiles.encode(state)
        // Protocol/FEDERATION.md §5, byte for byte.
        #expect(good == Array("as-of 7\n1 t 0-0 k1=3\n".utf8))
        #expect(FederationFiles.decode(good) != nil)
        #expect(FederationFiles.decode(Array(good.dropLast())) == nil)              // no final newline
        #expect(FederationFiles.decode(Array("as-of 7\n9 t 0-0\n".utf8)) == nil)     // length past the end
        #expect(FederationFiles.decode(Array("as-of 7\n1 t 0-0 k1=x\n".utf8)) == nil)
        #expect(FederationFiles.decode(Array("as-of x\n".utf8)) == nil)
        #expect(FederationFiles.decode(Array("as-of 7\n99999999999999999999999 t 0-0\n".utf8)) == nil)
    }
}
