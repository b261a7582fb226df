import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// forum as `vimana serve` wires it: the real `vimana agent forum`
/// process with its timer, asked over the bus. civic is either the real
/// one, or (to make it slow, count what it is asked, or say how many are
/// licensed) played by an external agent `civic` declared in the file
/// (the system agent civic, disabled, leaves it its id) and joined by this
/// test, answering charge, check_license, get_registry and transfer as
/// civic's contract says (docs/SYSTEM-AGENTS.md, "civic").
@Suite struct ForumWireTests {
    /// The stand-in civic: how many agents it says are licensed, and every task it got.
    final class Civic: @unchecked Sendable {
        private let lock = NSLock()
        private var count: Int64 = 1
        private var got: [JSON] = []
        private var dropping = 0
        /// The next `n` transfers are taken and acknowledged, never answered.
        func drop(_ n: Int) { lock.withLock { dropping = n } }
        func dropsThis() -> Bool {
            lock.withLock {
                guard dropping > 0 else { return false }
                dropping -= 1
                return true
            }
        }
        var licensed: Int64 {
            get { lock.withLock { count } }
            set { lock.withLock { count = newValue } }
        }
        var tasks: [JSON] { lock.withLock { got } }
        func took(_ task: JSON) { lock.withLock { got.append(task) } }
    }

    func start() throws -> (ServerProcess, Civic) {
        let server = try ServerProcess(config: """
            agents:
              - id: civic
                description: stands in for civic
                subscribes: ["tasks.civic"]
                user: default
            system:
              civic:
                enabled: false
              forum:
                proposal_cost: 10
                voting_period: 2s
            """, logLevel: "info", systemAgents: true)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !server.logLines.contains(where: { $0.contains("as agent forum ") }) { usleep(20_000) }
        guard server.logLines.contains(where: { $0.contains("as agent forum ") }) else {
            throw TestFailure("forum did not join; log:\n\(server.log.suffix(3000))")
        }
        let civic = Civic()
        let client = try RawClient(port: server.port)
        let pushes = RESPReader(client)
        client.send("AGENT JOIN civic\r\n")
        guard pushes.next()?.description == "+OK" else { throw TestFailure("civic could not join") }
        let io = Unchecked((client: client, reader: pushes))
        Thread {
            let (client, pushes) = io.value
            while let task = pushes.next(timeout: 60, where: { $0.strings.first == "task" })?.strings, task.count >= 5,
                  let body = JSON.parse(task[4]), let replyTo = body["reply_to"]?.string, let id = body["id"] {
                civic.took(body)
                let args = body["args"] ?? [:]
                let result: JSON
                switch body["action"]?.string {
                case "charge", "check_license":
                    result = ["agent": "a1", "user": args["user"] ?? "", "state": "active", "reason": "", "balance": 90,
                              "licensed": .int(civic.licensed)]
                case "get_registry":
                    result = ["agents": [], "licensed": .int(civic.licensed), "supply": 100]
                default:  // transfer
                    if civic.dropsThis() {
                        client.send(RawClient.command(["ACK", "tasks.civic", task[2]]))
                        continue
                    }
                    result = ["from": args["from"] ?? "", "to": args["to"] ?? "", "amount": args["amount"] ?? 0]
                }
                client.send(RawClient.command(["PUBLISH", replyTo, JSON.object(["id": id, "ok": true, "result": result]).text]))
                client.send(RawClient.command(["ACK", "tasks.civic", task[2]]))
            }
        }.start()
        return (server, civic)
    }

    /// Publishes `task` to `topic` as `user` and returns the reply read on `r.forum`.
    func ask(_ server: ServerProcess, _ task: JSON, topic: String = "tasks.forum", as user: String? = nil) throws -> JSON {
        let sub = try RawClient(port: server.port)
        let replies = RESPReader(sub)
        sub.send("SUBSCRIBE r.forum\r\n")
        _ = replies.next()
        let c = try RawClient(port: server.port)
        if let user {
            c.send("AUTH \(user) x\r\n")
            guard c.readReplies(1) == "+OK\r\n" else { throw TestFailure("AUTH \(user) was refused") }
        }
        c.send(RawClient.command(["PUBLISH", topic, task.text]))
        guard let m = replies.next(timeout: 20)?.strings, m.count == 3, let body = JSON.parse(m[2]) else {
            throw TestFailure("no reply to \(task.text)")
        }
        return body
    }

    /// events.forum as `[type, {field: value}]`, each with its publisher.
    func events(_ server: ServerProcess) throws -> [(type: String, data: [String: String])] {
        try streamFields(server, "events.forum", publisher: true).map { fields in
            var d: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count { d[fields[i]] = fields[i + 1]; i += 2 }
            return (d["type"] ?? "", d)
        }
    }

