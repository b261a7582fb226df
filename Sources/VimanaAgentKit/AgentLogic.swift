import Foundation

// MARK: - User API: what an agent's author writes

/// An agent's logic: a state rebuilt by folding its events, and a pure
/// function from a task and the state to new events and a reply.
///
/// The kit's runtime (`AgentRuntime`) does all the I/O around it: it rebuilds
/// the state from `events.<agent-id>` at start, and for each task it calls
/// `handle`, appends the events (XADD, before replying and before ACK),
/// folds them with `apply`, publishes the reply and acknowledges the task.
///
/// `handle` must be deterministic (no clock, no randomness: use
/// `AgentRequest.entryID` for time): a task redelivered after a crash in the
/// middle of appending its events is handled again against the same state,
/// and the events already appended are skipped because they are the same.
public protocol AgentLogic: Sendable {
    associatedtype State: Sendable

    /// The state before any event.
    var initialState: State { get }

    /// The state after one more event. Called for each event at start (from
    /// `events.<agent-id>`) and for each event `handle` returns.
    func apply(_ event: AgentEvent, to state: inout State)

    /// What a task does: the events it appends (empty for a query or a
    /// refusal) and the reply. `caller` is the user the kernel attached to
    /// the task (the publisher), never anything from the task's JSON.
    func handle(_ request: AgentRequest, caller: String, state: State) -> AgentOutcome

    /// The kernel reads a task needs answered before it is handled (INFO,
    /// AGENTS, XRANGE…): the runtime sends them, in order, on the agent's
    /// connection after it has folded the latest events, and passes the
    /// replies to `handle(_:caller:state:kernel:)`. Default: none (the
    /// runtime then sends nothing more than before). Pure, like `handle`.
    /// Not asked for a request already applied (its stored reply is sent).
    func reads(for request: AgentRequest, caller: String, state: State) -> [KernelRead]

    /// The other agents a task needs answered before it is handled
    /// (request/reply with a timeout): the runtime asks them after the
    /// reads, sending PROGRESS while it waits, and passes each answer (a
    /// reply, a timeout, not asked, or asked with the reply lost: `AgentAnswer`)
    /// to `handle(_:caller:state:kernel:)` in the view (`KernelView.answer`).
    /// Default: none. Pure, like `handle`. Not asked for a request already
    /// applied; asked again, under the same request ids, at every other
    /// delivery of the task.
    func asks(for request: AgentRequest, caller: String, state: State) -> [AgentAsk]

    /// `handle` with the kernel's replies to `reads`. Default: the plain
    /// `handle`, which ignores them. An agent that reads implements this
    /// one, and its plain `handle` as this one with an empty `KernelView()`
    /// (every read missing).
    ///
    /// Determinism with a view: the reply may differ from one delivery of a
    /// task to the next (the kernel moved on), which is why a reply is only
    /// stored, and a redelivery answered with it, when the task appended
    /// events. The events must still be decided by the request and the
    /// state alone (or by facts the redelivery reads the same): a task
    /// redelivered after a crash between its first and last event gets only
    /// the missing ones when `handle` makes the same first ones again, and
    /// is dead-lettered otherwise.
    func handle(_ request: AgentRequest, caller: String, state: State, kernel: KernelView) -> AgentOutcome

    /// The state as text (JSON, say), for a snapshot on
    /// `snapshots.<agent-id>` (a start then folds only the events after it:
    /// Protocol/AGENTS.md §10, "Snapshots"). Default: nil, the agent takes
    /// no snapshots and every start folds all its events. Must hold
    /// everything `apply` built, so that `state(fromSnapshot:)` of it is
    /// the same state.
    func snapshot(of state: State) -> String?

    /// The state a snapshot holds; nil when it cannot be read (the start
    /// then folds every event instead, and says why). Default: nil.
    func state(fromSnapshot text: String) -> State?

    /// The version of the state's snapshot text and of what `apply` does:
    /// a start takes only a snapshot of the same version (another one's
    /// state could differ from what folding the events gives now), so
    /// change it whenever `apply` or the state's encoding changes. Default: 1.
    var snapshotVersion: Int { get }
}

extension AgentLogic {
    public func reads(for request: AgentRequest, caller: String, state: State) -> [KernelRead] { [] }

    public func asks(for request: AgentRequest, caller: String, state: State) -> [AgentAsk] { [] }

    public func handle(_ request: AgentRequest, caller: String, state: State, kernel: KernelView) -> AgentOutcome {
        handle(request, caller: caller, state: state)
    }

    public func snapshot(of state: State) -> String? { nil }

    public func state(fromSnapshot text: String) -> State? { nil }

    public var snapshotVersion: Int { 1 }
}

extension AgentLogic where State: Codable {
    /// A `Codable` state is snapshotted as its JSON encoding (Foundation's
    /// JSONEncoder, keys sorted): an agent whose state is `Codable` takes
    /// snapshots without writing anything more.
    public func snapshot(of state: State) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(state) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    public func state(fromSnapshot text: String) -> State? {
        try? JSONDecoder().decode(State.self, from: Data(text.utf8))
    }
}

/// One state change, appended to `events.<agent-id>` as a stream entry: the
/// field `type`, then the data's fields in name order.
///
/// The field names `type`, `request`, `caller`, `reply`, `messages` and
/// `_publisher` are the kit's (`AgentEvent.reservedFields`); an event whose
/// data uses one is refused with an `internal` error reply and nothing is appended.
public struct AgentEvent: Sendable, Equatable {
    public var type: String
    public var data: [String: String]

    public init(_ type: String, _ data: [String: String] = [:]) {
        self.type = type
        self.data = data
    }

    public static let reservedFields: Set<String> = ["type", "request", "caller", "reply", "messages", "_publisher"]
}

