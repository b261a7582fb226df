import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// oracle as `vimana serve` wires it: the real `vimana agent oracle`
/// process beside discovery, asked from clients over the bus.
@Suite struct OracleWireTests {
    /// A kernel with the system agents on, an external agent `billing`
    /// (no command: a client joins it) and discovery polling often.
    func start(ledger: String? = nil) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            agents:
              - id: billing
                subscribes: ["tasks.billing"]
                user: default
            system:
              discovery:
                poll_interval: 20ms
            """, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
        try waitForJoins(server, "oracle", 1)
        try waitForJoins(server, "discovery", 1)
        return server
    }

    func waitForJoins(_ server: ServerProcess, _ agent: String, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent \(agent) "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("\(agent) did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "oracle", action: action, args: args, timeout: 10)
    }

    /// Asks until `check` holds of the result; the last result.
    func waitFor(_ server: ServerProcess, _ action: String, _ args: [String: JSON],
                 _ check: (JSON) -> Bool) throws -> JSON? {
        let deadline = Date().addingTimeInterval(20)
        var last: JSON?
        while Date() < deadline {
            if case .ok(let r) = try ask(server, action, args) {
                last = r
                if check(r) { return r }
            }
            usleep(20_000)
        }
        return last
    }

    func status(_ r: JSON, _ agent: String) -> (String?, Int64?) {
        guard case .array(let agents)? = r["agents"], let a = agents.first(where: { $0["id"]?.string == agent }) else { return (nil, nil) }
        return (a["status"]?.string, a["instances"]?.int)
    }

    @Test func everyActionIsAnsweredFromTheKernelAndTheSystemAgentsEvents() throws {
        let server = try start()
        let health = try waitFor(server, "system_health", [:]) { r in
            status(r, "discovery") == ("running", 1) && status(r, "oracle") == ("running", 1)
        }
        #expect(health?["kernel"]?["vimana_version"] == "0.1.0", "\(String(describing: health))")
        #expect(health?["kernel"]?["ledger_status"] == "ok" && health?["kernel"]?["ledger_enabled"] == 1)
        #expect((health?["kernel"]?["connected_clients"]?.int ?? 0) >= 3, "discovery, its observer, oracle, the asker")
        #expect(health.map { status($0, "billing") } ?? (nil, nil) == ("idle", 0))

        // billing joins, then leaves: discovery records both, oracle explains them.
        var instance: RawClient? = try RawClient(port: server.port)
        instance?.send("AGENT JOIN billing\r\n")
        #expect(instance?.readReplies() == "+OK\r\n")
        let running = try waitFor(server, "agent_status", ["agent": "billing", "events": 0]) { $0["agent"]?["status"] == "running" }
        #expect(running?["agent"]?["instances"] == 1 && running?["events"] == [])
        func types(_ r: JSON) -> [String] { (r["chain"]?.arrayValue ?? []).compactMap { $0["type"]?.string } }
        let joined = try waitFor(server, "explain", ["agent": "billing"]) { types($0).last == "joined" }
        #expect(joined.map(types)?.last == "joined" && joined?["current"] == ["status": "running", "instances": 1])
        instance = nil
        let explained = try waitFor(server, "explain", ["agent": "billing"]) { types($0).suffix(2) == ["joined", "left"] }
        #expect(explained?["current"] == ["status": "idle", "instances": 0], "\(String(describing: explained))")
        #expect(explained?["summary"]?.string?.hasPrefix("billing is idle with 0 instances; last recorded: 'left' by discovery at ") == true,
                "\(String(describing: explained))")
        #expect(explained?["complete"] == true)
        let left = try #require(explained?["chain"]?.arrayValue?.last)
        #expect(left["agent"] == "discovery" && left["caller"] == "agent:discovery" && left["publisher"] == "agent:discovery")
        #expect(left["data"] == ["agent": "billing", "instances": "0", "status": "idle"])

        // The timeline: discovery's events in ID order, billing's among them;
        // a window ending before billing left has its join, not its leave.
        guard case .ok(let timeline) = try ask(server, "timeline", ["limit": 1000]), let events = timeline["events"]?.arrayValue else {
            throw TestFailure("timeline did not answer")
        }
        let ids = events.compactMap { $0["id"]?.string }
        #expect(ids == ids.sorted { StreamPositionOrder.less($0, $1) } && timeline["next"] == .null)
        let leftID = try #require(left["id"]?.string)
        let joinedID = try #require(explained?["chain"]?.arrayValue?.dropLast().last?["id"]?.string)
        #expect(ids.contains(leftID) && ids.contains(joinedID))
        guard case .ok(let window) = try ask(server, "timeline", ["from": .string(joinedID), "to": .string(joinedID)]) else {
            throw TestFailure("timeline window")
        }
        // discovery's only: another agent's stream may hold an entry of the
        // same ID (herald announcing the join in the same millisecond).
        #expect(window["events"]?.arrayValue?.filter { $0["agent"] == "discovery" }.map { $0["type"] } == ["joined"],
                "\(window)")

        // agent_status with events: discovery's latest, oldest first.
        guard case .ok(let d) = try ask(server, "agent_status", ["agent": "discovery", "events": 2]) else { throw TestFailure("agent_status") }
        #expect(d["agent"]?["status"] == "running" && d["events_topic"] == "events.discovery")
        #expect(d["events"]?.arrayValue?.last?["id"]?.string.map { StreamPositionOrder.less(leftID, $0) || $0 == leftID } == true)

        // Errors: a bad argument, an unknown agent, an unknown action.
        #expect(try ask(server, "timeline", ["limit": 5000]) == .error(code: "bad_argument", message: "limit must be an integer from 1 to 1000"))
        #expect(try ask(server, "agent_status", ["agent": "nobody"]) == .error(code: "not_found", message: "no agent 'nobody' is declared"))
        #expect(try ask(server, "predict") == .error(code: "unknown_action",
                                                     message: "unknown action 'predict' (system_health, agent_status, timeline, explain)"))
    }

    @Test func aMalformedTaskIsDeadLetteredAndOraclesUserMayOnlyRead() throws {
        let server = try start()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.oracle", #"{"id":1}"#]))
        #expect(c.readReplies().hasPrefix(":"))
        let deadline = Date().addingTimeInterval(20)
        var dead = ""
        while Date() < deadline && !dead.contains("reason") {
            c.send("XRANGE dead.oracle - +\r\n")
            dead = c.readReplies()
            usleep(20_000)
        }
        #expect(dead.contains("$6\r\nreason\r\n$49\r\nmalformed task: action must be a non-empty string\r\n"), "\(dead)")
        // What the kernel lets oracle's user do: read, reply, dead-letter; nothing else.
        let allowed = [["INFO"], ["AGENTS"], ["XRANGE", "events.discovery", "-", "+"], ["XREVRANGE", "events.x", "+", "-"],
                       ["XREAD", "STREAMS", "events.discovery", "0"], ["PUBLISH", "r.any", "x"],
                       ["XADD", "dead.oracle", "*", "a", "b"], ["ACK", "tasks.oracle", "1-0"],
                       ["ACL", "DRYRUN", "default", "XREVRANGE", "events.billing", "+", "-"],
                       // The kernel lets it publish anywhere (replies go to each caller's topic): the kit refuses below.
                       ["PUBLISH", "events.billing", "x"], ["PUBLISH", "tasks.billing", "x"], ["PUBLISH", "dead.billing", "x"]]
        for command in allowed {
            c.send(RawClient.command(["ACL", "DRYRUN", "agent:oracle"] + command))
            #expect(c.readReplies() == "+OK\r\n", "\(command)")
        }
        let refused = [["XADD", "events.discovery", "*", "a", "b"], ["XADD", "events.oracle", "*", "a", "b"],
                       ["XADD", "tasks.discovery", "*", "a", "b"], ["XRANGE", "tasks.billing", "-", "+"],
                       ["XGROUP", "CREATE", "tasks.oracle", "g", "$"], ["CONFIG", "GET", "port"], ["ACL", "LIST"],
                       ["ACL", "SETUSER", "x"], ["ACL", "GETUSER", "default"]]
        for command in refused {
            c.send(RawClient.command(["ACL", "DRYRUN", "agent:oracle"] + command))
            let r = c.readReplies()
            #expect(r.hasPrefix("$") && r.contains("This user has no permissions"), "\(command): \(r)")
        }
        // A reply to the agents' own topics would be oracle's entry there
        // (a task for billing, an event voiding its WATCH, a dead letter):
        // such a task is dead-lettered unanswered, and nothing is appended.
        let own = "malformed task: reply_to must not be a topic in tasks.*, events.*, dead.* or _vimana.*"
        for topic in ["tasks.billing", "events.billing", "dead.billing", "_vimana.groups"] {
            c.send(RawClient.command(["PUBLISH", "tasks.oracle", #"{"action":"system_health","id":1,"reply_to":"\#(topic)"}"#]))
            #expect(c.readReplies().hasPrefix(":"))
        }
        var reasons = 0
        let until = Date().addingTimeInterval(20)
        while Date() < until && reasons < 4 {
            c.send("XRANGE dead.oracle - +\r\n")
            reasons = c.readReplies().components(separatedBy: own).count - 1
            usleep(20_000)
        }
        #expect(reasons == 4, "dead letters with the reason")
        for topic in ["tasks.billing", "events.billing", "dead.billing"] {
            c.send(RawClient.command(["XLEN", topic]))
            #expect(c.readReplies() == ":0\r\n", "\(topic)")
        }
        // The kernel checks every read: without INFO, system_health says so.
        c.send("ACL SETUSER agent:oracle -info\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        #expect(try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
                    .request(agent: "oracle", action: "system_health", args: [:], timeout: 10)
                == .error(code: "unavailable", message: "the kernel refused INFO: NOPERM this user has no permissions to run the 'info' command"))
    }

    /// oracle reads every event stream; it answers with one only when the
    /// caller's user could read it itself (ACL DRYRUN).
    @Test func aCallerGetsNoEventsItMayNotReadItself() throws {
        let server = try start()
        let root = try RawClient(port: server.port)
        root.send(RawClient.command(["XADD", "events.billing", "*", "type", "paid", "amount", "5"]))
        #expect(root.readReplies().hasPrefix("$"))
        root.send("ACL SETUSER eve on >eve-pw +publish +subscribe +auth +hello &tasks.oracle &r.t\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        let sub = try RawClient(port: server.port), pub = try RawClient(port: server.port)
        let replies = RESPReader(sub)
        sub.send("AUTH eve eve-pw\r\nSUBSCRIBE r.t\r\n")
        #expect(replies.next() == .simple("OK"))
        _ = replies.next()
        pub.send("AUTH eve eve-pw\r\n")
        #expect(pub.readReplies() == "+OK\r\n")
        func ask(_ task: String) -> String? {
            pub.send(RawClient.command(["PUBLISH", "tasks.oracle", task]))
            _ = pub.readReplies()
            return replies.next(timeout: 10)?.strings.last
        }
        func forbidden(_ id: Int, _ topic: String, _ reason: String) -> String {
            #"{"error":{"code":"forbidden","message":"eve may not read \#(topic): This user has no permissions to \#(reason)"},"id":\#(id),"ok":false}"#
        }
        #expect(ask(#"{"action":"agent_status","id":1,"reply_to":"r.t","args":{"agent":"billing"}}"#)
                == forbidden(1, "events.billing", "run the 'xrevrange' command"))
        root.send("ACL SETUSER eve +xrange +xrevrange\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        #expect(ask(#"{"action":"agent_status","id":2,"reply_to":"r.t","args":{"agent":"billing"}}"#)
                == forbidden(2, "events.billing", "access the 'events.billing' key"))
        #expect(ask(#"{"action":"timeline","id":3,"reply_to":"r.t"}"#) == forbidden(3, "events.discovery", "access the 'events.discovery' key"))
        #expect(ask(#"{"action":"explain","id":4,"reply_to":"r.t","args":{"agent":"billing"}}"#)
                == forbidden(4, "events.discovery", "access the 'events.discovery' key"))
        // Without events, the status is anyone's; with the right to read billing's stream, its events too.
        #expect(ask(#"{"action":"agent_status","id":5,"reply_to":"r.t","args":{"agent":"billing","events":0}}"#)?
                    .hasPrefix(#"{"id":5,"ok":true,"result":{"agent":{"#) == true)
        root.send("ACL SETUSER eve %R~events.billing\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        let granted = ask(#"{"action":"agent_status","id":6,"reply_to":"r.t","args":{"agent":"billing"}}"#)
        #expect(granted?.contains(#""data":{"amount":"5"}"#) == true, "\(String(describing: granted))")
    }

    @Test func oracleAnswersAgainAfterKillNineAndIsInCheckHealthAndReady() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let check = try runVimana(["check", root.appendingPathComponent("config/phoenix.yaml").path])
        #expect(check.status == 0, "\(check.stderr)")
        let binary = URL(fileURLWithPath: ServerProcess.binaryPath).resolvingSymlinksInPath().path
        #expect(check.stdout.contains("\n# agent oracle (external, enabled): subscribes tasks.oracle; ack_wait 30s, max_deliver 5,"
                                      + " prefetch 1, start new, required; user agent:oracle; command \(binary) agent oracle,"
                                      + " restart always, max_restarts 5\n"), "\(check.stdout)")

        let server = try start()
        #expect(try waitFor(server, "system_health", [:]) { status($0, "oracle") == ("running", 1) } != nil)
        let health = httpGet(port: server.httpPort, path: "/health")
        #expect(health.contains(#"{"id":"oracle","name":"oracle","kind":"external","status":"running","instances":1,"#), "\(health)")
        // Every required agent (engineer too) joins in its own time: wait for /ready, not just for oracle.
        var ready = ""
        let readyBy = Date().addingTimeInterval(20)
        while Date() < readyBy && !ready.contains("{\"ready\":true}") {
            ready = httpGet(port: server.httpPort, path: "/ready")
            usleep(10_000)
        }
        #expect(ready.contains("{\"ready\":true}"), "\(ready)")

        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"oracle\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        // Required: /ready says so until the supervisor's restart has joined again.
        let deadline = Date().addingTimeInterval(10)
        var down = ""
        while Date() < deadline && !down.contains("503") {
            down = httpGet(port: server.httpPort, path: "/ready")
            usleep(10_000)
        }
        #expect(down.contains("{\"ready\":false,\"reason\":\"required agents down\",\"agents\":[\"oracle\"]}"), "\(down)")
        try waitForJoins(server, "oracle", 2)
        let after = try waitFor(server, "system_health", [:]) { status($0, "oracle") == ("running", 1) }
        #expect(after?["kernel"]?["vimana_version"] == "0.1.0")
        guard case .ok(let s) = try ask(server, "agent_status", ["agent": "oracle", "events": 0]) else { throw TestFailure("agent_status") }
        #expect(s["agent"]?["restarts"] == 1 && s["agent"]?["status"] == "running", "\(s)")
    }
}

extension OracleWireTests {
    /// kill -9 of the kernel: its oracle exits once orphaned, and the next
    /// kernel on the same ledger starts one that explains the same history.
    @Test func theHistoryIsExplainedAfterKillNineOfTheKernel() throws {
        let first = try start()
        let instance = try RawClient(port: first.port)
        instance.send("AGENT JOIN billing\r\n")
        #expect(instance.readReplies() == "+OK\r\n")
        let joined = try waitFor(first, "explain", ["agent": "billing"]) { r in
            r["chain"]?.arrayValue?.last?["type"] == "joined"
        }
        let before = try #require(joined?["chain"]?.arrayValue)
        let started = first.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"oracle\"") }
        let oldAgent = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        #expect(first.terminate(signal: SIGKILL) != nil)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && kill(oldAgent, 0) == 0 { usleep(20_000) }
        #expect(kill(oldAgent, 0) != 0, "oracle outlived its kernel")
        let second = try start(ledger: first.ledgerDirectory)
        // The new discovery records billing idle again; the events before are the same.
        let after = try waitFor(second, "explain", ["agent": "billing"]) { r in
            r["current"]?["status"] == "idle" && (r["chain"]?.arrayValue?.count ?? 0) > before.count
        }
        #expect(after?["chain"]?.arrayValue.map { Array($0.prefix(before.count)) } == before, "\(String(describing: after))")
        withExtendedLifetime(first) {}  // it owns the ledger directory
    }
}

extension OracleWireTests {
    /// A licence suspended by an operator and reinstated by a mercy of the
    /// real court, through the real civic: explain shows each licence
    /// change with the events that proved its authority, and auditor finds
    /// the governance invariants hold on what the agents recorded.
    @Test func explainResolvesAReinstatementToTheAppealAndAuditorFindsTheHistoryValid() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "supreme_court", "oracle", "auditor"] { try waitForJoins(server, agent, 1) }
        let admin = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        let alice = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test", user: "alice", password: "alice-pw"))
        func ok(_ agent: String, _ action: String, _ args: [String: JSON], as r: AgentRequester? = nil) throws -> JSON {
            let reply = try (r ?? admin).request(agent: agent, action: action, args: args, timeout: 10)
            guard case .ok(let result) = reply else { throw TestFailure("\(agent) \(action): \(reply)") }
            return result
        }
        _ = try ok("civic", "register", ["agent": "billing", "user": "alice"])
        _ = try ok("civic", "suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]])
        // The kernel learns the suspension from civic's mirror; then the appeal is the one topic open to alice.
        let deadline = Date().addingTimeInterval(20)
        var filed: AgentReply?
        while Date() < deadline {
            filed = try alice.request(agent: "supreme_court", action: "file_appeal", args: ["reason": "fixed"], timeout: 10)
            if case .ok = filed { break }
            usleep(50_000)
        }
        guard case .ok(let appeal)? = filed, let id = appeal["appeal"]?.string else { throw TestFailure("file_appeal: \(String(describing: filed))") }
        _ = try ok("supreme_court", "review", ["appeal": .string(id)])
        _ = try ok("supreme_court", "issue_verdict", ["appeal": .string(id), "verdict": "mercy_granted"])
        // The court enacts the mercy by itself: civic reinstates.
        let explained = try waitFor(server, "explain", ["agent": "billing"]) { ($0["licences"]?.arrayValue?.count ?? 0) == 3 }
        let licences = try #require(explained?["licences"]?.arrayValue, "\(String(describing: explained))")
        #expect(licences.map { $0["licence"]?["data"]?["state"] } == ["active", "suspended", "active"], "\(licences)")
        #expect(licences.map { $0["authority"] } == [["registration": true], ["operator": true], ["appeal": .string(id)]])
        #expect(licences.map { ($0["evidence"]?.arrayValue ?? []).map { "\($0["agent"]?.string ?? "") \($0["type"]?.string ?? "")" } }
                == [["civic registered"], [], ["supreme_court filed", "supreme_court verdict"]], "\(licences)")
        #expect(licences[1]["licence"]?["caller"] == "default" && licences[2]["licence"]?["caller"] == "agent:supreme_court")
        // What they recorded keeps auditor's invariants, each checked (every stream read whole).
        let report = try ok("auditor", "check_streams", [:])
        #expect(report["status"] == "ok" && report["findings"] == [], "\(report)")
        #expect(report["streams"]?["unchecked"] == [], "\(report)")
    }
}

extension JSON {
    var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
}

/// Stream IDs compared as the kernel orders them.
enum StreamPositionOrder {
    static func less(_ a: String, _ b: String) -> Bool {
        func parts(_ s: String) -> (UInt64, UInt64) {
            let p = s.split(separator: "-")
            return (UInt64(p.first ?? "") ?? 0, UInt64(p.last ?? "") ?? 0)
        }
        return parts(a) < parts(b)
    }
}
