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
    /// Reply bodies received and not yet looked at.
    private var inbox: [JSON] = []

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
        try Self.check(timeout: timeout)
        let deadline = Date().addingTimeInterval(timeout)
        let id = try send(topic: topic, action: action, args: args)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw .timeout(seconds: timeout) }
            if let reply = try receive([id.text], within: left)[id.text] { return reply }
        }
    }

    /// Refuses a timeout that is not a number of seconds from 0.001 to 86400.
    static func check(timeout: Double) throws(AgentKitError) {
        guard timeout >= AgentKitLimits.shortestRead && timeout <= AgentKitLimits.longestWait else {
            throw .settings("a request timeout must be from 0.001 to 86400 seconds, got \(timeout)")
        }
    }

    /// Publishes one request to `topic` (a fresh unguessable id, `reply_to`
    /// this requester's topic) and returns its id once the kernel took the
    /// PUBLISH; throws `.refused` with the kernel's error otherwise.
    /// Replies that come meanwhile are kept for `receive`.
    public func send(topic: String, action: String, args: [String: JSON] = [:]) throws(AgentKitError) -> JSON {
        let id = JSON.string(Self.unguessableID())
        let task: JSON = ["action": .string(action), "id": id, "reply_to": .string(replyTopic), "args": .object(args)]
        connection.setReadTimeout(nil)
        do { try connection.send("PUBLISH", topic, task.text) } catch { throw .client(error) }
        while true {
            let v: RESPValue
            do { v = try connection.readValue() } catch { throw .client(error) }
            switch v {
            case .error(let m): throw .refused("PUBLISH \(topic): \(m)")
            case .push(let p): keep(p)
            default: return id  // PUBLISH's count
            }
        }
    }

    /// The replies to the requests `ids` (by their ids' JSON text) that came
    /// within `seconds`: it returns as soon as one did, or empty at the
    /// deadline. Replies to other ids (requests that timed out) are dropped.
    public func receive(_ ids: Set<String>, within seconds: Double) throws(AgentKitError) -> [String: AgentReply] {
        let deadline = Date().addingTimeInterval(max(seconds, 0))
        while true {
            var found: [String: AgentReply] = [:]
            for body in inbox {
                guard let key = body["id"]?.text, ids.contains(key) else { continue }
                guard let reply = AgentReply(json: body) else { throw .unexpected("reply \(body.text)") }
                found[key] = reply
            }
            inbox = []
            if !found.isEmpty { return found }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return [:] }
            guard let v = try read(within: left) else { continue }
            if case .push(let p) = v { keep(p) }
        }
    }

    /// A pushed message on the reply topic, kept when its body is a JSON object with an id.
    private func keep(_ p: [RESPValue]) {
        guard p.count == 3, p[0].bytes == Array("message".utf8), let bytes = p[2].bytes,
              let body = JSON.parse(bytes), body["id"] != nil else { return }
        inbox.append(body)
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
