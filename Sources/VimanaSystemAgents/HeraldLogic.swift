import Foundation
import VimanaAgentKit

// herald: broadcasts and announcements (docs/SYSTEM-AGENTS.md). `publish`
// checks a broadcast against the configured rules, has civic charge its
// author (an ask: civic checks the licence and the credits), then appends
// `broadcast` and publishes the broadcast to `broadcast.<channel>` as the
// task's message (the kit stores it with the event, so a crash after the
// charge loses no broadcast: Protocol/AGENTS.md §10, "Messages").
// `announce` comes from herald's own watcher thread (SystemAgents.swift),
// which follows the event streams of civic, forum and discovery: each
// relevant event is announced once on `broadcast.announcements`.

/// herald's limits, each with its reason.
public enum HeraldLimits {
    /// A channel name: `broadcast.<channel>` is a topic a person reads.
    public static let channelBytes = 64
    /// How long `publish` waits for civic's `charge`: civic answers from
    /// memory, so five seconds means it is not there (`unavailable`).
    public static let civicTimeout = 5.0
    /// The longest `broadcast.<channel>` message beyond its content: the
    /// author (an agent id, at most 64 bytes), the channel, the id (a
    /// stream ID) and the JSON around them, with room to spare.
    public static let messageOverhead = 512
}

/// What herald's events built: how many broadcasts, and per source stream
/// the last entry announced (an entry at or before it is not announced again).
public struct HeraldState: Sendable, Equatable, Codable {
    public var broadcasts = 0
    public var announcements = 0
    /// Source stream → the ID of the last entry announced from it.
    public var cursors: [String: String] = [:]

    public init() {}
}

/// The forbidden patterns, compiled once at start. NSRegularExpression is
/// immutable and documented safe to share between threads.
public final class ForbiddenPatterns: @unchecked Sendable {
    public let patterns: [(text: String, regex: NSRegularExpression)]

    /// nil, with the first pattern that does not compile in `bad`, when one does not.
    public init?(_ texts: [String], bad: inout String) {
        var out: [(String, NSRegularExpression)] = []
        for t in texts {
            guard let r = try? NSRegularExpression(pattern: t) else {
                bad = t
                return nil
            }
            out.append((t, r))
        }
        patterns = out
    }

    /// The first pattern found in `content`, or nil.
    func match(_ content: String) -> String? {
        let range = NSRange(content.startIndex..., in: content)
        return patterns.first { $0.regex.firstMatch(in: content, range: range) != nil }?.text
    }
}

public struct HeraldLogic: AgentLogic {
    public let broadcastCost: Int64
    public let maxLength: Int
    public let forbidden: ForbiddenPatterns
    /// The kernel's `max_payload`: a broadcast's message must fit it.
    public let maxPayload: Int
    /// The user whose `announce` tasks are taken: herald's own (its
    /// watcher's); nil when it runs without credentials (any client could
    /// be `default`), and then none is.
    public let announcer: String?
    /// civic's user: only its reply to `charge` is taken.
    public let civicUser: String
    public let civicTimeout: Double

    public init(broadcastCost: Int64 = 1, maxLength: Int = 4096, forbidden: ForbiddenPatterns, maxPayload: Int = 1 << 20,
                announcer: String?, civicUser: String = AgentAsk.madeUser("civic"), civicTimeout: Double = HeraldLimits.civicTimeout) {
        self.broadcastCost = broadcastCost
        self.maxLength = maxLength
        self.forbidden = forbidden
        self.maxPayload = maxPayload
        self.announcer = announcer
        self.civicUser = civicUser
        self.civicTimeout = civicTimeout
    }

    /// Its actions, as a caller sends them (`announce` is its watcher's only).
    public static let actions = ["publish", "status", "announce"]
    /// The channel of the announcements, herald's own.
    public static let announcements = "announcements"
    /// The streams announced from, each with the user whose entries count.
    public static let sources: [(stream: String, user: String)] = [
        ("events.civic", AgentAsk.madeUser("civic")), ("events.forum", AgentAsk.madeUser("forum")),
        ("events.discovery", AgentAsk.madeUser("discovery")), ("events.supreme_court", AgentAsk.madeUser("supreme_court")),
    ]

    public var initialState: HeraldState { HeraldState() }

