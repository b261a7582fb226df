import Foundation

/// An agent's state together with what makes its tasks idempotent: the
/// requests already applied, by caller and request id, each with the entry
/// that holds its reply (and the latest replies themselves).
/// Everything here is rebuilt from the agent's events alone (`replay`), and
/// `step` is a pure function: the runtime's decisions can be unit-tested
/// without a server.
///
/// The entry written for an event (`AgentEntry`): `type`, the data's fields
/// in name order, `request` (the request id as JSON text), `caller`, and on
/// the last event of a task `reply` (the reply's JSON text) and, when the
/// task publishes messages, `messages` (`AgentMessage.text`). A task's events
/// are folded into the state only once its last one has been read: a crash
/// in the middle of appending them (a runtime before MULTI/EXEC, or an
/// XADD of an EXEC failing alone) leaves a partial task, whose redelivery
/// appends only the events still missing — when `handle` makes the same
/// first events again; otherwise the task is dead-lettered.
public struct AgentBook<Logic: AgentLogic>: Sendable {
    public let logic: Logic
    public private(set) var state: Logic.State
    /// The applied requests still remembered, by `key(caller:id:)`, each
    /// with the entry ID of its last event (the one whose `reply` field is
    /// its reply): the duplicate window (`DuplicateWindow`), the latest
    /// `AgentKitLimits.appliedKept`.
    public private(set) var window: DuplicateWindow<String>
    /// The latest replies themselves, each with the task's messages
    /// (`AgentKitLimits.repliesKept` within `repliesBytes`), so that a
    /// duplicate soon after is answered without a read; an older one's
    /// reply is read from its entry (`AgentStep.appliedAt`).
    public private(set) var recent: DuplicateWindow<StoredReply>
    public var replies: DuplicateWindow<StoredReply> { recent }
    public var repliesBytes: Int { recent.bytes }
    /// Events of tasks whose last event has not been read yet.
    private var partial: [String: [AgentEvent]] = [:]
    /// Events folded into the state (replayed or appended, or counted in the snapshot it started from).
    public private(set) var eventCount = 0

    public init(logic: Logic, appliedKept: Int = AgentKitLimits.appliedKept, repliesKept: Int = AgentKitLimits.repliesKept,
                repliesBytes: Int = AgentKitLimits.repliesBytes) {
        self.logic = logic
        state = logic.initialState
        window = DuplicateWindow(count: appliedKept, bytes: AgentKitLimits.appliedBytes)
        recent = DuplicateWindow(count: repliesKept, bytes: repliesBytes)
    }

    /// The idempotency key: two callers may use the same request id.
    public static func key(caller: String, id: String) -> String { caller + "\n" + id }

    // MARK: - Replay

    /// Folds one entry of `events.<agent-id>` (its fields, in order, without
    /// `_publisher`; `id` its entry ID). An entry without `type` is no
    /// event: false, ignored.
    @discardableResult
    public mutating func replay(_ fields: [(String, String)], id: String = "") -> Bool {
        guard let type = fields.first(where: { $0.0 == "type" })?.1 else { return false }
        var data: [String: String] = [:]
        var request: String?, caller: String?, reply: String?, messages: String?
        for (name, value) in fields {
            switch name {
            case "type", "_publisher": continue
            case "request": request = value
            case "caller": caller = value
            case "reply": reply = value
            case "messages": messages = value
            default: data[name] = value
            }
        }
        // The kit's `messages` is only ever beside the task's `reply`: on any
        // other entry it is the event's own field (an agent written before it).
        if reply == nil, let m = messages {
            data["messages"] = m
            messages = nil
        }
        let event = AgentEvent(type, data)
        guard let request, let caller else {
            fold([event])
            return true
        }
        // By value: any JSON text of the same id (an agent in another
        // language may escape differently) is the same request.
        let key = Self.key(caller: caller, id: JSON.canonical(request))
        partial[key, default: []].append(event)
        if let reply {
            fold(partial.removeValue(forKey: key) ?? [])
            window.remember(key, id)
            // A `messages` field that is no such array (another writer's) publishes nothing.
            recent.remember(key, StoredReply(reply: reply, messages: messages.flatMap(AgentMessage.parse) ?? []))
        }
        return true
    }

    /// True when a task's first events are folded and its last is not: no
    /// snapshot is taken then (it would have to carry them).
    public var hasPartialTask: Bool { !partial.isEmpty }

    // MARK: - Snapshots

