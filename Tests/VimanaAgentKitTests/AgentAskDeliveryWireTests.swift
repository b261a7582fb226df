import Foundation
import Synchronization
import Testing
@testable import VimanaAgentKit
import VimanaTestSupport

/// Asks over the wire when something goes wrong: a forged reply, an ask
/// made again by a re-decision, a task redelivered after its connections
/// died. The asking runtime runs in this process; the asked agent is the
/// example counter (a real process, user `agent:counter`) or a raw client.
@Suite struct AgentAskDeliveryWireTests {
    /// Lets a test hold `handle` at its first call.
    final class Gate: Sendable {
        private let entered = DispatchSemaphore(value: 0)
        private let go = DispatchSemaphore(value: 0)
        private let calls = Mutex(0)

        func pass() {
            let n = calls.withLock { c in
                c += 1
                return c
            }
            entered.signal()
            if n == 1 { go.wait() }
        }

        func waitEntered(_ seconds: Double = 20) -> Bool { entered.wait(timeout: .now() + seconds) == .success }
        func open() { go.signal() }
        var count: Int { calls.withLock { $0 } }
    }

    /// `bump {name, also?}` asks counter to add 1 to `name` (and to `also`)
    /// and appends an event with what it answered; `handle` waits at the
    /// gate, when there is one, at its first call.
    struct Bumper: AgentLogic {
        var gate: Gate?
        var initialState: Int { 0 }
        func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
        func ask(_ name: JSON?) -> AgentAsk {
            AgentAsk(agent: "counter", action: "add", args: ["name": name ?? ""], timeout: 20)
        }
        func asks(for request: AgentRequest, caller: String, state: Int) -> [AgentAsk] {
            [ask(request.args["name"])] + (request.args["also"].map { [ask($0)] } ?? [])
        }
        func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome { .ok("nothing asked") }
        func handle(_ request: AgentRequest, caller: String, state: Int, kernel: KernelView) -> AgentOutcome {
            gate?.pass()
            func said(_ a: AgentAnswer?) -> JSON {
                switch a {
                case .reply(.ok(let r))?: r
                case .reply(.error(let code, _))?: ["error": .string(code)]
                case .timeout(let s)?: ["timeout": .double(s)]
                case .failed(let m)?: ["failed": .string(m)]
                case .lost(let m)?: ["lost": .string(m)]
                case nil: "nothing asked"
                }
            }
            var answer: [String: JSON] = ["reply": said(kernel.answer(ask(request.args["name"])))]
            if let also = request.args["also"] { answer["also"] = said(kernel.answer(ask(also))) }
            return .ok(.object(answer), events: [AgentEvent("bumped", ["answer": JSON.object(answer).text])])
        }
    }

    func counterServer(extra: String = "") throws -> ServerProcess {
        let server = try ServerProcess(config: """
            \(extra)agents:
              - id: bumper
                subscribes: ["tasks.bumper"]\(extra.isEmpty ? "" : "\n    user: askerbot")
              - id: counter
                subscribes: ["tasks.counter"]
                command: ["\(CounterAgentWireTests.agentBinary)"]
            """, logLevel: "info")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !server.logLines.contains(where: { $0.contains("as agent counter") }) { usleep(20_000) }
        if !server.logLines.contains(where: { $0.contains("as agent counter") }) {
            throw TestFailure("the counter agent did not join; log:\n\(server.log.suffix(3000))")
        }
        return server
    }

    /// The counter's events for `name`, and the ids of the tasks tasks.counter got.
    func counterRecords(_ server: ServerProcess, _ name: String) throws -> (added: Int, ids: [String]) {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send(RawClient.command(["XRANGE", "events.counter", "-", "+"]))
        guard case .array(let events)? = r.next() else { throw TestFailure("XRANGE events.counter") }
        let added = events.filter { e in
            guard case .array(let pair) = e, pair.count == 2 else { return false }
            let f = pair[1].strings
            return f.first == "type" && f.count > 1 && f[1] == "added" && zip(f, f.dropFirst()).contains { $0 == "name" && $1 == name }
        }.count
        c.send(RawClient.command(["XRANGE", "tasks.counter", "-", "+"]))
        guard case .array(let tasks)? = r.next() else { throw TestFailure("XRANGE tasks.counter") }
        let ids = tasks.compactMap { e -> String? in
            guard case .array(let pair) = e, pair.count == 2, let payload = pair[1].strings.last,
                  let task = JSON.parse(payload), task["args"]?["name"]?.string == name else { return nil }
            return task["id"]?.text
        }
        return (added, ids)
    }

