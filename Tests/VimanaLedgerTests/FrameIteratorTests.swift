import Foundation
import Testing
import VimanaCore
@testable import VimanaLedger

/// The frame iterator is the one place a frame header read from a file is
/// checked (Protocol/LEDGER.md §2): each edge here must come back as the
/// error that names it, never as a frame.
@Suite struct FrameIteratorTests {
    let frames = FrameTests()

    /// Writes `bytes` to a fresh file and walks it with an iterator expecting sequence `sequence`.
    func walk(_ bytes: [UInt8], sequence: UInt64? = 1, _ body: (inout FrameIterator) throws -> Void) throws {
        let path = temporaryDirectory() + "/" + LedgerDirectory.segmentName(1)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        var it = FrameIterator(fd: fd, size: FileIO.size(fd), sequence: sequence)
        try body(&it)
    }

    /// A frame header written by hand (any field, the header CRC made right).
    func header(first: UInt64, count: UInt32, raw: UInt32 = 0, compressed: UInt32, crc: UInt32 = 0) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: FrameHeader.size)
        b.withUnsafeMutableBytes {
            FrameHeader(firstSequence: first, recordCount: count, uncompressedLength: raw, compressedLength: compressed,
                        dataCRC: crc).encode(into: $0.baseAddress!)
        }
        return b
    }

    @Test func walksEveryFrameInOrderAndStopsAtTheEnd() throws {
        let a = try frames.encodeFrame(frames.sampleRecords(3)), b = try frames.encodeFrame(frames.sampleRecords(2, first: 4))
        try walk(a + b) { it in
            guard case .success(let f1)? = it.next(), case .success(let f2)? = it.next() else {
                Issue.record("two valid frames expected")
                return
            }
            #expect(f1.offset == 0 && f1.frame == 0 && f1.header.firstSequence == 1 && f1.header.recordCount == 3)
            #expect(f2.offset == a.count && f2.frame == 1 && f2.header.firstSequence == 4)
            #expect(it.next() == nil)
            #expect(it.offset == a.count + b.count)
            #expect(it.expected == 6)
        }
    }

    @Test func anEmptyFileHasNoFrames() throws {
        try walk([]) { it in
            #expect(it.next() == nil)
            #expect(it.offset == 0)
        }
    }

    /// Every cut inside a header: truncated by exactly the bytes missing,
    /// and the iterator stays at the cut frame.
    @Test func aHeaderCutShortIsTruncated() throws {
        let a = try frames.encodeFrame(frames.sampleRecords(3)), b = try frames.encodeFrame(frames.sampleRecords(2, first: 4))
        for cut in 1..<FrameHeader.size {
            try walk(a + b[0..<cut]) { it in
                guard case .success? = it.next() else { Issue.record("first frame, cut \(cut)"); return }
                #expect(it.next() == .failure(.truncated(missing: FrameHeader.size - cut)), "cut \(cut)")
                #expect(it.offset == a.count && it.frame == 1, "cut \(cut)")
            }
        }
    }

    /// A whole header whose data runs past the end of the file is not a
    /// frame (unless the caller counts a torn tail's cut frames).
    @Test func dataRunningPastTheEndIsTruncated() throws {
        let a = try frames.encodeFrame(frames.sampleRecords(3))
        try walk(Array(a.dropLast(5))) { it in
            #expect(it.next() == .failure(.truncated(missing: 5)))
            #expect(it.offset == 0)
        }
        try walk(Array(a.dropLast(5))) { it in
            guard case .success(let f)? = it.next(evenIfCut: true) else { Issue.record("cut frame expected"); return }
            #expect(f.header.recordCount == 3)
            #expect(it.next(evenIfCut: true) == nil)
        }
        // A length past the end of the file, in a header that is otherwise valid.
        let lying = header(first: 1, count: 1, compressed: 1_000) + [UInt8](repeating: 0, count: 10)
        try walk(lying) { it in #expect(it.next() == .failure(.truncated(missing: 990))) }
        #expect(lying.withUnsafeBytes { FrameIterator.check($0.baseAddress!, at: 0, size: lying.count, sequence: nil) }
                == .failure(.truncated(missing: 990)))
    }

    @Test func aBadHeaderChecksumIsRejected() throws {
        var a = try frames.encodeFrame(frames.sampleRecords(3))
        a[16] ^= 1  // the record count, under the header CRC
        try walk(a) { it in
            #expect(it.next() == .failure(.headerChecksum))
            #expect(it.offset == 0 && it.frame == 0)
        }
    }

    /// The iterator passes a frame whose data is damaged (its header is
    /// fine); the data CRC check (`dataMatches`) is what catches it.
    @Test func aBadDataChecksumIsCaughtByDataMatches() throws {
        var a = try frames.encodeFrame(frames.sampleRecords(3))
        a[FrameHeader.size + 3] ^= 0x10
        try walk(a) { it in
            guard case .success(let f)? = it.next() else { Issue.record("header is valid"); return }
            let data = UnsafeMutableRawPointer.allocate(byteCount: Int(f.header.compressedLength), alignment: 16)
            defer { data.deallocate() }
            #expect(it.readData(of: f, into: data))
            #expect(!f.header.dataMatches(data))
        }
    }

    @Test func aFrameWithNoRecordsIsEmpty() throws {
        try walk(header(first: 1, count: 0, compressed: 0)) { it in
            #expect(it.next() == .failure(.emptyFrame))
        }
    }

    /// Zero bytes of data: the header's length is honoured (the walk moves
    /// on by the header alone), and the empty data has CRC 0.
    @Test func aFrameWithZeroLengthDataIsWalkedPast() throws {
        let zero = header(first: 1, count: 1, compressed: 0)
        try walk(zero + zero) { it in
            guard case .success(let f)? = it.next() else { Issue.record("zero-length frame"); return }
            #expect(f.header.frameLength == FrameHeader.size)
            #expect(it.offset == FrameHeader.size)
            #expect(it.next() == .failure(.sequenceGap(expected: 2, found: 1)))
        }
    }

    @Test func aFrameAtTheWrongSequenceIsAGap() throws {
        let a = try frames.encodeFrame(frames.sampleRecords(3, first: 5))
        try walk(a, sequence: 1) { it in #expect(it.next() == .failure(.sequenceGap(expected: 1, found: 5))) }
        // A walk that does not know the sequence takes any.
        try walk(a, sequence: nil) { it in
            guard case .success(let f)? = it.next() else { Issue.record("any sequence"); return }
            #expect(f.header.firstSequence == 5)
        }
    }

    @Test func badMagicIsRejected() throws {
        var a = try frames.encodeFrame(frames.sampleRecords(1))
        a[0] = 0
        try walk(a) { it in #expect(it.next() == .failure(.badMagic)) }
    }
}
