import VimanaAgentKit

// auditor's governance invariants (docs/SYSTEM-AGENTS.md, "auditor"): what
// civic, forum and herald record must agree with the streams that gave
// them authority. Each check runs only where it is sound on what was read:
// a stream read whole (fewer entries than the scan, no ledger retention)
// can prove an absence; a window (the latest entries) can prove only what
// lies inside it, so an invariant whose proof may lie before the window is
// skipped and named in the report's `unchecked`.

/// One stream as auditor read it: its agent's own entries, oldest first.
struct AuditedStream {
    var entries: [StreamEntry]
    /// Read from its first entry: an absence in it is a fact.
    var whole: Bool
}

/// The governance invariants over the streams read, by agent id.
struct GovernanceAudit {
    let streams: [String: AuditedStream]
    /// `system.civic.operators`, when auditor was given them.
    let operators: Set<String>?

    /// The findings, and the invariants not checked (each with why).
    func run() -> (findings: [AuditFinding], unchecked: [String]) {
        var findings: [AuditFinding] = []
        var unchecked: [String] = []
        func skip(_ what: String, _ stream: String) {
            unchecked.append("\(what) (events.\(stream) \(streams[stream] == nil ? "not read" : "not read whole"))")
        }
        if let civic = streams["civic"] {
            if !civic.whole { skip("registrations, licences appealed, broadcasts by licensed agents", "civic") }
            for (kind, stream) in [("proposal", "forum"), ("decision", "watchman"), ("appeal", "supreme_court")]
            where streams[stream]?.whole != true {
                skip("\(kind) authorities", stream)
            }
            if operators == nil { unchecked.append("operator authorities (system.civic.operators not known)") }
            findings += authorities(civic)
        }
        if let forum = streams["forum"] {
            if !forum.whole { skip("lifecycles of proposals opened before the entries read", "forum") }
            findings += lifecycles(forum)
        }
        if let herald = streams["herald"], let civic = streams["civic"], civic.whole {
            findings += broadcasts(herald, civic)
        }
        return (findings, unchecked)
    }

    /// The milliseconds of a stream ID: entries of two streams are ordered
    /// only by them (each stream numbers its own sequence).
    static func ms(_ id: String) -> UInt64? { StreamPosition(id: id)?.ms }

    /// `a` is not after `b` by the kernel's clock.
    static func notAfter(_ a: String, _ b: String) -> Bool {
        guard let x = ms(a), let y = ms(b) else { return false }
        return x <= y
    }

    // MARK: - Licence changes and transfers carried by valid authority

    /// Which authorities each licence change takes (as civic checks them).
    static let allowed: [String: [String]] = ["suspend": ["operator", "proposal", "decision"],
                                              "revoke": ["operator", "proposal", "decision"],
                                              "reinstate": ["proposal", "appeal"]]
    static let stateAfter: [String: [String]] = ["suspend": ["suspended", "revoked"], "revoke": ["revoked"], "reinstate": ["active"]]

