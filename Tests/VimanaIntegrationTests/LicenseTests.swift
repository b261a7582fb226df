import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A user's licence (Protocol/PROTOCOL.md §6, "Licences"): a suspended or
/// revoked user may publish only to `tasks.supreme_court`, on its open
/// connections at once; the change is journaled with the users' and
/// survives kill -9 and retention (Protocol/LEDGER.md §1).
@Suite struct LicenseTests {
    static let refusal = "-NOPERM user 'bob' is suspended (flooding orders.*): it may publish only to tasks.supreme_court\r\n"

    static func send(_ c: RawClient, _ args: String...) -> String {
        c.send(RawClient.command(args))
        return c.readReplies()
    }

    /// An admin connection, and one of `bob` (every command, key and
    /// channel) opened before his licence changes.
    static func setUp(_ server: ServerProcess) throws -> (admin: RawClient, bob: RawClient) {
        let admin = try RawClient(port: server.port)
        #expect(send(admin, "ACL", "SETUSER", "bob", "on", ">bob-pass", "+@all", "~*", "&*") == "+OK\r\n")
        let bob = try RawClient(port: server.port)
        #expect(send(bob, "AUTH", "bob", "bob-pass") == "+OK\r\n")
        return (admin, bob)
    }

    @Test func aSuspendedUserMayPublishOnlyToTheCourtOnItsOpenConnection() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let (admin, bob) = try Self.setUp(server)
        #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == ":0\r\n")

        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        // The connection opened before: its next command.
        #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == Self.refusal)
        #expect(Self.send(bob, "XADD", "orders", "*", "item", "pen") == Self.refusal)
        #expect(Self.send(bob, "PUBLISH", "tasks.supreme_court", "appeal") == ":0\r\n")
        #expect(Self.send(bob, "XADD", "tasks.supreme_court", "*", "reason", "appeal").hasPrefix("$"))
        // Reading, subscribing and the rest are his rules' alone.
        #expect(Self.send(bob, "XLEN", "orders") == ":0\r\n")
        // The court's topic has both: the PUBLISH is recorded too.
        #expect(Self.send(bob, "XRANGE", "tasks.supreme_court", "-", "+").hasPrefix("*2\r\n"))
        // A connection made after the change, too.
        let later = try RawClient(port: server.port)
        #expect(Self.send(later, "AUTH", "bob", "bob-pass") == "+OK\r\n")
        #expect(Self.send(later, "PUBLISH", "news", "x") == Self.refusal)
        // Another user is not affected.
        #expect(Self.send(admin, "PUBLISH", "orders.1", "x") == ":0\r\n")

