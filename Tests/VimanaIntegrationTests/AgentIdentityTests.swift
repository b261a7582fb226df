import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Agents have identities (Protocol/AGENTS.md §9): each declared agent runs
/// as a user, only that user or an admin may join it or use its consumer
/// groups, and a supervised agent authenticates with the credentials the
/// kernel put in its environment. Raw bytes against the real server.
@Suite struct AgentIdentityTests {
    /// `alice` may do everything but admin; `bot` is `named`'s declared user;
    /// `root` is an admin; `civic` runs as the user made for it, `agent:civic`.
    /// The passwords are `<name>-pw` (their SHA-256 digests here).
    static let config = """
        kernel:
          password: default-pw
        users:
          - name: alice
            password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
            permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
          - name: bot
            password_hashes: ["069a57d5fcc32c910715e4428c53954300a54c2bb8f1f362e2e2378164465912"]
            permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
          - name: root
            password_hashes: ["37df4ff1aa9108a45787bfde74cd7fc43677a98e212bde574d43bd8ace225e9f"]
            permissions: ["+@all", "allkeys", "allchannels"]
        agents:
          - id: civic
            subscribes: ["tasks.civic"]
            publishes: ["results.*"]
          - id: named
            subscribes: ["tasks.named"]
            user: bot
        """

