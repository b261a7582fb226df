import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// watchman as `vimana serve` wires it, with the real kernel and the real
/// civic: a licence refusal in ACL LOG becomes a `violation`, and dead
/// letters of a user's malformed tasks become violations, then a suspend
/// decision that civic enforces and the kernel then applies.
@Suite struct WatchmanWireTests {
    /// The system agents watchman does not need are off: fewer processes on a shared machine.
    static let quiet = """
          oracle: {enabled: false}
          archivist: {enabled: false}
          engineer: {enabled: false}
          science: {enabled: false}
          auditor: {enabled: false}
          scribe: {enabled: false}
          supreme_court: {enabled: false}
          forum: {enabled: false}
          herald: {enabled: false}
        """

    /// With `auditor`, auditor runs too (to check what the others recorded).
    func start(_ watchman: String, auditor: Bool = false) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
            \(auditor ? Self.quiet.replacingOccurrences(of: "auditor: {enabled: false}", with: "auditor: {enabled: true}") : Self.quiet)
              watchman:
            \(watchman)
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "watchman"] where !server.waitForLog("as agent \(agent)", timeout: 30) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(3000))")
        }
        return server
    }

    func civic(_ server: ServerProcess, _ action: String, _ args: [String: JSON]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "operator")).request(agent: "civic", action: action, args: args,
                                                                                                     timeout: 20)
    }

    /// events.watchman's entries of `type`, as field maps.
    func events(_ server: ServerProcess, _ type: String) throws -> [[String: String]] {
        try streamFields(server, "events.watchman").map { f in
            var d: [String: String] = [:]
            var i = 0
            while i + 1 < f.count { d[f[i]] = f[i + 1]; i += 2 }
            return d
        }.filter { $0["type"] == type }
    }

    func waitFor(_ what: String, _ server: ServerProcess, timeout: Double = 30, _ done: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if try done() { return }; usleep(50_000) }
        throw TestFailure("\(what) did not happen; log:\n\(server.log.suffix(3000))")
    }

    /// app's `PUBLISH jobs x`, as the kernel answers it.
    func publish(_ server: ServerProcess) throws -> RESP? {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AUTH app x\r\n")
        _ = r.next()
        c.send("PUBLISH jobs x\r\n")
        return r.next()
    }

    /// An operator registers `weather` for `app` and suspends it; app's
    /// publish is refused by the kernel (ACL LOG, reason license), and
    /// watchman records it as a violation of weather, once.
    @Test func aPublishRefusedForASuspendedLicenceIsAViolation() throws {
        let server = try start("    interval: 200ms")
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        guard case .ok = try civic(server, "suspend", ["agent": "weather", "reason": "flood", "authority": ["operator": true]]) else {
            throw TestFailure("suspend failed")
        }
        try waitFor("the kernel refusing app's publish", server) {
            if case .error(let m)? = try publish(server) { return m.contains("is suspended (flood)") }
            return false
        }
        try waitFor("a violation", server) { try !events(server, "violation").isEmpty }
        let v = try events(server, "violation")
        #expect(v.first?["kind"] == "refused_while_suspended" && v.first?["agent"] == "weather" && v.first?["user"] == "app"
                && v.first?["_publisher"] == nil)
        #expect(v.first?["detail"]?.contains("jobs") == true)
        #expect(try events(server, "decision").first?["action"] == "warn")
        guard case .ok(let report) = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "anyone"))
            .request(agent: "watchman", action: "report", args: ["agent": "weather"], timeout: 20) else { throw TestFailure("report failed") }
        #expect(report["violations"]?.array?.first?["kind"] == "refused_while_suspended")
    }

    /// civic takes tasks of at most 200 bytes (`system.civic.max_task_bytes`):
    /// app's task to civic of 201 bytes is dead-lettered unparsed, reason
    /// `oversized: …`, and watchman records an `oversized` violation of
    /// app's agent (its own kind, not `malformed`), followed by a warning.
    @Test func anOversizedTaskToASystemAgentIsAnOversizedViolation() throws {
        let server = try start("    interval: 200ms\n  civic:\n    max_task_bytes: 200")
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AUTH app x\r\n")
        _ = r.next()
        let big = #"{"id":"big","action":"check_license","args":{"agent":"weather","pad":""# + String(repeating: "x", count: 128) + #""}}"#
        #expect(big.utf8.count == 201)
        c.send(RawClient.command(["PUBLISH", "tasks.civic", big]))
        _ = r.next()
        try waitFor("a violation", server) { try !events(server, "violation").isEmpty }
        let v = try events(server, "violation")
        #expect(v.count == 1 && v.first?["kind"] == "oversized" && v.first?["agent"] == "weather" && v.first?["user"] == "app", "\(v)")
        #expect(v.first?["detail"]?.contains("oversized: the task is 201 bytes, over the agent's max_task_bytes (200)") == true, "\(v)")
        try waitFor("a decision", server) { try !events(server, "decision").isEmpty }
        #expect(try events(server, "decision").first?["action"] == "warn")
        let dead = try streamFields(server, "dead.civic")
        #expect(dead.count == 1 && dead.first?[7].hasPrefix("oversized: ") == true, "\(dead)")
    }

    /// app sends three malformed tasks to civic (three dead letters):
    /// watchman warns twice, decides to suspend weather at the third,
    /// civic suspends it on that decision's authority, and the kernel then
    /// refuses app's publishes.
    @Test func threeMalformedTasksSuspendTheAgentThroughCivic() throws {
        let server = try start("    interval: 200ms\n    suspend_after: 3", auditor: true)
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        #expect(try publish(server) == .integer(0), "an active licence publishes")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AUTH app x\r\n")
        _ = r.next()
        for i in 0..<3 {
            c.send("PUBLISH tasks.civic not-json-\(i)\r\n")
            _ = r.next()
        }
        try waitFor("three violations and a suspend decision", server) {
            try events(server, "violation").count == 3 && events(server, "decision").contains { $0["action"] == "suspend" }
        }
        let v = try events(server, "violation")
        #expect(v.allSatisfy { $0["kind"] == "malformed" && $0["agent"] == "weather" && $0["user"] == "app" })
        #expect(try events(server, "decision").map { $0["action"] ?? "" } == ["warn", "warn", "suspend"])
        try waitFor("the enforcement", server) { try !events(server, "enforced").isEmpty }
        #expect(try events(server, "enforced").first?["ok"] == "true")
        guard case .ok(let licence) = try civic(server, "check_license", ["agent": "weather"]) else { throw TestFailure("check_license failed") }
        #expect(licence["state"] == "suspended")
        try waitFor("the kernel refusing app's publish", server) {
            if case .error(let m)? = try publish(server) { return m.contains("is suspended") }
            return false
        }
        #expect(try events(server, "enforced").count == 1, "enforced once")
        // The suspension on watchman's decision keeps auditor's invariants.
        let audit = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "operator"))
            .request(agent: "auditor", action: "check_streams", timeout: 30)
        guard case .ok(let report) = audit else { throw TestFailure("check_streams: \(audit)") }
        #expect(report["critical"] == 0 && report["streams"]?["unchecked"] == [], "\(report)")
    }
}

