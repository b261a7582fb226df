import VimanaAgentKit
import VimanaRESP

// science: topic analytics from the ledger (docs/SYSTEM-AGENTS.md). Its
// scanner (SystemAgents.swift, `Science.scan`) reads the ledger forward with
// LEDGER SCAN, folds each record's metadata into per-topic, per-time-bucket
// aggregates (`ScienceAggregator`), and now and then appends a `checkpoint`
// event: the buckets changed since the last one, with their whole values,
// and the cursor they account for. The state is the fold of those events,
// so a restart (of science or of the kernel) resumes at the last cursor with
// exactly the counts of the records before it: none lost, none counted twice.
// The queries answer from that state, never from the ledger.

/// science's limits, each with its reason.
public enum ScienceLimits {
    /// `window` when absent (the contract with scribe): an hour.
    public static let windowDefault = 3600
    /// The largest `window` taken (then capped at the buckets kept): ten years.
    public static let windowMax = 10 * 366 * 86_400
    /// Publishers listed per topic (the contract with scribe).
    public static let topPublishers = 10
    /// Distinct publishers counted per bucket; the rest are counted together
    /// as `otherPublishers`, so a topic with a publisher per message cannot
    /// grow a bucket without bound.
    public static let publishersPerBucket = 100
    public static let otherPublishers = "(other)"
    /// Topics tracked; records of further topics are counted in `untracked`
    /// only: memory is at most topics × buckets kept.
    public static let topics = 10_000
    /// Buckets kept in all, whatever `system.science.bucket` and `retention`
    /// say: a record that would start another is counted in `untracked`
    /// until retention drops old ones. A bucket of a short topic with a few
    /// publishers costs about 1 KB in memory, so this bounds the state near
    /// a gigabyte however it is configured (10,000 topics × 1,440 buckets, the
    /// defaults' bound, would be 14.4 million).
    public static let bucketsMax = 1_000_000
    /// A checkpoint is written as soon as the buckets changed since the last
    /// come to this many bytes of JSON (counted per record, the scan cut at
    /// the record that reaches it), even before the checkpoint interval: with
    /// the largest bucket (`bucketBytesMax`) on top, an event stays well
    /// under the kernel's default `max_payload` (1 MiB), which refuses it.
    public static let checkpointBytes = 256 << 10
    /// Topic and publisher names longer than this are not bucketed: a record
    /// of such a topic is counted in `untracked`, such a publisher as
    /// `otherPublishers`. So a bucket's JSON is at most about
    /// `bucketBytesMax`: the topic, 100 publishers, every size class.
    public static let nameBytes = 1024
    /// A bucket's JSON at most, rounded up: its topic (`nameBytes`), its
    /// fixed fields (~300 bytes), `publishersPerBucket` + 1 publishers of
    /// `nameBytes` and a count (~30 bytes of quotes and digits each), and
    /// about 1,000 size classes of ~25 bytes.
    static let bucketBytesMax = 160 << 10
    /// What a bucket's JSON costs besides its topic, publishers and size
    /// classes (keys, numbers, IDs), and what each publisher or size class
    /// adds besides its name: upper estimates.
    static let bucketFixedBytes = 320
    static let entryBytes = 32
    /// A `topics` reply stops once its topics come to this many bytes (an
    /// upper estimate), with `next` to ask for the rest: a topic with ten
    /// publishers of `nameBytes` is about 12 KiB, so the reply stays under
    /// the kernel's default `max_payload` (1 MiB).
    static let topicsReplyBytes = 512 << 10
    /// Size classes per power of two (`SizeHistogram`): 16, so a percentile
    /// is at most 1/16 (6.25 %) above the true size.
    static let subBucketBits = 4
    /// Entries of events.science read per XRANGE while the scanner rebuilds (as the kit's runtime).
    static let replayPage = 1000
    /// The scanner's wait before it connects again after a failure, doubled
    /// up to the maximum while failures follow each other: a kernel coming
    /// back is found in half a second, a refusal is logged twice a minute.
    static let retryFirstMicros: UInt32 = 500_000
    static let retryMaxMicros: UInt32 = 30_000_000
}

