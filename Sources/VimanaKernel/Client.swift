import VimanaCore
import VimanaRESP
import VimanaEventLoop
import VimanaBus
import VimanaACL
#if canImport(Glibc)
import Glibc
#endif

/// One connection's slot in the connection table (`ConnectionTable`): the
/// hot half inline, read and written by the read → parse → route → deliver
/// path with plain loads and stores behind a pointer (no ARC, no
/// exclusivity checks), and the cold half (`info`: name, addresses,
/// subscription lists, …) one reference away.
///
/// `~Copyable`: the slot owns its socket, input buffer, parser and output
/// queue, and its `deinit` closes and frees them, so a connection is
/// released by freeing its slot (`ConnectionTable.remove`), nothing else.
struct ClientState: ~Copyable {
    var fd: Int32
    var id: Int
    var flags: ClientFlags
    var input: ByteBuffer
    var parser: RequestParser
    var output: OutputQueue
    /// Channels, patterns and shard channels subscribed (Redis's `sub=`,
    /// `psub=` and `ssub=`).
    var channelCount = 0
    var patternCount = 0
    var shardChannelCount = 0
    /// When pending output first went over the soft limit (monotonic ns), or 0.
    /// Set only by `enterSoftLimit`, which puts the client in
    /// `KernelState.overSoftLimit`; cleared in place.
    var softLimitSince: Int64 = 0
    var lastActiveMillis: Int64
    /// Command table index of the last command, for CLIENT LIST's `cmd=`.
    var lastCommand = -1
    var lastSubcommand = -1
    /// Bytes asked for per `read`: grows for pipelining clients (see readClient).
    var readSize: Int
    /// Bytes written to the socket since the connection opened: with the
    /// held replies it says how much of the output may go out.
    var flushedBytes: Int = 0
    /// With `blocked`: when XREAD gives up (monotonic ns; 0 = never).
    var blockDeadline: Int64 = 0
    /// Where the input handled by the current `processInput` began: the
    /// caller's own CLIENT LIST line counts its query buffer from here, as
    /// Redis's does (it trims the buffer only after the commands ran).
    var queryStart: Int = 0
    /// With `lingering` or an HTTP connection: when the server closes it
    /// anyway (monotonic ns).
    var closeDeadline: Int64 = 0
    /// The top-level commands its user may run whole, one bit per
    /// `Command.rawValue` (`ACLUser.allowedTopLevel`): what dispatch tests
    /// per request. A clear bit sends the command to the full check
    /// (subcommands, or the refusal). Set only by `Kernel.actAs`.
    var allowedCommands = CommandBits(low: 0, high: 0)
    /// Its user's root key and channel patterns, compiled (`UserHandle`,
    /// which `info` holds and keeps alive): what a user restricted to
    /// patterns pays per request. Set only by `Kernel.actAs`.
    var keyPatterns = ACLPatternList.none
    var channelPatterns = ACLPatternList.none
    /// Messages and payload bytes this connection published (PUBLISH, XADD)
    /// as its current user, counted only when the user has a publish limit
    /// (`publishLimited`): folded into the user's account when it closes or
    /// changes user (`Kernel.leaveAccount`).
    var published = 0
    var publishedBytes = 0
    /// Its user's publish allowance (`UserAccount.meter`), with `publishLimited`.
    var meter: UnsafeMutablePointer<PublishMeter>?
    /// With `replyOff` or `replySkip`: where in the output stream (as
    /// `flushedBytes` counts) the replies being dropped begin; pushes
    /// written since move it past themselves (Kernel+ClientReply.swift).
    var replyMark = 0
    /// The cold half: touched by commands about the connection, not per message.
    let info: ClientInfo

    /// - Parameters:
    ///   - maxPayload, maxInline: the parser's limits (`max_payload`, `max_inline`).
    init(fd: Int32, id: Int, flags: ClientFlags, maxPayload: Int, maxInline: Int, info: ClientInfo, nowMillis: Int64) {
        self.fd = fd
        self.id = id
        self.flags = flags
        input = ByteBuffer(capacity: KernelConstants.initialInputBuffer)
        parser = RequestParser(maxBulk: maxPayload, maxInline: maxInline)
        output = OutputQueue(capacity: KernelConstants.initialOutputBuffer)
        lastActiveMillis = nowMillis
        readSize = KernelConstants.readChunk
        self.info = info
    }

    deinit {
        Socket.close(fd)
        // A ByteBuffer is copyable (see ByteBuffer): its one owner frees it.
        input.release()
    }

    /// In Redis 7.0's subscribed state: any subscription of the three kinds
    /// (a shard channel alone keeps a RESP2 client there, as in Redis).
    @inline(__always) var isSubscribed: Bool { channelCount &+ patternCount &+ shardChannelCount > 0 }
}

