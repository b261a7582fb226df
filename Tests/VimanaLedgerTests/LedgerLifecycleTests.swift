import Foundation
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

@Suite(.serialized) struct LedgerLifecycleTests {
    func open(_ dir: String, _ loop: TestLoop, tailBytes: Int = LedgerLimits.tailBytes,
              configure: (inout LedgerConfig) -> Void = { _ in }) throws -> (Ledger, RecoveryReport) {
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        configure(&config)
        let ledger = Ledger(config: config, tailBytes: tailBytes)
        let report = try ledger.open(notify: loop.notify)
        return (ledger, report)
    }

    @Test func appendsAreReadBackBeforeAndAfterARestart() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        var (ledger, report) = try open(dir, loop)
        #expect(report.records == 0)
        for i in 0..<100 { ledger.publish(i % 2 == 0 ? "tasks.civic" : "tasks.herald", "m\(i)", now: 1000 + UInt64(i / 10)) }
        ledger.commit()
        // Readable from memory at once.
        let early = ledger.range(topic: bytes("tasks.civic"), from: .zero, to: .max, count: 1000)
        #expect(early.count == 50)
        #expect(loop.pump { ledger.durableSequence == 101 })
        ledger.close()

        (ledger, report) = try open(dir, loop)
        #expect(report.records == 100)
        #expect(report.truncatedBytes == 0)
        #expect(ledger.nextSequence == 101)
        let civic = ledger.range(topic: bytes("tasks.civic"), from: .zero, to: .max, count: 1000)
        #expect(civic.map { String(decoding: $0.fields[0].value, as: UTF8.self) } == stride(from: 0, to: 100, by: 2).map { "m\($0)" })
        #expect(civic.first?.id == StreamID(ms: 1000, seq: 0))
        #expect(civic[1].id == StreamID(ms: 1000, seq: 1))
        let state = try #require(ledger.stream(bytes("tasks.herald")))
        #expect(state.length == 50)
        #expect(state.lastID == StreamID(ms: 1009, seq: 4))
        // IDs keep increasing after the restart even with an older clock.
        ledger.publish("tasks.herald", "late", now: 5)
        #expect(ledger.stream(bytes("tasks.herald"))?.lastID == StreamID(ms: 1009, seq: 5))
        let reversed = ledger.range(topic: bytes("tasks.herald"), from: .zero, to: .max, count: 3, reverse: true)
        #expect(reversed.map { String(decoding: $0.fields[0].value, as: UTF8.self) } == ["late", "m99", "m97"])
        ledger.close()
    }

    @Test func aTornTailIsTruncatedOnOpen() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        var (ledger, _) = try open(dir, loop)
        for i in 0..<10 { ledger.publish("t", "a\(i)") }
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == 11 })
        for i in 0..<10 { ledger.publish("t", "b\(i)") }
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == 21 })
        ledger.close()
        // Tear the second frame.
        let path = dir + "/" + LedgerDirectory.segmentName(1)
        let size = FileIO.size(path: path) ?? 0
        #expect(truncate(path, off_t(size - 7)) == 0)
        try? FileManager.default.removeItem(atPath: dir + "/" + LedgerDirectory.indexName(forSegment: LedgerDirectory.segmentName(1)))
        var report: RecoveryReport
        (ledger, report) = try open(dir, loop)
        #expect(report.droppedRecords == 10)
        #expect(report.truncatedBytes > 0)
        #expect(ledger.nextSequence == 11)
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 100).count == 10)
        // Appends continue cleanly after the cut.
        ledger.publish("t", "c")
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == 12 })
        ledger.close()
        (ledger, report) = try open(dir, loop)
        #expect(report.truncatedBytes == 0)
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 100).last?.fields[0].value == bytes("c"))
        ledger.close()
    }

    @Test func segmentsRollCompactAndRetire() throws {
        let dir = temporaryDirectory()
        let archive = temporaryDirectory()
        let loop = TestLoop()
        let (ledger, _) = try open(dir, loop, tailBytes: 0) { o in
            o.segmentBytes = 64 << 10
            o.archiveDir = archive
        }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<40 {
            // Random text: incompressible enough for segments to fill.
            for i in 0..<20 {
                let payload = String((0..<2000).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122, using: &rng))) })
                ledger.publish("bulk", "\(round)-\(i)-" + payload)
            }
            ledger.commit()
            #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        }
        #expect(loop.pump { ledger.segmentCount >= 3 })
        // Compaction rewrites sealed segments into large frames.
        #expect(loop.pump {
            ledger.segments.dropLast().allSatisfy { $0.index.compacted }
        })
        let all = ledger.range(topic: bytes("bulk"), from: .zero, to: .max, count: 10_000)
        #expect(all.count == 800)
        #expect(all.map(\.sequence) == Array(1...800))
        // A narrow ID range inflates only the frames that can hold it.
        let framesForAll = ledger.stats.framesRead
        let target = all[500].id
        let narrow = ledger.range(topic: bytes("bulk"), from: target, to: target, count: 10)
        #expect(narrow.map(\.sequence) == [501])
        #expect(ledger.stats.framesRead - framesForAll <= 2, "frames read: \(ledger.stats.framesRead - framesForAll) of \(framesForAll)")
        // Retention by size keeps the active segment and moves the oldest to the archive.
        let before = ledger.segmentCount
        ledger.options_setRetentionBytes(1)
        ledger.enforceRetention(nowMicros: Int64(Clock.wallMillis()) * 1000)
        #expect(ledger.segmentCount == 1)
        #expect(loop.pump { ((try? FileIO.list(archive)) ?? []).filter { $0.hasSuffix(".seg") }.count == before - 1 })
        let kept = ledger.stream(bytes("bulk"))
        #expect(kept?.length == UInt64(ledger.range(topic: bytes("bulk"), from: .zero, to: .max, count: 10_000).count))
        ledger.close()
    }

    /// Records of a retired segment still in memory (the tail) are gone for
    /// readers as they are from the disk: XRANGE once served them after
    /// XLEN said 0.
    @Test func retiredRecordsAreNotReadFromMemoryEither() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        let (ledger, _) = try open(dir, loop)
        ledger.publish("t", "old")
        ledger.commit()
        #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        #expect(ledger.requestSeal())
        #expect(loop.pump { ledger.segmentCount == 2 })
        ledger.publish("t", "new")
        ledger.commit()
        #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        ledger.options_setRetentionBytes(1)
        #expect(ledger.enforceRetention(nowMicros: Int64(Clock.wallMillis()) * 1000).count == 1)
        let left = ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 10)
        #expect(left.map { $0.fields[0].value } == [bytes("new")])
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 10, reverse: true).map(\.sequence) == left.map(\.sequence))
        #expect(ledger.stream(bytes("t"))?.length == 1 && ledger.stream(bytes("t"))?.first == left.first?.id)
        ledger.close()
    }

    /// A lookup of scattered IDs (XCLAIM, XAUTOCLAIM, a batch of dead
    /// letters) inflates only the frames whose time span holds one of them,
    /// not every frame between the first and the last: a batch with one old
    /// task among recent ones once read the whole topic between.
    @Test func scatteredIDsAreLookedUpInTheirOwnFramesOnly() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        let (ledger, _) = try open(dir, loop, tailBytes: 0) { c in c.segmentBytes = 64 << 10 }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<40 {
            for i in 0..<20 {
                let payload = String((0..<2000).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122, using: &rng))) })
                // A second apart per round: each frame's time span is its own.
                ledger.publish("bulk", "\(round)-\(i)-" + payload, now: 1_700_000_000_000 + UInt64(round) * 1000)
            }
            ledger.commit()
            #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        }
        let all = ledger.range(topic: bytes("bulk"), from: .zero, to: .max, count: 10_000)
        #expect(all.count == 800)
        let framesForAll = ledger.stats.framesRead
        let found = ledger.records(topic: bytes("bulk"), ids: [all[0].id, all[799].id])
        #expect(found.map { $0?.sequence } == [1, 800])
        let read = ledger.stats.framesRead - framesForAll
        #expect(read <= 4, "frames read: \(read) of \(framesForAll) for the whole topic")
        ledger.close()
    }

    /// LEDGER.md §2: compaction leaves frames of at least 1 MiB of records,
    /// only the last may be smaller. A 50 kB frame before a 3.7 MB one
    /// averages above 1 MiB, which once let the segment pass as compacted.
    @Test func compactionLeavesOnlyTheLastFrameUnderOneMiB() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        let (ledger, _) = try open(dir, loop, tailBytes: 0) { o in
            o.segmentBytes = 64 << 10
        }
        // Words from a small vocabulary: level 6 over one large frame beats
        // level 1 over the two written, so the rewrite pays and is kept.
        var rng = SystemRandomNumberGenerator()
        let words = ["ledger", "frame", "agent", "topic", "vimana", "segment", "record", "stream"]
        func text(_ n: Int) -> String {
            var out = ""
            while out.utf8.count < n { out += words[Int.random(in: 0..<words.count, using: &rng)] + " " }
            return out
        }
        // Each written and fsynced before the next, so each is a frame and
        // no fsync is in flight to put off sealing.
        ledger.publish("events", text(50_000))
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        ledger.publish("orders", text(3_700_000))
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        // The next write seals the segment (it is past segment_bytes) first.
        ledger.publish("events", "after")
        ledger.commit()
        #expect(loop.pump { ledger.segmentCount >= 2 && ledger.segments[0].index.compacted })
        #expect(ledger.segments[0].index.recordCount == 2)
        let sealed = ledger.segments[0]
        let fd = try FileIO.open(sealed.path, O_RDONLY)
        defer { close(fd) }
        var records: [Int] = []
        var offset = 0
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        while header.withUnsafeMutableBytes({ FileIO.pread(fd, $0.baseAddress!, FrameHeader.size, at: offset) }) == FrameHeader.size,
              case .success(let h) = header.withUnsafeBytes({ FrameHeader.decode($0.baseAddress!) }) {
            records.append(Int(h.uncompressedLength))
            offset += h.frameLength
        }
        #expect(records.reduce(0, +) > 3_750_000)
        #expect(records.dropLast().allSatisfy { $0 >= LedgerLimits.compactedFrameBytes }, "frame sizes: \(records)")
        ledger.close()
    }

    // MARK: - Format versions

    /// A record of format version 1 as LEDGER.md §3 lays it out, written by
    /// hand (not by the codec under test): no publisher.
    static func versionOneRecord(sequence: UInt64, ms: UInt64, topic: String, payload: String) -> [UInt8] {
        func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian, Array.init) }
        func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        var body = u64(sequence) + u64(ms) + u64(0) + u64(ms * 1000) + u64(9)
        body += u32(topic.utf8.count) + Array(topic.utf8) + u32(0)       // topic; no client name
        body += u32(1) + u32(7) + Array("payload".utf8) + u32(payload.utf8.count) + Array(payload.utf8)
        return u32(body.count) + body
    }

    /// The format versions of the frames of a segment, in order.
    static func frameVersions(_ path: String) throws -> [UInt16] {
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        var frames = FrameIterator(fd: fd, size: FileIO.size(fd), sequence: nil)
        var out: [UInt16] = []
        while case .success(let f)? = frames.next() { out.append(f.header.layout.rawValue) }
        return out
    }

    /// LEDGER.md §2: a ledger written before version 2 opens and reads as
    /// before, grows in frames of the current version beside its version 1
    /// ones, and compaction keeps each version's records in frames of that
    /// version. (OriginTests reads versions 1, 2 and 3 side by side.)
    @Test func aVersionOneLedgerOpensReadsAndGrowsInCurrentVersionFrames() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        // Ten small version 1 frames, stored (level 0) so that compaction pays.
        let encoder = try FrameEncoder(level: 0)
        var segment: [UInt8] = []
        for k in 0..<10 {
            var raw: [UInt8] = []
            for j in 0..<3 {
                let seq = UInt64(k * 3 + j + 1)
                raw += Self.versionOneRecord(sequence: seq, ms: 1000 + seq, topic: "orders",
                                             payload: "old order \(seq) old order old order")
            }
            let frame = try raw.withUnsafeBytes { r in
                Array(try encoder.encode(records: r.baseAddress!, length: r.count, count: 3,
                                         firstSequence: UInt64(k * 3 + 1), layout: .v1))
            }
            segment += frame
        }
        let path = dir + "/" + LedgerDirectory.segmentName(1)
        _ = FileManager.default.createFile(atPath: path, contents: Data(segment))
        var (ledger, report) = try open(dir, loop)
        #expect(report.records == 30)
        var orders = ledger.range(topic: bytes("orders"), from: .zero, to: .max, count: 100)
        #expect(orders.count == 30)
        #expect(orders.allSatisfy { $0.publisher.isEmpty && $0.clientID == 9 && $0.clientName.isEmpty })
        #expect(orders.last?.fields == [.init(name: bytes("payload"), value: bytes("old order 30 old order old order"))])
        for k in 0..<10 {
            ledger.publish("orders", "new order \(k) new order new order", now: 2000 + UInt64(k), publisher: "alice")
            ledger.commit()
            #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        }
        ledger.close()
        #expect(try Self.frameVersions(path) == Array(repeating: 1, count: 10) + Array(repeating: FrameHeader.version, count: 10))
        // Reopened with a small segment_bytes: the next append seals the
        // segment, and compaction rewrites it.
        (ledger, report) = try open(dir, loop) { c in c.segmentBytes = 1 }
        #expect(report.records == 40)
        ledger.publish("orders", "sealing", now: 3000, publisher: "bob")
        ledger.commit()
        #expect(loop.pump { ledger.segmentCount == 2 && ledger.segments[0].index.compacted })
        #expect(try Self.frameVersions(path) == [1, FrameHeader.version])
        orders = ledger.range(topic: bytes("orders"), from: .zero, to: .max, count: 100)
        #expect(orders.map(\.sequence) == Array(1...41))
        #expect(orders.map { String(decoding: $0.publisher, as: UTF8.self) }
                == Array(repeating: "", count: 30) + Array(repeating: "alice", count: 10) + ["bob"])
        #expect(orders[30].fields[0].value == bytes("new order 0 new order new order"))
        ledger.close()
    }
}

extension Ledger {
    func options_setRetentionBytes(_ n: Int) { retentionOverride = n }

}
