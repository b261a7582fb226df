import VimanaConfig
import VimanaCore

// MARK: - User API: asking another agent before handle

/// A request to another agent whose reply a task needs: what
/// `AgentLogic.asks` names and the runtime sends before `handle`
/// (Protocol/AGENTS.md §10, "Asking another agent"). The runtime publishes
/// `{"action","id","reply_to","args"}` to `tasks.<agent>` from a connection
/// of its own subscribed to a reply topic only it listens on, and waits at
/// most `timeout` seconds for the reply with that id published by `user`,
/// sending PROGRESS for the task in hand meanwhile. The id follows from the
/// task in hand and the ask (`requestID`), so every delivery of that task
/// asks the same request.
public struct AgentAsk: Sendable, Hashable, CustomStringConvertible {
    /// The agent asked: the task goes to `tasks.<agent>`.
    public let agent: String
    public let action: String
    public let args: [String: JSON]
    /// Seconds to wait for the reply (0.001 to 86400; another value is
    /// answered `.failed` without sending).
    public let timeout: Double
    /// The user the asked agent runs as: only a reply this user published
    /// is taken. `agent:<agent>` (the user the kernel makes for an agent
    /// declared without `user:`, Protocol/AGENTS.md §9) unless given.
    public let user: String

    public init(agent: String, action: String, args: [String: JSON] = [:], timeout: Double, user: String? = nil) {
        self.agent = agent
        self.action = action
        self.args = args
        self.timeout = timeout
        self.user = user ?? Self.madeUser(agent)
    }

    public var topic: String { "tasks.\(agent)" }

    /// The user the kernel makes for the agent `id` declared without `user:`.
    public static func madeUser(_ id: String) -> String { AgentConfig.madeUserPrefix + id }

    public static func == (a: AgentAsk, b: AgentAsk) -> Bool {
        a.agent == b.agent && a.action == b.action && a.timeout == b.timeout && a.user == b.user
            && JSON.object(a.args).text == JSON.object(b.args).text
    }

    public func hash(into h: inout Hasher) {
        h.combine(agent)
        h.combine(action)
        h.combine(JSON.object(args).text)
        h.combine(timeout)
        h.combine(user)
    }

    public var description: String { "\(action) to \(topic)" }

    /// The request id this ask is sent with for the request `request` (its
    /// id's JSON text) of `caller` on `topic`, handled by the agent `asker`:
    /// the first 128 bits of the SHA-256 of those four, the asked agent, its
    /// user, the action and the args' JSON text (each length-prefixed), as
    /// 32 lower-case hex digits. The same on every delivery of that task,
    /// every send of the ask, and every task that repeats the request (the
    /// caller retrying after an `unavailable`, the agent's own timer
    /// publishing its task again), so the asked agent, which takes a request
    /// id from one caller once (§10 step 2), applies it once however often
    /// it is sent; different for another request, another caller, another
    /// asking agent. Not secret (anyone who reads the task can compute it):
    /// replies are taken by their publisher, not by the id. The timeout is
    /// not part of it.
    public func requestID(asker: String, topic: String, caller: String, request: String) -> String {
        var input: [UInt8] = []
        for part in ["vimana-ask-2", asker, topic, caller, request, agent, user, action, JSON.object(args).text] {
            let bytes = Array(part.utf8)
            input += Array(String(bytes.count).utf8) + [0x3A] + bytes  // "<length>:<bytes>"
        }
        return String(SHA256.hexDigest(input).prefix(32))
    }
}

/// What came of an `AgentAsk`, as `handle` sees it in its `KernelView`.
public enum AgentAnswer: Sendable, Equatable {
    /// The agent's reply (an error reply included), published by the ask's `user`.
    case reply(AgentReply)
    /// No reply with the request's id within the ask's timeout (seconds).
    /// The request was published: the asked agent may still apply it later
    /// (it stays a task of `tasks.<agent>` until handled), and a later
    /// delivery of the task in hand, which asks again with the same id, then
    /// gets its stored reply.
    case timeout(seconds: Double)
    /// Certainly not asked: the kernel refused the PUBLISH (its text), the
    /// requester's connection could not be made, or the timeout was out of
    /// range. Nothing reached the asked agent.
    case failed(String)
    /// Asked, or perhaps asked, but no reply can come: the requester's
    /// connection failed after the PUBLISH was written and could not be made
    /// again (or the kernel refused the PUBLISH sent again on the new one;
    /// or the reply with the request's id was no reply object). The asked
    /// agent may have the request and may apply it; a later delivery of
    /// the task in hand asks again with the same id (applied once) and gets
    /// its reply.
    case lost(String)
}
