import Synchronization
import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// What recovery found and did on open.
public struct RecoveryReport: Sendable {
    public var segments = 0
    public var records: UInt64 = 0
    public var truncatedBytes = 0
    /// Records in the torn tail cut away, summed from the headers in it that
    /// could be read; `droppedRecordsExact` is false when some cut bytes
    /// belonged to no readable header (records there cannot be counted).
    public var droppedRecords = 0
    public var droppedRecordsExact = true
    public var problems: [String] = []
    public var usedCheckpoint = false
    public var nanos: Int64 = 0
}

/// Counters for INFO ledger and /metrics.
public struct LedgerStats: Sendable {
    public var recordsWritten: UInt64 = 0
    public var rawBytesWritten = 0
    public var compressedBytesWritten = 0
    public var fsyncs = 0
    public var fsyncNanosTotal: Int64 = 0
    public var fsyncNanosLast: Int64 = 0
    public var lastFsyncMillis: Int64 = 0
    public var writeErrors = 0
    public var lastError = ""
    public var stalls = 0
    /// Frames inflated to answer reads (XRANGE, XREAD, XINFO): shows the index at work.
    public var framesRead = 0
    /// Records in memory looked at to answer reads: shows the topic runs
    /// (TopicRuns.swift) at work.
    public var tailRecordsExamined = 0
    /// Reads handed to the reader thread (LedgerReader.swift).
    public var backgroundReads = 0
}

/// A segment as the loop sees it: its index, size, and a read-only fd.
final class SegmentView {
    let name: String
    let path: String
    var index: SegmentIndex
    var size: Int
    var readFD: Int32 = -1
    /// Set once frames of this (sealed) segment are found unreadable (Ledger+Damage.swift).
    var damage: DamagedSegment?
    /// Records of this segment removed so far (a trigger for compaction,
    /// not an exact count), and that count when compaction was last asked
    /// to empty them (Ledger+Removals.swift).
    var removed: UInt64 = 0
    var emptied: UInt64 = 0

    init(name: String, path: String, index: SegmentIndex, size: Int) {
        self.name = name
        self.path = path
        self.index = index
        self.size = size
    }

    deinit { if readFD >= 0 { close(readFD) } }

    func fd() -> Int32? {
        if readFD < 0 { readFD = (try? FileIO.open(path, O_RDONLY)) ?? -1 }
        return readFD >= 0 ? readFD : nil
    }

    func reopen() {
        if readFD >= 0 { close(readFD) }
        readFD = -1
    }
}

/// The ledger: every message on a recorded topic, in order, on disk.
///
/// Used from the event-loop thread only (`@unchecked Sendable` so writer
/// events can be hopped onto that thread). Appends go into the current
/// `Batch`; `commit()` hands it to the writer thread; reads combine the
/// segment files with batches still in memory.
public final class Ledger: @unchecked Sendable {
    /// The `ledger:` settings it was made with (`enabled` is the kernel's business).
    public let config: LedgerConfig
    /// Committed batches kept in memory for reads after they are written
    /// (`LedgerLimits.tailBytes`; tests set 0 to read from the files).
    let tailBytesLimit: Int
    let log = Log.shared

    // Sequence and streams.
    public internal(set) var nextSequence: UInt64 = 1
    var topics = TopicMap()
    public internal(set) var streams: [StreamState] = []
    /// DBSIZE: the streams that exist and are not the server's own
    /// (`isListedKey`). Counted once at open, then kept as streams come into
    /// being (an append's first entry, MKSTREAM): they never cease to.
    public internal(set) var listedKeyCount = 0
    /// What has been removed from each stream, by the same index (grown on
    /// first removal), and the streams with any (Ledger+Removals.swift).
    var removals: [Removals] = []
    var removalsInUse: Set<Int> = []
    /// A segment was sealed: the next commit writes every removal state.
    var removalsSnapshotDue = false
    /// The sequence of the last `state` marker a seal wrote (Ledger+Removals.swift).
    var removalsSnapshotSequence: UInt64 = 0
    /// Some stream has a `max-deleted-entry-id` (`hasTombstones`).
    var tombstones = false
    /// Every topic the ledger has seen, in order of first appearance.
    public internal(set) var topicNames: [[UInt8]] = []
    /// Each stream's closed runs of entries, by the same index (TopicRuns.swift).
    var topicRuns: [TopicRuns] = []
    /// Runs describe every entry from this sequence on: what was on disk
    /// when the ledger opened is not in them.
    var runsFrom: UInt64 = 1

