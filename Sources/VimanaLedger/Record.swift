import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// One recorded message, decoded (see Protocol/LEDGER.md §3).
public struct LedgerRecord: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: [UInt8]
        public var value: [UInt8]
        public init(name: [UInt8], value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public var sequence: UInt64
    public var id: StreamID
    public var timestampMicros: Int64
    public var clientID: UInt64
    public var topic: [UInt8]
    public var clientName: [UInt8]
    /// The user the publishing connection was authenticated as, set by the
    /// kernel alone (LEDGER.md §3); empty for the kernel's own records and
    /// for records of format version 1, which did not keep it.
    public var publisher: [UInt8]
    /// Where the record was first published (LEDGER.md §3, version 3): the
    /// node id of the kernel a federated record came from
    /// (Protocol/FEDERATION.md §4); empty for a record published on this
    /// kernel, and for records of format versions 1 and 2.
    public var origin: [UInt8]
    /// The record's sequence in its origin's ledger; 0 when `origin` is empty.
    public var originSequence: UInt64
    public var fields: [Field]

    public init(sequence: UInt64, id: StreamID, timestampMicros: Int64, clientID: UInt64,
                topic: [UInt8], clientName: [UInt8], publisher: [UInt8] = [],
                origin: [UInt8] = [], originSequence: UInt64 = 0, fields: [Field]) {
        self.sequence = sequence
        self.id = id
        self.timestampMicros = timestampMicros
        self.clientID = clientID
        self.topic = topic
        self.clientName = clientName
        self.publisher = publisher
        self.origin = origin
        self.originSequence = originSequence
        self.fields = fields
    }
}

/// How a frame's records are laid out: the frame header's format version
/// (Protocol/LEDGER.md §2, §3). The writer writes `current`; readers read
/// every case, frame by frame.
public enum RecordLayout: UInt16, Sendable, CaseIterable {
    /// Version 1: no publisher.
    case v1 = 1
    /// Version 2: the publisher's user name follows the client name.
    case v2 = 2
    /// Version 3: the origin (a length and bytes) and the origin sequence
    /// (8 bytes) follow the publisher.
    case v3 = 3

    public static let current = RecordLayout.v3

    /// The length-prefixed strings from the topic to the field count: topic
    /// and client name, the publisher from version 2, the origin from 3.
    var strings: Int {
        switch self {
        case .v1: 2
        case .v2: 3
        case .v3: 4
        }
    }

    /// Fixed bytes between those strings and the field count: the origin sequence.
    var afterStrings: Int { self == .v3 ? 8 : 0 }
}

/// Encodes records straight into a byte buffer and decodes them back.
///
/// Encoding on the hot path is `Ledger.append`, which calls `begin`, lets
/// its caller `appendField` through `RecordFields`, then `end`: no record
/// value is built, the bytes go from the request buffer into the batch.
/// Marks and the layout stay inside this module.
public enum RecordCodec {
    /// Bytes before the topic: length, sequence, id ms, id seq, timestamp, client id.
    public static let fixedHeader = 4 + 8 + 8 + 8 + 8 + 8

    /// Where a record being encoded starts, for `end` to patch its lengths.
    struct Mark {
        let start: Int
        let fieldCountOffset: Int
    }

    /// Starts a record in the `current` layout (`layout` only for tests
    /// that write an old one, which drops what it has no room for); returns
    /// the mark to pass to `end`. One `reserve` covers the whole header, so
    /// its numbers and strings are stored with no check of their own (a
    /// check per number cost about 100 instructions per recorded PUBLISH:
    /// docs/PERFORMANCE.md, ledger format version 3).
    @inline(__always)
    static func begin(_ b: inout ByteBuffer, sequence: UInt64, id: StreamID, timestampMicros: Int64,
                      clientID: UInt64, topic: UnsafeRawBufferPointer, clientName: UnsafeRawBufferPointer,
                      publisher: UnsafeRawBufferPointer, origin: UnsafeRawBufferPointer, originSequence: UInt64,
                      layout: RecordLayout = .current) -> Mark {
        let start = b.writeIndex
        // The fixed part, four lengths, the origin sequence, the field count.
        b.reserve(fixedHeader + 4 * 4 + 8 + 4 + topic.count + clientName.count + publisher.count + origin.count)
        var w = HeaderWriter(UnsafeMutableRawPointer(b.base + start))
        w.u32(0)  // patched by `end`
        w.u64(sequence)
        w.u64(id.ms)
        w.u64(id.seq)
        w.u64(UInt64(bitPattern: timestampMicros))
        w.u64(clientID)
        w.bytes(topic)
        w.bytes(clientName)
        if layout != .v1 { w.bytes(publisher) }
        if layout == .v3 {
            w.bytes(origin)
            w.u64(originSequence)
        }
        w.u32(0)  // field count, patched by `end`
        b.writeIndex = start &+ w.written
        return Mark(start: start, fieldCountOffset: b.writeIndex - 4)
    }

    /// Stores little-endian numbers and length-prefixed bytes at `p` onward,
    /// into room the caller reserved.
    struct HeaderWriter {
        let p: UnsafeMutableRawPointer
        var written = 0

