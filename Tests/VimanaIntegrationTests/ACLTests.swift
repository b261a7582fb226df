import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Users and permissions where Vimana's parts meet Redis's ACL
/// (Protocol/PROTOCOL.md §5): what RedisParityACLTests cannot compare
/// (a change seen by a queued transaction, a revoked subscription, which
/// Redis answers by closing the connection), redis-cli, CLIENT LIST.
@Suite struct ACLTests {
    static let alice = "ACL SETUSER alice on >pw ~foo* &chan* +@pubsub +@stream +ping +multi +exec -xlen\r\n"

    /// A command queued while allowed and refused by the time of EXEC gets
    /// Redis 7.0.15's error in its place; the others run.
    @Test func execChecksTheRulesAgain() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        let c = try RawClient(port: server.port)
        c.send("AUTH alice pw\r\nMULTI\r\nPUBLISH chan1 1\r\nXADD foo 1-1 a 1\r\nPING\r\n")
        let queued = "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
        #expect(c.read(matching: queued) == queued)
        admin.send("ACL SETUSER alice resetchannels -xadd\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        c.send("EXEC\r\n")
        let changed = "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. "
            + "This command is no longer allowed for the following reason: "
        let expected = "*3\r\n" + changed + "no permission to access one of the channels used as arguments\r\n"
            + changed + "no permission to execute the command or subcommand\r\n+PONG\r\n"
        #expect(c.readReplies() == expected)
        admin.send("ACL LOG 2\r\n")
        let log = admin.readReplies()
        #expect(log.contains("$7\r\ncontext\r\n$5\r\nmulti\r\n$6\r\nobject\r\n$4\r\nxadd\r\n"), "\(visible(log))")
        #expect(log.contains("$7\r\ncontext\r\n$5\r\nmulti\r\n$6\r\nobject\r\n$5\r\nchan1\r\n"), "\(visible(log))")
    }

