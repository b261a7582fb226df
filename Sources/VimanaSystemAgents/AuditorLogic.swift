import VimanaAgentKit
import VimanaRESP

// auditor: checks what the city records (docs/SYSTEM-AGENTS.md). Every frame
// of the live ledger through the kernel's LEDGER CHECK (the offline
// verifier's code, `vimana ledger verify`'s definition of a good frame), and
// the invariants of each system agent's event stream, read with XREVRANGE
// (its latest `scan` entries, with the kernel's `_publisher`). Each run is
// one `report` event; a critical finding is what `/health` shows (the
// process's reporter mirrors `healthProblem` into HEALTH REPORT).

/// auditor's limits, each with its reason.
public enum AuditorLimits {
    /// Findings listed in a report (the rest are counted in `omitted`): a
    /// report is one stream entry and one reply, kept to a few KiB.
    public static let findingsListed = 20
    /// One finding's sentence: a ledger error names a frame, an offset and
    /// what the server does about it; longer is cut.
    public static let messageBytes = 400
    /// The text given to HEALTH REPORT, below the kernel's 1,024 bytes.
    public static let healthBytes = 900
    /// After this long (or the interval, when longer) since the periodic
    /// audit was published, the next one is published even when it is not
    /// known to be done (`AuditSchedule`): a watcher that cannot tell (no
    /// right to AGENTS) still audits once a day.
    public static let auditOverdueSeconds = 86_400.0
}

/// When auditor's watcher publishes the next periodic `audit`: once the
/// interval has passed since the previous one was published, and the
/// previous one is done — its report folded from `events.auditor`, or the
/// kernel's `AGENTS` showing auditor with no task pending nor waiting (it
/// was answered without a report, or dead-lettered) — or has been
/// outstanding for `overdue` seconds. So audits never pile up in
/// `tasks.auditor` behind a long one.
struct AuditSchedule {
    /// What the watcher does now.
    enum Next: Equatable {
        /// Nothing: the interval has not passed.
        case wait
        /// Publish the next audit.
        case publish
        /// Ask the kernel whether auditor is idle (`idle()` then `publish`),
        /// else wait: the previous audit may still be running.
        case askKernel
    }

    let interval: Double
    /// The previous periodic audit's request id while it is not known to be done.
    private(set) var outstanding: (id: String, at: Double)?
    /// When the next audit is due (seconds on the caller's clock).
    private(set) var due: Double

    init(intervalSeconds: Int, now: Double) {
        interval = Double(max(1, intervalSeconds))
        due = now + interval
    }

    var overdue: Double { max(interval, AuditorLimits.auditOverdueSeconds) }

    func next(now: Double) -> Next {
        if now < due { return .wait }
        guard let o = outstanding else { return .publish }
        return now - o.at >= overdue ? .publish : .askKernel
    }

    /// Milliseconds to block for new reports before looking again: until
    /// the audit is due, or, while the previous one is outstanding, until
    /// it is overdue; at most `longest`, at least 1.
    func waitMillis(now: Double, longest: Int) -> Int {
        let until = now < due ? due : outstanding.map { $0.at + overdue } ?? now
        return max(1, Int(min(Double(longest), max(0, until - now) * 1000)))
    }

    mutating func published(id: String, now: Double) {
        outstanding = (id, now)
        due = now + interval
    }

    /// A report was folded for request `request` (its `request` field: the
    /// id as JSON text).
    mutating func reported(request: String) {
        if let o = outstanding, JSON.parse(request) == .string(o.id) { outstanding = nil }
    }

    /// The kernel shows auditor with nothing pending nor waiting.
    mutating func idle() { outstanding = nil }

    /// Whether `AGENTS`'s records show `agent` with no task pending nor
    /// waiting (`pending` and `lag` 0); false when it is not listed.
    static func isIdle(_ agent: String, _ records: [[(String, String?)]]) -> Bool {
        guard let r = records.first(where: { r in r.contains { $0.0 == "id" && $0.1 == agent } }) else { return false }
        let value = { (name: String) in r.first { $0.0 == name }?.1 ?? nil }
        return value("pending") == "0" && value("lag") == "0"
    }
}

