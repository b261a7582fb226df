import VimanaCore

/// The 36-byte header in front of every frame (Protocol/LEDGER.md §2).
public struct FrameHeader: Equatable, Sendable {
    public static let size = 36
    public static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x56, 0x4D, 0x4C, 0x46)  // "VMLF"
    /// The version the writer writes: 3, whose records carry the publisher
    /// and the origin (Protocol/LEDGER.md §3). Version 1 and 2 frames,
    /// written before it, stay readable: a segment may hold all three, each
    /// frame saying its own.
    public static let version: UInt16 = RecordLayout.current.rawValue
    /// Sequence numbers stay below 2^63, so that every count and position
    /// derived from them fits an `Int`: a frame, index or segment name that
    /// goes beyond is invalid (Protocol/LEDGER.md §2). The writer, counting
    /// from 1, cannot get there.
    public static let maxSequence = UInt64(Int64.max)

    public var firstSequence: UInt64
    public var recordCount: UInt32
    public var uncompressedLength: UInt32
    public var compressedLength: UInt32
    public var dataCRC: UInt32
    /// The format version: how its records are laid out.
    public var layout: RecordLayout

    public init(firstSequence: UInt64, recordCount: UInt32, uncompressedLength: UInt32,
                compressedLength: UInt32, dataCRC: UInt32, layout: RecordLayout = .current) {
        self.layout = layout
        self.firstSequence = firstSequence
        self.recordCount = recordCount
        self.uncompressedLength = uncompressedLength
        self.compressedLength = compressedLength
        self.dataCRC = dataCRC
    }

    /// Sequence of the record after this frame's last.
    public var nextSequence: UInt64 { firstSequence + UInt64(recordCount) }
    /// Header plus data.
    public var frameLength: Int { Self.size + Int(compressedLength) }

    /// True when `data` (the frame's `compressedLength` bytes) has the data CRC.
    public func dataMatches(_ data: UnsafeRawPointer) -> Bool {
        CRC32.checksum(data, Int(compressedLength)) == dataCRC
    }

    /// Writes the 36 bytes at `p`.
    public func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.0, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: Self.magic.1, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: Self.magic.2, toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: Self.magic.3, toByteOffset: 3, as: UInt8.self)
        p.storeBytes(of: layout.rawValue.littleEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: firstSequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: recordCount.littleEndian, toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: uncompressedLength.littleEndian, toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: compressedLength.littleEndian, toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: dataCRC.littleEndian, toByteOffset: 28, as: UInt32.self)
        let crc = CRC32.checksum(UnsafeRawPointer(p), 32)
        p.storeBytes(of: crc.littleEndian, toByteOffset: 32, as: UInt32.self)
    }

    /// Reads and checks a header (magic, version, flags, header CRC, sane lengths).
    public static func decode(_ p: UnsafeRawPointer) -> Result<FrameHeader, FrameError> {
        let m = (p.load(fromByteOffset: 0, as: UInt8.self), p.load(fromByteOffset: 1, as: UInt8.self),
                 p.load(fromByteOffset: 2, as: UInt8.self), p.load(fromByteOffset: 3, as: UInt8.self))
        guard m == magic else { return .failure(.badMagic) }
        let crc = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
        guard CRC32.checksum(p, 32) == crc else { return .failure(.headerChecksum) }
        let version = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        guard let layout = RecordLayout(rawValue: version) else { return .failure(.unsupportedVersion(version)) }
        let flags = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        guard flags == 0 else { return .failure(.unknownFlags(flags)) }
        let header = FrameHeader(
            firstSequence: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            recordCount: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self)),
            uncompressedLength: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
            compressedLength: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)),
            dataCRC: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)),
            layout: layout)
        guard header.recordCount > 0 else { return .failure(.emptyFrame) }
        // `nextSequence` (first + count) must be a sequence number itself.
        guard header.firstSequence <= maxSequence - UInt64(header.recordCount) else { return .failure(.sequenceOverflow) }
        return .success(header)
    }
}

/// Why a frame is not valid (Protocol/LEDGER.md §2).
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case headerChecksum
    case unsupportedVersion(UInt16)
    case unknownFlags(UInt16)
    case emptyFrame
    case sequenceOverflow
    case truncated(missing: Int)
    case dataChecksum
    case inflate
    case records(RecordCodec.DecodeError)
    case sequenceGap(expected: UInt64, found: UInt64)

    public var description: String {
        switch self {
        case .badMagic: "bad magic"
        case .headerChecksum: "header checksum mismatch"
        case .unsupportedVersion(let v): "unsupported format version \(v)"
        case .unknownFlags(let f): "unknown flags \(f)"
        case .emptyFrame: "frame with no records"
        case .sequenceOverflow: "first sequence + record count exceeds 2^63 - 1"
        case .truncated(let n): "truncated: \(n) bytes missing"
        case .dataChecksum: "data checksum mismatch"
        case .inflate: "zlib stream does not inflate to the stated length"
        case .records(let e): "records do not parse: \(e)"
        case .sequenceGap(let e, let f): "sequence gap: expected \(e), found \(f)"
        }
    }
}