    /// Every `licence` event but a registration's, and every `transferred`,
    /// names an authority of a kind its action takes, sent by the user that
    /// gives that kind, proven by an earlier event of the stream that
    /// gives it (when that stream was read whole), and used once.
    func authorities(_ civic: AuditedStream) -> [AuditFinding] {
        var findings: [AuditFinding] = []
        var used: [String: String] = [:]
        var licences: [String: (state: String, reason: String)] = [:]
        // The `registered` events read so far, by agent, request and caller:
        // a registration's licence follows its own task's (one lookup, not a scan).
        var registered: Set<[String]> = []
        for e in civic.entries {
            func found(_ s: AuditFinding.Severity, _ m: String) { findings.append(AuditFinding(s, "events.civic", e.id, m)) }
            let type = e["type"]
            if type == "registered" { registered.insert([e["agent"] ?? "", e["request"] ?? "", e["caller"] ?? ""]) }
            guard type == "licence" || type == "transferred" else { continue }
            let before = e["agent"].flatMap { licences[$0] }
            if type == "licence", let agent = e["agent"], let s = e["state"] { licences[agent] = (s, e["reason"] ?? "") }
            guard let text = e["authority"] else { continue }  // the shape check reports it
            guard case .object(let o)? = JSON.parse(text), o.count == 1, let (kind, value) = o.first else {
                found(.critical, "authority \(text) is not one civic takes")
                continue
            }
            if type == "licence" && kind == "registration" {
                if value != .bool(true) || e["state"] != "active" || e["action"] != nil {
                    found(.critical, "a registration's licence is active and names no action")
                } else if civic.whole && !registered.contains([e["agent"] ?? "", e["request"] ?? "", e["caller"] ?? ""]) {
                    found(.critical, "licence of '\(e["agent"] ?? "")' on registration's authority without its task's registered event")
                }
                continue
            }
            let action = type == "transferred" ? "transfer" : e["action"] ?? ""
            let takes = type == "transferred" ? ["proposal"] : Self.allowed[action]
            guard let takes else {
                found(.critical, "licence change names no action civic takes (suspend, revoke, reinstate): '\(action)'")
                continue
            }
            guard takes.contains(kind) else {
                found(.critical, "\(action) on \(kind) authority: civic takes \(takes.joined(separator: " or ")) for it")
                continue
            }
            if type == "licence", let s = e["state"], Self.stateAfter[action]?.contains(s) != true {
                found(.critical, "\(action) set the licence \(s)")
            }
            let caller = e["caller"] ?? ""
            if kind == "operator" {
                if value != .bool(true) { found(.critical, "authority \(text) is not one civic takes") }
                else if let operators, !operators.contains(caller) {
                    found(.warning, "\(action) on an operator's authority by '\(caller)', not one of system.civic.operators"
                          + " now (unproven, unless the list changed since)")
                }
                continue
            }
            guard let id = value.string, let e2 = CivicLogic.evidence(.object(o)) else {
                found(.critical, "authority \(text) is not one civic takes")
                continue
            }
            let key = "\(kind):\(id)"
            if let first = used[key] {
                found(.critical, "authority \(key) used again (first at \(first)): an authority is used once")
            } else {
                used[key] = e.id
            }
            guard caller == e2.user else {
                found(.critical, "a \(kind)'s authority is sent by \(e2.user), not by '\(caller)'")
                continue
            }
            let streamID = String(e2.stream.dropFirst("events.".count))
            guard let evidence = streams[streamID], evidence.whole else { continue }
            let agent = e["agent"]
            let earlier = evidence.entries.filter { Self.notAfter($0.id, e.id) }
            switch kind {
            case "proposal":
                let proven = earlier.contains { d in
                    guard d["type"] == "decided", d["proposal"] == id, d["outcome"] == "approved", d["target"] == "civic",
                          d["action"] == action, case .object(let args)? = d["args"].flatMap(JSON.parse) else { return false }
                    if type == "transferred" {
                        return Set(args.keys) == ["from", "to", "amount"] && args["from"]?.string == e["from"]
                            && args["to"]?.string == e["to"] && args["amount"]?.int.map(String.init) == e["amount"]
                    }
                    return Set(args.keys).isSubset(of: ["agent", "reason"]) && args["agent"]?.string == agent
                        && (args["reason"]?.string ?? "") == (e["reason"] ?? "")
                }
                if !proven {
                    found(.critical, "no approved proposal \(id) for civic \(action) with these args earlier in events.forum")
                }
            case "decision":
                if !earlier.contains(where: { $0["type"] == "decision" && $0["decision"] == id && $0["action"] == action && $0["agent"] == agent }) {
                    found(.critical, "no decision \(id) to \(action) agent '\(agent ?? "")' earlier in events.watchman")
                }
            default:
                let verdict = earlier.last { $0["type"] == "verdict" && $0["appeal"] == id && $0["agent"] == agent
                    && ["mercy_granted", "mercy_conditional"].contains($0["verdict"] ?? "") }
                guard let verdict else {
                    found(.critical, "no mercy verdict on appeal \(id) for agent '\(agent ?? "")' earlier in events.supreme_court")
                    continue
                }
                if civic.whole, let before, verdict["licence"] != before.state || (verdict["licence_reason"] ?? before.reason) != before.reason {
                    found(.critical, "appeal \(id) was of a \(verdict["licence"] ?? "") licence; agent '\(agent ?? "")' was \(before.state)"
                          + " (\(before.reason)): a mercy reinstates only the licence appealed")
                }
            }
        }
        return findings
    }

    // MARK: - Proposals' lifecycles

    struct Lifecycle {
        var opened: StreamEntry
        var voters: [String: String] = [:]
        var yes = 0, no = 0, abstain = 0
        var decided: StreamEntry?
        var executed: String?
    }

