import Foundation
import Testing
import VimanaCore
@testable import VimanaLedger

@Suite struct FrameTests {
    func sampleRecords(_ n: Int, first: UInt64 = 1) -> [LedgerRecord] {
        (0..<n).map { i -> LedgerRecord in
            let topic: [UInt8] = bytes(i % 2 == 0 ? "tasks.civic" : "events.ü")
            let name: [UInt8] = i % 3 == 0 ? [] : bytes("worker-\(i)")
            let value: [UInt8] = [0, 255, 13, 10] + bytes("data \(i)")
            let fields: [LedgerRecord.Field] = [.init(name: bytes("payload"), value: value), .init(name: [], value: [])]
            let publisher: [UInt8] = i % 4 == 0 ? [] : bytes("user-\(i)") + [255]
            return LedgerRecord(sequence: first + UInt64(i), id: StreamID(ms: 1000 + UInt64(i), seq: 0),
                                timestampMicros: 1_000_000 * Int64(i), clientID: UInt64(i), topic: topic,
                                clientName: name, publisher: publisher, fields: fields)
        }
    }

    func encodeFrame(_ records: [LedgerRecord]) throws -> [UInt8] {
        var b = ByteBuffer(capacity: 64)
        defer { b.release() }
        for r in records { RecordCodec.append(r, to: &b) }
        let encoder = try FrameEncoder(level: 6)
        let frame = try encoder.encode(records: b.readPointer, length: b.readableBytes, count: records.count,
                                       firstSequence: records[0].sequence)
        return Array(frame)
    }

    func writeSegment(_ frames: [[UInt8]], dir: String, first: UInt64 = 1) -> String {
        let path = dir + "/" + LedgerDirectory.segmentName(first)
        FileManager.default.createFile(atPath: path, contents: Data(frames.joined()))
        return path
    }

    func scan(_ path: String) throws -> (SegmentScanner.Outcome, [LedgerRecord]) {
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        var seen: [LedgerRecord] = []
        let scanner = try SegmentScanner()
        let outcome = scanner.scan(fd: fd, path: path, size: FileIO.size(fd), sequence: 1) { _, records in
            seen += records ?? []
        }
        return (outcome, seen)
    }

    @Test func framesRoundTrip() throws {
        let dir = temporaryDirectory()
        let a = sampleRecords(10), b = sampleRecords(5, first: 11)
        let path = writeSegment([try encodeFrame(a), try encodeFrame(b)], dir: dir)
        let (outcome, records) = try scan(path)
        #expect(outcome.problem == nil)
        #expect(outcome.frames == 2)
        #expect(outcome.nextSequence == 16)
        #expect(records == a + b)
    }

    /// Small frames are stored (zlib level 0) and larger ones compressed; both read back.
    @Test func framesBelowTheStoreThresholdAreStoredAndStillRoundTrip() throws {
        let dir = temporaryDirectory()
        let encoder = try FrameEncoder(level: 6, storeBelow: 2048)
        var frames: [[UInt8]] = []
        var raw: [Int] = []
        var all: [LedgerRecord] = []
        for (n, first) in [(3, UInt64(1)), (200, UInt64(4))] {
            let records = sampleRecords(n, first: first)
            var b = ByteBuffer(capacity: 64)
            defer { b.release() }
            for r in records { RecordCodec.append(r, to: &b) }
            raw.append(b.readableBytes)
            frames.append(Array(try encoder.encode(records: b.readPointer, length: b.readableBytes, count: n, firstSequence: first)))
            all += records
        }
        #expect(raw[0] < 2048 && raw[1] >= 2048)
        // Stored: a zlib header, one stored block (5 bytes) and the Adler-32 around the raw bytes.
        #expect(frames[0].count == FrameHeader.size + raw[0] + 11)
        #expect(frames[1].count < FrameHeader.size + raw[1] / 2)
        let (outcome, records) = try scan(writeSegment(frames, dir: dir))
        #expect(outcome.problem == nil)
        #expect(records == all)
    }

    /// The stored stream is written by hand: zlib's inflate must read it back
    /// exactly, at every block boundary, and it must be what deflate at
    /// level 0 would produce for one block (header, block, Adler-32).
    @Test(arguments: [0, 1, 2047, 65_534, 65_535, 65_536, 131_070, 131_071, 200_000])
    func storedStreamsInflateToTheirInput(count: Int) throws {
        let input = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let length = StoredZlib.length(count)
        var output = [UInt8](repeating: 0xAA, count: length + 8)
        let written = input.withUnsafeBytes { i in
            output.withUnsafeMutableBytes { StoredZlib.encode(i.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count, into: $0.baseAddress!) }
        }
        #expect(written == length)
        #expect(output[length...].allSatisfy { $0 == 0xAA }, "nothing written past the stated length")
        var back = [UInt8](repeating: 0, count: count)
        try output.withUnsafeBytes { o in
            try back.withUnsafeMutableBytes { b in
                try Inflater().decompress(o.baseAddress!, written, into: b.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!, expected: count)
            }
        }
        #expect(back == input)
        if count < 65_535 {
            var zlib = [UInt8](repeating: 0, count: length + 64)
            let deflater = try Deflater(level: 0)
            let n = try input.withUnsafeBytes { i in
                try zlib.withUnsafeMutableBytes {
                    try deflater.compress(i.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count, into: $0.baseAddress!, capacity: $0.count)
                }
            }
            #expect(Array(output[..<written]) == Array(zlib[..<n]))
        }
    }