        @inline(__always)
        init(_ p: UnsafeMutableRawPointer) { self.p = p }

        @inline(__always)
        mutating func u32(_ v: UInt32) {
            p.storeBytes(of: v.littleEndian, toByteOffset: written, as: UInt32.self)
            written &+= 4
        }

        @inline(__always)
        mutating func u64(_ v: UInt64) {
            p.storeBytes(of: v.littleEndian, toByteOffset: written, as: UInt64.self)
            written &+= 8
        }

        /// A u32 length, then the bytes.
        @inline(__always)
        mutating func bytes(_ v: UnsafeRawBufferPointer) {
            u32(UInt32(v.count))
            if let from = v.baseAddress, v.count > 0 {
                (p + written).copyMemory(from: from, byteCount: v.count)
                written &+= v.count
            }
        }
    }

    @inlinable @inline(__always)
    static func appendField(_ b: inout ByteBuffer, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        b.reserve(8 + name.count + value.count)
        b.appendLE(UInt32(name.count))
        if let p = name.baseAddress, name.count > 0 { b.append(p, name.count) }
        b.appendLE(UInt32(value.count))
        if let p = value.baseAddress, value.count > 0 { b.append(p, value.count) }
    }

    /// Finishes the record begun at `mark` with `fieldCount` fields.
    @inline(__always)
    static func end(_ b: inout ByteBuffer, _ mark: Mark, fieldCount: Int) {
        b.storeLE(UInt32(b.writeIndex - mark.start - 4), at: mark.start)
        b.storeLE(UInt32(fieldCount), at: mark.fieldCountOffset)
    }

    /// Encodes a decoded record (cold paths and tests); an old `layout`
    /// drops what it has no room for: `.v2` the origin, `.v1` the publisher
    /// too (tests of old ledgers).
    public static func append(_ record: LedgerRecord, to b: inout ByteBuffer, layout: RecordLayout = .current) {
        record.topic.withUnsafeBytes { topic in
            record.clientName.withUnsafeBytes { name in
                record.publisher.withUnsafeBytes { publisher in
                    record.origin.withUnsafeBytes { origin in
                        let mark = begin(&b, sequence: record.sequence, id: record.id, timestampMicros: record.timestampMicros,
                                         clientID: record.clientID, topic: topic, clientName: name, publisher: publisher,
                                         origin: origin, originSequence: record.originSequence, layout: layout)
                        for f in record.fields {
                            f.name.withUnsafeBytes { n in f.value.withUnsafeBytes { v in appendField(&b, name: n, value: v) } }
                        }
                        end(&b, mark, fieldCount: record.fields.count)
                    }
                }
            }
        }
    }

    /// What went wrong decoding records.
    public enum DecodeError: Error, Equatable, Sendable {
        case truncated(recordIndex: Int)
        case lengthMismatch(recordIndex: Int)
        case trailingBytes(Int)
        case sequence(expected: UInt64, found: UInt64)
    }

    /// How many records `p[0..<length]` holds back to back, counted by their
    /// length prefixes alone; nil when the last runs past the end.
    public static func count(_ p: UnsafeRawPointer, _ length: Int) -> Int? {
        var r = ByteReader(p, length)
        var n = 0
        while r.remaining > 0 {
            guard let recordLength = r.u32(), r.skip(Int(recordLength)) else { return nil }
            n += 1
        }
        return n
    }

