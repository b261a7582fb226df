import Foundation
import Synchronization
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// auditor as `vimana serve` wires it: the real `vimana agent auditor`
/// process, a ledger damaged on disk, /health, kill -9 of it and of the kernel.
@Suite struct AuditorWireTests {
    static let first = "00000000000000000001.seg"

    func start(interval: Int, ledger: String? = nil) throws -> ServerProcess {
        try ServerProcess(arguments: ["--fsync", "always"], config: """
            ledger:
              compaction_level: off
            system:
              auditor:
                interval_seconds: \(interval)
            """, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent auditor "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("auditor did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    /// `/health` once it contains `text` (nil: not within 30 s).
    func waitForHealth(_ server: ServerProcess, _ text: String) -> String? {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let h = httpGet(port: server.httpPort, path: "/health")
            if h.contains(text) { return h }
            usleep(20_000)
        }
        return nil
    }

    func ask(_ server: ServerProcess, _ action: String) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
            .request(agent: "auditor", action: action, timeout: 20)
    }

    /// Two records, sealed into the first segment, and one in the active segment.
    func writeAndSeal(_ server: ServerProcess) throws {
        let c = try RawClient(port: server.port)
        c.send("XADD orders 1-1 item pen\r\nXADD orders 2-1 item ink\r\nLEDGER SEAL\r\nXADD orders 3-1 item nib\r\n")
        #expect(c.readReplies(4) == "$3\r\n1-1\r\n$3\r\n2-1\r\n$24\r\n\(Self.first)\r\n$3\r\n3-1\r\n")
    }

    func flipLastByte(_ server: ServerProcess) throws {
        let path = server.ledgerDirectory + "/" + Self.first
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    /// events.auditor's reports as (run, status, caller).
    func reports(_ server: ServerProcess) throws -> [(String, String, String)] {
        try streamFields(server, "events.auditor").map { f in
            var d: [String: String] = [:]
            var i = 0
            while i + 1 < f.count { d[f[i]] = f[i + 1]; i += 2 }
            return (d["run"] ?? "", d["status"] ?? "", d["caller"] ?? "")
        }
    }

    @Test func aDamagedSealedFrameIsFoundOnDemandAndHealthIsDegradedUntilACleanRun() throws {
        let server = try start(interval: 3600)
        try waitForJoins(server, 1)
        try writeAndSeal(server)
        #expect(waitForHealth(server, "{\"status\":\"ok\",") != nil, "the required agents did not join")
        guard case .ok(let clean) = try ask(server, "verify_ledger") else { throw TestFailure("verify_ledger failed") }
        #expect(clean["status"] == "ok" && clean["findings"] == [] && clean["ledger"]?["segments"] == 2
                && (clean["ledger"]?["records"]?.int ?? 0) >= 3, "\(clean)")  // and the system agents' events
        try flipLastByte(server)
        guard case .ok(let damaged) = try ask(server, "verify_ledger") else { throw TestFailure("verify_ledger failed") }
        #expect(damaged["status"] == "critical" && damaged["ledger"]?["critical"] == 1, "\(damaged)")
        guard case .array(let findings)? = damaged["findings"], let finding = findings.first else { throw TestFailure("no finding") }
        #expect(finding["severity"] == "critical" && finding["stream"] == "ledger" && finding["entry"] == .string(Self.first))
        // The segment's last frame (the system agents' first events are in it too).
        let message = finding["message"]?.string ?? ""
        #expect(message.hasPrefix("segment \(Self.first): frame ") && message.contains(": data checksum mismatch"), "\(finding)")
        let degraded = try #require(waitForHealth(server, "\"auditor: 1 critical finding (findings on events.auditor); ledger \(Self.first): \(message)"))
        #expect(degraded.contains("{\"status\":\"degraded\","), "\(degraded)")
        // Mended (the byte flipped back): a clean run clears /health.
        try flipLastByte(server)
        guard case .ok(let mended) = try ask(server, "audit") else { throw TestFailure("audit failed") }
        #expect(mended["status"] == "ok" && mended["run"] == "audit", "\(mended)")
        #expect(waitForHealth(server, "{\"status\":\"ok\",") != nil)
        #expect(try reports(server).map { [$0.0, $0.1] } == [["verify_ledger", "ok"], ["verify_ledger", "critical"], ["audit", "ok"]])
    }

    @Test func thePeriodicAuditRunsByItselfAndItsFindingOutlivesKillNineOfTheAgentAndTheKernel() throws {
        let server = try start(interval: 1)
        try waitForJoins(server, 1)
        try writeAndSeal(server)
        try flipLastByte(server)
        // No task from the test: the watcher's own audit finds it. (The
        // frame may also hold system agents' events, then each such stream
        // is a finding too: more than one.)
        let ledgerFinding = "ledger \(Self.first): segment \(Self.first): frame "
        #expect(waitForHealth(server, ledgerFinding) != nil, "log:\n\(server.log.suffix(3000))")
        let periodic = try reports(server).filter { $0.0 == "audit" && $0.1 == "critical" }
        #expect(periodic.first?.2 == "agent:auditor", "\(periodic)")
        // kill -9 of the agent: the restarted one answers the recorded report.
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"auditor\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        try waitForJoins(server, 2)
        guard case .ok(let after) = try ask(server, "findings") else { throw TestFailure("findings failed") }
        #expect(after["report"]?["status"] == "critical" && after["health"]?.string?.contains(ledgerFinding) == true, "\(after)")
        // kill -9 of the kernel: the next one (no periodic audit for an hour)
        // shows the recorded finding on /health again, told by the new auditor at its start.
        #expect(server.terminate(signal: SIGKILL) != nil)
        let again = try start(interval: 3600, ledger: server.ledgerDirectory)
        try waitForJoins(again, 1)
        #expect(waitForHealth(again, ledgerFinding) != nil, "log:\n\(again.log.suffix(3000))")
        guard case .ok(let kept) = try ask(again, "findings") else { throw TestFailure("findings failed") }
        #expect(kept["report"]?["status"] == "critical", "\(kept)")
        withExtendedLifetime(server) {}  // it owns the ledger directory
    }

