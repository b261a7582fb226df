import VimanaCore
import VimanaBus
import VimanaConfig

/// The kernel's hot mutable state in one struct behind a `let` pointer, so
/// that the hot path reads and writes fields directly (no exclusivity checks
/// on class properties). `~Copyable`, as the connection table and the
/// command index it owns; freeing it frees them.
struct KernelState: ~Copyable {
    /// Every open connection, by file descriptor.
    var connections = ConnectionTable(size: KernelConstants.initialConnectionTable)
    var channels = ChannelTable()
    var patterns = PatternTable()
    /// SSUBSCRIBE's channels: a namespace of their own (SPUBLISH reaches
    /// only these, PUBLISH never), as Redis 7's shard channels.
    var shardChannels = ChannelTable()
    /// WATCHed topics and the connections watching each (MULTI/EXEC): here,
    /// not on the Kernel class, because every append asks whether it is empty.
    var watches = WatchTable()
    /// Replies held for the ledger and publishers paused for its writer:
    /// here because every recorded append holds a reply or asks to stall.
    var ledgerGate = LedgerGate()
    /// Where a published message is framed once before being copied (or
    /// shared) into every subscriber's output.
    var scratch = ByteBuffer(capacity: 4096)
    /// Clients with output to flush before the loop sleeps.
    var pendingWrites: [Int32] = []
    /// Clients to close before the loop sleeps.
    var closing: [Int32] = []
    /// True while `publish` walks the subscription tables: a subscriber cut
    /// off then (output limit) leaves the tables after the walk, from `detachLater`.
    var delivering = false
    var detachLater: [Int32] = []
    /// Clients with a `closeDeadline`: every HTTP connection, and lingering ones.
    var timedClients: Set<Int32> = []
    /// Every client whose `softLimitSince` is set, and those cleared since
    /// the last tick: the timer's soft-limit check looks at these only (and
    /// drops the cleared ones), so idle clients cost it nothing.
    var overSoftLimit: Set<Int32> = []
    /// Listeners taken out of the poll set after accept failed, and when
    /// they are polled again (monotonic ns; a client closing does it sooner).
    var pausedListeners: [Int32] = []
    var acceptResumeAt: Int64 = 0
    /// Rate limit of the `accept failed` log line.
    var lastAcceptErrorLog: Int64 = Int64.min / 2
    var acceptErrorsSuppressed = 0
    /// The earliest time a user's paused publishers resume (monotonic ns;
    /// 0 = none paused): `beforeSleep` looks at this one field per pass.
    var publishResumeAt: Int64 = 0
    var metrics = Metrics()
    /// INFO commandstats and errorstats (CommandStats.swift).
    var stats = CommandStats(CommandTable.entries)
    /// The `instantaneous_*` rates, sampled by the loop's timer.
    var instantaneous: InstantaneousMetrics
    var slowLog = SlowLog()
    var latency = LatencyMonitor()
    /// CONFIG's `slowlog-log-slower-than` (µs; negative: off; 0: every
    /// command), `slowlog-max-len` and `latency-monitor-threshold` (ms; 0:
    /// off), from phoenix.yaml's `kernel` section: set only through their setters
    /// (Kernel+Stats.swift), which keep `slowCallNanos` in step.
    private(set) var slowlogLogSlowerThan = KernelConfig().slowlogLogSlowerThan
    private(set) var slowlogMaxLen = KernelConfig().slowlogMaxLen
    private(set) var latencyMonitorThreshold = KernelConfig().latencyMonitorThreshold
    /// A call that took at least this long (ns) is looked at after it ran
    /// (slow log, latency): the per-command path makes this one compare.
    /// 0 until the slow log has been trimmed to a shortened length.
    var slowCallNanos: Int64 = Int64(KernelConfig().slowlogLogSlowerThan) * 1000
    /// The latest monotonic reading a command's time counts from: when the
    /// loop woke, or the end of the previous command (one reading per command).
    var clockMark: Int64 = 0
    /// The command table as dispatch reads it, built at start.
    let commands = CommandDispatch(CommandTable.entries)
    /// XADD's, XREAD's and XRANGE's options, packed for their scans.
    let streamOptions = StreamOptionTables()
    /// Cached clock readings, refreshed each loop pass.
    var nowNanos: Int64 = 0
    var nowMillis: Int64 = 0
    var nextClientID = 1
    /// Connections in MONITOR mode, in the order they asked (their fds), and
    /// whether there is any.
    var monitors: [Int32] = []
    var monitoring = false
    /// Connections in one of CLIENT REPLY's states (Kernel+ClientReply.swift).
    var repliesControlled = 0
    /// Monitors plus connections in a CLIENT REPLY state: the one field
    /// `call` tests after each command, so that a server with neither pays
    /// one predictable branch for both features. Set only by `countAfterCall`.
    var afterCallWork = 0
    var clientCount = 0
    var httpCount = 0
    var shuttingDown = false
    var shutdownDeadline: Int64 = 0
    var ready = false
    let startMillis: Int64
    /// INFO's `run_id`, as Redis's: 40 random hex characters made at start,
    /// so a client tells this run from the next (the per-agent counters of
    /// AGENTS start again from zero in each run).
    let runID: String
    /// What CONFIG SET and SIGHUP change (`Kernel.apply`), read where used.
    private(set) var settings: LiveSettings
    var limits: Limits { settings.limits }
    /// Pending output below this is under every output limit of every class
    /// (`checkReplyLimit` looks no further).
    private(set) var outputLimitFloor = Int.max
    /// The event classes notified (`notify-keyspace-events`), or 0 when
    /// neither `K` nor `E` is on: `notifyKeyspaceEvent`'s one test.
    private(set) var notifyMask = 0

