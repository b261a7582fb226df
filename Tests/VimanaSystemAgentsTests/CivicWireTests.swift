import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// civic as `vimana serve` wires it: the real `vimana agent civic` process,
/// whose licences the kernel enforces on the licensed user's own connection.
@Suite struct CivicWireTests {
    func start() throws -> ServerProcess {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            system:
              civic:
                grant: 50
            """, logLevel: "info", systemAgents: true)
        if !server.waitForLog("as agent civic", timeout: 30) {
            throw TestFailure("civic did not join; log:\n\(server.log.suffix(3000))")
        }
        return server
    }

    /// Asks civic as `default` (an operator) or as alice.
    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:], asAlice: Bool = false) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test", user: asAlice ? "alice" : nil,
                                                   password: asAlice ? "alice-pw" : nil))
            .request(agent: "civic", action: action, args: args, timeout: 10)
    }

    /// Alice's PUBLISH to `topic` on her one open connection, until its reply is `expected` (the mirror's work takes a moment).
    func waitForPublish(_ alice: RawClient, _ topic: String, _ expected: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(15)
        var last = ""
        while Date() < deadline {
            alice.send(command: "PUBLISH", topic, "hello")
            last = alice.readReplies()
            if expected(last) { return last }
            usleep(20_000)
        }
        return last
    }

    func license(_ server: ServerProcess, _ user: String) throws -> String {
        let c = try RawClient(port: server.port)
        c.send(command: "LICENSE", "GET", user)
        return c.readReplies()
    }

    @Test func aSuspensionReachesTheKernelAtOnceAndARestartedCivicTellsItAgain() throws {
        let server = try start()
        let alice = try RawClient(port: server.port)
        alice.send(command: "AUTH", "alice", "alice-pw")
        #expect(alice.readReplies() == "+OK\r\n")

        // Registered by an operator (default) for alice: licensed, granted.
        guard case .ok(let r) = try ask(server, "register", ["agent": "billing", "user": "alice", "description": "bills"]) else {
            Issue.record("register refused"); return
        }
        #expect(r["user"] == "alice" && r["state"] == "active" && r["balance"] == 50)
        // Alice may not register another agent for herself, nor suspend anyone.
        if case .error(let code, _) = try ask(server, "register", ["agent": "more"], asAlice: true) { #expect(code == "exists") } else {
            Issue.record("a second agent for alice was registered")
        }
        if case .error(let code, _) = try ask(server, "suspend", ["agent": "billing", "reason": "x", "authority": ["operator": true]],
                                                asAlice: true) {
            #expect(code == "unauthorized")
        } else { Issue.record("alice suspended herself") }
        #expect(waitForPublish(alice, "news") { $0 == ":0\r\n" } == ":0\r\n")

        // Suspended: her open connection is refused everywhere but the court.
        let s = try ask(server, "suspend", ["agent": "billing", "reason": "flooding", "authority": ["operator": true]])
        #expect(s == .ok(["agent": "billing", "user": "alice", "state": "suspended", "changed": true]))
        let refusal = "-NOPERM user 'alice' is suspended (flooding): it may publish only to tasks.supreme_court\r\n"
        #expect(waitForPublish(alice, "news") { $0 == refusal } == refusal)
        alice.send(command: "PUBLISH", "tasks.supreme_court", "appeal")
        #expect(alice.readReplies() == ":0\r\n")
        if case .ok(let check) = try ask(server, "check_license", ["user": "alice"]) {
            #expect(check["state"] == "suspended" && check["licensed"] == 0)
        } else { Issue.record("check_license refused") }

        // The kernel is told otherwise behind civic's back; a new civic
        // process tells it again what civic's events say.
        let admin = try RawClient(port: server.port)
        admin.send(command: "LICENSE", "SET", "alice", "ACTIVE")
        #expect(admin.readReplies() == "+OK\r\n")
        #expect(waitForPublish(alice, "news") { $0 == ":0\r\n" } == ":0\r\n")
        admin.send(command: "AGENT", "RESTART", "civic")
        #expect(admin.readReplies() == "+OK\r\n")
        #expect(waitForPublish(alice, "news") { $0 == refusal } == refusal)
        #expect(try license(server, "alice").contains("suspended"))
    }

    @Test func creditsAreChargedOnlyByTheAgentsWhoseActsCostThem() throws {
        let server = try start()
        _ = try ask(server, "register", ["agent": "billing", "user": "alice"])
        // default is an operator, not herald or forum: it may grant, not charge.
        if case .error(let code, _) = try ask(server, "charge", ["agent": "billing", "amount": 1]) { #expect(code == "forbidden") } else {
            Issue.record("an operator charged")
        }
        #expect(try ask(server, "grant", ["agent": "billing", "amount": 25, "reason": "bonus"])
                == .ok(["account": "billing", "balance": 75, "supply": 75]))
        #expect(try ask(server, "get_balance", ["agent": "billing"], asAlice: true) == .ok(["account": "billing", "balance": 75, "supply": 75]))
        // The events carry the double entries: the auditor's stream check finds nothing wrong.
        let audit = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "auditor", action: "check_streams", timeout: 30)
        guard case .ok(let report) = audit else { Issue.record("check_streams: \(audit)"); return }
        #expect(report["critical"] == 0, "\(report)")
    }
}
