import Testing
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// `ConsumerGroup.lag`: what AGENTS, /health and /metrics call an agent's
/// `lag` (Protocol/AGENTS.md §7), from the stream's counters only.
@Suite struct GroupLagTests {
    /// A stream that kept `length` of `added` entries, `first` to `last`.
    func stream(added: UInt64, length: UInt64, first: StreamID?, last: StreamID) -> StreamState {
        var s = StreamState()
        s.entriesAdded = added
        s.length = length
        s.first = first
        s.lastID = last
        return s
    }

    func group(at id: StreamID, read: Int64) -> ConsumerGroup {
        ConsumerGroup(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: id, entriesRead: read)
    }

    @Test func lagIsWhatTheGroupHasNotDelivered() {
        let s = stream(added: 10, length: 10, first: StreamID(ms: 1, seq: 0), last: StreamID(ms: 10, seq: 0))
        #expect(group(at: .zero, read: 0).lag(s) == 10)
        #expect(group(at: StreamID(ms: 4, seq: 0), read: 4).lag(s) == 6)
        #expect(group(at: StreamID(ms: 10, seq: 0), read: 10).lag(s) == 0)
        // At the end whatever entries-read says (a group created at `$` without ENTRIESREAD).
        #expect(group(at: StreamID(ms: 10, seq: 0), read: 0).lag(s) == 0)
        // Unknown entries-read (-1): at most what the stream keeps.
        #expect(group(at: StreamID(ms: 4, seq: 0), read: -1).lag(s) == 10)
        // ENTRIESREAD above what was added: nothing behind.
        #expect(group(at: StreamID(ms: 4, seq: 0), read: .max).lag(s) == 0)
    }

    @Test func lagCountsOnlyEntriesStillKept() {
        // Retention kept 3 of 10: a group before the first kept lags by those 3.
        let s = stream(added: 10, length: 3, first: StreamID(ms: 8, seq: 0), last: StreamID(ms: 10, seq: 0))
        #expect(group(at: StreamID(ms: 2, seq: 0), read: 2).lag(s) == 3)
        #expect(group(at: StreamID(ms: 8, seq: 0), read: 8).lag(s) == 2)
        #expect(group(at: .zero, read: 0).lag(stream(added: 5, length: 0, first: nil, last: StreamID(ms: 5, seq: 0))) == 0)
    }
}
