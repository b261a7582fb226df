import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A permission change takes effect on the user's open connections at once
/// (Protocol/PROTOCOL.md §4.2, AGENTS.md §9): a blocked read it now refuses
/// ends with the command's -NOPERM, and an agent instance whose user may no
/// longer act as its agent leaves it. Redis 7.0.15 keeps serving such a
/// blocked read (checked by hand: its XREAD BLOCK returned the next entry
/// after `resetkeys`, `-xread` and `off`), so there is no parity to compare.
@Suite struct ACLChangeTests {
    static let alice = "ACL SETUSER alice on >pw ~foo* +@stream +@connection\r\n"

    /// Waits until INFO says `count` clients are blocked.
    func waitForBlocked(_ q: RawClient, _ count: Int) -> Bool {
        waitFor(10) {
            q.send("INFO clients\r\n")
            return q.readReplies().contains("\r\nblocked_clients:\(count)\r\n")
        }
    }

    /// Keys taken away end the blocked XREAD and XREADGROUP on them with
    /// the key's -NOPERM (logged in ACL LOG); a command taken away ends
    /// those of that command with the command's; a read still allowed stays
    /// blocked and is served.
    @Test func aBlockedReadTheRulesNowRefuseEnds() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        admin.send(Self.alice + "XGROUP CREATE foo2 g $ MKSTREAM\r\nXGROUP CREATE foo3 g $ MKSTREAM\r\n")
        #expect(admin.readReplies(3) == "+OK\r\n+OK\r\n+OK\r\n")
        var readers: [RawClient] = []
        for command in ["XREAD BLOCK 0 STREAMS foo1 $", "XREADGROUP GROUP g c1 BLOCK 0 STREAMS foo2 >",
                        "XREADGROUP GROUP g c2 BLOCK 0 STREAMS foo3 >", "XREAD COUNT 5 BLOCK 0 STREAMS foo3 $"] {
            let c = try RawClient(port: server.port)
            c.send("AUTH alice pw\r\n\(command)\r\n")
            #expect(c.readReplies() == "+OK\r\n")
            readers.append(c)
        }
        #expect(waitForBlocked(admin, 4))

        admin.send("ACL SETUSER alice resetkeys ~foo3\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        let key = "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        #expect(readers[0].readReplies() == key)
        #expect(readers[1].readReplies() == key)
        #expect(waitForBlocked(admin, 2))

        admin.send("ACL SETUSER alice -xreadgroup\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        #expect(readers[2].readReplies() == "-NOPERM this user has no permissions to run the 'xreadgroup' command\r\n")
        #expect(waitForBlocked(admin, 1))
        // The connections go on: the next command runs under the new rules.
        readers[0].send("XLEN foo3\r\nXLEN foo1\r\n")
        #expect(readers[0].readReplies(2) == ":0\r\n" + key)

        admin.send("XADD foo3 1-1 a 1\r\n")
        #expect(admin.readReplies() == "$3\r\n1-1\r\n")
        #expect(readers[3].readReplies() == "*1\r\n*2\r\n$4\r\nfoo3\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")
        admin.send("ACL LOG 3\r\n")
        let log = admin.readReplies()
        #expect(log.contains("$6\r\nobject\r\n$10\r\nxreadgroup\r\n"), "\(visible(log))")
        #expect(log.contains("$6\r\nobject\r\n$4\r\nfoo2\r\n"), "\(visible(log))")
        #expect(log.contains("$6\r\nobject\r\n$4\r\nfoo1\r\n"), "\(visible(log))")
    }

    /// An admin joined as an instance of an agent that is not its own, then
    /// stripped of `@admin`: the instance leaves at once, the task it held
    /// goes to the agent's other instance (long before `ack_wait`), and the
    /// connection gets the join's -NOPERM and is closed. (`ack_wait` is
    /// 30 s: a task back within the test's waits came back by the leave.)
    @Test func anInstanceWhoseUserMayNoLongerActAsTheAgentLeaves() throws {
        // root (an admin) and bot (`named`'s user); `default` has every command.
        let server = try ServerProcess(config: AgentIdentityTests.config, logLevel: "info")
        let identities = AgentIdentityTests()
        let root = try identities.connect(server, as: "root")
        root.send("AGENT JOIN named\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        let admin = try identities.connect(server, as: "default")
        admin.send("XADD tasks.named 1-1 payload a\r\n")
        #expect(admin.readReplies() == "$3\r\n1-1\r\n")
        let task = "*6\r\n$4\r\ntask\r\n$11\r\ntasks.named\r\n$3\r\n1-1\r\n:1\r\n$1\r\na\r\n$7\r\ndefault\r\n"
        #expect(root.readReplies() == task)
        let bot = try identities.connect(server, as: "bot")
        bot.send("AGENT JOIN named\r\n")
        #expect(bot.readReplies() == "+OK\r\n")

        admin.send("ACL SETUSER root -@admin\r\n")
        #expect(admin.readReplies() == "+OK\r\n")
        #expect(root.readReplies() == "-NOPERM this user has no permissions to join agent 'named'\r\n")
        #expect(root.isClosedByPeer())
        // Redelivered to the instance left, its delivery counted.
        #expect(bot.readReplies() == task.replacingOccurrences(of: ":1\r\n", with: ":2\r\n"))
        #expect(server.waitForLog("agent instance left"))
        admin.send("ACL LOG 1\r\n")
        let log = admin.readReplies()
        #expect(log.contains("$6\r\nreason\r\n$5\r\nagent\r\n") && log.contains("$6\r\nobject\r\n$5\r\nnamed\r\n"), "\(visible(log))")
    }
}