    init(settings: LiveSettings) {
        self.settings = settings
        startMillis = Clock.wallMillis()
        instantaneous = InstantaneousMetrics(nowMillis: startMillis)
        var generator = SystemRandomNumberGenerator()
        runID = (0..<KernelConstants.runIDBytes).map { _ in
            let b = UInt8.random(in: 0...255, using: &generator)
            return String(b >> 4, radix: 16) + String(b & 15, radix: 16)
        }.joined()
        setSettings(settings)
    }

    deinit { scratch.release() }

    /// Makes `new` the settings, and what is derived from them.
    mutating func setSettings(_ new: LiveSettings) {
        settings = new
        let l = new.limits
        outputLimitFloor = [l.pubsubOutputHard, l.pubsubOutputSoft, l.normalOutputHard, l.normalOutputSoft]
            .filter { $0 > 0 }.min() ?? Int.max
        let events = new.keyspaceEvents
        notifyMask = events.isDisjoint(with: [.keyspace, .keyevent]) ? 0 : events.rawValue
    }

    /// Sets the three statistics settings together and the threshold the
    /// per-command path compares with; values checked by the caller.
    mutating func setStatsSettings(slowlogLogSlowerThan: Int, slowlogMaxLen: Int, latencyMonitorThreshold: Int) {
        let shortened = slowlogMaxLen < self.slowlogMaxLen
        self.slowlogLogSlowerThan = slowlogLogSlowerThan
        self.slowlogMaxLen = slowlogMaxLen
        self.latencyMonitorThreshold = latencyMonitorThreshold
        slowCallNanos = shortened ? 0 : slowCallThreshold
    }

    /// The shortest call the slow log or the latency monitor records, in ns
    /// (`Int64.max`: neither records anything).
    var slowCallThreshold: Int64 {
        var t = Int64.max
        if slowlogLogSlowerThan >= 0 { t = Int64(slowlogLogSlowerThan).multipliedSaturating(by: 1000) }
        if latencyMonitorThreshold > 0 { t = min(t, Int64(latencyMonitorThreshold).multipliedSaturating(by: 1_000_000)) }
        return t
    }

