import Foundation
import VimanaClient
import VimanaConfig
import VimanaRESP

/// Where the agent's kernel is and who the agent is: from the environment a
/// supervising kernel gives (Protocol/AGENTS.md §6, §9), each value
/// replaceable by the caller.
public struct AgentSettings: Sendable {
    public var host: String
    public var port: Int
    /// The agent's id: its consumer group, `tasks.<id>`, `events.<id>`, `dead.<id>`.
    public var agentID: String
    /// The user to authenticate as; nil with no password: the connection's `default` user.
    public var user: String?
    /// Never logged.
    public var password: String?
    /// PROGRESS is sent this often while a task is being handled: a third
    /// of the agent's `ack_wait` when the kernel gave it (`VIMANA_ACK_WAIT_MS`),
    /// else a third of the default 30 s; a value that is not from 0.001 to
    /// 86400 s is taken as the default.
    public var progressInterval: Double = AgentKitLimits.progressInterval
    /// The kernel's `max_payload` (`VIMANA_MAX_PAYLOAD`; 1 MiB, the
    /// default, without it): a longer bulk makes the kernel close the
    /// connection, so no reply and no event entry may be longer.
    public var maxPayload = Limits().maxPayload
    /// The longest task payload the agent takes, in bytes
    /// (`VIMANA_MAX_TASK_BYTES`; nil without it: only the kernel's
    /// `max_payload`). A longer one is dead-lettered unparsed with a reason
    /// that begins `oversized:`. The kernel gives it to every system agent
    /// (`system.max_task_bytes`, 64 KiB by default).
    public var maxTaskBytes: Int? = nil
    /// Whether the ledger retires old segments (`VIMANA_LEDGER_RETENTION`
    /// `1`; unknown, taken as yes, without it): a snapshot is then taken
    /// again when it is an hour old even if nothing changed, so that the
    /// latest one is never in a segment old enough to retire.
    public var ledgerRetention = true
    /// Entries per XRANGE page while rebuilding (tests make it small).
    var replayPage = AgentKitLimits.replayPage

    public init(host: String = "127.0.0.1", port: Int = KernelConfig().port, agentID: String,
                user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.agentID = agentID
        self.user = user
        self.password = password
    }

    /// From `VIMANA_ADDR` (`host:port`), `VIMANA_AGENT_ID`, `VIMANA_USER`,
    /// `VIMANA_PASSWORD`, `VIMANA_ACK_WAIT_MS` (the PROGRESS interval) and
    /// `VIMANA_MAX_PAYLOAD`, `VIMANA_MAX_TASK_BYTES` and `VIMANA_LEDGER_RETENTION`; `agentID` is used when `VIMANA_AGENT_ID` is not set.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment,
                                       agentID: String) throws(AgentKitError) -> AgentSettings {
        var s = AgentSettings(agentID: env["VIMANA_AGENT_ID"].flatMap { $0.isEmpty ? nil : $0 } ?? agentID)
        if let addr = env["VIMANA_ADDR"], !addr.isEmpty {
            guard let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]),
                  (1...65535).contains(port), colon != addr.startIndex else {
                throw .settings("VIMANA_ADDR must be host:port with a port from 1 to 65535, got '\(addr)'")
            }
            s.host = String(addr[..<colon])
            s.port = port
        }
        s.user = env["VIMANA_USER"].flatMap { $0.isEmpty ? nil : $0 }
        s.password = env["VIMANA_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = env["VIMANA_ACK_WAIT_MS"], !text.isEmpty {
            guard let ms = Int(text), ms >= 1 else {
                throw .settings("VIMANA_ACK_WAIT_MS must be a whole number of milliseconds from 1, got '\(text)'")
            }
            s.progressInterval = Self.progressInterval(ackWaitMillis: ms)
        }
        if let text = env["VIMANA_MAX_PAYLOAD"], !text.isEmpty {
            guard let n = Int(text), n >= 1, n <= Limits.maxPayloadCeiling else {
                throw .settings("VIMANA_MAX_PAYLOAD must be a whole number of bytes from 1 to \(Limits.maxPayloadCeiling), got '\(text)'")
            }
            s.maxPayload = n
        }
        if let text = env["VIMANA_MAX_TASK_BYTES"], !text.isEmpty {
            guard let n = Int(text), n >= 1, n <= Limits.maxPayloadCeiling else {
                throw .settings("VIMANA_MAX_TASK_BYTES must be a whole number of bytes from 1 to \(Limits.maxPayloadCeiling), got '\(text)'")
            }
            s.maxTaskBytes = n
        }
        if let text = env["VIMANA_LEDGER_RETENTION"], !text.isEmpty {
            guard text == "0" || text == "1" else {
                throw .settings("VIMANA_LEDGER_RETENTION must be 0 or 1, got '\(text)'")
            }
            s.ledgerRetention = text == "1"
        }
        return s
    }

    /// PROGRESS under an `ack_wait` of `ms`: a third of it (two may be
    /// lost before the task is given back), within 0.001 s and a day.
    public static func progressInterval(ackWaitMillis ms: Int) -> Double {
        min(max(Double(ms) / (1000 * AgentKitLimits.progressDivisor), AgentKitLimits.shortestRead), AgentKitLimits.longestWait)
    }

    /// The user the kernel knows this agent's connections as: the one it
    /// authenticates as, `default` without a password.
    public var identity: String { password == nil ? "default" : (user ?? "default") }
    public var tasksTopic: String { "tasks.\(agentID)" }
    public var eventsTopic: String { "events.\(agentID)" }
    public var snapshotsTopic: String { "snapshots.\(agentID)" }
    public var deadTopic: String { "dead.\(agentID)" }

    /// A connection, authenticated when there is a password, speaking RESP3
    /// (tasks and messages arrive as pushes).
    public func connect() throws(AgentKitError) -> RESPConnection {
        let c: RESPConnection
        do { c = try RESPConnection(host: host, port: port, timeout: AgentKitLimits.connectTimeout) } catch { throw .client(error) }
        var hello = ["HELLO", "3"]
        if let password { hello += ["AUTH", user ?? "default", password] }
        let reply: RESPValue
        do { reply = try c.call(hello.map { Array($0.utf8) }) } catch { throw .client(error) }
        if case .error(let message) = reply { throw .refused("cannot authenticate as user '\(user ?? "default")': \(message)") }
        return c
    }
}

