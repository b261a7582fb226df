#if canImport(Glibc)
import Glibc
#endif

/// A stretch of a segment where no valid frame starts (Protocol/LEDGER.md
/// §5): from the first invalid frame to the next valid one, or to the end of
/// the file.
public struct SegmentDamage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Valid frames follow: corruption. The first of them starts at
        /// `end` with sequence `nextSequence`.
        case followed(nextSequence: UInt64)
        /// Runs to the end of the active segment, and a crash in the middle
        /// of a write explains it. `records`: those of the frames cut, summed
        /// from every header in the stretch that can be read; `exact` is false
        /// when cut bytes remain that no readable header accounts for.
        case tornTail(records: UInt64, exact: Bool)
        /// Runs to the end of the file and is not a torn tail: the segment is
        /// sealed (`wholeRecords` nil), or the damaged frame was written whole
        /// (`wholeRecords`: how many records its data holds).
        case trailing(wholeRecords: Int?)
    }

    /// 0-based number of the damaged frame (a damaged stretch counts as one frame).
    public var frame: Int
    public var offset: Int
    /// Where the next valid frame starts, or the size of the file.
    public var end: Int
    /// The sequence the damaged frame should have started at: the first one lost.
    public var firstSequence: UInt64
    /// Why the frame at `offset` is not valid.
    public var error: FrameError
    public var kind: Kind
    /// Valid frames after the stretch, to the end of the segment, and their records.
    public var framesAfter = 0
    public var recordsAfter: UInt64 = 0

    public var isTornTail: Bool {
        if case .tornTail = kind { return true }
        return false
    }

    /// The sequence of the first valid frame after the stretch, when one follows it.
    public var resumeSequence: UInt64? {
        if case .followed(let next) = kind { return next }
        return nil
    }
}

/// A whole segment read past its damage.
public struct SegmentSurvey: Sendable {
    /// Valid frames, their records and bytes.
    public var frames = 0
    public var records: UInt64 = 0
    public var compressedBytes = 0
    public var uncompressedBytes = 0
    /// End of the last valid frame (0 when there is none), and the sequence after its records.
    public var validEnd = 0
    public var nextSequence: UInt64
    /// In file order; only the last may run to the end of the file.
    public var damage: [SegmentDamage] = []

    /// Damage that a torn tail does not explain.
    public var isCorrupt: Bool { damage.contains { !$0.isTornTail } }
    /// The torn tail, if the segment ends in one.
    public var tornTail: SegmentDamage? { damage.last.flatMap { $0.isTornTail ? $0 : nil } }
}

extension SegmentScanner {
    /// The most a damaged frame's zlib stream is inflated to: a frame's
    /// uncompressed length is a 32-bit field.
    static let maxFrameRawBytes = Int(UInt32.max)

    /// Reads a whole segment as `scan` does, and past each invalid frame: the
    /// scan resumes at the next valid frame (Protocol/LEDGER.md §5), and every
    /// damaged stretch is reported with its kind. `active`: the segment is
    /// the last one, where damage at the end may be a torn tail.
    public func survey(fd: Int32, path: String, size: Int, sequence: UInt64, active: Bool,
                       decodeFrom: Int = 0, depth: Depth = .records,
                       visit: (FrameLocation, [LedgerRecord]?) -> Void = { _, _ in }) -> SegmentSurvey {
        var s = SegmentSurvey(nextSequence: sequence)
        var offset = 0, expected = sequence, number = 0
        while true {
            let o = scan(fd: fd, path: path, size: size, from: offset, sequence: expected, firstFrame: number,
                         decodeFrom: decodeFrom, depth: depth, visit: visit)
            s.frames += o.frames
            s.records += o.records
            s.compressedBytes += o.compressedBytes
            s.uncompressedBytes += o.uncompressedBytes
            for k in s.damage.indices {
                s.damage[k].framesAfter += o.frames
                s.damage[k].recordsAfter += o.records
            }
            if o.frames > 0 {
                s.validEnd = o.validEnd
                s.nextSequence = o.nextSequence
            }
            number += o.frames
            guard let problem = o.problem else { return s }
            let lost = o.nextSequence
            // A frame found by the search is valid, so the scan resumed there
            // always passes it; the `+ 1` only guards against looping.
            let searchFrom = o.frames == 0 && offset == problem.offset && !s.damage.isEmpty ? problem.offset + 1 : problem.offset
            if let next = nextValidFrame(fd: fd, size: size, from: searchFrom, minimumSequence: lost) {
                s.damage.append(SegmentDamage(frame: number, offset: problem.offset, end: next.offset, firstSequence: lost,
                                              error: problem.error, kind: .followed(nextSequence: next.header.firstSequence)))
                number += 1
                offset = next.offset
                expected = next.header.firstSequence
                continue
            }
            s.damage.append(SegmentDamage(frame: number, offset: problem.offset, end: size, firstSequence: lost,
                                          error: problem.error,
                                          kind: classifyTrailing(fd: fd, size: size, at: problem.offset, sequence: lost, active: active)))
            return s
        }
    }

