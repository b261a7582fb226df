import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// envoy as `vimana serve` wires it, with the real civic: the shipped
/// `onboard_agent` registers a new agent for its user (civic's registry
/// holds it) and finishes with success; a run whose envoy, or whose
/// kernel, is killed with -9 during its wait step goes on after the
/// restart and finishes. With the real civic
/// and forum: the shipped `governance_vote` opens a proposal, waits for its
/// decision, reports it, and a refused proposal runs its on_failure.
@Suite struct EnvoyWireTests {
    static let quiet = """
          oracle: {enabled: false}
          archivist: {enabled: false}
          engineer: {enabled: false}
          science: {enabled: false}
          auditor: {enabled: false}
          scribe: {enabled: false}
          forum: {enabled: false}
          supreme_court: {enabled: false}
          herald: {enabled: false}
        """

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let slow = """
    name: slow_onboard
    args:
      agent: {required: true}
      user: {required: true}
    phases:
      - name: register
        steps:
          - id: register
            call: {agent: civic, action: register, args: {agent: "${args.agent}", user: "${args.user}"}, timeout: 5s}
          - wait: 3s
          - id: licence
            call: {agent: civic, action: check_license, args: {agent: "${args.agent}"}, timeout: 5s}
          - check: {step: licence, path: state, equals: active}
    """

