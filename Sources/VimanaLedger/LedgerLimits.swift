/// The ledger's tunables, each with its reason, as nats-server's const.go.
/// What a user may change is in VimanaConfig's `LedgerConfig`; what the
/// format fixes (magic numbers, header sizes, field widths) stays beside the
/// code that reads it (Frame.swift, SegmentIndex.swift, Protocol/LEDGER.md).
public enum LedgerLimits {
    // MARK: - Memory

    /// Committed batches kept in memory after they are written, so that a
    /// reader just behind the writer (XREAD, an agent's next task) is served
    /// without inflating frames from the files.
    public static let tailBytes = 16 << 20
    /// First capacity of a batch's buffer: one loop pass of small records
    /// fits without a regrowth.
    static let batchCapacity = 512
    /// What a batch costs beyond its buffer and offsets (the object, its
    /// counters): a batch of one record must count as what it costs.
    static let batchOverheadBytes = 64
    /// Dropped batches at the head of the tail queue are compacted away once
    /// there are this many and they outnumber the live ones: rarely enough
    /// that the copy is amortised, often enough that the array stays small.
    static let tailQueueCompactAt = 256
    /// Slots of a fresh topic table (a power of two): most ledgers record a
    /// few dozen topics; the table doubles past its load factor.
    static let initialTopicSlots = 64
    /// Fields reserved ahead when a record is decoded: a record's field count
    /// comes from disk, so a damaged one must not reserve gigabytes.
    static let decodeFieldReserve = 1024
    /// First capacity of a frame encoder's, decoder's or scanner's buffer;
    /// they grow to the largest frame met.
    static let frameBufferCapacity = 64 << 10

    // MARK: - Writer

    /// Under `everysec` and `no`, how long the writer lets batches gather
    /// after it wakes while no reply waits on them: under load it writes (and
    /// reports to the loop) at most this often, in larger frames, instead of
    /// once per loop pass. A batch a reply waits on (`submit(urgent:)`) ends
    /// the pause at once; `always` does not gather.
    static let gatherNanos = 1_000_000
    /// Largest raw size of one frame; a bigger queue is split.
    static let maxFrameBytes = 8 << 20
    /// Frame bytes written and not yet fsynced are kept in memory (to be
    /// written again if an fsync fails); past this much the writer fsyncs
    /// whatever the policy, so that copy stays bounded (under `no` this is
    /// the only fsync besides sealing a segment).
    static let maxUnsyncedBytes = 16 << 20
    /// First capacity of the writer's unsynced copy and its frame staging buffer.
    static let writerBufferCapacity = 64 << 10
    /// Frames of fewer raw bytes are stored (zlib level 0), not compressed:
    /// below this deflate costs about 10 µs a frame (its fixed cost) to save
    /// a few hundred bytes, and one small frame per loop pass is what a
    /// reply waiting for its write (XADD, ACK at pipeline 1) produces.
    /// Compaction recompresses them with the rest of the sealed segment.
    static let storedFrameMaxBytes = 2048
    /// Pause between attempts while writes fail (a full disk, an I/O error).
    static let retrySeconds = 1
    /// `everysec`: what "every second" means, between fsyncs.
    static let everysecIntervalNanos: Int64 = 1_000_000_000
    /// How long an idle writer sleeps under `everysec` before it looks at
    /// the clock again: a fifth of the fsync interval, so a due fsync is at
    /// most this late.
    static let everysecIdleWaitMillis = 200
    /// How long an idle writer sleeps under `always` and `no`: it is woken
    /// by every commit, so this only bounds how long a stop can go unseen.
    static let idleWaitSeconds = 1
    /// Largest queue the event loop compresses and writes itself when a
    /// reply waits on it (`writeInline`): a handful of XADDs or ACKs cost it
    /// a few microseconds and save two thread wake-ups per loop pass; more
    /// is left to the writer thread, so no client waits behind a big frame.
    static let inlineWriteMaxBytes = 64 << 10

    // MARK: - Index, reads and maintenance

    /// A new index entry is started once this many bytes have passed since
    /// the last: a read inflates at most this much before its first record.
    public static let indexEntrySpacing: UInt64 = 64 << 10
    /// A topic's entries with at most this many other records between them
    /// are one run (TopicRuns.swift): a read walks those others too, but a
    /// topic interleaved with a few busy ones stays one run, and the run
    /// list grows only for entries far apart.
    static let topicRunGap: UInt64 = 64
    /// Runs kept per topic (16 bytes each); past it the two closest merge:
    /// the memory a scattered topic costs stays bounded (512 bytes).
    static let topicRunsMax = 32
    /// An index file larger than this is not read (and the segment is
    /// scanned instead): no real index comes near it, a damaged length might.
    static let maxIndexFileBytes = 1 << 30
    /// Past this many records, a read answered from memory alone is also
    /// done on the reader thread: decoding and encoding them is work enough
    /// to keep the other clients waiting (about 1 µs each).
    static let backgroundReadRecords = 1000
    /// LEDGER SCAN's COUNT when absent, and its largest: 10,000 entries are a
    /// few ms of the reader thread's work; a reader wanting more calls again
    /// from the cursor. Their size is bounded by `scanPageBytes`, not by the
    /// count (a topic name may be up to 1 MiB).
    public static let scanCountDefault = 100
    public static let scanCountMax = 10_000
    /// A LEDGER SCAN page ends once its entries come to this many bytes (the
    /// last may pass it; at least one is always returned): a reply is one
    /// buffer built on the reader thread and written whole, so it must stay
    /// small beside a client's output limit and the loop's memory, whatever
    /// the topics' and publishers' lengths.
    public static let scanPageBytes = 1 << 20
    /// What an entry costs in the reply besides its topic and publisher: its
    /// RESP framing and numbers (sequence, ID, bytes, time), rounded up.
    static let scanEntryBytes = 128
    /// Entries reserved at once for a scan's answer (the rest grow as needed).
    static let scanReserve = 1024
    /// Frames written by compaction hold at least this much raw record data
    /// (Protocol/LEDGER.md §2): large frames compress better and are fewer to index.
    static let compactedFrameBytes = 1 << 20
    /// Bytes inflated at a time from a frame whose header is damaged.
    static let inflateChunk = 64 << 10
    /// Bytes read or copied at a time by compaction, archiving across file
    /// systems, repair, and the search for the next valid frame past damage.
    static let copyChunk = 1 << 20

    // MARK: - Locking and offline tools

    /// How long `LedgerLock.acquire` keeps trying a lock it finds taken
    /// before it gives up: a reader's probe (`holder(of:)`) holds a shared
    /// lock for two system calls, a server holds it for its life.
    static let lockRetryNanos: Int64 = 200_000_000
    /// The pause between those tries.
    static let lockRetryPauseMicros: UInt32 = 5_000
    /// Bytes of the lock file read for the pid: digits and a newline.
    static let lockPidTextBytes = 32
    /// Bytes of a small text file (`/proc/PID/comm`, a lock file) read at most.
    static let smallFileBytes = 4096
    /// `vimana ledger verify` reports at most this many stream-ID findings per
    /// segment: one bad writer or a bad frame can otherwise produce one line per record.
    static let streamIDFindingsPerSegment = 10
    /// At most this many per-topic count differences per index.
    static let topicFindingsPerIndex = 10
}
