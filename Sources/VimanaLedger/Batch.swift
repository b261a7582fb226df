import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// Records encoded by the event loop in one pass, handed to the writer as a
/// unit (group commit) and kept by the loop for reads until they are on disk
/// and old enough to drop. Immutable once committed, so both threads may read
/// it without locks.
public final class Batch: @unchecked Sendable {
    public let firstSequence: UInt64
    public internal(set) var count = 0
    /// Encoded records back to back, in the current layout (Protocol/LEDGER.md §3).
    public internal(set) var bytes: ByteBuffer
    /// Offset of each record in `bytes`.
    public internal(set) var offsets: [Int] = []

    init(firstSequence: UInt64) {
        self.firstSequence = firstSequence
        bytes = ByteBuffer(capacity: LedgerLimits.batchCapacity)
    }

    /// Memory the batch holds (buffer and offsets), for the tail's budget:
    /// a batch of one record must count as what it costs, not its 60 bytes.
    public var footprint: Int {
        bytes.capacity + offsets.capacity * MemoryLayout<Int>.stride + LedgerLimits.batchOverheadBytes
    }

    deinit { bytes.release() }

    public var nextSequence: UInt64 { firstSequence + UInt64(count) }
    public var byteCount: Int { bytes.readableBytes }

    /// The record with `sequence`, decoded.
    public func record(_ sequence: UInt64) -> LedgerRecord? {
        guard sequence >= firstSequence && sequence < nextSequence else { return nil }
        let i = Int(sequence - firstSequence)
        let start = offsets[i]
        let end = i + 1 < offsets.count ? offsets[i + 1] : bytes.writeIndex
        return try? RecordCodec.decode(bytes.base + start, end - start, count: 1, firstSequence: sequence,
                                    layout: .current).first
    }

    /// The ID of record `sequence` when it is on `topic`, read in place:
    /// reads that walk the tail for one topic allocate nothing per record
    /// (`summary` builds the topic as an array).
    public func id(_ sequence: UInt64, on topic: UnsafeRawBufferPointer) -> StreamID? {
        guard sequence >= firstSequence && sequence < nextSequence else { return nil }
        let i = Int(sequence - firstSequence)
        let start = offsets[i]
        let end = i + 1 < offsets.count ? offsets[i + 1] : bytes.writeIndex
        let topicAt = RecordCodec.fixedHeader + 4
        guard end - start >= topicAt + topic.count else { return nil }
        let p = UnsafeRawPointer(bytes.base + start)
        guard Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: RecordCodec.fixedHeader, as: UInt32.self))) == topic.count
        else { return nil }
        if let t = topic.baseAddress, topic.count > 0, memcmp(p + topicAt, t, topic.count) != 0 { return nil }
        return StreamID(ms: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt64.self)),
                        seq: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt64.self)))
    }

    /// The summary (topic, id) of record `sequence` without decoding fields.
    public func summary(_ sequence: UInt64) -> RecordSummary? {
        guard sequence >= firstSequence && sequence < nextSequence else { return nil }
        let i = Int(sequence - firstSequence)
        let start = offsets[i]
        let end = i + 1 < offsets.count ? offsets[i + 1] : bytes.writeIndex
        var it = RecordSummaries(bytes.base + start, end - start, count: 1)
        return it.next()
    }
}
