import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// herald as `vimana serve` wires it: the real `vimana agent herald`
/// process, its announcements of discovery's events on
/// broadcast.announcements (each entry once, across a kill -9 of herald),
/// and its own user's `announce` only.
@Suite struct HeraldWireTests {
    /// The system agents herald does not need are off: fewer processes on a shared machine.
    static let quiet = """
          oracle: {enabled: false}
          archivist: {enabled: false}
          engineer: {enabled: false}
          science: {enabled: false}
          auditor: {enabled: false}
          scribe: {enabled: false}
        """

    func start(_ extra: String = "") throws -> ServerProcess {
        try ServerProcess(config: "system:\n" + Self.quiet + "\n" + extra, logLevel: "info", systemAgents: true)
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent herald "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("herald did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "herald", action: action, args: args, timeout: 20)
    }

    /// The announcements recorded on broadcast.announcements, as JSON.
    func announcements(_ server: ServerProcess) throws -> [JSON] {
        try streamFields(server, "broadcast.announcements").compactMap { f in f.count == 2 ? JSON.parse(f[1]) : nil }
    }

    /// discovery's own entries that herald announces, by entry ID.
    func announceable(_ server: ServerProcess) throws -> [String] {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("CLIENT PUBLISHER ON\r\n")
        _ = r.next()
        c.send("XRANGE events.discovery - +\r\n")
        guard case .array(let entries)? = r.next() else { return [] }
        return entries.compactMap { e -> String? in
            guard case .array(let pair) = e, pair.count == 2, case .bulk(let id) = pair[0] else { return nil }
            let flat = pair[1].strings
            let fields = stride(from: 0, to: flat.count - 1, by: 2).map { (flat[$0], flat[$0 + 1]) }
            var data: [String: String] = [:]
            for (k, v) in fields { data[k] = v }
            guard data["_publisher"] == "agent:discovery", let type = data["type"],
                  HeraldLogic.kind(source: "events.discovery", type: type, fields: data) != nil else { return nil }
            return id
        }
    }

    /// Waits until every announceable entry of discovery's is announced; the announcements then.
    func waitUntilAnnounced(_ server: ServerProcess) throws -> [JSON] {
        let deadline = Date().addingTimeInterval(30)
        var seen: [JSON] = []
        var wanted: [String] = []
        while Date() < deadline {
            wanted = try announceable(server)
            seen = try announcements(server)
            let entries = Set(seen.compactMap { $0["entry"]?.string })
            if !wanted.isEmpty && wanted.allSatisfy(entries.contains) { return seen }
            usleep(50_000)
        }
        throw TestFailure("not every entry was announced: wanted \(wanted), seen \(seen.map(\.text)); log:\n\(server.log.suffix(3000))")
    }

    @Test func discoverysEventsAreAnnouncedOnceAcrossAKillOfHerald() throws {
        let server = try start()
        try waitForJoins(server, 1)
        // herald's own join among them, with discovery's fields (discovery
        // observes it within its poll: wait for it, not for a moment).
        func heraldJoined(_ seen: [JSON]) -> Bool {
            seen.contains { $0["kind"]?.string == "agent_joined" && $0["event"]?["agent"]?.string == "herald"
                && $0["source"]?.string == "events.discovery" && $0["id"]?.string != nil }
        }
        var first = try waitUntilAnnounced(server)
        let joinDeadline = Date().addingTimeInterval(30)
        while !heraldJoined(first) && Date() < joinDeadline {
            usleep(50_000)
            first = try waitUntilAnnounced(server)
        }
        #expect(heraldJoined(first), "\(first.map(\.text))")

        // kill -9: the kernel restarts it; its watcher resumes after the last entry announced.
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"herald\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        try waitForJoins(server, 2)
        // discovery saw herald fail and join again: those are announced too, and nothing twice.
        let deadline = Date().addingTimeInterval(30)
        var all = try waitUntilAnnounced(server)
        while Date() < deadline && all.count <= first.count {
            usleep(50_000)
            all = try waitUntilAnnounced(server)
        }
        #expect(all.count > first.count, "herald's return was not announced: \(all.map(\.text))")
        let keys = all.map { ($0["source"]?.string ?? "") + " " + ($0["entry"]?.string ?? "") }
        #expect(Set(keys).count == keys.count, "an entry was announced twice: \(keys)")
        #expect(Array(all.prefix(first.count)).map(\.text) == first.map(\.text))
        // herald's count and cursor agree with the stream. Discovery may still
        // be observing (another agent's join): read until one reading of the
        // status and the stream agree, then check nothing came twice.
        let agreeDeadline = Date().addingTimeInterval(30)
        var status = JSON.null
        repeat {
            guard case .ok(let now) = try ask(server, "status") else { throw TestFailure("status failed") }
            status = now
            all = try announcements(server)
            if status["announcements"]?.int == Int64(all.count)
                && status["cursors"]?["events.discovery"]?.string == all.last?["entry"]?.string { break }
            usleep(50_000)
        } while Date() < agreeDeadline
        #expect(status["announcements"]?.int == Int64(all.count) && status["cursors"]?["events.discovery"]?.string == all.last?["entry"]?.string,
                "\(status.text) against \(all.map(\.text))")
        let after = all.map { ($0["source"]?.string ?? "") + " " + ($0["entry"]?.string ?? "") }
        #expect(Set(after).count == after.count, "an entry was announced twice: \(after)")
    }

    @Test func onlyHeraldsOwnWatcherMayAnnounce() throws {
        let server = try start()
        try waitForJoins(server, 1)
        let forged: [String: JSON] = ["source": "events.civic", "entry": "1-0", "kind": "suspended", "event": ["agent": "victim"]]
        #expect(try ask(server, "announce", forged)
                == .error(code: "forbidden", message: "only herald's own watcher may announce (user 'default' may not)"))
        #expect(try ask(server, "fly") == .error(code: "unknown_action", message: "unknown action 'fly' (publish, status)"))
        // A bad broadcast is refused before civic is asked.
        #expect(try ask(server, "publish", ["channel": "announcements", "content": "x"])
                == .error(code: "forbidden", message: "broadcast.announcements is herald's own: its announcements"))
        #expect(try announcements(server).allSatisfy { $0["event"]?["agent"]?.string != "victim" })
    }
}

