import Testing
import VimanaAgentKit
import VimanaRESP
import VimanaTestSupport
@testable import VimanaSystemAgents

/// oracle's logic as a pure function: a task and the kernel's replies to
/// the reads it named in, a reply out (oracle appends no event).
@Suite struct OracleLogicTests {
    let logic = OracleLogic(systemAgents: ["discovery", "oracle"], scan: 100)

    func request(_ action: String, _ args: [String: JSON] = [:]) -> AgentRequest {
        AgentRequest(action: action, id: "r1", args: args)
    }

    func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }

    func agentsReply(_ agents: [(String, String, Int)]) -> RESPValue {
        .array(agents.map { a in .map([(bulk("id"), bulk(a.0)), (bulk("name"), bulk(a.0)), (bulk("status"), bulk(a.1)),
                                       (bulk("instances"), .integer(a.2)), (bulk("dead-lettered"), .integer(0))]) })
    }

    /// An entry as XRANGE answers it with PUBLISHER ON.
    func entry(_ id: String, _ fields: [(String, String)], by publisher: String) -> RESPValue {
        .array([bulk(id), .array((fields + [("_publisher", publisher)]).flatMap { [bulk($0.0), bulk($0.1)] })])
    }

    func answer(_ r: AgentRequest, _ replies: [KernelRead: RESPValue]) -> AgentOutcome {
        logic.handle(r, caller: "alice", state: OracleState(), kernel: KernelView(replies))
    }

    /// `+OK` to every ACL DRYRUN among `reads`: the caller may read.
    func allowed(_ reads: [KernelRead]) -> [KernelRead: RESPValue] {
        Dictionary(uniqueKeysWithValues: reads.filter { $0.arguments.prefix(2) == ["ACL", "DRYRUN"] }.map { ($0, RESPValue.simpleString("OK")) })
    }

    func badArgument(_ r: AgentRequest) -> String? {
        if case .error(let code, let message) = answer(r, [:]).reply, code == AgentErrorCode.badArgument { return message }
        return nil
    }

    @Test func systemHealthReportsTheChosenInfoFieldsAsNumbersAndEveryAgent() {
        let r = request("system_health")
        #expect(logic.reads(for: r, caller: "alice", state: OracleState()) == [.info(), .agents])
        let info = "# Server\r\nvimana_version:0.1.0\r\nuptime_in_seconds:12\r\nos:Linux\r\n\r\n# Ledger\r\nledger_status:ok\r\nledger_last_error:\r\n"
        let out = answer(r, [.info(): .verbatim(format: "txt", text: Array(info.utf8)),
                             .agents: agentsReply([("billing", "idle", 0), ("discovery", "running", 1), ("oracle", "running", 1)])])
        guard case .ok(let result) = out.reply else { Issue.record("\(out)"); return }
        #expect(out.events.isEmpty)
        #expect(result["kernel"] == ["vimana_version": "0.1.0", "uptime_in_seconds": 12, "ledger_status": "ok", "ledger_last_error": ""])
        #expect(result["statuses"] == ["idle": 1, "running": 2])
        guard case .array(let agents)? = result["agents"] else { Issue.record("agents"); return }
        #expect(agents.first == ["id": "billing", "name": "billing", "status": "idle", "instances": 0, "dead-lettered": 0])
        #expect(answer(request("system_health", ["x": 1]), [:]).reply
                == .error(code: "bad_argument", message: "unknown argument 'x' (none taken)"))
        #expect(logic.reads(for: request("system_health", ["x": 1]), caller: "alice", state: OracleState()).isEmpty,
                "a bad request reads nothing")
        // A read the kernel refused is said so, not answered as empty.
        #expect(answer(r, [.info(): .error("NOPERM this user has no permissions to run the 'info' command"), .agents: agentsReply([])]).reply
                == .error(code: "unavailable", message: "the kernel refused INFO: NOPERM this user has no permissions to run the 'info' command"))
        #expect(logic.handle(r, caller: "alice", state: OracleState()).reply
                == .error(code: "unavailable", message: "no answer to INFO from the kernel"))
    }

    @Test func agentStatusIsTheAgentsRecordAndItsLatestEventsOldestFirst() {
        let r = request("agent_status", ["agent": "billing", "events": 2])
        let stream = KernelRead.xrevrange("events.billing", count: 2)
        let dry = KernelRead.aclDryRun("alice", ["XREVRANGE", "events.billing", "+", "-"])
        #expect(logic.reads(for: r, caller: "alice", state: OracleState()) == [.agents, dry, stream])
        let out = answer(r, [.agents: agentsReply([("billing", "running", 2)]), dry: .simpleString("OK"),
                             stream: .array([entry("9-0", [("type", "paid"), ("n", "2")], by: "agent:billing"),
                                             entry("8-0", [("type", "paid"), ("n", "1")], by: "agent:billing")])])
        guard case .ok(let result) = out.reply, case .array(let events)? = result["events"] else { Issue.record("\(out)"); return }
        #expect(result["agent"]?["status"] == "running" && result["agent"]?["instances"] == 2)
        #expect(events.map { $0["id"] } == ["8-0", "9-0"])
        #expect(events.first == ["agent": "billing", "id": "8-0", "time": 8, "type": "paid", "data": ["n": "1"],
                                 "caller": nil, "request": nil, "publisher": "agent:billing"])
        #expect(answer(request("agent_status", ["agent": "nobody", "events": 0]), [.agents: agentsReply([])]).reply
                == .error(code: "not_found", message: "no agent 'nobody' is declared"))
        #expect(logic.reads(for: request("agent_status", ["agent": "a", "events": 0]), caller: "", state: OracleState()) == [.agents])
        // The events only to a caller whose user may read them itself (oracle's may read every stream).
        let denied = "This user has no permissions to access the 'events.billing' key"
        let stolen: [KernelRead: RESPValue] = [.agents: agentsReply([("billing", "running", 2)]), dry: .bulkString(Array(denied.utf8)),
                                               stream: .array([entry("9-0", [("type", "paid")], by: "agent:billing")])]
        #expect(answer(r, stolen).reply == .error(code: "forbidden", message: "alice may not read events.billing: \(denied)"))
        var refused = stolen
        refused[dry] = .error("NOPERM this user has no permissions to run the 'acl|dryrun' command")
        #expect(answer(r, refused).reply == .error(code: "unavailable", message:
            "the kernel refused ACL DRYRUN: NOPERM this user has no permissions to run the 'acl|dryrun' command"))
        refused[dry] = nil
        #expect(answer(r, refused).reply == .error(code: "unavailable", message: "no answer to ACL DRYRUN from the kernel"))
    }

    @Test func everyArgumentIsRangeChecked() {
        let id = "agent must be an agent id: 1 to 64 characters from a-z, 0-9, '_', '.', '-', starting with a letter or digit"
        #expect(badArgument(request("agent_status")) == id)
        #expect(badArgument(request("agent_status", ["agent": ""])) == id)
        #expect(badArgument(request("agent_status", ["agent": "Billing"])) == id)
        #expect(badArgument(request("agent_status", ["agent": "a*"])) == id)
        #expect(badArgument(request("agent_status", ["agent": .string(String(repeating: "a", count: 65))])) == id)
        #expect(badArgument(request("agent_status", ["agent": 5])) == id)
        #expect(badArgument(request("agent_status", ["agent": "a", "events": 101])) == "events must be an integer from 0 to 100")
        #expect(badArgument(request("agent_status", ["agent": "a", "events": "2"])) == "events must be an integer from 0 to 100")
        #expect(badArgument(request("explain", ["agent": "a", "limit": 0])) == "limit must be an integer from 1 to 1000")
        #expect(badArgument(request("explain", ["agent": "a", "why": true])) == "unknown argument 'why' (agent, limit)")
        #expect(badArgument(request("timeline", ["limit": 1001])) == "limit must be an integer from 1 to 1000")
        #expect(badArgument(request("timeline", ["limit": .double(2.5)])) == "limit must be an integer from 1 to 1000")
        let from = "from must be a time in ms (an integer from 0), a stream ID '<ms>-<seq>', or '-'"
        #expect(badArgument(request("timeline", ["from": -1])) == from)
        #expect(badArgument(request("timeline", ["from": "+"])) == from)
        #expect(badArgument(request("timeline", ["from": "1-2-3"])) == from)
        #expect(badArgument(request("timeline", ["from": "18446744073709551616"])) == from)
        #expect(badArgument(request("timeline", ["from": "-5"])) == from)
        #expect(badArgument(request("timeline", ["to": "x"])) == "to must be a time in ms (an integer from 0), a stream ID '<ms>-<seq>', or '+'")
        #expect(badArgument(request("timeline", ["from": 10, "to": 9])) == "from must not be after to")
        #expect(badArgument(request("timeline", ["from": "10-5", "to": "10-4"])) == "from must not be after to")
        // A bad task reads nothing.
        #expect(logic.reads(for: request("timeline", ["from": -1]), caller: "", state: OracleState()).isEmpty)
        #expect(answer(request("why"), [:]).reply
                == .error(code: "unknown_action", message: "unknown action 'why' (system_health, agent_status, timeline, explain)"))
    }

    @Test func theTimelineMergesTheStreamsByIDAndResumesWhereAFullPageStopped() {
        let r = request("timeline", ["from": 5, "to": "20-3", "limit": 2])
        let all = logic.reads(for: r, caller: "alice", state: OracleState())
        #expect(all.map(\.arguments) == [["ACL", "DRYRUN", "alice", "XRANGE", "events.discovery", "-", "+"],
                                          ["ACL", "DRYRUN", "alice", "XRANGE", "events.oracle", "-", "+"],
                                          ["XRANGE", "events.discovery", "5", "20-3", "COUNT", "3"],
                                          ["XRANGE", "events.oracle", "5", "20-3", "COUNT", "3"]])
        let reads = Array(all.dropFirst(2))
        func page(_ d: [RESPValue], _ o: [RESPValue]) -> JSON? {
            var replies = allowed(all)
            replies[reads[0]] = .array(d)
            replies[reads[1]] = .array(o)
            if case .ok(let result) = answer(r, replies).reply { return result }
            Issue.record("\(answer(r, replies))")
            return nil
        }
        func ids(_ p: JSON?) -> [String] { p?["events"]?.arrayValue?.compactMap { $0["id"]?.string } ?? [] }
        // discovery has more than 2 entries: known up to its second, 12-0.
        let early = page([entry("6-0", [("type", "joined"), ("agent", "a")], by: "agent:discovery"),
                          entry("12-0", [("type", "left"), ("agent", "a")], by: "agent:discovery"),
                          entry("14-0", [("type", "joined"), ("agent", "b")], by: "agent:discovery")],
                         [entry("7-0", [("type", "forged")], by: "mallory")])
        #expect(ids(early) == ["6-0", "12-0"], "another user's entry is no event of oracle's")
        #expect(early?["next"] == "12-1")
        // Exactly a page and nothing more: no next.
        let exact = page([entry("6-0", [("type", "a")], by: "agent:discovery"), entry("7-0", [("type", "b")], by: "agent:discovery")], [])
        #expect(ids(exact) == ["6-0", "7-0"] && exact?["next"] == .null)
        // Three candidates for a limit of two: the third is where to resume.
        let merged = page([entry("6-0", [("type", "joined")], by: "agent:discovery")],
                          [entry("6-0", [("type", "a")], by: "agent:oracle"), entry("7-0", [("type", "b")], by: "agent:oracle")])
        #expect(merged?["events"]?.arrayValue?.map { [$0["agent"], $0["id"]] } == [["discovery", "6-0"], ["oracle", "6-0"]],
                "equal IDs: wiring order")
        #expect(merged?["next"] == "7-0")
        // An ID whose events do not all fit ends the page before it: resuming there skips none.
        let split = page([entry("5-0", [("type", "a")], by: "agent:discovery"), entry("6-0", [("type", "b")], by: "agent:discovery")],
                         [entry("6-0", [("type", "c")], by: "agent:oracle")])
        #expect(ids(split) == ["5-0"] && split?["next"] == "6-0")
        // Everything fits: no next.
        let none = logic.reads(for: request("timeline"), caller: "alice", state: OracleState())
        #expect(answer(request("timeline"), allowed(none).merging(none.dropFirst(2).map { ($0, RESPValue.array([])) }) { a, _ in a }).reply
                == .ok(["events": [], "next": nil]))
        #expect(none.dropFirst(2).first?.arguments == ["XRANGE", "events.discovery", "-", "+", "COUNT", "101"])
        // A caller who may not read a system agent's stream gets none of them.
        var denied = allowed(all)
        denied[all[1]] = .bulkString(Array("This user has no permissions to access the 'events.oracle' key".utf8))
        denied[reads[0]] = .array([])
        denied[reads[1]] = .array([])
        #expect(answer(r, denied).reply == .error(code: "forbidden", message:
            "alice may not read events.oracle: This user has no permissions to access the 'events.oracle' key"))
    }

    /// Paging through two streams that share IDs, as the kernel answers each
    /// XRANGE: every event once, in order, whatever the limit.
    @Test func timelinePagesNeverSkipNorRepeatEntriesWithEqualIDs() {
        let streams = ["discovery": ["1-0", "2-0", "2-1", "3-0", "5-0", "6-0"], "oracle": ["2-0", "3-0", "4-0", "5-0", "6-0"]]
        func kernel(_ reads: [KernelRead]) -> [KernelRead: RESPValue] {
            var replies = allowed(reads)
            for read in reads where read.arguments.first == "XRANGE" {
                let a = read.arguments, agent = String(a[1].dropFirst("events.".count))
                let from = a[2] == "-" ? StreamPosition.first : StreamPosition(id: a[2]) ?? StreamPosition(ms: UInt64(a[2]) ?? 0, seq: 0)
                let to = a[3] == "+" ? StreamPosition.last : StreamPosition(id: a[3]) ?? StreamPosition(ms: UInt64(a[3]) ?? 0, seq: .max)
                let ids = (streams[agent] ?? []).filter { StreamPosition(id: $0).map { $0 >= from && $0 <= to } ?? false }
                replies[read] = .array(ids.prefix(Int(a[5]) ?? 0).map { entry($0, [("type", "t")], by: "agent:" + agent) })
            }
            return replies
        }
        let everything = (streams["discovery"] ?? []).map { ($0, "discovery") } + (streams["oracle"] ?? []).map { ($0, "oracle") }
        let expected = everything.sorted { (StreamPosition(id: $0.0) ?? .first, $0.1) < (StreamPosition(id: $1.0) ?? .first, $1.1) }
            .map { $0.1 + " " + $0.0 }
        for limit in 1...5 {
            var seen: [String] = []
            var from: JSON = "-"
            for _ in 0..<30 {
                let r = request("timeline", ["from": from, "limit": .int(Int64(limit))])
                guard case .ok(let result) = answer(r, kernel(logic.reads(for: r, caller: "alice", state: OracleState()))).reply,
                      let events = result["events"]?.arrayValue else { Issue.record("limit \(limit)"); break }
                #expect(events.count <= max(limit, 2), "more than limit only for one ID's events, one per system agent")
                seen += events.compactMap { e in e["id"]?.string.map { (e["agent"]?.string ?? "") + " " + $0 } }
                guard let next = result["next"], next != .null else { break }
                from = next
            }
            #expect(seen == expected, "limit \(limit)")
        }
    }

    @Test func explainIsTheChainOfEventsNamingTheAgentWithASummary() {
        let r = request("explain", ["agent": "billing"])
        let all = logic.reads(for: r, caller: "alice", state: OracleState())
        #expect(all.map(\.arguments) == [["ACL", "DRYRUN", "alice", "XREVRANGE", "events.discovery", "+", "-"],
                                          ["ACL", "DRYRUN", "alice", "XREVRANGE", "events.oracle", "+", "-"],
                                          ["AGENTS"], ["XREVRANGE", "events.discovery", "+", "-", "COUNT", "101"],
                                          ["XREVRANGE", "events.oracle", "+", "-", "COUNT", "101"]])
        let reads = Array(all.dropFirst(2))
        let replies: [KernelRead: RESPValue] = allowed(all).merging([
            reads[0]: agentsReply([("billing", "failed", 0)]),
            reads[1]: .array([
                entry("30-0", [("type", "failed"), ("agent", "billing"), ("instances", "0"), ("status", "failed"),
                               ("request", #""observe-3""#), ("caller", "agent:discovery"), ("reply", "{}")], by: "agent:discovery"),
                entry("20-0", [("type", "joined"), ("agent", "mailer")], by: "agent:discovery"),
                entry("10-0", [("type", "joined"), ("agent", "billing"), ("instances", "1"), ("status", "running")], by: "agent:discovery"),
                entry("15-0", [("type", "left"), ("agent", "billing")], by: "default"),
            ]),
            reads[2]: .array([]),
        ]) { a, _ in a }
        guard case .ok(let result) = answer(r, replies).reply, case .array(let chain)? = result["chain"] else {
            Issue.record("\(answer(r, replies))"); return
        }
        #expect(chain.map { $0["id"] } == ["10-0", "30-0"], "only discovery's own entries naming billing, oldest first")
        #expect(chain.last?["request"] == "observe-3" && chain.last?["caller"] == "agent:discovery")
        #expect(chain.last?["data"] == ["agent": "billing", "instances": "0", "status": "failed"])
        #expect(result["current"] == ["status": "failed", "instances": 0])
        #expect(result["complete"] == true)
        #expect(result["summary"] == "billing is failed with 0 instances; last recorded: 'failed' by discovery at 30-0 (instances=0 status=failed)")
        // The latest `limit` only.
        guard case .ok(let one) = answer(request("explain", ["agent": "billing", "limit": 1]), replies).reply else { return }
        #expect(one["chain"] == .array([chain[1]]))
        // Nobody knows it: not_found; known to AGENTS but never recorded: said so.
        #expect(answer(request("explain", ["agent": "ghost"]), replies).reply
                == .error(code: "not_found", message: "no agent 'ghost' is declared or recorded"))
        var quiet = replies
        quiet[reads[0]] = agentsReply([("billing", "idle", 1)])
        quiet[reads[1]] = .array([])
        guard case .ok(let q) = answer(r, quiet).reply else { return }
        #expect(q["summary"] == "billing is idle with 1 instance; no system agent recorded anything about it")
        // complete: false only when a stream had more than scan_entries (here 2) entries.
        let small = OracleLogic(systemAgents: ["discovery"], scan: 2)
        let sr = small.reads(for: r, caller: "alice", state: OracleState())
        #expect(sr.last?.arguments == ["XREVRANGE", "events.discovery", "+", "-", "COUNT", "3"])
        func explained(_ entries: [String]) -> JSON? {
            var replies = allowed(sr)
            replies[.agents] = agentsReply([("billing", "idle", 0)])
            replies[sr[2]] = .array(entries.map { entry($0, [("type", "status"), ("agent", "billing")], by: "agent:discovery") })
            if case .ok(let x) = small.handle(r, caller: "alice", state: OracleState(), kernel: KernelView(replies)).reply { return x }
            return nil
        }
        #expect(explained(["9-0", "8-0"])?["complete"] == true)
        let partial = explained(["9-0", "8-0", "7-0"])
        #expect(partial?["complete"] == false && partial?["chain"]?.arrayValue?.map { $0["id"] } == ["8-0", "9-0"])
        #expect(partial?["summary"]?.string?.hasSuffix(" (in the latest 2 entries of each stream)") == true)
    }

    /// explain's `licences`: civic's licence events of the agent, each
    /// with its authority resolved to the events that proved it — the
    /// registration's task, watchman's decision and the violations since
    /// the agent's previous suspension, the appeal and its verdict, forum's
    /// decision — and nothing for an operator's or a proof not read.
    @Test func explainResolvesEachLicenceChangeToTheEventsThatProvedIt() throws {
        let governed = OracleLogic(systemAgents: ["civic", "forum", "watchman", "supreme_court"], scan: 100)
        let r = request("explain", ["agent": "a1"])
        let all = governed.reads(for: r, caller: "alice", state: OracleState())
        func kit(_ request: String, _ caller: String, last: Bool = true) -> [(String, String)] {
            [("request", request), ("caller", caller)] + (last ? [("reply", "{}")] : [])
        }
        func licence(_ id: String, _ state: String, _ action: String, _ authority: String, _ caller: String) -> (String, [(String, String)]) {
            (id, [("type", "licence"), ("action", action), ("agent", "a1"), ("authority", authority), ("reason", "r"), ("state", state),
                  ("user", "a1-user")] + kit("\"\(id)\"", caller))
        }
        let streams: [String: [(String, [(String, String)])]] = [
            "civic": [
                ("1000-0", [("type", "registered"), ("agent", "a1"), ("user", "a1-user")] + kit("1", "default", last: false)),
                ("1000-1", [("type", "licence"), ("agent", "a1"), ("authority", #"{"registration":true}"#), ("state", "active")]
                    + kit("1", "default", last: false)),
                ("1000-2", [("type", "granted"), ("agent", "a1"), ("amount", "100")] + kit("1", "default")),
                licence("2100-0", "suspended", "suspend", #"{"decision":"d-1"}"#, "agent:watchman"),
                licence("3300-0", "active", "reinstate", #"{"appeal":"a-1"}"#, "agent:supreme_court"),
                licence("4100-0", "suspended", "suspend", #"{"decision":"d-2"}"#, "agent:watchman"),
                licence("5200-0", "active", "reinstate", #"{"proposal":"p-1"}"#, "agent:forum"),
                licence("6000-0", "revoked", "revoke", #"{"operator":true}"#, "default"),
                licence("6500-0", "revoked", "suspend", #"{"decision":"d-9"}"#, "agent:watchman"),
                // Another agent's licence: not a1's chain.
                ("7000-0", [("type", "licence"), ("agent", "b1"), ("authority", #"{"operator":true}"#), ("state", "revoked")] + kit("9", "default")),
            ],
            "watchman": [
                ("2000-0", [("type", "violation"), ("violation", "v-1"), ("agent", "a1")] + kit("\"o-1\"", "agent:watchman", last: false)),
                ("2000-1", [("type", "decision"), ("decision", "d-1"), ("agent", "a1"), ("action", "suspend")] + kit("\"o-1\"", "agent:watchman")),
                ("4000-0", [("type", "violation"), ("violation", "v-2"), ("agent", "a1")] + kit("\"o-2\"", "agent:watchman")),
                ("4000-1", [("type", "violation"), ("violation", "v-3"), ("agent", "b1")] + kit("\"o-3\"", "agent:watchman")),
                ("4000-2", [("type", "violation"), ("violation", "v-4"), ("agent", "a1")] + kit("\"o-4\"", "agent:watchman", last: false)),
                ("4000-3", [("type", "decision"), ("decision", "d-2"), ("agent", "a1"), ("action", "suspend")] + kit("\"o-4\"", "agent:watchman")),
                // A decision recorded after the licence change that named it proves nothing.
                ("6600-0", [("type", "decision"), ("decision", "d-9"), ("agent", "a1"), ("action", "suspend")] + kit("\"o-9\"", "agent:watchman")),
            ],
            "supreme_court": [
                ("3000-0", [("type", "filed"), ("appeal", "a-1"), ("agent", "a1")] + kit("1", "a1-user")),
                ("3100-0", [("type", "reviewed"), ("appeal", "a-1")] + kit("2", "default")),
                ("3200-0", [("type", "verdict"), ("appeal", "a-1"), ("agent", "a1"), ("verdict", "mercy_granted")] + kit("3", "default")),
            ],
            "forum": [
                ("5000-0", [("type", "opened"), ("proposal", "p-1")] + kit("1", "b1-user")),
                ("5100-0", [("type", "decided"), ("proposal", "p-1"), ("outcome", "approved")] + kit("\"close-p-1\"", "agent:forum")),
                // Forged: not forum's own entry.
                ("5150-0", [("type", "decided"), ("proposal", "p-1"), ("outcome", "approved")] + kit("2", "mallory")),
            ],
        ]
        var replies = allowed(all)
        replies[.agents] = agentsReply([])
        for (agent, entries) in streams {
            replies[.xrevrange("events." + agent, count: 101)] = .array(entries.reversed().map { id, fields in
                entry(id, fields, by: id == "5150-0" ? "mallory" : "agent:" + agent)
            })
        }
        let out = governed.handle(r, caller: "alice", state: OracleState(), kernel: KernelView(replies))
        guard case .ok(let result) = out.reply, let licences = result["licences"]?.arrayValue else { throw TestFailure("\(out)") }
        #expect(licences.map { $0["licence"]?["id"] } == ["1000-1", "2100-0", "3300-0", "4100-0", "5200-0", "6000-0", "6500-0"])
        #expect(licences.map { $0["authority"] } == [["registration": true], ["decision": "d-1"], ["appeal": "a-1"], ["decision": "d-2"],
                                                     ["proposal": "p-1"], ["operator": true], ["decision": "d-9"]])
        #expect(licences.map { ($0["evidence"]?.arrayValue ?? []).map { "\($0["agent"]?.string ?? "") \($0["id"]?.string ?? "")" } } == [
            ["civic 1000-0"],
            ["watchman 2000-0", "watchman 2000-1"],
            ["supreme_court 3000-0", "supreme_court 3200-0"],
            // The violations since a1's previous suspension (v-1 was d-1's), a1's only.
            ["watchman 4000-0", "watchman 4000-2", "watchman 4000-3"],
            ["forum 5100-0"],
            [],
            [],
        ])
        #expect(licences[1]["licence"]?["caller"] == "agent:watchman" && licences[1]["licence"]?["data"]?["state"] == "suspended")
        // The latest `limit`, as the chain.
        let two = governed.handle(request("explain", ["agent": "a1", "limit": 2]), caller: "alice", state: OracleState(), kernel: KernelView(replies))
        guard case .ok(let latest) = two.reply else { throw TestFailure("\(two)") }
        #expect(latest["licences"]?.arrayValue?.map { $0["licence"]?["id"] } == ["6000-0", "6500-0"])
        // An agent civic never licensed: none.
        let b1 = governed.handle(request("explain", ["agent": "b2"]), caller: "alice", state: OracleState(), kernel: KernelView(replies))
        #expect(b1.reply == .error(code: "not_found", message: "no agent 'b2' is declared or recorded"))
    }

    @Test func streamPositionsParseCompareAndStep() {
        #expect(StreamPosition(id: "5-3") == StreamPosition(ms: 5, seq: 3))
        #expect(StreamPosition(id: "5") == nil && StreamPosition(id: "+5-3") == nil && StreamPosition(id: "5--3") == nil)
        #expect(StreamPosition(id: "18446744073709551616-0") == nil)
        #expect(StreamPosition(ms: 5, seq: .max).successor == StreamPosition(ms: 6, seq: 0))
        #expect(StreamPosition.last.successor == nil)
        #expect(StreamPosition(ms: 5, seq: 9) < StreamPosition(ms: 6, seq: 0))
    }
}