/// A report's findings and counts for one part (`ledger` or `streams`).
public struct AuditPart: Sendable, Equatable, Codable {
    public var critical = 0
    public var warning = 0
    /// The critical findings' sentences, as listed (for /health).
    public var criticalMessages: [String] = []
    /// The event's entry ID in events.auditor.
    public var reportedAt = ""
}

/// What auditor found last, rebuilt from `events.auditor`.
public struct AuditorState: Sendable, Equatable, Codable {
    /// The latest report as its JSON (`findings` answers it).
    public var latest: JSON?
    /// The latest report that checked the ledger, and the latest that checked the streams.
    public var ledger: AuditPart?
    public var streams: AuditPart?
    public var reports = 0

    public init() {}
}

/// One thing an audit found.
public struct AuditFinding: Sendable, Equatable {
    public enum Severity: String, Sendable { case critical, warning }
    public var severity: Severity
    /// `ledger` or the event stream (`events.<id>`).
    public var stream: String
    /// The segment (ledger) or the entry ID (a stream); empty for a whole stream.
    public var entry: String
    public var message: String

    public init(_ severity: Severity, _ stream: String, _ entry: String, _ message: String) {
        self.severity = severity
        self.stream = stream
        self.entry = entry
        self.message = message.utf8.count <= AuditorLimits.messageBytes ? message
            : String(decoding: message.utf8.prefix(AuditorLimits.messageBytes), as: UTF8.self) + "…"
    }

    var json: JSON {
        ["severity": .string(severity.rawValue), "stream": .string(stream), "entry": .string(entry), "message": .string(message)]
    }
}

public struct AuditorLogic: AgentLogic {
    /// The system agents whose streams are checked (`SystemAgentID`, in order).
    public let systemAgents: [String]
    /// How many of each stream's latest entries a run reads.
    public let scan: Int

    /// Whether the ledger retires old segments: then a stream read whole
    /// may still lack its first entries, and civic's credits are not summed.
    public let retention: Bool
    /// `system.civic.operators` (`VIMANA_CIVIC_OPERATORS`), against which a
    /// licence change on an operator's authority is checked; nil: not
    /// known, not checked.
    public let operators: Set<String>?

    public init(systemAgents: [String], scan: Int, retention: Bool = false, operators: [String]? = nil) {
        self.systemAgents = systemAgents
        self.retention = retention
        self.operators = operators.map(Set.init)
        self.scan = min(max(1, scan), Int.max - 1)
    }

    public static let actions = ["verify_ledger", "check_streams", "audit", "findings"]

    public var initialState: AuditorState { AuditorState() }

    public func apply(_ event: AgentEvent, to state: inout AuditorState) {
        guard event.type == "report", let text = event.data["report"], let report = JSON.parse(text) else { return }
        state.reports += 1
        state.latest = report
        if let part = Self.part(report, "ledger") { state.ledger = part }
        if let part = Self.part(report, "streams") { state.streams = part }
    }

    /// A report's `ledger` or `streams` part, with the critical findings of that part.
    static func part(_ report: JSON, _ name: String) -> AuditPart? {
        guard let p = report[name], case .object = p else { return nil }
        var part = AuditPart()
        part.critical = Int(clamping: p["critical"]?.int ?? 0)
        part.warning = Int(clamping: p["warning"]?.int ?? 0)
        part.reportedAt = report["at"]?.string ?? ""
        if case .array(let items)? = report["findings"] {
            for f in items where f["severity"]?.string == "critical" && (f["stream"]?.string == "ledger") == (name == "ledger") {
                let entry = f["entry"]?.string ?? ""
                part.criticalMessages.append((f["stream"]?.string ?? "") + (entry.isEmpty ? "" : " " + entry) + ": "
                                             + (f["message"]?.string ?? ""))
            }
        }
        return part
    }

    /// The problem `/health` shows for auditor (HEALTH REPORT auditor …), or
    /// nil (HEALTH CLEAR): the critical findings of the latest ledger check
    /// and of the latest stream check. A later clean run of a part clears it.
    public static func healthProblem(_ state: AuditorState) -> String? {
        let parts = [state.ledger, state.streams].compactMap { $0 }
        let critical = parts.reduce(0) { $0 + $1.critical }
        guard critical > 0 else { return nil }
        let messages = parts.flatMap(\.criticalMessages)
        var text = "\(critical) critical finding\(critical == 1 ? "" : "s") (findings on events.auditor)"
        for m in messages {
            let next = text + "; " + m
            if next.utf8.count > AuditorLimits.healthBytes {
                text += "; …"
                break
            }
            text = next
        }
        return text
    }