/// A stand-in for civic's `charge` (docs/SYSTEM-AGENTS.md, civic), run in
/// the test process as `agent:civic` (the system agent civic disabled):
/// user `app` holds agent `weather` with 100 credits, `sus`'s agent is
/// suspended (which the real civic would also tell the kernel, which would
/// then refuse sus's task before herald saw it), any other user has none.
struct FakeCivic: AgentLogic {
    var initialState: Int64 { 100 }
    func apply(_ event: AgentEvent, to state: inout Int64) { state -= Int64(event.data["amount"] ?? "") ?? 0 }
    func handle(_ request: AgentRequest, caller: String, state: Int64) -> AgentOutcome {
        guard request.action == "charge", caller == "agent:herald", let user = request.args["user"]?.string,
              let amount = request.args["amount"]?.int else { return .error("forbidden", "not herald's charge") }
        switch user {
        case "app":
            guard amount <= state else { return .error("insufficient_credits", "agent 'weather' has \(state), the cost is \(amount)") }
            return .ok(["agent": "weather", "user": "app", "state": "active", "balance": .int(state - amount), "charged": .int(amount)],
                       events: [AgentEvent("charged", ["agent": "weather", "amount": String(amount)])])
        case "sus": return .error("not_licensed", "agent 'sus' is suspended (flood)")
        default: return .error("not_found", "user '\(user)' has no registered agent")
        }
    }
}

extension HeraldWireTests {
    /// publish through the real bus against a stand-in civic, for the
    /// refusals the real one cannot show here: herald asks civic to
    /// charge, then publishes the broadcast to broadcast.<channel> before
    /// its reply; civic's refusals (not_licensed among them) reach the
    /// caller and broadcast nothing.
    @Test func aChargedBroadcastIsPublishedAndCivicsRefusalsPassThrough() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
              - name: sus
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            agents:
              - id: civic
                subscribes: ["tasks.civic"]
            system:
            \(Self.quiet)
              civic: {enabled: false}
              herald:
                broadcast_cost: 60
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        let root = try RawClient(port: server.port)
        root.send("ACL SETUSER agent:civic on >civic-pw\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        let civic = Unchecked(AgentRuntime(logic: FakeCivic(), settings: AgentSettings(port: server.port, agentID: "civic",
                                                                                         user: "agent:civic", password: "civic-pw")))
        Thread { try? civic.value.run() }.start()
        defer { civic.value.control.stop() }

        let sub = try RawClient(port: server.port)
        let heard = RESPReader(sub)
        sub.send("SUBSCRIBE broadcast.weather\r\n")
        _ = heard.next()
        func publish(as user: String, _ content: String) throws -> AgentReply {
            try AgentRequester(settings: AgentSettings(port: server.port, agentID: "t-\(user)", user: user, password: "x"))
                .request(agent: "herald", action: "publish", args: ["channel": "weather", "content": .string(content)], timeout: 20)
        }
        guard case .ok(let result) = try publish(as: "app", "rain at noon"), let id = result["id"]?.string else {
            throw TestFailure("publish failed; log:\n\(server.log.suffix(3000))")
        }
        #expect(result == ["author": "weather", "balance": 40, "channel": "weather", "charged": 60, "id": .string(id)])
        #expect(heard.next(timeout: 10)?.strings
                == ["message", "broadcast.weather", #"{"author":"weather","channel":"weather","content":"rain at noon","id":"\#(id)"}"#])
        // civic's refusals, passed through; nothing broadcast for them.
        #expect(try publish(as: "app", "again") == .error(code: "insufficient_credits", message: "civic: agent 'weather' has 40, the cost is 60"))
        #expect(try publish(as: "sus", "hi") == .error(code: "not_licensed", message: "civic: agent 'sus' is suspended (flood)"))
        #expect(try publish(as: "default", "hi") == .error(code: "not_registered", message: "civic: user 'default' has no registered agent"))
        sub.send("PING\r\n")
        #expect(heard.next(timeout: 10)?.strings == ["pong", ""], "a refused broadcast was published")
        let events = try streamFields(server, "events.herald")
        #expect(events.filter { $0.prefix(2) == ["type", "broadcast"] }.count == 1)
        #expect(events.first { $0.prefix(2) == ["type", "broadcast"] }?.contains("messages") == true)
    }
}