    // Storage.
    var segments: [SegmentView] = []
    var writer: LedgerWriter?
    /// Writer events not yet applied (see `post`).
    let writerEvents = Mutex<[WriterEvent]>([])
    var maintenance: LedgerMaintenance?
    /// Does reads that must go to the disk (nil: they are done on the loop).
    var reader: LedgerReader?
    /// What to do with each background read when it comes back, by its id.
    var backgroundReads: [Int: (BackgroundReadResult) -> Void] = [:]
    var nextReadID = 0
    /// The directory's lock (and the archive's), held from `open` to `close`.
    var locks: [LedgerLock] = []
    var current: Batch?
    /// Committed batches not yet trimmed, oldest first.
    var tail = BatchQueue()
    /// Segments sealed whose final index the writer has not yet written
    /// (between its `.rolled` and `.sealed`): LEDGER CHECK expects no final index of them yet.
    var sealedIndexPending: Set<String> = []
    var tailBytes = 0
    /// Everything before this sequence is in segment files.
    public internal(set) var writtenSequence: UInt64 = 1
    /// Everything before this sequence is fsynced.
    public internal(set) var durableSequence: UInt64 = 1
    /// Bytes committed to the writer and not yet written.
    public internal(set) var pendingBytes = 0
    public internal(set) var pendingBatches = 0
    public internal(set) var stats = LedgerStats()
    var scanner: SegmentScanner?
    /// Sealed segments with unreadable frames, oldest first (Ledger+Damage.swift).
    var damagedViews: [SegmentView] = []
    /// Sealed segments a read failed in, to be examined once the read is over.
    var suspects: [SegmentView] = []

    /// For tests: replaces `retentionMaxBytes`.
    var retentionOverride: Int?
    /// `retention.max_age` and `retention.max_bytes` as they are now: the
    /// configuration's at open, then CONFIG SET's or a reload's
    /// (`setRetention`). Read by `enforceRetention`, on this same thread.
    public internal(set) var retentionMaxAgeSeconds: Int
    public internal(set) var retentionMaxBytes: Int
    /// When set, retention (`max_age`, `max_bytes`, LEDGER RETAIN) never
    /// retires a segment holding any sequence at or above it (LEDGER.md
    /// §8): federation's mirror sets it to its cursor, so that no entry
    /// leaves the ledger before it is in the cluster. Loop thread only.
    public var retentionHold: UInt64?

    /// Set while the writer cannot write (a full disk, an I/O error): it
    /// retries every second and clears this once everything is on disk again.
    public internal(set) var writeError: LedgerIOError?

    /// Everything before this sequence is confirmed: handed to the OS with
    /// `write` (`fsync: everysec` and `no`) or fsynced (`always`). A reply
    /// that depends on a record (XADD, an agent's ACK) waits for this.
    public var confirmedSequence: UInt64 { config.fsync == .always ? durableSequence : writtenSequence }

    /// Called on the loop thread when `confirmedSequence` advances.
    public var onConfirmed: ((UInt64) -> Void)?
    /// Called on the loop thread when `durableSequence` advances.
    public var onDurable: ((UInt64) -> Void)?
    /// Called on the loop thread for each fsync of the active segment, with
    /// its duration as the thread that made it measured it (ns).
    public var onFsync: ((Int64) -> Void)?
    /// Called on the loop thread when pending bytes fall back under the limit.
    public var onDrained: (() -> Void)?
    /// Called on the loop thread when a segment has been sealed.
    public var onRolled: (() -> Void)?
    /// Called on the loop thread with the name of each segment sealed (LEDGER SEAL's reply).
    public var onSealed: ((String) -> Void)?
    /// What to do with each housekeeping answer when it comes back, by its id.
    var housekeepingReplies: [Int: (HousekeepingAnswer) -> Void] = [:]
    var nextHousekeepingID = 0