/// Turns a batch of encoded records into a frame: header + one zlib stream.
/// Reuses its deflate state and output buffer from frame to frame.
public final class FrameEncoder {
    private let deflater: Deflater
    /// Records shorter than this are stored (`StoredZlib`), not deflated;
    /// at level 0 every frame is.
    private let storeBelow: Int
    private var output: UnsafeMutableRawPointer
    private var capacity: Int
    /// The header of the frame `encode` returned last.
    public private(set) var header = FrameHeader(firstSequence: 0, recordCount: 0, uncompressedLength: 0,
                                                 compressedLength: 0, dataCRC: 0)

    /// `storeBelow`: records shorter than this are stored, not compressed
    /// (still a zlib stream: level 0).
    public init(level: Int, storeBelow: Int = 0) throws(ZlibError) {
        deflater = try Deflater(level: level)
        self.storeBelow = level == 0 ? Int.max : storeBelow
        capacity = LedgerLimits.frameBufferCapacity
        output = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { output.deallocate() }

    /// Encodes `count` records (`length` bytes at `records`, laid out as
    /// `layout` says) starting at `firstSequence`; the frame is valid until
    /// the next call.
    public func encode(records: UnsafeRawPointer, length: Int, count: Int,
                       firstSequence: UInt64, layout: RecordLayout = .current) throws(ZlibError) -> UnsafeRawBufferPointer {
        let stored = length < storeBelow
        let need = FrameHeader.size + (stored ? StoredZlib.length(length) : deflater.bound(length))
        if need > capacity {
            output.deallocate()
            capacity = max(need, capacity * 2)
            output = .allocate(byteCount: capacity, alignment: 16)
        }
        let compressed = stored
            ? StoredZlib.encode(records, length, into: output + FrameHeader.size)
            : try deflater.compress(records, length, into: output + FrameHeader.size,
                                    capacity: capacity - FrameHeader.size)
        header = FrameHeader(firstSequence: firstSequence, recordCount: UInt32(count),
                             uncompressedLength: UInt32(length), compressedLength: UInt32(compressed),
                             dataCRC: CRC32.checksum(output + FrameHeader.size, compressed), layout: layout)
        header.encode(into: output)
        return UnsafeRawBufferPointer(start: output, count: FrameHeader.size + compressed)
    }
}

/// Inflates and decodes frames; reuses its inflate state and buffer.
public final class FrameDecoder {
    private let inflater: Inflater
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int

    public init() throws(ZlibError) {
        inflater = try Inflater()
        capacity = LedgerLimits.frameBufferCapacity
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Checks the data CRC, inflates, and calls `body` with the raw records.
    public func inflate<T>(_ header: FrameHeader, data: UnsafeRawPointer,
                           _ body: (UnsafeRawPointer, Int) throws(FrameError) -> T) throws(FrameError) -> T {
        guard header.dataMatches(data) else { throw .dataChecksum }
        let length = Int(header.uncompressedLength)
        if length > capacity {
            buffer.deallocate()
            capacity = max(length, capacity * 2)
            buffer = .allocate(byteCount: capacity, alignment: 16)
        }
        do {
            try inflater.decompress(data, Int(header.compressedLength), into: buffer, expected: length)
        } catch {
            throw .inflate
        }
        return try body(UnsafeRawPointer(buffer), length)
    }

    /// Checks, inflates and decodes a whole frame's records.
    /// `only`: just that topic's records are returned (all are checked).
    public func records(_ header: FrameHeader, data: UnsafeRawPointer, only topic: [UInt8]? = nil,
                        from: UInt64 = 0, ids: ClosedRange<StreamID>? = nil, limit: Int = .max) throws(FrameError) -> [LedgerRecord] {
        try inflate(header, data: data) { (p, n) throws(FrameError) in
            do throws(RecordCodec.DecodeError) {
                return try RecordCodec.decode(p, n, count: Int(header.recordCount), firstSequence: header.firstSequence,
                                              layout: header.layout, only: topic, from: from, ids: ids, limit: limit)
            } catch {
                throw .records(error)
            }
        }
    }
}
