import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// A read of a topic with few entries among many of other topics looks at
/// the frames and in-memory records that hold its entries, not at the
/// whole ledger between its first and last (TopicRuns.swift).
@Suite(.serialized) struct SparseTopicReadTests {
    /// Two `small` entries, 3,000 `big` ones in frames of 10, two more
    /// `small`; all in one millisecond, so the index's time spans cannot
    /// tell the stretches apart. Returns the sequences of the `small` entries.
    @discardableResult
    func fill(_ ledger: Ledger, _ loop: TestLoop) -> [UInt64] {
        var small: [UInt64] = []
        func commit() {
            ledger.commit()
            #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        }
        small.append(ledger.publish("small", "s0", now: 5000))
        small.append(ledger.publish("small", "s1", now: 5000))
        commit()
        for i in 0..<3000 {
            ledger.publish("big", "\(i)-" + String(repeating: "x", count: 60), now: 5000)
            if i % 10 == 9 { commit() }
        }
        small.append(ledger.publish("small", "s2", now: 5000))
        small.append(ledger.publish("small", "s3", now: 5000))
        commit()
        return small
    }

    func config() -> LedgerConfig {
        var config = LedgerConfig(dir: temporaryDirectory())
        config.fsync = .no
        config.compactionLevel = nil
        return config
    }

    @Test func readOfASparseTopicInflatesOnlyItsFrames() throws {
        let loop = TestLoop()
        // Nothing kept in memory: every read goes to the segment file.
        let ledger = Ledger(config: config(), tailBytes: 0)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let small = fill(ledger, loop)
        #expect(ledger.segmentCount == 1)

        var before = ledger.stats.framesRead
        let all = ledger.range(topic: bytes("small"), from: .zero, to: .max, count: 100)
        #expect(all.map(\.sequence) == small)
        // The frame of s0 and s1 and the frame of s2 and s3; none of the 300 `big` frames.
        #expect(ledger.stats.framesRead - before == 2, "frames read: \(ledger.stats.framesRead - before)")

        before = ledger.stats.framesRead
        let last = ledger.range(topic: bytes("small"), from: .zero, to: .max, count: 1, reverse: true)
        #expect(last.map(\.sequence) == [small[3]])
        #expect(ledger.stats.framesRead - before == 1, "frames read: \(ledger.stats.framesRead - before)")

        // The busy topic is still read whole, in order.
        let big = ledger.range(topic: bytes("big"), from: .zero, to: .max, count: .max)
        #expect(big.count == 3000)
        #expect(big.map(\.sequence) == Array(small[1] + 1 ..< small[2]))
    }

    @Test func readOfASparseTopicInMemoryLooksOnlyAtItsRecords() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config())
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let small = fill(ledger, loop)
        // An entry not yet committed is read too.
        let pending = ledger.publish("small", "s4", now: 5000)

        let frames = ledger.stats.framesRead
        var before = ledger.stats.tailRecordsExamined
        let all = ledger.range(topic: bytes("small"), from: .zero, to: .max, count: 100)
        #expect(all.map(\.sequence) == small + [pending])
        #expect(ledger.stats.framesRead == frames)
        // Its two runs (s0 s1, s2 s3 s4): five records of 3,005, and s0 once
        // more to learn that the read starts in memory (Ledger.memoryStart).
        #expect(ledger.stats.tailRecordsExamined - before == 6, "examined: \(ledger.stats.tailRecordsExamined - before)")

        before = ledger.stats.tailRecordsExamined
        let reversed = ledger.range(topic: bytes("small"), from: .zero, to: .max, count: 100, reverse: true)
        #expect(reversed.map(\.sequence) == (small + [pending]).reversed())
        #expect(ledger.stats.tailRecordsExamined - before == 5, "examined: \(ledger.stats.tailRecordsExamined - before)")
        // Looked up by ID (XCLAIM), batches without the topic passed over.
        #expect(ledger.records(topic: bytes("small"), ids: all.map(\.id)).map { $0?.sequence } == all.map(\.sequence))
    }

    @Test func scatteredEntriesStayBoundedAndAreAllRead() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config(), tailBytes: 0)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        // 100 `rare` entries, each 100 records after the last: more runs than a topic keeps.
        var rare: [UInt64] = []
        for i in 0..<100 {
            rare.append(ledger.publish("rare", "r\(i)", now: 7000))
            for j in 0..<100 { ledger.publish("busy", "\(i)-\(j)", now: 7000) }
            ledger.commit()
            #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        }
        let index = try #require(bytes("rare").withUnsafeBytes { ledger.topics.find($0.baseAddress!, $0.count) })
        #expect(ledger.topicRuns[index].runs.count == LedgerLimits.topicRunsMax)
        let all = ledger.range(topic: bytes("rare"), from: .zero, to: .max, count: .max)
        #expect(all.map(\.sequence) == rare)
        let reversed = ledger.range(topic: bytes("rare"), from: .zero, to: .max, count: .max, reverse: true)
        #expect(reversed.map(\.sequence) == rare.reversed())
        // Every entry from the middle on, as XREAD asks.
        let after = ledger.entries(topic: bytes("rare"), after: all[49].id, count: .max)
        #expect(after.map(\.sequence) == Array(rare[50...]))
    }

    @Test func runsMergeAcrossTheSmallestGapAndAnswerWhatTheyHold() {
        var runs = TopicRuns()
        for k in 0..<UInt64(LedgerLimits.topicRunsMax) { runs.close(SequenceRun(first: k * 1000, last: k * 1000 + 1)) }
        #expect(runs.runs.count == LedgerLimits.topicRunsMax)
        // 10 after the last run: the smallest gap, merged with it.
        let end = UInt64(LedgerLimits.topicRunsMax - 1) * 1000 + 1
        runs.close(SequenceRun(first: end + 10, last: end + 12))
        #expect(runs.runs.count == LedgerLimits.topicRunsMax)
        #expect(runs.runs.last == SequenceRun(first: end - 1, last: end + 12))

        let places = TopicPlaces(knownFrom: 500, runs: [SequenceRun(first: 1000, last: 1001), SequenceRun(first: 2000, last: 2000)])
        #expect(places.mayHold(0, 10))          // before knownFrom: anything
        #expect(!places.mayHold(500, 1000))
        #expect(places.mayHold(1001, 1002))
        #expect(!places.mayHold(1002, 2000))
        #expect(places.mayHold(1500, 2001))
        #expect(!places.mayHold(2001, 9000))
        #expect(places.spans(0, 3000) == [0..<500, 1000..<1002, 2000..<2001])
        #expect(places.spans(1001, 2000) == [1001..<1002])
        #expect(TopicPlaces.anywhere.spans(7, 9) == [7..<9])

        runs.drop(below: 5000)
        #expect(runs.runs.first?.first == 5000)
    }
}
