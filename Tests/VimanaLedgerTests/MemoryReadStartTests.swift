import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// A forward read from an ID the in-memory tail holds for its topic starts
/// there (`Ledger.memoryStart`): no segment frame is inflated and the tail
/// is not walked from its start, and what it returns is exactly what the
/// read of the whole ledger would (older entries of the topic on disk,
/// newer in memory, seals and retention moving the boundary between them).
@Suite(.serialized) struct MemoryReadStartTests {
    /// The topic's entries as appended: sequence and ID, oldest first.
    struct Entry { let sequence: UInt64; let id: StreamID }

    /// A tail that keeps some dozens of the last entries of each
    /// topic: the older entries are on disk only.
    let smallTail = Batch(firstSequence: 0).footprint * 60

    func config() -> LedgerConfig {
        var config = LedgerConfig(dir: temporaryDirectory())
        config.fsync = .no
        config.compactionLevel = nil
        return config
    }

    /// `count` entries of "t", one every 10 ms (so an ID lies strictly
    /// between two of them), each followed by one of "o", committed ten
    /// records at a time and written.
    func fill(_ ledger: Ledger, _ loop: TestLoop, count: Int, startMs: UInt64 = 10_000) -> [Entry] {
        var out: [Entry] = []
        for i in 0..<count {
            let ms = startMs + UInt64(i) * 10
            let seq = ledger.publish("t", "t\(i)-" + String(repeating: "abcdefgh", count: 8), now: ms)
            ledger.publish("o", "o\(i)-" + String(repeating: "12345678", count: 8), now: ms)
            out.append(Entry(sequence: seq, id: StreamID(ms: ms, seq: 0)))
            if i % 5 == 4 {
                ledger.commit()
                #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
            }
        }
        ledger.commit()
        #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        return out
    }

    /// The read every fast path must equal: the topic's entries from
    /// `from` on, read from the segment files alone (the same directory
    /// opened again with nothing in memory) — or, while `ledger` is open,
    /// from what was appended.
    func expected(_ entries: [Entry], from: StreamID, count: Int) -> [UInt64] {
        Array(entries.filter { $0.id >= from }.prefix(count).map(\.sequence))
    }

    /// The IDs a read may start from around the memory's first entry of "t":
    /// the entry itself, between it and the next, a later one, between the
    /// last on disk and it, the last on disk, and from the start.
    func boundaries(_ entries: [Entry], firstInMemory k: Int) -> (inMemory: [StreamID], needDisk: [StreamID]) {
        let inMemory = [entries[k].id, StreamID(ms: entries[k].id.ms + 1, seq: 0), entries[k + 1].id,
                        StreamID(ms: entries[k + 1].id.ms, seq: 1), entries[(k + entries.count) / 2].id,
                        entries[entries.count - 1].id]
        let needDisk = [StreamID(ms: entries[k - 1].id.ms + 1, seq: 0), entries[k - 1].id, entries[k - 2].id, .zero]
        return (inMemory, needDisk)
    }

    /// The index of the first entry with a sequence in memory.
    func firstInMemory(_ ledger: Ledger, _ entries: [Entry]) throws -> Int {
        try #require(entries.firstIndex { $0.sequence >= ledger.tailFirstSequence })
    }

