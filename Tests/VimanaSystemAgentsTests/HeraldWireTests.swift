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
        let first = try waitUntilAnnounced(server)
        // herald's own join among them, with discovery's fields.
        #expect(first.contains { $0["kind"]?.string == "agent_joined" && $0["event"]?["agent"]?.string == "herald"
                && $0["source"]?.string == "events.discovery" && $0["id"]?.string != nil }, "\(first.map(\.text))")

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
        guard case .ok(let status) = try ask(server, "status") else { throw TestFailure("status failed") }
        #expect(status["announcements"]?.int == Int64(all.count) && status["cursors"]?["events.discovery"]?.string == all.last?["entry"]?.string,
                "\(status.text)")
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
