import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// AGENT PS, STOP, START and RESTART (Protocol/AGENTS.md §6) on real
/// supervised processes, in raw bytes.
@Suite struct ProcessControlTests {
    /// One supervised agent's AGENT PS map, RESP2 (a flat array of fields).
    struct Row {
        var state = ""
        var pid: Int32?
        var restarts = -1
        var lastExit: String?
    }

    /// AGENT PS's row for `id`, parsed from the raw reply.
    static func row(_ c: RawClient, _ id: String) -> Row? {
        c.send("AGENT PS\r\n")
        let reply = c.readReplies()
        let marker = "$2\r\nid\r\n$\(id.utf8.count)\r\n\(id)\r\n"
        guard let start = reply.range(of: marker) else { return nil }
        var tokens = ArraySlice(reply[start.upperBound...].components(separatedBy: "\r\n"))
        var r = Row()
        // Pairs of key and value: `$n key` then `:int`, `$-1` or `$n text`.
        while tokens.count >= 3 {
            let key = tokens.dropFirst().first ?? ""
            tokens = tokens.dropFirst(2)
            let head = tokens.first ?? ""
            var text: String?
            var number: Int?
            if head.hasPrefix(":") { number = Int(head.dropFirst()); tokens = tokens.dropFirst() }
            else if head == "$-1" { tokens = tokens.dropFirst() }
            else { text = tokens.dropFirst().first; tokens = tokens.dropFirst(2) }
            switch key {
            case "state": r.state = text ?? ""
            case "pid": r.pid = number.map { Int32($0) }
            case "restarts": r.restarts = number ?? -1
            case "last_exit": r.lastExit = text; return r
            default: break
            }
        }
        return r
    }

    /// Polls AGENT PS until `condition` holds for `id`'s row.
    static func wait(_ c: RawClient, _ id: String, timeout: TimeInterval = 10, _ condition: (Row) -> Bool) -> Row? {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Row?
        while Date() < deadline {
            last = row(c, id)
            if let r = last, condition(r) { return r }
            usleep(20_000)
        }
        return last
    }