    @Test func readsFromAnIDInMemoryInflateNoFrameAndReturnTheSameEntries() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config(), tailBytes: smallTail)
        _ = try ledger.open(notify: loop.notify)
        var entries = fill(ledger, loop, count: 600)
        // And some not yet committed (the current batch).
        for i in 600..<603 {
            let ms = 10_000 + UInt64(i) * 10
            entries.append(Entry(sequence: ledger.publish("t", "t\(i)", now: ms), id: StreamID(ms: ms, seq: 0)))
        }
        guard let k = entries.firstIndex(where: { $0.sequence >= ledger.tailFirstSequence }), k > 100, k < entries.count - 10 else {
            Issue.record("the tail should hold the last few dozen entries of 603; first in memory \(String(describing: entries.firstIndex(where: { $0.sequence >= ledger.tailFirstSequence })))")
            ledger.close()
            return
        }
        let (inMemory, needDisk) = boundaries(entries, firstInMemory: k)

        for from in inMemory {
            for count in [1, 3, 1000] {
                let frames = ledger.stats.framesRead, examined = ledger.stats.tailRecordsExamined
                let got = ledger.range(topic: bytes("t"), from: from, to: .max, count: count)
                #expect(got.map(\.sequence) == expected(entries, from: from, count: count), "from \(from) count \(count)")
                #expect(ledger.stats.framesRead == frames, "from \(from): frames read")
                // Bisection of the memory, then the entries returned (and the "o" between them).
                let looked = ledger.stats.tailRecordsExamined - examined
                #expect(looked <= 200 + 2 * got.count, "from \(from): \(looked) records looked at")
            }
            // XREAD after the entry before, when the memory holds it: the same entries.
            if let after = entries.last(where: { $0.id < from }), after.sequence >= ledger.tailFirstSequence {
                let frames = ledger.stats.framesRead
                let got = ledger.entries(topic: bytes("t"), after: after.id, count: 1000)
                #expect(got.map(\.sequence) == expected(entries, from: from, count: 1000))
                #expect(ledger.stats.framesRead == frames)
            }
        }
        for from in needDisk {
            let got = ledger.range(topic: bytes("t"), from: from, to: .max, count: 1000)
            #expect(got.map(\.sequence) == expected(entries, from: from, count: 1000), "from \(from)")
        }
        // A bounded range ending in memory, and one ending before it.
        let mid = entries[(k + entries.count) / 2].id
        #expect(ledger.range(topic: bytes("t"), from: entries[k].id, to: mid, count: 1000).map(\.sequence)
                == entries.filter { $0.id >= entries[k].id && $0.id <= mid }.map(\.sequence))
        #expect(ledger.range(topic: bytes("t"), from: entries[k + 1].id, to: entries[k].id, count: 10).isEmpty)

        // Every record equals the one read from the files alone.
        let all = ledger.range(topic: bytes("t"), from: entries[k].id, to: .max, count: 1000)
        let reopened = Ledger(config: ledger.config, tailBytes: 0)
        ledger.close()
        _ = try reopened.open(notify: loop.notify)
        defer { reopened.close() }
        let cold = reopened.range(topic: bytes("t"), from: entries[k].id, to: .max, count: 1000)
        #expect(cold == all)
        #expect(cold.count == entries.count - k)
    }

    @Test func lookupsByIDInMemoryInflateNoFrame() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config(), tailBytes: smallTail)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let entries = fill(ledger, loop, count: 600)
        let k = try firstInMemory(ledger, entries)
        let wanted = [entries[k], entries[k + 2], entries[entries.count - 1]]
        let frames = ledger.stats.framesRead
        let found = ledger.records(topic: bytes("t"), ids: wanted.map(\.id) + [StreamID(ms: entries[entries.count - 1].id.ms + 1, seq: 0)])
        #expect(found.map { $0?.sequence } == wanted.map(\.sequence) + [nil])
        #expect(ledger.stats.framesRead == frames)
        // One on disk among them: read from its frame.
        let mixed = ledger.records(topic: bytes("t"), ids: [entries[k - 1].id, entries[k].id])
        #expect(mixed.map { $0?.sequence } == [entries[k - 1].sequence, entries[k].sequence])
    }

    @Test func aSealedSegmentAndRetentionMoveTheBoundaryAndReadsFollow() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config(), tailBytes: smallTail)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        var entries = fill(ledger, loop, count: 300)
        // Sealed: the records in memory are now those of a sealed segment.
        #expect(ledger.requestSeal())
        #expect(loop.pump { ledger.segmentCount == 2 })
        var k = try firstInMemory(ledger, entries)
        for from in [entries[k].id, StreamID(ms: entries[k].id.ms + 1, seq: 0), entries[k - 1].id, .zero] {
            #expect(ledger.range(topic: bytes("t"), from: from, to: .max, count: 1000).map(\.sequence)
                    == expected(entries, from: from, count: 1000), "from \(from)")
        }
        // More in the new active segment: the memory's first entry moves on,
        // past the sealed segment's end.
        entries += fill(ledger, loop, count: 300, startMs: 20_000)
        k = try firstInMemory(ledger, entries)
        #expect(entries[k].sequence > ledger.segments[0].index.nextSequence)
        let (inMemory, needDisk) = boundaries(entries, firstInMemory: k)
        for from in inMemory + needDisk + [entries[299].id, entries[300].id, StreamID(ms: entries[299].id.ms + 1, seq: 0)] {
            let frames = ledger.stats.framesRead
            #expect(ledger.range(topic: bytes("t"), from: from, to: .max, count: 1000).map(\.sequence)
                    == expected(entries, from: from, count: 1000), "from \(from)")
            if inMemory.contains(from) { #expect(ledger.stats.framesRead == frames, "from \(from): frames read") }
        }

        // Retention retires the sealed segment: its entries are gone for every read.
        ledger.retentionOverride = 1
        #expect(ledger.enforceRetention(nowMicros: Int64(Clock.wallMillis()) * 1000).count == 1)
        let kept = entries.filter { $0.sequence >= ledger.segments[0].index.firstSequence }
        #expect(kept.count == 300)
        for from in [entries[0].id, entries[299].id, entries[300].id, entries[k].id, StreamID(ms: entries[k].id.ms + 1, seq: 0)] {
            #expect(ledger.range(topic: bytes("t"), from: from, to: .max, count: 1000).map(\.sequence)
                    == expected(kept, from: from, count: 1000), "from \(from)")
        }
    }

    /// Everything in memory (the default tail): a read from the end of a
    /// long topic looks at a few dozen records, not at every entry before.
    @Test func aReadNearTheEndOfALongTopicInMemoryLooksAtFewRecords() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: config())
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let entries = fill(ledger, loop, count: 2000)
        #expect(ledger.tailFirstSequence == entries[0].sequence)
        let from = entries[1990].id
        let examined = ledger.stats.tailRecordsExamined
        let got = ledger.range(topic: bytes("t"), from: from, to: .max, count: 100)
        #expect(got.map(\.sequence) == expected(entries, from: from, count: 100))
        let looked = ledger.stats.tailRecordsExamined - examined
        #expect(looked < 120, "\(looked) records looked at for 10 entries of 4,000 records")
        // From the first entry: one probe, then the read.
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 2).map(\.sequence) == [entries[0].sequence, entries[1].sequence])
        #expect(ledger.range(topic: bytes("t"), from: entries[0].id, to: .max, count: 2).map(\.sequence) == [entries[0].sequence, entries[1].sequence])
        // From past the last entry (a catch-up that finds nothing new): nothing, and no record looked at.
        let before = ledger.stats.tailRecordsExamined
        if let next = entries[1999].id.successor {
            #expect(ledger.range(topic: bytes("t"), from: next, to: .max, count: 100).isEmpty)
        }
        #expect(ledger.stats.tailRecordsExamined == before, "a read past the end looks at nothing")
        #expect(ledger.range(topic: bytes("t"), from: entries[1999].id, to: .max, count: 100).map(\.sequence) == [entries[1999].sequence])
    }
}