    func ask(_ server: ServerProcess, _ agent: String, _ action: String, _ args: [String: JSON] = [:]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: agent, action: action, args: args, timeout: 20)
    }

    func waitFor(_ what: String, _ server: ServerProcess, _ seconds: Double = 40, _ done: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try done() { return }
            usleep(50_000)
        }
        let events = (try? streamFields(server, "events.envoy")) ?? []
        throw TestFailure("\(what); events.envoy: \(events.map { $0.prefix(14) })")
    }

    func outcome(_ server: ServerProcess, _ run: String) throws -> JSON? {
        guard case .ok(let r) = try ask(server, "envoy", "status", ["run": .string(run)]), r["outcome"]?.string != nil else {
            return Optional<JSON>.none
        }
        return r
    }

    @Test func onboardAgentRegistersWithCivicAndResumesAfterAKill() throws {
        let dir = NSTemporaryDirectory() + "envoy-wire-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Self.repo + "/config/playbooks/onboard_agent.yaml", toPath: dir + "/onboard_agent.yaml")
        try Self.slow.write(toFile: dir + "/slow.yaml", atomically: true, encoding: .utf8)
        let server = try ServerProcess(config: "system:\n" + Self.quiet + "\n  envoy: {playbooks: \(dir)}\n", logLevel: "info",
                                       systemAgents: true)
        try waitFor("envoy did not join", server) { server.logLines.contains { $0.contains("as agent envoy ") } }

        guard case .ok(let listed) = try ask(server, "envoy", "list_playbooks") else { throw TestFailure("list_playbooks failed") }
        #expect(listed["playbooks"]?.array?.compactMap { $0["name"]?.string } == ["onboard_agent", "slow_onboard"])

        guard case .ok(let started) = try ask(server, "envoy", "run_playbook",
                                              ["name": "onboard_agent", "args": ["agent": "newbie", "user": "newbie-user"]]),
              let run = started["run"]?.string else { throw TestFailure("run_playbook failed") }
        var done: JSON?
        try waitFor("onboard_agent did not finish", server) { done = try outcome(server, run); return done != nil }
        #expect(done?["outcome"]?.string == "success", "\(done?.text ?? "")")
        guard case .ok(let registry) = try ask(server, "civic", "get_registry") else { throw TestFailure("get_registry failed") }
        #expect(registry["agents"]?.array?.contains { $0["agent"]?.string == "newbie" && $0["user"]?.string == "newbie-user" } == true,
                "\(registry.text)")
        #expect(try streamFields(server, "events.envoy").contains { $0.contains("emitted") && $0.contains("onboarded") })

        // kill -9 during the wait: the restarted envoy goes on at the next step.
        guard case .ok(let s2) = try ask(server, "envoy", "run_playbook",
                                         ["name": "slow_onboard", "args": ["agent": "second", "user": "second-user"]]),
              let run2 = s2["run"]?.string else { throw TestFailure("run_playbook failed") }
        try waitFor("no waiting recorded", server) { try streamFields(server, "events.envoy").contains { $0.contains("waiting") } }
        let pids = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"envoy\"") }
        let pid = pid_t(try #require(pids.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        try waitFor("slow_onboard did not finish after the kill", server, 60) { done = try outcome(server, run2); return done != nil }
        #expect(done?["outcome"]?.string == "success", "\(done?.text ?? "")")
        let restarted = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"envoy\"") }
        #expect(restarted.count >= 2)
        // Each step recorded once: register, wait, licence, check.
        let doneSteps = try streamFields(server, "events.envoy").filter { $0.contains("step_done") && $0.contains(run2) }
        #expect(doneSteps.count == 4, "\(doneSteps)")
    }

    /// The shipped `governance_vote` with the real civic and forum: alice's
    /// agent a1 (the only licensed one) is the proposer envoy names; the run
    /// opens p-1 (charged to a1), polls forum while the proposal is open
    /// (a `waiting` recorded, no outcome yet), and once alice votes yes (every
    /// licensed agent voted: decided) records the decision, emits
    /// `vote_decided {proposal, outcome}` and finishes with success; forum
    /// executes the transfer. A proposer with no licensed agent: forum's
    /// `not_licensed` is the open step's result, `vote_failed` is emitted and
    /// the run fails.
    @Test func governanceVoteOpensAProposalWaitsForItsDecisionAndReportsIt() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
            \(Self.quiet.replacingOccurrences(of: "  forum: {enabled: false}\n", with: ""))
              envoy: {playbooks: \(Self.repo)/config/playbooks}
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "forum", "envoy"] where !server.waitForLog("as agent \(agent) ", timeout: 60) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(3000))")
        }
        guard case .ok = try ask(server, "civic", "register", ["agent": "a1", "user": "alice"]) else {
            throw TestFailure("a1 was not registered")
        }
        let transfer: JSON = ["agent": "civic", "action": "transfer", "args": ["from": "treasury", "to": "a1", "amount": 3]]
        guard case .ok(let started) = try ask(server, "envoy", "run_playbook",
                                              ["name": "governance_vote", "args": ["proposer": "alice", "title": "pay a1", "action": transfer]]),
              let run = started["run"]?.string else { throw TestFailure("run_playbook failed") }

        // Open, and polled while open: a waiting recorded, the run not finished.
        try waitFor("no poll of the open proposal", server) {
            try streamFields(server, "events.envoy").contains { $0.contains("waiting") && $0.contains(run) && $0.contains("decided") }
        }
        guard case .ok(let open) = try ask(server, "envoy", "status", ["run": .string(run)]) else { throw TestFailure("status failed") }
        #expect(open["outcome"] == .null && open["steps"]?["open"]?["ok"] == true, "\(open.text)")
        #expect(open["steps"]?["open"]?["result"]?["proposal"] == "p-1", "\(open.text)")

        // alice votes: decided at once; the run's next poll sees it.
        let alice = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "alice-test", user: "alice", password: "x"))
        guard case .ok(let voted) = try alice.request(agent: "forum", action: "vote", args: ["proposal": "p-1", "choice": "yes"],
                                                      timeout: 20) else { throw TestFailure("alice's vote failed") }
        #expect(voted["outcome"] == "approved", "\(voted.text)")
        var done: JSON?
        try waitFor("governance_vote did not finish", server) { done = try outcome(server, run); return done != nil }
        #expect(done?["outcome"] == "success", "\(done?.text ?? "")")
        #expect(done?["steps"]?["decided"]?["result"]?["state"] == "decided", "\(done?.text ?? "")")
        let emitted = try streamFields(server, "events.envoy").filter { $0.contains("emitted") && $0.contains(run) }
        #expect(emitted.count == 1 && emitted.first?.contains("vote_decided") == true, "\(emitted)")
        #expect(emitted.first?.contains(#"{"outcome":"approved","proposal":"p-1"}"#) == true, "\(emitted)")
        // forum executes the approved transfer: a1 paid 10 for the proposal and got 3.
        try waitFor("the transfer was not executed", server) {
            guard case .ok(let b) = try ask(server, "civic", "get_balance", ["agent": "a1"]) else { return false }
            return b["balance"] == 93
        }

        // A proposer with no licensed agent: refused by forum, on_failure runs.
        guard case .ok(let s2) = try ask(server, "envoy", "run_playbook",
                                         ["name": "governance_vote", "args": ["proposer": "nobody", "title": "x", "action": transfer]]),
              let run2 = s2["run"]?.string else { throw TestFailure("run_playbook failed") }
        try waitFor("the refused run did not finish", server) { done = try outcome(server, run2); return done != nil }
        #expect(done?["outcome"] == "failure" && done?["failed_step"] == "open", "\(done?.text ?? "")")
        #expect(done?["steps"]?["open"]?["result"]?["error"]?["code"] == "not_licensed", "\(done?.text ?? "")")
        let failed = try streamFields(server, "events.envoy").filter { $0.contains("emitted") && $0.contains(run2) }
        #expect(failed.count == 1 && failed.first?.contains("vote_failed") == true, "\(failed)")
    }

    /// A run goes on after kill -9 of the kernel (with every agent): the
    /// kernel started again on the same ledger, the new envoy folds its
    /// events and publishes the step they say is next; the run finishes
    /// with each step recorded once.
    @Test func aRunResumesAfterKillNineOfTheKernel() throws {
        let dir = NSTemporaryDirectory() + "envoy-wire-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.slow.write(toFile: dir + "/slow.yaml", atomically: true, encoding: .utf8)
        let config = "system:\n" + Self.quiet + "\n  envoy: {playbooks: \(dir)}\n"
        let first = try ServerProcess(config: config, logLevel: "info", systemAgents: true)
        for agent in ["civic", "envoy"] where !first.waitForLog("as agent \(agent) ", timeout: 60) {
            throw TestFailure("\(agent) did not join; log:\n\(first.log.suffix(3000))")
        }
        guard case .ok(let started) = try ask(first, "envoy", "run_playbook",
                                              ["name": "slow_onboard", "args": ["agent": "third", "user": "third-user"]]),
              let run = started["run"]?.string else { throw TestFailure("run_playbook failed") }
        try waitFor("no waiting recorded", first) {
            try streamFields(first, "events.envoy").contains { $0.contains("waiting") && $0.contains(run) }
        }
        #expect(try outcome(first, run) == nil, "killed while the run waits")
        #expect(first.terminate(signal: SIGKILL) != nil)

        let server = try ServerProcess(config: config, logLevel: "info", ledgerDirectory: first.ledgerDirectory, systemAgents: true)
        var done: JSON?
        try waitFor("slow_onboard did not finish after the kernel's kill", server, 60) { done = try outcome(server, run); return done != nil }
        #expect(done?["outcome"] == "success", "\(done?.text ?? "")")
        let doneSteps = try streamFields(server, "events.envoy").filter { $0.contains("step_done") && $0.contains(run) }
        #expect(doneSteps.count == 4, "register, wait, licence, check, each once: \(doneSteps)")
        guard case .ok(let licence) = try ask(server, "civic", "check_license", ["agent": "third"]) else {
            throw TestFailure("check_license failed")
        }
        #expect(licence["state"] == "active" && licence["user"] == "third-user", "\(licence.text)")
        withExtendedLifetime(first) {}
    }
}
