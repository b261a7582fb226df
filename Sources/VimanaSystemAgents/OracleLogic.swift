import VimanaAgentKit
import VimanaConfig

// oracle: answers questions about the system (docs/SYSTEM-AGENTS.md). It
// records nothing: every answer is read from the kernel (INFO, AGENTS, the
// system agents' `events.<id>` streams) through the kit's reads
// (`AgentLogic.reads`), just before the task is handled.

/// oracle's limits, each with its reason.
public enum OracleLimits {
    /// `timeline`'s `limit` when absent, and its largest: a page a person
    /// reads, and a reply well under a megabyte.
    public static let timelineDefault = 100
    public static let timelineMax = 1000
    /// `agent_status`'s `events` (the latest entries of `events.<agent>`).
    public static let statusEventsDefault = 10
    public static let statusEventsMax = 100
    /// `explain`'s `limit`: the chain's latest events.
    public static let explainDefault = 50
    public static let explainMax = 1000
    /// The violations shown behind one watchman decision (the latest):
    /// a policy counts a handful; a flood stays a bounded reply.
    public static let decisionViolations = 100
    /// An agent id, as the configuration takes it (`Arguments.agentID`).
    public static let agentIDBytes = Arguments.agentIDBytes
}

/// oracle has no state of its own.
public struct OracleState: Sendable, Equatable, Codable {}

public struct OracleLogic: AgentLogic {
    /// The system agents whose `events.<id>` streams `timeline` and
    /// `explain` read, in wiring order (the tie-break between equal IDs).
    public let systemAgents: [String]
    /// How many of the latest entries of each stream `explain` reads.
    public let scan: Int

    public init(systemAgents: [String], scan: Int) {
        self.systemAgents = systemAgents
        self.scan = min(max(1, scan), Int.max - 1)  // it reads scan + 1
    }

    /// Its actions, as a caller sends them (scribe lists them in AGENTS.md).
    public static let actions = ["system_health", "agent_status", "timeline", "explain"]

    public var initialState: OracleState { OracleState() }

    public func apply(_ event: AgentEvent, to state: inout OracleState) {}