    /// A container run alone (COMMAND) is checked as itself, as Redis's:
    /// a user without it is refused, and ACL DRYRUN agrees.
    @Test func aContainerRunAloneIsChecked() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send("ACL SETUSER bob on >pw -@all +ping\r\nACL DRYRUN bob command\r\n")
        #expect(admin.readReplies(2) == "+OK\r\n$57\r\nThis user has no permissions to run the 'command' command\r\n")
        let c = try RawClient(port: server.port)
        c.send("AUTH bob pw\r\nCOMMAND\r\nCOMMAND COUNT\r\nPING\r\n")
        #expect(c.readReplies(4) == "+OK\r\n-NOPERM this user has no permissions to run the 'command' command\r\n"
                + "-NOPERM this user has no permissions to run the 'command|count' command\r\n+PONG\r\n")
    }

    /// A key refused at EXEC: the key's reason.
    @Test func execChecksKeysAgain() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        let c = try RawClient(port: server.port)
        c.send("AUTH alice pw\r\nMULTI\r\nXADD foo1 1-1 a 1\r\n")
        #expect(c.read(matching: "+OK\r\n+OK\r\n+QUEUED\r\n") == "+OK\r\n+OK\r\n+QUEUED\r\n")
        admin.send("ACL SETUSER alice resetkeys ~bar\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        c.send("EXEC\r\nXLEN foo1\r\n")
        #expect(c.readReplies(2) == "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. "
            + "This command is no longer allowed for the following reason: no permission to touch the specified keys\r\n"
            + "-NOPERM this user has no permissions to run the 'xlen' command\r\n")
    }

    /// A channel or pattern the user may no longer subscribe to ends with
    /// the unsubscribe push the client would get for its own UNSUBSCRIBE
    /// (Redis 7.0.15 closes the connection instead); what it may keep stays.
    @Test func revokedSubscriptionEndsWithAPush() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        let resp2 = try RawClient(port: server.port)
        resp2.send("AUTH alice pw\r\nSUBSCRIBE chan1 chan2\r\nPSUBSCRIBE chan*\r\n")
        let subscribed = "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nchan1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nchan2\r\n:2\r\n"
            + "*3\r\n$10\r\npsubscribe\r\n$5\r\nchan*\r\n:3\r\n"
        #expect(resp2.read(matching: subscribed) == subscribed)
        let resp3 = try RawClient(port: server.port)
        resp3.send("HELLO 3 AUTH alice pw\r\n")
        _ = resp3.readReplies()
        resp3.send("SUBSCRIBE chan2\r\n")
        #expect(resp3.readReplies() == ">3\r\n$9\r\nsubscribe\r\n$5\r\nchan2\r\n:1\r\n")

        admin.send("ACL SETUSER alice resetchannels &chan1\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        let ended = "*3\r\n$11\r\nunsubscribe\r\n$5\r\nchan2\r\n:2\r\n*3\r\n$12\r\npunsubscribe\r\n$5\r\nchan*\r\n:1\r\n"
        #expect(resp2.read(matching: ended) == ended)
        #expect(resp3.readReplies() == ">3\r\n$11\r\nunsubscribe\r\n$5\r\nchan2\r\n:0\r\n")
        // Still subscribed to chan1, and receives it.
        admin.send("PUBLISH chan1 hi\r\nPUBLISH chan2 no\r\n")
        #expect(admin.readReplies(2) == ":1\r\n:0\r\n")
        #expect(resp2.readReplies() == "*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$2\r\nhi\r\n")
        #expect(server.waitForLog("subscriptions ended by an ACL change"))
    }

    /// CLIENT LIST's `user=` names each connection's user; RESET and a
    /// deleted user's closed connection are seen there too.
    @Test func clientListShowsTheUser() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        let c = try RawClient(port: server.port)
        c.send("CLIENT SETNAME named\r\nAUTH alice pw\r\n")
        #expect(c.readReplies(2) == "+OK\r\n+OK\r\n")
        admin.send("CLIENT LIST\r\n")
        let list = admin.readReplies()
        #expect(list.contains("name=named ") && list.contains("cmd=auth user=alice "), "\(visible(list))")
        admin.send("ACL DELUSER alice\r\n")
        #expect(admin.readReplies() == ":1\r\n")
        #expect(c.isClosedByPeer())
    }

    /// The denials of one kind by one user within a minute are one ACL LOG
    /// entry, counted, moved to the front (Redis's grouping); the log never
    /// shows a password.
    @Test func aclLogGroupsDenials() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        let c = try RawClient(port: server.port)
        c.send("AUTH alice secret-one\r\nAUTH alice pw\r\nXLEN foo\r\nPUBLISH x 1\r\nXLEN foo\r\n")
        _ = c.readReplies(5)
        admin.send("ACL LOG\r\n")
        let log = admin.readReplies()
        #expect(log.hasPrefix("*3\r\n*14\r\n$5\r\ncount\r\n:2\r\n$6\r\nreason\r\n$7\r\ncommand\r\n"), "\(visible(log))")
        #expect(log.contains("$6\r\nreason\r\n$7\r\nchannel\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$1\r\nx\r\n"))
        #expect(log.contains("$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nAUTH\r\n$8\r\nusername\r\n$5\r\nalice\r\n"))
        #expect(!log.contains("secret-one") && !server.log.contains("secret-one") && !server.log.contains("pw\""))
    }

    /// redis-cli authenticates as a named user with --user/--pass and is
    /// refused outside the user's rules, with Redis's texts.
    @Test func redisCliAuthenticatesAsANamedUser() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice)
        #expect(admin.readReplies() == "+OK\r\n")
        func cli(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            p.arguments = ["-p", String(server.port), "--no-auth-warning"] + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(try cli(["--user", "alice", "--pass", "pw", "PUBLISH", "chan1", "x"]) == "0\n")
        #expect(try cli(["--user", "alice", "--pass", "pw", "PUBLISH", "x", "y"])
            == "NOPERM this user has no permissions to access one of the channels used as arguments\n\n")
        #expect(try cli(["--user", "alice", "--pass", "pw", "ACL", "WHOAMI"])
            == "NOPERM this user has no permissions to run the 'acl|whoami' command\n\n")
        let refused = try cli(["--user", "alice", "--pass", "wrong", "PING"])
        #expect(refused.contains("WRONGPASS invalid username-password pair or user is disabled."), "\(refused)")
    }

    /// `kernel.password` is the default user's password (Redis's
    /// requirepass): AUTH with it, or as `default`, and GETUSER shows its
    /// digest only.
    @Test func kernelPasswordIsTheDefaultUsersPassword() throws {
        let server = try ServerProcess(config: "kernel:\n  password: s3cret-pass\n", logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("PING\r\nAUTH nope\r\nAUTH default s3cret-pass\r\nACL WHOAMI\r\nACL GETUSER default\r\nRESET\r\nPING\r\nAUTH s3cret-pass\r\nPING\r\n")
        let reply = c.readReplies(9)
        // SHA-256 of s3cret-pass.
        let digest = "926d3a2dd68393416b7a8348aaadfe4e0c56de6259e17078a0fa1f4dd6e519ae"
        #expect(reply.contains("$64\r\n\(digest)\r\n"), "\(visible(reply))")
        #expect(reply.hasPrefix("-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n$7\r\ndefault\r\n*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n"), "\(visible(reply))")
        #expect(reply.hasSuffix("+RESET\r\n-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n"), "\(visible(reply))")
        #expect(!reply.contains("s3cret-pass"))
    }

    /// Users declared in phoenix.yaml: authenticated with redis-cli's
    /// protocol, refused outside their rules, listed by ACL LIST.
    @Test func usersFromPhoenixYaml() throws {
        let config = """
        users:
          - name: reader
            password_hashes: ["30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"]
            permissions: ["+@read", "+@connection", "-config", "~logs.*"]
          - name: off-one
            enabled: false
            nopass: true
            permissions: ["+@all"]
        """
        let server = try ServerProcess(config: config, logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("AUTH off-one x\r\nAUTH reader pw\r\nXLEN logs.a\r\nXLEN other\r\nPUBLISH logs.a x\r\nPING\r\n")
        #expect(c.readReplies(6) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n:0\r\n"
            + "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
            + "-NOPERM this user has no permissions to run the 'publish' command\r\n+PONG\r\n")
        let admin = try RawClient(port: server.port)
        admin.send("ACL USERS\r\n")
        #expect(admin.readReplies() == "*3\r\n$7\r\ndefault\r\n$7\r\noff-one\r\n$6\r\nreader\r\n")
    }

    /// A rule the ACL model refuses is a configuration error at its place
    /// in the file: `vimana check` prints it, `vimana serve` does not start.
    @Test func refusedRuleIsLocatedInTheFile() throws {
        let path = try temporaryFile("users:\n  - name: w\n    nopass: true\n    permissions: [\"+@pubsub\", \"+nosuchcommand\"]\n")
        let check = try runVimana(["check", path])
        #expect(check.status == 2)
        #expect(check.stderr == "\(path):4:31: users[0].permissions[1]: '+nosuchcommand': Unknown command or category name in ACL\n",
                "\(check.stderr)")
        let serve = try runVimana(["serve", "--config", path, "--port", "0", "--http-port", "off", "--no-ledger"])
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("\(path):4:31: users[0].permissions[1]: '+nosuchcommand': Unknown command or category name in ACL"),
                "\(serve.stderr)")
    }

    /// PUBLISH matches plain and prefix channel patterns on its own path
    /// (compiled patterns, ACLPatternList): for every channel it must agree with the model's
    /// answer, which ACL DRYRUN gives.
    @Test func publishAgreesWithDryRunOnEveryPatternShape() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send("ACL SETUSER p reset on >pw +publish &a &b* &c?d &x[yz]* &e\\*\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        let c = try RawClient(port: server.port)
        c.send("AUTH p pw\r\n")
        #expect(c.readReplies() == "+OK\r\n")
        let channels = ["a", "ab", "", "b", "b*", "bcd", "cxd", "cd", "cxxd", "xy", "xz1", "xa", "e*", "e", "ex", "A", "B1"]
        for channel in channels {
            admin.send(RawClient.command(["ACL", "DRYRUN", "p", "publish", channel, "m"]))
            let dry = admin.readReplies()
            c.send(RawClient.command(["PUBLISH", channel, "m"]))
            let published = c.readReplies()
            #expect((dry == "+OK\r\n") == (published == ":0\r\n"), "channel '\(channel)': dryrun \(visible(dry)), publish \(visible(published))")
        }
    }
}
