import Foundation
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// Numbers read from the ledger's files are input like a client's: a frame,
/// an index or a file name that states an impossible sequence or count is
/// invalid, and sums over what the files state saturate, so no file on disk
/// can make the server trap while opening or reading the ledger.
@Suite struct DiskNumbersTests {
    func header(first: UInt64, count: UInt32) -> Result<FrameHeader, FrameError> {
        var raw = [UInt8](repeating: 0, count: FrameHeader.size)
        let h = FrameHeader(firstSequence: first, recordCount: count, uncompressedLength: 0, compressedLength: 0, dataCRC: 0)
        return raw.withUnsafeMutableBytes { p in
            h.encode(into: p.baseAddress!)
            return FrameHeader.decode(UnsafeRawPointer(p.baseAddress!))
        }
    }

    @Test func aFrameWhoseNextSequencePassesTheLimitIsInvalid() {
        let max = FrameHeader.maxSequence
        #expect((try? header(first: max - 1, count: 1).get())?.nextSequence == max)
        #expect(header(first: max, count: 1) == .failure(.sequenceOverflow))
        #expect(header(first: max - 2, count: 3) == .failure(.sequenceOverflow))
        #expect(header(first: UInt64.max, count: 1) == .failure(.sequenceOverflow), "first + count would trap")
        #expect(header(first: UInt64.max - 5, count: UInt32.max) == .failure(.sequenceOverflow))
    }

    @Test func segmentNamesBeyondTheSequenceLimitAreNotSegments() {
        #expect(LedgerDirectory.firstSequence(ofSegment: "09223372036854775807.seg") == UInt64(Int64.max))
        #expect(LedgerDirectory.firstSequence(ofSegment: "09223372036854775808.seg") == nil)
        #expect(LedgerDirectory.firstSequence(ofSegment: "18446744073709551615.seg") == nil)
        #expect(LedgerDirectory.firstSequence(ofSegment: "99999999999999999999.seg") == nil)
    }

    @Test func anIndexStatingImpossibleCountsIsIgnored() {
        var index = SegmentIndex(firstSequence: 1)
        index.nextSequence = 11
        index.coveredBytes = 100
        index.entries = [SegmentIndex.Entry(firstSequence: 1, offset: 0, minMs: 1, maxMs: 2)]
        index.topics[bytes("t")] = TopicStats(count: 10, first: StreamID(ms: 1, seq: 0), last: StreamID(ms: 2, seq: 0))
        #expect(SegmentIndex.decode(index.encoded())?.topics == index.topics)
        index.topics[bytes("t")]?.count = 11
        #expect(SegmentIndex.decode(index.encoded()) == nil, "more records in a topic than in the segment")
        index.topics[bytes("t")]?.count = 1
        index.nextSequence = FrameHeader.maxSequence + 1
        #expect(SegmentIndex.decode(index.encoded()) == nil, "a next sequence beyond the limit")
    }

    /// Sealed segments are trusted through their indexes; overlapping ones
    /// (a damaged or hand-assembled directory) state more records together
    /// than a UInt64 holds. Opening must still work.
    @Test func overlappingIndexesSaturateTheCountsOnOpen() throws {
        let dir = temporaryDirectory()
        let filler = [UInt8](repeating: 0, count: 64)
        for first in [UInt64(1), 2, 3] {
            let name = LedgerDirectory.segmentName(first)
            FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(filler))
            var index = SegmentIndex(firstSequence: first)
            index.nextSequence = FrameHeader.maxSequence
            index.coveredBytes = UInt64(filler.count)
            index.entries = [SegmentIndex.Entry(firstSequence: first, offset: 0, minMs: 1, maxMs: 2)]
            index.sealed = true
            index.compacted = true  // nothing for maintenance to rewrite
            index.topics[bytes("t")] = TopicStats(count: FrameHeader.maxSequence - first,
                                                  first: StreamID(ms: 1, seq: 0), last: StreamID(ms: 2, seq: 0))
            FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.indexName(forSegment: name),
                                           contents: Data(index.encoded()))
        }
        // The active segment, empty.
        FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(4), contents: Data())
        let ledger = Ledger(config: LedgerConfig(dir: dir))
        let report = try ledger.open(notify: TestLoop().notify)
        defer { ledger.close() }
        #expect(report.records == UInt64.max)
        #expect(ledger.stream(bytes("t"))?.length == UInt64.max)
        #expect(ledger.stream(bytes("t"))?.entriesAdded == UInt64.max)
    }
}
