import VimanaConfig
/// Reads a task's payload as `{"action", "id", "reply_to"?, "args"?}`.
/// A payload that is not such an object is malformed: the runtime
/// dead-letters it with the reason given here.
public enum AgentTaskParser {
    /// Why a task is malformed, and where a reply may still go.
    public struct Malformed: Error, Sendable, Equatable {
        /// The reason, as written in the dead letter's `reason` field.
        public var reason: String
        /// The task's `id` when it had a usable one (`null` otherwise).
        public var id: JSON
        /// The task's `reply_to` when it had a usable one: the runtime also
        /// replies there (error code `malformed`), so the caller is not left waiting.
        public var replyTo: String?
    }

    /// Why a payload of `bytes` bytes is refused before it is parsed: longer
    /// than the agent's `max_task_bytes` (`limit`; nil: no limit of its
    /// own). Only the length of the payload already in memory is looked
    /// at, so an oversized task costs no parse. The reason begins
    /// `oversized:` (watchman's `oversized` violation) and says the size and the limit.
    public static func oversized(bytes: Int, limit: Int?) -> String? {
        guard let limit, bytes > limit else { return nil }
        return "oversized: the task is \(bytes) bytes, over the agent's max_task_bytes (\(limit))"
    }

    /// The request in `payload`, or why it is malformed.
    public static func parse(_ payload: [UInt8], entryID: String) -> Result<AgentRequest, Malformed> {
        guard let json = JSON.parse(payload), case .object(let o) = json else {
            return .failure(Malformed(reason: "malformed task: the payload is not a JSON object", id: .null, replyTo: nil))
        }
        var replyTo: String?
        switch o["reply_to"] {
        case nil, .null?: break
        case .string(let s)? where !s.isEmpty: replyTo = s
        default:
            return .failure(Malformed(reason: "malformed task: reply_to must be a non-empty string (a topic)",
                                      id: .null, replyTo: nil))
        }
        // A reply published there would be an entry the agent's user
        // appends for the caller: a task or a dead letter for another agent,
        // or an entry in its events (which also fails its WATCH).
        if let r = replyTo, AgentConfig.isReservedReply(r) {
            return .failure(Malformed(reason: "malformed task: reply_to must not be a topic in tasks.*, events.*, dead.* or _vimana.*",
                                      id: .null, replyTo: nil))
        }
        let id: JSON
        switch o["id"] {
        case .string(let s)? where !s.isEmpty: id = .string(s)
        case .int(let i)?: id = .int(i)
        default:
            return .failure(Malformed(reason: "malformed task: id must be a non-empty string or an integer",
                                      id: .null, replyTo: replyTo))
        }
        // Every reply echoes it and the duplicate window keeps it: bounded.
        if id.text.utf8.count > AgentKitLimits.requestIDBytes {
            return .failure(Malformed(reason: "malformed task: id must be at most \(AgentKitLimits.requestIDBytes) bytes as JSON text",
                                      id: .null, replyTo: replyTo))
        }
        guard case .string(let action)? = o["action"], !action.isEmpty else {
            return .failure(Malformed(reason: "malformed task: action must be a non-empty string", id: id, replyTo: replyTo))
        }
        var args: [String: JSON] = [:]
        switch o["args"] {
        case nil, .null?: break
        case .object(let a)?: args = a
        default:
            return .failure(Malformed(reason: "malformed task: args must be a JSON object", id: id, replyTo: replyTo))
        }
        return .success(AgentRequest(action: action, id: id, replyTo: replyTo, args: args, entryID: entryID))
    }
}
