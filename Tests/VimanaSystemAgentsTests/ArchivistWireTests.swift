import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
@testable import VimanaSystemAgents
#if canImport(Glibc)
import Glibc
#endif

/// archivist as `vimana serve` wires it: the real `vimana agent archivist`
/// process, asked over the bus by an admin and by a user that is not one.
@Suite struct ArchivistWireTests {
    struct Setup {
        var server: ServerProcess
        var archive: String
        var exports: String
    }

    func start() throws -> Setup {
        let base = NSTemporaryDirectory() + "vimana-archivist-\(UUID().uuidString)"
        let server = try ServerProcess(config: """
            ledger:
              archive_dir: \(base)/archive
            users:
              - name: app
                nopass: true
                permissions: ["+@all", "-@admin", "~*", "&*"]
            system:
              archivist:
                output_dir: \(base)/exports
            """, logLevel: "info", systemAgents: true)
        try waitForJoins(server, 1)
        return Setup(server: server, archive: base + "/archive", exports: base + "/exports")
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        let mark = "as agent archivist "
        while Date() < deadline && server.logLines.filter({ $0.contains(mark) }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains(mark) }).count < n {
            throw TestFailure("archivist did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func ask(_ server: ServerProcess, _ action: String, _ args: [String: JSON] = [:], user: String? = nil) throws -> AgentReply {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test", user: user, password: user.map { _ in "x" }))
            .request(agent: "archivist", action: action, args: args, timeout: 15)
    }

    func types(_ server: ServerProcess) throws -> [String] {
        try streamFields(server, "events.archivist").compactMap { $0.count > 1 && $0[0] == "type" ? $0[1] : nil }
    }

    @Test func everyActionAnswersAnAdminAndRecordsWhatItDid() throws {
        let s = try start()
        defer { try? FileManager.default.removeItem(atPath: (s.archive as NSString).deletingLastPathComponent) }
        let c = try RawClient(port: s.server.port)
        c.send("XADD orders 1-1 item pen\r\nXADD orders 2-1 item ink\r\n")
        #expect(c.readReplies(2) == "$3\r\n1-1\r\n$3\r\n2-1\r\n")
        guard case .ok(let sealed) = try ask(s.server, "seal_now"), let segment = sealed["segment"]?.string else {
            throw TestFailure("seal_now failed")
        }
        #expect(segment.hasSuffix(".seg") && segment.count == 24)
        // No retention is configured: nothing retires, nothing is recorded.
        #expect(try ask(s.server, "archive_now") == .ok(["segments": []]))
        #expect(try ask(s.server, "list_archives") == .ok(["archives": []]))
        // The sealed segment, retired by hand as retention would (moved with its index).
        let ledger = s.server.ledgerDirectory
        try FileManager.default.createDirectory(atPath: s.archive, withIntermediateDirectories: true)
        let bytes = try #require(FileManager.default.contents(atPath: ledger + "/" + segment))
        try bytes.write(to: URL(fileURLWithPath: s.archive + "/" + segment))
        #expect(try ask(s.server, "list_archives")
                == .ok(["archives": [["name": .string(segment), "bytes": .int(Int64(bytes.count)),
                                      "first_sequence": .int(Int64(segment.prefix(20)) ?? -1)]]]))
        guard case .ok(let verified) = try ask(s.server, "verify_archive", ["segment": .string(segment)]) else {
            throw TestFailure("verify_archive failed")
        }
        #expect(verified["whole"] == true && verified["errors"] == [] && (verified["records"]?.int ?? 0) >= 2, "\(verified)")
        let path = s.archive + "/restored/" + segment
        #expect(try ask(s.server, "restore", ["segment": .string(segment)]) == .ok(["segment": .string(segment), "path": .string(path)]))
        #expect(FileManager.default.contents(atPath: path) == bytes)
        guard case .error(let code, _) = try ask(s.server, "restore", ["segment": .string(segment)]) else {
            throw TestFailure("a second restore overwrote")
        }
        #expect(code == "exists")
        guard case .ok(let exported) = try ask(s.server, "export", ["topic": "orders", "file": "orders.vxz"]) else {
            throw TestFailure("export failed")
        }
        #expect(exported["entries"] == 2 && exported["first"] == "1-1" && exported["last"] == "2-1" && exported["next"] == .null)
        #expect(exported["path"]?.string == s.exports + "/orders.vxz")
        let file = try #require(FileManager.default.contents(atPath: s.exports + "/orders.vxz"))
        let lines = String(decoding: try #require(Deflate.decompress(Array(file))), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 3 && lines[1] == #"{"fields":[["item","pen"]],"id":"1-1","publisher":"default"}"#, "\(lines)")
        #expect(try types(s.server) == ["sealed", "restored", "exported"])
    }

    @Test func aCallerTheKernelWouldRefuseIsRefused() throws {
        let s = try start()
        defer { try? FileManager.default.removeItem(atPath: (s.archive as NSString).deletingLastPathComponent) }
        let c = try RawClient(port: s.server.port)
        c.send("XADD orders 1-1 item pen\r\n")
        #expect(c.readReplies() == "$3\r\n1-1\r\n")
        guard case .error(let code, let message) = try ask(s.server, "seal_now", user: "app") else { throw TestFailure("app sealed") }
        #expect(code == "forbidden" && message.hasPrefix("the caller may not run LEDGER SEAL: NOPERM"), "\(message)")
        guard case .error(let code2, _) = try ask(s.server, "export", ["topic": "orders"], user: "app") else { throw TestFailure("app exported") }
        #expect(code2 == "forbidden")
        #expect(!FileManager.default.fileExists(atPath: s.exports))
        // Nothing was sealed for it: the active segment still holds the record, and the admin's seal takes it.
        guard case .ok(let sealed) = try ask(s.server, "seal_now") else { throw TestFailure("seal_now failed") }
        #expect(sealed["segment"] == "00000000000000000001.seg")
        #expect(try types(s.server) == ["sealed"])
    }

    @Test func aMalformedTaskIsDeadLetteredAndKillNineLosesNothing() throws {
        let s = try start()
        defer { try? FileManager.default.removeItem(atPath: (s.archive as NSString).deletingLastPathComponent) }
        let c = try RawClient(port: s.server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.archivist", "not json"]))
        #expect(c.readReplies().hasPrefix(":"))
        var deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.isEmpty {
            dead = try streamFields(s.server, "dead.archivist")
            usleep(20_000)
        }
        #expect(dead.first?.prefix(8).suffix(2) == ["reason", "malformed task: the payload is not a JSON object"], "\(dead)")
        c.send("XADD orders 1-1 item pen\r\n")
        #expect(c.readReplies() == "$3\r\n1-1\r\n")
        guard case .ok(let first) = try ask(s.server, "seal_now") else { throw TestFailure("seal_now failed") }
        let started = s.server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"archivist\"") }
        let pid = pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
        kill(pid, SIGKILL)
        deadline = Date().addingTimeInterval(10)
        while Date() < deadline && kill(pid, 0) == 0 { usleep(20_000) }
        try waitForJoins(s.server, 2)
        // The restarted archivist answers; its recorded history is intact.
        c.send("XADD orders 2-1 item ink\r\n")
        #expect(c.readReplies() == "$3\r\n2-1\r\n")
        guard case .ok(let second) = try ask(s.server, "seal_now") else { throw TestFailure("seal_now after kill -9 failed") }
        #expect(first["segment"] != second["segment"])
        #expect(try types(s.server) == ["sealed", "sealed"])
        #expect(try ask(s.server, "list_archives") == .ok(["archives": []]))
    }
}
