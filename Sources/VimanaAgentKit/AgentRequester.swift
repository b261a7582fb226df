import Foundation
import VimanaClient
import VimanaRESP

/// Request/reply to an agent (Protocol/AGENTS.md §4, §10): publishes
/// `{"action","id","reply_to","args"}` to `tasks.<agent>` and waits for the
/// reply with the same `id` on a reply topic of its own, to which it is
/// subscribed before the first request (a reply published earlier would be
/// lost). A reply is taken only when the kernel says the asked agent's user
/// published it: the connection has CLIENT PUBLISHER ON, so each message
/// it receives ends with its publisher (Protocol/PROTOCOL.md §6), and a
/// message on the reply topic from anyone else is dropped (and logged).
/// Replies to requests no longer awaited are dropped when they come.
///
/// Its own connection, in RESP3 (messages are pushes), authenticated as
/// `settings` say; made again on the same reply topic by `reconnect`. One
/// owner at a time.
public final class AgentRequester {
    public let settings: AgentSettings
    /// The topic the replies come to, the same across `reconnect`.
    public let replyTopic: String
    private var connection: RESPConnection
    /// Reply bodies received and not yet looked at, with their publishers.
    private var inbox: [(body: JSON, publisher: String)] = []

    /// Connects, asks for publishers (CLIENT PUBLISHER ON) and subscribes
    /// to `replyTopic` (default `replies.<agent-id>.<pid>.<random>`: the
    /// user must be allowed CLIENT PUBLISHER and to subscribe to it, and its
    /// callee to publish there).
    public init(settings: AgentSettings, replyTopic: String? = nil) throws(AgentKitError) {
        self.settings = settings
        let unique = "\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        let topic = replyTopic ?? "replies.\(settings.agentID).\(unique)"
        self.replyTopic = topic
        connection = try Self.listen(settings, topic)
    }

    /// A new connection, with PUBLISHER ON, subscribed to `topic`.
    private static func listen(_ settings: AgentSettings, _ topic: String) throws(AgentKitError) -> RESPConnection {
        let c = try settings.connect()
        do {
            try c.send("CLIENT", "PUBLISHER", "ON")
            if case .error(let m) = try c.readValue() {
                c.close()
                throw AgentKitError.refused("CLIENT PUBLISHER ON (needed to know who publishes replies): \(m)")
            }
            try c.send("SUBSCRIBE", topic)
            if case .error(let m) = try c.readValue() {
                c.close()
                throw AgentKitError.refused("cannot subscribe to \(topic): \(m)")
            }
        } catch let e as AgentKitError {
            throw e
        } catch let e as ClientError {
            c.close()
            throw .client(e)
        } catch {
            c.close()
            throw .unexpected("\(error)")
        }
        return c
    }

    /// Closes the connection and makes a new one on the same reply topic
    /// (replies received before are kept). Replies published while there
    /// was none are lost: send the requests awaited again, with their ids
    /// (an agent applies an id once).
    public func reconnect() throws(AgentKitError) {
        connection.close()
        connection = try Self.listen(settings, replyTopic)
    }