    /// The book as a snapshot's text (Protocol/AGENTS.md §10, "Snapshots"):
    /// one line of JSON, `{"events": n, "logic": <snapshotVersion>,
    /// "v": 2, "window": [[key, entry ID], …]}` (the window oldest first),
    /// a newline, then the logic's text of the state; nil when the logic
    /// takes no snapshots or a task is half folded.
    public func snapshot() -> String? {
        guard !hasPartialTask, let s = logic.snapshot(of: state) else { return nil }
        let header: JSON = ["v": .int(AgentKitLimits.snapshotVersion), "events": .int(Int64(eventCount)),
                            "logic": .int(Int64(logic.snapshotVersion)),
                            "window": .array(window.entries.map { [.string($0.key), .string($0.value)] })]
        return header.text + "\n" + s
    }

    /// What a snapshot's first line holds.
    struct SnapshotHeader: Decodable {
        var v: Int64
        var events: Int64
        var logic: Int64
        var window: [[String]]
    }

    /// The book a snapshot holds; nil, with the reason in `why`, when it is
    /// not one this kit writes, of another version of the logic, or a
    /// state the logic cannot read.
    public init?(logic: Logic, snapshot text: String, why: inout String, appliedKept: Int = AgentKitLimits.appliedKept) {
        guard let newline = text.utf8.firstIndex(of: UInt8(ascii: "\n")) else {
            why = "no header line"
            return nil
        }
        let first = text.utf8[..<newline], rest = text.utf8[text.utf8.index(after: newline)...]
        guard let header = try? JSONDecoder().decode(SnapshotHeader.self, from: Data(first)) else {
            why = "its header is not the kit's"
            return nil
        }
        guard header.v == AgentKitLimits.snapshotVersion else {
            why = "format \(header.v), this kit writes \(AgentKitLimits.snapshotVersion)"
            return nil
        }
        guard header.logic == Int64(logic.snapshotVersion) else {
            why = "a state of the logic's version \(header.logic), this one is \(logic.snapshotVersion)"
            return nil
        }
        guard header.events >= 0, let restored = logic.state(fromSnapshot: String(decoding: rest, as: UTF8.self)) else {
            why = "a state this logic cannot read"
            return nil
        }
        self.init(logic: logic, appliedKept: appliedKept)
        state = restored
        eventCount = Int(clamping: header.events)
        for pair in header.window {
            // The id's JSON text has no raw newline: the last one ends the caller.
            guard pair.count == 2, let newline = pair[0].lastIndex(of: "\n") else {
                why = "a window entry that is not [key, entry ID]"
                return nil
            }
            // By value, as replay keys it: any JSON text of the same id.
            let id = String(pair[0][pair[0].index(after: newline)...])
            window.remember(Self.key(caller: String(pair[0][..<newline]), id: JSON.canonical(id)), pair[1])
        }
    }

    private mutating func fold(_ events: [AgentEvent]) {
        for event in events { logic.apply(event, to: &state) }
        eventCount += events.count
    }

    // MARK: - Deciding

    /// The kernel reads `request` needs before `step`: none for a request
    /// already applied (its stored reply is the answer), else the logic's.
    public func reads(_ request: AgentRequest, caller: String) -> [KernelRead] {
        if window[Self.key(caller: caller, id: request.id.text)] != nil { return [] }
        return logic.reads(for: request, caller: caller, state: state)
    }

    /// The other agents `request` needs answered before `step`: none for a
    /// request already applied, else the logic's.
    public func asks(_ request: AgentRequest, caller: String) -> [AgentAsk] {
        if window[Self.key(caller: caller, id: request.id.text)] != nil { return [] }
        return logic.asks(for: request, caller: caller, state: state)
    }

    /// What to do with a parsed task from `caller`, given the kernel's
    /// replies to `reads` (none by default): pure.
    public func step(_ request: AgentRequest, caller: String, kernel: KernelView = KernelView()) -> AgentStep {
        let id = request.id.text
        let key = Self.key(caller: caller, id: id)
        if let at = window[key] {
            // Its reply and messages, or where to read them when they are no longer in memory.
            let stored = recent[key]
            return AgentStep(append: [], reply: stored?.reply ?? "", duplicate: true, appliedAt: at, messages: stored?.messages ?? [])
        }
        var outcome = logic.handle(request, caller: caller, state: state, kernel: kernel)
        if let why = Self.refusal(outcome) { outcome = .error(AgentErrorCode.internalError, why) }
        let done = partial[key]?.count ?? 0
        if done > 0, Array(outcome.events.prefix(done)) != partial[key] ?? [] {
            // The first events of this task are in, and `handle` now makes
            // others: it is not deterministic, and no rest can be appended.
            let reason = "the events of request \(id) already appended differ from those handle makes now"
            let reply = AgentOutcome.error(AgentErrorCode.internalError, reason).reply.json(id: request.id).text
            return AgentStep(append: [], reply: reply, duplicate: false, deadLetter: reason)
        }
        let reply = outcome.reply.json(id: request.id).text
        var append: [AgentEntry] = []
        for (i, event) in outcome.events.enumerated() where i >= done {
            var fields = [("type", event.type)]
            fields += event.data.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            fields += [("request", id), ("caller", caller)]
            if i == outcome.events.count - 1 {
                fields.append(("reply", reply))
                if !outcome.messages.isEmpty { fields.append(("messages", AgentMessage.text(outcome.messages))) }
            }
            append.append(AgentEntry(fields: fields))
        }
        return AgentStep(append: append, reply: reply, duplicate: false, messages: outcome.messages)
    }

