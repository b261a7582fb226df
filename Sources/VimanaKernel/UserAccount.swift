import VimanaConfig

/// One user's share of the server: its `limits:` from phoenix.yaml, the
/// connections authenticated as it now, its publish allowance, and what it
/// did (INFO `users`, /metrics `vimana_user_…`). `Users` keeps one per user
/// of its table and drops it with the user; a connection holds its user's
/// (`ClientInfo.account`) while it acts as the user, and ACL DELUSER makes
/// the user's connections leave it before it is dropped, so a connection's
/// account is always the current one of its user's name.
///
/// Promises: `connections` is the number of RESP connections whose
/// `ClientInfo.account` is this one (`enter` and `leave` are called only by
/// `Kernel.enterAccount` and `Kernel.leaveAccount`); `admits` is the one
/// test of the `connections` limit.
final class UserAccount {
    let name: String
    let limits: UserLimits
    /// Connections acting as the user now.
    private(set) var connections = 0
    /// Authentications (and, for `default`, connections) refused at `limits.connections`.
    private(set) var refused = 0
    /// The publish allowance and pause, behind a pointer that each of the
    /// user's connections copies (`ClientState.meter`): nil without
    /// `publish_rate` and `publish_bytes`. Freed with the account, which
    /// outlives every connection holding it (`ClientInfo.account`).
    let meter: UnsafeMutablePointer<PublishMeter>?
    /// While the user's publishers are paused: when they resume (monotonic
    /// ns; 0 = not paused), when the pause began, and who is paused.
    var resumeAt: Int64 {
        get { meter?.pointee.resumeAt ?? 0 }
        set { meter?.pointee.resumeAt = newValue }
    }
    var pausedSince: Int64 = 0
    var paused: [Int32] = []
    /// When a pause was last logged (at most one line per
    /// `KernelConstants.publishPauseLogIntervalNanos`).
    var lastPauseLog: Int64 = Int64.min / 2
    /// Pauses so far, and their time (the one in progress not included).
    private(set) var pauses = 0
    private(set) var pausedNanos: Int64 = 0
    /// Messages and payload bytes published by connections that have since
    /// closed or changed user; live connections count theirs in
    /// `ClientState.published` / `publishedBytes`. Counted only while the
    /// user has a publish limit: a user without one costs PUBLISH nothing.
    var messages = 0
    var bytes = 0

    init(name: String, limits: UserLimits, nowNanos: Int64) {
        self.name = name
        self.limits = limits
        if let bucket = PublishBucket(messagesPerSecond: limits.publishRate, bytesPerSecond: limits.publishBytes,
                                      nowNanos: nowNanos) {
            let m = UnsafeMutablePointer<PublishMeter>.allocate(capacity: 1)
            m.initialize(to: PublishMeter(bucket: bucket))
            meter = m
        } else {
            meter = nil
        }
    }

    deinit {
        meter?.deinitialize(count: 1)
        meter?.deallocate()
    }

    /// Whether one more connection may act as the user; counts a refusal.
    func admits() -> Bool {
        if hasRoom { return true }
        refused &+= 1
        return false
    }

    /// Whether the user is under its `connections` limit (nothing counted).
    var hasRoom: Bool {
        guard let limit = limits.connections else { return true }
        return connections < limit
    }

    func enter() { connections &+= 1 }
    func leave() { connections = max(0, connections &- 1) }

    /// Starts a pause of the user's publishers (the caller pauses them).
    func beginPause(nowNanos: Int64, resumeAt: Int64) {
        self.resumeAt = resumeAt
        pausedSince = nowNanos
        pauses &+= 1
    }

    /// Ends the pause; returns the connections to resume.
    func endPause(nowNanos: Int64) -> [Int32] {
        pausedNanos = pausedNanos.addingReportingOverflow(max(0, nowNanos &- pausedSince)).partialValue
        resumeAt = 0
        pausedSince = 0
        let list = paused
        paused.removeAll()
        return list
    }

