/// An agent's state together with what makes its tasks idempotent: the
/// replies of the requests already applied, by caller and request id.
/// Everything here is rebuilt from the agent's events alone (`replay`), and
/// `step` is a pure function: the runtime's decisions can be unit-tested
/// without a server.
///
/// The entry written for an event (`AgentEntry`): `type`, the data's fields
/// in name order, `request` (the request id as JSON text), `caller`, and on
/// the last event of a task `reply` (the reply's JSON text). A task's events
/// are folded into the state only once its last one has been read: a crash
/// in the middle of appending them (a runtime before MULTI/EXEC, or an
/// XADD of an EXEC failing alone) leaves a partial task, whose redelivery
/// appends only the events still missing — when `handle` makes the same
/// first events again; otherwise the task is dead-lettered.
public struct AgentBook<Logic: AgentLogic>: Sendable {
    public let logic: Logic
    public private(set) var state: Logic.State
    /// Reply text of the applied requests still remembered, by
    /// `key(caller:id:)`: the duplicate window (`DuplicateWindow`), the
    /// latest `AgentKitLimits.repliesKept` within `AgentKitLimits.repliesBytes`.
    public private(set) var window: DuplicateWindow
    public var replies: [String: String] { window.values }
    public var repliesBytes: Int { window.bytes }
    /// Events of tasks whose last event has not been read yet.
    private var partial: [String: [AgentEvent]] = [:]
    /// Events folded into the state (replayed or appended, or counted in the snapshot it started from).
    public private(set) var eventCount = 0

    public init(logic: Logic, repliesKept: Int = AgentKitLimits.repliesKept,
                repliesBytes: Int = AgentKitLimits.repliesBytes) {
        self.logic = logic
        state = logic.initialState
        window = DuplicateWindow(count: repliesKept, bytes: repliesBytes)
    }

    /// The idempotency key: two callers may use the same request id.
    public static func key(caller: String, id: String) -> String { caller + "\n" + id }

    // MARK: - Replay

    /// Folds one entry of `events.<agent-id>` (its fields, in order, without
    /// `_publisher`). An entry without `type` is no event: false, ignored.
    @discardableResult
    public mutating func replay(_ fields: [(String, String)]) -> Bool {
        guard let type = fields.first(where: { $0.0 == "type" })?.1 else { return false }
        var data: [String: String] = [:]
        var request: String?, caller: String?, reply: String?
        for (name, value) in fields {
            switch name {
            case "type", "_publisher": continue
            case "request": request = value
            case "caller": caller = value
            case "reply": reply = value
            default: data[name] = value
            }
        }
        let event = AgentEvent(type, data)
        guard let request, let caller else {
            fold([event])
            return true
        }
        // By value: any JSON text of the same id (an agent in another
        // language may escape differently) is the same request.
        let key = Self.key(caller: caller, id: JSON.parse(request)?.text ?? request)
        partial[key, default: []].append(event)
        if let reply {
            fold(partial.removeValue(forKey: key) ?? [])
            window.remember(key, reply)
        }
        return true
    }

    /// True when a task's first events are folded and its last is not: no
    /// snapshot is taken then (it would have to carry them).
    public var hasPartialTask: Bool { !partial.isEmpty }

    // MARK: - Snapshots

    /// The book as a snapshot's JSON (Protocol/AGENTS.md §10, "Snapshots"):
    /// `{"v": 1, "events": n, "state": …, "replies": [[key, reply], …]}`
    /// with the replies oldest first; nil when the logic takes no snapshots
    /// or a task is half folded.
    public func snapshot() -> JSON? {
        guard !hasPartialTask, let s = logic.snapshot(of: state) else { return nil }
        let kept = window.keys.compactMap { k in window[k].map { JSON.array([.string(k), .string($0)]) } }
        return ["v": .int(AgentKitLimits.snapshotVersion), "events": .int(Int64(eventCount)), "state": s, "replies": .array(kept)]
    }

    /// The book a snapshot holds; nil when it is not one this kit wrote or
    /// the logic cannot read its state.
    public init?(logic: Logic, snapshot: JSON, repliesKept: Int = AgentKitLimits.repliesKept,
                 repliesBytes: Int = AgentKitLimits.repliesBytes) {
        guard snapshot["v"]?.int == AgentKitLimits.snapshotVersion, let events = snapshot["events"]?.int, events >= 0,
              let s = snapshot["state"], let restored = logic.state(fromSnapshot: s),
              case .array(let pairs)? = snapshot["replies"] else { return nil }
        self.init(logic: logic, repliesKept: repliesKept, repliesBytes: repliesBytes)
        state = restored
        eventCount = Int(clamping: events)
        for p in pairs {
            guard case .array(let kv) = p, kv.count == 2, let k = kv[0].string, let r = kv[1].string else { return nil }
            window.remember(k, r)
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
        if let reply = window[key] {
            return AgentStep(append: [], reply: reply, duplicate: true)
        }
        var outcome = logic.handle(request, caller: caller, state: state, kernel: kernel)
        if outcome.events.contains(where: { $0.type.isEmpty || !$0.data.keys.allSatisfy { !AgentEvent.reservedFields.contains($0) } }) {
            outcome = .error(AgentErrorCode.internalError, "the agent made an event with an empty type or a reserved field name")
        }
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
            if i == outcome.events.count - 1 { fields.append(("reply", reply)) }
            append.append(AgentEntry(fields: fields))
        }
        return AgentStep(append: append, reply: reply, duplicate: false)
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
/// replayed into the book), publish `reply` to the task's `reply_to`, ACK.
public struct AgentStep: Sendable, Equatable {
    /// Entries still to append, in order (none for a duplicate, a query or a refusal).
    public var append: [AgentEntry]
    /// The reply's JSON text.
    public var reply: String
    /// The request was applied before: its stored reply is sent again.
    public var duplicate: Bool
    /// Why the task cannot be applied (its reply is an `internal` error): it
    /// goes to `dead.<id>` with this reason, and nothing is appended.
    public var deadLetter: String? = nil
}