    public func handle(_ request: AgentRequest, caller: String, state: AuditorState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    // MARK: - Reads, then answers

    /// LEDGER CHECK, sent only if the caller may run it itself: a check of
    /// every segment is disk work an operator asks for.
    static func ledgerRead(_ caller: String) -> KernelRead { .command(["LEDGER", "CHECK"], asIf: caller) }

    func streamReads() -> [KernelRead] {
        [.agents] + systemAgents.map { .xrevrange("events." + $0, count: scan) }
    }

    public func reads(for request: AgentRequest, caller: String, state: AuditorState) -> [KernelRead] {
        guard request.args.isEmpty else { return [] }
        switch request.action {
        case "verify_ledger": return [Self.ledgerRead(caller)]
        case "check_streams": return streamReads()
        case "audit": return [Self.ledgerRead(caller)] + streamReads()
        default: return []
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: AuditorState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "verify_ledger", "check_streams", "audit":
                try Arguments.only([], request.args)
                var findings: [AuditFinding] = []
                var report: [String: JSON] = ["run": .string(request.action), "at": .string(request.entryID)]
                if request.action != "check_streams" {
                    let (summary, found) = try verifyLedger(caller, kernel)
                    report["ledger"] = Self.counted(summary, found)
                    findings += found
                }
                if request.action != "verify_ledger" {
                    let (summary, found) = try checkStreams(kernel)
                    report["streams"] = Self.counted(summary, found)
                    findings += found
                }
                let json = Self.report(report, findings)
                return .ok(json, events: [AgentEvent("report", ["run": request.action, "status": json["status"]?.string ?? "",
                                                                "report": json.text])])
            case "findings":
                try Arguments.only([], request.args)
                return .ok(["report": state.latest ?? .null, "reports": .int(Int64(state.reports)),
                            "health": Self.healthProblem(state).map(JSON.string) ?? .null])
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    /// A part's summary with its counts.
    static func counted(_ summary: [String: JSON], _ findings: [AuditFinding]) -> JSON {
        var s = summary
        s["critical"] = .int(Int64(findings.count { $0.severity == .critical }))
        s["warning"] = .int(Int64(findings.count { $0.severity == .warning }))
        return .object(s)
    }

    /// The report: its status, its findings (critical first, at most
    /// `findingsListed`) and how many were left out.
    static func report(_ base: [String: JSON], _ findings: [AuditFinding]) -> JSON {
        var r = base
        let critical = findings.filter { $0.severity == .critical }, warnings = findings.filter { $0.severity == .warning }
        r["status"] = .string(!critical.isEmpty ? "critical" : !warnings.isEmpty ? "warning" : "ok")
        r["critical"] = .int(Int64(critical.count))
        r["warning"] = .int(Int64(warnings.count))
        let listed = Array((critical + warnings).prefix(AuditorLimits.findingsListed))
        r["findings"] = .array(listed.map(\.json))
        r["omitted"] = .int(Int64(findings.count - listed.count))
        return .object(r)
    }

    // MARK: - verify_ledger

    /// LEDGER CHECK's reply: each segment's frames and records; each error a
    /// critical finding, each warning (an index file) a warning.
    func verifyLedger(_ caller: String, _ kernel: KernelView) throws(Refusal) -> ([String: JSON], [AuditFinding]) {
        let read = Self.ledgerRead(caller)
        guard let raw = kernel.reply(read) else { throw Refusal("unavailable", "no answer to LEDGER CHECK from the kernel") }
        if let m = kernel.error(read) {
            if m.hasPrefix("NOPERM") { throw Refusal(AgentErrorCode.forbidden, "the caller may not run LEDGER CHECK: \(m)") }
            throw Refusal("unavailable", m.hasPrefix("ERR ") ? String(m.dropFirst(4)) : m)
        }
        guard let items = RESPReply(raw).elements else { throw ArchivistLogic.odd }
        var findings: [AuditFinding] = []
        var frames: Int64 = 0, records: Int64 = 0
        for item in items {
            var fields: [String: RESPReply] = [:]
            for (k, v) in item.pairs { fields[k] = v }
            guard let name = fields["segment"]?.text else { throw ArchivistLogic.odd }
            if case .integer(let n)? = fields["frames"] { frames = frames.addingReportingOverflow(n).overflow ? .max : frames + n }
            if case .integer(let n)? = fields["records"] { records = records.addingReportingOverflow(n).overflow ? .max : records + n }
            for e in fields["errors"]?.elements ?? [] { findings.append(AuditFinding(.critical, "ledger", name, e.text ?? "")) }
            for w in fields["warnings"]?.elements ?? [] { findings.append(AuditFinding(.warning, "ledger", name, w.text ?? "")) }
        }
        return (["segments": .int(Int64(items.count)), "frames": .int(frames), "records": .int(records)], findings)
    }

    // MARK: - check_streams

    /// Each event type a system agent appends, with the data fields it needs
    /// (besides the kit's `request` and `caller`): read from each *Logic.swift.
    static let eventShapes: [String: [String: [String]]] = [
        "discovery": ["joined": ["agent", "status", "instances"], "left": ["agent", "status", "instances"],
                      "failed": ["agent", "status", "instances"], "status": ["agent", "status", "instances"],
                      "announced": ["agent", "description", "capabilities"]],
        "oracle": [:],
        "archivist": ["sealed": ["segment"], "archived": ["segments"], "restored": ["segment", "path"],
                      "exported": ["topic", "path", "entries", "first", "last"]],
        "engineer": ["started": ["agent"], "stopped": ["agent"], "restarted": ["agent"],
                     "scaffolded": ["agent", "language", "files"]],
        "science": ["checkpoint": ["buckets", "cursor", "skipped", "time", "untracked"], "rewound": ["cursor", "time"]],
        "auditor": ["report": ["run", "status", "report"]],
        "scribe": ["written": ["document", "path", "bytes", "sha256"]],
        "civic": ["registered": ["agent", "user", "owner", "description", "capabilities", "at"],
                  "licence": ["agent", "user", "state", "reason", "authority"], "granted": ["agent", "amount", "reason"],
                  "charged": ["agent", "amount", "reason"], "transferred": ["from", "to", "amount", "authority"]],
        "supreme_court": ["filed": ["appeal", "agent", "user", "reason", "licence", "licence_reason", "at"],
                          "reviewed": ["appeal", "eligible", "offences", "balance"],
                          "verdict": ["appeal", "agent", "verdict", "conditions", "judge", "licence", "licence_reason"],
                          "enacted": ["appeal", "agent", "ok", "result"]],
        "forum": ["opened": ["proposal", "title", "description", "target", "action", "args", "author", "deadline"],
                  "voted": ["proposal", "agent", "choice"],
                  "decided": ["proposal", "outcome", "yes", "no", "abstain", "licensed", "target", "action", "args"],
                  "executed": ["proposal", "ok"]],
        "herald": ["broadcast": ["channel", "author", "bytes", "id"], "announced": ["source", "entry", "kind"]],
        "envoy": ["started": ["run", "playbook", "args", "at"], "step_done": ["run", "at", "step", "ok", "result"],
                  "waiting": ["run", "at", "step", "until"], "emitted": ["run", "step", "kind", "fields"],
                  "finished": ["run", "outcome"]],
        "watchman": ["violation": ["violation", "agent", "user", "kind", "detail", "key", "at"],
                     "decision": ["decision", "agent", "action", "reason", "at"], "enforced": ["decision", "ok", "result"]],
    ]

    /// Event types an agent's own thread appends, not a task: they carry no
    /// `request` or `caller` (science's scanner, ScienceScanner.swift).
    static let eventsWithoutRequest: [String: Set<String>] = ["science": ["checkpoint", "rewound"]]

    /// Every stream's latest entries against its agent's conventions.
    func checkStreams(_ kernel: KernelView) throws(Refusal) -> ([String: JSON], [AuditFinding]) {
        let declared = Set((kernel.records(.agents) ?? []).compactMap { r in r.first { $0.0 == "id" }?.1 ?? nil })
        var findings: [AuditFinding] = []
        var checked: Int64 = 0, partial: [JSON] = []
        var read: [String: AuditedStream] = [:]
        for (agent, r) in zip(systemAgents, streamReads().dropFirst()) {
            if let m = kernel.error(r) {
                // Entries in a damaged part of the ledger are a finding, not
                // a reason to check nothing: the rest (and the ledger check
                // that names the frame) is still reported. The stream counts
                // as not read whole.
                guard m.hasPrefix("DAMAGED ") else { throw Refusal("unavailable", "\(r.description): \(m)") }
                findings.append(AuditFinding(.critical, "events." + agent, "", "cannot be read: \(m)"))
                read[agent] = AuditedStream(entries: [], whole: false)
                continue
            }
            guard let newestFirst = kernel.entries(r) else {
                throw Refusal("unavailable", "no answer to \(r.description) from the kernel")
            }
            checked += Int64(newestFirst.count)
            if newestFirst.count >= scan { partial.append(.string("events." + agent)) }
            let entries = Array(newestFirst.reversed()), whole = newestFirst.count < scan && !retention
            findings += Self.check(agent: agent, entries, declared: declared, whole: whole)
            // Only the agent's own events: another user's append is reported above and proves nothing.
            read[agent] = AuditedStream(entries: entries.filter { ($0.publisher == nil || $0.publisher == "agent:" + agent) && $0["type"] != nil },
                                        whole: whole)
        }
        var unchecked: [String] = read["civic"].map { $0.whole ? [] : ["credits (events.civic not read whole)"] } ?? []
        let (governance, skipped) = GovernanceAudit(streams: read, operators: operators).run()
        findings += governance
        unchecked += skipped
        return (["streams": .int(Int64(systemAgents.count)), "entries": .int(checked),
                 "scan": .int(Int64(scan)), "partial": .array(partial), "unchecked": .array(unchecked.map(JSON.string))], findings)
    }

    /// One agent's entries, oldest first: each has a known `type` and its
    /// fields, the kit's `request` and `caller`, was appended by the agent's
    /// own user, and no request of a caller is applied twice (an event of
    /// it after the one with its `reply`: another task) while the
    /// kit still remembers it (its duplicate window, counted from the first
    /// entry read: never more than the agent's own, so a request applied
    /// again after the agent forgot it, as Protocol/AGENTS.md §10 allows,
    /// is never reported).
    static func check(agent: String, _ entries: [StreamEntry], declared: Set<String>,
                      window: DuplicateWindow<String> = DuplicateWindow(), whole: Bool = false) -> [AuditFinding] {
        let stream = "events." + agent
        let shapes = eventShapes[agent]
        let user = "agent:" + agent
        var findings: [AuditFinding] = []
        var applied = window
        var again: Set<String> = []
        for e in entries {
            func found(_ s: AuditFinding.Severity, _ m: String) { findings.append(AuditFinding(s, stream, e.id, m)) }
            if let p = e.publisher, p != user {
                // Not the agent's: it never folds it, so nothing more of it counts.
                found(.critical, "appended by \(p), not by \(user): an event only the agent itself may write")
                continue
            }
            guard let type = e["type"] else {
                found(.critical, "has no type field: the agent's state cannot fold it")
                continue
            }
            if let shapes {
                guard let needs = shapes[type] else {
                    found(.critical, "type '\(type)' is not an event \(agent) appends")
                    continue
                }
                let missing = needs.filter { e[$0] == nil }
                if !missing.isEmpty { found(.critical, "\(type) lacks \(missing.joined(separator: ", "))") }
            }
            if eventsWithoutRequest[agent]?.contains(type) == true {
                for m in valueProblems(agent: agent, type: type, e, declared: declared) { found(.warning, m) }
                continue
            }
            guard let request = e["request"], let caller = e["caller"] else {
                found(.critical, "lacks the kit's request and caller fields: the request cannot be applied once")
                continue
            }
            // A task's events share its request; its last carries the
            // reply. Any event of a request already applied (while the kit
            // remembers it) is a second task: reported at its first event.
            let key = AgentBook<AuditorLogic>.key(caller: caller, id: JSON.canonical(request))
            if let first = applied[key] {
                if !again.contains(key) { found(.critical, "request \(request) of \(caller) applied again (first at \(first))") }
                if e["reply"] == nil { again.insert(key) } else { again.remove(key) }
            } else if e["reply"] != nil {
                applied.remember(key, e.id)
            }
            for m in valueProblems(agent: agent, type: type, e, declared: declared) { found(.warning, m) }
        }
        if agent == "civic" && whole { findings += civicInvariants(entries) }
        return findings
    }

    /// civic's ledger, folded from its whole stream (only then can a sum be
    /// checked): credits are conserved — every balance, treasury's too, is
    /// at least 0 after each event, and their sum is the supply, which only
    /// grants raise. A finding names the first entry that broke it.
    static func civicInvariants(_ entries: [StreamEntry]) -> [AuditFinding] {
        let logic = CivicLogic(operators: [])
        var book = AgentBook(logic: logic)
        var findings: [AuditFinding] = []
        for e in entries where e.publisher == nil || e.publisher == "agent:civic" {
            book.replay(e.fields.filter { $0.0 != "_publisher" }, id: e.id)
            let s = book.state
            if let (account, balance) = s.balances.first(where: { $0.value < 0 }), findings.isEmpty {
                findings.append(AuditFinding(.critical, "events.civic", e.id, "account '\(account)' is at \(balance) credits: a balance never goes below 0"))
            }
            let sum = s.balances.values.reduce(Int64(0)) { $0.addingReportingOverflow($1).partialValue }
            if sum != s.supply, findings.isEmpty {
                findings.append(AuditFinding(.critical, "events.civic", e.id, "the balances sum to \(sum) credits, the supply is \(s.supply): credits are not conserved"))
            }
        }
        return findings
    }

    /// The cheap per-agent checks of values (warnings: the state still folds).
    static func valueProblems(agent: String, type: String, _ e: StreamEntry, declared: Set<String>) -> [String] {
        var out: [String] = []
        switch (agent, type) {
        case ("discovery", _):
            if let a = e["agent"], !declared.isEmpty, !declared.contains(a) { out.append("names agent '\(a)', which is not declared") }
            if type != "announced" {
                if let s = e["status"], !DiscoveryLogic.statuses.contains(s) { out.append("status '\(s)' is not one AGENTS reports") }
                if let n = e["instances"], (Int(n) ?? -1) < 0 { out.append("instances '\(n)' is not a count") }
            }
        case ("archivist", "sealed"), ("archivist", "restored"):
            if let s = e["segment"], !isSegmentName(s) { out.append("segment '\(s)' is not a segment file name") }
        case ("archivist", "archived"):
            if let s = e["segments"], !s.split(separator: ",").allSatisfy({ isSegmentName(String($0)) }) {
                out.append("segments '\(s)' are not segment file names")
            }
        case ("engineer", "started"), ("engineer", "stopped"), ("engineer", "restarted"):
            if let a = e["agent"], !declared.isEmpty, !declared.contains(a) { out.append("names agent '\(a)', which is not declared") }
        case ("engineer", "scaffolded"):
            if let l = e["language"], !EngineerLogic.languages.contains(where: { $0.name == l }) {
                out.append("language '\(l)' is not one scaffold writes")
            }
            if let f = e["files"], !(JSON.parse(f).map { if case .array = $0 { true } else { false } } ?? false) {
                out.append("files is not a JSON array")
            }
        case ("forum", "voted"):
            if let c = e["choice"], !ForumLogic.choices.contains(c) { out.append("choice '\(c)' is not yes, no or abstain") }
        case ("forum", "decided"):
            if let o = e["outcome"], ForumOutcome(rawValue: o) == nil { out.append("outcome '\(o)' is not approved, rejected or no_quorum") }
        case ("forum", "executed"):
            if e["ok"] == "true" ? e["result"] == nil : e["error"] == nil { out.append("executed lacks its result or error") }
        case ("auditor", "report"):
            if let s = e["status"], !["ok", "warning", "critical"].contains(s) { out.append("status '\(s)' is not ok, warning or critical") }
            if let r = e["report"], JSON.parse(r)?["run"] == nil { out.append("report is not a report's JSON") }
        default: break
        }
        return out
    }

    static func isSegmentName(_ s: String) -> Bool {
        s.utf8.count == 24 && s.hasSuffix(".seg") && s.utf8.prefix(20).allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}