// MARK: - Sizes

/// Payload sizes, counted by class: sizes below 32 bytes exactly, larger
/// ones in 16 classes per power of two (log-linear, as HdrHistogram). A
/// percentile is the upper bound of the class that holds it, capped at the
/// largest size seen: never below the true value, at most 6.25 % above it.
public struct SizeHistogram: Sendable, Equatable {
    /// Count per class index.
    public var classes: [Int: Int] = [:]

    public init() {}

    static let linear = 2 << ScienceLimits.subBucketBits  // 32: sizes below are exact

    /// The class of `size` (≥ 0).
    public static func sizeClass(_ size: Int) -> Int {
        let v = max(0, size)
        if v < linear { return v }
        let e = Int.bitWidth - 1 - v.leadingZeroBitCount  // ≥ 5
        let shift = e - ScienceLimits.subBucketBits
        let sub = (v >> shift) & ((1 << ScienceLimits.subBucketBits) - 1)
        return linear + (e - ScienceLimits.subBucketBits - 1) * (1 << ScienceLimits.subBucketBits) + sub
    }

    /// The largest size in class `k`.
    public static func upperBound(_ k: Int) -> Int {
        if k < linear { return max(0, k) }
        let per = 1 << ScienceLimits.subBucketBits
        let e = (k - linear) / per + ScienceLimits.subBucketBits + 1
        let sub = (k - linear) % per
        let shift = e - ScienceLimits.subBucketBits
        guard e < Int.bitWidth - 1 else { return Int.max }
        let top = (per + sub + 1) << shift
        return top < 0 ? Int.max : top - 1
    }

    public mutating func add(_ size: Int, times: Int = 1) {
        classes[Self.sizeClass(size), default: 0] &+= times
    }

    public mutating func merge(_ other: SizeHistogram) {
        for (k, n) in other.classes { classes[k, default: 0] &+= n }
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank, capped at `max`; 0 when empty.
    public func percentile(_ p: Double, max: Int) -> Int {
        let total = classes.values.reduce(0, &+)
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, Int((p / 100 * Double(total)).rounded(.up)))
        var seen = 0
        for k in classes.keys.sorted() {
            seen &+= classes[k] ?? 0
            if seen >= rank { return Swift.min(Self.upperBound(k), max) }
        }
        return max
    }
}

// MARK: - State

/// One topic's records in one time bucket.
public struct TopicBucket: Sendable, Equatable {
    public var messages = 0
    public var bytes = 0
    public var maxBytes = 0
    /// Messages per publisher (at most `ScienceLimits.publishersPerBucket`, then `(other)`).
    public var publishers: [String: Int] = [:]
    public var sizes = SizeHistogram()
    /// The first and last record counted: entry ID and time (µs).
    public var firstID = ""
    public var firstMicros: Int64 = 0
    public var lastID = ""
    public var lastMicros: Int64 = 0

    public init() {}

    mutating func add(_ r: ScienceRecord) {
        if messages == 0 {
            firstID = r.id
            firstMicros = r.micros
        }
        messages &+= 1
        bytes &+= r.bytes
        maxBytes = max(maxBytes, r.bytes)
        if publishers[r.publisher] != nil || publishers.count < ScienceLimits.publishersPerBucket {
            publishers[r.publisher, default: 0] &+= 1
        } else {
            publishers[ScienceLimits.otherPublishers, default: 0] &+= 1
        }
        sizes.add(r.bytes)
        lastID = r.id
        lastMicros = r.micros
    }
}

/// One record as science counts it: LEDGER SCAN's metadata.
public struct ScienceRecord: Sendable, Equatable {
    public var sequence: UInt64
    public var topic: String
    public var id: String
    public var publisher: String
    public var bytes: Int
    public var micros: Int64

