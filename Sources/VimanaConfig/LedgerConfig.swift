
/// When the ledger forces written frames to disk, as Redis's appendfsync.
public enum FsyncPolicy: String, Sendable, Equatable, CaseIterable {
    /// fsync before replying to each durable write (group-committed).
    case always
    /// fsync at least once a second (the default).
    case everysec
    /// Leave flushing to the operating system.
    case no
}

/// The `ledger:` section: where and how recorded messages are kept.
public struct LedgerConfig: Sendable, Equatable {
    /// Record messages at all. Off: PUBLISH is pure pub/sub and the stream
    /// commands answer that the ledger is disabled.
    public var enabled: Bool = true
    /// Directory of segment files (created if missing).
    public var dir: String = "data/ledger"
    /// Topics recorded: Redis glob patterns. A topic is recorded when it
    /// matches one of `record` and none of `exclude`.
    public var record: [String] = ["*"]
    /// Topics never recorded, by default those starting with `_`.
    public var exclude: [String] = ["_*"]
    /// When written frames are forced to disk, and so what a durable reply waits for.
    public var fsync: FsyncPolicy = .everysec
    /// zlib level (0-9) for frames written as messages arrive: fast.
    public var compressionLevel: Int = 1
    /// zlib level (0-9) used when a sealed segment is rewritten in large
    /// frames; nil (`off`): sealed segments are not rewritten.
    public var compactionLevel: Int? = 6
    /// Compaction empties the records XDEL, XTRIM and DEL removed (their
    /// fields; the headers stay): false keeps them whole, for audit, still
    /// hidden from reads (Protocol/LEDGER.md §9).
    public var compactionDropDeleted = true
    /// Unwritten bytes beyond which publishers to recorded topics are paused.
    public var maxPending: Int = 64 << 20
    /// A segment is sealed when it reaches this many bytes on disk...
    public var segmentBytes: Int = 64 << 20
    /// ...or when its first record is this many seconds old.
    public var segmentAgeSeconds: Int = 3600
    /// Sealed segments whose newest record is older than this are retired (0: keep).
    public var retentionMaxAgeSeconds: Int = 0
    /// Oldest sealed segments are retired while the ledger is larger (0: no limit).
    public var retentionMaxBytes: Int = 0
    /// `retention.max_age`: up to 100 years of 365 days, effectively forever,
    /// but still far from overflowing a timestamp in microseconds when added to now.
    public static let retentionSecondsRange = 0...(100 * 365 * 86_400)
    /// Where retired segments go; nil deletes them.
    public var archiveDir: String? = nil

    public init() {}

    /// The defaults, with the segment files in `dir` (the ledger's tests and tools).
    public init(dir: String) { self.dir = dir }
}