/// The next entries after a known sequence on disk (an agent's next task,
/// a group's XREADGROUP >): frames before it are passed over on their
/// headers, and a frame is decoded from that sequence for as many entries
/// as are asked, no further.
@Suite(.serialized) struct NextEntryOnDiskTests {
    @Test func entriesAfterAKnownSequenceOnDiskAreExactlyTheNextOnes() throws {
        let loop = TestLoop()
        var config = LedgerConfig(dir: temporaryDirectory())
        config.fsync = .no
        config.compactionLevel = nil
        // Nothing kept in memory: every read goes to the segment file.
        let ledger = Ledger(config: config, tailBytes: 0)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        // Frames of 50 records: "t" and "o" in turn, then 10 more "o" in every fifth frame.
        var t: [LedgerRecord] = []
        for i in 0..<400 {
            ledger.publish("t", "t\(i)", now: 30_000 + UInt64(i))
            ledger.publish("o", "o\(i)", now: 30_000 + UInt64(i))
            if i % 25 == 24 {
                if i % 125 == 124 { for j in 0..<10 { ledger.publish("o", "x\(i)-\(j)", now: 30_000 + UInt64(i)) } }
                ledger.commit()
                #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
            }
        }
        t = ledger.range(topic: bytes("t"), from: .zero, to: .max, count: .max)
        #expect(t.count == 400)
        for k in [0, 1, 23, 24, 25, 26, 123, 124, 125, 398] {
            for count in [1, 2, 30, 1000] {
                let got = ledger.entries(topic: bytes("t"), after: t[k].id, afterSequence: t[k].sequence, count: count)
                #expect(got == Array(t[(k + 1)...].prefix(count)), "after \(k), count \(count)")
                // Without the sequence, or with an older one (a bookmark not
                // moved when another reader advanced the group): the same.
                #expect(ledger.entries(topic: bytes("t"), after: t[k].id, count: count) == got)
                let older = t[max(0, k - 7)].sequence
                #expect(ledger.entries(topic: bytes("t"), after: t[k].id, afterSequence: older, count: count) == got)
                // XRANGE from the next ID with COUNT: the same.
                if let next = t[k].id.successor {
                    #expect(ledger.range(topic: bytes("t"), from: next, to: .max, count: count) == got)
                }
            }
        }
        #expect(ledger.entries(topic: bytes("t"), after: t[399].id, afterSequence: t[399].sequence, count: 5).isEmpty)
    }