    public init(sequence: UInt64, topic: String, id: String, publisher: String, bytes: Int, micros: Int64) {
        self.sequence = sequence
        self.topic = topic
        self.id = id
        self.publisher = publisher
        self.bytes = bytes
        self.micros = micros
    }
}

/// What science knows, rebuilt from `events.science`.
public struct ScienceState: Sendable, Equatable {
    /// The next ledger sequence to read: every record before it is counted.
    public var cursor: UInt64 = 0
    /// Buckets by topic, then by start (seconds since the epoch).
    public var topics: [String: [Int64: TopicBucket]] = [:]
    /// Sequences the ledger no longer had when science came to them (retention, damage).
    public var skipped: UInt64 = 0
    /// Records not counted: of topics beyond `ScienceLimits.topics`, or older than the buckets kept.
    public var untracked: UInt64 = 0
    /// Checkpoints folded.
    public var checkpoints = 0
    /// The scanner's clock at the last checkpoint (ms).
    public var checkpointMillis: Int64 = 0

    public init() {}
}

/// How science buckets time (`system.science`).
public struct ScienceSettings: Sendable, Equatable {
    /// Bucket width in seconds.
    public var bucketSeconds: Int
    /// Buckets older than this many seconds are dropped.
    public var retentionSeconds: Int

    public init(bucketSeconds: Int, retentionSeconds: Int) {
        self.bucketSeconds = max(1, bucketSeconds)
        self.retentionSeconds = max(self.bucketSeconds, retentionSeconds)
    }

    /// The start (s) of the bucket holding time `micros`.
    func bucket(ofMicros micros: Int64) -> Int64 {
        let s = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let w = Int64(bucketSeconds)
        return s >= 0 ? s - s % w : s - ((s % w) + w) % w
    }

    /// The oldest bucket start kept at time `millis`: the bucket holding
    /// `millis` − retention (it overlaps the longest window, as `inWindow` counts).
    func oldestKept(atMillis millis: Int64) -> Int64 {
        let (micros, overflow) = (millis - Int64(retentionSeconds) * 1000).multipliedReportingOverflow(by: 1000)
        return overflow ? Int64.min : bucket(ofMicros: micros)
    }
}

// MARK: - Aggregating (the scanner's side)

/// The scanner's working copy: the state folded from the events, plus the
/// records read since, and which buckets they changed.
public struct ScienceAggregator: Sendable {
    public let settings: ScienceSettings
    public private(set) var state: ScienceState
    /// Buckets changed since the last checkpoint.
    public private(set) var dirty: Set<BucketKey> = []
    /// Their JSON's size (an upper estimate), kept as records are counted.
    public private(set) var dirtyBytes = 0
    /// Buckets in `state`, kept as buckets start and are pruned.
    public private(set) var buckets = 0
    /// Whether a record of another topic than `ownTopic` changed a bucket
    /// since: only then is a checkpoint due (a checkpoint is itself a record
    /// of `events.science`, and must not call for another one forever).
    public private(set) var foreign = false
    /// The cursor and skip count of the last scan, not yet checkpointed.
    public private(set) var moved = false
    let ownTopic: String

    public struct BucketKey: Hashable, Sendable {
        public var topic: String
        public var start: Int64
    }

    public init(settings: ScienceSettings, state: ScienceState, ownTopic: String = "events.science") {
        self.settings = settings
        self.state = state
        self.ownTopic = ownTopic
        buckets = state.topics.values.reduce(0) { $0 + $1.count }
    }