extension WatchmanWireTests {
    /// With science on and `max_publish_rate: 1`, app appending 100
    /// entries within a minute is over 60 in 60 s: watchman records a
    /// `rate` violation of its agent, from science's counts.
    @Test func aPublisherOverTheRateIsAViolation() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
              oracle: {enabled: false}
              archivist: {enabled: false}
              engineer: {enabled: false}
              auditor: {enabled: false}
              scribe: {enabled: false}
              supreme_court: {enabled: false}
              forum: {enabled: false}
              herald: {enabled: false}
              science:
                poll_interval: 100ms
              watchman:
                interval: 200ms
                max_publish_rate: 1
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "watchman", "science"] where !server.waitForLog("as agent \(agent)", timeout: 30) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(3000))")
        }
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AUTH app x\r\n")
        _ = r.next()
        for i in 0..<100 {
            c.send("XADD readings * n \(i)\r\n")
            _ = r.next()
        }
        try waitFor("a rate violation", server, timeout: 60) { try events(server, "violation").contains { $0["kind"] == "rate" } }
        let v = try events(server, "violation").filter { $0["kind"] == "rate" }
        #expect(v.count == 1 && v.first?["agent"] == "weather" && v.first?["user"] == "app")
        #expect(v.first?["detail"]?.hasSuffix(" s, over 1/s") == true && v.first?["detail"]?.hasPrefix("100 messages in ") == true, "\(v)")
    }
}