/// A task, parsed: `{"action", "id", "reply_to"?, "args"?}` (issue 12 §3).
public struct AgentRequest: Sendable, Equatable {
    /// What to do.
    public var action: String
    /// The request id: a non-empty string or an integer, echoed in the reply.
    public var id: JSON
    /// Where the reply goes; nil: nowhere (the task is still applied).
    public var replyTo: String?
    /// The action's arguments (an empty object when absent).
    public var args: [String: JSON]
    /// The task's entry ID (`<ms>-<seq>`): the kernel's clock when the task
    /// was published, the same on every delivery.
    public var entryID: String

    public init(action: String, id: JSON, replyTo: String? = nil, args: [String: JSON] = [:],
                entryID: String = "0-0") {
        self.action = action
        self.id = id
        self.replyTo = replyTo
        self.args = args
        self.entryID = entryID
    }

    /// The milliseconds part of `entryID` (0 when it has none).
    public var entryMillis: Int64 {
        Int64(entryID.prefix { $0 != "-" }) ?? 0
    }
}

/// What `handle` decided.
public struct AgentOutcome: Sendable, Equatable {
    public var events: [AgentEvent]
    public var reply: AgentReply
    /// Messages the runtime publishes once the events are appended, before
    /// the reply (a broadcast, a notice): stored on the task's last event,
    /// so a redelivery publishes them again (at least once). A task with
    /// messages must append events (Protocol/AGENTS.md §10, "Messages").
    public var messages: [AgentMessage]

    public init(events: [AgentEvent] = [], reply: AgentReply, messages: [AgentMessage] = []) {
        self.events = events
        self.reply = reply
        self.messages = messages
    }

    /// A success with a result.
    public static func ok(_ result: JSON, events: [AgentEvent] = [], messages: [AgentMessage] = []) -> AgentOutcome {
        AgentOutcome(events: events, reply: .ok(result), messages: messages)
    }

    /// A refusal, a bad argument, an unknown action: an error reply, no event.
    public static func error(_ code: String, _ message: String) -> AgentOutcome {
        AgentOutcome(reply: .error(code: code, message: message))
    }
}

/// A message a task publishes besides its reply: `message` to `topic`.
public struct AgentMessage: Sendable, Equatable, Hashable {
    public var topic: String
    public var message: String

    public init(topic: String, message: String) {
        self.topic = topic
        self.message = message
    }

    /// The `messages` field of a task's last event: a JSON array of
    /// `{"message", "topic"}` in the order they are published (the kit's JSON).
    public static func text(_ messages: [AgentMessage]) -> String {
        JSON.array(messages.map { ["message": .string($0.message), "topic": .string($0.topic)] }).text
    }

    /// The messages a `messages` field holds; nil when it is not such an array.
    public static func parse(_ text: String) -> [AgentMessage]? {
        guard case .array(let items)? = JSON.parse(text) else { return nil }
        var out: [AgentMessage] = []
        for item in items {
            guard let topic = item["topic"]?.string, let message = item["message"]?.string else { return nil }
            out.append(AgentMessage(topic: topic, message: message))
        }
        return out
    }

    /// Why the kit does not publish a message to `topic`, or nil. An empty
    /// topic; `events.*`, `dead.*` and `_vimana.*`, as for `reply_to`: a
    /// PUBLISH on a recorded topic appends an entry, so it would write into
    /// an agent's events (failing its WATCH), a dead letter, the kernel's
    /// own topics. `tasks.*` is allowed: a task to another agent, which
    /// applies its request id once (the message may come twice).
    public static func refusal(topic: String) -> String? {
        if topic.isEmpty { return "a message with an empty topic" }
        for prefix in ["events.", "dead.", "_vimana."] where topic.hasPrefix(prefix) {
            return "a message to \(topic): messages may not go to events.*, dead.* or _vimana.*"
        }
        return nil
    }
}

/// A reply, published to the task's `reply_to` as `{"id","ok":true,"result"}`
/// or `{"id","ok":false,"error":{"code","message"}}`.
public enum AgentReply: Sendable, Equatable {
    case ok(JSON)
    case error(code: String, message: String)

    /// The reply's JSON for request `id`.
    public func json(id: JSON) -> JSON {
        switch self {
        case .ok(let result): ["id": id, "ok": true, "result": result]
        case .error(let code, let message): ["id": id, "ok": false, "error": ["code": .string(code), "message": .string(message)]]
        }
    }

    /// Reads a reply object (as `AgentRequester` receives it); nil when it is not one.
    public init?(json: JSON) {
        switch json["ok"] {
        case .bool(true)?: self = .ok(json["result"] ?? .null)
        case .bool(false)?:
            guard let code = json["error"]?["code"]?.string, let message = json["error"]?["message"]?.string else { return nil }
            self = .error(code: code, message: message)
        default: return nil
        }
    }
}

/// The error codes the kit itself replies with; an agent's own codes are its own.
public enum AgentErrorCode {
    /// `action` names nothing the agent does.
    public static let unknownAction = "unknown_action"
    /// An argument is missing, of the wrong type or out of range.
    public static let badArgument = "bad_argument"
    /// The caller may not do this.
    public static let forbidden = "forbidden"
    /// The agent's own fault (an event using a reserved field name).
    public static let internalError = "internal"
    /// The task is malformed (it is also dead-lettered): sent when its `reply_to` could be read.
    public static let malformed = "malformed"
    /// An asked agent answered with a message that is no reply object (the
    /// ask's answer is this error reply; the requester's other asks go on).
    public static let badReply = "bad_reply"
    /// The request was applied before, and its reply is no longer in the
    /// agent's events (retention retired it): it is not applied again.
    public static let duplicate = "duplicate"
}