    /// Folds one LEDGER SCAN answer: its records (internal `_vimana.` topics
    /// left out), the sequences it skipped, and its next cursor. `nowMillis`:
    /// records older than the buckets kept are not counted. Stops after the
    /// record that brings the changed buckets to `checkpointBytes`, the
    /// cursor then just after it (and only the prefix's skipped sequences
    /// counted): the rest is read again after the checkpoint. Returns whether
    /// it stopped so.
    @discardableResult
    public mutating func ingest(_ records: [ScienceRecord], cursor: UInt64, skipped: UInt64, nowMillis: Int64) -> Bool {
        let oldest = settings.oldestKept(atMillis: nowMillis)
        let from = state.cursor
        var counted: UInt64 = 0
        for r in records where r.sequence >= from {
            counted += 1
            if r.topic.hasPrefix("_vimana.") { continue }
            let start = settings.bucket(ofMicros: r.micros)
            guard start >= oldest, r.topic.utf8.count <= ScienceLimits.nameBytes,
                  state.topics[r.topic] != nil || state.topics.count < ScienceLimits.topics else {
                state.untracked &+= 1
                moved = true
                continue
            }
            var record = r
            if record.publisher.utf8.count > ScienceLimits.nameBytes { record.publisher = ScienceLimits.otherPublishers }
            let existing = state.topics[r.topic]?[start]
            guard existing != nil || buckets < ScienceLimits.bucketsMax else {
                state.untracked &+= 1
                moved = true
                continue
            }
            if existing == nil { buckets += 1 }
            var b = existing ?? TopicBucket()
            let (publishers, classes) = (b.publishers.count, b.sizes.classes.count)
            b.add(record)
            state.topics[r.topic, default: [:]][start] = b
            if dirty.insert(BucketKey(topic: r.topic, start: start)).inserted {
                dirtyBytes += Self.bytes(r.topic, b)
            } else {
                if b.publishers.count > publishers { dirtyBytes += record.publisher.utf8.count + ScienceLimits.entryBytes }
                if b.sizes.classes.count > classes { dirtyBytes += ScienceLimits.entryBytes }
            }
            if r.topic != ownTopic { foreign = true }
            if dirtyBytes >= ScienceLimits.checkpointBytes, r.sequence + 1 < cursor {
                // Cut here: sequences from the old cursor (0 reads as 1) to
                // the cut that no record had were skipped.
                let cut = r.sequence + 1
                let base = max(from, 1)
                state.skipped &+= cut > base && cut - base > counted ? (cut - base) - counted : 0
                state.cursor = cut
                moved = true
                return true
            }
        }
        if cursor != state.cursor || skipped > 0 { moved = true }
        state.cursor = max(state.cursor, cursor)
        state.skipped &+= skipped
        return false
    }

    /// A bucket's JSON size, estimated from above.
    static func bytes(_ topic: String, _ b: TopicBucket) -> Int {
        var n = ScienceLimits.bucketFixedBytes + topic.utf8.count + b.sizes.classes.count * ScienceLimits.entryBytes
        for p in b.publishers.keys { n += p.utf8.count + ScienceLimits.entryBytes }
        return n
    }

    /// Whether a checkpoint should be written now: buckets of other topics
    /// changed and `due` (the interval passed), or the changed buckets came
    /// to `checkpointBytes`; or, when `due`, only the cursor moved (records
    /// not counted, a gap).
    public func wantsCheckpoint(due: Bool) -> Bool {
        dirtyBytes >= ScienceLimits.checkpointBytes || (due && (foreign || (moved && dirty.isEmpty)))
    }

    /// The checkpoint event for what changed, at `nowMillis`; the aggregator
    /// then starts counting changes afresh. Its state already holds it.
    public mutating func checkpoint(nowMillis: Int64) -> AgentEvent {
        let buckets = dirty.sorted { ($0.topic, $0.start) < ($1.topic, $1.start) }.compactMap { key -> JSON? in
            guard let b = state.topics[key.topic]?[key.start] else { return nil }
            return ScienceCodec.bucket(key.topic, key.start, b)
        }
        dirty = []
        dirtyBytes = 0
        foreign = false
        moved = false
        let event = AgentEvent("checkpoint", [
            "cursor": String(state.cursor), "skipped": String(state.skipped), "untracked": String(state.untracked),
            "time": String(nowMillis), "buckets": JSON.array(buckets).text,
        ])
        ScienceLogic.prune(&state, settings: settings, nowMillis: nowMillis)
        self.buckets = state.topics.values.reduce(0) { $0 + $1.count }
        state.checkpoints += 1
        state.checkpointMillis = nowMillis
        return event
    }