    /// Why the kit does not carry out `outcome` (the task is then answered
    /// with an `internal` error and nothing is appended or published), or nil.
    static func refusal(_ outcome: AgentOutcome) -> String? {
        if outcome.events.contains(where: { $0.type.isEmpty || !$0.data.keys.allSatisfy { !AgentEvent.reservedFields.contains($0) } }) {
            return "the agent made an event with an empty type or a reserved field name"
        }
        guard !outcome.messages.isEmpty else { return nil }
        // Stored on the last event, or a redelivery after a crash could not publish them again.
        if outcome.events.isEmpty { return "the agent made messages without an event to store them in" }
        for m in outcome.messages { if let why = AgentMessage.refusal(topic: m.topic) { return "the agent made \(why)" } }
        return nil
    }
}

/// A request's stored answer: its reply's JSON text and the messages its
/// task published (to publish again for a duplicate).
public struct StoredReply: Sendable, Equatable, DuplicateWindowValue {
    public var reply: String
    public var messages: [AgentMessage]

    public init(reply: String, messages: [AgentMessage] = []) {
        self.reply = reply
        self.messages = messages
    }

    public var windowBytes: Int { messages.reduce(reply.utf8.count) { $0 + $1.topic.utf8.count + $1.message.utf8.count } }

    /// The stored answer of request `id` from `caller` in an entry of
    /// `events.<id>` (its fields in order, `_publisher` last): its `reply`
    /// and `messages` fields, taken only when the entry is that request's
    /// (`request` the same id by value, `caller` the same) and its
    /// publisher is the agent's own user `identity`; nil otherwise.
    public static func read(_ fields: [(String, String)], id: JSON, caller: String, identity: String) -> StoredReply? {
        func field(_ name: String) -> String? { fields.first(where: { $0.0 == name })?.1 }
        guard let reply = field("reply"), field("caller") == caller, fields.last?.0 == "_publisher", fields.last?.1 == identity,
              let r = field("request"), JSON.canonical(r) == id.text else { return nil }
        return StoredReply(reply: reply, messages: field("messages").flatMap(AgentMessage.parse) ?? [])
    }
}

/// One entry to append to `events.<agent-id>`: field names and values in order.
public struct AgentEntry: Sendable, Equatable {
    public var fields: [(String, String)]

    public init(fields: [(String, String)]) { self.fields = fields }

    public static func == (a: AgentEntry, b: AgentEntry) -> Bool {
        a.fields.map(\.0) == b.fields.map(\.0) && a.fields.map(\.1) == b.fields.map(\.1)
    }
}

/// The runtime's orders for one task: append these entries (each then
/// replayed into the book), publish `messages`, publish `reply` to the
/// task's `reply_to`, ACK.
public struct AgentStep: Sendable, Equatable {
    /// Entries still to append, in order (none for a duplicate, a query or a refusal).
    public var append: [AgentEntry]
    /// The reply's JSON text.
    public var reply: String
    /// The request was applied before: its stored reply is sent again
    /// (`reply`, or when that is empty the `reply` field of the entry `appliedAt`).
    public var duplicate: Bool
    /// A duplicate's last event's entry ID in `events.<id>`.
    public var appliedAt: String? = nil
    /// Why the task cannot be applied (its reply is an `internal` error): it
    /// goes to `dead.<id>` with this reason, and nothing is appended.
    public var deadLetter: String? = nil
    /// Messages to publish, in order, before the reply: the task's, or a
    /// duplicate's stored ones (when `reply` is empty, read with it from
    /// the entry `appliedAt`).
    public var messages: [AgentMessage] = []
}