    /// The first offset at or after `start` where a frame starts that is
    /// valid in every way of §2 except that its first sequence may be any at
    /// or above `minimumSequence`. Every candidate is checked in full (header,
    /// data CRC, inflate, records): garbage that happens to hold the magic is
    /// not a frame.
    public func nextValidFrame(fd: Int32, size: Int, from start: Int, minimumSequence: UInt64) -> FrameLocation? {
        let window = LedgerLimits.copyChunk + FrameHeader.size
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: window, alignment: 16)
        defer { buffer.deallocate() }
        var base = start
        while base >= 0, size - base >= FrameHeader.size {
            let got = FileIO.pread(fd, buffer, min(window, size - base), at: base)
            guard got >= FrameHeader.size else { return nil }
            let last = got - FrameHeader.size  // the last position with a whole header in the buffer
            var i = 0
            while i <= last {
                guard let hit = memchr(buffer + i, Int32(FrameHeader.magic.0), last - i + 1) else { break }
                i = buffer.distance(to: hit)
                let at = base + i
                if case .success(let h) = FrameIterator.check(UnsafeRawPointer(buffer + i), at: at, size: size, sequence: nil),
                   h.firstSequence >= minimumSequence, isValid(fd: fd, FrameLocation(offset: at, header: h)) {
                    return FrameLocation(offset: at, header: h)
                }
                i += 1
            }
            base += last + 1
        }
        return nil
    }

    /// True when the frame whose header was checked at `frame.offset` is whole and valid.
    func isValid(fd: Int32, _ frame: FrameLocation) -> Bool {
        ensure(Int(frame.header.compressedLength))
        guard FrameIterator.readData(fd: fd, of: frame, into: data) else { return false }
        do throws(FrameError) {
            _ = try decoder.records(frame.header, data: data)
            return true
        } catch {
            return false
        }
    }

    /// What damage that runs from `offset` to the end of the file is.
    func classifyTrailing(fd: Int32, size: Int, at offset: Int, sequence: UInt64, active: Bool) -> SegmentDamage.Kind {
        // In a sealed segment any damage is corruption: no need to look closer.
        guard active else { return .trailing(wholeRecords: nil) }
        if let whole = wholeRecords(fd: fd, size: size, at: offset, sequence: sequence) { return .trailing(wholeRecords: whole) }
        let (records, exact) = cutRecords(fd: fd, size: size, at: offset, sequence: sequence)
        return .tornTail(records: records, exact: exact)
    }

    /// How many records the frame at `offset` holds if it was written whole,
    /// whatever its header says: its 36 header bytes are followed by a
    /// complete zlib stream that inflates to one or more whole records whose
    /// sequences start at `sequence`, in the layout of any format version.
    /// A crash tears the end of a write, so it
    /// cannot leave such a frame; a damaged header on a complete frame can.
    func wholeRecords(fd: Int32, size: Int, at offset: Int, sequence: UInt64) -> Int? {
        let start = offset + FrameHeader.size
        guard size > start, let probe else { return nil }
        let length = size - start
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 16)
        defer { bytes.deallocate() }
        guard FileIO.pread(fd, bytes, length, at: start) == length,
              let (_, raw) = probe.inflatePrefix(bytes, length, limit: Self.maxFrameRawBytes), !raw.isEmpty else { return nil }
        return raw.withUnsafeBytes { b -> Int? in
            guard let base = b.baseAddress, let n = RecordCodec.count(base, b.count), n > 0 else { return nil }
            // The header that would say the layout may be the damaged part: whole in any version is whole.
            for layout in RecordLayout.allCases {
                do throws(RecordCodec.DecodeError) {
                    _ = try RecordCodec.decode(base, b.count, count: n, firstSequence: sequence, layout: layout)
                    return n
                } catch {
                    continue
                }
            }
            return nil
        }
    }

    /// The records of the frames from `offset` to the end of the file, read
    /// from each header that can be read in turn; `exact` is false when bytes
    /// remain that no readable header accounts for.
    func cutRecords(fd: Int32, size: Int, at offset: Int, sequence: UInt64) -> (records: UInt64, exact: Bool) {
        var frames = FrameIterator(fd: fd, size: size, from: offset, sequence: sequence)
        var records: UInt64 = 0
        while case .success(let f)? = frames.next(evenIfCut: true) { records += UInt64(f.header.recordCount) }
        return (records, frames.offset >= size)
    }
}
