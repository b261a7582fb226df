import Foundation
import Testing
import VimanaAgentKit
import VimanaSystemAgents
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// discovery as `vimana serve` wires it: the real `vimana agent discovery`
/// process, supervised by the kernel, asked from clients over the bus.
@Suite struct DiscoveryWireTests {
    /// A kernel with the system agents on, an external agent `billing`
    /// (no command: a client joins it) and discovery polling often.
    func start(ledger: String? = nil) throws -> ServerProcess {
        let server = try ServerProcess(config: """
            agents:
              - id: billing
                description: bills orders
                subscribes: ["tasks.billing"]
                capabilities: [invoice]
                user: default
            system:
              discovery:
                poll_interval: 20ms
            """, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
        try waitForJoins(server, 1)
        return server
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && server.logLines.filter({ $0.contains("as agent discovery") }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains("as agent discovery") }).count < n {
            throw TestFailure("discovery did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:]) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "discovery", action: action, args: args, timeout: 10)
    }

    /// Asks `describe` until `agent`'s status and instances are these.
    func waitForStatus(_ server: ServerProcess, _ agent: String, _ status: String, _ instances: Int64) throws -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if case .ok(let r) = try ask(server, "describe", ["agent": .string(agent)]),
               r["status"]?.string == status, r["instances"]?.int == instances { return true }
            usleep(20_000)
        }
        return false
    }