        // Counted, logged with reason `license` and the topic.
        #expect(infoField(server, "license_refused_publishes", section: "stats") == "3")
        let log = Self.send(admin, "ACL", "LOG", "1")
        #expect(log.contains("$6\r\nreason\r\n$7\r\nlicense\r\n") && log.contains("$6\r\nobject\r\n$4\r\nnews\r\n")
                && log.contains("cmd=publish user=bob"), "\(visible(log))")
        #expect(infoField(server, "user_bob", section: "users")?.hasSuffix(",license=suspended") == true)

        #expect(Self.send(admin, "LICENSE", "SET", "bob", "ACTIVE") == "+OK\r\n")
        #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == ":0\r\n")
        #expect(Self.send(bob, "XADD", "orders", "*", "item", "pen").hasPrefix("$"))
        #expect(infoField(server, "user_bob", section: "users")?.contains("license") == false)
    }

    /// Queued in MULTI: refused as it is queued (EXEC then aborts, as for
    /// any -NOPERM); queued before the suspension: refused at EXEC with the
    /// same text in its place, the others run.
    @Test func publishesInATransactionAreRefusedToo() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let (admin, bob) = try Self.setUp(server)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        bob.send("MULTI\r\nPUBLISH orders.1 x\r\nPUBLISH tasks.supreme_court y\r\nEXEC\r\n")
        #expect(bob.readReplies(4) == "+OK\r\n" + Self.refusal + "+QUEUED\r\n"
                + "-EXECABORT Transaction discarded because of previous errors.\r\n")

        #expect(Self.send(admin, "LICENSE", "SET", "bob", "ACTIVE") == "+OK\r\n")
        bob.send("MULTI\r\nXADD orders 5-1 a b\r\nPUBLISH tasks.supreme_court y\r\nPUBLISH orders.1 x\r\n")
        #expect(bob.readReplies(4) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        #expect(Self.send(bob, "EXEC") == "*3\r\n" + Self.refusal + ":0\r\n" + Self.refusal)
        #expect(Self.send(admin, "XLEN", "orders") == ":0\r\n")
    }

    /// An agent's user suspended while an instance is joined: it goes on
    /// receiving and acknowledging tasks; its publishes but the court's are
    /// refused, from its next command.
    @Test func aSuspendedAgentKeepsItsTasksButMayPublishOnlyToTheCourt() throws {
        let config = """
            agents:
              - id: x
                subscribes: ["tasks.x"]
            """
        let server = try ServerProcess(config: config, logLevel: "info")
        defer { server.stop() }
        let admin = try RawClient(port: server.port)
        #expect(Self.send(admin, "ACL", "SETUSER", "agent:x", ">x-pw") == "+OK\r\n")
        let agent = try RawClient(port: server.port)
        agent.send("AUTH agent:x x-pw\r\nAGENT JOIN x\r\n")
        #expect(agent.readReplies(2) == "+OK\r\n+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "agent:x", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        #expect(Self.send(admin, "XADD", "tasks.x", "1-1", "payload", "p") == "$3\r\n1-1\r\n")
        #expect(agent.readReplies().hasPrefix("*6\r\n$4\r\ntask\r\n$7\r\ntasks.x\r\n$3\r\n1-1\r\n"))
        agent.send("PUBLISH results.x done\r\nXADD orders * a b\r\nPUBLISH tasks.supreme_court appeal\r\nACK tasks.x 1-1\r\n")
        let refused = "-NOPERM user 'agent:x' is suspended (flooding orders.*): it may publish only to tasks.supreme_court\r\n"
        #expect(agent.readReplies(4) == refused + refused + ":0\r\n:1\r\n")
        #expect(infoField(server, "user_agent%3Ax", section: "users")?.hasSuffix(",license=suspended") == true)
    }

    @Test func onlyAnAdminOrAUserGrantedItMaySetALicence() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let (admin, bob) = try Self.setUp(server)
        #expect(Self.send(admin, "ACL", "SETUSER", "civic", "on", ">civic-pass", "+license|set", "+ping") == "+OK\r\n")
        #expect(Self.send(admin, "ACL", "SETUSER", "eve", "on", ">eve-pass", "+@all", "-@admin") == "+OK\r\n")
        let eve = try RawClient(port: server.port)
        #expect(Self.send(eve, "AUTH", "eve", "eve-pass") == "+OK\r\n")
        #expect(Self.send(eve, "LICENSE", "SET", "bob", "REVOKED", "x")
                == "-NOPERM this user has no permissions to run the 'license|set' command\r\n")
        #expect(Self.send(eve, "LICENSE", "GET", "bob")
                == "-NOPERM this user has no permissions to run the 'license|get' command\r\n")
        let civic = try RawClient(port: server.port)
        #expect(Self.send(civic, "AUTH", "civic", "civic-pass") == "+OK\r\n")
        #expect(Self.send(civic, "LICENSE", "SET", "bob", "REVOKED", "fraud") == "+OK\r\n")
        #expect(Self.send(bob, "PUBLISH", "x", "y")
                == "-NOPERM user 'bob' is revoked (fraud): it may publish only to tasks.supreme_court\r\n")
        // Who set it is recorded, and when (wall clock ms).
        let got = Self.send(admin, "LICENSE", "GET", "bob")
        let head = "*8\r\n$5\r\nstate\r\n$7\r\nrevoked\r\n$6\r\nreason\r\n$5\r\nfraud\r\n$2\r\nby\r\n$5\r\ncivic\r\n$5\r\nsince\r\n:"
        #expect(got.hasPrefix(head), "\(visible(got))")
        let since = Int64(got.dropFirst(head.count).dropLast(1)) ?? 0  // "\r\n" is one Character
        #expect(abs(since - Int64(Date().timeIntervalSince1970 * 1000)) < 60_000)
    }

    @Test func refusedArguments() throws {
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let (admin, _) = try Self.setUp(server)
        #expect(Self.send(admin, "LICENSE", "SET", "nobody", "ACTIVE") == "-ERR User 'nobody' not found\r\n")
        #expect(Self.send(admin, "LICENSE", "GET", "nobody") == "-ERR User 'nobody' not found\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED") == "-ERR a SUSPENDED or REVOKED licence needs a reason\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "REVOKED") == "-ERR a SUSPENDED or REVOKED licence needs a reason\r\n")
        let badReason = "-ERR a licence reason is 1 to 512 bytes of UTF-8 text without control characters\r\n"
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", String(repeating: "x", count: 513)) == badReason)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "") == badReason)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "two\nlines") == badReason)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "PAROLED", "x")
                == "-ERR invalid licence state 'PAROLED' (ACTIVE, SUSPENDED or REVOKED)\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "x", "y")
                == "-ERR wrong number of arguments for 'license|set' command\r\n")
        #expect(Self.send(admin, "LICENSE", "FOO") == "-ERR unknown subcommand 'FOO'. Try LICENSE SET <user> "
                + "ACTIVE|SUSPENDED|REVOKED [reason], LICENSE GET <user> or LICENSE LIST.\r\n")
        // Nothing was set; 512 bytes is a reason.
        #expect(Self.send(admin, "LICENSE", "LIST") == "*0\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", String(repeating: "é", count: 256)) == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "LIST").hasPrefix("*1\r\n*10\r\n$4\r\nuser\r\n$3\r\nbob\r\n$5\r\nstate\r\n$9\r\nsuspended\r\n"))
        // ACTIVE: no record left; GET answers nulls.
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "active", "appeal granted") == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "LIST") == "*0\r\n")
        #expect(Self.send(admin, "LICENSE", "GET", "bob")
                == "*8\r\n$5\r\nstate\r\n$6\r\nactive\r\n$6\r\nreason\r\n$-1\r\n$2\r\nby\r\n$-1\r\n$5\r\nsince\r\n$-1\r\n")
        // A deleted user's licence goes with him.
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "x") == "+OK\r\n")
        #expect(Self.send(admin, "ACL", "DELUSER", "bob") == ":1\r\n")
        #expect(Self.send(admin, "ACL", "SETUSER", "bob", "on", "nopass") == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "LIST") == "*0\r\n")
    }

    @Test func aSuspensionSurvivesKill9() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let (admin, _) = try Self.setUp(server)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        #expect(Self.send(admin, "ACL", "SETUSER", "carol", "on", ">carol-pass", "+@all", "~*", "&*") == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "carol", "REVOKED", "gone") == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "carol", "ACTIVE") == "+OK\r\n")
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()

        let restarted = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info", ledgerDirectory: server.ledgerDirectory)
        defer { restarted.stop() }
        let bob = try RawClient(port: restarted.port)
        #expect(Self.send(bob, "AUTH", "bob", "bob-pass") == "+OK\r\n")
        #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == Self.refusal)
        let carol = try RawClient(port: restarted.port)
        #expect(Self.send(carol, "AUTH", "carol", "carol-pass") == "+OK\r\n")
        #expect(Self.send(carol, "PUBLISH", "orders.1", "x") == ":0\r\n")
    }

    /// +OK waits for the record to be durable, as ACL SETUSER's: while
    /// fsync fails (an LD_PRELOAD shim) the reply is held and a new change
    /// is refused with MISCONF, changing nothing; once fsync works the held
    /// +OK is sent, and the suspension is there after kill -9.
    @Test func setIsAcknowledgedOnlyOnceItsRecordIsDurable() throws {
        let shim = try FsyncShim.path()
        let flag = NSTemporaryDirectory() + "vimana-fail-fsync-\(UUID().uuidString)"
        defer { unlink(flag) }
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info",
                                       environment: ["LD_PRELOAD": shim, "VIMANA_FAIL_FSYNC": flag])
        defer { server.stop() }
        let (admin, bob) = try Self.setUp(server)
        #expect(waitFor(10) { (infoField(server, "ledger_fsyncs").flatMap { Int($0) } ?? 0) >= 1 })

        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        admin.send(RawClient.command(["LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*"]))
        #expect(waitFor(30) { (Int(infoField(server, "ledger_write_errors") ?? "") ?? 0) > 0 }, "the fsync never failed")
        #expect(admin.readAvailable(quiet: 0.2) == "", "+OK sent before the record was durable")
        let other = try RawClient(port: server.port)
        var refusal = ""
        #expect(waitFor(30) {
            refusal = Self.send(other, "LICENSE", "SET", "bob", "REVOKED", "x")
            return refusal.hasPrefix("-MISCONF")
        }, "\(visible(refusal))")
        #expect(refusal == "-MISCONF Errors writing to the ledger: Input/output error\r\n")

        unlink(flag)
        #expect(admin.readReplies(timeout: 30) == "+OK\r\n")
        #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == Self.refusal, "suspended, not revoked: the refused change changed nothing")
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        let restarted = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info", ledgerDirectory: server.ledgerDirectory)
        defer { restarted.stop() }
        let again = try RawClient(port: restarted.port)
        #expect(Self.send(again, "AUTH", "bob", "bob-pass") == "+OK\r\n")
        #expect(Self.send(again, "PUBLISH", "orders.1", "x") == Self.refusal)
    }

    /// Retention retires the segment that held the LICENSE SET; the copy
    /// written at each seal keeps it (twice: the start writes a copy too).
    @Test func aSuspensionOutlivesRetentionOfItsSegment() throws {
        let config = """
        ledger:
          segment_bytes: 64KiB
          retention:
            max_bytes: 256KiB
        """
        let server = try ServerProcess(arguments: ["--fsync", "no"], config: config, logLevel: "info")
        let (admin, _) = try Self.setUp(server)
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "REVOKED", "first") == "+OK\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding orders.*") == "+OK\r\n")
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in 0..<160 {
            let filler = String((0..<3000).map { _ in alphabet.randomElement(using: &rng) ?? "x" })
            #expect(Self.send(admin, "PUBLISH", "filler", filler) == ":0\r\n")
        }
        #expect(server.waitForLog("ledger segment deleted", timeout: 10), "retention did not run")
        #expect(server.terminate() == 0)
        let dump = try runVimana(["ledger", "dump", server.ledgerDirectory, "--topic", "_vimana.acl"])
        let firstLine = dump.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.contains("op=snapshot-begin"), "\(dump.stdout)")

        var ledger = server.ledgerDirectory
        for _ in 0..<2 {
            let restarted = try ServerProcess(arguments: ["--fsync", "no"], config: config, logLevel: "info", ledgerDirectory: ledger)
            #expect(restarted.waitForLog("users restored from the ledger"))
            // bob's creation and his latest licence: the first one is not copied.
            let restored = restarted.logLines.first { $0.contains("users restored from the ledger") } ?? ""
            #expect(restored.contains("\"applied\":2,") && restored.contains("\"skipped\":0"), "\(restored)")
            let bob = try RawClient(port: restarted.port)
            #expect(Self.send(bob, "AUTH", "bob", "bob-pass") == "+OK\r\n")
            #expect(Self.send(bob, "PUBLISH", "orders.1", "x") == Self.refusal)
            #expect(restarted.terminate() == 0)
            ledger = restarted.ledgerDirectory
        }
    }
}