extension HeraldWireTests {
    /// The real civic: an operator (`default`) registers agent `weather`
    /// for user `app` (granted 50); app's broadcast is charged (30) and
    /// published; the next is refused for credits; an unregistered caller
    /// is not_registered; once an operator suspends weather, the kernel
    /// refuses app's task to herald, and nothing more is broadcast.
    @Test func aLicensedAgentsBroadcastIsChargedByCivicAndASuspendedOneIsRefused() throws {
        let server = try ServerProcess(config: """
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
            \(Self.quiet)
              civic:
                grant: 50
              herald:
                broadcast_cost: 30
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        if !server.waitForLog("as agent civic", timeout: 30) { throw TestFailure("civic did not join; log:\n\(server.log.suffix(3000))") }
        func civic(_ action: String, _ args: [String: JSON]) throws -> AgentReply {
            try AgentRequester(settings: AgentSettings(port: server.port, agentID: "operator")).request(agent: "civic", action: action, args: args, timeout: 20)
        }
        guard case .ok = try civic("register", ["agent": "weather", "user": "app"]) else { throw TestFailure("register failed") }

        let sub = try RawClient(port: server.port)
        let heard = RESPReader(sub)
        sub.send("SUBSCRIBE broadcast.weather\r\n")
        _ = heard.next()
        let app = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "app", user: "app", password: "x"))
        func publish(_ client: AgentRequester, _ content: String) throws -> AgentReply {
            try client.request(agent: "herald", action: "publish", args: ["channel": "weather", "content": .string(content)], timeout: 20)
        }
        guard case .ok(let result) = try publish(app, "rain at noon"), let id = result["id"]?.string else {
            throw TestFailure("publish failed; log:\n\(server.log.suffix(3000))")
        }
        #expect(result == ["author": "weather", "balance": 20, "channel": "weather", "charged": 30, "id": .string(id)])
        #expect(heard.next(timeout: 10)?.strings
                == ["message", "broadcast.weather", #"{"author":"weather","channel":"weather","content":"rain at noon","id":"\#(id)"}"#])
        #expect(try civic("get_balance", ["agent": "weather"]) == .ok(["account": "weather", "balance": 20, "supply": 50]))
        #expect(try publish(app, "more rain") == .error(code: "insufficient_credits", message: "civic: agent 'weather' has 20 credits, 30 are needed"))
        let stranger = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "stranger"))
        #expect(try publish(stranger, "hi") == .error(code: "not_registered", message: "civic: user 'default' holds no registered agent"))

        guard case .ok = try civic("suspend", ["agent": "weather", "reason": "flood", "authority": ["operator": true]]) else {
            throw TestFailure("suspend failed")
        }
        // The kernel learns it from civic within moments; then app's task never reaches herald.
        let deadline = Date().addingTimeInterval(15)
        var refusal = ""
        while Date() < deadline && refusal.isEmpty {
            do { _ = try publish(app, "still raining") } catch { refusal = "\(error)" }
        }
        #expect(refusal.contains("is suspended (flood)"), "\(refusal)")
        sub.send("PING\r\n")
        #expect(heard.next(timeout: 10)?.strings == ["pong", ""], "a refused broadcast was published")
        #expect(try civic("get_balance", ["agent": "weather"]) == .ok(["account": "weather", "balance": 20, "supply": 50]))
        #expect(try streamFields(server, "events.herald").filter { $0.prefix(2) == ["type", "broadcast"] }.count == 1)
    }
}
