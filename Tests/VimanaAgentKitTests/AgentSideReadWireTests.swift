import Foundation
import Synchronization
import Testing
@testable import VimanaAgentKit
import VimanaRESP
import VimanaTestSupport

/// Reads that may be slow (`KernelRead.mayBeSlow`) go out on the runtime's
/// side connection: PROGRESS keeps the task meanwhile, a stop gives it
/// back without waiting for the read, and a failure of the side connection
/// is the read's answer.
@Suite struct AgentSideReadWireTests {
    /// One read: XREAD BLOCK `ms` on a topic nobody writes (0: forever);
    /// it answers whether the read's reply was the null of a timeout.
    struct BlockingRead: AgentLogic {
        let millis: Int
        var initialState: Int { 0 }
        func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
        var read: KernelRead { .command(["XREAD", "BLOCK", String(millis), "STREAMS", "quiet", "$"]) }
        func reads(for request: AgentRequest, caller: String, state: Int) -> [KernelRead] { [read] }
        func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome { .ok("nothing read") }
        func handle(_ request: AgentRequest, caller: String, state: Int, kernel: KernelView) -> AgentOutcome {
            if case .null? = kernel.reply(read) { return .ok("timed out", events: [AgentEvent("read")]) }
            return .ok(.string("\(String(describing: kernel.reply(read)))"))
        }
    }

    func server(_ id: String) throws -> ServerProcess {
        try ServerProcess(config: """
            agents:
              - id: \(id)
                subscribes: ["tasks.\(id)"]
                ack_wait: 300ms
            """, logLevel: "info")
    }

    /// AGENTS's description once `until` holds for it (or after 10 s).
    func agents(_ server: ServerProcess, until: (String) -> Bool) throws -> String {
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        var agents = ""
        let deadline = Date().addingTimeInterval(10)
        repeat {
            c.send("AGENTS\r\n")
            agents = try #require(r.next()).description
        } while Date() < deadline && !until(agents)
        return agents
    }