/// Per-connection flags, one word.
struct ClientFlags: OptionSet {
    let rawValue: UInt32
    /// Speaks RESP3 (after HELLO 3).
    static let resp3 = ClientFlags(rawValue: 1 << 0)
    /// In the pending-write list already.
    static let pendingWrite = ClientFlags(rawValue: 1 << 1)
    /// EPOLLOUT registered.
    static let watchingWritable = ClientFlags(rawValue: 1 << 2)
    /// Close once the output has been written (QUIT, protocol error).
    static let closeAfterReply = ClientFlags(rawValue: 1 << 3)
    /// Marked for closing at the end of this loop pass; receives nothing more.
    static let closing = ClientFlags(rawValue: 1 << 4)
    /// An HTTP connection on the observability port.
    static let http = ClientFlags(rawValue: 1 << 5)
    /// Authenticated (always, while no password is configured).
    static let authenticated = ClientFlags(rawValue: 1 << 6)
    /// Not read from: the ledger's unwritten bytes are over `max_pending`.
    static let stalled = ClientFlags(rawValue: 1 << 7)
    /// Holding output until the ledger confirms records (`heldReplies`).
    static let awaitingLedger = ClientFlags(rawValue: 1 << 8)
    /// In XREAD BLOCK: no commands run until data arrives or the timeout.
    static let blocked = ClientFlags(rawValue: 1 << 9)

    /// Has a CLIENT SETNAME name (kept in ClientInfo): unnamed clients skip
    /// that lookup when their messages are recorded.
    static let named = ClientFlags(rawValue: 1 << 10)

    /// An instance of an agent (AGENT JOIN): its publishes are checked
    /// against the agent's `publishes` patterns. Which agent, VimanaAgents
    /// keeps (`Agents.isInstance`); this bit spares other clients the look.
    static let agentInstance = ClientFlags(rawValue: 1 << 11)

    /// With `closeAfterReply`: once the reply is written, linger instead of
    /// closing (protocol errors, HTTP replies).
    static let lingerAfterReply = ClientFlags(rawValue: 1 << 12)
    /// Lingering: our side is shut down for writing and input is read and
    /// discarded until the client closes or `closeDeadline`, so the client
    /// reads the reply instead of a reset.
    static let lingering = ClientFlags(rawValue: 1 << 13)
    /// Waiting for a read on the ledger's reader thread (XRANGE over the
    /// disk): later commands wait behind it, so replies stay in order.
    static let reading = ClientFlags(rawValue: 1 << 14)
    /// Between MULTI and EXEC/DISCARD (Redis's CLIENT_MULTI): commands are
    /// queued, not run. Still set while EXEC runs them, as in Redis.
    static let multi = ClientFlags(rawValue: 1 << 15)
    /// A command was refused while queueing: EXEC answers EXECABORT
    /// (Redis's CLIENT_DIRTY_EXEC).
    static let dirtyExec = ClientFlags(rawValue: 1 << 16)
    /// A watched topic changed: EXEC answers a null array (CLIENT_DIRTY_CAS).
    static let dirtyCAS = ClientFlags(rawValue: 1 << 17)
    /// CLIENT PUBLISHER ON: stream entries in replies end with a
    /// `_publisher` field (Kernel+Publisher.swift).
    static let showPublisher = ClientFlags(rawValue: 1 << 22)
    /// Its user has a publish limit (`publish_rate` / `publish_bytes`):
    /// PUBLISH and XADD charge the user's allowance (Kernel+UserLimits.swift).
    /// Without it they pay this one test.
    static let publishLimited = ClientFlags(rawValue: 1 << 23)
    /// Not read from: its user's publish allowance is spent
    /// (`UserAccount.paused`); resumed by the loop's timer.
    static let throttled = ClientFlags(rawValue: 1 << 24)
    /// Accepted or RESET while `default` was at its `connections` limit: it
    /// acts as no user (counts in no account, is not `authenticated`), so
    /// it may AUTH or HELLO AUTH as another user, QUIT or RESET, and runs
    /// anything else only once `default` has room (Kernel+UserLimits.swift).
    static let overUserLimit = ClientFlags(rawValue: 1 << 25)
    /// In MONITOR mode: receives every command others run (Kernel+Monitor.swift).
    static let monitor = ClientFlags(rawValue: 1 << 26)
    /// CLIENT REPLY OFF: replies are dropped, pub/sub frames still sent.
    static let replyOff = ClientFlags(rawValue: 1 << 27)
    /// CLIENT REPLY SKIP took effect: the replies of this command are dropped.
    static let replySkip = ClientFlags(rawValue: 1 << 28)
    /// CLIENT REPLY SKIP ran: the next command's replies are dropped.
    static let replySkipNext = ClientFlags(rawValue: 1 << 29)
    /// CLIENT NO-EVICT ON: shown as `e` in CLIENT LIST; nothing else (the
    /// server evicts no clients).
    static let noEvict = ClientFlags(rawValue: 1 << 30)

