import Testing
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// `entries-read` and `lag` as Redis 7.0 computes them
/// (streamEstimateDistanceFromFirstEverEntry, streamReplyWithCGLag).
@Suite struct EntriesReadTests {
    func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(ms: ms, seq: seq) }

    /// Entries 3-0 … 7-0 kept of 9 ever added (two retired by retention).
    var stream: StreamState {
        var s = StreamState()
        s.length = 5
        s.entriesAdded = 9
        s.first = id(3)
        s.lastID = id(7)
        s.maxDeleted = id(2)
        return s
    }

    @Test func theEstimateIsKnownAtTheEdgesOnly() {
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(7), in: stream) == 9, "the last entry")
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(3), in: stream) == 5, "the first kept: 9 - 5 + 1")
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(1), in: stream) == 4, "before the first: 9 - 5")
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(5), in: stream) == nil, "in between")
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(8), in: stream) == nil, "after the last")
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(8), in: StreamState()) == 0, "nothing ever added")
        var emptied = stream
        emptied.length = 0
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(5), in: emptied) == 9, "all retired")
        var gap = stream
        gap.maxDeleted = id(4)
        #expect(ConsumerGroup.estimatedEntriesRead(at: id(3), in: gap) == nil, "a deletion after the first entry")
    }

    @Test func lagUsesTheCountWhenKnownElseTheEstimate() {
        let g = ConsumerGroup(topic: [], name: [], lastDelivered: id(5))
        #expect(g.entriesRead == ConsumerGroup.entriesReadUnknown)
        #expect(g.lag(in: stream) == nil, "unknown count, ID in between: null")
        g.lastDelivered = id(7)
        #expect(g.lag(in: stream) == 0)
        g.entriesRead = 12
        #expect(g.lag(in: stream) == -3, "negative as Redis when ENTRIESREAD claimed more")
        #expect(g.lag(in: StreamState()) == 0, "nothing ever added")
    }

    @Test func aReadLearnsAnUnknownCountAndJournalsIt() throws {
        let store = GroupStore()
        var journal: [JournalRecord] = []
        store.journal = { journal.append($0); return nil }
        let state = stream
        store.streamState = { _ in state }
        let g = try #require(store.create(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: .zero))
        let c = store.consumer(g, Array("c".utf8), nowMillis: 0)
        store.deliver(g, id(3), to: c, nowMillis: 0)
        #expect(g.entriesRead == 5)
        let learnt = try #require(journal.last)
        #expect("\(learnt.op)" == "setid" && learnt.id == id(3) && learnt.count == 5)
        store.deliver(g, id(4), to: c, nowMillis: 0)
        #expect(g.entriesRead == 6, "a known count counts on")
        store.setID(g, id(5), entriesRead: nil)
        #expect(g.entriesRead == ConsumerGroup.entriesReadUnknown, "SETID without ENTRIESREAD: unknown, as Redis")
        store.advance(g, to: id(6))
        #expect(g.entriesRead == ConsumerGroup.entriesReadUnknown, "6-0 is in between: still unknown")
        store.advance(g, to: id(7))
        #expect(g.entriesRead == 9)
    }
}