extension WatchmanWireTests {
    /// `weather`, declared to run as `app` with a 300 ms ack_wait and
    /// registered with civic, takes a task and never answers it: each
    /// ack_wait that runs out is counted by the kernel (AGENTS's
    /// `expired`), every second expiry is an `ack_wait` violation of
    /// weather, the second violation a suspend decision that civic
    /// enforces, and the kernel then refuses app's publishes.
    @Test func anAgentThatKeepsHoldingTasksPastAckWaitIsSuspendedThroughCivic() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            agents:
              - id: weather
                subscribes: ["tasks.weather"]
                user: app
                ack_wait: 300ms
                max_deliver: 1000
            system:
            \(Self.quiet)
              watchman:
                interval: 200ms
                ack_wait_after: 2
                suspend_after: 2
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "watchman"] where !server.waitForLog("as agent \(agent)", timeout: 30) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(3000))")
        }
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        let instance = try RawClient(port: server.port)
        let r = RESPReader(instance)
        instance.send("AUTH app x\r\nAGENT JOIN weather\r\n")
        #expect(r.next() == .simple("OK") && r.next() == .simple("OK"))
        let operator_ = try RawClient(port: server.port)
        operator_.send("PUBLISH tasks.weather hold-me\r\n")
        guard case .integer? = RESPReader(operator_).next() else { throw TestFailure("the task was not published") }
        #expect(try #require(r.next(timeout: 10)?.task).payload == "hold-me")

        try waitFor("two ack_wait violations and a suspend decision", server, timeout: 60) {
            try events(server, "violation").filter { $0["kind"] == "ack_wait" }.count >= 2
                && events(server, "decision").contains { $0["action"] == "suspend" }
        }
        let v = try events(server, "violation")
        #expect(v.allSatisfy { $0["kind"] == "ack_wait" && $0["agent"] == "weather" && $0["user"] == "app" }, "\(v)")
        // Keyed by the kernel's run and the multiple: the 2nd expiry, then the 4th.
        let all = try streamFields(server, "events.watchman")
        operator_.send("INFO server\r\n")
        guard case .bulk(let info)? = RESPReader(operator_).next(),
              let run = info.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("run_id:") })?.dropFirst(7) else {
            throw TestFailure("INFO server has no run_id")
        }
        #expect(v.prefix(2).map { $0["key"] ?? "" } == ["ack_wait:weather:\(run):1", "ack_wait:weather:\(run):2"],
                "\(all)\n\(server.log.suffix(4000))")
        #expect(v.first?["detail"] == "2 tasks of agent weather held past ack_wait since the kernel started (a violation every 2)")
        #expect(try events(server, "decision").prefix(2).map { $0["action"] ?? "" } == ["warn", "suspend"])
        try waitFor("the enforcement", server) { try !events(server, "enforced").isEmpty }
        #expect(try events(server, "enforced").first?["ok"] == "true")
        guard case .ok(let licence) = try civic(server, "check_license", ["agent": "weather"]) else { throw TestFailure("check_license failed") }
        #expect(licence["state"] == "suspended")
        try waitFor("the kernel refusing app's publish", server) {
            if case .error(let m)? = try publish(server) { return m.contains("is suspended") }
            return false
        }
    }
}


extension WatchmanWireTests {
    /// A sight whose `observe` finds civic not answering records nothing
    /// (`unavailable`); it is not lost: watchman publishes it again once
    /// civic answers. civic is stopped (SIGSTOP) while app's malformed task
    /// to envoy is dead-lettered; the first observe times out; civic is let
    /// go on (SIGCONT), and the violation is recorded, once.
    @Test func aSightCivicDidNotAnswerIsObservedAgainOnceCivicAnswers() throws {
        let server = try start("    interval: 200ms")
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        #expect(server.waitForLog("as agent envoy", timeout: 30))
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"civic\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        #expect(kill(pid, SIGSTOP) == 0)
        var stopped = true
        defer { if stopped { kill(pid, SIGCONT) } }
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("AUTH app x\r\n")
        _ = r.next()
        c.send("PUBLISH tasks.envoy not-json\r\n")
        _ = r.next()
        try waitFor("envoy's dead letter", server) { try !streamFields(server, "dead.envoy").isEmpty }
        // watchman's observe of it asked civic and gave up after civic's timeout: nothing recorded.
        try waitFor("an observe answered without civic", server, timeout: 40) {
            server.logLines.contains { $0.contains("action=observe") && $0.contains("dead:envoy:") && $0.contains("events=0") }
        }
        #expect(try events(server, "violation").isEmpty)
        #expect(kill(pid, SIGCONT) == 0)
        stopped = false
        try waitFor("the violation recorded once civic answers", server, timeout: 60) { try !events(server, "violation").isEmpty }
        let v = try events(server, "violation")
        #expect(v.count == 1 && v.first?["kind"] == "malformed" && v.first?["agent"] == "weather" && v.first?["user"] == "app", "\(v)")
        #expect(v.first?["key"]?.hasPrefix("dead:envoy:") == true)
        #expect(try events(server, "decision").map { $0["action"] ?? "" } == ["warn"])
    }
}

extension WatchmanWireTests {
    /// app's own `publish_rate` (10 a second, Protocol/PROTOCOL.md 4.2):
    /// 200 pipelined publishes make the kernel pause its publishers
    /// (INFO users' publish_pauses), and watchman records a `rate`
    /// violation of its agent from that counter (science is off here).
    @Test func aUserPausedAtItsOwnPublishLimitIsAViolation() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
                limits: {publish_rate: 10}
            system:
            \(Self.quiet)
              watchman:
                interval: 200ms
            """, logLevel: "info", systemAgents: true)
        for agent in ["civic", "watchman"] where !server.waitForLog("as agent \(agent)", timeout: 30) {
            throw TestFailure("\(agent) did not join; log:\n\(server.log.suffix(3000))")
        }
        guard case .ok = try civic(server, "register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }
        let c = try RawClient(port: server.port, timeout: 60)
        c.send("AUTH app x\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        c.send(String(repeating: RawClient.command(["PUBLISH", "jobs", "x"]), count: 200))
        try waitFor("a rate violation from the kernel's pauses", server) { try !events(server, "violation").isEmpty }
        let v = try events(server, "violation")
        #expect(v.count == 1 && v.first?["kind"] == "rate" && v.first?["agent"] == "weather" && v.first?["user"] == "app", "\(v)")
        #expect(v.first?["key"]?.hasPrefix("limit:app:") == true && v.first?["detail"]?.contains("publish_rate") == true, "\(v)")
        #expect(try events(server, "decision").first?["action"] == "warn")
    }
}