    /// Seconds paused so far, the pause in progress included.
    func pausedSeconds(nowNanos: Int64) -> Double {
        let current = resumeAt != 0 ? max(0, nowNanos &- pausedSince) : 0
        return (Double(pausedNanos) + Double(current)) / 1e9
    }
}

/// The hot half of a limited user's account: what each PUBLISH and XADD
/// of its connections reads and writes, with plain loads and stores.
struct PublishMeter {
    var bucket: PublishBucket
    /// When the user's paused publishers resume (monotonic ns); 0 = not paused.
    var resumeAt: Int64 = 0
}

/// A token bucket for each quantity a user's publishes are limited in
/// (messages, payload bytes): `rate` tokens per second, holding at most one
/// second's worth (the burst a publisher may send at once), full at start.
///
/// A charge never fails: the publish already read is run, and takes its
/// tokens even past zero (a debt, so that a message larger than the burst
/// still goes through and the long-run rate holds exactly). While a debt
/// is owed the caller pauses the user's publishers until `resumeDelay` has
/// passed: until a tenth of the burst (`KernelConstants.publishResumeShare`)
/// is back, so that a publisher at its limit is paused about ten times a
/// second, not once per message.
///
/// Arithmetic in `Double`: a rate is at most 16 GiB/s (ConfigLimits) and
/// an elapsed time at most an Int64 of nanoseconds, so nothing overflows,
/// and every conversion back to nanoseconds is clamped.
struct PublishBucket {
    /// Tokens per nanosecond, and the burst; 0 where the quantity is not limited.
    private let messageRate: Double
    private let byteRate: Double
    private let messageBurst: Double
    private let byteBurst: Double
    private var messageTokens: Double
    private var byteTokens: Double
    private var updated: Int64

    /// nil when neither quantity is limited.
    init?(messagesPerSecond: Int?, bytesPerSecond: Int?, nowNanos: Int64) {
        let m = max(0, messagesPerSecond ?? 0), b = max(0, bytesPerSecond ?? 0)
        guard m > 0 || b > 0 else { return nil }
        messageBurst = Double(m)
        byteBurst = Double(b)
        messageRate = Double(m) / 1e9
        byteRate = Double(b) / 1e9
        messageTokens = messageBurst
        byteTokens = byteBurst
        updated = nowNanos
    }

    /// Adds the tokens earned since the last call, up to the burst. A clock
    /// reading older than the last (it is monotonic; defensively) adds none.
    private mutating func refill(_ now: Int64) {
        guard now > updated else { return }
        let elapsed = Double(now) - Double(updated)
        messageTokens = min(messageBurst, messageTokens + elapsed * messageRate)
        byteTokens = min(byteBurst, byteTokens + elapsed * byteRate)
        updated = now
    }

    /// Takes one message of `payload` bytes. True when a debt is owed after it.
    mutating func charge(payload: Int, nowNanos: Int64) -> Bool {
        refill(nowNanos)
        if messageRate > 0 { messageTokens -= 1 }
        if byteRate > 0 { byteTokens -= Double(max(0, payload)) }
        return messageTokens < 0 || byteTokens < 0
    }

    /// Nanoseconds from `nowNanos` until every limited quantity holds its
    /// resume share of the burst again (0: it does now); at most
    /// `KernelConstants.maxPublishPauseNanos` at a time (asked again then).
    mutating func resumeDelay(nowNanos: Int64) -> Int64 {
        refill(nowNanos)
        // The rates are per ns: each shortfall over its rate is in ns.
        var nanos = 0.0
        if messageRate > 0 {
            let short = messageBurst * KernelConstants.publishResumeShare - messageTokens
            if short > 0 { nanos = max(nanos, short / messageRate) }
        }
        if byteRate > 0 {
            let short = byteBurst * KernelConstants.publishResumeShare - byteTokens
            if short > 0 { nanos = max(nanos, short / byteRate) }
        }
        guard nanos > 0 else { return 0 }
        return Int64(min(nanos.rounded(.up), Double(KernelConstants.maxPublishPauseNanos)))
    }

    /// Tokens now (messages, bytes), for the unit tests.
    var tokens: (messages: Double, bytes: Double) { (messageTokens, byteTokens) }
}
