import VimanaCore

/// How many records a topic has in a segment, and its first and last IDs.
public struct TopicStats: Equatable, Sendable {
    public var count: UInt64
    public var first: StreamID
    public var last: StreamID

    public init(count: UInt64, first: StreamID, last: StreamID) {
        self.count = count
        self.first = first
        self.last = last
    }

    mutating func add(_ id: StreamID) {
        if count == 0 { first = id }
        last = id
        count += 1
    }
}

/// A segment's sparse index and summary (Protocol/LEDGER.md §4): where its
/// frames start, the ID range of each stretch, and per-topic stats, so that
/// reads and recovery skip what they do not need.
public struct SegmentIndex: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var firstSequence: UInt64
        public var offset: UInt64
        public var minMs: UInt64
        public var maxMs: UInt64
    }

    public static let magic: [UInt8] = [0x56, 0x4D, 0x4C, 0x49]  // "VMLI"
    public static let version: UInt16 = 1
    /// Flag bits this version knows (sealed, compacted); an index with any
    /// other is from a later format and is ignored, as a frame would be.
    static let knownFlags: UInt16 = 3

    public var firstSequence: UInt64
    public var coveredBytes: UInt64 = 0
    public var nextSequence: UInt64
    public var minTimestamp: Int64 = .max
    public var maxTimestamp: Int64 = .min
    public var sealed = false
    /// Rewritten into large frames by compaction.
    public var compacted = false
    public var entries: [Entry] = []
    public var topics: [[UInt8]: TopicStats] = [:]

    public init(firstSequence: UInt64) {
        self.firstSequence = firstSequence
        nextSequence = firstSequence
    }

    public var recordCount: UInt64 { nextSequence - firstSequence }

    /// Accounts for a frame written at `offset` holding `records`.
    public mutating func addFrame(offset: UInt64, header: FrameHeader, records: some Sequence<RecordSummary>) {
        var lo = UInt64.max, hi = UInt64.min
        for r in records {
            lo = min(lo, r.id.ms)
            hi = max(hi, r.id.ms)
            minTimestamp = min(minTimestamp, r.timestampMicros)
            maxTimestamp = max(maxTimestamp, r.timestampMicros)
            topics[r.topic, default: TopicStats(count: 0, first: r.id, last: r.id)].add(r.id)
        }
        if let last = entries.last, offset - last.offset < LedgerLimits.indexEntrySpacing {
            entries[entries.count - 1].minMs = min(last.minMs, lo)
            entries[entries.count - 1].maxMs = max(last.maxMs, hi)
        } else {
            entries.append(Entry(firstSequence: header.firstSequence, offset: offset, minMs: lo, maxMs: hi))
        }
        coveredBytes = offset + UInt64(header.frameLength)
        nextSequence = header.nextSequence
    }

    /// The offset to start scanning from to find `sequence` (the last entry at or before it).
    public func offset(for sequence: UInt64) -> UInt64 {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].firstSequence <= sequence { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? 0 : entries[lo - 1].offset
    }

    // MARK: - File encoding

    public func encoded() -> [UInt8] {
        var b = ByteBuffer(capacity: 64 + entries.count * 32 + topics.count * 64)
        defer { b.release() }
        b.append(contentsOf: Self.magic)
        b.appendLE(Self.version)
        b.appendLE(UInt16((sealed ? 1 : 0) | (compacted ? 2 : 0)))
        b.appendLE(firstSequence)
        b.appendLE(coveredBytes)
        b.appendLE(nextSequence)
        b.appendLE(UInt64(bitPattern: minTimestamp == .max ? 0 : minTimestamp))
        b.appendLE(UInt64(bitPattern: maxTimestamp == .min ? 0 : maxTimestamp))
        b.appendLE(UInt32(entries.count))
        b.appendLE(UInt32(topics.count))
        for e in entries {
            b.appendLE(e.firstSequence)
            b.appendLE(e.offset)
            b.appendLE(e.minMs)
            b.appendLE(e.maxMs)
        }
        for (name, t) in topics.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            b.appendLE(UInt32(name.count))
            b.append(contentsOf: name)
            b.appendLE(t.count)
            b.appendLE(t.first.ms)
            b.appendLE(t.first.seq)
            b.appendLE(t.last.ms)
            b.appendLE(t.last.seq)
        }
        let crc = CRC32.checksum(b.readPointer, b.readableBytes)
        b.appendLE(crc)
        return b.unreadBytes
    }

    /// Decodes an index file; nil when it is not a valid version-1 index
    /// (every condition of Protocol/LEDGER.md §4 that the file alone can
    /// show; the caller checks it against its segment).
    public static func decode(_ bytes: [UInt8]) -> SegmentIndex? {
        bytes.withUnsafeBytes { raw -> SegmentIndex? in
            guard let base = raw.baseAddress, raw.count >= 60 else { return nil }
            let body = raw.count - 4
            let stored = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: body, as: UInt32.self))
            guard CRC32.checksum(base, body) == stored else { return nil }
            var r = ByteReader(base, body)
            guard r.bytes(4) == magic, r.u16() == version, let flags = r.u16(),
                  let first = r.u64(), let covered = r.u64(), let next = r.u64(),
                  let minTs = r.u64(), let maxTs = r.u64(), let entryCount = r.u32(), let topicCount = r.u32(),
                  next >= first, next <= FrameHeader.maxSequence,
                  flags & ~Self.knownFlags == 0,
                  // Nothing covered: no entries and no records; else the first frame has the first entry.
                  (covered == 0) == (entryCount == 0), covered > 0 || next == first else { return nil }
            var index = SegmentIndex(firstSequence: first)
            index.sealed = flags & 1 != 0
            index.compacted = flags & 2 != 0
            index.coveredBytes = covered
            index.nextSequence = next
            if next > first {
                index.minTimestamp = Int64(bitPattern: minTs)
                index.maxTimestamp = Int64(bitPattern: maxTs)
            }
            guard UInt64(entryCount) * 32 <= UInt64(r.remaining) else { return nil }
            index.entries.reserveCapacity(Int(entryCount))
            for _ in 0..<entryCount {
                guard let s = r.u64(), let o = r.u64(), let lo = r.u64(), let hi = r.u64() else { return nil }
                // In order, inside the covered bytes and sequences.
                if let last = index.entries.last, o <= last.offset || s <= last.firstSequence { return nil }
                if index.entries.isEmpty && (o != 0 || s != first) { return nil }
                guard o < covered, s >= first, s < next else { return nil }
                index.entries.append(Entry(firstSequence: s, offset: o, minMs: lo, maxMs: hi))
            }
            var previous: [UInt8]?
            for _ in 0..<topicCount {
                guard let name = r.bytes32(), let count = r.u64(), let fm = r.u64(), let fs = r.u64(),
                      let lm = r.u64(), let ls = r.u64() else { return nil }
                // Sorted bytewise, each once: a duplicate would be counted twice on open.
                if let previous, !previous.lexicographicallyPrecedes(name) { return nil }
                previous = name
                // A topic cannot have more records than the segment: counts are summed on open.
                guard count <= next - first else { return nil }
                index.topics[name] = TopicStats(count: count, first: StreamID(ms: fm, seq: fs), last: StreamID(ms: lm, seq: ls))
            }
            guard r.remaining == 0 else { return nil }
            return index
        }
    }
}

/// What the index needs to know of a record, without its fields.
public struct RecordSummary: Sendable {
    public var sequence: UInt64
    public var id: StreamID
    public var timestampMicros: Int64
    public var topic: [UInt8]
}

/// Walks encoded records for their summaries (sequence, ID, time, topic)
/// without copying fields: what the writer needs for the index.
public struct RecordSummaries: Sequence, IteratorProtocol {
    var reader: ByteReader
    var left: Int

    public init(_ p: UnsafeRawPointer, _ length: Int, count: Int) {
        reader = ByteReader(p, length)
        left = count
    }

    public mutating func next() -> RecordSummary? {
        guard left > 0 else { return nil }
        left -= 1
        let start = reader.offset
        guard let length = reader.u32(), let seq = reader.u64(), let ms = reader.u64(), let idSeq = reader.u64(),
              let ts = reader.u64(), reader.skip(8), let topic = reader.bytes32() else { return nil }
        reader.offset = start + 4 + Int(length)
        return RecordSummary(sequence: seq, id: StreamID(ms: ms, seq: idSeq),
                             timestampMicros: Int64(bitPattern: ts), topic: topic)
    }
}