    /// Its user has `allkeys` (`~*`): no key argument is checked.
    static let allKeys = ClientFlags(rawValue: 1 << 18)
    /// Its user has `allchannels` (`&*`): no channel argument is checked.
    static let allChannels = ClientFlags(rawValue: 1 << 19)
    /// Its user's root selector decides alone (no `(...)` selectors, no
    /// `+cmd|arg`): a command its bits allow needs only its arguments checked.
    static let rootDecides = ClientFlags(rawValue: 1 << 20)
    /// Its user is an admin (every `@admin` command): it may act as any
    /// agent (AgentIdentity.swift), known without asking the rules per XACK.
    static let admin = ClientFlags(rawValue: 1 << 21)

    /// CLIENT REPLY's states: after each command of a connection in any of
    /// them, `finishReplyControl` runs (Kernel+ClientReply.swift).
    static let replyControlled: ClientFlags = [.replyOff, .replySkip, .replySkipNext]
    /// The states in which replies are dropped (pub/sub frames are not).
    static let repliesDropped: ClientFlags = [.replyOff, .replySkip]
    /// What `flush` tests in one go: output held for the ledger, or dropped.
    static let heldOrDropped: ClientFlags = [.awaitingLedger, .replyOff, .replySkip]

    /// What `execute` tests in one compare: equal to `authenticated` alone
    /// on the common path.
    static let authenticatedOrMulti: ClientFlags = [.authenticated, .multi]

    /// Any state in which no further commands are run for now. A client
    /// awaiting the ledger keeps running commands (pipelined appends share
    /// one write and fsync); only its output is held.
    static let paused: ClientFlags = [.closing, .closeAfterReply, .stalled, .blocked, .reading, .throttled]
    /// Either reason a connection is not read from: the ledger writer is
    /// behind (`stalled`), or its user's publish allowance is spent
    /// (`throttled`). One mechanism, two reasons: `Kernel.readInterest`
    /// polls for input only while neither holds.
    static let notRead: ClientFlags = [.stalled, .throttled]
}

/// A user as connections hold it. A value read from a class's `var` is
/// copied for a call into another module (every array of its selector
/// retained and released: measured +500 instructions per PUBLISH for a
/// user restricted to a channel pattern); a `let` of a final class is
/// borrowed.
final class UserHandle {
    let user: ACLUser
    /// The user's name as the ledger records it (the publisher of each
    /// entry the connection appends), made once per user, not per append.
    let nameBytes: [UInt8]
    /// The root selector's key and channel patterns compiled for the
    /// per-request check (`ClientState.keyPatterns`, `channelPatterns`
    /// point into them while the connection holds this handle).
    let keys: ACLPatternSet
    let channels: ACLPatternSet
    init(_ user: ACLUser) {
        self.user = user
        nameBytes = Array(user.name.utf8)
        keys = ACLPatternSet(keysOf: user.root)
        channels = ACLPatternSet(channelsOf: user.root)
    }
}

/// The cold half of a connection's slot (`ClientState.info`): names,
/// addresses, timestamps, the subscription lists. A class because it is
/// touched rarely and holds Swift collections; created with the slot and
/// released with it.
final class ClientInfo {
    let address: String
    let localAddress: String
    /// When the connection was accepted (wall clock ms): CLIENT LIST's `age=`.
    let createdMillis: Int64
    var name: [UInt8] = []
    var libraryName: [UInt8] = []
    var libraryVersion: [UInt8] = []
    /// Subscribed channels, patterns and shard channels in subscription
    /// order, for (P|S)UNSUBSCRIBE with no arguments and for cleanup on close.
    var channels = SubscriptionSet()
    var patterns = SubscriptionSet()
    var shardChannels = SubscriptionSet()
    /// Why the connection is being closed, for the log.
    var closeReason: String = ""
    /// With `blocked`: what XREAD waits for.
    var blockedRead: BlockedRead?
    /// With `blocked`: its call as the statistics count it when it is served.
    var blockedCall: BlockedCall?
    /// With `awaitingLedger`: where each reply waiting for its record starts
    /// in the output stream (as `flushedBytes` counts), and the record's
    /// sequence. Output before the first may be written.
    var heldReplies: [(start: Int, sequence: UInt64)] = []
    /// With `multi`: the commands queued for EXEC.
    var transaction = TransactionQueue()
    /// Topics this connection WATCHes, in the order given (each once).
    var watched: [[UInt8]] = []
    /// The user it acts as (the `default` user until AUTH): the table's,
    /// replaced whole when ACL SETUSER changes the user. Behind one
    /// reference (`UserHandle`), so that a check borrows the rules.
    var userHandle: UserHandle
    var user: ACLUser { userHandle.user }
    /// The account its connection counts in (RESP connections; set by
    /// `Kernel.actAs`, left by `Kernel.freeClient`); nil for HTTP ones.
    var account: UserAccount?

    init(address: String, localAddress: String, createdMillis: Int64, user: ACLUser) {
        self.address = address
        self.localAddress = localAddress
        self.createdMillis = createdMillis
        userHandle = UserHandle(user)
    }
}
