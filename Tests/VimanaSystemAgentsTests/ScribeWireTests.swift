import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// scribe as `vimana serve` wires it: the real `vimana agent scribe`
/// process, asked over the bus, writing its documents into its own
/// directory. science is played by an external agent `science` declared
/// in the file and joined by this test (or by no one: the timeout path);
/// the system agent science, disabled, leaves it its id.
@Suite struct ScribeWireTests {
    struct Setup {
        var server: ServerProcess
        var dir: String
    }

    func start(ledger: String? = nil, dir: String? = nil) throws -> Setup {
        let dir = dir ?? NSTemporaryDirectory() + "vimana-scribe-\(UUID().uuidString)"
        let server = try ServerProcess(config: """
            agents:
              - id: science
                description: stands in for science
                subscribes: ["tasks.science"]
                user: default
            system:
              science:
                enabled: false
              scribe:
                output_dir: \(dir)
                science_timeout: 1s
            """, logLevel: "info", ledgerDirectory: ledger, systemAgents: true)
        try waitForJoins(server, 1)
        return Setup(server: server, dir: dir)
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent scribe "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("scribe did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    /// Publishes `task` to tasks.scribe from a raw client and returns the reply read on `r.scribe`.
    func raw(_ server: ServerProcess, _ task: String) throws -> JSON {
        let sub = try RawClient(port: server.port)
        let replies = RESPReader(sub)
        sub.send("SUBSCRIBE r.scribe\r\n")
        _ = replies.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.scribe", task]))
        guard let m = replies.next(timeout: 20)?.strings, m.count == 3, let body = JSON.parse(m[2]) else {
            throw TestFailure("no reply to \(task)")
        }
        return body
    }

    func written(_ server: ServerProcess) throws -> [[String]] {
        try streamFields(server, "events.scribe").filter { $0.count > 1 && $0[1] == "written" }
    }

    @Test func documentsAreWrittenFromTheLiveCityWithAndWithoutScience() throws {
        let s = try start()
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        // No one reads tasks.science: the map is written from the wiring, and says why.
        let first = try raw(s.server, #"{"action":"citymap","id":"c1","reply_to":"r.scribe"}"#)
        #expect(first["ok"] == true, "\(first)")
        let note = "science did not answer within 1 s: the map shows the wiring only."
        #expect(first["result"]?["science"] == .string(note) && first["result"]?["observed"] == false)
        let markdown = try #require(first["result"]?["markdown"]?.string)
        #expect(markdown.contains("| `tasks.scribe` | `scribe` | — | — | — | — |"), "\(markdown)")
        #expect(first["result"]?["path"]?.string == s.dir + "/CITYMAP.md")
        #expect(FileManager.default.contents(atPath: s.dir + "/CITYMAP.md") == Data(markdown.utf8))

        // The test joins as science and answers one `topics` task as science would.
        let science = try RawClient(port: s.server.port)
        let pushes = RESPReader(science)
        science.send("AGENT JOIN science\r\n")
        #expect(pushes.next()?.description == "+OK")
        let io = Unchecked((client: science, reader: pushes))
        let asked = Unchecked(Box())
        let answering = Thread {
            let (science, pushes) = io.value
            // Every task it gets (the first citymap's too, which waited for an instance).
            while let task = pushes.next(timeout: 10, where: { $0.strings.first == "task" })?.strings, task.count >= 5, let body = JSON.parse(task[4]),
                  let replyTo = body["reply_to"]?.string, let id = body["id"] {
            asked.value.append(body)
            let result: JSON = ["window": 60, "topics": [["topic": "tasks.science", "messages": 2, "bytes": 90,
                                                         "publishers": [["publisher": "agent:scribe", "messages": 2]]]]]
            science.send(RawClient.command(["PUBLISH", replyTo, JSON.object(["id": id, "ok": true, "result": result]).text]))
            science.send(RawClient.command(["ACK", "tasks.science", task[2]]))
            }
        }
        answering.start()
        let all = try raw(s.server, #"{"action":"write_all","id":"w1","reply_to":"r.scribe","args":{"window":60}}"#)
        guard case .array(let docs)? = all["result"]?["documents"], docs.count == 2 else { throw TestFailure("\(all)") }
        #expect(asked.value.tasks.contains { $0["action"] == "topics" && $0["args"] == ["window": 60] }, "\(asked.value.tasks)")
        #expect(docs[1]["observed"] == true && docs[1]["science"] == "science counted the ledger's last 60 s.")
        let map = try #require(docs[1]["markdown"]?.string)
        #expect(map.contains("| `tasks.science` | `science` | — | `agent:scribe` (2) | 2 | 90 |"), "\(map)")
        let agents = try #require(docs[0]["markdown"]?.string)
        #expect(agents.contains("| `scribe` | system | running | 1 | `agent:scribe` | `tasks.scribe` | any topic | documents | `agents_md`, `citymap`, `write_all` |"), "\(agents)")
        #expect(agents.contains("| `discovery` | system | running | 1 |") && agents.contains("`find_by_capability`"), "\(agents)")
        #expect(FileManager.default.contents(atPath: s.dir + "/AGENTS.md") == Data(agents.utf8))
        #expect(FileManager.default.contents(atPath: s.dir + "/CITYMAP.md") == Data(map.utf8))
        #expect(try written(s.server).map { $0[5] } == ["CITYMAP.md", "AGENTS.md", "CITYMAP.md"])
    }

    /// The file written is the event's: a redelivered or repeated request
    /// (same caller, same id) after kill -9 of scribe, then of the kernel,
    /// is answered from the events and writes nothing; a malformed task is
    /// dead-lettered.
    @Test func aRepeatedRequestSurvivesKillNineOfScribeAndOfTheKernelAndMalformedIsDeadLettered() throws {
        let s = try start()
        defer { try? FileManager.default.removeItem(atPath: s.dir) }
        let c = try RawClient(port: s.server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.scribe", "not json"]))
        #expect(c.readReplies().hasPrefix(":"))
        var deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.isEmpty {
            dead = try streamFields(s.server, "dead.scribe")
            usleep(20_000)
        }
        #expect(dead.first?.prefix(8).suffix(2) == ["reason", "malformed task: the payload is not a JSON object"], "\(dead)")

        let task = #"{"action":"agents_md","id":"a1","reply_to":"r.scribe"}"#
        let first = try raw(s.server, task)
        #expect(first["ok"] == true)
        let path = s.dir + "/AGENTS.md"
        try FileManager.default.removeItem(atPath: path)
        // kill -9 of scribe: the restarted one answers a1 from its events, and writes nothing.
        let started = s.server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"scribe\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && kill(pid, 0) == 0 { usleep(20_000) }
        try waitForJoins(s.server, 2)
        #expect(try raw(s.server, task) == first)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try written(s.server).count == 1)

        // kill -9 of the kernel: the next one, on the same ledger, starts a scribe that knows a1 too.
        let oldAgent = pid_t(try #require(s.server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"scribe\"") }
            .last.flatMap { ServerProcess.field($0, "pid") }))
        #expect(s.server.terminate(signal: SIGKILL) != nil)
        deadline = Date().addingTimeInterval(15)
        while Date() < deadline && kill(oldAgent, 0) == 0 { usleep(20_000) }
        #expect(kill(oldAgent, 0) != 0, "scribe outlived its kernel")
        let second = try start(ledger: s.server.ledgerDirectory, dir: s.dir)
        #expect(try raw(second.server, task) == first)
        #expect(!FileManager.default.fileExists(atPath: path))
        // A new id is written.
        let fresh = try raw(second.server, #"{"action":"agents_md","id":"a2","reply_to":"r.scribe"}"#)
        #expect(fresh["ok"] == true && FileManager.default.fileExists(atPath: path))
        #expect(try written(second.server).count == 2)
        withExtendedLifetime(s) {}  // its server owns the ledger directory
    }

    /// scribe and the real science, as `vimana serve` wires them: the map's
    /// "published by" is what science counted in the ledger, asked over the bus.
    @Test func citymapShowsWhatTheRealScienceCounted() throws {
        let dir = NSTemporaryDirectory() + "vimana-scribe-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ServerProcess(config: """
            system:
              science:
                checkpoint_interval: 100ms
                poll_interval: 10ms
              scribe:
                output_dir: \(dir)
                science_timeout: 5s
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        let c = try RawClient(port: server.port)
        for k in 0..<3 {
            c.send(RawClient.command(["PUBLISH", "orders.new", "order-\(k)"]))
            #expect(c.readReplies().hasPrefix(":"))
        }
        // science counts within a checkpoint interval of the records' arrival: ask until the map shows them.
        let deadline = Date().addingTimeInterval(30)
        var last = JSON.null
        var k = 0
        while Date() < deadline {
            k += 1
            last = try raw(server, #"{"action":"citymap","id":"m\#(k)","reply_to":"r.scribe"}"#)
            if last["result"]?["markdown"]?.string?.contains("`default` (3) | 3 | 21 |") == true { break }
            usleep(50_000)
        }
        #expect(last["result"]?["observed"] == true && last["result"]?["science"] == "science counted the ledger's last 3600 s.", "\(last)")
        let map = try #require(last["result"]?["markdown"]?.string)
        #expect(map.contains("| `orders.new` |") && map.contains("`default` (3) | 3 | 21 |"), "\(map)")
    }
}

/// The tasks the stand-in science got: appended by its thread, read by the test's.
final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [JSON] = []
    var tasks: [JSON] { lock.withLock { list } }
    func append(_ task: JSON) { lock.withLock { list.append(task) } }
}

final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
