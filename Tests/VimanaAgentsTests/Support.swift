import Foundation
import Synchronization
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// The kernel as the agents see it, without a server: what they push,
/// append and hand back is recorded for the test to look at.
final class FakeHost: AgentHost, @unchecked Sendable {
    var passMillis: Int64 = 1_700_000_000_000
    /// Tasks pushed to instances' connections, in order.
    var pushed: [(fd: Int32, topic: [UInt8], id: StreamID, deliveries: Int)] = []
    /// Entries appended (dead letters, built-ins' results), in order.
    var appended: [(topic: String, fields: [(String, String)], alwaysRecorded: Bool)] = []
    /// The publisher of each task pushed and of each entry appended, in the same orders.
    var pushedPublishers: [String] = []
    var appendedPublishers: [String] = []
    /// How many times another loop pass was asked for.
    var passesAsked = 0
    /// Work handed back from other threads.
    let handedBack = Mutex<[@Sendable () -> Void]>([])

    func pushTask(fd: Int32, topic: [UInt8], record: LedgerRecord, deliveries: Int) {
        pushed.append((fd, topic, record.id, deliveries))
        pushedPublishers.append(String(decoding: record.publisher, as: UTF8.self))
    }

    func taskPayload(_ fields: [LedgerRecord.Field]) -> [UInt8] { fields.first?.value ?? [] }

    func appendEntry(topic: [UInt8], fields: [([UInt8], [UInt8])], alwaysRecorded: Bool, publisher: [UInt8]) {
        appended.append((String(decoding: topic, as: UTF8.self),
                         fields.map { (String(decoding: $0.0, as: UTF8.self), String(decoding: $0.1, as: UTF8.self)) },
                         alwaysRecorded))
        appendedPublishers.append(String(decoding: publisher, as: UTF8.self))
    }

    func publisherName(agent id: String) -> [UInt8] { Array("agent:\(id)".utf8) }

    func passAgain() { passesAsked += 1 }

    func execute(_ work: @escaping @Sendable () -> Void) { handedBack.withLock { $0.append(work) } }
}

/// Stands in for the event loop for the ledger's threads.
final class LedgerLoop: Sendable {
    let queue = Mutex<[@Sendable () -> Void]>([])

    var notify: @Sendable (@escaping @Sendable () -> Void) -> Void {
        { [self] work in queue.withLock { $0.append(work) } }
    }

    /// Runs queued work until `done()` (or 10 s pass, and then false).
    @discardableResult
    func pump(until done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let work = queue.withLock { q -> [@Sendable () -> Void] in let w = q; q.removeAll(); return w }
            for w in work { w() }
            if done() { return true }
            usleep(1000)
        }
        return done()
    }
}

/// A ledger in a fresh directory and the agents over it, driven by a fake host.
final class AgentsBench {
    let dir: String
    let loop = LedgerLoop()
    let host = FakeHost()
    var ledger: Ledger
    var agents: Agents
    let configs: [AgentConfig]

    init(_ configs: [AgentConfig], dir: String? = nil) throws {
        self.dir = dir ?? NSTemporaryDirectory() + "vimana-agents-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
        self.configs = configs
        (ledger, agents) = try Self.open(self.dir, configs, loop, host)
    }

    static func open(_ dir: String, _ configs: [AgentConfig], _ loop: LedgerLoop, _ host: FakeHost) throws -> (Ledger, Agents) {
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        let ledger = Ledger(config: config)
        _ = try ledger.open(notify: loop.notify)
        let agents = Agents(configs: configs, ledger: ledger, host: host)
        agents.setUp()
        return (ledger, agents)
    }

    /// Stops cleanly (as the kernel does) and starts again on the same directory.
    func restart() throws {
        agents.willCloseLedger()
        ledger.commit()
        ledger.close()
        agents.didCloseLedger()
        (ledger, agents) = try Self.open(dir, configs, loop, host)
    }

    /// Appends an entry with one field, `payload`, and tells the agents.
    @discardableResult
    func publish(_ topic: String, _ payload: String, publisher: String = "producer") -> StreamID {
        let t = Array(topic.utf8), p = Array(payload.utf8), u = Array(publisher.utf8)
        t.withUnsafeBytes { tb in
            p.withUnsafeBytes { pb in
                u.withUnsafeBytes { ub in
                    ledger.recordPublish(topic: tb, payload: pb,
                                         client: RecordClient(id: 1, name: UnsafeRawBufferPointer(start: nil, count: 0), user: ub),
                                         nowMillis: UInt64(host.passMillis), nowMicros: host.passMillis * 1000)
                }
            }
            agents.notice(tb)
        }
        return ledger.stream(t)?.lastID ?? .zero
    }

    /// The loop pass's end, as the kernel's: pump, journal, commit.
    func pass() {
        agents.pump()
        agents.endPass()
        ledger.commit()
    }

    func close() {
        ledger.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

func agentConfig(_ id: String, subscribes: [String], prefetch: Int = 1, maxDeliver: Int = 5,
                 ackWaitMillis: Int = 30_000) -> AgentConfig {
    var c = AgentConfig(id: id, subscribes: subscribes)
    c.prefetch = prefetch
    c.maxDeliver = maxDeliver
    c.ackWaitMillis = ackWaitMillis
    return c
}
