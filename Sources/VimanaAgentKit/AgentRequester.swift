import Foundation
import VimanaClient
import VimanaRESP

/// Request/reply to an agent (issue 12 §3, Protocol/AGENTS.md §4): publishes
/// `{"action","id","reply_to","args"}` to `tasks.<agent>` and waits for the
/// reply with the same `id` (128 random bits) on a reply topic of its own, to which it is
/// subscribed before the first request (a reply published earlier would be
/// lost). Replies to requests that timed out are dropped when they come.
///
/// Its own connection, in RESP3 (messages are pushes), authenticated as
/// `settings` say. One owner at a time.
public final class AgentRequester {
    public let settings: AgentSettings
    /// The topic the replies come to.
    public let replyTopic: String
    private let connection: RESPConnection

    /// Connects and subscribes to `replyTopic` (default
    /// `replies.<agent-id>.<pid>.<random>`: the user must be allowed to
    /// subscribe to it, and its callee to publish there).
    public init(settings: AgentSettings, replyTopic: String? = nil) throws(AgentKitError) {
        self.settings = settings
        let unique = "\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        self.replyTopic = replyTopic ?? "replies.\(settings.agentID).\(unique)"
        connection = try settings.connect()
        let reply: RESPValue
        do {
            try connection.send("SUBSCRIBE", self.replyTopic)
            reply = try connection.readValue()
        } catch { throw .client(error) }
        if case .error(let m) = reply { throw .refused("cannot subscribe to \(self.replyTopic): \(m)") }
    }

    /// Sends one request to `topic` and waits at most `timeout` seconds for
    /// its reply; throws `.timeout` when none came, `.settings` for a
    /// timeout that is not a number of seconds from 0.001 to 86400.
    public func request(topic: String, action: String, args: [String: JSON] = [:],
                        timeout: Double) throws(AgentKitError) -> AgentReply {
        guard timeout >= AgentKitLimits.shortestRead && timeout <= AgentKitLimits.longestWait else {
            throw .settings("a request timeout must be from 0.001 to 86400 seconds, got \(timeout)")
        }
        let id = JSON.string(Self.unguessableID())
        let task: JSON = ["action": .string(action), "id": id, "reply_to": .string(replyTopic), "args": .object(args)]
        let deadline = Date().addingTimeInterval(timeout)
        do { try connection.send("PUBLISH", topic, task.text) } catch { throw .client(error) }
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw .timeout(seconds: timeout) }
            guard let v = try read(within: left) else { continue }
            switch v {
            case .error(let m): throw .refused("PUBLISH \(topic): \(m)")
            case .push(let p) where p.count == 3 && p[0].bytes == Array("message".utf8):
                guard let bytes = p[2].bytes, let body = JSON.parse(bytes), body["id"] == id else { continue }
                guard let reply = AgentReply(json: body) else { throw .unexpected("reply \(body.text)") }
                return reply
            default: continue  // PUBLISH's count, other pushes
            }
        }
    }

    /// A request id: 128 random bits (the system's generator) as 32 hex
    /// digits, nothing of the reply topic nor of earlier ids, so a reply
    /// with it can come only from who read the task.
    static func unguessableID() -> String {
        var g = SystemRandomNumberGenerator()
        let (a, b) = (g.next() as UInt64, g.next() as UInt64)
        func hex(_ v: UInt64) -> String {
            let h = String(v, radix: 16)
            return String(repeating: "0", count: 16 - h.count) + h
        }
        return hex(a) + hex(b)
    }

    /// The next value, or nil when none came within `seconds`.
    private func read(within seconds: Double) throws(AgentKitError) -> RESPValue? {
        connection.setReadTimeout(max(seconds, AgentKitLimits.shortestRead))
        do { return try connection.readValue() } catch {
            if case .readTimeout = error { return nil }
            throw .client(error)
        }
    }

    /// `request(topic: "tasks.<agent>", …)`.
    public func request(agent: String, action: String, args: [String: JSON] = [:],
                        timeout: Double) throws(AgentKitError) -> AgentReply {
        try request(topic: "tasks.\(agent)", action: action, args: args, timeout: timeout)
    }

    public func close() { connection.close() }
}