    func waitFor(_ server: ServerProcess, _ what: String, seconds: Double = 20,
                 _ holds: ([(type: String, data: [String: String])]) -> Bool) throws -> [(type: String, data: [String: String])] {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try events(server)
        while Date() < deadline && !holds(last) {
            usleep(50_000)
            last = try events(server)
        }
        guard holds(last) else { throw TestFailure("\(what): events.forum is \(last.map { "\($0.type) \($0.data)" })") }
        return last
    }

    static let transfer: JSON = ["agent": "civic", "action": "transfer", "args": ["from": "treasury", "to": "a1", "amount": 5]]

    /// A proposal is charged, voted by the only licensed agent (decided at
    /// once), executed by forum's timer with the proposal as authority, and
    /// recorded; the same vote task published twice is applied once; a
    /// second proposal is closed by the timer at its deadline; only forum
    /// may close.
    @Test func aProposalIsChargedVotedDecidedAndExecutedAndTheDeadlineClosesAnother() throws {
        let (server, civic) = try start()
        let created = try ask(server, ["action": "create_proposal", "id": "c1", "reply_to": "r.forum",
                                       "args": ["title": "pay a1", "action": Self.transfer]])
        #expect(created["ok"] == true && created["result"]?["proposal"] == "p-1", "\(created)")
        #expect(civic.tasks.first?["action"] == "charge"
                && civic.tasks.first?["args"] == ["user": "default", "amount": 10, "reason": "proposal: pay a1"], "\(civic.tasks)")

        let vote: JSON = ["action": "vote", "id": "v1", "reply_to": "r.forum", "args": ["proposal": "p-1", "choice": "yes"]]
        let voted = try ask(server, vote)
        #expect(voted["result"]?["outcome"] == "approved" && voted["result"]?["agent"] == "a1", "\(voted)")
        // The same task again: answered as the first time, applied once.
        #expect(try ask(server, vote) == voted)