    /// A connection authenticated as `user` (password `<user>-pw`).
    func connect(_ server: ServerProcess, as user: String) throws -> RawClient {
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["AUTH", user, "\(user)-pw"]))
        #expect(c.readReplies() == "+OK\r\n", "AUTH \(user)")
        return c
    }

    func perm(join id: String) -> String { "-NOPERM this user has no permissions to join agent '\(id)'\r\n" }
    func perm(group id: String) -> String {
        "-NOPERM this user has no permissions to use the consumer groups of agent '\(id)'\r\n"
    }

    /// Another user can neither join an agent nor read, acknowledge, claim
    /// or change its groups: each attempt gets the exact -NOPERM, and
    /// nothing changed (no instance, the task still pending to no one).
    @Test func anAgentCannotBeImpersonated() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let root = try connect(server, as: "root")
        root.send("XADD tasks.civic 1-1 payload hello\r\n")
        #expect(root.readReplies() == "$3\r\n1-1\r\n")

        let alice = try connect(server, as: "alice")
        let attempts = [
            "AGENT JOIN civic", "AGENT JOIN named",
            "XREADGROUP GROUP civic c1 STREAMS tasks.civic >", "XREADGROUP GROUP named c1 COUNT 1 STREAMS tasks.named >",
            "XACK tasks.civic civic 1-1", "XCLAIM tasks.civic civic c1 0 1-1", "XAUTOCLAIM tasks.civic civic c1 0 0",
            "XGROUP CREATE tasks.civic civic $", "XGROUP CREATE elsewhere civic $ MKSTREAM", "XGROUP SETID tasks.civic civic 0",
            "XGROUP CREATECONSUMER tasks.civic civic c1", "XGROUP DELCONSUMER tasks.civic civic c1",
            "XGROUP DESTROY tasks.civic civic",
        ]
        alice.send(attempts.map { $0 + "\r\n" }.joined())
        let expected = perm(join: "civic") + perm(join: "named") + perm(group: "civic") + perm(group: "named")
            + String(repeating: perm(group: "civic"), count: attempts.count - 4)
        #expect(alice.readReplies(attempts.count) == expected)

        // Inside a transaction the refusal is the command's reply in EXEC's array.
        alice.send("MULTI\r\nAGENT JOIN civic\r\nEXEC\r\n")
        #expect(alice.readReplies(3) == "+OK\r\n+QUEUED\r\n*1\r\n" + perm(join: "civic"))

        // The declared user of another agent is no more entitled.
        let bot = try connect(server, as: "bot")
        bot.send("AGENT JOIN civic\r\nXACK tasks.civic civic 1-1\r\n")
        #expect(bot.readReplies(2) == perm(join: "civic") + perm(group: "civic"))

        // Each refusal is in ACL LOG, the newest first: bot's two, alike, counted in one entry as Redis groups them.
        root.send("ACL LOG 1\r\n")
        let denial = root.readReplies()
        #expect(denial.hasPrefix("*1\r\n*14\r\n$5\r\ncount\r\n:2\r\n$6\r\nreason\r\n$5\r\nagent\r\n$7\r\ncontext\r\n"
                                 + "$8\r\ntoplevel\r\n$6\r\nobject\r\n$5\r\ncivic\r\n$8\r\nusername\r\n$3\r\nbot\r\n"),
                "\(visible(denial))")

        // Nothing happened: no instance, the group on its topic only, the task never delivered.
        root.send("XINFO GROUPS tasks.civic\r\nXINFO GROUPS elsewhere\r\n")
        let groups = root.readReplies()
        #expect(groups.contains("$5\r\ncivic\r\n") && groups.contains("$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"),
                "\(visible(groups))")
        #expect(root.readReplies() == "-ERR no such key\r\n", "XGROUP CREATE … MKSTREAM made the stream")
        #expect(server.waitForLog(#""event":"agent access refused""#))
        #expect(server.log.contains(#""agent":"civic""#) && server.log.contains(#""user":"alice""#))
    }

    /// The agent's own user (declared with `user:`) and an admin may join
    /// and use the agent's group; the user made for an agent (`agent:<id>`)
    /// may too, once it has a password, and may do what an agent does and
    /// nothing admin.
    @Test func theAgentsUserAndAnAdminMayActAsIt() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let root = try connect(server, as: "root")
        root.send("XADD tasks.named 1-1 payload a\r\nXADD tasks.named 1-2 payload b\r\n")
        #expect(root.readReplies(2) == "$3\r\n1-1\r\n$3\r\n1-2\r\n")

        // `bot`, named's declared user: joins and gets the first task pushed;
        // another of its connections reads the second with XREADGROUP; both
        // are acknowledged.
        let bot = try connect(server, as: "bot")
        bot.send("AGENT JOIN named\r\n")
        #expect(bot.readReplies(2) == "+OK\r\n*6\r\n$4\r\ntask\r\n$11\r\ntasks.named\r\n$3\r\n1-1\r\n:1\r\n$1\r\na\r\n$4\r\nroot\r\n")
        let reader = try connect(server, as: "bot")
        reader.send("XREADGROUP GROUP named r1 STREAMS tasks.named >\r\n")
        #expect(reader.readReplies() == "*1\r\n*2\r\n$11\r\ntasks.named\r\n*1\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$7\r\npayload\r\n$1\r\nb\r\n")
        bot.send("ACK tasks.named 1-1\r\n")
        #expect(bot.readReplies() == ":1\r\n")
        reader.send("XACK tasks.named named 1-2\r\n")
        #expect(reader.readReplies() == ":1\r\n")

        // An admin may join any agent and use its groups.
        root.send("AGENT JOIN civic\r\nXGROUP CREATECONSUMER tasks.named named admin-1\r\nXACK tasks.civic civic 1-1\r\n")
        #expect(root.readReplies(3) == "+OK\r\n:1\r\n:0\r\n")

        // The made user exists, named after the agent; given a password by an
        // admin, it joins its agent, and its rules are an agent's.
        // Only the kernel makes `agent:` users: one made at run time could
        // become the identity of an agent declared later.
        root.send("ACL SETUSER agent:ghost on >x +@all\r\n")
        #expect(root.readReplies() == "-ERR user names beginning with 'agent:' are made by the kernel for the agents declared in phoenix.yaml\r\n")
        root.send("ACL USERS\r\nAGENT LEAVE\r\nACL SETUSER agent:civic >civic-pw\r\n")
        #expect(root.readReplies(3) == "*5\r\n$11\r\nagent:civic\r\n$5\r\nalice\r\n$3\r\nbot\r\n$7\r\ndefault\r\n$4\r\nroot\r\n"
                + "+OK\r\n+OK\r\n")
        let own = try RawClient(port: server.port)
        own.send("AUTH agent:civic civic-pw\r\nAGENT JOIN civic\r\n")
        #expect(own.readReplies(2) == "+OK\r\n+OK\r\n")
        root.send("XADD tasks.civic 2-1 payload mine\r\n")
        #expect(root.readReplies() == "$3\r\n2-1\r\n")
        #expect(own.readReplies() == "*6\r\n$4\r\ntask\r\n$11\r\ntasks.civic\r\n$3\r\n2-1\r\n:1\r\n$4\r\nmine\r\n$4\r\nroot\r\n")
        own.send("ACK tasks.civic 2-1\r\nXRANGE tasks.civic - +\r\nPUBLISH results.x done\r\nPUBLISH elsewhere x\r\n"
                 + "XADD elsewhere * a b\r\nAGENT JOIN named\r\nACL LIST\r\nCONFIG GET port\r\n")
        #expect(own.readReplies(8) == ":1\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$7\r\npayload\r\n$4\r\nmine\r\n:0\r\n"
                + "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
                + "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
                + perm(join: "named")
                + "-NOPERM this user has no permissions to run the 'acl|list' command\r\n"
                + "-NOPERM this user has no permissions to run the 'config|get' command\r\n")
        own.send("AGENT LEAVE\r\nAGENT JOIN named\r\n")
        #expect(own.readReplies(2) == "+OK\r\n" + perm(join: "named"))
    }

    /// Being an admin follows the user's rules at once, on open connections
    /// too: an admin stripped of `@admin` is refused, a user given it may
    /// act as any agent, and `default` is an admin only while its rules say so.
    @Test func whoIsAnAdminFollowsACLChangesAtOnce() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let root = try connect(server, as: "root")
        let alice = try connect(server, as: "alice")
        alice.send("AGENT JOIN civic\r\n")
        #expect(alice.readReplies() == perm(join: "civic"))
        root.send("ACL SETUSER alice +@admin\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        alice.send("AGENT JOIN civic\r\nAGENT LEAVE\r\nACL SETUSER root -@admin\r\n")
        #expect(alice.readReplies(3) == "+OK\r\n+OK\r\n+OK\r\n")
        root.send("AGENT JOIN civic\r\nXACK tasks.civic civic 1-1\r\n")
        #expect(root.readReplies(2) == perm(join: "civic") + perm(group: "civic"))

        let plain = try RawClient(port: server.port)
        plain.send("AUTH default-pw\r\nAGENT JOIN civic\r\nAGENT LEAVE\r\n")
        #expect(plain.readReplies(3) == "+OK\r\n+OK\r\n+OK\r\n")
        alice.send("ACL SETUSER default -acl|setuser\r\n")
        #expect(alice.readReplies() == "+OK\r\n")
        plain.send("AGENT JOIN civic\r\n")
        let later = try RawClient(port: server.port)
        later.send("AUTH default-pw\r\nAGENT JOIN civic\r\n")
        #expect(plain.readReplies() == perm(join: "civic"))
        #expect(later.readReplies(2) == "+OK\r\n" + perm(join: "civic"))
    }

    /// Every example agent, supervised by a kernel whose default user has a
    /// password, authenticates with the credentials in its environment and
    /// takes a task; the secret is in its environment and not in its
    /// arguments, in no log line and in no ACL reply.
    @Test(arguments: ExampleAgentTests.examples + [ExampleAgentTests.Example(interpreter: "python3", script: "redis_py_agent.py")])
    func aSupervisedAgentAuthenticatesWithItsEnvironment(_ example: ExampleAgentTests.Example) throws {
        try requireProgram(example.interpreter)
        let server = try ServerProcess(config: """
            kernel:
              password: default-pw
            agents:
              - id: ex
                subscribes: ["tasks.ex"]
                publishes: ["results.*"]
                command: ["\(example.interpreter)", "\(ExampleAgentTests.scriptPath(example.script))"]
                env: {TOPICS: "tasks.ex"}
            """, logLevel: "info")
        let sub = try RawClient(port: server.port)
        sub.send("AUTH default-pw\r\nSUBSCRIBE results.ex\r\n")
        #expect(sub.readReplies(2) == "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$10\r\nresults.ex\r\n:1\r\n")

        // The agent is in: joined (pushed tasks) or reading its group (redis-py).
        let joined = example.script == "redis_py_agent.py" ? "ex: connected as" : "as agent ex"
        #expect(server.waitForLog(joined, timeout: 15), "the agent never came in; log:\n\(server.log.suffix(3000))")

        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"ex\"") }
        let pid = try #require(started.last.flatMap { ServerProcess.field($0, "pid") })
        let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")).split(separator: 0)
            .map { String(decoding: $0, as: UTF8.self) }
        let cmdline = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        #expect(environ.contains("VIMANA_USER=agent:ex"))
        let secret = try #require(environ.first { $0.hasPrefix("VIMANA_PASSWORD=") }.map { String($0.dropFirst(16)) })
        #expect(secret.count == 64 && secret.allSatisfy(\.isHexDigit), "a 256-bit secret in hex")
        #expect(cmdline.range(of: Data(secret.utf8)) == nil && !String(decoding: cmdline, as: UTF8.self).contains("VIMANA_PASSWORD"))

        let c = try RawClient(port: server.port)
        c.send("AUTH default-pw\r\n" + RawClient.command(["PUBLISH", "tasks.ex", #"{"id":7,"reply_to":"results.ex","text":"hi"}"#]))
        #expect(c.readReplies(2) == "+OK\r\n:0\r\n")
        let answer = sub.readReplies(1, timeout: 15)
        #expect(answer.contains("\"id\":7") && answer.contains("HI"), "no answer; log:\n\(server.log.suffix(3000))")

        // The agent acts as its own user, and the secret shows nowhere.
        c.send("CLIENT LIST\r\nACL LIST\r\nACL GETUSER agent:ex\r\n")
        let replies = c.readReplies(3)
        #expect(replies.contains("user=agent:ex"), "\(visible(replies))")
        #expect(!replies.contains(secret) && !server.log.contains(secret))
        #expect(server.terminate() == 0)
    }

    /// The user made for an agent may run what an agent runs, on its own
    /// topics (or any, without `publishes`), and nothing admin; it has no
    /// password, so without its start secret nobody can enter it.
    @Test func theMadeUserHasAnAgentsPermissionsAndNoPassword() throws {
        let server = try ServerProcess(config: Self.config + """

              - id: any
                subscribes: ["tasks.any"]
            """, logLevel: "info")
        let root = try connect(server, as: "root")
        let allowed = [
            "PING", "HELLO 3", "CLIENT SETNAME x", "AGENT JOIN civic", "AGENT LEAVE", "ACK tasks.civic 1-1",
            "NACK tasks.civic 1-1 10", "PROGRESS tasks.civic 1-1", "XREADGROUP GROUP civic c COUNT 1 STREAMS tasks.civic >",
            "XACK tasks.civic civic 1-1", "XCLAIM tasks.civic civic c 0 1-1", "XAUTOCLAIM tasks.civic civic c 0 0",
            "XPENDING tasks.civic civic", "XGROUP CREATE tasks.civic civic $ MKSTREAM", "XREAD STREAMS tasks.civic 0",
            "XRANGE tasks.civic - +", "XLEN tasks.civic", "XADD results.x * a b", "PUBLISH results.x hi",
            "SUBSCRIBE tasks.civic results.x", "WATCH results.x", "UNWATCH", "MULTI", "EXEC", "DISCARD",
        ]
        root.send(allowed.map { "ACL DRYRUN agent:civic \($0)\r\n" }.joined())
        #expect(root.readReplies(allowed.count) == String(repeating: "+OK\r\n", count: allowed.count))
        func refused(_ what: String) -> String { "$\(what.utf8.count)\r\n\(what)\r\n" }
        root.send("ACL DRYRUN agent:civic XADD elsewhere * a b\r\nACL DRYRUN agent:civic PUBLISH elsewhere x\r\n"
                  + "ACL DRYRUN agent:civic CONFIG GET port\r\nACL DRYRUN agent:civic ACL LIST\r\n"
                  + "ACL DRYRUN agent:civic CLIENT KILL ID 1\r\nACL DRYRUN agent:civic XGROUP DESTROY tasks.civic civic\r\n"
                  + "ACL DRYRUN agent:civic AGENTS\r\nACL DRYRUN agent:any XADD elsewhere * a b\r\n"
                  + "ACL DRYRUN agent:any CONFIG GET port\r\nACL GETUSER agent:civic\r\n")
        let replies = root.readReplies(10)
        #expect(replies.hasPrefix(refused("This user has no permissions to access the 'elsewhere' key")
            + refused("This user has no permissions to access the 'elsewhere' channel")
            + refused("This user has no permissions to run the 'config|get' command")
            + refused("This user has no permissions to run the 'acl|list' command")
            + refused("This user has no permissions to run the 'client|kill' command")
            + refused("This user has no permissions to run the 'xgroup|destroy' command")
            + refused("This user has no permissions to run the 'agents' command")
            + "+OK\r\n" + refused("This user has no permissions to run the 'config|get' command")
            + "*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*0\r\n"), "\(visible(replies))")

        let c = try RawClient(port: server.port)
        c.send("AUTH agent:civic x\r\nAUTH agent:civic \"\"\r\nHELLO 3 AUTH agent:civic civic\r\n")
        let wrong = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        #expect(c.readReplies(3) == wrong + wrong + wrong)
    }
}