    @Test func listDescribeAndFindFromARawClientAndJoinsAndLeavesAnnounced() throws {
        let server = try start()
        #expect(try waitForStatus(server, "discovery", "running", 1), "log:\n\(server.log.suffix(3000))")
        // A raw client asks, as the docs show.
        let sub = try RawClient(port: server.port)
        let replies = RESPReader(sub)
        sub.send("SUBSCRIBE r.raw\r\n")
        _ = replies.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.discovery",
                                  #"{"action":"find_by_capability","id":"f1","reply_to":"r.raw","args":{"capability":"invoice"}}"#]))
        #expect(replies.next(timeout: 10)?.strings == ["message", "r.raw",
            #"{"id":"f1","ok":true,"result":{"agents":["billing"],"capability":"invoice"}}"#])
        guard case .ok(let list) = try ask(server, "list"), case .array(let agents)? = list["agents"] else {
            throw TestFailure("list did not answer")
        }
        #expect(agents.compactMap { $0["id"]?.string } == ["billing"] + SystemAgents.ids)
        #expect(agents.first?["status"]?.string == "idle")

        // billing joins, then leaves: both announced on events.discovery.
        var instance: RawClient? = try RawClient(port: server.port)
        instance?.send("AGENT JOIN billing\r\n")
        #expect(instance?.readReplies() == "+OK\r\n")
        #expect(try waitForStatus(server, "billing", "running", 1))
        instance = nil
        #expect(try waitForStatus(server, "billing", "idle", 0))
        let events = try streamFields(server, "events.discovery").filter { $0.count > 3 && $0[3] == "billing" }
        #expect(events.map { [$0[1], $0[5], $0[7]] }.suffix(2) == [["joined", "1", "running"], ["left", "0", "idle"]], "\(events)")

        guard case .ok(let d) = try ask(server, "describe", ["agent": "billing"]) else { throw TestFailure("describe") }
        #expect(d == ["id": "billing", "name": "billing", "kind": "external", "description": "bills orders", "user": "default",
                      "subscribes": ["tasks.billing"], "publishes": nil, "status": "idle", "instances": 0,
                      "capabilities": ["invoice"], "system": false])
    }

    /// docs/SYSTEM-AGENTS.md's examples (discovery's and oracle's), byte for
    /// byte, against the configuration the document shows, once discovery
    /// has observed every agent running or idle.
    @Test func systemAgentsDocumentExamplesHoldByteForByte() throws {
        // The document's output_dir, made this run's own in a copy of it.
        let shown = "/tmp/vimana-doc-exports"
        let exports = NSTemporaryDirectory() + "vimana-doc-exports-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: exports) }
        let server = try ServerProcess(config: """
            agents:
              - id: billing
                description: bills orders
                subscribes: ["tasks.billing"]
                capabilities: [invoice]
                user: default
            system:
              archivist:
                output_dir: \(exports)
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        for id in SystemAgents.ids { #expect(try waitForStatus(server, id, "running", 1), "\(id)") }
        #expect(try waitForStatus(server, "billing", "idle", 0))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/SYSTEM-AGENTS.md"), encoding: .utf8)
        #expect(document.contains(shown))
        let copy = exports + ".md"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try document.replacingOccurrences(of: shown, with: exports).write(toFile: copy, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("tools/compat/protocol_examples.py").path,
                       "--port", String(server.port), "--doc", copy]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("OK: 28 ```resp examples"), "\(text)")
    }

    /// kill -9 of the kernel: its discovery exits once orphaned, and the next
    /// kernel on the same ledger starts one whose directory has the announced manifest.
    @Test func anAnnouncedManifestSurvivesKillNineOfTheKernel() throws {
        let first = try start()
        #expect(try ask(first, "announce", ["agent": "billing", "capabilities": ["refund"]])
                == .ok(["id": "billing", "description": "bills orders", "status": "idle", "instances": 0,
                        "capabilities": ["invoice", "refund"], "system": false]))
        let started = first.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"discovery\"") }
        let oldAgent = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        #expect(first.terminate(signal: SIGKILL) != nil)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && kill(oldAgent, 0) == 0 { usleep(20_000) }
        #expect(kill(oldAgent, 0) != 0, "discovery outlived its kernel")
        let second = try start(ledger: first.ledgerDirectory)
        #expect(try ask(second, "find_by_capability", ["capability": "refund"]) == .ok(["capability": "refund", "agents": ["billing"]]))
        withExtendedLifetime(first) {}  // it owns the ledger directory
    }

    /// `vimana check` prints the system agents' wiring; `/health` shows each with its state.
    @Test func checkPrintsTheWiringAndHealthShowsTheState() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let check = try runVimana(["check", root.appendingPathComponent("config/phoenix.yaml").path])
        #expect(check.status == 0, "\(check.stderr)")
        let binary = URL(fileURLWithPath: ServerProcess.binaryPath).resolvingSymlinksInPath().path
        #expect(check.stdout.contains("\n# agent discovery (external, enabled): subscribes tasks.discovery; ack_wait 30s, max_deliver 5,"
                                      + " prefetch 1, start new, required; user agent:discovery; command \(binary) agent discovery,"
                                      + " restart always, max_restarts 5\n"), "\(check.stdout)")
        let server = try start()
        #expect(try waitForStatus(server, "discovery", "running", 1))
        let health = httpGet(port: server.httpPort, path: "/health")
        #expect(health.contains(#"{"id":"discovery","name":"discovery","kind":"external","status":"running","instances":1,"#), "\(health)")
        // /ready waits for every required system agent (discovery, oracle, engineer), each a process starting.
        var ready = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !ready.contains("{\"ready\":true}") {
            ready = httpGet(port: server.httpPort, path: "/ready")
            usleep(20_000)
        }
        #expect(ready.contains("{\"ready\":true}"), "\(ready)")
    }

    @Test func aMalformedTaskIsDeadLettered() throws {
        let server = try start()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.discovery", "not json"]))
        #expect(c.readReplies().hasPrefix(":"))
        let deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.isEmpty {
            dead = try streamFields(server, "dead.discovery")
            usleep(20_000)
        }
        #expect(dead.first?.prefix(8).suffix(2) == ["reason", "malformed task: the payload is not a JSON object"], "\(dead)")
    }

    @Test func anAnnouncedManifestSurvivesKillNineOfTheAgent() throws {
        let server = try start()
        // The observer's first observation is a task of its own, which may
        // come after this test's announce when the machine is loaded.
        #expect(try waitForStatus(server, "billing", "idle", 0))
        #expect(try ask(server, "announce", ["agent": "billing", "description": "bills and refunds",
                                             "capabilities": ["refund"]])
                == .ok(["id": "billing", "description": "bills and refunds", "status": "idle", "instances": 0,
                        "capabilities": ["invoice", "refund"], "system": false]))
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"discovery\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        // Every required agent joined (oracle and engineer may still be starting on a loaded machine).
        let joined = Date().addingTimeInterval(30)
        var ready = ""
        while Date() < joined && !ready.contains("{\"ready\":true}") {
            ready = httpGet(port: server.httpPort, path: "/ready")
            usleep(10_000)
        }
        #expect(ready.contains("{\"ready\":true}"), "\(ready)")
        kill(pid, SIGKILL)
        // Required: /ready says so until the supervisor's restart (0.5 s later) has joined again.
        let deadline = Date().addingTimeInterval(10)
        var down = ""
        while Date() < deadline && !down.contains("503") {
            down = httpGet(port: server.httpPort, path: "/ready")
            usleep(10_000)
        }
        #expect(down.contains("503") && down.contains("{\"ready\":false,\"reason\":\"required agents down\",\"agents\":[\"discovery\"]}"), "\(down)")
        try waitForJoins(server, 2)
        #expect(try ask(server, "find_by_capability", ["capability": "refund"]) == .ok(["capability": "refund", "agents": ["billing"]]))
        // The kernel counts the restart; /ready waits for discovery (required) again.
        #expect(try waitForStatus(server, "discovery", "running", 1))
    }
}

/// The HTTP response to `GET path` (the server closes after it).
func httpGet(port: Int, path: String) -> String {
    guard let c = try? RawClient(port: port) else { return "" }
    c.send("GET \(path) HTTP/1.1\r\n\r\n")
    return c.readToEnd()
}