    public func handle(_ request: AgentRequest, caller: String, state: OracleState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    // MARK: - Reads, then answers

    public func reads(for request: AgentRequest, caller: String, state: OracleState) -> [KernelRead] {
        switch request.action {
        case "system_health":
            guard request.args.isEmpty else { return [] }
            return [.info(), .agents]
        case "agent_status":
            guard case .success(let a) = statusArguments(request.args) else { return [] }
            return statusReads(a, caller: caller)
        case "timeline":
            guard case .success(let w) = window(request.args) else { return [] }
            return systemAgents.map { Self.mayRead(caller, "XRANGE", "events." + $0) } + timelineReads(w)
        case "explain":
            guard case .success(let a) = explainArguments(request.args) else { return [] }
            return systemAgents.map { Self.mayRead(caller, "XREVRANGE", "events." + $0) } + explainReads(a)
        default:
            return []
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: OracleState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "system_health":
                try Arguments.only([], request.args)
                return .ok(try systemHealth(kernel))
            case "agent_status":
                return .ok(try agentStatus(try statusArguments(request.args).get(), caller: caller, kernel))
            case "timeline":
                let w = try window(request.args).get()
                for agent in systemAgents { try Self.check(kernel, Self.mayRead(caller, "XRANGE", "events." + agent)) }
                return .ok(try timeline(w, kernel))
            case "explain":
                let a = try explainArguments(request.args).get()
                for agent in systemAgents { try Self.check(kernel, Self.mayRead(caller, "XREVRANGE", "events." + agent)) }
                return .ok(try explain(a, kernel))
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    // MARK: - system_health

    /// The INFO fields `system_health` reports, by their INFO names.
    public static let kernelFields = [
        "vimana_version", "redis_version", "tcp_port", "uptime_in_seconds",
        "connected_clients", "pubsub_clients", "blocked_clients", "maxclients",
        "used_memory", "used_memory_rss",
        "total_connections_received", "rejected_connections", "total_commands_processed",
        "messages_published", "messages_delivered",
        "ledger_enabled", "ledger_status", "ledger_write_status", "ledger_last_error",
        "ledger_records", "ledger_segments", "ledger_disk_bytes", "ledger_pending_bytes",
        "ledger_durable_sequence", "ledger_damaged_segments",
    ]

    func systemHealth(_ kernel: KernelView) throws(Refusal) -> JSON {
        let info = try Self.read(kernel, .info()) { $0.info(.info()) }
        let agents = try Self.read(kernel, .agents) { $0.records(.agents) }
        var fields: [String: JSON] = [:]
        for name in Self.kernelFields { if let v = info[name] { fields[name] = Self.value(v) } }
        var counts: [String: JSON] = [:]
        for a in agents {
            let status = a.first { $0.0 == "status" }?.1 ?? "unknown"
            counts[status] = .int((counts[status]?.int ?? 0) + 1)
        }
        return ["kernel": .object(fields), "agents": .array(agents.map(Self.record)), "statuses": .object(counts)]
    }

    // MARK: - agent_status

    struct StatusArguments {
        var agent: String
        var events: Int
    }

    func statusArguments(_ args: [String: JSON]) -> Result<StatusArguments, Refusal> {
        Result { () throws(Refusal) in
            try Arguments.only(["agent", "events"], args)
            return StatusArguments(agent: try Arguments.agentID(args),
                                   events: try Self.count(args, "events", 0...OracleLimits.statusEventsMax,
                                                          default: OracleLimits.statusEventsDefault))
        }
    }

    func statusReads(_ a: StatusArguments, caller: String) -> [KernelRead] {
        [.agents] + (a.events > 0 ? [Self.mayRead(caller, "XREVRANGE", "events." + a.agent),
                                     .xrevrange("events." + a.agent, count: a.events)] : [])
    }

    func agentStatus(_ a: StatusArguments, caller: String, _ kernel: KernelView) throws(Refusal) -> JSON {
        let agents = try Self.read(kernel, .agents) { $0.records(.agents) }
        guard let record = agents.first(where: { r in r.contains { $0.0 == "id" && $0.1 == a.agent } }) else {
            throw Refusal("not_found", "no agent '\(a.agent)' is declared")
        }
        var events: [JSON] = []
        if a.events > 0 {
            try Self.check(kernel, Self.mayRead(caller, "XREVRANGE", "events." + a.agent))
            let read = KernelRead.xrevrange("events." + a.agent, count: a.events)
            events = try Self.read(kernel, read) { $0.entries(read) }.reversed().map { Self.event($0, agent: a.agent) }
        }
        return ["agent": Self.record(record), "events_topic": .string("events." + a.agent), "events": .array(events)]
    }

    // MARK: - timeline

    /// A timeline's window: stream positions, inclusive.
    struct Window: Equatable {
        var from: StreamPosition
        var to: StreamPosition
        var limit: Int
    }

    func window(_ args: [String: JSON]) -> Result<Window, Refusal> {
        Result { () throws(Refusal) in
            try Arguments.only(["from", "to", "limit"], args)
            let from = try Self.position(args["from"], "from", end: false)
            let to = try Self.position(args["to"], "to", end: true)
            guard from <= to else { throw Refusal(AgentErrorCode.badArgument, "from must not be after to") }
            let limit = try Self.count(args, "limit", 1...OracleLimits.timelineMax, default: OracleLimits.timelineDefault)
            return Window(from: from, to: to, limit: limit)
        }
    }

    /// Each stream, read up to `limit + 1` entries from `from`: one more
    /// than a page, to know whether it goes on.
    func timelineReads(_ w: Window) -> [KernelRead] {
        systemAgents.map { .xrange("events." + $0, from: w.from.start, to: w.to.end, count: w.limit + 1) }
    }

    /// A stream that had more than `limit` entries is known up to its
    /// `limit`-th (the rest waits for the next page), so the answer is
    /// complete up to the smallest such ID; the page ends before an ID
    /// whose events do not all fit, and `next` is the first position not
    /// returned.
    func timeline(_ w: Window, _ kernel: KernelView) throws(Refusal) -> JSON {
        var merged: [(StreamPosition, Int, StreamEntry)] = []
        var covered = w.to
        for (rank, (agent, read)) in zip(systemAgents, timelineReads(w)).enumerated() {
            var entries = try Self.read(kernel, read) { $0.entries(read) }
            if entries.count > w.limit {
                entries = Array(entries.prefix(w.limit))
                if let last = entries.last.flatMap({ StreamPosition(id: $0.id) }), last < covered { covered = last }
            }
            for e in entries where owned(e, by: agent) {
                if let p = StreamPosition(id: e.id) { merged.append((p, rank, e)) }
            }
        }
        let candidates = merged.filter { $0.0 <= covered }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        var k = min(w.limit, candidates.count)
        if k < candidates.count {
            // Resuming at an ID repeats its events: end the page before an
            // ID some of whose events fall past it, unless the page opens
            // with that ID; then it holds all of them (one per system agent).
            let cut = candidates[k].0
            while k > 0 && candidates[k - 1].0 == cut { k -= 1 }
            if k == 0 { k = candidates.prefix { $0.0 == cut }.count }
        }
        let returned = candidates.prefix(k)
        let next: StreamPosition? = k < candidates.count ? candidates[k].0 : covered < w.to ? covered.successor : nil
        return ["events": .array(returned.map { Self.event($0.2, agent: systemAgents[$0.1]) }),
                "next": next.map { .string($0.text) } ?? .null]
    }

    // MARK: - explain

    struct ExplainArguments {
        var agent: String
        var limit: Int
    }

    func explainArguments(_ args: [String: JSON]) -> Result<ExplainArguments, Refusal> {
        Result { () throws(Refusal) in
            try Arguments.only(["agent", "limit"], args)
            return ExplainArguments(agent: try Arguments.agentID(args),
                                    limit: try Self.count(args, "limit", 1...OracleLimits.explainMax,
                                                          default: OracleLimits.explainDefault))
        }
    }

    /// AGENTS, and each system agent's latest `scan` entries and one more,
    /// to know whether there were more.
    func explainReads(_ a: ExplainArguments) -> [KernelRead] {
        [.agents] + systemAgents.map { .xrevrange("events." + $0, count: scan + 1) }
    }

    /// The events of the system agents' streams that concern agent
    /// `a.agent` (an entry whose field `agent` is its id), oldest first,
    /// the latest `limit` of them, and its current state from AGENTS.
    func explain(_ a: ExplainArguments, _ kernel: KernelView) throws(Refusal) -> JSON {
        let agents = try Self.read(kernel, .agents) { $0.records(.agents) }
        let record = agents.first { r in r.contains { $0.0 == "id" && $0.1 == a.agent } }
        var chain: [(StreamPosition, Int, StreamEntry)] = []
        var complete = true
        var own: [String: [StreamEntry]] = [:]
        for (rank, (agent, read)) in zip(systemAgents, explainReads(a).dropFirst()).enumerated() {
            var entries = try Self.read(kernel, read) { $0.entries(read) }
            if entries.count > scan {
                complete = false
                entries = Array(entries.prefix(scan))
            }
            own[agent] = entries.reversed().filter { owned($0, by: agent) }
            for e in entries where owned(e, by: agent) && e["agent"] == a.agent {
                if let p = StreamPosition(id: e.id) { chain.append((p, rank, e)) }
            }
        }
        guard record != nil || !chain.isEmpty else {
            throw Refusal("not_found", "no agent '\(a.agent)' is declared or recorded")
        }
        chain.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        let shown = chain.suffix(a.limit)
        let status = record?.first { $0.0 == "status" }?.1 ?? nil
        let instances = record?.first { $0.0 == "instances" }?.1 ?? nil
        var summary = record == nil ? "\(a.agent) is not declared now"
            : "\(a.agent) is \(status ?? "unknown") with \(instances ?? "0") instance\(instances == "1" ? "" : "s")"
        // A registered agent's licence now, as civic's latest licence event of it says.
        if let licence = own["civic"]?.last(where: { $0["type"] == "licence" && $0["agent"] == a.agent }), let state = licence["state"] {
            summary += "; its licence is \(state) (\(licence["reason"] ?? ""))"
        }
        if let l = shown.last {
            let rank = l.1, last = l.2
            let data = Self.data(last).sorted { $0.key < $1.key }.filter { $0.key != "agent" }
                .map { "\($0.key)=\($0.value.string ?? $0.value.text)" }.joined(separator: " ")
            summary += "; last recorded: '\(last["type"] ?? "")' by \(systemAgents[rank]) at \(last.id)"
                + (data.isEmpty ? "" : " (\(data))")
        } else {
            summary += "; no system agent recorded anything about it"
        }
        if !complete { summary += " (in the latest \(scan) entries of each stream)" }
        return ["agent": .string(a.agent),
                "current": record.map { r in ["status": status.map(JSON.string) ?? .null,
                                              "instances": instances.flatMap { Int64($0) }.map(JSON.int) ?? .null] } ?? .null,
                "chain": .array(shown.map { Self.event($0.2, agent: systemAgents[$0.1]) }),
                "licences": .array(licences(of: a.agent, own).suffix(a.limit)),
                "complete": .bool(complete), "summary": .string(summary)]
    }

    /// civic's `licence` events of `agent`, oldest first, each
    /// `{"licence", "authority", "evidence"}`: the authority it named, and
    /// the events that proved it, from the streams read (`own`: each
    /// system agent's own entries, oldest first) — a registration's
    /// `registered` event (the same task); a proposal's `decided` event; a
    /// decision's `decision` event and, before it, the agent's violations
    /// since its previous suspend decision; an appeal's `filed` and
    /// `verdict` events. None for an operator's authority (the licence
    /// event's `caller` is the operator), nor for a proof not in the
    /// entries read.
    func licences(of agent: String, _ own: [String: [StreamEntry]]) -> [JSON] {
        let civic = own["civic"] ?? []
        func at(_ stream: String, before e: StreamEntry, _ match: (StreamEntry) -> Bool) -> [StreamEntry] {
            // Earlier by the kernel's clock: two streams number their own entries.
            (own[stream] ?? []).filter { (StreamPosition(id: $0.id)?.ms ?? .max) <= (StreamPosition(id: e.id)?.ms ?? 0) && match($0) }
        }
        return civic.filter { $0["type"] == "licence" && $0["agent"] == agent }.map { e in
            let authority = e["authority"].flatMap(JSON.parse) ?? .null
            var evidence: [(String, StreamEntry)] = []
            if case .object(let o) = authority, o.count == 1, let (kind, value) = o.first {
                let id = value.string
                switch kind {
                case "registration":
                    evidence = civic.filter { $0["type"] == "registered" && $0["agent"] == agent && $0["request"] == e["request"]
                        && $0["caller"] == e["caller"] }.suffix(1).map { ("civic", $0) }
                case "proposal":
                    evidence = at("forum", before: e) { $0["type"] == "decided" && $0["proposal"] == id }.suffix(1).map { ("forum", $0) }
                case "decision":
                    let watchman = own["watchman"] ?? []
                    if let d = at("watchman", before: e, { $0["type"] == "decision" && $0["decision"] == id && $0["agent"] == agent }).last,
                       let end = watchman.firstIndex(where: { $0.id == d.id }) {
                        let prior = watchman[..<end].lastIndex { $0["type"] == "decision" && $0["agent"] == agent && $0["action"] == "suspend" }
                        let violations = watchman[(prior.map { $0 + 1 } ?? 0)..<end]
                            .filter { $0["type"] == "violation" && $0["agent"] == agent }.suffix(OracleLimits.decisionViolations)
                        evidence = (violations + [d]).map { ("watchman", $0) }
                    }
                case "appeal":
                    evidence = at("supreme_court", before: e) { ["filed", "verdict"].contains($0["type"] ?? "") && $0["appeal"] == id
                        && $0["agent"] == agent }.map { ("supreme_court", $0) }
                default:
                    break
                }
            }
            return ["licence": Self.event(e, agent: "civic"), "authority": authority,
                    "evidence": .array(evidence.map { Self.event($0.1, agent: $0.0) })]
        }
    }

    // MARK: - Entries

    /// An entry of `events.<agent>` is that system agent's event when its
    /// own user appended it (as the kit replays only those) and it has a `type`.
    func owned(_ e: StreamEntry, by agent: String) -> Bool {
        e.publisher == AgentConfig.madeUserPrefix + agent && e["type"] != nil
    }

    /// `{"agent", "id", "time", "type", "data", "caller", "request", "publisher"}`.
    static func event(_ e: StreamEntry, agent: String) -> JSON {
        let time = StreamPosition(id: e.id).map { JSON.int(Int64(clamping: $0.ms)) } ?? .null
        let request = e["request"].map { JSON.parse($0) ?? .string($0) } ?? .null
        return ["agent": .string(agent), "id": .string(e.id), "time": time, "type": e["type"].map(JSON.string) ?? .null,
                "data": .object(data(e)), "caller": e["caller"].map(JSON.string) ?? .null, "request": request,
                "publisher": e.publisher.map(JSON.string) ?? .null]
    }

    /// An entry's fields without the kit's and the kernel's.
    static func data(_ e: StreamEntry) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for (k, v) in e.fields where !AgentEvent.reservedFields.contains(k) && out[k] == nil { out[k] = .string(v) }
        return out
    }

    /// An AGENTS record as a JSON object: integers as numbers.
    static func record(_ fields: [(String, String?)]) -> JSON {
        var o: [String: JSON] = [:]
        for (k, v) in fields { o[k] = v.map(value) ?? .null }
        return .object(o)
    }

    /// A kernel's value: an integer when it is one, else its text.
    static func value(_ text: String) -> JSON {
        if let n = Int64(text), String(n) == text { return .int(n) }
        return .string(text)
    }

    // MARK: - The caller's rights

    /// Whether the caller may run `command topic` as oracle is about to
    /// (`XRANGE topic - +`, `XREVRANGE topic + -`): oracle's own user reads
    /// every event stream, so it answers from one only when the caller's
    /// user could read it too.
    static func mayRead(_ caller: String, _ command: String, _ topic: String) -> KernelRead {
        .aclDryRun(caller, command == "XRANGE" ? [command, topic, "-", "+"] : [command, topic, "+", "-"])
    }

    /// `forbidden`, with the kernel's reason, when the dry run `read` was
    /// not `+OK`; `unavailable` when the kernel refused it or gave no answer.
    static func check(_ kernel: KernelView, _ read: KernelRead) throws(Refusal) {
        if let r = CallerRights.refusal(kernel, read, "\(read.arguments[2]) may not read \(read.arguments[4])") { throw r }
    }

    // MARK: - Arguments

    /// The reply to `read`, made useful by `get`; a missing or refused read is `unavailable`.
    static func read<T>(_ kernel: KernelView, _ read: KernelRead, _ get: (KernelView) -> T?) throws(Refusal) -> T {
        if let m = kernel.error(read) { throw Refusal("unavailable", "the kernel refused \(read.arguments[0]): \(m)") }
        guard let v = get(kernel) else { throw Refusal("unavailable", "no answer to \(read.arguments[0]) from the kernel") }
        return v
    }

    static func count(_ args: [String: JSON], _ name: String, _ range: ClosedRange<Int>, default d: Int) throws(Refusal) -> Int {
        guard let v = args[name] else { return d }
        guard let n = v.int, n >= Int64(range.lowerBound), n <= Int64(range.upperBound) else {
            throw Refusal(AgentErrorCode.badArgument,
                                "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(n)
    }

    /// `from` / `to`: a time in ms (an integer), a stream ID `<ms>-<seq>` or
    /// `<ms>` (a string), or `-` / `+`; absent: the first / last entry.
    static func position(_ v: JSON?, _ name: String, end: Bool) throws(Refusal) -> StreamPosition {
        let bad = Refusal(AgentErrorCode.badArgument, "\(name) must be a time in ms (an integer from 0),"
                                + " a stream ID '<ms>-<seq>', or '\(end ? "+" : "-")'")
        switch v {
        case nil, .null?: return end ? .last : .first
        case .int(let ms)?:
            guard ms >= 0 else { throw bad }
            return StreamPosition(ms: UInt64(ms), seq: end ? .max : 0)
        case .string(let s)?:
            if s == (end ? "+" : "-") { return end ? .last : .first }
            if !s.contains("-"), let ms = UInt64(s), String(ms) == s { return StreamPosition(ms: ms, seq: end ? .max : 0) }
            guard let p = StreamPosition(id: s) else { throw bad }
            return p
        default: throw bad
        }
    }
}

/// A stream entry's ID, `<ms>-<seq>`, ordered as the kernel orders them.
public struct StreamPosition: Sendable, Equatable, Comparable {
    public var ms: UInt64
    public var seq: UInt64

    public static let first = StreamPosition(ms: 0, seq: 0)
    public static let last = StreamPosition(ms: .max, seq: .max)

    public init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    /// `<ms>-<seq>`, both decimal without sign or leading `+`; nil otherwise.
    public init?(id: String) {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]),
              parts.allSatisfy({ $0.allSatisfy { $0 >= "0" && $0 <= "9" } }) else { return nil }
        self.ms = ms
        self.seq = seq
    }

    public var text: String { "\(ms)-\(seq)" }

    /// As XRANGE's start: `-` for the first, `<ms>` for `<ms>-0`.
    var start: String { self == .first ? "-" : seq == 0 ? String(ms) : text }
    /// As XRANGE's end: `+` for the last, `<ms>` for `<ms>-<largest seq>`.
    var end: String { self == .last ? "+" : seq == .max ? String(ms) : text }

    /// The next position; nil after the last.
    public var successor: StreamPosition? {
        if seq < .max { return StreamPosition(ms: ms, seq: seq + 1) }
        return ms < .max ? StreamPosition(ms: ms + 1, seq: 0) : nil
    }

    public static func < (a: StreamPosition, b: StreamPosition) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }
}
