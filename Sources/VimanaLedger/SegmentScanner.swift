#if canImport(Glibc)
import Glibc
#endif

/// The first invalid frame found in a segment.
public struct FrameProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var segment: String
    /// Frame number counted from the scan's start (0-based).
    public var frame: Int
    public var offset: Int
    public var error: FrameError

    public var description: String { "\(segment): frame \(frame) at offset \(offset): \(error)" }
}

/// Reads a segment frame by frame (walking it with a `FrameIterator`) and
/// checks each frame's data as Protocol/LEDGER.md §2 says. `scan` stops at
/// the first invalid frame; `survey` (SegmentSurvey.swift) goes on past
/// damage and says what kind it is.
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
        var frames = FrameIterator(fd: fd, size: size, from: offset, sequence: sequence, firstFrame: firstFrame)
        while let step = frames.next() {
            func fail(_ e: FrameError) -> Outcome {
                out.problem = FrameProblem(segment: path, frame: frames.frame, offset: frames.offset, error: e)
                return out
            }
            let f: FrameLocation
            switch step {
            case .success(let location): f = location
            case .failure(let error): return fail(error)
            }
            let h = f.header
            // The frame's own number and offset, should its data fail.
            func failData(_ e: FrameError) -> Outcome {
                out.problem = FrameProblem(segment: path, frame: f.frame, offset: f.offset, error: e)
                return out
            }
            ensure(Int(h.compressedLength))
            guard frames.readData(of: f, into: data) else { return failData(.truncated(missing: Int(h.compressedLength))) }
            var records: [LedgerRecord]?
            if depth == .records && f.offset >= decodeFrom {
                do throws(FrameError) {
                    records = try decoder.records(h, data: data)
                } catch {
                    return failData(error)
                }
            } else if !h.dataMatches(data) {
                return failData(.dataChecksum)
            }
            visit(f, records)
            out.validEnd = frames.offset
            out.nextSequence = h.nextSequence
            out.frames += 1
            out.records += UInt64(h.recordCount)
            out.compressedBytes += h.frameLength
            out.uncompressedBytes += Int(h.uncompressedLength)
        }
        return out
    }

    /// Reads and decodes the one frame at `offset` (a read path).
    /// `skip`: a frame whose (valid) header it accepts is not read further
    /// and comes back with nil records. `only`: just that topic's records
    /// are returned (every record is checked all the same); `from`, `ids`
    /// and `limit` as for `RecordCodec.decode`.
    public func readFrame(fd: Int32, path: String, at offset: Int, size: Int, only topic: [UInt8]? = nil,
                          from: UInt64 = 0, ids: ClosedRange<StreamID>? = nil, limit: Int = .max,
                          skip: (FrameHeader) -> Bool = { _ in false }) -> Result<(FrameHeader, [LedgerRecord]?), FrameProblem> {
        func fail(_ e: FrameError) -> Result<(FrameHeader, [LedgerRecord]?), FrameProblem> {
            .failure(FrameProblem(segment: path, frame: -1, offset: offset, error: e))
        }
        var frames = FrameIterator(fd: fd, size: size, from: offset)
        let f: FrameLocation
        switch frames.next() {
        case .success(let location)?: f = location
        case .failure(let error)?: return fail(error)
        case nil: return fail(.truncated(missing: FrameHeader.size))
        }
        if skip(f.header) { return .success((f.header, nil)) }
        ensure(Int(f.header.compressedLength))
        guard frames.readData(of: f, into: data) else { return fail(.truncated(missing: Int(f.header.compressedLength))) }
        do throws(FrameError) {
            return .success((f.header, try decoder.records(f.header, data: data, only: topic, from: from, ids: ids, limit: limit)))
        } catch {
            return fail(error)
        }
    }

    func ensure(_ length: Int) {
        if length > capacity {
            data.deallocate()
            capacity = max(length, capacity * 2)
            data = .allocate(byteCount: capacity, alignment: 16)
        }
    }
}