    /// The connection on `fd`, or nil when none is open.
    @inline(__always)
    func client(_ fd: Int32) -> UnsafeMutablePointer<ClientState>? { connections.client(fd) }
}

/// Tunables that are not configuration, each with the reason for its value.
enum KernelConstants {
    /// SCAN's COUNT when none is given (Redis's).
    static let scanDefaultCount = 10
    /// Topics one SCAN call may look at per COUNT, listed keys or not
    /// (Redis's `maxiterations`: ten buckets per COUNT), so that a call
    /// over many topics that are not keys stays short.
    static let scanLooksPerCount = 10
    /// Random positions RANDOMKEY tries before it walks from one.
    static let randomKeyTries = 16
    /// Connections accepted per readable event on a listener, so that a
    /// connection storm cannot starve the clients already served.
    static let acceptBatch = 64
    /// Bytes read per `read` call when no large bulk is expected (Redis: 16 KiB).
    static let readChunk = 16 << 10
    /// Ceiling of the adaptive read size for a client that keeps the socket full.
    static let maxReadChunk = 256 << 10
    /// Bytes written to one client per flush before yielding to others
    /// (Redis's NET_MAX_WRITES_PER_EVENT is 64 KiB).
    static let maxWritePerFlush = 64 << 10
    /// Messages at least this large are shared among subscribers by reference
    /// instead of copied into each output buffer.
    static let sharedMessageThreshold = 8 << 10
    /// Input/output buffers larger than this are returned to the allocator
    /// when they empty, so one burst does not pin memory per connection.
    static let idleBufferLimit = 64 << 10
    /// Initial sizes: small so that 10,000 idle connections stay cheap.
    static let initialInputBuffer = 1 << 10
    static let initialOutputBuffer = 1 << 10
    /// Slots of the connection table at start (it doubles to cover a larger
    /// fd): the default descriptor limit, so most servers never grow it.
    static let initialConnectionTable = 1024
    /// Longest HTTP request head accepted on the observability port.
    static let maxHTTPRequest = 8 << 10
    /// HTTP connections open at once: observability must not become an fd
    /// sink. At the cap the oldest is closed to make room (see acceptClients).
    static let maxHTTPConnections = 64
    /// Time an HTTP client has to send its whole request head. Health
    /// checkers and Prometheus send it at once; five seconds covers a loaded
    /// machine, and bounds how long idle connections can hold the slots.
    static let httpRequestHeadTimeoutNanos: Int64 = 5_000_000_000
    /// After an error reply that closes the connection (protocol error, an
    /// HTTP reply), how long input is still read and discarded so a client
    /// still sending its request gets to read the reply instead of a reset.
    static let lingerNanos: Int64 = 5_000_000_000
    /// How long a connection beyond `default`'s `connections` limit, acting
    /// as no user, has to AUTH as another user (or to find `default` with
    /// room) before it is closed: so that the limit bounds the sockets
    /// anonymous peers hold, while an agent or an admin, who AUTH at once,
    /// still gets in. Ten seconds covers a loaded machine's connect-to-AUTH.
    static let noUserGraceNanos: Int64 = 10_000_000_000
    /// Bytes discarded per read while lingering.
    static let lingerReadChunk = 16 << 10
    /// When accept fails for want of a descriptor or memory (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM), the listener is not polled for this long (or until a
    /// client closes): retrying at once would spin on the level-triggered
    /// listener and starve the clients already served.
    static let acceptBackoffNanos: Int64 = 100_000_000
    /// At most one `accept failed` log line per this interval (the rest are
    /// counted in the next line's `suppressed`).
    static let acceptErrorLogIntervalNanos: Int64 = 10_000_000_000
    /// At most one `ledger writer behind` and one `ledger writer caught up`
    /// log line per this interval: a writer at its limit pauses and resumes
    /// publishers many times a second (each stall is counted in INFO).
    static let ledgerStallLogIntervalNanos: Int64 = 10_000_000_000
    /// How long shutdown waits for output to drain before closing anyway.
    static let shutdownGraceNanos: Int64 = 3_000_000_000
    /// Longest NACK delay: 100 years of 365 days, in ms. Effectively forever,
    /// yet a due time of now + delay stays far inside an Int64 of ms.
    static let maxNackDelayMillis = 100 * 365 * 86_400_000
    /// Largest XAUTOCLAIM COUNT, Redis 7.0's: LONG_MAX / 16 (it bounds the
    /// scan attempts, COUNT × 10, and the reply array of 16-byte IDs).
    static let maxAutoclaimCount = Int.max / 16
    /// Ceiling on the bytes one connection may queue between MULTI and EXEC
    /// (Redis has none but `maxmemory-clients`): the same bound as one
    /// incomplete command (`query_buffer`), since a queued command is as
    /// large as its request.
    static func transactionLimit(_ limits: Limits) -> Int {
        limits.queryBuffer
    }
    /// XAUTOCLAIM looks at no more than COUNT × this many pending entries
    /// (Redis 7.0's `attempts_factor`), so one call stays bounded however
    /// many entries are not idle enough.
    static let autoclaimAttemptsFactor = 10
    /// ACL LOG keeps this many entries (Redis's `acllog-max-len` default).
    static let aclLogMaxLength = 128
    /// ACL LOG without a count shows this many (Redis's).
    static let aclLogDefaultCount = 10
    /// A denial like one of the newest this many entries is counted in it
    /// instead of added (Redis's addACLLogEntry: bounded work per denial)…
    static let aclLogGroupScan = 10
    /// …when they are at most this far apart (Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA).
    static let aclLogGroupingMillis: Int64 = 60_000
    /// ACL GENPASS's default and largest sizes, in bits (Redis's).
    static let genpassDefaultBits = 256
    static let genpassMaxBits = 4096
    /// A user's publishers paused at its publish limit resume once this
    /// share of a second's allowance (the burst) is back: a publisher kept
    /// at its limit is paused about ten times a second rather than once per
    /// message.
    static let publishResumeShare = 0.1
    /// Longest single wait of a paused publisher before its allowance is
    /// looked at again (a huge message at a tiny `publish_bytes` owes a debt
    /// of years): the wait is re-armed then, so no deadline overflows.
    static let maxPublishPauseNanos: Int64 = 3_600_000_000_000
    /// At most one `publisher paused` log line per user per this interval
    /// (every pause is counted in INFO `users`).
    static let publishPauseLogIntervalNanos: Int64 = 10_000_000_000
    /// A supervised agent's start secret: 256 random bits, as ACL GENPASS's
    /// default, beyond any guessing.
    static let agentSecretBytes = 32
    /// INFO's `run_id`: 20 random bytes, Redis's 40 hex characters.
    static let runIDBytes = 20
    /// Descriptors kept beyond `maxclients` for the listeners, the ledger's
    /// files, the agents' pipes and the loop's own (Redis keeps 32 + a few).
    static let reservedDescriptors = 64
    /// Bytes of an error reply searched for the space that ends its code
    /// (INFO errorstats; Redis's afterErrorReply looks at 32).
    static let errorCodeScan = 32
    /// Samples the `instantaneous_*` rates average, and how often they are
    /// taken (Redis's STATS_METRIC_SAMPLES, and serverCron's `run_with_period(100)`).
    static let instantaneousSamples = 16
    static let instantaneousSampleMillis: Int64 = 100
    /// A slow log entry keeps at most this many arguments, each at most this
    /// many bytes (Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING:
    /// a huge XADD must not pin its payload in the log).
    static let slowlogMaxArguments = 32
    static let slowlogMaxString = 128
    /// SLOWLOG GET without a count (Redis's).
    static let slowlogDefaultGetCount = 10
    /// Seconds of samples LATENCY keeps per event (Redis's LATENCY_TS_LEN).
    static let latencySamples = 160
}
