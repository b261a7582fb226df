// MARK: - User API: asking another agent before handle

/// A request to another agent whose reply a task needs: what
/// `AgentLogic.asks` names and the runtime sends before `handle`
/// (Protocol/AGENTS.md §10, "Asking another agent"). The runtime publishes
/// `{"action","id","reply_to","args"}` to `tasks.<agent>` from a connection
/// of its own subscribed to a reply topic only it listens on, and waits at
/// most `timeout` seconds for the reply with that id, sending PROGRESS for
/// the task in hand meanwhile.
public struct AgentAsk: Sendable, Hashable, CustomStringConvertible {
    /// The agent asked: the task goes to `tasks.<agent>`.
    public let agent: String
    public let action: String
    public let args: [String: JSON]
    /// Seconds to wait for the reply (0.001 to 86400; another value is
    /// answered `.failed` without sending).
    public let timeout: Double

    public init(agent: String, action: String, args: [String: JSON] = [:], timeout: Double) {
        self.agent = agent
        self.action = action
        self.args = args
        self.timeout = timeout
    }

    public var topic: String { "tasks.\(agent)" }

    public static func == (a: AgentAsk, b: AgentAsk) -> Bool {
        a.agent == b.agent && a.action == b.action && a.timeout == b.timeout && JSON.object(a.args).text == JSON.object(b.args).text
    }

    public func hash(into h: inout Hasher) {
        h.combine(agent)
        h.combine(action)
        h.combine(JSON.object(args).text)
        h.combine(timeout)
    }

    public var description: String { "\(action) to \(topic)" }
}

/// What came of an `AgentAsk`, as `handle` sees it in its `KernelView`.
public enum AgentAnswer: Sendable, Equatable {
    /// The agent's reply (an error reply included).
    case reply(AgentReply)
    /// No reply with the request's id within the ask's timeout (seconds).
    case timeout(seconds: Double)
    /// Nothing was asked: the kernel refused the PUBLISH (its text), the
    /// requester's connection failed, or the timeout was out of range.
    case failed(String)
}
