import Foundation
import Testing

/// Runtime ACL changes (ACL SETUSER, ACL DELUSER) are recorded in the
/// ledger's internal topic `_vimana.acl` and applied again on top of
/// phoenix.yaml's users at the next start (docs/OPERATIONS.md).
@Suite struct ACLJournalTests {
    /// A server on `ledger` (a fresh one when nil) with `config`.
    static func serve(_ config: String? = nil, ledger: String? = nil, fsync: String = "always") throws -> ServerProcess {
        try ServerProcess(arguments: ["--fsync", fsync], config: config, logLevel: "info", ledgerDirectory: ledger)
    }

    static func send(_ c: RawClient, _ args: String...) -> String {
        c.send(RawClient.command(args))
        return c.readReplies()
    }

    @Test func setuserSurvivesARestartWithItsRules() throws {
        let server = try Self.serve()
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "alice", "on", ">s3cret-alice", "~jobs.*", "&events.*", "+@pubsub", "+xadd") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "bob", "on", "nopass", "allkeys", "+@all", "-@admin") == "+OK\r\n")
        // A change to an existing user is recorded as a change, applied on top.
        #expect(Self.send(c, "ACL", "SETUSER", "alice", "+xrange", "-publish", "#" + String(repeating: "ab", count: 32)) == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "default", "-xtrim") == "+OK\r\n")
        let before = Self.send(c, "ACL", "LIST")
        #expect(before.contains("user alice on #"), "\(visible(before))")
        #expect(server.terminate() == 0)

        let restarted = try Self.serve(ledger: server.ledgerDirectory)
        #expect(restarted.waitForLog("users restored from the ledger"))
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "ACL", "LIST") == before)
        #expect(Self.send(r, "AUTH", "alice", "s3cret-alice") == "+OK\r\n")
        #expect(Self.send(r, "XRANGE", "jobs.1", "-", "+") == "*0\r\n")
        #expect(Self.send(r, "PUBLISH", "events.1", "x").hasPrefix("-NOPERM"))
    }

    @Test func deluserSurvivesARestartEvenOfAUserTheFileDeclares() throws {
        let config = """
        users:
          - name: carol
            password_hashes: ["#\(String(repeating: "cd", count: 32))"]
            permissions: ["+@all", "~*"]
        """
        let server = try Self.serve(config)
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "dave", "on", "nopass") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "USERS") == "*3\r\n$5\r\ncarol\r\n$4\r\ndave\r\n$7\r\ndefault\r\n")
        #expect(Self.send(c, "ACL", "DELUSER", "carol", "dave", "nobody") == ":2\r\n")
        #expect(server.terminate() == 0)

        let restarted = try Self.serve(config, ledger: server.ledgerDirectory)
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "ACL", "USERS") == "*1\r\n$7\r\ndefault\r\n")
    }

    @Test func aChangeAcknowledgedBeforeKill9IsKept() throws {
        let server = try Self.serve()
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "erin", "on", ">erin-pass", "+ping") == "+OK\r\n")
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()

        let restarted = try Self.serve(ledger: server.ledgerDirectory)
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "AUTH", "erin", "erin-pass") == "+OK\r\n")
        #expect(Self.send(r, "ACL", "WHOAMI").hasPrefix("-NOPERM"), "erin's rules came back with it")
        #expect(Self.send(r, "PING") == "+PONG\r\n")
    }

    /// +OK waits for the record to be durable: while fsync fails (an
    /// LD_PRELOAD shim) the reply is held, a new change is refused with
    /// MISCONF and changes nothing, and once fsync works again the held
    /// +OK is sent, and the change is there after kill -9.
    @Test func setuserIsAcknowledgedOnlyOnceItsRecordIsDurable() throws {
        let shim = try FsyncShim.path()
        let flag = NSTemporaryDirectory() + "vimana-fail-fsync-\(UUID().uuidString)"
        defer { unlink(flag) }
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info",
                                       environment: ["LD_PRELOAD": shim, "VIMANA_FAIL_FSYNC": flag])
        defer { server.stop() }
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "XADD", "first", "*", "a", "b").hasPrefix("$"))
        #expect(waitFor(10) { (infoField(server, "ledger_fsyncs").flatMap { Int($0) } ?? 0) >= 1 })

        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        c.send(RawClient.command(["ACL", "SETUSER", "kim", "on", ">kim-pass"]))
        #expect(waitFor(30) { (Int(infoField(server, "ledger_write_errors") ?? "") ?? 0) > 0 }, "the fsync never failed")
        // Had the reply not been held it would have left in the pass that ran the command, before any fsync.
        #expect(c.readAvailable(quiet: 0.2) == "", "+OK sent before the record was durable")
        let p = try RawClient(port: server.port)
        var refusal = ""
        #expect(waitFor(30) {
            refusal = Self.send(p, "ACL", "SETUSER", "lee", "on")
            return refusal.hasPrefix("-MISCONF")
        }, "\(visible(refusal))")
        #expect(refusal == "-MISCONF Errors writing to the ledger: Input/output error\r\n")
        #expect(Self.send(p, "ACL", "DELUSER", "kim").hasPrefix("-MISCONF"))

        unlink(flag)
        #expect(c.readReplies(timeout: 30) == "+OK\r\n")
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        let restarted = try Self.serve(ledger: server.ledgerDirectory)
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "ACL", "USERS") == "*2\r\n$7\r\ndefault\r\n$3\r\nkim\r\n")
        #expect(Self.send(r, "AUTH", "kim", "kim-pass") == "+OK\r\n")
    }

    /// Neither the ledger's files nor `vimana ledger dump` hold a password:
    /// `>pass` is recorded as `#<sha256>`, `<pass` as `!<sha256>`.
    @Test func noPasswordIsWrittenToTheLedger() throws {
        let server = try Self.serve()
        let c = try RawClient(port: server.port)
        let password = "plain-password-4f1d"
        #expect(Self.send(c, "ACL", "SETUSER", "frank", "on", ">" + password, ">second-\(password)") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "frank", "<" + password) == "+OK\r\n")
        #expect(server.terminate() == 0)

        let dump = try runVimana(["ledger", "dump", server.ledgerDirectory])
        #expect(dump.status == 0)
        #expect(dump.stdout.contains("_vimana.acl"))
        #expect(!dump.stdout.contains(password), "\(dump.stdout)")
        let digest = try Self.sha256Hex(password)
        #expect(dump.stdout.contains("#" + digest) && dump.stdout.contains("!" + digest), "\(dump.stdout)")
        // Small frames are stored uncompressed: the raw files are checked too.
        for file in try FileManager.default.contentsOfDirectory(atPath: server.ledgerDirectory) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: server.ledgerDirectory + "/" + file))
            #expect(bytes.range(of: Data(password.utf8)) == nil, "in \(file)")
        }

        let restarted = try Self.serve(ledger: server.ledgerDirectory)
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "AUTH", "frank", password).hasPrefix("-WRONGPASS"))
        #expect(Self.send(r, "AUTH", "frank", "second-" + password) == "+OK\r\n")
    }

    static func sha256Hex(_ text: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())", text]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Only an admin (every `@admin` command, ACL SETUSER among them) names
    /// `_vimana.` topics as keys, in every command that takes one, whatever
    /// the other user's key patterns; nobody appends to them, even with
    /// `ledger.exclude` emptied (Protocol/PROTOCOL.md §4.2).
    @Test func ordinaryUsersCannotReadOrWriteTheInternalTopic() throws {
        let config = """
        ledger:
          exclude: []
        users:
          - name: admin
            password_hashes: ["#\(try Self.sha256Hex("admin-pw"))"]
            permissions: ["+@all", "~*", "&*"]
          - name: worker
            password_hashes: ["#\(try Self.sha256Hex("worker-pw"))"]
            permissions: ["+@all", "-@admin", "~*", "&*"]
        """
        let server = try Self.serve(config)
        let a = try RawClient(port: server.port)
        #expect(Self.send(a, "AUTH", "admin", "admin-pw") == "+OK\r\n")
        #expect(Self.send(a, "ACL", "SETUSER", "gina", "on", "nopass") == "+OK\r\n")
        #expect(Self.send(a, "XLEN", "_vimana.acl") == ":1\r\n")
        #expect(Self.send(a, "XRANGE", "_vimana.acl", "-", "+").hasPrefix("*1\r\n"))

        let w = try RawClient(port: server.port)
        #expect(Self.send(w, "AUTH", "worker", "worker-pw") == "+OK\r\n")
        let noKey = "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        #expect(Self.send(w, "XRANGE", "_vimana.acl", "-", "+") == noKey)
        #expect(Self.send(w, "XREVRANGE", "_vimana.acl", "+", "-") == noKey)
        #expect(Self.send(w, "XREAD", "STREAMS", "jobs", "_vimana.acl", "0", "0") == noKey)
        #expect(Self.send(w, "XLEN", "_vimana.acl") == noKey)
        #expect(Self.send(w, "XINFO", "STREAM", "_vimana.acl") == noKey)
        #expect(Self.send(w, "XGROUP", "CREATE", "_vimana.acl", "g", "0") == noKey)
        #expect(Self.send(w, "XRANGE", "_vimana.groups", "-", "+") == noKey)
        // Every other command that names a key: the rule is the key check's.
        let requests: [[String]] = [
            ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "_vimana.acl", ">"], ["XACK", "_vimana.acl", "g", "1-1"],
            ["XCLAIM", "_vimana.acl", "g", "c", "0", "1-1"], ["XAUTOCLAIM", "_vimana.acl", "g", "c", "0", "0"],
            ["XPENDING", "_vimana.acl", "g"], ["XINFO", "GROUPS", "_vimana.acl"], ["XINFO", "CONSUMERS", "_vimana.acl", "g"],
            ["XGROUP", "CREATECONSUMER", "_vimana.groups", "g", "c"], ["XGROUP", "DELCONSUMER", "_vimana.groups", "g", "c"],
            ["XGROUP", "DESTROY", "_vimana.groups", "g"], ["XGROUP", "SETID", "_vimana.groups", "g", "0"],
            ["XTRIM", "_vimana.acl", "MAXLEN", "1"], ["XDEL", "_vimana.acl", "1-1"], ["WATCH", "_vimana.acl"],
            ["ACK", "_vimana.groups", "1-1"], ["NACK", "_vimana.groups", "1-1"], ["PROGRESS", "_vimana.groups", "1-1"],
            ["XREAD", "STREAMS", "_vimana.x", "0"], ["XADD", "_vimana.acl", "*", "a", "b"],
        ]
        for request in requests {
            w.send(RawClient.command(request))
            #expect(w.readReplies() == noKey, "\(request)")
            // ACL DRYRUN says the same, and the admin is not refused.
            a.send(RawClient.command(["ACL", "DRYRUN", "worker"] + request))
            #expect(a.readReplies().contains("no permissions to access the '"), "dryrun \(request)")
            a.send(RawClient.command(["ACL", "DRYRUN", "admin"] + request))
            #expect(a.readReplies() == "+OK\r\n", "admin dryrun \(request)")
        }
        // Inside MULTI the refusal fails the transaction, as any key refusal.
        #expect(Self.send(w, "MULTI") == "+OK\r\n")
        #expect(Self.send(w, "XLEN", "_vimana.acl") == noKey)
        #expect(Self.send(w, "EXEC").hasPrefix("-EXECABORT"))
        // A user whose patterns name the prefix, read-only or not, is no admin either.
        #expect(Self.send(a, "ACL", "SETUSER", "reader", "on", ">pw", "%R~_vimana.*", "~_vimana.acl", "+@read", "+@stream") == "+OK\r\n")
        let reader = try RawClient(port: server.port)
        #expect(Self.send(reader, "AUTH", "reader", "pw") == "+OK\r\n")
        #expect(Self.send(reader, "XRANGE", "_vimana.acl", "-", "+") == noKey)
        #expect(Self.send(reader, "XLEN", "_vimana.groups") == noKey)
        // Channels are not keys: a subscriber there is allowed and receives
        // nothing from the journal (a change is recorded before the PING's reply).
        let sub = try RawClient(port: server.port)
        #expect(Self.send(sub, "AUTH", "worker", "worker-pw") == "+OK\r\n")
        #expect(Self.send(sub, "SUBSCRIBE", "_vimana.acl") == "*3\r\n$9\r\nsubscribe\r\n$11\r\n_vimana.acl\r\n:1\r\n")
        #expect(Self.send(sub, "PSUBSCRIBE", "_vimana.*") == "*3\r\n$10\r\npsubscribe\r\n$9\r\n_vimana.*\r\n:2\r\n")
        #expect(Self.send(a, "ACL", "SETUSER", "gina", "+ping") == "+OK\r\n")
        #expect(Self.send(a, "XLEN", "_vimana.acl") == ":3\r\n")
        #expect(Self.send(sub, "PING") == "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        // The refusals are in ACL LOG as key denials.
        #expect(Self.send(a, "ACL", "LOG").contains("$11\r\n_vimana.acl\r\n"))
        // Ordinary topics are unaffected.
        #expect(Self.send(w, "XADD", "jobs", "*", "a", "b").hasPrefix("$"))

        // Nobody appends: not the worker, not the admin, not by PUBLISH.
        let notRecorded = "-ERR topic '_vimana.acl' is not recorded (see ledger.record and ledger.exclude in phoenix.yaml)\r\n"
        #expect(Self.send(w, "XADD", "_vimana.acl", "*", "op", "setuser", "user", "worker", "new", "1", "rule", "+@all") == noKey)
        #expect(Self.send(a, "XADD", "_vimana.acl", "*", "op", "deluser", "user", "admin") == notRecorded)
        #expect(Self.send(w, "PUBLISH", "_vimana.acl", "x") == ":2\r\n")
        #expect(Self.send(a, "XLEN", "_vimana.acl") == ":3\r\n")
    }

    /// phoenix.yaml changed between runs: a recorded change to a user it no
    /// longer declares is skipped with its sequence in the log; a user made
    /// at runtime is made again; the server starts.
    @Test func aChangeThatNoLongerAppliesIsLoggedAndSkipped() throws {
        let declared = """
        users:
          - name: henry
            nopass: true
            permissions: ["+@all"]
        """
        let server = try Self.serve(declared)
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "henry", "~h.*") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "ivy", "on", "nopass", "+ping") == "+OK\r\n")
        #expect(server.terminate() == 0)

        let restarted = try Self.serve(ledger: server.ledgerDirectory)
        #expect(restarted.waitForLog("recorded ACL change skipped"))
        let line = restarted.logLines.first { $0.contains("recorded ACL change skipped") } ?? ""
        #expect(line.contains("\"sequence\":") && line.contains("henry"), "\(line)")
        #expect(restarted.waitForLog("\"skipped\":1"))
        let r = try RawClient(port: restarted.port)
        #expect(Self.send(r, "ACL", "USERS") == "*2\r\n$7\r\ndefault\r\n$3\r\nivy\r\n")
    }

    /// Retention retires the segment that held the changes; the copy
    /// written at each seal keeps them, and a restart from the copy gives
    /// the same users (twice: the start writes a copy too).
    @Test func changesOutliveRetentionOfTheirSegment() throws {
        let config = """
        ledger:
          segment_bytes: 64KiB
          retention:
            max_bytes: 256KiB
        """
        let server = try Self.serve(config, fsync: "no")
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "mia", "on", ">mia-pass", "+ping") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "ned", "on", "nopass") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SETUSER", "mia", "+echo") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "DELUSER", "ned") == ":1\r\n")
        let before = Self.send(c, "ACL", "LIST")
        // Incompressible filler seals segments; retention deletes the oldest.
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in 0..<160 {
            let filler = String((0..<3000).map { _ in alphabet.randomElement(using: &rng) ?? "x" })
            #expect(Self.send(c, "PUBLISH", "filler", filler) == ":0\r\n")
        }
        #expect(server.waitForLog("ledger segment deleted", timeout: 10), "retention did not run")
        #expect(server.terminate() == 0)
        // The first records are gone with their segment; their copies are not.
        let dump = try runVimana(["ledger", "dump", server.ledgerDirectory, "--topic", "_vimana.acl"])
        let firstLine = dump.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.contains("op=snapshot-begin"), "\(dump.stdout)")

        var ledger = server.ledgerDirectory
        for _ in 0..<2 {
            let restarted = try Self.serve(config, ledger: ledger, fsync: "no")
            // Only the latest copy is read: mia's two changes and ned's deletion.
            #expect(restarted.waitForLog("users restored from the ledger"))
            let restored = restarted.logLines.first { $0.contains("users restored from the ledger") } ?? ""
            #expect(restored.contains("\"applied\":3,") && restored.contains("\"skipped\":0"), "\(restored)")
            let r = try RawClient(port: restarted.port)
            #expect(Self.send(r, "ACL", "LIST") == before)
            #expect(Self.send(r, "AUTH", "mia", "mia-pass") == "+OK\r\n")
            #expect(Self.send(r, "ECHO", "x") == "$1\r\nx\r\n")
            #expect(restarted.terminate() == 0)
            ledger = restarted.ledgerDirectory
        }
    }

    @Test func withoutALedgerTheStartSaysChangesStayInMemory() throws {
        let server = try ServerProcess(arguments: ["--no-ledger"], logLevel: "info")
        #expect(server.waitForLog("ACL SETUSER and ACL DELUSER changes are kept in memory only"))
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL", "SETUSER", "jack", "on") == "+OK\r\n")
        #expect(Self.send(c, "ACL", "SAVE").hasPrefix("-ERR This Redis instance is not configured to use an ACL file."))
    }
}
