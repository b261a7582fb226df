import Testing
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// The group journal is read back on every start: its numbers are range-
/// checked like a client's, and what is counted on from them saturates, so
/// a value journaled once (by a client, or by an older version) cannot make
/// every restart crash.
@Suite struct JournalReplayTests {
    let topic = Array("t".utf8), name = Array("g".utf8)

    func record(_ fields: [(String, String)], micros: Int64 = 1_700_000_000_000_000) -> LedgerRecord {
        LedgerRecord(sequence: 1, id: StreamID(ms: 1, seq: 0), timestampMicros: micros, clientID: 0,
                     topic: GroupStore.journalTopic, clientName: [],
                     fields: fields.map { LedgerRecord.Field(name: Array($0.0.utf8), value: Array($0.1.utf8)) })
    }

    func create(entriesRead: String) -> [(String, String)] {
        [("op", "create"), ("topic", "t"), ("group", "g"), ("id", "5-0"), ("entries-read", entriesRead)]
    }

    /// The group after replaying a `create` with `entries-read` set to `text`.
    func replayedCreate(_ text: String) -> ConsumerGroup? {
        let store = GroupStore()
        store.replay([record(create(entriesRead: text))], nowMillis: 0)
        return store.group(topic, name)
    }

    @Test(arguments: ["-9223372036854775808", "-2", "9223372036854775808", "18446744073709551616",
                      "100000000000000000000", "+5", " 5", "5 ", "05", "-0", "", "x", "0x10", "1e3"])
    func entriesReadOutOfRangeOrMalformedReplaysAsAbsent(_ text: String) throws {
        let g = try #require(replayedCreate(text))
        #expect(g.entriesRead == ConsumerGroup.entriesReadUnknown, "'\(text)'")
        #expect(g.lastDelivered == StreamID(ms: 5, seq: 0))
    }

    @Test(arguments: [("-1", Int64(-1)), ("0", 0), ("42", 42), ("9223372036854775807", Int64.max)])
    func entriesReadInRangeIsKept(_ text: String, _ value: Int64) throws {
        #expect(try #require(replayedCreate(text)).entriesRead == value)
    }

    @Test func countingOnFromTheLargestEntriesReadSaturates() throws {
        let g = try #require(replayedCreate("9223372036854775807"))
        g.deliver(StreamID(ms: 6, seq: 0), to: g.consumer(Array("c".utf8), nowMillis: 0) ?? 0, nowMillis: 0)
        g.advance(to: StreamID(ms: 7, seq: 0))
        #expect(g.entriesRead == Int64.max)
    }

    @Test func setIDAndSnapshotWithAnOutOfRangeCountReplayItAsUnknown() throws {
        let store = GroupStore()
        store.replay([record(create(entriesRead: "3")),
                      record([("op", "setid"), ("topic", "t"), ("group", "g"), ("id", "9-0"), ("entries-read", "-5")]),
                      record([("op", "snapshot"), ("topic", "t"), ("group", "g"), ("id", "9-0"),
                              ("entries-read", "-9223372036854775808")])], nowMillis: 0)
        let g = try #require(store.group(topic, name))
        #expect(g.lastDelivered == StreamID(ms: 9, seq: 0))
        #expect(g.entriesRead == ConsumerGroup.entriesReadUnknown, "out-of-range counts replay as absent (unknown)")
    }

    @Test func deliveryCountsSaturate() throws {
        let store = GroupStore()
        store.replay([record(create(entriesRead: "0")),
                      record([("op", "deliver"), ("topic", "t"), ("group", "g"), ("consumer", "c"), ("id", "6-0"),
                              ("deliveries", "9223372036854775807")]),
                      record([("op", "pending"), ("topic", "t"), ("group", "g"), ("consumer", "d"),
                              ("ids", "7-0 8-0 9-0"), ("counts", "9223372036854775807 x 99999999999999999999")])],
                     nowMillis: 0)
        let g = try #require(store.group(topic, name))
        #expect(g.entry(StreamID(ms: 6, seq: 0))?.deliveries == Int.max)
        #expect(g.entry(StreamID(ms: 7, seq: 0))?.deliveries == Int.max)
        #expect(g.entry(StreamID(ms: 8, seq: 0))?.deliveries == 1, "a malformed count replays as 1")
        #expect(g.entry(StreamID(ms: 9, seq: 0))?.deliveries == 1)
        // A redelivery counts on from the largest count without trapping.
        let c = try #require(g.consumer(Array("c".utf8), nowMillis: 0))
        #expect(store.deliver(g, StreamID(ms: 6, seq: 0), to: c, nowMillis: 0) == Int.max)
        #expect(store.deliver(g, StreamID(ms: 7, seq: 0), to: c, nowMillis: 0) == Int.max)
    }

    @Test(arguments: ["-5", "-9223372036854775808", "x", "9223372036854775808"])
    func aNackDueTimeOutOfRangeIsIgnored(_ text: String) throws {
        let store = GroupStore()
        store.replay([record(create(entriesRead: "0")),
                      record([("op", "deliver"), ("topic", "t"), ("group", "g"), ("consumer", "c"), ("id", "6-0"),
                              ("deliveries", "1")]),
                      record([("op", "nack"), ("topic", "t"), ("group", "g"), ("id", "6-0"), ("at", text)])],
                     nowMillis: 0)
        #expect(try #require(store.group(topic, name)).entry(StreamID(ms: 6, seq: 0))?.eligibleAtMillis == 0)
    }

    @Test func aNackDueTimeInRangeIsKept() throws {
        let store = GroupStore()
        store.replay([record(create(entriesRead: "0")),
                      record([("op", "deliver"), ("topic", "t"), ("group", "g"), ("consumer", "c"), ("id", "6-0")]),
                      record([("op", "nack"), ("topic", "t"), ("group", "g"), ("id", "6-0"), ("at", "9223372036854775807")])],
                     nowMillis: 0)
        #expect(try #require(store.group(topic, name)).entry(StreamID(ms: 6, seq: 0))?.eligibleAtMillis == Int64.max)
    }
}