    /// XREAD BLOCK 1500 is five times the ack_wait of 300 ms: sent on the
    /// task connection, the kernel would run no PROGRESS behind it and give
    /// the task back (delivered twice). Sent aside, it is delivered once.
    @Test func aReadLongerThanAckWaitIsKeptByProgressFromTheTaskConnection() throws {
        let server = try server("slowread")
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_ACK_WAIT_MS": "300"],
                                                         agentID: "slowread")
        #expect(BlockingRead(millis: 1500).read.mayBeSlow)
        let runtime = Unchecked(AgentRuntime(logic: BlockingRead(millis: 1500), settings: settings))
        let thread = Thread { try? runtime.value.run() }
        thread.start()
        defer { runtime.value.control.stop() }
        let client = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        #expect(try client.request(agent: "slowread", action: "read", timeout: 20, user: "default") == .ok("timed out"))
        let seen = try agents(server) { $0.contains("\"acknowledged\", :1,") }
        #expect(seen.contains("\"delivered\", :1,") && seen.contains("\"acknowledged\", :1,"), "\(seen)")
    }

    /// Asked to stop (what SIGTERM does) while a read that never ends is
    /// outstanding, the runtime gives the task back and returns at once;
    /// the next instance gets the task again (delivery 2).
    @Test func aStopDuringASlowReadGivesTheTaskBackWithoutWaitingForIt() throws {
        let server = try server("stuck")
        let settings = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "127.0.0.1:\(server.port)", "VIMANA_ACK_WAIT_MS": "300"],
                                                         agentID: "stuck")
        let runtime = Unchecked(AgentRuntime(logic: BlockingRead(millis: 0), settings: settings))
        let returned = DispatchSemaphore(value: 0)
        let thread = Thread {
            try? runtime.value.run()
            returned.signal()
        }
        thread.start()
        defer { runtime.value.control.stop() }
        let c = try RawClient(port: server.port)
        c.send(RawClient.command(["PUBLISH", "tasks.stuck", #"{"action":"read","id":1}"#]))
        #expect(c.readReplies() == ":0\r\n")
        // The read is outstanding once the kernel counts a client blocked in XREAD.
        let deadline = Date().addingTimeInterval(10)
        var info = ""
        while Date() < deadline && !info.contains("blocked_clients:1\r\n") {
            c.send("INFO clients\r\n")
            info = c.readReplies()
        }
        #expect(info.contains("blocked_clients:1\r\n"), "\(info)")
        // Beyond ack_wait: PROGRESS kept it meanwhile.
        let held = try agents(server) { _ in true }
        #expect(held.contains("\"delivered\", :1,") && held.contains("\"pending\", :1,"), "\(held)")
        runtime.value.control.stop()
        #expect(returned.wait(timeout: .now() + 5) == .success, "the runtime waited for a read that never ends")
        // Given back (NACK, 1 s): the next instance gets it, its second delivery.
        let next = try RawClient(port: server.port)
        let pushes = RESPReader(next)
        next.send("AGENT JOIN stuck\r\n")
        #expect(pushes.next()?.description == "+OK")
        let task = pushes.next(timeout: 10)?.strings ?? []
        #expect(task.count >= 5 && task[0] == "task" && task[3] == "2", "\(task)")
        let after = try agents(server) { _ in true }
        #expect(after.contains("\"acknowledged\", :0,"), "\(after)")
    }

    /// The side connection's failures are answers, never a crash: a kernel
    /// that is not there, a connection the kernel closed while idle (made
    /// anew, the read sent on the new one), a read abandoned midway (its
    /// answer an error, not sent again; the next read on a new connection).
    @Test func aFailureOfTheSideConnectionIsTheReadsAnswerAndTheNextReadConnectsAgain() throws {
        let closedPort = try LoopbackListener().port  // closed again at once: the connect is refused
        let nobody = AgentSideReader(settings: AgentSettings(port: closedPort, agentID: "x"))
        let refused = nobody.start([Array("XLEN".utf8), Array("t".utf8)]).wait(seconds: 10)
        guard case .error(let m)? = refused else { Issue.record("\(String(describing: refused))"); return }
        #expect(m.hasPrefix("ERR the agent kit's side connection failed: "), "\(m)")

        let server = try ServerProcess(logLevel: "info")
        let side = AgentSideReader(settings: AgentSettings(port: server.port, agentID: "x"))
        let xlen = [Array("XLEN".utf8), Array("t".utf8)]
        #expect(side.start(xlen).wait(seconds: 10) == .integer(0))
        let c = try RawClient(port: server.port)
        c.send("CLIENT KILL TYPE normal SKIPME yes\r\n")
        #expect(c.readReplies() == ":1\r\n")
        #expect(side.start(xlen).wait(seconds: 10) == .integer(0))

        let forever = side.start(["XREAD", "BLOCK", "0", "STREAMS", "quiet", "$"].map { Array($0.utf8) })
        let deadline = Date().addingTimeInterval(10)
        var info = ""
        while Date() < deadline && !info.contains("blocked_clients:1\r\n") {
            c.send("INFO clients\r\n")
            info = c.readReplies()
        }
        side.abandon()
        guard case .error(let why)? = forever.wait(seconds: 10) else { Issue.record("no error for an abandoned read"); return }
        #expect(why.hasPrefix("ERR the agent kit's side connection failed: "), "\(why)")
        #expect(side.start(xlen).wait(seconds: 10) == .integer(0))
    }

    /// Which reads go aside: LEDGER, a blocking XREAD, a long XRANGE; the
    /// small reads oracle and discovery make stay on the task connection.
    @Test func onlyReadsThatMayBeSlowGoAside() {
        #expect(KernelRead.command(["LEDGER", "CHECK"], asIf: "ops").mayBeSlow)
        #expect(KernelRead.command(["ledger", "scan", "0"]).mayBeSlow)
        #expect(KernelRead.command(["XREAD", "COUNT", "1", "block", "10", "STREAMS", "t", "$"]).mayBeSlow)
        #expect(KernelRead.xrevrange("events.x", count: 10_000).mayBeSlow)
        #expect(KernelRead.command(["XRANGE", "t", "-", "+"]).mayBeSlow)
        #expect(!KernelRead.xrange("events.x", count: AgentKitLimits.sideReadEntries).mayBeSlow)
        // Without a COUNT, or a large one, the kernel reads XREAD on its reader thread: aside.
        #expect(KernelRead.command(["XREAD", "STREAMS", "t", "0"]).mayBeSlow)
        #expect(KernelRead.command(["XREAD", "COUNT", "5000", "STREAMS", "t", "0"]).mayBeSlow)
        #expect(!KernelRead.command(["XREAD", "COUNT", "10", "STREAMS", "t", "0"]).mayBeSlow)
        #expect(KernelRead.command(["XINFO", "STREAM", "t"]).mayBeSlow)
        #expect(!KernelRead.agents.mayBeSlow && !KernelRead.info().mayBeSlow && !KernelRead.xlen("t").mayBeSlow)
        #expect(!KernelRead.aclDryRun("u", ["GET", "k"]).mayBeSlow)
    }
}
