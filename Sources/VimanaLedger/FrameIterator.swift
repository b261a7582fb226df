#if canImport(Glibc)
import Glibc
#endif

/// Where a frame is and what it says.
public struct FrameLocation: Sendable, Equatable {
    public var offset: Int
    public var header: FrameHeader
    /// 0-based frame number in the segment (a damaged stretch counts as one frame).
    public var frame = 0
}

/// Walks the frames of one segment file, header by header. The one place
/// that reads a frame header from a file and checks it (Protocol/LEDGER.md
/// §2): the header itself (`FrameHeader.decode`), that the frame starts at
/// the sequence the walk expects, and that its data ends inside the file.
/// Recovery, reads, compaction and the offline tools all walk with it; what
/// they do with a frame's data (a CRC check, inflating, decoding) is theirs.
public struct FrameIterator {
    public let fd: Int32
    /// The file's size: no frame may run past it.
    public let size: Int
    /// Where the next frame starts; after a failure, where the invalid frame starts.
    public private(set) var offset: Int
    /// The sequence the next frame must start at; nil: any (a walk that does
    /// not know it, or a read at an offset an index gave).
    public private(set) var expected: UInt64?
    /// 0-based number of the next frame, counted from `firstFrame`.
    public private(set) var frame: Int

    public init(fd: Int32, size: Int, from offset: Int = 0, sequence: UInt64? = nil, firstFrame: Int = 0) {
        self.fd = fd
        self.size = size
        self.offset = offset
        expected = sequence
        frame = firstFrame
    }

    /// The next frame, checked, and moves past it; nil at the end of the
    /// file; a failure (the iterator stays at the invalid frame) when its
    /// header is cut short, unreadable or invalid, does not start at
    /// `expected`, or its data runs past the end of the file.
    /// `evenIfCut`: a frame whose header is valid but whose data runs past
    /// the end is returned all the same (a torn tail's cut frames, counted
    /// from their headers); the walk then ends after it.
    public mutating func next(evenIfCut: Bool = false) -> Result<FrameLocation, FrameError>? {
        guard offset < size else { return nil }
        let available = size - offset
        guard available >= FrameHeader.size else { return .failure(.truncated(missing: FrameHeader.size - available)) }
        // 40 bytes on the stack for the 36 of the header.
        var raw: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        let (fd, offset, size, expected) = (fd, offset, size, expected)
        let checked = withUnsafeMutableBytes(of: &raw) { b -> Result<FrameHeader, FrameError> in
            guard let p = b.baseAddress else { return .failure(.truncated(missing: FrameHeader.size)) }
            let got = FileIO.pread(fd, p, FrameHeader.size, at: offset)
            guard got == FrameHeader.size else { return .failure(.truncated(missing: FrameHeader.size - max(got, 0))) }
            return Self.check(UnsafeRawPointer(p), at: offset, size: size, sequence: expected, wholeData: !evenIfCut)
        }
        switch checked {
        case .failure(let error):
            return .failure(error)
        case .success(let header):
            let location = FrameLocation(offset: offset, header: header, frame: frame)
            self.offset = offset + header.frameLength
            if expected != nil { self.expected = header.nextSequence }
            frame += 1
            return .success(location)
        }
    }

    /// Checks the frame header at `p`, found at `offset` in a file of `size`
    /// bytes: `FrameHeader.decode`'s checks, then that the frame starts at
    /// `sequence` when one is given, then (`wholeData`) that its data ends
    /// inside the file. For walks, `next`; for a search through a buffer
    /// (`SegmentScanner.nextValidFrame`), this.
    public static func check(_ p: UnsafeRawPointer, at offset: Int, size: Int, sequence: UInt64?,
                             wholeData: Bool = true) -> Result<FrameHeader, FrameError> {
        let header: FrameHeader
        switch FrameHeader.decode(p) {
        case .success(let h): header = h
        case .failure(let error): return .failure(error)
        }
        if let sequence, header.firstSequence != sequence {
            return .failure(.sequenceGap(expected: sequence, found: header.firstSequence))
        }
        let room = size - offset - FrameHeader.size
        if wholeData && room < Int(header.compressedLength) {
            return .failure(.truncated(missing: Int(header.compressedLength) - room))
        }
        return .success(header)
    }

    /// Reads the data of `frame` (its `compressedLength` bytes after the
    /// header) into `buffer`, which must have room for them; false when the
    /// file ends first. The data's CRC is the caller's to check
    /// (`FrameHeader.dataMatches`, or `FrameDecoder`, which checks it).
    public func readData(of frame: FrameLocation, into buffer: UnsafeMutableRawPointer) -> Bool {
        Self.readData(fd: fd, of: frame, into: buffer)
    }

    /// `readData` for a frame found without an iterator (`FrameIterator.check`).
    public static func readData(fd: Int32, of frame: FrameLocation, into buffer: UnsafeMutableRawPointer) -> Bool {
        let length = Int(frame.header.compressedLength)
        return FileIO.pread(fd, buffer, length, at: frame.offset + FrameHeader.size) == length
    }
}
