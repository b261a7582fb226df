import Foundation
import Testing
import VimanaAgentKit
import VimanaRESP
import VimanaTestSupport
@testable import VimanaSystemAgents

/// auditor's logic as a function: LEDGER CHECK's reply and crafted event
/// streams in, findings, a report event and a reply out.
@Suite struct AuditorLogicTests {
    let logic = AuditorLogic(systemAgents: ["discovery", "oracle", "archivist", "engineer", "auditor"], scan: 100)
    let seg1 = "00000000000000000001.seg", seg2 = "00000000000000000042.seg"

    func b(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }

    /// One segment of LEDGER CHECK's reply (RESP3 map).
    func segment(_ name: String, frames: Int, records: Int, errors: [String] = [], warnings: [String] = []) -> RESPValue {
        .map([(b("segment"), b(name)), (b("frames"), .integer(frames)), (b("records"), .integer(records)),
              (b("errors"), .array(errors.map(b))), (b("warnings"), .array(warnings.map(b)))])
    }

    /// An XREVRANGE reply (newest first) of entries given oldest first.
    func stream(_ entries: [(String, [(String, String)])]) -> RESPValue {
        .array(entries.reversed().map { id, fields in .array([b(id), .array(fields.flatMap { [b($0.0), b($0.1)] })]) })
    }

    /// A well-formed event entry of `agent`, as the kit appends it, with the publisher.
    func event(_ agent: String, _ type: String, _ data: [(String, String)], request: String, last: Bool = true,
               publisher: String? = nil) -> [(String, String)] {
        var f = [("type", type)] + data + [("request", request), ("caller", "default")]
        if last { f.append(("reply", "{\"id\":\(request),\"ok\":true,\"result\":{}}")) }
        f.append(("_publisher", publisher ?? "agent:" + agent))
        return f
    }

    var agentsReply: RESPValue {
        .array(["discovery", "oracle", "archivist", "engineer", "auditor", "billing"].map { .map([(b("id"), b($0))]) })
    }

    /// Runs `action` with the kernel answering LEDGER CHECK with `ledger`
    /// and each stream read from `streams` (absent: an empty stream).
    func run(_ action: String, caller: String = "default", state: AuditorState = AuditorState(),
             ledger: RESPValue = .array([]), streams: [String: RESPValue] = [:]) -> ([KernelRead], AgentOutcome) {
        let r = AgentRequest(action: action, id: 7, replyTo: "r", entryID: "1700000000000-0")
        let reads = logic.reads(for: r, caller: caller, state: state)
        var replies: [KernelRead: RESPValue] = [:]
        for read in reads {
            if read.arguments.first == "LEDGER" { replies[read] = ledger }
            else if read == .agents { replies[read] = agentsReply }
            else { replies[read] = streams[read.arguments[1]] ?? .array([]) }
        }
        return (reads, logic.handle(r, caller: caller, state: state, kernel: KernelView(replies)))
    }

    func findings(_ out: AgentOutcome) -> [JSON] {
        guard case .ok(let r) = out.reply, case .array(let f)? = r["findings"] else { return [] }
        return f
    }

    // MARK: - verify_ledger

    @Test func aCleanLedgerReportsOkAndADamagedFrameIsCritical() throws {
        let (reads, clean) = run("verify_ledger", ledger: .array([segment(seg1, frames: 3, records: 9), segment(seg2, frames: 1, records: 2)]))
        #expect(reads == [.command(["LEDGER", "CHECK"], asIf: "default")])
        guard case .ok(let ok) = clean.reply else { throw TestFailure("\(clean)") }
        #expect(ok["status"] == "ok" && ok["findings"] == [] && ok["omitted"] == 0 && ok["run"] == "verify_ledger")
        #expect(ok["ledger"] == ["segments": 2, "frames": 4, "records": 11, "critical": 0, "warning": 0])
        #expect(ok["streams"] == nil)
        #expect(clean.events.map(\.type) == ["report"] && clean.events[0].data["status"] == "ok")

        let bad = "segment \(seg1): frame 2 at offset 4113: data checksum mismatch"
        let (_, damaged) = run("verify_ledger", ledger: .array([segment(seg1, frames: 2, records: 6, errors: [bad],
                                                                              warnings: ["segment \(seg1): index x: stale"])]))
        guard case .ok(let r) = damaged.reply else { throw TestFailure("\(damaged)") }
        #expect(r["status"] == "critical" && r["critical"] == 1 && r["warning"] == 1)
        #expect(findings(damaged).first == ["severity": "critical", "stream": "ledger", "entry": .string(seg1), "message": .string(bad)])
        var state = AuditorState()
        for e in damaged.events { logic.apply(e, to: &state) }
        let problem = try #require(AuditorLogic.healthProblem(state))
        #expect(problem == "1 critical finding (findings on events.auditor); ledger \(seg1): \(bad)")
        // A later clean check clears it.
        for e in clean.events { logic.apply(e, to: &state) }
        #expect(AuditorLogic.healthProblem(state) == nil)
    }

