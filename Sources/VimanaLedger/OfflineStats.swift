#if canImport(Glibc)
import Glibc
#endif

/// What `vimana ledger stats` reports of one segment.
public struct OfflineSegmentStats: Sendable {
    public var segment: OfflineSegment
    public var frames = 0
    public var records: UInt64 = 0
    /// Bytes of valid frames on disk, headers included (as INFO counts them).
    public var compressedBytes = 0
    /// Bytes of records after inflating.
    public var rawBytes = 0
    /// The sequence after the last valid record.
    public var nextSequence: UInt64
    public var topics: [[UInt8]: UInt64] = [:]
    /// Smallest and largest record timestamps (µs); nil when there are no records.
    public var timestamps: ClosedRange<Int64>?
    /// The first invalid frame, if any: nothing after it is counted.
    public var problem: OfflineProblem?
    /// Records were counted from the index rather than by inflating them all.
    public var usedIndex = false

    public var firstSequence: UInt64 { segment.firstSequence }
    public var lastSequence: UInt64? { records > 0 ? nextSequence - 1 : nil }

    init(segment: OfflineSegment) {
        self.segment = segment
        nextSequence = segment.firstSequence
    }
}

extension OfflineSegmentStats {
    /// Counts `segment`: sizes from every frame (each header and data CRC
    /// checked), records, topics and timestamps from its index where it is
    /// valid, inflating only the frames the index does not cover — the work
    /// the server does on open.
    public static func gather(_ segment: OfflineSegment, scanner: SegmentScanner) throws(LedgerIOError) -> OfflineSegmentStats {
        let fd = try FileIO.open(segment.path, O_RDONLY)
        defer { close(fd) }
        let size = FileIO.size(fd)
        if let index = segment.usableIndex, index.coveredBytes > 0,
           let stats = count(segment, fd: fd, size: size, seed: index, scanner: scanner) {
            return stats
        }
        return count(segment, fd: fd, size: size, seed: nil, scanner: scanner)!
    }

    /// Scans with `seed` standing for the frames it covers; nil when the
    /// frames do not end where the seed says its coverage ends.
    private static func count(_ segment: OfflineSegment, fd: Int32, size: Int, seed: SegmentIndex?,
                              scanner: SegmentScanner) -> OfflineSegmentStats? {
        var model = seed ?? SegmentIndex(firstSequence: segment.firstSequence)
        let decodeFrom = Int(seed?.coveredBytes ?? 0)
        var seedMatches = seed == nil
        let outcome = scanner.scan(fd: fd, path: segment.path, size: size, sequence: segment.firstSequence,
                                   decodeFrom: decodeFrom) { location, records in
            if let seed, location.offset + location.header.frameLength == decodeFrom,
               location.header.nextSequence == seed.nextSequence {
                seedMatches = true
            }
            guard let records else { return }
            model.addFrame(offset: UInt64(location.offset), header: location.header,
                           records: records.lazy.map {
                               RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic)
                           })
        }
        guard seedMatches else { return nil }
        var stats = OfflineSegmentStats(segment: segment)
        stats.frames = outcome.frames
        stats.records = outcome.records
        stats.compressedBytes = outcome.compressedBytes
        stats.rawBytes = outcome.uncompressedBytes
        stats.nextSequence = outcome.nextSequence
        stats.usedIndex = seed != nil
        for (topic, t) in model.topics where t.count > 0 { stats.topics[topic] = t.count }
        if model.recordCount > 0 && model.minTimestamp <= model.maxTimestamp {
            stats.timestamps = model.minTimestamp...model.maxTimestamp
        }
        if let problem = outcome.problem {
            stats.problem = OfflineProblem(
                segment: segment.name, frame: problem.frame, offset: problem.offset, error: problem.error,
                active: segment.active,
                tornTail: segment.active && OfflineReader.isTornTail(problem, sequence: outcome.nextSequence, fd: fd,
                                                                      size: size, scanner: scanner),
                bytesAfter: size - problem.offset)
        }
        return stats
    }
}
