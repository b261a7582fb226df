#if canImport(Glibc)
import Glibc
#endif

/// A segment file as an offline reader finds it: its size, and its index
/// file with a verdict on whether a reader may trust it (Protocol/LEDGER.md
/// §4). Used by `vimana ledger`, which works on a directory without a server.
public struct OfflineSegment: Sendable {
    /// Whether the `.idx` beside a segment can be used.
    public enum IndexState: Sendable, Equatable, CustomStringConvertible {
        /// Describes frames of this segment; safe to seek with.
        case valid
        /// Well-formed but not this segment's current index (the server rebuilds it).
        case stale(String)
        /// No `.idx` file.
        case missing
        /// Bad CRC or not a version-1 index.
        case corrupt

        public var description: String {
            switch self {
            case .valid: "valid"
            case .stale(let why): "stale (\(why))"
            case .missing: "missing"
            case .corrupt: "corrupt"
            }
        }

        /// One word, for machine output.
        public var name: String {
            switch self {
            case .valid: "valid"
            case .stale: "stale"
            case .missing: "missing"
            case .corrupt: "corrupt"
            }
        }
    }

    public let name: String
    public let path: String
    public let indexPath: String
    /// The sequence its file name encodes.
    public let firstSequence: UInt64
    public let size: Int
    /// The last segment of the directory, appended to by a running server.
    public let active: Bool
    /// A running server has sealed it but not yet written its final index:
    /// the index is its last checkpoint, judged as an active one's (no
    /// finding for being missing, unsealed or covering less).
    public let indexMayLag: Bool
    /// The decoded index, whatever its state (nil when missing or corrupt).
    public let index: SegmentIndex?
    public let indexState: IndexState

    /// The index when a reader may rely on it.
    public var usableIndex: SegmentIndex? { indexState == .valid ? index : nil }

    /// Reads the segment's size and index. `active` is true for the last
    /// segment. `limit`: only the first `limit` bytes are the segment's (a
    /// running server's active segment, as far as its writer has written
    /// whole frames: a frame being written is no damage). `indexMayLag`: see the property.
    public init(directory: String, name: String, active: Bool, limit: Int? = nil, indexMayLag: Bool = false) {
        self.name = name
        path = directory + "/" + name
        indexPath = directory + "/" + LedgerDirectory.indexName(forSegment: name)
        firstSequence = LedgerDirectory.firstSequence(ofSegment: name) ?? 0
        size = min(FileIO.size(path: path) ?? 0, max(0, limit ?? Int.max))
        self.active = active
        self.indexMayLag = indexMayLag
        guard FileIO.exists(indexPath) else {
            index = nil
            indexState = .missing
            return
        }
        guard let bytes = Ledger.readFile(indexPath), let decoded = SegmentIndex.decode(bytes) else {
            index = nil
            indexState = .corrupt
            return
        }
        index = decoded
        indexState = Self.judge(decoded, firstSequence: firstSequence, size: size, active: active || indexMayLag)
    }

    /// The rules the server applies on open (Ledger+Open.swift): a sealed
    /// segment's index must be sealed and cover the whole file; the active
    /// one's is a checkpoint and may cover less.
    static func judge(_ index: SegmentIndex, firstSequence: UInt64, size: Int, active: Bool) -> IndexState {
        if index.firstSequence != firstSequence {
            return .stale("first sequence \(index.firstSequence), the name says \(firstSequence)")
        }
        if index.coveredBytes > UInt64(size) {
            return .stale("covers \(index.coveredBytes) bytes, the segment has \(size)")
        }
        if !active && !index.sealed { return .stale("not marked sealed") }
        if !active && index.coveredBytes != UInt64(size) {
            return .stale("covers \(index.coveredBytes) of \(size) bytes")
        }
        return .valid
    }

    /// The segments of `directory` in sequence order; the last is the active one.
    public static func list(_ directory: String) throws(LedgerIOError) -> [OfflineSegment] {
        let names = try LedgerDirectory.segments(in: directory)
        return names.enumerated().map { k, name in
            OfflineSegment(directory: directory, name: name, active: k == names.count - 1)
        }
    }
}

extension FileIO {
    /// True when `path` names a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
