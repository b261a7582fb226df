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
    /// `VIMANA_PASSWORD` and `VIMANA_ACK_WAIT_MS` (the PROGRESS interval); `agentID` is used when `VIMANA_AGENT_ID` is not set.
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

    public var description: String {
        switch self {
        case .settings(let s), .refused(let s), .unexpected(let s): s
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
    /// Times a task is decided again after another instance appended first
    /// (a null EXEC); beyond this it is given back, not decided in a tight loop.
    static let appendAttempts = 100
    /// Times the requester's connection is made again after a failure
    /// during one round of a task's asks (its asks sent again under their
    /// ids): a kernel restart is one, a connection that keeps failing is
    /// not retried for the whole wait.
    static let askReconnects = 3
}