    @Test func aCallerWithoutLedgerCheckIsRefused() {
        let r = AgentRequest(action: "verify_ledger", id: 1, replyTo: "r")
        let read = AuditorLogic.ledgerRead("app")
        let out = logic.handle(r, caller: "app", state: AuditorState(),
                               kernel: KernelView([read: .error("NOPERM User app has no permissions to run the 'ledger|check' command")]))
        #expect(out.events.isEmpty)
        #expect(out.reply == .error(code: "forbidden", message: "the caller may not run LEDGER CHECK: NOPERM User app has no permissions to run the 'ledger|check' command"))
        let (_, bad) = run("audit", ledger: .array([]))
        #expect(bad.events.count == 1)
        let args = AgentRequest(action: "audit", id: 1, args: ["x": 1])
        #expect(logic.reads(for: args, caller: "default", state: AuditorState()).isEmpty)
        #expect(logic.handle(args, caller: "default", state: AuditorState()).reply
                == .error(code: "bad_argument", message: "unknown argument 'x' (none taken)"))
        #expect(logic.handle(AgentRequest(action: "nap", id: 1), caller: "default", state: AuditorState()).reply
                == .error(code: "unknown_action", message: "unknown action 'nap' (verify_ledger, check_streams, audit, findings)"))
    }

    // MARK: - check_streams

    /// The /health watcher folds only auditor's own reports: an entry another
    /// user appended to events.auditor (a clean report, to clear /health) is
    /// passed over, and one without the kernel's publisher too.
    @Test func theWatcherFoldsOnlyAuditorsOwnReports() {
        let report = [("type", "report"), ("run", "audit"), ("status", "ok")]
        #expect(Auditor.ownFields(report + [("_publisher", "agent:auditor")], identity: "agent:auditor")?.map(\.0) == ["type", "run", "status"])
        #expect(Auditor.ownFields(report + [("_publisher", "default")], identity: "agent:auditor") == nil)
        #expect(Auditor.ownFields(report, identity: "agent:auditor") == nil)
        #expect(Auditor.ownFields([("_publisher", "agent:auditor")] + report, identity: "agent:auditor") == nil)
    }

    @Test func wellFormedStreamsAreQuiet() throws {
        let (reads, out) = run("check_streams", streams: [
            "events.discovery": stream([("1-0", event("discovery", "joined", [("agent", "billing"), ("instances", "1"), ("status", "running")], request: "\"o-1\"")),
                                        ("2-0", event("discovery", "announced", [("agent", "billing"), ("capabilities", "[]"), ("description", "")], request: "3"))]),
            "events.archivist": stream([("3-0", event("archivist", "sealed", [("segment", seg1)], request: "1")),
                                        ("4-0", event("archivist", "archived", [("segments", seg1 + "," + seg2)], request: "2"))]),
            "events.engineer": stream([("5-0", event("engineer", "scaffolded", [("agent", "w"), ("files", "[\"a\"]"), ("language", "python")], request: "1"))]),
        ])
        #expect(reads == [.agents] + ["discovery", "oracle", "archivist", "engineer", "auditor"].map { .xrevrange("events." + $0, count: 100) })
        guard case .ok(let r) = out.reply else { throw TestFailure("\(out)") }
        #expect(r["status"] == "ok", "\(r)")
        #expect(r["streams"] == ["streams": 5, "entries": 5, "scan": 100, "partial": [], "unchecked": [], "critical": 0, "warning": 0])
        #expect(r["ledger"] == nil)
    }

    /// Each invariant fires on its own crafted bad entry, with the stream, the entry ID and a sentence.
    @Test func eachInvariantFiresOnABadEntry() {
        func only(_ agent: String, _ entries: [(String, [(String, String)])]) -> [JSON] {
            findings(run("check_streams", streams: ["events." + agent: stream(entries)]).1)
        }
        func finding(_ severity: String, _ stream: String, _ entry: String, _ message: String) -> JSON {
            ["severity": .string(severity), "stream": .string(stream), "entry": .string(entry), "message": .string(message)]
        }
        #expect(only("archivist", [("1-0", event("archivist", "sealed", [("segment", seg1)], request: "1", publisher: "mallory"))])
                == [finding("critical", "events.archivist", "1-0", "appended by mallory, not by agent:archivist: an event only the agent itself may write")])
        #expect(only("archivist", [("1-0", [("segment", seg1), ("_publisher", "agent:archivist")])])
                == [finding("critical", "events.archivist", "1-0", "has no type field: the agent's state cannot fold it")])
        #expect(only("archivist", [("1-0", event("archivist", "shredded", [], request: "1"))])
                == [finding("critical", "events.archivist", "1-0", "type 'shredded' is not an event archivist appends")])
        #expect(only("archivist", [("1-0", event("archivist", "restored", [("segment", seg1)], request: "1"))])
                == [finding("critical", "events.archivist", "1-0", "restored lacks path")])
        #expect(only("archivist", [("1-0", [("type", "sealed"), ("segment", seg1), ("_publisher", "agent:archivist")])])
                == [finding("critical", "events.archivist", "1-0", "lacks the kit's request and caller fields: the request cannot be applied once")])
        #expect(only("oracle", [("1-0", event("oracle", "answered", [], request: "1"))])
                == [finding("critical", "events.oracle", "1-0", "type 'answered' is not an event oracle appends")])
        // The same request applied twice (two entries with its reply); a task's earlier events (no reply) are not.
        #expect(only("archivist", [("1-0", event("archivist", "sealed", [("segment", seg1)], request: "1")),
                                   ("2-0", event("archivist", "sealed", [("segment", seg2)], request: "1"))])
                == [finding("critical", "events.archivist", "2-0", "request 1 of default applied again (first at 1-0)")])
        // Applied again once other requests pushed it out of the kit's
        // duplicate window (100,000 of them; 3 here): allowed
        // (Protocol/AGENTS.md §10), not a finding.
        func windowed(_ entries: [(String, [(String, String)])]) -> [String] {
            AuditorLogic.check(agent: "archivist", entries.map { StreamEntry(id: $0.0, fields: $0.1) }, declared: [],
                               window: DuplicateWindow(count: 3)).map(\.message)
        }
        let four = (1...4).map { i in ("\(i)-0", event("archivist", "sealed", [("segment", seg1)], request: String(i))) }
        #expect(windowed(four + [("5-0", event("archivist", "sealed", [("segment", seg1)], request: "1"))]) == [])
        #expect(windowed(four + [("5-0", event("archivist", "sealed", [("segment", seg1)], request: "2"))])
                == ["request 2 of default applied again (first at 2-0)"])
        // An entry another user appended is not the agent's: it takes no place in the window.
        #expect(windowed([("1-0", event("archivist", "sealed", [("segment", seg1)], request: "1", publisher: "mallory")),
                          ("2-0", event("archivist", "sealed", [("segment", seg1)], request: "1"))]).count == 1)
        #expect(only("discovery", [("1-0", event("discovery", "joined", [("agent", "a"), ("instances", "1"), ("status", "running")], request: "\"o\"", last: false)),
                                   ("2-0", event("discovery", "joined", [("agent", "billing"), ("instances", "1"), ("status", "running")], request: "\"o\""))])
                == [finding("warning", "events.discovery", "1-0", "names agent 'a', which is not declared")])
        // Per-agent values: warnings.
        #expect(only("discovery", [("1-0", event("discovery", "status", [("agent", "billing"), ("instances", "-2"), ("status", "asleep")], request: "1"))])
                == [finding("warning", "events.discovery", "1-0", "status 'asleep' is not one AGENTS reports"),
                    finding("warning", "events.discovery", "1-0", "instances '-2' is not a count")])
        #expect(only("archivist", [("1-0", event("archivist", "sealed", [("segment", "../etc")], request: "1"))])
                == [finding("warning", "events.archivist", "1-0", "segment '../etc' is not a segment file name")])
        #expect(only("engineer", [("1-0", event("engineer", "restarted", [("agent", "billing")], request: "1")),
                                  ("2-0", event("engineer", "stopped", [("agent", "ghost")], request: "2"))])
                == [finding("warning", "events.engineer", "2-0", "names agent 'ghost', which is not declared")])
        #expect(only("engineer", [("1-0", event("engineer", "scaffolded", [("agent", "w"), ("files", "x"), ("language", "cobol")], request: "1"))])
                == [finding("warning", "events.engineer", "1-0", "language 'cobol' is not one scaffold writes"),
                    finding("warning", "events.engineer", "1-0", "files is not a JSON array")])
        #expect(only("auditor", [("1-0", event("auditor", "report", [("report", "{}"), ("run", "audit"), ("status", "fine")], request: "1"))])
                == [finding("warning", "events.auditor", "1-0", "status 'fine' is not ok, warning or critical"),
                    finding("warning", "events.auditor", "1-0", "report is not a report's JSON")])
    }

    /// forum's events as its logic appends them pass; a made-up outcome or
    /// choice, and an execution without its answer, are warnings.
    @Test func forumsEventsAreKnownToCheckStreams() {
        func check(_ entries: [(String, [(String, String)])]) -> [String] {
            AuditorLogic.check(agent: "forum", entries.map { StreamEntry(id: $0.0, fields: $0.1) }, declared: []).map(\.message)
        }
        let opened = event("forum", "opened", [("action", "transfer"), ("args", "{}"), ("author", "a1"), ("deadline", "9"),
                                               ("description", ""), ("proposal", "p-1"), ("target", "civic"), ("title", "t")], request: "1")
        let decided = [("abstain", "0"), ("action", "transfer"), ("args", "{}"), ("licensed", "1"), ("no", "0"),
                       ("outcome", "approved"), ("proposal", "p-1"), ("target", "civic"), ("yes", "1")]
        #expect(check([("1-0", opened),
                       ("2-0", event("forum", "voted", [("agent", "a1"), ("choice", "yes"), ("proposal", "p-1")], request: "2", last: false)),
                       ("2-1", event("forum", "decided", decided, request: "2")),
                       ("3-0", event("forum", "executed", [("ok", "true"), ("proposal", "p-1"), ("result", "{}")], request: "\"execute-p-1\""))])
                == [])
        #expect(check([("1-0", event("forum", "voted", [("agent", "a1"), ("choice", "maybe"), ("proposal", "p-1")], request: "1")),
                       ("2-0", event("forum", "decided", decided.map { $0.0 == "outcome" ? ("outcome", "tied") : $0 }, request: "2")),
                       ("3-0", event("forum", "executed", [("ok", "false"), ("proposal", "p-1")], request: "3"))])
                == ["choice 'maybe' is not yes, no or abstain", "outcome 'tied' is not approved, rejected or no_quorum",
                    "executed lacks its result or error"])
        #expect(check([("1-0", event("forum", "opened", [("proposal", "p-1")], request: "1"))])
                == ["opened lacks title, description, target, action, args, author, deadline"])
    }

    @Test func aStreamCheckFindingReachesHealthAndAnAuditCoversBoth() throws {
        let bad = stream([("9-0", event("archivist", "sealed", [("segment", seg1)], request: "1", publisher: "mallory"))])
        let (reads, out) = run("audit", ledger: .array([segment(seg1, frames: 1, records: 1)]), streams: ["events.archivist": bad])
        #expect(reads.first == .command(["LEDGER", "CHECK"], asIf: "default") && reads.count == 7)
        guard case .ok(let r) = out.reply else { throw TestFailure("\(out)") }
        #expect(r["run"] == "audit" && r["status"] == "critical" && r["ledger"]?["critical"] == 0 && r["streams"]?["critical"] == 1)
        var state = AuditorState()
        for e in out.events { logic.apply(e, to: &state) }
        #expect(AuditorLogic.healthProblem(state)
                == "1 critical finding (findings on events.auditor); events.archivist 9-0: appended by mallory, not by agent:archivist: an event only the agent itself may write")
        // A clean ledger check alone does not clear a stream finding; a clean stream check does.
        for e in run("verify_ledger").1.events { logic.apply(e, to: &state) }
        #expect(AuditorLogic.healthProblem(state) != nil)
        for e in run("check_streams").1.events { logic.apply(e, to: &state) }
        #expect(AuditorLogic.healthProblem(state) == nil)
        // findings answers the latest report.
        let (_, f) = run("findings", state: state)
        guard case .ok(let latest) = f.reply else { throw TestFailure("\(f)") }
        #expect(latest["reports"] == 3 && latest["health"] == .null && latest["report"]?["run"] == "check_streams" && f.events.isEmpty)
    }

    /// A stream whose entries lie in a damaged part of the ledger (the
    /// kernel answers DAMAGED) is a critical finding, and the other streams
    /// and the ledger are still checked: the damage is reported, not hidden
    /// behind an unavailable audit. Any other refusal leaves the run unavailable.
    @Test func aStreamInADamagedPartOfTheLedgerIsAFindingAndTheRestIsChecked() throws {
        let damaged = "DAMAGED entries of 'events.discovery' from 5-0 to 5-3 are in a damaged part of the ledger (segment \(seg1), frame 2 at offset 2197: data checksum mismatch; sequences 9-21 lost) and cannot be read; run vimana ledger verify"
        let bad = "segment \(seg1): frame 2 at offset 2197: data checksum mismatch"
        let (_, out) = run("audit", ledger: .array([segment(seg1, frames: 2, records: 21, errors: [bad])]), streams: [
            "events.discovery": .error(damaged),
            "events.archivist": stream([("1-0", event("archivist", "sealed", [("segment", seg1)], request: "1", publisher: "mallory"))]),
        ])
        guard case .ok(let r) = out.reply else { throw TestFailure("\(out)") }
        #expect(r["status"] == "critical" && r["ledger"]?["critical"] == 1 && r["streams"]?["critical"] == 2, "\(r)")
        #expect(findings(out).map { [$0["stream"], $0["entry"]] } == [["ledger", .string(seg1)], ["events.discovery", ""], ["events.archivist", "1-0"]])
        #expect(findings(out)[1]["message"] == .string("cannot be read: " + damaged))
        let (_, refused) = run("check_streams", streams: ["events.discovery": .error("NOPERM no permissions to access 'events.discovery'")])
        #expect(refused.reply == .error(code: "unavailable", message: "XREVRANGE events.discovery + - COUNT 100: NOPERM no permissions to access 'events.discovery'"))
    }

    // MARK: - Bounds and idempotency

    @Test func aReportListsAtMostTheCapAndCountsTheRest() throws {
        let errors = (0..<(AuditorLimits.findingsListed + 5)).map { "segment \(seg1): frame \($0) at offset \($0 * 10): bad CRC " + String(repeating: "x", count: 600) }
        let (_, out) = run("verify_ledger", ledger: .array([segment(seg1, frames: 30, records: 30, errors: errors, warnings: ["w"])]))
        guard case .ok(let r) = out.reply else { throw TestFailure("\(out)") }
        #expect(findings(out).count == AuditorLimits.findingsListed && r["omitted"] == 6 && r["critical"] == 25 && r["warning"] == 1)
        #expect(findings(out).allSatisfy { $0["severity"] == "critical" && ($0["message"]?.string?.utf8.count ?? 0) <= AuditorLimits.messageBytes + 3 })
        var state = AuditorState()
        for e in out.events { logic.apply(e, to: &state) }
        let problem = try #require(AuditorLogic.healthProblem(state))
        #expect(problem.hasPrefix("25 critical findings") && problem.hasSuffix("; …") && problem.utf8.count <= AuditorLimits.healthBytes + 5)
    }

    @Test func aRedeliveredAuditIsAppliedOnce() throws {
        var book = AgentBook(logic: logic)
        let r = AgentRequest(action: "verify_ledger", id: "audit-1-1", entryID: "5-0")
        let view = KernelView([AuditorLogic.ledgerRead("agent:auditor"): .array([segment(seg1, frames: 1, records: 1)])])
        let first = book.step(r, caller: "agent:auditor", kernel: view)
        #expect(first.append.count == 1 && !first.duplicate)
        for entry in first.append { book.replay(entry.fields) }
        #expect(book.reads(r, caller: "agent:auditor").isEmpty)
        let again = book.step(r, caller: "agent:auditor", kernel: view)
        #expect(again.duplicate && again.append.isEmpty && again.reply == first.reply)
        #expect(book.state.reports == 1)
    }

    /// The periodic audit waits for the previous one: its report, the
    /// kernel showing auditor idle, or the overdue limit.
    @Test func theNextPeriodicAuditWaitsUntilThePreviousIsDone() {
        var s = AuditSchedule(intervalSeconds: 60, now: 1000)
        #expect(s.next(now: 1059) == .wait && s.next(now: 1060) == .publish)
        #expect(s.waitMillis(now: 1059.5, longest: 5000) == 500)
        #expect(s.waitMillis(now: 1000, longest: 5000) == 5000)
        s.published(id: "audit-1-1", now: 1060)
        #expect(s.next(now: 1119) == .wait)
        // Due, but the previous is outstanding: the kernel is asked, every `longest` at most.
        #expect(s.next(now: 1120) == .askKernel && s.next(now: 1060 + 86_399) == .askKernel)
        #expect(s.waitMillis(now: 1120, longest: 5000) == 5000)
        // Another request's report changes nothing; its own (the id as JSON text) does.
        s.reported(request: #""audit-1-2""#)
        s.reported(request: "7")
        #expect(s.next(now: 1120) == .askKernel)
        s.reported(request: #""audit-1-1""#)
        #expect(s.next(now: 1120) == .publish && s.outstanding == nil)
        // Never known to be done: published anyway once a day has passed.
        s.published(id: "audit-1-2", now: 1120)
        #expect(s.next(now: 1120 + 86_399) == .askKernel && s.next(now: 1120 + 86_400) == .publish)
        s.idle()
        #expect(s.next(now: 1180) == .publish)
        // An interval longer than a day is its own limit.
        var weekly = AuditSchedule(intervalSeconds: 604_800, now: 0)
        weekly.published(id: "a", now: 604_800)
        #expect(weekly.next(now: 2 * 604_800 - 1) == .wait && weekly.next(now: 2 * 604_800) == .publish)
    }

    /// AGENTS's records (RESP2 flat or RESP3 maps, as KernelView decodes
    /// them): idle only with nothing pending nor waiting.
    @Test func auditorIsIdleOnlyWithNothingPendingNorWaiting() {
        func rec(_ id: String, pending: String?, lag: String?) -> [(String, String?)] {
            [("id", id), ("status", "running"), ("pending", pending), ("lag", lag)]
        }
        #expect(AuditSchedule.isIdle("auditor", [rec("oracle", pending: "3", lag: "1"), rec("auditor", pending: "0", lag: "0")]))
        #expect(!AuditSchedule.isIdle("auditor", [rec("auditor", pending: "1", lag: "0")]))
        #expect(!AuditSchedule.isIdle("auditor", [rec("auditor", pending: "0", lag: "2")]))
        #expect(!AuditSchedule.isIdle("auditor", [rec("auditor", pending: nil, lag: "0")]))
        #expect(!AuditSchedule.isIdle("auditor", [rec("oracle", pending: "0", lag: "0")]))
        #expect(!AuditSchedule.isIdle("auditor", []))
    }
}
