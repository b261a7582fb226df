import Foundation
import Testing

/// The next-task search walks a long run of tasks that cannot go out (here
/// 100,000 to dead-letter in a row) in a loop: no deep recursion, and the
/// next valid task still arrives.
@Suite struct TaskBacklogTests {
    static let backlog = 100_000
    /// XADDs sent before their replies are read.
    static let chunk = 10_000

    static let config = """
        ledger:
          fsync: "no"
        agents:
          - id: w
            subscribes: ["bk"]
            max_deliver: 1
        """

    /// Reads `count` whole replies (or what arrives in 120 s).
    func read(_ c: RawClient, replies count: Int) -> String {
        c.readReplies(count, timeout: 120)
    }

    @Test func aHundredThousandTasksToDeadLetterInARowDoNotStopTheNextOne() throws {
        let first = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: first.port)
        for start in stride(from: 1, through: Self.backlog, by: Self.chunk) {
            var script = ""
            for i in start..<start + Self.chunk { script += "XADD bk \(i)-1 payload x\r\n" }
            c.send(script + "PING\r\n")
            let replies = read(c, replies: Self.chunk + 1)
            #expect(replies.hasSuffix("$\("\(start + Self.chunk - 1)-1".count)\r\n\(start + Self.chunk - 1)-1\r\n+PONG\r\n"))
        }
        // A Redis client reads them all as the agent's group: all pending, delivered once.
        c.send("XREADGROUP GROUP w reader STREAMS bk >\r\nXADD bk \(Self.backlog + 1)-1 payload next\r\nPING\r\n")
        let read = read(c, replies: 3)
        #expect(read.hasSuffix("$\("\(Self.backlog + 1)-1".count)\r\n\(Self.backlog + 1)-1\r\n+PONG\r\n"))
        c.send("XPENDING bk w\r\n")
        #expect(c.readReplies().hasPrefix("*4\r\n:\(Self.backlog)\r\n"))
        _ = first.terminate()

        // After the restart every pending task is due at once, and each has
        // been delivered max_deliver (1) times: all dead-lettered in one search.
        let second = try ServerProcess(config: Self.config, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        let instance = try RawClient(port: second.port)
        let tasks = RESPReader(instance)
        instance.send("AGENT JOIN w\r\n")
        #expect(tasks.next(timeout: 120) == .simple("OK"))
        // The task comes once the 100,000 before it are dead-lettered: a
        // loaded debug build has taken over 120 s, so it is waited for while
        // dead.w keeps growing, and given up on only when it stands still.
        let q = try RawClient(port: second.port)
        let counts = RESPReader(q)
        var task: RESP?
        var deadLetters = 0
        _ = waitWhileAdvancing(stall: 30, progress: { deadLetters }) {
            task = tasks.next(timeout: 1)
            guard task == nil else { return true }
            q.send("XLEN dead.w\r\n")
            if case .integer(let n)? = counts.next(timeout: 30) { deadLetters = n }
            return false
        }
        #expect(task?.strings == ["task", "bk", "\(Self.backlog + 1)-1", "1", "next", "default"],
                "\(task?.description ?? "no task; \(deadLetters) dead letters")")
        q.send("XLEN dead.w\r\nXPENDING bk w\r\n")
        #expect(counts.next(timeout: 30) == .integer(Self.backlog))
        #expect(counts.next(timeout: 30)?.strings.first == "1")
        // Each dead letter names its task and carries the task's fields.
        q.send("XRANGE dead.w - + COUNT 1\r\nXREVRANGE dead.w + - COUNT 1\r\n")
        for expected in ["1-1", "\(Self.backlog)-1"] {
            guard case .array(let entries)? = counts.next(timeout: 30), case .array(let entry)? = entries.first,
                  entry.count == 2 else { Issue.record("no dead letter for \(expected)"); continue }
            let fields = entry[1].strings
            #expect(fields == ["topic", "bk", "id", expected, "deliveries", "1", "reason", "instance gone, delivered 1 times", "payload", "x"])
        }
    }
}