    /// Decodes exactly `count` records laid out as `layout` from
    /// `p[0..<length]`, which must start at `firstSequence` and follow each other.
    /// `only`: the records of other topics are checked just the same but
    /// not returned (nor copied): a read of one topic decodes only its own.
    /// `from`: records before this sequence are passed over on their length
    /// alone; `ids`: records with other IDs are not returned; `limit`:
    /// decoding stops once that many are returned, the rest unlooked at. A
    /// read of the next entry after a known sequence (an agent's next task)
    /// decoded the whole frame around it to keep one. (The frame's
    /// checksum, checked on inflating, covers what is not looked at.)
    public static func decode(_ p: UnsafeRawPointer, _ length: Int, count: Int, firstSequence: UInt64,
                              layout: RecordLayout, only topic: [UInt8]? = nil, from: UInt64 = 0,
                              ids: ClosedRange<StreamID>? = nil, limit: Int = .max) throws(DecodeError) -> [LedgerRecord] {
        var out: [LedgerRecord] = []
        out.reserveCapacity(topic == nil ? min(count, limit) : 0)
        var r = ByteReader(p, length)
        for i in 0..<count {
            if out.count >= limit { return out }
            guard let recordLength = r.u32() else { throw .truncated(recordIndex: i) }
            let end = r.offset + Int(recordLength)
            guard end <= length else { throw .truncated(recordIndex: i) }
            if firstSequence &+ UInt64(i) < from {
                r.offset = end
                continue
            }
            if let topic, !(try isOther(&r, topic, end: end, layout: layout, expected: firstSequence &+ UInt64(i), i)) {
                // Its topic: decoded below from its start.
                r.offset = end - Int(recordLength)
            } else if topic != nil {
                continue
            }
            guard let seq = r.u64(), let ms = r.u64(), let idSeq = r.u64(), let ts = r.u64(), let client = r.u64(),
                  let topic = r.bytes32(), let name = r.bytes32() else {
                throw .truncated(recordIndex: i)
            }
            var publisher: [UInt8] = []
            if layout != .v1 {
                guard let user = r.bytes32() else { throw .truncated(recordIndex: i) }
                publisher = user
            }
            var origin: [UInt8] = []
            var originSequence: UInt64 = 0
            if layout == .v3 {
                guard let node = r.bytes32(), let sequence = r.u64() else { throw .truncated(recordIndex: i) }
                origin = node
                originSequence = sequence
            }
            guard let fieldCount = r.u32() else { throw .truncated(recordIndex: i) }
            // Wrapping, not trapping: a frame header's first + count is checked
            // (FrameHeader.decode); from elsewhere a wrapped value only mismatches.
            let expected = firstSequence &+ UInt64(i)
            guard seq == expected else { throw .sequence(expected: expected, found: seq) }
            var fields: [LedgerRecord.Field] = []
            fields.reserveCapacity(Int(min(fieldCount, UInt32(LedgerLimits.decodeFieldReserve))))
            for _ in 0..<fieldCount {
                guard r.offset < end, let n = r.bytes32(), let v = r.bytes32() else { throw .truncated(recordIndex: i) }
                fields.append(.init(name: n, value: v))
            }
            guard r.offset == end else { throw .lengthMismatch(recordIndex: i) }
            if let ids, !ids.contains(StreamID(ms: ms, seq: idSeq)) { continue }
            out.append(LedgerRecord(sequence: seq, id: StreamID(ms: ms, seq: idSeq), timestampMicros: Int64(bitPattern: ts),
                                    clientID: client, topic: topic, clientName: name, publisher: publisher,
                                    origin: origin, originSequence: originSequence, fields: fields))
        }
        guard r.offset == length else { throw .trailingBytes(length - r.offset) }
        return out
    }

    /// Checks the record after its length (at `r`, ending at `end`) as
    /// `decode` does, without copying anything; true, with `r` at `end`,
    /// when its topic is not `topic`; false (with `r` anywhere) when it is.
    private static func isOther(_ r: inout ByteReader, _ topic: [UInt8], end: Int, layout: RecordLayout,
                                expected: UInt64, _ i: Int) throws(DecodeError) -> Bool {
        guard let seq = r.u64(), r.skip(32), let n = r.u32(), r.remaining >= Int(n) else { throw .truncated(recordIndex: i) }
        let at = r.base + r.offset
        let same = Int(n) == topic.count && topic.withUnsafeBytes { t in
            t.baseAddress.map { memcmp(at, $0, t.count) == 0 } ?? true
        }
        if same { return false }
        // The client name, and the publisher and origin of the later layouts.
        guard r.skip(Int(n)) else { throw .truncated(recordIndex: i) }
        for _ in 1..<layout.strings { guard r.skip32() else { throw .truncated(recordIndex: i) } }
        guard r.skip(layout.afterStrings), let fieldCount = r.u32() else { throw .truncated(recordIndex: i) }
        guard seq == expected else { throw .sequence(expected: expected, found: seq) }
        for _ in 0..<fieldCount {
            guard r.offset < end, r.skip32(), r.skip32() else { throw .truncated(recordIndex: i) }
        }
        guard r.offset == end else { throw .lengthMismatch(recordIndex: i) }
        return true
    }
}

/// A bounds-checked little-endian reader over raw bytes.
public struct ByteReader {
    public let base: UnsafeRawPointer
    public let length: Int
    public var offset = 0

    public init(_ base: UnsafeRawPointer, _ length: Int) {
        self.base = base
        self.length = length
    }

    public var remaining: Int { length - offset }

    public mutating func u16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { offset += 2 }
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    public mutating func u32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { offset += 4 }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    public mutating func u64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    public mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, remaining >= n else { return nil }
        defer { offset += n }
        return Array(UnsafeRawBufferPointer(start: base + offset, count: n))
    }

    /// A u32 length followed by that many bytes.
    public mutating func bytes32() -> [UInt8]? {
        let saved = offset
        guard let n = u32(), let b = bytes(Int(n)) else { offset = saved; return nil }
        return b
    }

    /// Skips a u32 length and that many bytes (as `bytes32`, nothing copied).
    public mutating func skip32() -> Bool {
        let saved = offset
        guard let n = u32(), skip(Int(n)) else { offset = saved; return false }
        return true
    }

    public mutating func skip(_ n: Int) -> Bool {
        guard n >= 0, remaining >= n else { return false }
        offset += n
        return true
    }
}

extension ByteBuffer {
    @inlinable @inline(__always)
    public mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        reserve(size)
        UnsafeMutableRawPointer(base + writeIndex).storeBytes(of: value.littleEndian, as: T.self)
        writeIndex &+= size
    }

    @inlinable @inline(__always)
    public mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        UnsafeMutableRawPointer(base + offset).storeBytes(of: value.littleEndian, as: T.self)
    }
}
