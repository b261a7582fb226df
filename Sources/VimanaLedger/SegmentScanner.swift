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

/// The first invalid frame found in a segment.
public struct FrameProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var segment: String
    /// Frame number counted from the scan's start (0-based).
    public var frame: Int
    public var offset: Int
    public var error: FrameError

    public var description: String { "\(segment): frame \(frame) at offset \(offset): \(error)" }
}

/// Reads a segment frame by frame, checking each as Protocol/LEDGER.md §2
/// says. `scan` stops at the first invalid frame; `survey`
/// (SegmentSurvey.swift) goes on past damage and says what kind it is.
public final class SegmentScanner {
    let decoder: FrameDecoder
    var data: UnsafeMutableRawPointer
    private var capacity: Int
    /// For frames whose header is damaged (SegmentSurvey.swift); made on first use.
    lazy var probe: Inflater? = try? Inflater()

    public init() throws(ZlibError) {
        decoder = try FrameDecoder()
        capacity = LedgerLimits.frameBufferCapacity
        data = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { data.deallocate() }

    public struct Outcome: Sendable {
        /// Offset just past the last valid frame.
        public var validEnd: Int
        /// Sequence after the last valid frame's records.
        public var nextSequence: UInt64
        public var frames: Int
        public var records: UInt64
        public var compressedBytes: Int
        public var uncompressedBytes: Int
        public var problem: FrameProblem?
    }

    /// What to do with each frame's contents.
    public enum Depth {
        /// Check headers and data CRCs only.
        case checksums
        /// Also inflate and parse records (full validity).
        case records
    }

    /// Scans `path` (open as `fd`, `size` bytes) from `offset`, whose first
    /// frame must start at `sequence` and is frame number `firstFrame`.
    /// Frames before `decodeFrom` are checked with `checksums` depth, the rest
    /// with `depth`. `visit` sees each valid frame and, when decoded, its records.
    public func scan(fd: Int32, path: String, size: Int, from offset: Int = 0, sequence: UInt64,
                     firstFrame: Int = 0, decodeFrom: Int = 0, depth: Depth = .records,
                     visit: (FrameLocation, [LedgerRecord]?) -> Void = { _, _ in }) -> Outcome {
        var out = Outcome(validEnd: offset, nextSequence: sequence, frames: 0, records: 0,
                          compressedBytes: 0, uncompressedBytes: 0, problem: nil)
        var position = offset
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        while position < size {
            func fail(_ e: FrameError) -> Outcome {
                out.problem = FrameProblem(segment: path, frame: firstFrame + out.frames, offset: position, error: e)
                return out
            }
            guard size - position >= FrameHeader.size else { return fail(.truncated(missing: FrameHeader.size - (size - position))) }
            let got = header.withUnsafeMutableBytes { FileIO.pread(fd, $0.baseAddress!, FrameHeader.size, at: position) }
            guard got == FrameHeader.size else { return fail(.truncated(missing: FrameHeader.size - max(got, 0))) }
            let decoded = header.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) }
            guard case .success(let h) = decoded else {
                if case .failure(let e) = decoded { return fail(e) }
                return out
            }
            guard h.firstSequence == out.nextSequence else {
                return fail(.sequenceGap(expected: out.nextSequence, found: h.firstSequence))
            }
            let length = Int(h.compressedLength)
            guard size - position - FrameHeader.size >= length else {
                return fail(.truncated(missing: length - (size - position - FrameHeader.size)))
            }
            ensure(length)
            guard FileIO.pread(fd, data, length, at: position + FrameHeader.size) == length else {
                return fail(.truncated(missing: length))
            }
            var records: [LedgerRecord]?
            if depth == .records && position >= decodeFrom {
                do throws(FrameError) {
                    records = try decoder.records(h, data: data)
                } catch {
                    return fail(error)
                }
            } else if CRC32.checksum(data, length) != h.dataCRC {
                return fail(.dataChecksum)
            }
            visit(FrameLocation(offset: position, header: h, frame: firstFrame + out.frames), records)
            position += h.frameLength
            out.validEnd = position
            out.nextSequence = h.nextSequence
            out.frames += 1
            out.records += UInt64(h.recordCount)
            out.compressedBytes += h.frameLength
            out.uncompressedBytes += Int(h.uncompressedLength)
        }
        return out
    }

    /// Reads and decodes the one frame at `offset` (a read path).
    public func readFrame(fd: Int32, path: String, at offset: Int, size: Int) -> Result<(FrameHeader, [LedgerRecord]), FrameProblem> {
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        func fail(_ e: FrameError) -> Result<(FrameHeader, [LedgerRecord]), FrameProblem> {
            .failure(FrameProblem(segment: path, frame: -1, offset: offset, error: e))
        }
        guard size - offset >= FrameHeader.size,
              header.withUnsafeMutableBytes({ FileIO.pread(fd, $0.baseAddress!, FrameHeader.size, at: offset) }) == FrameHeader.size
        else { return fail(.truncated(missing: FrameHeader.size)) }
        let decoded = header.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) }
        let h: FrameHeader
        switch decoded {
        case .success(let v): h = v
        case .failure(let e): return fail(e)
        }
        let length = Int(h.compressedLength)
        ensure(length)
        guard size - offset - FrameHeader.size >= length,
              FileIO.pread(fd, data, length, at: offset + FrameHeader.size) == length else {
            return fail(.truncated(missing: length))
        }
        do throws(FrameError) {
            return .success((h, try decoder.records(h, data: data)))
        } catch {
            return fail(error)
        }
    }

    /// Reads only the header at `offset`.
    public func readHeader(fd: Int32, at offset: Int, size: Int) -> FrameHeader? {
        guard size - offset >= FrameHeader.size else { return nil }
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        guard header.withUnsafeMutableBytes({ FileIO.pread(fd, $0.baseAddress!, FrameHeader.size, at: offset) }) == FrameHeader.size
        else { return nil }
        return try? header.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) }.get()
    }

    func ensure(_ length: Int) {
        if length > capacity {
            data.deallocate()
            capacity = max(length, capacity * 2)
            data = .allocate(byteCount: capacity, alignment: 16)
        }
    }
}