    @Test func aForgedEventIsFoundAMalformedTaskDeadLetteredAndARedeliveredRequestAppliedOnce() throws {
        let server = try start(interval: 3600)
        try waitForJoins(server, 1)
        let c = try RawClient(port: server.port)
        // `default` may write anywhere here: an event only archivist may append.
        c.send(RawClient.command(["XADD", "events.archivist", "*", "type", "sealed", "segment", Self.first,
                                  "request", "1", "caller", "default", "reply", "{}"]))
        #expect(c.readReplies().hasPrefix("$"))
        c.send(RawClient.command(["PUBLISH", "tasks.auditor", "not json"]))
        #expect(c.readReplies().hasPrefix(":"))
        let task = #"{"action":"check_streams","id":"same"}"#
        c.send(RawClient.command(["PUBLISH", "tasks.auditor", task]) + RawClient.command(["PUBLISH", "tasks.auditor", task]))
        #expect(c.readReplies(2).hasPrefix(":"))
        guard case .ok(let r) = try ask(server, "check_streams") else { throw TestFailure("check_streams failed") }
        #expect(r["status"] == "critical", "\(r)")
        guard case .array(let findings)? = r["findings"] else { throw TestFailure("no findings") }
        #expect(findings.contains { $0["stream"] == "events.archivist"
                    && $0["message"] == "appended by default, not by agent:archivist: an event only the agent itself may write" }, "\(findings)")
        let dead = try streamFields(server, "dead.auditor")
        #expect(dead.first?.prefix(8).suffix(2) == ["reason", "malformed task: the payload is not a JSON object"], "\(dead)")
        let same = try streamFields(server, "events.auditor").filter { $0.contains("\"same\"") && $0.first == "type" }
        #expect(same.count == 1, "\(same)")
        #expect(waitForHealth(server, "\"auditor: 1 critical finding (findings on events.auditor); events.archivist ") != nil)
    }

    /// The watcher, in this process for a declared agent `aud` that a raw
    /// client plays, every second: while its audit is pending it publishes
    /// no other (it asks AGENTS instead); an audit answered without a report
    /// (ACK) lets the next one out, and so does the report of one still pending.
    @Test func theWatcherPublishesNoSecondAuditWhileOneIsPending() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: aud
                subscribes: ["tasks.aud"]
                ack_wait: 60s
            """, logLevel: "info")
        let instance = try RawClient(port: server.port)
        let pushes = RESPReader(instance)
        instance.send("AGENT JOIN aud\r\n")
        #expect(pushes.next()?.description == "+OK")
        let stopped = Atomic<Bool>(false), waits = Atomic<Int>(0)
        let settings = AgentSettings(port: server.port, agentID: "aud")
        let logic = AuditorLogic(systemAgents: [], scan: 10)
        let watcher = Thread {
            Auditor.watch(settings, intervalSeconds: 1, logic: logic, stop: { stopped.load(ordering: .relaxed) },
                          waited: { waits.add(1, ordering: .relaxed) })
        }
        watcher.start()
        defer { stopped.store(true, ordering: .relaxed) }

        let first = pushes.next(timeout: 10)?.strings ?? []
        #expect(first.count >= 5 && first[0] == "task" && first[4].contains(#""action":"audit""#), "\(first)")
        // Due twice more, and each time AGENTS showed the audit pending: nothing published.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && waits.load(ordering: .relaxed) < 2 { usleep(20_000) }
        #expect(waits.load(ordering: .relaxed) >= 2)
        #expect(try streamFields(server, "tasks.aud").count == 1)

        // Answered without a report (ACK): AGENTS shows aud idle, the next comes.
        instance.send(RawClient.command(["ACK", "tasks.aud", first[2]]))
        #expect(pushes.next()?.description == ":1")
        let second = pushes.next(timeout: 20)?.strings ?? []
        #expect(second.count >= 5 && second[0] == "task", "\(second)")
        guard let body = JSON.parse(second.count >= 5 ? second[4] : ""), let id = body["id"] else {
            throw TestFailure("no audit id in \(second)")
        }
        // Its report folded (appended by the watcher's own user), while the task is still pending: the third comes.
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["XADD", "events.aud", "*", "type", "report", "run", "audit", "status", "ok",
                                  "report", #"{"run":"audit"}"#, "request", id.text, "caller", "default", "reply", "{}"]))
        #expect(c.readReplies().hasPrefix("$"))
        let third = Date().addingTimeInterval(20)
        var tasks = 0
        while Date() < third && tasks < 3 {
            tasks = try streamFields(server, "tasks.aud").count
            usleep(20_000)
        }
        #expect(tasks == 3)
    }
}