    /// A user who reads tasks.helper (allchannels) sees an ask's id and
    /// reply topic and publishes a reply first: the asking runtime takes
    /// only the reply helper's user published (`default` here, named by the
    /// ask), so handle sees the real answer.
    @Test func aForgedReplyFromAnotherUserIsIgnored() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            agents:
              - id: asker
                subscribes: ["tasks.asker"]
              - id: helper
                subscribes: ["tasks.helper"]
            """, logLevel: "info")
        var settings = AgentSettings(port: server.port, agentID: "asker")
        settings.progressInterval = 1
        let runtime = Unchecked(AgentRuntime(logic: AgentAskWireTests.Asker(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }

        let alice = try RawClient(port: server.port)
        let aliceReader = RESPReader(alice)
        alice.send(RawClient.command(["AUTH", "alice", "alice-pw"]))
        #expect(aliceReader.next()?.description == "+OK")
        alice.send("SUBSCRIBE tasks.helper\r\n")
        _ = aliceReader.next()
        // alice publishes from a second connection: a RESP2 subscriber may not.
        let alicePublishes = try RawClient(port: server.port)
        let alicePublished = RESPReader(alicePublishes)
        alicePublishes.send(RawClient.command(["AUTH", "alice", "alice-pw"]))
        #expect(alicePublished.next()?.description == "+OK")
        let helper = try RawClient(port: server.port)
        let pushes = RESPReader(helper)
        helper.send("AGENT JOIN helper\r\n")
        #expect(pushes.next()?.description == "+OK")
        let io = Unchecked((helper: helper, pushes: pushes, alice: alicePublishes, published: alicePublished, aliceReader: aliceReader))
        let forged = Mutex(false)
        let answered = Thread {
            let (helper, pushes, alice, published, aliceReader) = io.value
            guard let task = pushes.next(timeout: 20)?.strings, task.count >= 5, task[0] == "task",
                  let seen = aliceReader.next(timeout: 20)?.strings, seen.count == 3,
                  let body = JSON.parse(seen[2]), let replyTo = body["reply_to"]?.string, let id = body["id"] else { return }
            // alice answers first; once the kernel delivered hers (one receiver), helper answers.
            alice.send(RawClient.command(["PUBLISH", replyTo, (["id": id, "ok": true, "result": ["pong": "forged"]] as JSON).text]))
            let delivered = published.next(timeout: 10)?.description == ":1"
            forged.withLock { $0 = delivered }
            let reply: JSON = ["id": id, "ok": true, "result": ["pong": body["args"]?["n"] ?? .null]]
            helper.send(RawClient.command(["PUBLISH", replyTo, reply.text]))
            helper.send(RawClient.command(["ACK", "tasks.helper", task[2]]))
        }
        answered.start()
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        #expect(try client.request(agent: "asker", action: "ask", args: ["n": 7, "t": 100], timeout: 30, user: "default")
                == .ok(["reply": ["pong": 7]]))
        #expect(forged.withLock { $0 }, "alice's reply was not delivered to the asker's reply topic")
    }

    /// Another writer touches events.bumper while bumper's first handle
    /// waits: the EXEC is null, the task is decided again and the ask made
    /// again — under the same id, so counter applies it once and answers
    /// the second time with its stored reply.
    @Test func anAskMadeAgainByAReDecisionIsAppliedOnce() throws {
        let server = try counterServer()
        let gate = Gate()
        let runtime = Unchecked(AgentRuntime(logic: Bumper(gate: gate), settings: AgentSettings(port: server.port, agentID: "bumper")))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let reply = bumpAs(server, "once", user: "default")
        #expect(gate.waitEntered())
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["XADD", "events.bumper", "*", "note", "not an event"]))
        #expect(c.readReplies().hasPrefix("$"))
        gate.open()
        #expect(reply.wait(30) == .ok(["reply": ["name": "once", "value": 1]]))
        #expect(gate.count == 2)
        let records = try counterRecords(server, "once")
        #expect(records.added == 1)
        #expect(records.ids.count == 2 && Set(records.ids).count == 1, "\(records.ids)")
    }

    /// bumper's connections are killed (its task connection and its
    /// requester's) while handle waits, after counter applied the ask: the
    /// runtime reconnects, the task is redelivered and asked again under
    /// the same id from a requester made again on its reply topic, and
    /// counter applies it once.
    @Test func aRedeliveredTaskAsksAgainUnderTheSameIDAndIsAppliedOnce() throws {
        let server = try counterServer(extra: """
            users:
              - name: askerbot
                password_hashes: ["c61242391101589b6356fb75e3402254c9b5a50e6022468779e5513256b1978c"]
                permissions: ["+@all", "allkeys", "allchannels"]