    /// Starts again from `cursor` (the ledger lost what science had read:
    /// its cursor is past the ledger's end). The event says so.
    public mutating func rewind(to cursor: UInt64, nowMillis: Int64) -> AgentEvent {
        state.cursor = cursor
        return AgentEvent("rewound", ["cursor": String(cursor), "time": String(nowMillis)])
    }
}

/// The checkpoint's bucket objects (docs/SYSTEM-AGENTS.md, science's events).
enum ScienceCodec {
    static func bucket(_ topic: String, _ start: Int64, _ b: TopicBucket) -> JSON {
        var sizes: [String: JSON] = [:]
        for (k, n) in b.sizes.classes { sizes[String(k)] = .int(Int64(n)) }
        return ["topic": .string(topic), "start": .int(start), "messages": .int(Int64(b.messages)),
                "bytes": .int(Int64(b.bytes)), "max": .int(Int64(b.maxBytes)),
                "publishers": .object(b.publishers.mapValues { .int(Int64($0)) }), "sizes": .object(sizes),
                "first": .string(b.firstID), "first_us": .int(b.firstMicros),
                "last": .string(b.lastID), "last_us": .int(b.lastMicros)]
    }

    static func bucket(_ j: JSON) -> (String, Int64, TopicBucket)? {
        guard let topic = j["topic"]?.string, let start = j["start"]?.int, let messages = j["messages"]?.int,
              let bytes = j["bytes"]?.int, messages >= 0, bytes >= 0 else { return nil }
        var b = TopicBucket()
        b.messages = Int(messages)
        b.bytes = Int(bytes)
        b.maxBytes = Int(max(0, j["max"]?.int ?? 0))
        for (p, n) in j["publishers"]?.object ?? [:] { if let n = n.int, n > 0 { b.publishers[p] = Int(n) } }
        for (k, n) in j["sizes"]?.object ?? [:] {
            if let k = Int(k), k >= 0, let n = n.int, n > 0 { b.sizes.classes[k] = Int(n) }
        }
        b.firstID = j["first"]?.string ?? ""
        b.firstMicros = j["first_us"]?.int ?? 0
        b.lastID = j["last"]?.string ?? ""
        b.lastMicros = j["last_us"]?.int ?? 0
        return (topic, start, b)
    }
}

// MARK: - The logic

public struct ScienceLogic: AgentLogic {
    public let settings: ScienceSettings

    public init(settings: ScienceSettings) { self.settings = settings }

    public static let actions = ["topics", "topic_stats", "status"]

    public var initialState: ScienceState { ScienceState() }

    /// `checkpoint`: whole values of the buckets it carries, and the cursor
    /// they account for; one whose cursor is not past the state's is an old
    /// or repeated one and changes nothing (applied twice, it counts once).
    /// `rewound`: the cursor, as it says.
    public func apply(_ event: AgentEvent, to state: inout ScienceState) {
        switch event.type {
        case "checkpoint":
            guard let cursor = event.data["cursor"].flatMap(UInt64.init), cursor > state.cursor else { return }
            let time = event.data["time"].flatMap(Int64.init) ?? state.checkpointMillis
            if case .array(let items)? = JSON.parse(event.data["buckets"] ?? "[]") {
                for item in items {
                    guard let (topic, start, b) = ScienceCodec.bucket(item) else { continue }
                    guard state.topics[topic] != nil || state.topics.count < ScienceLimits.topics else { continue }
                    state.topics[topic, default: [:]][start] = b
                }
            }
            state.cursor = cursor
            state.skipped = event.data["skipped"].flatMap(UInt64.init) ?? state.skipped
            state.untracked = event.data["untracked"].flatMap(UInt64.init) ?? state.untracked
            state.checkpoints += 1
            state.checkpointMillis = max(state.checkpointMillis, time)
            Self.prune(&state, settings: settings, nowMillis: state.checkpointMillis)
        case "rewound":
            if let cursor = event.data["cursor"].flatMap(UInt64.init) { state.cursor = cursor }
        default:
            break
        }
    }

