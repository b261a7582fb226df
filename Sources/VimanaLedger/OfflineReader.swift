import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// An invalid frame found by an offline reader, placed as `vimana ledger`
/// reports it: segment, frame number, byte offset.
public struct OfflineProblem: Error, Sendable, CustomStringConvertible {
    public var segment: String
    /// 0-based frame number in the segment; nil when it cannot be counted.
    public var frame: Int?
    public var offset: Int
    public var error: FrameError
    /// In the last (active) segment.
    public var active: Bool
    /// A torn tail (LEDGER.md §5): in the active segment, no valid frame
    /// follows, and the bad frame was not written whole. The server cuts it
    /// on start; any other damage is corruption (`vimana ledger repair`).
    public var tornTail: Bool
    /// Bytes from the bad frame to the end of the file.
    public var bytesAfter: Int

    /// `segment NAME: frame F at offset O: REASON`.
    public var description: String {
        "segment \(segment): frame \(frame.map(String.init) ?? "?") at offset \(offset): "
            + (tornTail && active ? "torn tail: " : "") + error.description
    }
}

/// Reads a ledger directory's records in sequence order, with no server:
/// segment after segment, every frame checked, from a position that can be
/// saved and resumed (`vimana ledger tail --follow` polls with it).
///
/// A segment being read is kept open, so compaction renaming a new file over
/// it or retention deleting it does not pull it away mid-read.
public final class OfflineReader {
    /// The next frame to read.
    public struct Position: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        /// First sequence of the frame at `offset`.
        public var sequence: UInt64
    }

    /// Why `read` returned.
    public enum Stop: Sendable {
        /// Read to the end of the last segment.
        case end
        /// Read to the end of the segment (`oneSegment`).
        case endOfSegment
        /// An invalid frame; the position stays at it.
        case problem(OfflineProblem)
        /// The segment could not be opened.
        case unreadable(LedgerIOError)
    }

    public let directory: String
    public private(set) var segments: [OfflineSegment] = []
    public private(set) var position: Position?
    /// Notes on what was passed over (gaps between segments), for stderr.
    public var notes: [String] = []
    /// Gaps and overlaps between segments passed over that no file in
    /// `damaged/` explains: damage (LEDGER.md §1), a segment missing or wrong.
    public private(set) var unexplainedGaps = 0

    private let scanner: SegmentScanner
    private var openSegment: String?
    private var fd: Int32 = -1

    public init(directory: String) throws(LedgerError) {
        self.directory = directory
        do throws(ZlibError) { scanner = try SegmentScanner() } catch { throw LedgerError("zlib initialisation failed") }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Lists the directory's segments again (a running server adds some).
    public func refresh() throws(LedgerIOError) {
        segments = try OfflineSegment.list(directory)
    }

    /// Positions at the first frame of `segments[k]`.
    public func start(atSegment k: Int) {
        position = Position(segment: segments[k].name, offset: 0, sequence: segments[k].firstSequence)
    }

    /// Resumes at a saved position (nil: before the first segment).
    public func move(to p: Position?) { position = p }

    /// Positions at the frame holding `sequence`, or the first frame after
    /// it: in the last segment that starts at or before it, through that
    /// segment's index when it is valid. Returns true when the index was used.
    @discardableResult
    public func seek(to sequence: UInt64) -> Bool {
        guard !segments.isEmpty else { position = nil; return false }
        let k = segments.lastIndex { $0.firstSequence <= sequence } ?? 0
        start(atSegment: k)
        let segment = segments[k]
        guard let index = segment.usableIndex, let fd = try? descriptor(segment.name) else { return false }
        let offset = Int(index.offset(for: sequence))
        // The index names a frame start; check that one is there before trusting it.
        var frames = FrameIterator(fd: fd, size: FileIO.size(fd), from: offset)
        guard offset > 0, case .success(let f)? = frames.next(),
              f.header.firstSequence > segment.firstSequence, f.header.firstSequence <= sequence else { return false }
        position = Position(segment: segment.name, offset: offset, sequence: f.header.firstSequence)
        return true
    }

    /// Reads valid frames from the position on, handing each frame's records
    /// to `body`, through the following segments unless `oneSegment`. Stops
    /// at the end or at the first invalid frame, where the position stays.
    public func read(oneSegment: Bool = false, _ body: ([LedgerRecord]) -> Void) -> Stop {
        while true {
            guard var p = position else {
                if segments.isEmpty { return .end }
                start(atSegment: 0)
                continue
            }
            let path = directory + "/" + p.segment
            let fd: Int32
            do throws(LedgerIOError) { fd = try descriptor(p.segment) } catch { return .unreadable(error) }
            let size = FileIO.size(fd)
            let outcome = scanner.scan(fd: fd, path: path, size: size, from: p.offset, sequence: p.sequence) { _, records in
                body(records ?? [])
            }
            p.offset = outcome.validEnd
            p.sequence = outcome.nextSequence
            position = p
            if let problem = outcome.problem {
                return .problem(describe(problem, segment: p.segment, sequence: p.sequence, fd: fd, size: size))
            }
            if oneSegment { return .endOfSegment }
            guard let next = segments.first(where: { $0.name > p.segment }) else { return .end }
            if next.firstSequence != p.sequence {
                let gap = SequenceGap(first: p.sequence, next: next.firstSequence)
                let repaired = next.firstSequence > p.sequence && LedgerDirectory.repairedGaps(in: directory).contains(gap)
                if !repaired { unexplainedGaps += 1 }
                notes.append("segment \(next.name) starts at sequence \(next.firstSequence), "
                             + "but \(p.segment) ends before \(p.sequence)"
                             + (repaired ? " (\(gap) lost to damage; vimana ledger repair kept its bytes in \(LedgerDirectory.damagedDirectory)/)"
                                : ": a segment is missing or wrong (no file in \(LedgerDirectory.damagedDirectory)/ names the gap)"))
            }
            position = Position(segment: next.name, offset: 0, sequence: next.firstSequence)
        }
    }

    /// Moves past the invalid frame at the position to the next valid frame
    /// of its segment (LEDGER.md §5), or else to the start of the next
    /// segment; false when there is neither.
    public func skipDamage() -> Bool {
        guard let p = position, let fd = try? descriptor(p.segment) else { return skipSegment() }
        if let next = scanner.nextValidFrame(fd: fd, size: FileIO.size(fd), from: p.offset, minimumSequence: p.sequence) {
            position = Position(segment: p.segment, offset: next.offset, sequence: next.header.firstSequence)
            return true
        }
        return skipSegment()
    }

    /// Moves past an invalid frame to the start of the next segment; false
    /// when there is none (the problem is in the last segment).
    public func skipSegment() -> Bool {
        guard let p = position, let next = segments.first(where: { $0.name > p.segment }) else { return false }
        position = Position(segment: next.name, offset: 0, sequence: next.firstSequence)
        return true
    }

    // MARK: - Internals

    private func isLast(_ name: String) -> Bool { segments.last.map { $0.name <= name } ?? true }

    /// The open descriptor of segment `name`, opening it (and closing the previous one).
    private func descriptor(_ name: String) throws(LedgerIOError) -> Int32 {
        if openSegment == name && fd >= 0 { return fd }
        if fd >= 0 { close(fd) }
        fd = -1
        openSegment = nil
        fd = try FileIO.open(directory + "/" + name, O_RDONLY)
        openSegment = name
        return fd
    }

    private func describe(_ problem: FrameProblem, segment: String, sequence: UInt64, fd: Int32, size: Int) -> OfflineProblem {
        let active = isLast(segment)
        return OfflineProblem(segment: segment, frame: Self.frameNumber(at: problem.offset, fd: fd, size: size),
                              offset: problem.offset, error: problem.error, active: active,
                              tornTail: active && Self.isTornTail(problem, sequence: sequence, fd: fd, size: size, scanner: scanner),
                              bytesAfter: size - problem.offset)
    }

    /// The 0-based number of the frame at `offset`, counted by walking
    /// headers from the start; nil when the walk does not land on it.
    static func frameNumber(at offset: Int, fd: Int32, size: Int) -> Int? {
        var frames = FrameIterator(fd: fd, size: size)
        while frames.offset < offset {
            guard case .success? = frames.next() else { return nil }
        }
        return frames.offset == offset ? frames.frame : nil
    }

    /// Damage at `problem` (where `sequence` was expected) that a crash in
    /// the middle of the last write explains, as LEDGER.md §5 defines a torn
    /// tail: no valid frame follows, and the frame was not written whole.
    static func isTornTail(_ problem: FrameProblem, sequence: UInt64, fd: Int32, size: Int, scanner: SegmentScanner) -> Bool {
        scanner.nextValidFrame(fd: fd, size: size, from: problem.offset, minimumSequence: sequence) == nil
            && scanner.wholeRecords(fd: fd, size: size, at: problem.offset, sequence: sequence) == nil
    }
}

/// Which records `vimana ledger dump` and `tail` print: from a sequence on,
/// and on topics matching a Redis glob.
public struct OfflineFilter: Sendable {
    public var from: UInt64
    public var topic: [UInt8]?

    public init(from: UInt64 = 0, topic: [UInt8]? = nil) {
        self.from = from
        self.topic = topic
    }

    public func accepts(_ record: LedgerRecord) -> Bool {
        guard record.sequence >= from else { return false }
        guard let topic else { return true }
        return Glob.isLiteral(topic) ? record.topic == topic : Glob.matches(topic, record.topic)
    }
}