    @Test func decodingFromASequenceForALimitReturnsExactlyThoseRecords() throws {
        let loop = TestLoop()
        var config = LedgerConfig(dir: temporaryDirectory())
        config.fsync = .no
        config.compactionLevel = nil
        let ledger = Ledger(config: config, tailBytes: 0)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        for i in 0..<20 { ledger.publish(i % 3 == 0 ? "t" : "o", "\(i)", now: 40_000) }
        let batch = try #require(ledger.current)
        // The batch's bytes are the records as a frame holds them, inflated.
        let p = UnsafeRawPointer(batch.bytes.base), n = batch.bytes.writeIndex
        let all = try RecordCodec.decode(p, n, count: batch.count, firstSequence: batch.firstSequence, layout: .current)
        #expect(all.count == 20)
        for from in [UInt64(0), batch.firstSequence, batch.firstSequence + 4, batch.firstSequence + 19, batch.firstSequence + 20] {
            for limit in [0, 1, 3, Int.max] {
                let got = try RecordCodec.decode(p, n, count: batch.count, firstSequence: batch.firstSequence,
                                                 layout: .current, only: bytes("t"), from: from, limit: limit)
                let want = all.filter { $0.topic == bytes("t") && $0.sequence >= from }.prefix(limit)
                #expect(got == Array(want), "from \(from) limit \(limit)")
                // Only IDs in a range count toward the limit.
                let ids = all[7].id...all[16].id
                let inRange = try RecordCodec.decode(p, n, count: batch.count, firstSequence: batch.firstSequence,
                                                     layout: .current, only: bytes("t"), from: from, ids: ids, limit: limit)
                let wantInRange = all.filter { $0.topic == bytes("t") && $0.sequence >= from && ids.contains($0.id) }.prefix(limit)
                #expect(inRange == Array(wantInRange), "from \(from) limit \(limit) in \(ids)")
            }
        }
    }
}
