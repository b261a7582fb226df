import Foundation
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// Torn tails against corruption (Protocol/LEDGER.md §5), what recovery does
/// with each, damaged sealed segments, and `vimana ledger repair` (§6).
@Suite(.serialized) struct DamageTests {
    // MARK: - Helpers

    func records(_ n: Int, first: UInt64) -> [LedgerRecord] {
        (0..<n).map { i in
            LedgerRecord(sequence: first + UInt64(i), id: StreamID(ms: 1000 + first + UInt64(i), seq: 0),
                         timestampMicros: 1_000_000, clientID: 1, topic: bytes(i % 2 == 0 ? "even" : "odd"),
                         clientName: [], fields: [.init(name: bytes("payload"), value: bytes("data \(first + UInt64(i))"))])
        }
    }

    /// `count` frames of `per` records each, from sequence 1.
    func frames(_ count: Int, per: Int = 3) throws -> [[UInt8]] {
        let encoder = try FrameEncoder(level: 1)
        var out: [[UInt8]] = []
        for k in 0..<count {
            let rs = records(per, first: UInt64(k * per + 1))
            var b = ByteBuffer(capacity: 64)
            defer { b.release() }
            for r in rs { RecordCodec.append(r, to: &b) }
            out.append(Array(try encoder.encode(records: b.readPointer, length: b.readableBytes, count: per,
                                                firstSequence: rs[0].sequence)))
        }
        return out
    }

    func survey(_ bytes: [UInt8], active: Bool = true) throws -> SegmentSurvey {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + LedgerDirectory.segmentName(1)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        return try SegmentScanner().survey(fd: fd, path: path, size: bytes.count, sequence: 1, active: active)
    }

    func offsets(_ frames: [[UInt8]]) -> [Int] {
        var at = 0
        return frames.map { f in defer { at += f.count }; return at }
    }

    func open(_ dir: String, _ loop: TestLoop, segmentBytes: Int = 64 << 20) throws -> (Ledger, RecoveryReport) {
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        config.segmentBytes = segmentBytes
        // Sealed segments keep their small frames.
        config.compactionLevel = nil
        let ledger = Ledger(config: config, tailBytes: 0)
        return (ledger, try ledger.open(notify: loop.notify))
    }

    /// Appends `count` records one frame each (a commit per record, written before the next).
    func writeFrames(_ ledger: Ledger, _ loop: TestLoop, count: Int, payload: (Int) -> String = { "m\($0)" },
                     topic: (Int) -> String = { _ in "t" }) {
        for i in 0..<count {
            ledger.publish(topic(i), payload(i), now: 1000 + UInt64(i))
            ledger.commit()
            _ = loop.pump { ledger.durableSequence == ledger.nextSequence }
        }
    }

    func segmentFrames(_ path: String) -> [(offset: Int, length: Int)] {
        let data = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
        var out: [(Int, Int)] = []
        var at = 0
        while at + 36 <= data.count {
            let length = 36 + (Int(data[at + 24]) | Int(data[at + 25]) << 8 | Int(data[at + 26]) << 16 | Int(data[at + 27]) << 24)
            out.append((at, length))
            at += length
        }
        return out
    }

    func flip(_ path: String, at offset: Int) throws {
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        data[offset] ^= 0xFF
        try Data(data).write(to: URL(fileURLWithPath: path))
    }

