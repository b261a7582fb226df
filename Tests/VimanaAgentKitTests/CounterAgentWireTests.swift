import Foundation
import Testing
@testable import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The example agent as a real process supervised by a real kernel: tasks
/// in, replies and events out; malformed tasks dead-lettered; a task whose
/// events were appended before a crash applied once; the state rebuilt after
/// kill -9; request/reply's timeout.
@Suite struct CounterAgentWireTests {
    static var agentBinary: String {
        URL(fileURLWithPath: ServerProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("CounterAgent").path
    }

    /// A kernel supervising the counter agent, which runs as the user the
    /// kernel made for it (`agent:counter`), and waits until it joined.
    func start(env: [String: String] = [:]) throws -> ServerProcess {
        let envLine = env.isEmpty ? "" : "\n    env: {" + env.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", ") + "}"
        let server = try ServerProcess(config: """
            agents:
              - id: counter
                subscribes: ["tasks.counter"]
                command: ["\(Self.agentBinary)"]\(envLine)
            """, logLevel: "info")
        try waitForJoins(server, 1)
        return server
    }

    func waitForJoins(_ server: ServerProcess, _ n: Int) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && server.logLines.filter({ $0.contains("as agent counter") }).count < n { usleep(20_000) }
        if server.logLines.filter({ $0.contains("as agent counter") }).count < n {
            throw TestFailure("the counter agent did not join (\(n)); log:\n\(server.log.suffix(3000))")
        }
    }

    func requester(_ server: ServerProcess) throws -> AgentRequester {
        try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
    }

    func agentPID(_ server: ServerProcess) throws -> pid_t {
        let started = server.logLines.filter { $0.contains("\"agent started\"") && $0.contains("\"agent\":\"counter\"") }
        return pid_t(try #require(started.last.flatMap { ServerProcess.field($0, "pid") }))
    }

    @Test func tasksInRepliesAndEventsOutAsTheAgentsOwnUser() throws {
        let server = try start()
        let client = try requester(server)
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "apples", "by": 2], timeout: 10)
                == .ok(["name": "apples", "value": 2]))
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "apples", "by": 3], timeout: 10)
                == .ok(["name": "apples", "value": 5]))
        #expect(try client.request(agent: "counter", action: "get", args: ["name": "apples"], timeout: 10)
                == .ok(["name": "apples", "value": 5]))
        #expect(try client.request(agent: "counter", action: "fly", args: ["name": "apples"], timeout: 10)
                == .error(code: "unknown_action", message: "unknown action 'fly' (add, get, reset)"))
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "apples", "by": -1], timeout: 10)
                == .error(code: "bad_argument", message: "by must be an integer from 1 to 1000000"))

        // Two events, appended by the agent's own user, with the caller the kernel attached (default).
        let events = try streamFields(server, "events.counter", publisher: true)
        #expect(events.count == 2, "\(events)")
        #expect(events.first?.prefix(10) == ["type", "added", "name", "apples", "owner", "default", "value", "2",
                                             "request", events.first?[9] ?? ""])
        #expect(events.allSatisfy { $0.suffix(2) == ["_publisher", "agent:counter"] }, "\(events)")
        // Its replies are recorded with the same publisher.
        let replies = try streamFields(server, client.replyTopic, publisher: true)
        #expect(replies.count == 5 && replies.allSatisfy { $0.suffix(2) == ["_publisher", "agent:counter"] }, "\(replies)")
        try expectNothingPending(server)

        // SIGTERM from the kernel's shutdown: the agent exits 0.
        #expect(server.terminate() == 0)
        let exits = server.logLines.filter { $0.contains("\"agent exited\"") && $0.contains("\"agent\":\"counter\"") }
        #expect(exits.last?.contains("\"exit_status\":0") == true, "exits: \(exits)")
    }

    @Test func aMalformedTaskIsDeadLetteredWithItsReason() throws {
        let server = try start()
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.bad\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter", "not json"]))
        c.send(RawClient.command(["PUBLISH", "tasks.counter", #"{"id":"m1","reply_to":"r.bad","args":{}}"#]))
        // The caller who gave a reply_to is told, not left waiting.
        #expect(results.next(timeout: 10)?.strings == ["message", "r.bad",
            #"{"error":{"code":"malformed","message":"malformed task: action must be a non-empty string"},"id":"m1","ok":false}"#])
        try expectNothingPending(server)
        let dead = try streamFields(server, "dead.counter", publisher: true)
        #expect(dead.count == 2, "\(dead)")
        #expect(dead.first?.prefix(12) == ["topic", "tasks.counter", "id", dead.first?[3] ?? "", "deliveries", "1",
                                           "reason", "malformed task: the payload is not a JSON object",
                                           "publisher", "default", "payload", "not json"])
        #expect(dead.last?[7] == "malformed task: action must be a non-empty string")
        #expect(try streamFields(server, "events.counter", publisher: true).isEmpty)
    }

    /// With `VIMANA_MAX_TASK_BYTES`, a task at the limit is handled and
    /// one a byte over is dead-lettered unparsed (reason `oversized: …`,
    /// no reply: its reply_to is never read), then acknowledged.
    @Test func aTaskOverMaxTaskBytesIsDeadLetteredOversized() throws {
        func task(_ name: String) -> String { #"{"id":"\#(name)","reply_to":"r.size","action":"add","args":{"name":"\#(name)","by":1}}"# }
        let atLimit = task("aaaa")
        let overByOne = atLimit + " "  // valid JSON still (trailing space), one byte over
        let server = try start(env: ["VIMANA_MAX_TASK_BYTES": String(atLimit.utf8.count)])
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.size\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter", overByOne]))
        c.send(RawClient.command(["PUBLISH", "tasks.counter", atLimit]))
        // Only the task at the limit is answered.
        #expect(results.next(timeout: 10)?.strings == ["message", "r.size", #"{"id":"aaaa","ok":true,"result":{"name":"aaaa","value":1}}"#])
        try expectNothingPending(server)
        let dead = try streamFields(server, "dead.counter", publisher: true)
        #expect(dead.count == 1, "\(dead)")
        #expect(dead.first?[7] == "oversized: the task is \(atLimit.utf8.count + 1) bytes, over the agent's max_task_bytes (\(atLimit.utf8.count))")
        #expect(dead.first?[9] == "default" && dead.first?[11] == overByOne)
        #expect(try streamFields(server, "events.counter", publisher: true).count == 1)
        #expect(results.next(timeout: 0.5) == nil, "the oversized task was answered")
    }

    /// An agent held to `publishes` (§9) works when the list has its event
    /// topic and its callers' reply topics; without `dead.<id>`, a malformed
    /// task is given back until the kernel dead-letters it.
    @Test func anAgentHeldToPublishesNeedsItsEventTopicAndFallsBackToTheKernelsDeadLetters() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: counter
                subscribes: ["tasks.counter"]
                publishes: ["events.counter", "r.*"]
                max_deliver: 2
                command: ["\(Self.agentBinary)"]
            """, logLevel: "info")
        try waitForJoins(server, 1)
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"), replyTopic: "r.test")
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "p"], timeout: 10)
                == .ok(["name": "p", "value": 1]))
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter", "oops"]))
        let deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.count < 2 {
            dead = try streamFields(server, "dead.counter", publisher: true)
            usleep(50_000)
        }
        #expect(dead.count == 1 && dead.first?.contains("rejected (NACK) 2 times") == true, "\(dead)")
        #expect(dead.first?.suffix(2) == ["_publisher", "default"], "the dead letter keeps the task's publisher")
        #expect(server.waitForLog("cannot append to dead.counter"), "log:\n\(server.log.suffix(3000))")
    }

    /// An applied task whose reply may not be published is acknowledged
    /// (a warning logged), not given back until the kernel dead-letters it;
    /// a malformed task the agent cannot dead-letter itself is answered once,
    /// not at every delivery.
    @Test func anAppliedTaskIsAcknowledgedEvenWhenItsReplyIsRefused() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: counter
                subscribes: ["tasks.counter"]
                publishes: ["events.counter", "r.*"]
                max_deliver: 2
                command: ["\(Self.agentBinary)"]
            """, logLevel: "info")
        try waitForJoins(server, 1)
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.bad\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter",
                                  #"{"action":"add","id":1,"reply_to":"elsewhere","args":{"name":"w"}}"#]))
        #expect(server.waitForLog("applied, but its reply to elsewhere was refused", timeout: 10), "log:\n\(server.log.suffix(3000))")
        try expectNothingPending(server)
        #expect(try streamFields(server, "dead.counter", publisher: true).isEmpty, "an applied task was dead-lettered")
        #expect(try streamFields(server, "events.counter", publisher: true).count == 1)

        // A task that appends nothing is acknowledged only once its reply
        // went out: refused, it is given back at each delivery, then the kernel dead-letters it.
        c.send(RawClient.command(["PUBLISH", "tasks.counter", #"{"action":"get","id":2,"reply_to":"elsewhere","args":{"name":"w"}}"#]))
        #expect(server.waitForLog("reply to elsewhere refused", timeout: 10), "log:\n\(server.log.suffix(3000))")
        let given = Date().addingTimeInterval(20)
        var gone: [[String]] = []
        while Date() < given && gone.isEmpty {
            gone = try streamFields(server, "dead.counter", publisher: true)
            usleep(20_000)
        }
        #expect(gone.count == 1 && gone.first?.contains(#"{"action":"get","id":2,"reply_to":"elsewhere","args":{"name":"w"}}"#) == true,
                "\(gone)")
        #expect(server.log.components(separatedBy: "reply to elsewhere refused").count - 1 == 2, "given back at each of its 2 deliveries")

        c.send(RawClient.command(["PUBLISH", "tasks.counter", #"{"id":"m","reply_to":"r.bad"}"#]))
        #expect(results.next(timeout: 10)?.strings.last?.contains("malformed task: action must be a non-empty string") == true)
        let deadline = Date().addingTimeInterval(20)
        var dead: [[String]] = []
        while Date() < deadline && dead.count < 2 {
            dead = try streamFields(server, "dead.counter", publisher: true)
            usleep(20_000)
        }
        #expect(dead.count == 2, "\(dead)")
        // Every delivery's reply was published before the kernel's dead letter: a PING after it comes first.
        sub.send("PING\r\n")
        #expect(results.next(timeout: 10)?.strings == ["pong", ""])
    }

    /// The agent exits (status 70) right after appending the events of
    /// `crash-1`, before replying and acknowledging: the kernel restarts it
    /// and delivers the task again, which is answered from the stored reply
    /// and appends nothing.
    @Test func aTaskRedeliveredAfterACrashBetweenEventsAndAckIsAppliedOnce() throws {
        let server = try start(env: ["VIMANA_AGENT_CRASH_AFTER_APPEND": "crash-1"])
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.crash\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter",
                                  #"{"action":"add","id":"crash-1","reply_to":"r.crash","args":{"name":"c","by":5}}"#]))
        let reply = results.next(timeout: 30)
        #expect(reply?.strings == ["message", "r.crash", #"{"id":"crash-1","ok":true,"result":{"name":"c","value":5}}"#],
                "log:\n\(server.log.suffix(3000))")
        #expect(server.logLines.contains { $0.contains("\"agent exited\"") && $0.contains("\"exit_status\":70") },
                "the agent did not crash where it was told to")
        // The agent's lines reach the kernel's log from another thread: wait for it.
        #expect(server.waitForLog(#"delivery=2 publisher=default action=add id=\"crash-1\" duplicate events=0"#, timeout: 10),
                "the redelivery was not recognised; log:\n\(server.log.suffix(3000))")
        #expect(try streamFields(server, "events.counter", publisher: true).count == 1)
        // The same request published again by its caller (at least once, end to end) is answered the same, and applied once.
        c.send(RawClient.command(["PUBLISH", "tasks.counter",
                                  #"{"action":"add","id":"crash-1","reply_to":"r.crash","args":{"name":"c","by":5}}"#]))
        #expect(results.next(timeout: 10)?.strings == reply?.strings)
        try expectNothingPending(server)
        #expect(try streamFields(server, "events.counter", publisher: true).count == 1)
        #expect(try requester(server).request(agent: "counter", action: "get", args: ["name": "c"], timeout: 10)
                == .ok(["name": "c", "value": 5]))
    }

    /// Two instances of the agent (the kernel's and one started by hand as
    /// the same user) dealt tasks round-robin: every update lands once, on
    /// the state the other instance left (WATCH/MULTI/EXEC on the event
    /// topic), and a request applied by one is a duplicate for the other.
    @Test func twoInstancesApplyEveryTaskOnceOnTheSharedState() throws {
        let server = try start()
        let second = try SecondInstance(server)
        defer { second.stop() }
        func secondLog() -> String { second.log }

        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.me\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        let n = 12
        c.send((1...n).map { RawClient.command(["PUBLISH", "tasks.counter",
            #"{"action":"add","id":\#($0),"reply_to":"r.me","args":{"name":"x"}}"#]) }.joined())
        var values: [Int: Int] = [:]
        for _ in 1...n {
            guard let m = results.next(timeout: 20)?.strings, m.count == 3,
                  case .object(let o)? = JSON.parse(m[2]),
                  case .int(let id)? = o["id"], case .object(let r)? = o["result"], case .int(let v)? = r["value"] else {
                Issue.record("a reply is missing; log:\n\(server.log.suffix(3000))\nsecond:\n\(secondLog())")
                return
            }
            values[Int(id)] = Int(v)
        }
        // As with one instance: each add counted once, each reply a different count.
        #expect(values.count == n && Set(values.values) == Set(1...n), "\(values)")
        #expect(secondLog().contains("task tasks.counter"), "the second instance was dealt no task: \(secondLog())")
        #expect(try streamFields(server, "events.counter", publisher: true).count == n)
        // The same requests again: whichever instance gets them, they were applied before.
        c.send(RawClient.command(["PUBLISH", "tasks.counter", #"{"action":"add","id":1,"reply_to":"r.me","args":{"name":"x"}}"#])
               + RawClient.command(["PUBLISH", "tasks.counter", #"{"action":"add","id":2,"reply_to":"r.me","args":{"name":"x"}}"#]))
        // The two instances answer in either order.
        let again = Set((1...2).compactMap { _ in results.next(timeout: 20)?.strings.last })
        #expect(again == Set((1...2).map { #"{"id":\#($0),"ok":true,"result":{"name":"x","value":\#(values[$0] ?? 0)}}"# }),
                "\(again)")
        #expect(try streamFields(server, "events.counter", publisher: true).count == n)
        #expect(try requester(server).request(agent: "counter", action: "get", args: ["name": "x"], timeout: 10)
                == .ok(["name": "x", "value": .int(Int64(n))]))
        try expectNothingPending(server)
    }

    /// The instance that applies a task crashes right after appending its
    /// events (before its reply and ACK); the kernel gives the task to the
    /// other instance, which finds it applied: answered from the stored
    /// reply, nothing appended. Both instances carry the crash switch, so
    /// whichever the task is dealt to crashes.
    @Test func aTaskAppliedByACrashedInstanceIsADuplicateForTheOther() throws {
        let server = try start(env: ["VIMANA_AGENT_CRASH_AFTER_APPEND": "crash-2"])
        let second = try SecondInstance(server, env: ["VIMANA_AGENT_CRASH_AFTER_APPEND": "crash-2"])
        defer { second.stop() }
        let sub = try RawClient(port: server.port)
        let results = RESPReader(sub)
        sub.send("SUBSCRIBE r.crash\r\n")
        _ = results.next()
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.counter",
                                  #"{"action":"add","id":"crash-2","reply_to":"r.crash","args":{"name":"d","by":3}}"#]))
        #expect(results.next(timeout: 30)?.strings.last == #"{"id":"crash-2","ok":true,"result":{"name":"d","value":3}}"#,
                "log:\n\(server.log.suffix(3000))\nsecond:\n\(second.log)")
        try expectNothingPending(server)
        let duplicate = #"id="crash-2" duplicate events=0"#
        if second.process.isRunning {
            // The kernel's instance crashed: the second answered.
            #expect(server.waitForLog("\"exit_status\":70", timeout: 10), "log:\n\(server.log.suffix(3000))")
            #expect(second.log.contains(duplicate), "second:\n\(second.log)")
        } else {
            #expect(second.process.terminationStatus == 70)
            #expect(server.waitForLog(duplicate, timeout: 10), "log:\n\(server.log.suffix(3000))")
        }
        #expect(try streamFields(server, "events.counter", publisher: true).count == 1)
    }

    /// After kill -9 the agent's state comes back from its events alone; an
    /// entry someone else appended to its event topic is not one of them.
    @Test func stateAfterKillNineIsRebuiltFromTheAgentsOwnEvents() throws {
        let server = try start()
        let client = try requester(server)
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "n", "by": 40], timeout: 10)
                == .ok(["name": "n", "value": 40]))
        let forger = try RawClient(port: server.port)
        forger.send(RawClient.command(["XADD", "events.counter", "*", "type", "added", "name", "n", "value", "999", "owner", "default"]))
        #expect(forger.readReplies().hasPrefix("$"))
        kill(try agentPID(server), SIGKILL)
        try waitForJoins(server, 2)
        #expect(server.waitForLog("(state from 1 events, 1 entries of other publishers ignored)"), "log:\n\(server.log.suffix(3000))")
        #expect(try client.request(agent: "counter", action: "add", args: ["name": "n", "by": 2], timeout: 10)
                == .ok(["name": "n", "value": 42]))
    }

    /// Retention retires the segment holding the first events; the agent's
    /// snapshot, taken after them, keeps them: restarted by kill -9, it
    /// starts from the snapshot and knows every counter.
    @Test func aSnapshotKeepsTheStateWhenRetentionRetiresTheEventsBehindIt() throws {
        let server = try ServerProcess(config: """
            ledger:
              retention: {max_age: 1s}
            agents:
              - id: counter
                subscribes: ["tasks.counter"]
                command: ["\(Self.agentBinary)"]
            """, logLevel: "info")
        try waitForJoins(server, 1)
        let client = try requester(server)
        let admin = try RawClient(port: server.port)
        // Big names: a few tasks make the 1 MiB of events after which a snapshot is taken.
        func name(_ i: Int) -> String { "n\(i)-" + String(repeating: "x", count: 100_000) }
        for i in 0..<3 {
            #expect(try client.request(agent: "counter", action: "add", args: ["name": .string(name(i))], timeout: 10, id: .string("add-\(i)"))
                    == .ok(["name": .string(name(i)), "value": 1]))
        }
        // The segment with those events is sealed, then retired (max_age 1 s).
        admin.send(RawClient.command(["LEDGER", "SEAL"]))
        _ = admin.readReplies()
        let deadline = Date().addingTimeInterval(30)
        var left = ""
        repeat {
            usleep(50_000)
            admin.send(RawClient.command(["XRANGE", "events.counter", "-", "+", "COUNT", "1"]))
            left = admin.readReplies()
        } while left != "*0\r\n" && Date() < deadline
        #expect(left == "*0\r\n", "the first events were not retired: \(left.prefix(200))")
        for i in 3..<9 {
            #expect(try client.request(agent: "counter", action: "add", args: ["name": .string(name(i))], timeout: 10, id: .string("add-\(i)"))
                    == .ok(["name": .string(name(i)), "value": 1]))
        }
        // A snapshot was taken after the retired events (once 1 MiB of events
        // was folded since the start): one `snapshot` entry, by the agent's user.
        var commits: [[String]] = []
        while commits.isEmpty && Date() < deadline.addingTimeInterval(30) {
            commits = try streamFields(server, "snapshots.counter", publisher: true).filter { $0.prefix(2) == ["type", "snapshot"] }
            if commits.isEmpty { usleep(50_000) }
        }
        #expect(commits.count == 1 && commits.first?.suffix(2) == ["_publisher", "agent:counter"], "\(commits.map { $0.prefix(12) })")

        kill(try agentPID(server), SIGKILL)
        try waitForJoins(server, 2)
        #expect(server.waitForLog("(state from 9 events)", timeout: 30), "log:\n\(server.log.suffix(3000))")
        // n0's event is gone from the ledger, and the restarted agent still knows it (and n8).
        #expect(try client.request(agent: "counter", action: "add", args: ["name": .string(name(0))], timeout: 10)
                == .ok(["name": .string(name(0)), "value": 2]))
        #expect(try client.request(agent: "counter", action: "get", args: ["name": .string(name(8))], timeout: 10)
                == .ok(["name": .string(name(8)), "value": 1]))
        // Requests applied before the snapshot are duplicates after it: add-4's reply, no longer in
        // memory, is read back from its entry; add-1's entry is retired, so it is said to be applied.
        #expect(try client.request(agent: "counter", action: "add", args: ["name": .string(name(4))], timeout: 10, id: "add-4")
                == .ok(["name": .string(name(4)), "value": 1]))
        guard case .error(let code, let message) = try client.request(agent: "counter", action: "add", args: ["name": .string(name(1))],
                                                                       timeout: 10, id: "add-1") else {
            Issue.record("add-1 was applied again")
            return
        }
        #expect(code == "duplicate" && message.hasPrefix(#"request "add-1" was applied (at "#)
                && message.hasSuffix("), and its reply is no longer in events.counter"), "\(message)")
        #expect(try client.request(agent: "counter", action: "get", args: ["name": .string(name(1))], timeout: 10)
                == .ok(["name": .string(name(1)), "value": 1]))
    }

    /// Under a kernel's `max_payload` (VIMANA_MAX_PAYLOAD), a task whose
    /// reply would be longer is dead-lettered with the reason and answered
    /// with a short error, instead of the kernel closing the agent's
    /// connection at every delivery; the agent goes on.
    @Test func aReplyOverMaxPayloadIsDeadLetteredNotSent() throws {
        let server = try ServerProcess(config: """
            kernel:
              limits: {max_payload: 4kb}
            agents:
              - id: loud
                subscribes: ["tasks.loud"]
            """, logLevel: "info")
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_MAX_PAYLOAD": "4096"],
                                                         agentID: "loud")
        let runtime = Unchecked(AgentRuntime(logic: Loud(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        let text = String(repeating: "n", count: 2000)  // the task fits; its reply, the text three times, does not
        #expect(try client.request(agent: "loud", action: "say", args: ["text": .string(text)], timeout: 10, user: "default")
                == .error(code: "internal", message: "the reply is 6063 bytes, over the kernel's max_payload (4096)"))
        let dead = try streamFields(server, "dead.loud")
        #expect(dead.count == 1 && dead.first?.contains("the reply is 6063 bytes, over the kernel's max_payload (4096)") == true,
                "\(dead.map { $0.prefix(8) })")
        #expect(try streamFields(server, "events.loud").isEmpty)
        #expect(try client.request(agent: "loud", action: "say", args: ["text": "hi"], timeout: 10, user: "default") == .ok("hihihi"))
        #expect(!server.log.contains("payload over max_payload"), "the kernel closed a connection for its size")
    }

    /// kill -9 of the kernel: the agent it started exits once its parent
    /// is gone (status 1 is not observable here, its absence is), and the
    /// next kernel on the same ledger starts a new one with the state whole.
    @Test func stateAfterKillNineOfTheKernelIsRebuilt() throws {
        let first = try start()
        #expect(try requester(first).request(agent: "counter", action: "add", args: ["name": "k", "by": 7], timeout: 10)
                == .ok(["name": "k", "value": 7]))
        let oldAgent = try agentPID(first)
        #expect(first.terminate(signal: SIGKILL) != nil)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && kill(oldAgent, 0) == 0 { usleep(20_000) }
        #expect(kill(oldAgent, 0) != 0, "the agent outlived its kernel")
        let second = try ServerProcess(config: """
            agents:
              - id: counter
                subscribes: ["tasks.counter"]
                command: ["\(Self.agentBinary)"]
            """, logLevel: "info", ledgerDirectory: first.ledgerDirectory)
        try waitForJoins(second, 1)
        #expect(try requester(second).request(agent: "counter", action: "add", args: ["name": "k", "by": 1], timeout: 10)
                == .ok(["name": "k", "value": 8]))
        withExtendedLifetime(first) {}  // it owns the ledger directory
    }

    /// A task whose handling outlasts `ack_wait` is kept by PROGRESS: it is
    /// delivered once. The runtime runs in this process, with a logic that
    /// takes 1 s and the settings a kernel's environment gives for an
    /// ack_wait of 300 ms.
    @Test func progressKeepsASlowTaskFromBeingRedelivered() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: slow
                subscribes: ["tasks.slow"]
                ack_wait: 300ms
            """, logLevel: "info")
        // The interval the kernel's VIMANA_ACK_WAIT_MS gives (a third: 100 ms), not the default 10 s.
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_ACK_WAIT_MS": "300"],
                                                         agentID: "slow")
        let runtime = Unchecked(AgentRuntime(logic: Slow(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        #expect(try client.request(agent: "slow", action: "work", timeout: 20, user: "default") == .ok("done"))
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        // The reply is published before the ACK: wait for the ACK.
        var agents = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !agents.contains("\"acknowledged\", :1,") {
            c.send("AGENTS\r\n")
            agents = try #require(r.next()).description
        }
        #expect(agents.contains("\"delivered\", :1,") && agents.contains("\"acknowledged\", :1,"), "\(agents)")
    }

    /// PROGRESS covers the reads too: a logic whose six reads take 150 ms
    /// each (XREAD BLOCK on a quiet topic, a stand-in for XRANGE of a long
    /// one) outlasts an ack_wait of 300 ms, and its task is delivered once.
    @Test func progressKeepsATaskWithSlowReadsFromBeingRedelivered() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: reader
                subscribes: ["tasks.reader"]
                ack_wait: 300ms
            """, logLevel: "info")
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_ACK_WAIT_MS": "300"],
                                                         agentID: "reader")
        let runtime = Unchecked(AgentRuntime(logic: SlowReads(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        #expect(try client.request(agent: "reader", action: "read", timeout: 20, user: "default") == .ok(6))
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        var agents = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !agents.contains("\"acknowledged\", :1,") {
            c.send("AGENTS\r\n")
            agents = try #require(r.next()).description
        }
        #expect(agents.contains("\"delivered\", :1,") && agents.contains("\"acknowledged\", :1,"), "\(agents)")
    }

    /// The state is rebuilt across XRANGE pages (here of 2 entries), from
    /// the entries the agent's user appended (the runtime in this process
    /// runs as `default`, as this test's own connection).
    @Test func theStateIsRebuiltAcrossPages() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: pages
                subscribes: ["tasks.pages"]
            """, logLevel: "info")
        let c = try RawClient(port: server.port)
        for i in 1...5 {
            c.send(RawClient.command(["XADD", "events.pages", "*", "type", "e", "v", String(i), "request", String(i),
                                      "caller", "someone", "reply", #"{"id":\#(i),"ok":true,"result":\#(i)}"#]))
            #expect(c.readReplies().hasPrefix("$"))
        }
        var settings = AgentSettings(port: server.port, agentID: "pages")
        settings.replayPage = 2
        let runtime = Unchecked(AgentRuntime(logic: Tally(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        // Tally answers the number of events it has folded (none added: n is 0).
        #expect(try client.request(agent: "pages", action: "count", args: ["n": 0], timeout: 10, user: "default") == .ok(5))
    }

    /// A request id is 128 random bits as 32 hex digits, nothing of the
    /// reply topic nor of the previous id: a reply cannot be forged by
    /// guessing it.
    @Test func requestIDsAreUnguessable() throws {
        let server = try ServerProcess(logLevel: "info")
        let watcher = try RawClient(port: server.port)
        let tasks = RESPReader(watcher)
        watcher.send("SUBSCRIBE tasks.nobody\r\n")
        _ = tasks.next()
        let client = try requester(server)
        var ids: [String] = []
        for _ in 1...2 {
            _ = try? client.request(agent: "nobody", action: "get", timeout: 0.05)
            let task = try #require(tasks.next(timeout: 10)?.strings.last.flatMap { JSON.parse($0) })
            guard case .string(let id)? = task["id"] else { Issue.record("no string id in \(task.text)"); return }
            ids.append(id)
        }
        for id in ids {
            #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(id)")
        }
        #expect(ids[0] != ids[1])
        let topicParts = client.replyTopic.split(separator: ".").suffix(2)
        #expect(!ids.contains { id in topicParts.contains { id.contains($0) } }, "\(ids) \(client.replyTopic)")
    }

    @Test func aRequestNobodyAnswersTimesOut() throws {
        let server = try ServerProcess(logLevel: "info")
        let client = try requester(server)
        let started = Date()
        do {
            let reply = try client.request(agent: "nobody", action: "get", timeout: 0.3)
            Issue.record("a reply from nobody: \(reply)")
        } catch {
            guard case .timeout(let seconds) = error else { Issue.record("\(error)"); return }
            #expect(seconds == 0.3)
        }
        #expect(Date().timeIntervalSince(started) >= 0.3)
        // A timeout that is no number of seconds, or one a socket cannot wait, is refused before anything is sent.
        for bad in [0, -1, .nan, .infinity, 1e300] as [Double] {
            do {
                _ = try client.request(agent: "nobody", action: "get", timeout: bad)
                Issue.record("timeout \(bad) accepted")
            } catch {
                guard case .settings = error else { Issue.record("timeout \(bad): \(error)"); continue }
            }
        }
    }

    func expectNothingPending(_ server: ServerProcess) throws {
        let q = try RawClient(port: server.port)
        let deadline = Date().addingTimeInterval(10)
        var pending = ""
        while Date() < deadline {
            q.send("XPENDING tasks.counter counter\r\n")
            pending = q.readReplies()
            if pending.hasPrefix("*4\r\n:0\r\n") { break }
            usleep(20_000)
        }
        #expect(pending.hasPrefix("*4\r\n:0\r\n"), "pending: \(visible(pending))")
    }
}

/// A CounterAgent started by hand beside the kernel's, as the same made
/// user (given a password), its stderr in a file.
final class SecondInstance {
    let process = Process()
    let errFile = NSTemporaryDirectory() + "second-counter-\(UUID().uuidString).err"
    var log: String { (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "" }

    init(_ server: ServerProcess, env: [String: String] = [:]) throws {
        let root = try RawClient(port: server.port)
        root.send("ACL SETUSER agent:counter >second-pw\r\n")
        #expect(root.readReplies() == "+OK\r\n")
        FileManager.default.createFile(atPath: errFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: CounterAgentWireTests.agentBinary)
        process.environment = ["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_USER": "agent:counter",
                               "VIMANA_PASSWORD": "second-pw"].merging(env) { $1 }
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !log.contains("as agent counter") { usleep(20_000) }
        if !log.contains("as agent counter") { stop(); throw TestFailure("the second instance did not join: \(log)") }
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: errFile)
    }
}

/// A logic that takes a second per task.
struct Slow: AgentLogic {
    var initialState: Int { 0 }
    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome {
        usleep(1_000_000)
        return .ok("done", events: [AgentEvent("worked")])
    }
}

/// A logic whose task reads slowly: six XREAD BLOCK 150 on a topic nobody
/// writes; it answers how many reads it was given.
struct SlowReads: AgentLogic {
    var initialState: Int { 0 }
    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome { .ok(0) }
    func reads(for request: AgentRequest, caller: String, state: Int) -> [KernelRead] {
        (0..<6).map { .command(["XREAD", "COUNT", String(1 + $0), "BLOCK", "150", "STREAMS", "quiet", "$"]) }
    }
    func handle(_ request: AgentRequest, caller: String, state: Int, kernel: KernelView) -> AgentOutcome {
        let reads = self.reads(for: request, caller: caller, state: state)
        return .ok(.int(Int64(reads.filter { kernel.reply($0) != nil }.count)), events: [AgentEvent("read")])
    }
}

/// Hands a value to another thread in a test that owns both.
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Replies with its text three times, and records it: a reply longer than its task.
struct Loud: AgentLogic {
    var initialState: Int { 0 }
    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome {
        let text = request.args["text"]?.string ?? ""
        return .ok(.string(text + text + text), events: [AgentEvent("said", ["text": text])])
    }
}
