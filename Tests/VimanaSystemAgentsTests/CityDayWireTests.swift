import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One day of the city (issue 13), through the real kernel, the thirteen
/// system agents and two external agents the kernel supervises: `weather`
/// in Python (tools/agents/citizen.py) and `ticker` in Bash
/// (tools/agents/citizen.sh), each acting as its own user over the public
/// protocols. The test is the day's operator (the user `default`, an
/// operator and the judge): it tells each citizen what to do with an `ask`
/// or `publish` task, and reads the outcome from the system agents.
///
/// The day: both citizens register themselves; ticker broadcasts; the
/// kernel is killed with -9 and started again on the same ledger, and
/// nothing is lost; weather floods a topic, watchman sees the rate from
/// science's counts and suspends it through civic, the kernel refuses its
/// publishes; it appeals, the judge grants mercy, the court has civic
/// reinstate it and it publishes again; ticker proposes to pay weather,
/// both vote, forum executes the transfer; envoy onboards `pilot`; the
/// auditor finds nothing wrong, and oracle explains weather's licence.
@Suite struct CityDayWireTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let config = """
        users:
          - name: weather
            password_hashes: ["666588a5546894758f8ae273673fc45d2c4f69084df5be1b95bc2df0549dd421"]
            permissions: ["+@all", "-@admin", "~*", "&*"]
          - name: ticker
            password_hashes: ["038f46e0ba862658db84b18b255cce1a506fa06c626e8a1a0220215624e8698c"]
            permissions: ["+@all", "-@admin", "~*", "&*"]
          - name: pilot
            password_hashes: ["a0288d09d3a89bddd4fa3e1fbf4ab0f70340fd12613ab8d2aed78cb39f57ffaa"]
            permissions: ["+@all", "-@admin", "~*", "&*"]
        agents:
          - id: weather
            subscribes: ["tasks.weather"]
            user: weather
            command: ["python3", "\(repository)/tools/agents/citizen.py"]
          - id: ticker
            subscribes: ["tasks.ticker"]
            user: ticker
            command: ["bash", "\(repository)/tools/agents/citizen.sh"]
        system:
          science: {poll_interval: 100ms}
          watchman: {interval: 200ms, max_publish_rate: 1, suspend_after: 1}
          envoy: {playbooks: "\(repository)/config/playbooks"}
        """

    /// The kernel with the day's configuration on `ledger` (a fresh one when nil), once civic,
    /// the court, forum, herald, envoy, watchman and both citizens are in.
    func start(ledger: String? = nil) throws -> ServerProcess {
        let server = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
        for agent in ["civic", "supreme_court", "forum", "herald", "envoy", "watchman", "science", "auditor", "oracle",
                      "weather", "ticker"] where !server.waitForLog("as agent \(agent)", timeout: 60) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(4000))")
        }
        return server
    }

    func waitFor(_ what: String, _ server: ServerProcess, timeout: Double = 60, _ done: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try done() { return }
            usleep(100_000)
        }
        try? server.log.write(toFile: "/tmp/cityday.log", atomically: true, encoding: .utf8)
        throw TestFailure("\(what) did not happen; log:\n\(server.log.suffix(4000))")
    }

    /// The result of `agent`'s ok reply, failing the test otherwise.
    func ok(_ reply: AgentReply, _ what: String) throws -> JSON {
        guard case .ok(let result) = reply else { throw TestFailure("\(what): \(reply)") }
        return result
    }

    /// What a citizen's `ask` brought back: the asked agent's reply object.
    func asked(_ op: AgentRequester, _ citizen: String, _ agent: String, _ action: String, _ args: [String: JSON]) throws -> JSON {
        let reply = try op.request(agent: citizen, action: "ask", args: ["agent": .string(agent), "action": .string(action),
                                                                          "args": .object(args)], timeout: 30, user: citizen)
        return try ok(reply, "\(citizen) asking \(agent) \(action)")
    }

    func licence(_ op: AgentRequester, _ agent: String) throws -> JSON {
        try ok(op.request(agent: "civic", action: "check_license", args: ["agent": .string(agent)], timeout: 20), "check_license \(agent)")
    }

    /// `PUBLISH city.weather x` as weather's user, as the kernel answers it.
    func publishAsWeather(_ server: ServerProcess) -> String {
        guard let c = try? RawClient(port: server.port) else { return "" }
        c.send(command: "AUTH", "weather", "weather-pw")
        _ = c.readReplies()
        c.send(command: "PUBLISH", "city.weather", "x")
        return c.readReplies()
    }

    @Test func aDayInTheCity() throws {
        try requireProgram("python3")
        try requireProgram("bash")
        var server = try start()
        let first = server
        var op = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "operator"))

        // Morning: the citizens register themselves at their start.
        try waitFor("weather and ticker registered", server) {
            ["weather", "ticker"].allSatisfy { (try? licence(op, $0))?["state"] == "active" }
        }
        #expect(try licence(op, "weather")["user"] == "weather" && licence(op, "ticker")["user"] == "ticker")
        #expect(try licence(op, "weather")["balance"] == 100)
        #expect(server.waitForLog("registered with civic as weather") && server.waitForLog("registered with civic as ticker"))

        // A stranger's garbage harms neither citizen: answered or passed over, never forwarded, never a crash.
        let hostile = try RawClient(port: server.port)
        hostile.send(command: "SUBSCRIBE", "replies.hostile")
        #expect(hostile.readReplies().contains("subscribe"))
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        for citizen in ["weather", "ticker"] {
            let c = try RawClient(port: server.port)
            for payload in [#"{"action":"ask","id":"h1","reply_to":"replies.hostile","args":[1]}"#,
                            #"{"action":"ask","id":"h2","reply_to":"replies.hostile","args":{"agent":"civic","action":"register","args":\#(deep)}}"#,
                            #"{"action":"ask","id":"h3","reply_to":"replies.hostile","args":{"agent":"civic","action":"register","args":{"x":[}}}}"#,
                            #"{"action":"ask","id":{],"reply_to":"replies.hostile","args":{"agent":"civic","action":"register"}}"#] {
                c.send(command: "PUBLISH", "tasks.\(citizen)", payload)
                _ = c.readReplies()
            }
        }
        var answers = ""
        try waitFor("the refusals of args that are no object", server) {
            answers += hostile.readReplies(timeout: 0.2)
            return answers.components(separatedBy: #""id":"h1""#).count == 3
        }
        #expect(!answers.contains(#""ok":true"#), "\(answers)")
        // Both still serve, and nothing reached civic from them.
        #expect(try asked(op, "weather", "civic", "get_balance", ["agent": "weather"])["result"]?["balance"] == 100)
        #expect(try asked(op, "ticker", "civic", "get_balance", ["agent": "ticker"])["result"]?["balance"] == 100)
        #expect(try streamFields(server, "dead.civic").isEmpty, "a malformed request was forwarded to civic")

        // ticker broadcasts; a subscriber hears it, ticker pays for it.
        let listener = try RawClient(port: server.port)
        listener.send(command: "SUBSCRIBE", "broadcast.news")
        #expect(listener.readReplies().contains("subscribe"))
        let broadcast = try asked(op, "ticker", "herald", "publish", ["channel": "news", "content": "storm at noon"])
        #expect(broadcast["ok"] == true && broadcast["result"]?["author"] == "ticker" && broadcast["result"]?["charged"] == 1,
                "\(broadcast)")
        var heard = ""
        try waitFor("the broadcast heard", server) {
            heard += listener.readReplies(timeout: 0.2)
            return heard.contains(#""author":"ticker","channel":"news","content":"storm at noon""#)
        }

        // kill -9 of the kernel mid-morning: started again on the same ledger, nothing is lost.
        #expect(server.terminate(signal: SIGKILL) != nil)
        server = try start(ledger: first.ledgerDirectory)
        op = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "operator"))
        #expect(try licence(op, "ticker")["balance"] == 99, "the broadcast's charge survived")
        #expect(try licence(op, "weather")["state"] == "active")
        #expect(try ok(op.request(agent: "herald", action: "status", timeout: 20), "herald status")["broadcasts"] == 1)

        let town = try RawClient(port: server.port)
        town.send(command: "SUBSCRIBE", "broadcast.announcements")
        #expect(town.readReplies().contains("subscribe"))

        // weather floods a topic: watchman sees it over the rate and suspends it through civic.
        let flood = try ok(op.request(agent: "weather", action: "publish", args: ["topic": "city.weather", "count": 100],
                                      timeout: 30, user: "weather"), "the flood")
        #expect(flood["published"] == 100 && flood["refused"] == 0)
        try waitFor("weather suspended", server, timeout: 90) { try licence(op, "weather")["state"] == "suspended" }
        try waitFor("the kernel refusing weather", server) { publishAsWeather(server).hasPrefix("-NOPERM user 'weather' is suspended") }
        // weather's own publish is refused too (and so is its reply: it says so on stdout).
        try op.send(topic: "tasks.weather", action: "publish", args: ["topic": "city.weather"])
        #expect(server.waitForLog("publish to city.weather refused: NOPERM user 'weather' is suspended", timeout: 30))

        // It appeals on the one topic left to it; the judge grants mercy; the court has civic reinstate it.
        try op.send(topic: "tasks.weather", action: "ask",
                    args: ["agent": "supreme_court", "action": "file_appeal", "args": ["reason": "a runaway loop, fixed"]])
        var appeal: JSON = .null
        try waitFor("weather's appeal", server) {
            if case .ok(let a) = try op.request(agent: "supreme_court", action: "get_appeal", args: ["appeal": "a-1"], timeout: 20) {
                appeal = a
                return true
            }
            return false
        }
        #expect(appeal["agent"] == "weather" && appeal["licence"] == "suspended", "\(appeal)")
        #expect(try ok(op.request(agent: "supreme_court", action: "review", args: ["appeal": "a-1"], timeout: 20), "review")["eligible"]
                == true)
        _ = try ok(op.request(agent: "supreme_court", action: "issue_verdict", args: ["appeal": "a-1", "verdict": "mercy_granted"],
                              timeout: 20), "verdict")
        try waitFor("weather reinstated", server) { try licence(op, "weather")["state"] == "active" }
        try waitFor("the kernel letting weather publish", server) { publishAsWeather(server).hasPrefix(":") }
        // herald announced the suspension, the verdict and the reinstatement, in that order.
        var announced = ""
        try waitFor("the announcements", server) {
            announced += town.readReplies(timeout: 0.2)
            return announced.contains(#""kind":"reinstated""#)
        }
        let order = [#""kind":"suspended""#, #""kind":"verdict""#, #""kind":"reinstated""#].map { announced.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, "\(announced)")

        // Afternoon: ticker proposes to pay weather 10 credits; both vote yes; forum executes it.
        let opened = try asked(op, "ticker", "forum", "create_proposal", [
            "title": "pay weather for the forecast",
            "action": ["agent": "civic", "action": "transfer", "args": ["from": "ticker", "to": "weather", "amount": 10]],
        ])
        guard opened["ok"] == true, let proposal = opened["result"]?["proposal"]?.string else { throw TestFailure("\(opened)") }
        #expect(try asked(op, "weather", "forum", "vote", ["proposal": .string(proposal), "choice": "yes"])["ok"] == true)
        let last = try asked(op, "ticker", "forum", "vote", ["proposal": .string(proposal), "choice": "yes"])
        #expect(last["result"]?["outcome"] == "approved", "every licensed agent voted: decided at once (\(last))")
        try waitFor("the transfer executed", server) {
            try ok(op.request(agent: "forum", action: "get_proposal", args: ["proposal": .string(proposal)], timeout: 20),
                   "get_proposal")["executed"] == true
        }
        #expect(try licence(op, "weather")["balance"] == 110)
        #expect(try licence(op, "ticker")["balance"] == 79, "100 - 1 (broadcast) - 10 (proposal) - 10 (transfer)")

        // envoy onboards a third agent by playbook.
        let run = try ok(op.request(agent: "envoy", action: "run_playbook",
                                    args: ["name": "onboard_agent", "args": ["agent": "pilot", "user": "pilot"]], timeout: 20), "run")
        guard let runID = run["run"]?.string else { throw TestFailure("\(run)") }
        try waitFor("the onboarding", server) {
            try ok(op.request(agent: "envoy", action: "status", args: ["run": .string(runID)], timeout: 20), "status")["outcome"]
                == "success"
        }
        #expect(try licence(op, "pilot")["state"] == "active" && licence(op, "pilot")["user"] == "pilot")

        // Evening: the auditor finds nothing wrong; oracle explains weather's licence.
        let audit = try ok(op.request(agent: "auditor", action: "audit", timeout: 60), "audit")
        #expect(audit["critical"] == 0 && audit["warning"] == 0 && audit["findings"] == [], "\(audit)")
        #expect(audit["streams"]?["unchecked"] == [], "every governance invariant was checked on the whole day: \(audit)")
        let explained = try ok(op.request(agent: "oracle", action: "explain", args: ["agent": "weather", "limit": 1000], timeout: 20), "explain")
        let chain = explained["chain"]?.array ?? []
        let states = chain.compactMap { e -> String? in
            guard e["type"] == "licence", let s = e["data"]?["state"]?.string else { return nil }
            return s
        }
        #expect(states == ["active", "suspended", "active"], "registered, suspended, reinstated: \(chain)")
        #expect(chain.contains { $0["agent"] == "watchman" && $0["type"] == "decision" && $0["data"]?["action"] == "suspend" })
        #expect(chain.contains { $0["agent"] == "supreme_court" && $0["type"] == "verdict" && $0["data"]?["verdict"] == "mercy_granted" })
        #expect(explained["summary"]?.string?.contains("its licence is active (mercy on appeal a-1)") == true, "\(explained["summary"] ?? .null)")
        // Each licence change with the events that proved its authority.
        let licences = explained["licences"]?.array ?? []
        let suspension = licences.first { $0["licence"]?["data"]?["state"] == "suspended" }
        let reinstatement = licences.last { $0["licence"]?["data"]?["state"] == "active" }
        #expect(suspension?["evidence"]?.array?.contains { $0["type"] == "decision" } == true, "\(licences)")
        #expect(reinstatement?["evidence"]?.array?.contains { $0["type"] == "verdict" } == true, "\(licences)")
        withExtendedLifetime(first) {}
    }
}