    func contents(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    // MARK: - Classification

    @Test func damageFollowedByValidFramesIsCorruptionAndTheScanGoesOnPastIt() throws {
        var f = try frames(10)
        let at = offsets(f)
        f[4][40] ^= 0x01  // frame 4's data
        let s = try survey(Array(f.joined()))
        #expect(s.damage.count == 1)
        let d = try #require(s.damage.first)
        #expect(d.frame == 4 && d.offset == at[4] && d.end == at[5] && d.firstSequence == 13)
        #expect(d.kind == .followed(nextSequence: 16))
        #expect(d.error == .dataChecksum)
        #expect(d.framesAfter == 5 && d.recordsAfter == 15)
        #expect(s.frames == 9 && s.records == 27 && s.nextSequence == 31)
        #expect(s.isCorrupt)
    }

    @Test func aCutLastFrameIsATornTailThatCountsEveryRecordOfEveryReadableHeader() throws {
        var f = try frames(10)
        let at = offsets(f)
        // Frame 8 written whole but its data lost (garbled); frame 9 cut short: two frames torn.
        f[8][50] ^= 0x55
        let whole = Array(f.joined())
        let s = try survey(Array(whole[0..<(whole.count - 7)]))
        #expect(s.damage.count == 1)
        #expect(s.damage.first?.offset == at[8])
        #expect(s.damage.first?.kind == .tornTail(records: 6, exact: true))
        #expect(!s.isCorrupt && s.tornTail != nil)
        #expect(s.validEnd == at[8] && s.nextSequence == 25)
    }

    @Test func garbageAfterTheLastFrameIsATornTailEvenWhenItHoldsTheMagic() throws {
        let f = try frames(5)
        // The magic, bytes that are no header, then the first 30 bytes of a real next frame's header.
        let next = try frames(6)[5]
        var garbage: [UInt8] = Array("xxVMLF".utf8) + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        garbage += Array(next.prefix(30))
        let s = try survey(Array(f.joined()) + garbage)
        #expect(s.damage.count == 1)
        #expect(s.damage.first?.kind == .tornTail(records: 0, exact: false))
        #expect(s.records == 15)
    }

    @Test func aWholeLastFrameWithADamagedLengthFieldIsCorruptionNotATornTail() throws {
        var f = try frames(5)
        // The length now points past the end of the file; the data is all there.
        f[4][26] ^= 0x40
        let s = try survey(Array(f.joined()))
        #expect(s.damage.first?.kind == .trailing(wholeRecords: 3))
        #expect(s.damage.first?.error == .headerChecksum)
        #expect(s.isCorrupt)
        // In a sealed segment, damage to the end is corruption whatever it is.
        var g = try frames(5)
        g[4] = Array(g[4].prefix(40))
        #expect(try survey(Array(g.joined()), active: false).damage.first?.kind == .trailing(wholeRecords: nil))
    }

    @Test func aHeaderWhoseSequencesOverflowIsInvalidNotATrap() {
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        FrameHeader(firstSequence: .max - 1, recordCount: 5, uncompressedLength: 1, compressedLength: 1, dataCRC: 0)
            .encode(into: &header)
        #expect(header.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) } == .failure(.sequenceOverflow))
    }

    // MARK: - Recovery of the active segment

    @Test func corruptionInTheActiveSegmentStopsTheOpenAndChangesNoFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = TestLoop()
        var (ledger, _) = try open(dir, loop)
        writeFrames(ledger, loop, count: 100)
        ledger.close()
        let name = LedgerDirectory.segmentName(1)
        let frames = segmentFrames(dir + "/" + name)
        try #require(frames.count == 100)
        try flip(dir + "/" + name, at: frames[20].offset + 40)
        let before = try contents(dir)

        do {
            _ = try open(dir, loop)
            Issue.record("the ledger opened")
        } catch {
            let text = "\(error)"
            #expect(text.contains("corrupt active segment \(dir)/\(name): frame 20 at offset \(frames[20].offset): data checksum mismatch"), "\(text)")
            #expect(text.contains("79 valid frames (79 records) follow it"), "\(text)")
            #expect(text.contains("vimana ledger repair \(dir)"), "\(text)")
        }
        #expect(try contents(dir) == before)

        let outcome = try OfflineRepair.repair(directory: dir)
        #expect(outcome.repaired == 1)
        #expect(FileManager.default.fileExists(atPath: dir + "/damaged/"
            + LedgerDirectory.damagedName(SequenceGap(first: 21, next: 22), segment: name, offset: frames[20].offset)))
        #expect(try OfflineRepair.repair(directory: dir).repaired == 0)

        var report: RecoveryReport
        (ledger, report) = try open(dir, loop)
        #expect(report.records == 99 && report.problems.isEmpty, "\(report.problems)")
        let all = ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 1000)
        #expect(all.map(\.sequence) == Array(1...20) + Array(22...100))
        #expect(ledger.stream(bytes("t"))?.length == 99)
        // New records follow the last one; nothing is reused.
        ledger.publish("t", "after", now: 5000)
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == 102 })
        ledger.close()
        #expect(try OfflineVerifier.verify(directory: dir).errors.isEmpty)
    }

    @Test func aTornTailIsCutWithEveryRecordCounted() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loop = TestLoop()
        var (ledger, _) = try open(dir, loop)
        for round in 0..<4 {
            for i in 0..<10 { ledger.publish("t", "r\(round)-\(i)") }
            ledger.commit()
            #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        }
        ledger.close()
        let path = dir + "/" + LedgerDirectory.segmentName(1)
        try? FileManager.default.removeItem(atPath: dir + "/" + LedgerDirectory.indexName(forSegment: LedgerDirectory.segmentName(1)))
        let frames = segmentFrames(path)
        try #require(frames.count == 4)
        // Frames 2 and 3 both torn: 2 garbled, 3 cut short.
        try flip(path, at: frames[2].offset + 50)
        #expect(truncate(path, off_t(frames[3].offset + frames[3].length - 9)) == 0)
        var report: RecoveryReport
        (ledger, report) = try open(dir, loop)
        #expect(report.droppedRecords == 20)
        #expect(report.droppedRecordsExact)
        #expect(report.truncatedBytes == frames[3].offset + frames[3].length - 9 - frames[2].offset)
        #expect(ledger.nextSequence == 21)
        ledger.close()

        // Garbage after the last frame: cut too, its records cannot be counted.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 91 &+ 7) }))
        handle.closeFile()
        (ledger, report) = try open(dir, loop)
        #expect(report.truncatedBytes == 300)
        #expect(report.droppedRecords == 0 && !report.droppedRecordsExact)
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 100).count == 20)
        ledger.close()
    }

    // MARK: - Damaged sealed segments

    /// A ledger of three segments or more, each record its own frame, topics
    /// "a" (odd sequences) and "b" (even); returns the directory.
    func sealedLedger(_ loop: TestLoop) throws -> String {
        let dir = temporaryDirectory()
        let (ledger, _) = try open(dir, loop, segmentBytes: 16 << 10)
        var rng = SystemRandomNumberGenerator()
        writeFrames(ledger, loop, count: 200,
                    payload: { _ in String((0..<300).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122, using: &rng))) }) },
                    topic: { $0 % 2 == 0 ? "a" : "b" })
        _ = loop.pump(timeout: 5) { ledger.segments.dropLast().allSatisfy { $0.index.compacted } }
        ledger.close()
        return dir
    }

    @Test func aDamagedSealedSegmentIsServedAroundItsDamageAndCountedOut() throws {
        let loop = TestLoop()
        let dir = try sealedLedger(loop)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = try #require(LedgerDirectory.segments(in: dir).first)
        let frames = segmentFrames(dir + "/" + name)
        try #require(frames.count >= 5, "\(frames.count) frames")
        // Frame 2 holds sequence 3: topic "a" (sequences 1, 3, 5, … are "a").
        try flip(dir + "/" + name, at: frames[2].offset + 40)

        let (ledger, report) = try open(dir, loop)
        #expect(report.problems.isEmpty)  // the index is valid: not rescanned
        #expect(ledger.stream(bytes("a"))?.length == 100)
        switch ledger.readRange(topic: bytes("a"), from: .zero, to: .max, count: 1000) {
        case .success(let r): Issue.record("read \(r.count) entries across the damage")
        case .failure(let e):
            #expect(e.message == "entries of 'a' after 1000-0 before 1004-0 are in a damaged part of the ledger "
                    + "(segment \(name), frame 2 at offset \(frames[2].offset): data checksum mismatch; sequence 3 lost) "
                    + "and cannot be read; run vimana ledger verify", "\(e.message)")
        }
        #expect(ledger.damagedSegments == 1)
        #expect(ledger.stream(bytes("a"))?.length == 99)
        #expect(ledger.stream(bytes("b"))?.length == 100)
        // Around the damage everything reads; "b" lost nothing.
        let before = try ledger.readRange(topic: bytes("a"), from: .zero, to: StreamID(ms: 1000, seq: 0), count: 1000).get()
        let after = try ledger.readRange(topic: bytes("a"), from: StreamID(ms: 1004, seq: 0), to: .max, count: 1000).get()
        #expect(before.map(\.sequence) == [1])
        #expect(after.count == 98)
        #expect(try ledger.readRange(topic: bytes("b"), from: .zero, to: .max, count: 1000).get().count == 100)
        // COUNT that stops before the damage: the read is whole.
        #expect(try ledger.readRange(topic: bytes("a"), from: .zero, to: .max, count: 1).get().count == 1)
        #expect(ledger.recordsOnDisk == 199)
        ledger.close()
    }

    @Test func aSealedSegmentWhoseIndexIsRebuiltIsFoundDamagedAtOpen() throws {
        let loop = TestLoop()
        let dir = try sealedLedger(loop)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = try #require(LedgerDirectory.segments(in: dir).first)
        let frames = segmentFrames(dir + "/" + name)
        try flip(dir + "/" + name, at: frames[2].offset + 40)
        try FileManager.default.removeItem(atPath: dir + "/" + LedgerDirectory.indexName(forSegment: name))

        let (ledger, report) = try open(dir, loop)
        #expect(report.problems.count == 1 && report.problems[0].contains("damaged sealed segment \(name)"), "\(report.problems)")
        #expect(ledger.damagedSegments == 1)
        // Counted from the frames that read: 99 of "a" at once.
        #expect(ledger.stream(bytes("a"))?.length == 99)
        if case .success = ledger.readRange(topic: bytes("a"), from: .zero, to: .max, count: 1000) {
            Issue.record("a read across the damage succeeded")
        }
        #expect(try ledger.readRange(topic: bytes("a"), from: StreamID(ms: 1004, seq: 0), to: .max, count: 1000).get().count == 98)
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + LedgerDirectory.indexName(forSegment: name)))
        ledger.close()

        // Repair: the segment is split around the damage, and the ledger reads whole again.
        #expect(try OfflineRepair.repair(directory: dir).repaired == 1)
        let (again, _) = try open(dir, loop)
        #expect(again.damagedSegments == 0)
        #expect(try again.readRange(topic: bytes("a"), from: .zero, to: .max, count: 1000).get().count == 99)
        again.close()
        #expect(try OfflineVerifier.verify(directory: dir).errors.isEmpty)
    }
}

#if canImport(Glibc)
import Glibc
#endif