    let filter: TopicFilter
    /// The topic of the last append and its stream index: bursts on one
    /// topic skip the hash lookup.
    var lastTopic: [UInt8] = []
    var lastTopicIndex = -1

    public init(config: LedgerConfig, tailBytes: Int = LedgerLimits.tailBytes) {
        self.config = config
        retentionMaxAgeSeconds = config.retentionMaxAgeSeconds
        retentionMaxBytes = config.retentionMaxBytes
        tailBytesLimit = tailBytes
        filter = TopicFilter(record: config.record.map { Array($0.utf8) }, exclude: config.exclude.map { Array($0.utf8) },
                             reserved: Self.internalTopicPrefix)
    }

    /// The server's own topics (the group journal, the users' journal)
    /// begin so. Clients never append to them, whatever `record` and
    /// `exclude` say: a journal's records are trusted at the next start.
    public static let internalTopicPrefix: [UInt8] = Array("_vimana.".utf8)

    deinit { topics.release() }

    public var isOverPendingLimit: Bool { pendingBytes > config.maxPending }

    // MARK: - Recorded topics

    /// True when messages on `topic` are recorded (matches `record`, not
    /// `exclude`, and is not an internal topic): what a client may append.
    @inline(__always)
    public func records(_ topic: UnsafeRawPointer, _ length: Int) -> Bool {
        filter.records(topic, length)
    }

    // MARK: - Streams

    /// The state of `topic`, if it is a stream (`StreamState.exists`: it
    /// has had entries, or MKSTREAM made it, since it was last deleted).
    public func stream(_ topic: UnsafeRawPointer, _ length: Int) -> StreamState? {
        guard let i = topics.find(topic, length), streams[i].exists else { return nil }
        return streams[i]
    }

    public func stream(_ topic: [UInt8]) -> StreamState? {
        topic.withUnsafeBytes { raw in stream(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, raw.count) }
    }

    /// Index of `topic`'s state, created on first use.
    @inline(__always)
    func streamIndex(_ topic: UnsafeRawPointer, _ length: Int) -> Int {
        if lastTopicIndex >= 0 && lastTopic.count == length
            && lastTopic.withUnsafeBytes({ memcmp($0.baseAddress ?? topic, topic, length) == 0 }) {
            return lastTopicIndex
        }
        let i = lookupStream(topic, length)
        lastTopic = Array(UnsafeRawBufferPointer(start: topic, count: length))
        lastTopicIndex = i
        return i
    }

    private func lookupStream(_ topic: UnsafeRawPointer, _ length: Int) -> Int {
        if let i = topics.find(topic, length) { return i }
        let i = streams.count
        streams.append(StreamState())
        topicRuns.append(TopicRuns())
        removals.append(Removals())
        topicNames.append(Array(UnsafeRawBufferPointer(start: topic, count: length)))
        topics.insert(topic, length, value: i)
        return i
    }

    public var streamCount: Int { streams.count }

    /// Makes `topic` a stream even with no entries (`StreamState.made`):
    /// XGROUP CREATE … MKSTREAM, and a group's topic on start.
    public func makeStream(_ topic: [UInt8]) {
        topic.withUnsafeBytes { raw in
            let i = streamIndex(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, raw.count)
            if !streams[i].exists { comesIntoBeing(i) }
            streams[i].made = true
        }
    }

    /// Stream `i` is about to exist (its first entry, or MKSTREAM).
    func comesIntoBeing(_ i: Int) {
        if !topicNames[i].starts(with: Self.internalTopicPrefix) { listedKeyCount &+= 1 }
    }

    /// `listedKeyCount` from the streams, after a recovery made them.
    func countListedKeys() {
        var n = 0
        for i in 0..<streams.count where isListedKey(at: i) { n += 1 }
        listedKeyCount = n
    }
}