    public func apply(_ event: AgentEvent, to state: inout HeraldState) {
        switch event.type {
        case "broadcast":
            state.broadcasts += 1
        case "announced":
            guard let source = event.data["source"], let entry = event.data["entry"] else { return }
            state.announcements += 1
            if Self.after(entry, state.cursors[source]) { state.cursors[source] = entry }
        default:
            break
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: HeraldState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    // MARK: - Which events are announced

    /// The kind an event of `source` is announced as, or nil when it is not
    /// announced: civic's registrations and licence changes (not the
    /// licence every registration starts with), forum's proposals opened
    /// and decided, discovery's agents joined and failed, the court's verdicts.
    public static func kind(source: String, type: String, fields: [String: String]) -> String? {
        switch (source, type) {
        case ("events.civic", "registered"): return "registered"
        case ("events.civic", "licence"):
            if let a = fields["authority"], JSON.parse(a)?["registration"] != nil { return nil }
            switch fields["state"] {
            case "suspended"?: return "suspended"
            case "revoked"?: return "revoked"
            case "active"?: return "reinstated"
            default: return nil
            }
        case ("events.forum", "opened"): return "proposal_opened"
        case ("events.forum", "decided"): return "proposal_decided"
        case ("events.discovery", "joined"): return "agent_joined"
        case ("events.discovery", "failed"): return "agent_failed"
        case ("events.supreme_court", "verdict"): return "verdict"
        default: return nil
        }
    }

    /// true when stream ID `a` comes after `b` (nil: before everything).
    static func after(_ a: String, _ b: String?) -> Bool {
        guard let b else { return true }
        func parts(_ s: String) -> (UInt64, UInt64)? {
            let p = s.split(separator: "-", omittingEmptySubsequences: false)
            guard p.count == 2, let ms = UInt64(p[0]), let seq = UInt64(p[1]) else { return nil }
            return (ms, seq)
        }
        guard let x = parts(a), let y = parts(b) else { return false }
        return x > y
    }

    // MARK: - publish

    /// A broadcast's channel and content, checked: the rules from the
    /// configuration, before anything is charged.
    func broadcast(_ request: AgentRequest) throws(Refusal) -> (channel: String, content: String) {
        try Arguments.only(["channel", "content"], request.args)
        guard let channel = request.args["channel"]?.string, !channel.isEmpty, channel.utf8.count <= HeraldLimits.channelBytes,
              channel.utf8.allSatisfy({ Self.channelByte($0) }) else {
            throw Refusal(AgentErrorCode.badArgument,
                          "channel must be 1 to \(HeraldLimits.channelBytes) characters from A-Z, a-z, 0-9, '_', '.', '-'")
        }
        if channel == Self.announcements || channel.hasPrefix(Self.announcements + ".") {
            throw Refusal(AgentErrorCode.forbidden, "broadcast.\(channel) is herald's own: its announcements")
        }
        guard let content = request.args["content"]?.string, !content.isEmpty else {
            throw Refusal(AgentErrorCode.badArgument, "content must be a non-empty string")
        }
        let bytes = content.utf8.count
        guard bytes <= maxLength else {
            throw Refusal("too_long", "content is \(bytes) bytes, over system.herald.max_length (\(maxLength))")
        }
        // As the message will be written (escapes included), beside the rest of it.
        let written = JSON.string(content).text.utf8.count
        guard written + HeraldLimits.messageOverhead <= maxPayload else {
            throw Refusal("too_long", "content is \(written) bytes as JSON, too long for a message under the kernel's max_payload (\(maxPayload))")
        }
        if let pattern = forbidden.match(content) {
            throw Refusal("forbidden_content", "content matches the forbidden pattern '\(pattern)' (system.herald.forbidden)")
        }
        return (channel, content)
    }

    static func channelByte(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == 95 || b == 46 || b == 45
    }

    /// civic's `charge` for a broadcast on `channel` by `caller`.
    func charge(caller: String, channel: String) -> AgentAsk {
        AgentAsk(agent: "civic", action: "charge",
                 args: ["user": .string(caller), "amount": .int(broadcastCost), "reason": .string("broadcast \(channel)")],
                 timeout: civicTimeout, user: civicUser)
    }

    /// A bad broadcast asks nothing: nothing is charged for it.
    public func asks(for request: AgentRequest, caller: String, state: HeraldState) -> [AgentAsk] {
        guard request.action == "publish", let b = try? broadcast(request) else { return [] }
        return [charge(caller: caller, channel: b.channel)]
    }

    func publish(_ request: AgentRequest, caller: String, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        let (channel, content) = try broadcast(request)
        let result: JSON
        switch kernel.answer(charge(caller: caller, channel: channel)) {
        case .reply(.ok(let r))?:
            result = r
        case .reply(.error(let code, let message))?:
            // civic's refusal is the caller's answer; its not_found means the caller has no registered agent.
            throw Refusal(code == "not_found" ? "not_registered" : code, "civic: \(message)")
        case .timeout(let s)?:
            throw Refusal("unavailable", "civic did not answer charge within \(s) s; nothing was broadcast")
        case .failed(let m)?, .lost(let m)?:
            throw Refusal("unavailable", "civic could not be asked to charge: \(m); nothing was broadcast")
        case nil:
            throw Refusal("unavailable", "civic was not asked to charge; nothing was broadcast")
        }
        guard let author = result["agent"]?.string else {
            throw Refusal("unavailable", "civic's charge answered no agent: \(result.text.prefix(200))")
        }
        // The task's entry ID: the same at every delivery, so a subscriber drops a repeat by it.
        let id = request.entryID
        let message: JSON = ["author": .string(author), "channel": .string(channel), "content": .string(content), "id": .string(id)]
        var reply: [String: JSON] = ["author": .string(author), "channel": .string(channel), "id": .string(id)]
        if let balance = result["balance"] { reply["balance"] = balance }
        reply["charged"] = .int(broadcastCost)
        return .ok(.object(reply),
                   events: [AgentEvent("broadcast", ["channel": channel, "author": author, "bytes": String(content.utf8.count), "id": id])],
                   messages: [AgentMessage(topic: "broadcast." + channel, message: message.text)])
    }

    // MARK: - announce

    func announce(_ request: AgentRequest, caller: String, state: HeraldState) throws(Refusal) -> AgentOutcome {
        guard let announcer, caller == announcer else {
            throw Refusal(AgentErrorCode.forbidden, "only herald's own watcher may announce (user '\(caller)' may not)")
        }
        try Arguments.only(["source", "entry", "kind", "event"], request.args)
        guard let source = request.args["source"]?.string, Self.sources.contains(where: { $0.stream == source }),
              let entry = request.args["entry"]?.string, Self.after(entry, "0-0"),
              let kind = request.args["kind"]?.string, !kind.isEmpty,
              case .object(let event)? = request.args["event"] else {
            throw Refusal(AgentErrorCode.badArgument, "announce takes source (an announced stream), entry (a stream ID), kind and event (an object)")
        }
        guard Self.after(entry, state.cursors[source]) else {
            return .ok(["announced": false, "source": .string(source), "entry": .string(entry)])
        }
        var message: JSON = ["entry": .string(entry), "event": .object(event), "id": .string(request.entryID),
                             "kind": .string(kind), "source": .string(source)]
        // An event too large to announce whole is announced without its fields.
        if message.text.utf8.count + HeraldLimits.messageOverhead > maxPayload { message = message.with("event", [:]) }
        return .ok(["announced": true, "source": .string(source), "entry": .string(entry), "id": .string(request.entryID)],
                   events: [AgentEvent("announced", ["source": source, "entry": entry, "kind": kind])],
                   messages: [AgentMessage(topic: "broadcast." + Self.announcements, message: message.text)])
    }

    public func handle(_ request: AgentRequest, caller: String, state: HeraldState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "publish":
                return try publish(request, caller: caller, kernel: kernel)
            case "announce":
                return try announce(request, caller: caller, state: state)
            case "status":
                try Arguments.only([], request.args)
                return .ok(["broadcasts": .int(Int64(state.broadcasts)), "announcements": .int(Int64(state.announcements)),
                            "cursors": .object(state.cursors.mapValues(JSON.string)),
                            "broadcast_cost": .int(broadcastCost), "max_length": .int(Int64(maxLength))])
            default:
                throw Refusal(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (publish, status)")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }
}

extension JSON {
    /// This object with `key` set to `value`.
    func with(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var o) = self else { return self }
        o[key] = value
        return .object(o)
    }
}