    @Test func aTornTailIsCutAtTheLastWholeFrameAtEveryByteOffset() throws {
        let dir = temporaryDirectory()
        let first = try encodeFrame(sampleRecords(3))
        let last = try encodeFrame(sampleRecords(4, first: 4))
        for cut in 0..<last.count {
            let path = writeSegment([first, Array(last[0..<cut])], dir: dir)
            let (outcome, records) = try scan(path)
            #expect(outcome.validEnd == first.count, "cut at \(cut)")
            #expect(records == sampleRecords(3), "cut at \(cut)")
            #expect(outcome.problem != nil || cut == 0, "cut at \(cut)")
        }
    }

    @Test func aFlippedBitAnywhereIsDetected() throws {
        let dir = temporaryDirectory()
        let frame = try encodeFrame(sampleRecords(6))
        // Every byte, one bit each (the bit varies with the offset).
        for offset in 0..<frame.count {
            var damaged = frame
            damaged[offset] ^= UInt8(1 << (offset % 8))
            let path = writeSegment([damaged], dir: dir)
            let (outcome, _) = try scan(path)
            #expect(outcome.problem?.offset == 0, "flip at \(offset)")
            #expect(outcome.validEnd == 0, "flip at \(offset)")
        }
    }

    @Test func indexRoundTripsAndRejectsDamage() {
        var index = SegmentIndex(firstSequence: 5)
        index.sealed = true
        index.addWritten(WrittenFrame(offset: 0, header: FrameHeader(firstSequence: 5, recordCount: 2, uncompressedLength: 10,
                                                                     compressedLength: 20, dataCRC: 0),
                                      minMs: 1, maxMs: 9, minTimestamp: 10, maxTimestamp: 20, topics: [bytes("a"): TopicStats(count: 2, first: StreamID(ms: 1, seq: 0), last: StreamID(ms: 9, seq: 0))]))
        let encoded = index.encoded()
        #expect(SegmentIndex.decode(encoded) == index)
        var bad = encoded
        bad[10] ^= 1
        #expect(SegmentIndex.decode(bad) == nil)
        #expect(SegmentIndex.decode(Array(encoded.dropLast())) == nil)
    }

    /// Every condition of Protocol/LEDGER.md §4 that an index file shows by
    /// itself: each variant of a valid index must be ignored (rebuilt).
    @Test func anIndexBreakingAnyDocumentedRuleIsIgnored() {
        var valid = SegmentIndex(firstSequence: 5)
        valid.nextSequence = 9
        valid.coveredBytes = 200_000
        valid.entries = [SegmentIndex.Entry(firstSequence: 5, offset: 0, minMs: 1, maxMs: 2),
                         SegmentIndex.Entry(firstSequence: 7, offset: 100_000, minMs: 2, maxMs: 3)]
        valid.topics = [bytes("a"): TopicStats(count: 2, first: StreamID(ms: 1, seq: 0), last: StreamID(ms: 2, seq: 0)),
                        bytes("b"): TopicStats(count: 2, first: StreamID(ms: 2, seq: 0), last: StreamID(ms: 3, seq: 0))]
        #expect(SegmentIndex.decode(valid.encoded()) != nil)

        func rejected(_ why: String, _ change: (inout SegmentIndex) -> Void) {
            var index = valid
            change(&index)
            #expect(SegmentIndex.decode(index.encoded()) == nil, "\(why)")
        }
        rejected("first entry not at offset 0") { $0.entries[0].offset = 36 }
        rejected("first entry not at the first sequence") { $0.entries[0].firstSequence = 6 }
        rejected("entries out of order") { $0.entries[1].offset = 0 }
        rejected("entries' sequences out of order") { $0.entries[1].firstSequence = 5 }
        rejected("an entry beyond the covered bytes") { $0.coveredBytes = 100_000 }
        rejected("an entry beyond the next sequence") { $0.nextSequence = 7 }
        rejected("covers nothing, has entries") { $0.coveredBytes = 0 }
        rejected("covers bytes, no entries") { $0.entries = [] }
        rejected("covers nothing, holds records") { $0.coveredBytes = 0; $0.entries = [] }

        // Flags and topic order are not reachable through the type: edit the bytes.
        func rejectedBytes(_ why: String, _ change: (inout [UInt8]) -> Void) {
            var bytes = valid.encoded()
            change(&bytes)
            let crc = bytes.dropLast(4).withUnsafeBytes { CRC32.checksum($0.baseAddress!, $0.count) }
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: $0) }
            #expect(SegmentIndex.decode(bytes) == nil, "\(why)")
        }
        rejectedBytes("unknown flag bit") { $0[6] |= 4 }
        rejectedBytes("unknown flag bit, high byte") { $0[7] |= 0x80 }
        // Topics start after the 60-byte header and two 32-byte entries: "a" first, then "b".
        let topicA = 60 + 64 + 4
        let topicB = topicA + 1 + 40 + 4
        rejectedBytes("topics out of order") { $0[topicA] = 0x62; $0[topicB] = 0x61 }
        rejectedBytes("a topic twice") { $0[topicB] = 0x61 }
        var sealedCompacted = valid
        sealedCompacted.sealed = true
        sealedCompacted.compacted = true
        let decoded = SegmentIndex.decode(sealedCompacted.encoded())
        #expect(decoded?.sealed == true && decoded?.compacted == true)
    }
}

#if canImport(Glibc)
import Glibc
#endif