    static func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    @Test func restartStopAndStartAnAgentsProcess() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: worker
                subscribes: ["tasks.worker"]
                command: ["sh", "-c", "exec sleep 300"]
              - id: plain
                subscribes: ["tasks.plain"]
            """, logLevel: "info")
        let c = try RawClient(port: server.port)
        let first = try #require(Self.wait(c, "worker") { $0.state == "running" && $0.pid != nil })
        let pid1 = try #require(first.pid)
        #expect(first.restarts == 0 && first.lastExit == nil)

        c.send("AGENT RESTART worker\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        let second = try #require(Self.wait(c, "worker") { $0.state == "running" && $0.pid != nil && $0.pid != pid1 })
        #expect(second.pid != pid1, "the pid changed")
        #expect(second.restarts == 1)
        #expect(second.lastExit == "signal 15")
        let pid2 = try #require(second.pid)
        #expect(!Self.alive(pid1))

        c.send("AGENT STOP worker\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        let stopped = try #require(Self.wait(c, "worker") { $0.state == "stopped" })
        #expect(stopped.pid == nil && stopped.lastExit == "signal 15")
        #expect(!Self.alive(pid2))
        // Stays stopped: no restart by policy (restart: always is the default).
        usleep(800_000)
        #expect(Self.row(c, "worker")?.state == "stopped")
        c.send("AGENT STOP worker\r\n")
        #expect(c.readReplies() == "-ERR agent 'worker' is already stopped\r\n")

        c.send("AGENT START worker\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        let third = try #require(Self.wait(c, "worker") { $0.state == "running" && $0.pid != nil })
        #expect(third.restarts == 2 && third.pid != pid2)
        c.send("AGENT START worker\r\n")
        #expect(c.readReplies() == "-ERR agent 'worker' is already running\r\n")

        c.send("AGENT STOP plain\r\n")
        #expect(c.readReplies()
            == "-ERR agent 'plain' has no process the kernel supervises (built in, disabled, or without command)\r\n")
        c.send("AGENT RESTART nobody\r\n")
        #expect(c.readReplies() == "-ERR unknown agent 'nobody' (declare it under agents: in phoenix.yaml)\r\n")
        // The log says who stopped it and why.
        #expect(server.log.contains("agent stopping by request"))
        #expect(server.terminate() == 0)
    }

    /// A process that ignores SIGTERM is killed after the grace; the reply
    /// came at once (the loop did not wait); START while stopping is refused.
    @Test func aStopThatIsIgnoredEndsInSIGKILL() throws {
        let ready = NSTemporaryDirectory() + "vimana-stubborn-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: ready) }
        let server = try ServerProcess(config: """
            agents:
              - id: stubborn
                subscribes: ["tasks.stubborn"]
                command: ["sh", "-c", "trap '' TERM; touch \(ready); while true; do sleep 0.2; done"]
            """, logLevel: "info")
        let c = try RawClient(port: server.port)
        _ = try #require(Self.wait(c, "stubborn") { $0.state == "running" })
        // The shell says when its trap is set (a file made after it), not a guess at the time it takes.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !FileManager.default.fileExists(atPath: ready) { usleep(10_000) }
        #expect(FileManager.default.fileExists(atPath: ready), "the shell never set its trap")
        let began = Date()
        c.send("AGENT STOP stubborn\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        #expect(Date().timeIntervalSince(began) < 1, "the reply does not wait for the exit")
        #expect(Self.row(c, "stubborn")?.state == "stopping")
        c.send("AGENT START stubborn\r\n")
        #expect(c.readReplies() == "-ERR agent 'stubborn' is stopping: start it once it has exited (AGENT PS)\r\n")
        c.send("PING\r\n")
        #expect(c.readReplies() == "+PONG\r\n")
        let stopped = Self.wait(c, "stubborn", timeout: 10) { $0.state == "stopped" }
        #expect(stopped?.lastExit == "signal 9", "\(String(describing: stopped))")
        #expect(server.log.contains("agent killed after grace"))
    }

    /// AGENT START brings back an agent that gave up after max_restarts.
    @Test func startRevivesAFailedAgent() throws {
        let marker = NSTemporaryDirectory() + "vimana-ps-\(UUID().uuidString)"
        defer { unlink(marker) }
        let server = try ServerProcess(config: """
            agents:
              - id: crasher
                subscribes: ["tasks.crasher"]
                command: ["sh", "-c", "echo x >> \(marker); exit 3"]
                max_restarts: 0
            """, logLevel: "info")
        let c = try RawClient(port: server.port)
        let failed = try #require(Self.wait(c, "crasher") { $0.state == "failed" })
        #expect(failed.lastExit == "exit status 3" && failed.restarts == 0)
        c.send("AGENT START crasher\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        let again = try #require(Self.wait(c, "crasher") { $0.state == "failed" && $0.restarts == 1 })
        #expect(again.lastExit == "exit status 3")
        let starts = (try? String(contentsOfFile: marker, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(starts == 2)
    }

    /// Only admins, and users granted a subcommand, have them.
    @Test func theSubcommandsAreAdminsOrGrantedOneByOne() throws {
        let server = try ServerProcess(config: """
            users:
              - name: ops
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+agent|ps"]
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            agents:
              - id: worker
                subscribes: ["tasks.worker"]
                command: ["sh", "-c", "exec sleep 300"]
            """, logLevel: "info")
        let ops = try RawClient(port: server.port)
        ops.send("AUTH ops alice-pw\r\nAGENT PS\r\n")
        #expect(ops.readReplies() == "+OK\r\n")
        #expect(ops.readReplies().hasPrefix("*1\r\n*12\r\n$2\r\nid\r\n$6\r\nworker\r\n"))
        ops.send("AGENT RESTART worker\r\n")
        #expect(ops.readReplies() == "-NOPERM this user has no permissions to run the 'agent|restart' command\r\n")
        let alice = try RawClient(port: server.port)
        alice.send("AUTH alice alice-pw\r\nAGENT STOP worker\r\n")
        #expect(alice.readReplies(2)
            == "+OK\r\n-NOPERM this user has no permissions to run the 'agent|stop' command\r\n")
        // An admin (default here) grants one more: now ops may restart.
        let admin = try RawClient(port: server.port)
        admin.send("ACL SETUSER ops +agent|restart\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        ops.send("AGENT RESTART worker\r\n")
        #expect(ops.readReplies() == "+OK\r\n")
    }
}