    /// The whole state (docs/SYSTEM-AGENTS.md, science's snapshots): every
    /// bucket as a checkpoint carries it, and the counters; 64-bit unsigned
    /// numbers as decimal text, as the checkpoint event writes them.
    public func snapshot(of state: ScienceState) -> String? {
        var buckets: [JSON] = []
        for (topic, byStart) in state.topics.sorted(by: { $0.key < $1.key }) {
            for (start, b) in byStart.sorted(by: { $0.key < $1.key }) { buckets.append(ScienceCodec.bucket(topic, start, b)) }
        }
        let json: JSON = ["cursor": .string(String(state.cursor)), "skipped": .string(String(state.skipped)),
                          "untracked": .string(String(state.untracked)), "checkpoints": .int(Int64(state.checkpoints)),
                          "time": .int(state.checkpointMillis), "buckets": .array(buckets)]
        return json.text
    }

    public func state(fromSnapshot text: String) -> ScienceState? {
        guard let json = JSON.parse(text) else { return nil }
        return state(fromSnapshot: json)
    }

    func state(fromSnapshot json: JSON) -> ScienceState? {
        guard let cursor = json["cursor"]?.string.flatMap(UInt64.init), let skipped = json["skipped"]?.string.flatMap(UInt64.init),
              let untracked = json["untracked"]?.string.flatMap(UInt64.init), let checkpoints = json["checkpoints"]?.int,
              checkpoints >= 0, let time = json["time"]?.int, case .array(let items)? = json["buckets"] else { return nil }
        var state = ScienceState()
        state.cursor = cursor
        state.skipped = skipped
        state.untracked = untracked
        state.checkpoints = Int(clamping: checkpoints)
        state.checkpointMillis = time
        for item in items {
            guard let (topic, start, b) = ScienceCodec.bucket(item) else { return nil }
            guard state.topics[topic] != nil || state.topics.count < ScienceLimits.topics else { continue }
            state.topics[topic, default: [:]][start] = b
        }
        return state
    }

    /// Drops the buckets older than the retention at `nowMillis`, and topics left with none.
    static func prune(_ state: inout ScienceState, settings: ScienceSettings, nowMillis: Int64) {
        let oldest = settings.oldestKept(atMillis: nowMillis)
        for (topic, buckets) in state.topics where buckets.keys.contains(where: { $0 < oldest }) {
            let kept = buckets.filter { $0.key >= oldest }
            state.topics[topic] = kept.isEmpty ? nil : kept
        }
    }

    /// `status` reads the ledger's end (`LEDGER SCAN $`) to say how far behind science is.
    static let ledgerEnd = KernelRead.command(["LEDGER", "SCAN", "$"])