            """)
        let gate = Gate()
        let settings = AgentSettings(port: server.port, agentID: "bumper", user: "askerbot", password: "askerbot-pw")
        let runtime = Unchecked(AgentRuntime(logic: Bumper(gate: gate), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let reply = bumpAs(server, "again", user: "askerbot")
        #expect(gate.waitEntered())
        #expect(try counterRecords(server, "again").added == 1)
        let c = try RawClient(port: server.port)
        c.send("CLIENT LIST\r\n")
        let list = c.readReplies()
        let ids = list.split(separator: "\n").filter { $0.contains(" user=askerbot ") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) }
        }
        #expect(ids.count == 2, "\(list)")
        for id in ids {
            c.send(RawClient.command(["CLIENT", "KILL", "ID", id]))
            #expect(c.readReplies() == ":1\r\n")
        }
        gate.open()
        #expect(reply.wait(30) == .ok(["reply": ["name": "again", "value": 1]]))
        #expect(gate.count == 2)
        let records = try counterRecords(server, "again")
        #expect(records.added == 1)
        #expect(records.ids.count == 2 && Set(records.ids).count == 1, "\(records.ids)")
    }

    /// The requester's connection dies between the first ask's PUBLISH
    /// and the second's: askerbot's publish allowance (40 bytes a second)
    /// is spent by the first, so the kernel reads nothing more from the
    /// connection for about 3 s, and the test kills it meanwhile. The
    /// requester is made again, both asks are sent (the first again, under
    /// its id) and both answered: the first is not lost, and applied once.
    @Test func aFailedSendOfTheSecondAskKeepsTheFirstsReply() throws {
        let server = try counterServer(extra: """
            users:
              - name: askerbot
                password_hashes: ["c61242391101589b6356fb75e3402254c9b5a50e6022468779e5513256b1978c"]
                permissions: ["+@all", "allkeys", "allchannels"]
                limits: {publish_bytes: 40}

            """)
        let settings = AgentSettings(port: server.port, agentID: "bumper", user: "askerbot", password: "askerbot-pw")
        let runtime = Unchecked(AgentRuntime(logic: Bumper(), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let reply = bumpAs(server, "first", also: "second", user: "askerbot")
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, try counterRecords(server, "first").added == 0 { usleep(10_000) }
        #expect(try counterRecords(server, "second").ids.isEmpty, "the second ask went out before the kill")
        let c = try RawClient(port: server.port)
        c.send("CLIENT LIST\r\n")
        let list = c.readReplies()
        let requesters = list.split(separator: "\n").filter { $0.contains(" user=askerbot ") && $0.contains(" sub=1 ") }
        let id = try #require(requesters.first?.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3), "\(list)")
        c.send(RawClient.command(["CLIENT", "KILL", "ID", String(id)]))
        #expect(c.readReplies() == ":1\r\n")
        #expect(reply.wait(40) == .ok(["reply": ["name": "first", "value": 1], "also": ["name": "second", "value": 1]]))
        let first = try counterRecords(server, "first")
        #expect(first.added == 1 && first.ids.count == 2 && Set(first.ids).count == 1, "\(first)")
        #expect(try counterRecords(server, "second").added == 1)
    }

    /// `bump` as a requester of its own, answered by bumper's `user`.
    func bumpAs(_ server: ServerProcess, _ name: String, also: String? = nil, user: String) -> Pending {
        let pending = Pending()
        let port = server.port
        var named: [String: JSON] = ["name": .string(name)]
        if let also { named["also"] = .string(also) }
        let args = named
        Thread {
            let r = try? AgentRequester(settings: AgentSettings(port: port, agentID: "test"))
                .request(agent: "bumper", action: "bump", args: args, timeout: 40, user: user)
            pending.set(r)
        }.start()
        return pending
    }

    /// A reply to come from another thread.
    final class Pending: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var reply: AgentReply?
        func set(_ r: AgentReply?) {
            reply = r
            done.signal()
        }
        func wait(_ seconds: Double) -> AgentReply? { done.wait(timeout: .now() + seconds) == .success ? reply : nil }
    }
}