    /// Each proposal: opened once, then votes (one per voter) while it is
    /// not decided, decided once on the votes recorded and on the action
    /// opened, executed once and only when approved. A proposal opened
    /// before a window is passed over (its opening may lie before it).
    func lifecycles(_ forum: AuditedStream) -> [AuditFinding] {
        var findings: [AuditFinding] = []
        var proposals: [String: Lifecycle] = [:]
        for e in forum.entries {
            func found(_ m: String) { findings.append(AuditFinding(.critical, "events.forum", e.id, m)) }
            guard let type = e["type"], let id = e["proposal"] else { continue }
            if type == "opened" {
                if let p = proposals[id] { found("proposal \(id) opened again (first at \(p.opened.id))") }
                else { proposals[id] = Lifecycle(opened: e) }
                continue
            }
            guard var p = proposals[id] else {
                if forum.whole && ["voted", "decided", "executed"].contains(type) { found("\(type) on proposal \(id), which was never opened") }
                continue
            }
            switch type {
            case "voted":
                let agent = e["agent"] ?? ""
                if let d = p.decided { found("vote on proposal \(id) after it was decided (at \(d.id))") }
                else if let first = p.voters[agent] { found("agent '\(agent)' voted again on proposal \(id) (first at \(first))") }
                else {
                    p.voters[agent] = e.id
                    switch e["choice"] {
                    case "yes": p.yes += 1
                    case "no": p.no += 1
                    default: p.abstain += 1
                    }
                }
            case "decided":
                if let d = p.decided {
                    found("proposal \(id) decided again (first at \(d.id))")
                    break
                }
                p.decided = e
                let counted = "yes=\(p.yes) no=\(p.no) abstain=\(p.abstain)"
                let said = "yes=\(e["yes"] ?? "") no=\(e["no"] ?? "") abstain=\(e["abstain"] ?? "")"
                if counted != said { found("proposal \(id) decided on \(said), but the votes recorded are \(counted)") }
                let o = p.opened
                if e["target"] != o["target"] || e["action"] != o["action"]
                    || e["args"].flatMap(JSON.parse) != o["args"].flatMap(JSON.parse) {
                    found("proposal \(id) decided on another action than it was opened with (at \(o.id))")
                }
            case "executed":
                if let first = p.executed { found("proposal \(id) executed again (first at \(first))") }
                else if let d = p.decided, d["outcome"] == ForumOutcome.approved.rawValue { p.executed = e.id }
                else { found("proposal \(id) executed, but it is \(p.decided?["outcome"] ?? "not decided"): only an approved one is") }
            default:
                break
            }
            proposals[id] = p
        }
        return findings
    }

    // MARK: - Broadcasts by licensed agents

    /// Each `broadcast`'s author held an active licence at some moment
    /// between its task (the event's `id`) and the event itself: civic's
    /// charge, which checks the licence, lies between them. Both ends are
    /// taken by the millisecond, so a change in the same millisecond never
    /// counts against the broadcast. Needs civic's stream whole.
    func broadcasts(_ herald: AuditedStream, _ civic: AuditedStream) -> [AuditFinding] {
        var history: [String: [(ms: UInt64, id: String, state: String)]] = [:]
        for e in civic.entries where e["type"] == "licence" {
            guard let agent = e["agent"], let s = e["state"], let ms = Self.ms(e.id) else { continue }
            history[agent, default: []].append((ms, e.id, s))
        }
        var findings: [AuditFinding] = []
        for e in herald.entries where e["type"] == "broadcast" {
            guard let author = e["author"], let end = Self.ms(e.id) else { continue }
            let start = e["id"].flatMap(Self.ms).map { min($0, end) } ?? end
            let changes = history[author] ?? []
            let prior = changes.last { $0.ms < start }
            let during = changes.filter { $0.ms >= start && $0.ms <= end }
            if prior == nil && during.isEmpty {
                findings.append(AuditFinding(.critical, "events.herald", e.id, "broadcast by '\(author)', which civic had not registered then"))
            } else if prior?.state != "active" && !during.contains(where: { $0.state == "active" }) {
                let last = during.last ?? prior
                findings.append(AuditFinding(.critical, "events.herald", e.id, "broadcast by '\(author)' while its licence was"
                                             + " \(last?.state ?? "") (events.civic \(last?.id ?? "")): only a licensed agent broadcasts"))
            }
        }
        return findings
    }
}