    /// Sends one request to `topic` and waits at most `timeout` seconds for
    /// its reply published by `publisher`; throws `.timeout` when none
    /// came, `.settings` for a timeout that is not a number of seconds from
    /// 0.001 to 86400. The id is a fresh unguessable one unless given (give
    /// the same to a request sent again, so that it is applied once).
    public func request(topic: String, action: String, args: [String: JSON] = [:], timeout: Double,
                        from publisher: String, id: JSON? = nil) throws(AgentKitError) -> AgentReply {
        try Self.check(timeout: timeout)
        let deadline = Date().addingTimeInterval(timeout)
        let id = try send(topic: topic, action: action, args: args, id: id ?? .string(Self.unguessableID()))
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw .timeout(seconds: timeout) }
            if let reply = try receive([id.text: publisher], within: left)[id.text] { return reply }
        }
    }

    /// `request(topic: "tasks.<agent>", …)`, taking the reply of the user
    /// `user` (default `agent:<agent>`, as `AgentAsk`).
    public func request(agent: String, action: String, args: [String: JSON] = [:], timeout: Double,
                        user: String? = nil, id: JSON? = nil) throws(AgentKitError) -> AgentReply {
        try request(topic: "tasks.\(agent)", action: action, args: args, timeout: timeout,
                    from: user ?? AgentAsk.madeUser(agent), id: id)
    }

    /// Refuses a timeout that is not a number of seconds from 0.001 to 86400.
    static func check(timeout: Double) throws(AgentKitError) {
        guard timeout >= AgentKitLimits.shortestRead && timeout <= AgentKitLimits.longestWait else {
            throw .settings("a request timeout must be from 0.001 to 86400 seconds, got \(timeout)")
        }
    }

    /// Publishes one request to `topic` (`id`, `reply_to` this requester's
    /// topic) and returns its id once the kernel took the PUBLISH; throws
    /// `.refused` with the kernel's error (nothing was published), `.client`
    /// when the connection failed (the PUBLISH may have been). Replies that
    /// come meanwhile are kept for `receive`.
    @discardableResult
    public func send(topic: String, action: String, args: [String: JSON] = [:],
                     id: JSON = .string(AgentRequester.unguessableID())) throws(AgentKitError) -> JSON {
        let task: JSON = ["action": .string(action), "id": id, "reply_to": .string(replyTopic), "args": .object(args)]
        let text = task.text
        // The kernel would close the connection for it: certainly not sent.
        if text.utf8.count > settings.maxPayload {
            throw .refused("the task is \(text.utf8.count) bytes, over the kernel's max_payload (\(settings.maxPayload)): not sent")
        }
        connection.setReadTimeout(nil)
        do { try connection.send("PUBLISH", topic, text) } catch { throw .client(error) }
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

    /// The replies to the requests `awaited` (request id's JSON text → the
    /// user whose reply is taken) that came within `seconds`: it returns as
    /// soon as one did, or empty at the deadline. A message with an awaited
    /// id from another publisher is dropped and logged; replies to other
    /// ids (requests no longer awaited) are dropped. Throws `.unexpected`
    /// for an awaited id's message, from its publisher, that is no reply.
    public func receive(_ awaited: [String: String], within seconds: Double) throws(AgentKitError) -> [String: AgentReply] {
        let deadline = Date().addingTimeInterval(max(seconds, 0))
        while true {
            let sorted = Self.replies(in: inbox, awaited: awaited)
            inbox = []
            for (id, publisher) in sorted.forged {
                note("\(replyTopic): a reply to request \(id) published by '\(publisher)', not by '\(awaited[id] ?? "")'"
                     + " (the asked agent's user): ignored")
            }
            var found = sorted.found
            if let body = sorted.malformed, let key = body["id"]?.text, found[key] == nil {
                // The asked agent's own message, but no reply object: that ask's answer, the others wait on.
                let text = body.text
                found[key] = .error(code: AgentErrorCode.badReply,
                                    message: "the reply is not a reply object: " + (text.utf8.count <= 200 ? text : String(text.prefix(200)) + "…"))
            }
            if !found.isEmpty { return found }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return [:] }
            guard let v = try read(within: left) else { continue }
            if case .push(let p) = v { keep(p) }
        }
    }

    /// Sorts messages received on the reply topic: the replies to the
    /// `awaited` ids published by the user awaited for each (`found`), the
    /// messages with an awaited id from anyone else (`forged`: id and
    /// publisher), and the first message with an awaited id from its user
    /// that is no reply object (`malformed`). Other ids are left out.
    static func replies(in messages: [(body: JSON, publisher: String)], awaited: [String: String])
        -> (found: [String: AgentReply], forged: [(id: String, publisher: String)], malformed: JSON?) {
        var found: [String: AgentReply] = [:]
        var forged: [(id: String, publisher: String)] = []
        var malformed: JSON?
        for (body, publisher) in messages {
            guard let key = body["id"]?.text, let expected = awaited[key] else { continue }
            guard publisher == expected else {
                forged.append((key, publisher))
                continue
            }
            if let reply = AgentReply(json: body) { found[key] = reply } else if malformed == nil { malformed = body }
        }
        return (found, forged, malformed)
    }

    /// A pushed message on the reply topic, kept when its body is a JSON
    /// object with an id: `message`, topic, body, publisher (PUBLISHER ON).
    private func keep(_ p: [RESPValue]) {
        guard p.count == 4, p[0].bytes == Array("message".utf8), let bytes = p[2].bytes, let publisher = p[3].bytes,
              let body = JSON.parse(bytes), body["id"] != nil else { return }
        inbox.append((body, String(decoding: publisher, as: UTF8.self)))
    }

    /// A request id: 128 random bits (the system's generator) as 32 hex
    /// digits, nothing of the reply topic nor of earlier ids.
    public static func unguessableID() -> String {
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

    public func close() { connection.close() }
}