        let executed = try waitFor(server, "p-1 executed") { $0.contains { $0.type == "executed" } }
        #expect(executed.map(\.type) == ["opened", "voted", "decided", "executed"])
        #expect(executed.allSatisfy { $0.data["_publisher"] == "agent:forum" })
        #expect(executed[2].data["outcome"] == "approved" && executed[2].data["licensed"] == "1")
        #expect(executed[3].data["ok"] == "true" && executed[3].data["result"] == #"{"amount":5,"from":"treasury","to":"a1"}"#)
        let transfers = civic.tasks.filter { $0["action"] == "transfer" }
        #expect(transfers.count == 1 && transfers.first?["args"]
                == ["from": "treasury", "to": "a1", "amount": 5, "authority": ["proposal": "p-1"]], "\(civic.tasks)")
        let got = try ask(server, ["action": "get_proposal", "id": "g1", "reply_to": "r.forum", "args": ["proposal": "p-1"]])
        #expect(got["result"]?["execution"] == ["ok": true, "result": ["amount": 5, "from": "treasury", "to": "a1"]], "\(got)")

        // Three licensed, one yes: open until the deadline, then no quorum.
        civic.licensed = 3
        let second = try ask(server, ["action": "create_proposal", "id": "c2", "reply_to": "r.forum",
                                      "args": ["title": "again", "action": Self.transfer]])
        #expect(second["result"]?["proposal"] == "p-2", "\(second)")
        let early = try ask(server, ["action": "vote", "id": "v2", "reply_to": "r.forum", "args": ["proposal": "p-2", "choice": "yes"]])
        #expect(early["result"]?["state"] == "open", "\(early)")
        let forged = try ask(server, ["action": "close", "id": "x1", "reply_to": "r.forum", "args": ["proposal": "p-2"]])
        #expect(forged["error"]?["code"] == "forbidden", "\(forged)")
        let closed = try waitFor(server, "p-2 closed") { $0.contains { $0.type == "decided" && $0.data["proposal"] == "p-2" } }
        #expect(closed.last?.data["outcome"] == "no_quorum" && closed.last?.data["licensed"] == "3")
        #expect(civic.tasks.contains { $0["action"] == "get_registry" })
        let listed = try ask(server, ["action": "list_proposals", "id": "l1", "reply_to": "r.forum", "args": ["state": "decided"]])
        #expect(listed["result"]?["total"] == 2, "\(listed)")
        #expect(civic.tasks.filter { $0["action"] == "transfer" }.count == 1, "a proposal without quorum is not executed")
    }

    /// An execution is not lost when forum dies while its target has not
    /// answered: the restarted forum's timer publishes execute again at once,
    /// the transfer is asked again and recorded once.
    @Test func anExecutionSurvivesKillNineOfForumWhileTheTargetIsSilent() throws {
        let (server, civic) = try start()
        civic.drop(1)
        let created = try ask(server, ["action": "create_proposal", "id": "c1", "reply_to": "r.forum",
                                       "args": ["title": "pay a1", "action": Self.transfer]])
        #expect(created["result"]?["proposal"] == "p-1", "\(created)")
        let voted = try ask(server, ["action": "vote", "id": "v1", "reply_to": "r.forum", "args": ["proposal": "p-1", "choice": "yes"]])
        #expect(voted["result"]?["outcome"] == "approved", "\(voted)")
        // The first transfer reached civic and is unanswered: forum waits (10 s) on it. Kill it then.
        var deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !civic.tasks.contains(where: { $0["action"] == "transfer" }) { usleep(20_000) }
        #expect(civic.tasks.contains { $0["action"] == "transfer" })
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"forum\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && kill(pid, 0) == 0 { usleep(20_000) }
        // Within 8 s: sooner than the killed forum's own ask (10 s) could have timed out.
        let executed = try waitFor(server, "p-1 executed after the restart", seconds: 8) { $0.contains { $0.type == "executed" } }
        #expect(executed.filter { $0.type == "executed" }.count == 1 && executed.last?.data["ok"] == "true")
        #expect(civic.tasks.filter { $0["action"] == "transfer" }.count >= 2, "asked again after the restart")
        #expect(server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"forum\"") }.count == 2)
    }

    /// With the real civic (`vimana serve`'s): two agents registered by the
    /// operator `default` for alice and bob; alice's proposal to transfer
    /// treasury credits to bob's agent costs her 10, stays open after her
    /// vote (two licensed), is decided by bob's, and is executed by forum
    /// with the proposal as civic's authority: the credits move once.
    @Test func withTheRealCivicAProposedTransferIsVotedAndExecuted() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
              - name: bob
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            """, logLevel: "info", systemAgents: true)
        let deadline = Date().addingTimeInterval(30)
        func joined(_ id: String) -> Bool { server.logLines.contains { $0.contains("as agent \(id) ") } }
        while Date() < deadline && !(joined("forum") && joined("civic")) { usleep(20_000) }
        guard joined("forum") && joined("civic") else { throw TestFailure("forum and civic did not join; log:\n\(server.log.suffix(3000))") }
        func civic(_ action: String, _ args: JSON, _ id: String) throws -> JSON {
            try ask(server, ["action": .string(action), "id": .string(id), "reply_to": "r.forum", "args": args], topic: "tasks.civic")
        }
        #expect(try civic("register", ["agent": "a1", "user": "alice"], "reg1")["ok"] == true)
        #expect(try civic("register", ["agent": "a2", "user": "bob"], "reg2")["ok"] == true)
        let transfer: JSON = ["agent": "civic", "action": "transfer", "args": ["from": "treasury", "to": "a2", "amount": 4]]
        let created = try ask(server, ["action": "create_proposal", "id": "c1", "reply_to": "r.forum",
                                       "args": ["title": "pay a2", "action": transfer]], as: "alice")
        #expect(created["result"]?["proposal"] == "p-1", "\(created)")
        let first = try ask(server, ["action": "vote", "id": "v1", "reply_to": "r.forum",
                                     "args": ["proposal": "p-1", "choice": "yes"]], as: "alice")
        #expect(first["result"]?["state"] == "open" && first["result"]?["agent"] == "a1", "\(first)")
        let second = try ask(server, ["action": "vote", "id": "v2", "reply_to": "r.forum",
                                      "args": ["proposal": "p-1", "choice": "yes"]], as: "bob")
        #expect(second["result"]?["outcome"] == "approved" && second["result"]?["licensed"] == 2, "\(second)")
        let executed = try waitFor(server, "p-1 executed") { $0.contains { $0.type == "executed" } }
        #expect(executed.last?.data["ok"] == "true", "\(executed.map(\.data))")
        #expect(try civic("get_balance", ["agent": "a1"], "b1")["result"]?["balance"] == 90)
        #expect(try civic("get_balance", ["agent": "a2"], "b2")["result"]?["balance"] == 104)
        #expect(try civic("get_balance", ["agent": "treasury"], "b3")["result"]?["balance"] == 6)
        let late = try ask(server, ["action": "vote", "id": "v3", "reply_to": "r.forum",
                                    "args": ["proposal": "p-1", "choice": "no"]], as: "bob")
        #expect(late["error"]?["code"] == "closed", "\(late)")
        let stranger = try ask(server, ["action": "create_proposal", "id": "c2", "reply_to": "r.forum",
                                        "args": ["title": "x", "action": transfer]])
        #expect(stranger["error"]?["code"] == "not_licensed", "the operator itself holds no agent: \(stranger)")
        // What forum and civic recorded keeps auditor's invariants: the
        // proposal's lifecycle, the transfer on its authority, credits.
        let audit = try ask(server, ["action": "check_streams", "id": "audit-1", "reply_to": "r.forum"], topic: "tasks.auditor")
        #expect(audit["result"]?["status"] == "ok" && audit["result"]?["streams"]?["unchecked"] == [], "\(audit)")
    }
}