    /// The answers are the ledger's metadata, so they go only to a caller
    /// the kernel would let see it: `topics` to one that may run LEDGER
    /// SCAN itself (every topic's), `topic_stats` also to one that may read
    /// that topic (XRANGE); asked with ACL DRYRUN. `status` names no topic.
    public func reads(for request: AgentRequest, caller: String, state: ScienceState) -> [KernelRead] {
        switch request.action {
        case "status": [Self.ledgerEnd]
        case "topics": [CallerRights.scan(caller)]
        case "topic_stats": [CallerRights.scan(caller)] + (request.args["topic"]?.string.map { [CallerRights.read(caller, $0)] } ?? [])
        default: []
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: ScienceState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: ScienceState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "topics":
                try Arguments.only(["window", "after"], request.args)
                let window = try self.window(request.args)
                var after: String?
                if let a = request.args["after"] {
                    guard let a = a.string else { throw Refusal(AgentErrorCode.badArgument, "after must be a string") }
                    after = a
                }
                if let r = CallerRights.refusal(kernel, CallerRights.scan(caller),
                                                "\(caller) may not see every topic (topics needs what LEDGER SCAN needs)") { throw r }
                return .ok(topics(state, window: window, after: after, nowMillis: request.entryMillis))
            case "topic_stats":
                try Arguments.only(["topic", "window"], request.args)
                guard let topic = request.args["topic"]?.string, !topic.isEmpty else {
                    throw Refusal(AgentErrorCode.badArgument, "topic must be a non-empty string")
                }
                let window = try self.window(request.args)
                if CallerRights.refusal(kernel, CallerRights.scan(caller), "") != nil,
                   let r = CallerRights.refusal(kernel, CallerRights.read(caller, topic), "\(caller) may not read \(topic)") { throw r }
                return .ok(stats(state, topic: topic, window: window, nowMillis: request.entryMillis))
            case "status":
                try Arguments.only([], request.args)
                return .ok(status(state, end: Self.end(kernel.reply(Self.ledgerEnd))))
            default:
                throw Refusal(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    /// `window`: whole seconds from 1, default an hour; more than the buckets
    /// kept is answered for what is kept (the reply says the window used).
    func window(_ args: [String: JSON]) throws(Refusal) -> Int {
        guard let w = args["window"] else { return min(ScienceLimits.windowDefault, settings.retentionSeconds) }
        guard let n = w.int, n >= 1, n <= Int64(ScienceLimits.windowMax) else {
            throw Refusal(AgentErrorCode.badArgument, "window must be a whole number of seconds from 1 to \(ScienceLimits.windowMax)")
        }
        return min(Int(n), settings.retentionSeconds)
    }

    /// The buckets of `topic` within the window ending at `nowMillis`: every
    /// bucket that overlaps (now − window, now], and any later one.
    func inWindow(_ buckets: [Int64: TopicBucket], window: Int, nowMillis: Int64) -> [(Int64, TopicBucket)] {
        let from = nowMillis / 1000 - Int64(window)
        return buckets.filter { $0.key + Int64(settings.bucketSeconds) > from }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Publishers by messages, most first, then by name; at most `limit`.
    static func top(_ counts: [String: Int], limit: Int) -> [JSON] {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit).map {
            ["publisher": .string($0.key), "messages": .int(Int64($0.value))]
        }
    }

    /// The contract with scribe: `{window, topics: [{topic, messages, bytes, publishers}]}`,
    /// topics by name, only those with messages in the window.
    /// The topics with messages in the window, by name, after `after` (if
    /// given); the reply stops once it comes to `topicsReplyBytes`, with
    /// `next`: the last topic given, to ask again `after` it.
    func topics(_ state: ScienceState, window: Int, after: String? = nil, nowMillis: Int64) -> JSON {
        // The start of the first bucket the window counts: a rate is the
        // messages over (since, now], which is up to a bucket more than the window.
        let from = max(0, nowMillis / 1000 - Int64(window)), width = Int64(max(1, settings.bucketSeconds))
        let since = JSON.int((from / width) * width * 1000)
        var out: [JSON] = []
        var size = 0
        var last: String?
        for topic in state.topics.keys.sorted() where after.map({ topic > $0 }) ?? true {
            guard let buckets = state.topics[topic] else { continue }
            var messages = 0, bytes = 0
            var publishers: [String: Int] = [:]
            for (_, b) in inWindow(buckets, window: window, nowMillis: nowMillis) {
                messages &+= b.messages
                bytes &+= b.bytes
                for (p, n) in b.publishers { publishers[p, default: 0] &+= n }
            }
            guard messages > 0 else { continue }
            let top = Self.top(publishers, limit: ScienceLimits.topPublishers)
            let cost = topic.utf8.count + ScienceLimits.bucketFixedBytes
                + top.reduce(0) { $0 + ($1["publisher"]?.string?.utf8.count ?? 0) + ScienceLimits.entryBytes * 2 }
            if !out.isEmpty && size + cost > ScienceLimits.topicsReplyBytes {
                return ["window": .int(Int64(window)), "since": since, "topics": .array(out), "next": .string(last ?? "")]
            }
            size += cost
            last = topic
            out.append(["topic": .string(topic), "messages": .int(Int64(messages)), "bytes": .int(Int64(bytes)),
                        "publishers": .array(top)])
        }
        return ["window": .int(Int64(window)), "since": since, "topics": .array(out)]
    }

    func stats(_ state: ScienceState, topic: String, window: Int, nowMillis: Int64) -> JSON {
        let buckets = inWindow(state.topics[topic] ?? [:], window: window, nowMillis: nowMillis)
        var messages = 0, bytes = 0, maxBytes = 0
        var publishers: [String: Int] = [:]
        var sizes = SizeHistogram()
        for (_, b) in buckets {
            messages &+= b.messages
            bytes &+= b.bytes
            maxBytes = max(maxBytes, b.maxBytes)
            for (p, n) in b.publishers { publishers[p, default: 0] &+= n }
            sizes.merge(b.sizes)
        }
        func entry(_ id: String, _ micros: Int64) -> JSON {
            messages == 0 ? .null : ["id": .string(id), "time_ms": .int(micros / 1000)]
        }
        let first = buckets.first(where: { $0.1.messages > 0 })?.1, last = buckets.last(where: { $0.1.messages > 0 })?.1
        let rate = Double(messages) / Double(window)
        return ["topic": .string(topic), "window": .int(Int64(window)), "messages": .int(Int64(messages)),
                "bytes": .int(Int64(bytes)), "rate": .double((rate * 1000).rounded() / 1000),
                "publishers": .array(Self.top(publishers, limit: ScienceLimits.topPublishers)),
                "size": ["p50": .int(Int64(sizes.percentile(50, max: maxBytes))),
                         "p90": .int(Int64(sizes.percentile(90, max: maxBytes))),
                         "p99": .int(Int64(sizes.percentile(99, max: maxBytes))),
                         "max": .int(Int64(maxBytes))],
                "first": first.map { entry($0.firstID, $0.firstMicros) } ?? .null,
                "last": last.map { entry($0.lastID, $0.lastMicros) } ?? .null]
    }

    /// The `cursor` of a LEDGER SCAN reply (a RESP3 map or a RESP2 flat array).
    static func end(_ reply: RESPValue?) -> UInt64? {
        var flat: [RESPValue] = []
        if case .map(let m)? = reply { for (k, v) in m { flat += [k, v] } } else { flat = reply?.elements ?? [] }
        var i = 0
        while i + 1 < flat.count {
            if flat[i].bytes == Array("cursor".utf8) { return flat[i + 1].bytes.flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } }
            i += 2
        }
        return nil
    }

    /// `end`: the ledger's end when the kernel answered; `lag` the records science has still to read.
    func status(_ state: ScienceState, end: UInt64?) -> JSON {
        ["cursor": .string(String(state.cursor)), "topics": .int(Int64(state.topics.count)),
         "end": end.map { .string(String($0)) } ?? .null,
         "lag": end.map { .int(Int64(clamping: $0 > state.cursor ? $0 - state.cursor : 0)) } ?? .null,
         "buckets": .int(Int64(state.topics.values.reduce(0) { $0 + $1.count })),
         "skipped": .int(Int64(clamping: state.skipped)), "untracked": .int(Int64(clamping: state.untracked)),
         "checkpoints": .int(Int64(state.checkpoints)), "checkpoint_ms": .int(state.checkpointMillis),
         "bucket_seconds": .int(Int64(settings.bucketSeconds)), "retention_seconds": .int(Int64(settings.retentionSeconds))]
    }
}