/// What can stop an agent, each with its context.
public enum AgentKitError: Error, Sendable, CustomStringConvertible {
    /// The environment or an override is not usable.
    case settings(String)
    /// The connection failed (refused, closed, timed out…).
    case client(ClientError)
    /// The kernel refused what the agent must do to run (AUTH, AGENT JOIN,
    /// reading its events): retrying cannot help.
    case refused(String)
    /// No matching reply within the timeout.
    case timeout(seconds: Double)
    /// A reply that is not what the protocol promises.
    case unexpected(String)
    /// The process that started the agent (its kernel) is gone: a kernel
    /// that comes back starts its own.
    case orphaned
    /// Asked to stop (`AgentControl.stop`) while a side read was outstanding:
    /// the task in hand was given back, and the runtime returns.
    case stopped(String)

    public var description: String {
        switch self {
        case .settings(let s), .refused(let s), .unexpected(let s), .stopped(let s): s
        case .client(let e): e.description
        case .timeout(let seconds): "no reply within \(seconds) s"
        case .orphaned: "the process that started this agent is gone; exiting"
        }
    }
}

/// The kit's tunables, each with its reason.
public enum AgentKitLimits {
    /// A kernel on the same machine answers a connect at once; beyond this it is not there.
    static let connectTimeout = 5.0
    /// A third of the default `ack_wait` (30 s): two PROGRESS may be lost before the task is given back.
    public static let progressInterval = 10.0
    /// PROGRESS every third of `ack_wait`: two may be lost before the task is given back.
    static let progressDivisor = 3.0
    /// A task whose events or reply could not be written comes back after this (ms), not in a tight loop.
    static let retryDelayMillis = 1000
    /// Entries per XRANGE page while rebuilding: bounded replies, few round trips.
    static let replayPage = 1000
    /// The longest request timeout or PROGRESS interval taken: beyond a day
    /// nothing is waiting any more, and a socket timeout must fit its timeval.
    static let longestWait = 86_400.0
    /// The shortest socket read timeout: 0 would mean "forever" to SO_RCVTIMEO.
    static let shortestRead = 0.001
    /// First and longest wait between reconnects (seconds), as the Python example's.
    static let backoffFirst = 0.1
    static let backoffMax = 5.0
    /// An XRANGE or XREVRANGE of more entries than this is sent on the
    /// side connection (`KernelRead.mayBeSlow`): the size of the kit's own
    /// replay pages, which it reads on the task connection; a longer one,
    /// read from sealed segments, may take long, and a thread hop costs
    /// little beside it.
    static let sideReadEntries = 1000
    /// How often the task thread looks for a stop while a side read is
    /// outstanding: SIGTERM gives the task back within this (seconds).
    static let stopPoll = 0.05
    /// Times a task is decided again after another instance appended first
    /// (a null EXEC); beyond this it is given back, not decided in a tight loop.
    static let appendAttempts = 100
    /// The duplicate window: this many latest applied requests are
    /// remembered, each by its key and the entry ID of its reply (a
    /// redelivery comes within minutes: at most `max_deliver` × `ack_wait`
    /// after the first delivery)…
    public static let appliedKept = 100_000
    /// …within this many bytes of keys and IDs (request ids are at most
    /// `requestIDBytes`, so at least ~16,000 of them fit).
    public static let appliedBytes = 16 << 20
    /// The latest replies kept in memory too (a duplicate soon after is
    /// answered without reading its entry)…
    public static let repliesKept = 1000
    /// …within this many bytes (a reply that carries a document is large).
    public static let repliesBytes = 1 << 20
    /// The longest request id (its JSON text), so that the window's keys
    /// stay small and a reply echoing it stays under `max_payload`.
    public static let requestIDBytes = 1024
    /// The snapshot format this kit writes and reads (its header's `v`).
    static let snapshotVersion: Int64 = 2
    /// Bytes of snapshot JSON per entry of `snapshots.<id>`: well under the
    /// kernel's default `max_payload` (1 MiB), so one entry is never refused for its size.
    static let snapshotPartBytes = 128 << 10
    /// A snapshot is taken once the events folded since the last one come to
    /// this many bytes, or to the last snapshot's size when it is larger: a
    /// start reads at most about twice the state (as Redis's
    /// auto-aof-rewrite-percentage 100).
    static let snapshotMinBytes = 1 << 20
    /// A snapshot older than this is taken again when events came since, or
    /// changed or not when the ledger has retention: retention removes
    /// whole sealed segments, and the latest snapshot must not go with them
    /// (Protocol/AGENTS.md §10, "Retention and growth").
    static let snapshotMaxAgeSeconds = 3600.0
    /// How often an idle agent that takes snapshots folds new events and
    /// checks whether one is due.
    static let snapshotTickSeconds = 5.0
    /// Times the requester's connection is made again after a failure
    /// during one round of a task's asks (its asks sent again under their
    /// ids): a kernel restart is one, a connection that keeps failing is
    /// not retried for the whole wait.
    static let askReconnects = 3
}
