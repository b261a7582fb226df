import Foundation
import Synchronization
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// Tasks across kernels (issue 15 §1, §3; Protocol/FEDERATION.md §6): an
/// agent's group on a federated topic lives in the cluster, so a task
/// published on any kernel is done by one instance on one kernel; a kernel
/// killed with -9 leaves its tasks to the others.
@Suite(.serialized) struct FederationTaskTests {
    static let agents = """
    agents:
      - id: worker
        subscribes: ["fed.tasks"]
        ack_wait: 3s
        max_deliver: 100
        prefetch: 8
    """

    /// What the instances did, across kernels.
    final class Work: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var done: [String] = []
        private(set) var byKernel: [String: [String]] = [:]
        private(set) var acks = 0
        func completed(_ payload: String, on kernel: String) {
            lock.lock()
            done.append(payload)
            byKernel[kernel, default: []].append(payload)
            lock.unlock()
        }
        func acked() { lock.lock(); acks += 1; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return done.count }
        var distinct: Int { lock.lock(); defer { lock.unlock() }; return Set(done).count }
        var snapshot: (done: [String], byKernel: [String: [String]]) { lock.lock(); defer { lock.unlock() }; return (done, byKernel) }
    }

    /// An agent instance on `kernel`: takes each task pushed, counts it done, ACKs it.
    final class Instance: @unchecked Sendable {
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var raised = false
            var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }
            func raise() { lock.lock(); raised = true; lock.unlock() }
        }
        private let stopping = Flag()
        private let thread: Thread
        init(_ server: ServerProcess, kernel: String, work: Work) throws {
            let c = try Federated.connect(server)
            #expect(try c.call("AGENT", "JOIN", "worker") == .simpleString("OK"))
            c.setReadTimeout(0.2)
            let stopping = self.stopping
            let box = UncheckedSendable(c)
            thread = Thread {
                let c = box.value
                while !stopping.isRaised {
                    let value: RESPValue
                    do { value = try c.readValue() } catch {
                        if case ClientError.readTimeout = error { continue }
                        return  // the kernel is gone
                    }
                    guard case .array(let parts) = value, parts.count >= 5, parts[0] == .bulkString(Array("task".utf8)),
                          case .bulkString(let topic) = parts[1], case .bulkString(let id) = parts[2],
                          case .bulkString(let payload) = parts[4] else {
                        if case .integer(1) = value { work.acked() }
                        continue
                    }
                    work.completed(String(decoding: payload, as: UTF8.self), on: kernel)
                    do { try c.send([Array("ACK".utf8), topic, id]) } catch { return }
                }
                c.close()
            }
            thread.start()
        }
        func stop() { stopping.raise() }
    }

    /// Connections handed to the publishing threads, one each.
    struct UncheckedSendable<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }

    static func kernel(_ node: String, _ cluster: RedisCluster, prefix: String, ledgerDirectory: String? = nil) throws -> ServerProcess {
        try Federated.kernel(node, cluster, prefix: prefix, ledgerDirectory: ledgerDirectory, extra: agents)
    }

    /// Publishes `tasks` on `c` as `XADD fed.tasks * payload <name>`, pipelined in hundreds.
    static func publish(_ c: RESPConnection, _ names: [String]) throws {
        var k = 0
        while k < names.count {
            let chunk = names[k..<min(k + 100, names.count)]
            for n in chunk { try c.send("XADD", "fed.tasks", "*", "payload", n) }
            for _ in chunk {
                guard case .bulkString = try c.readValue() else { throw TestFailure("XADD refused") }
            }
            k += chunk.count
        }
    }

    /// 10,000 tasks published across three kernels, instances on two of
    /// them: each is done once, by instances of both kernels; the third
    /// kernel, with none, does none; the cluster's group has nothing pending.
    @Test func tasksPublishedOnThreeKernelsAreEachDoneOnceAcrossTwo() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let kernels = try ["k1", "k2", "k3"].map { try Self.kernel($0, cluster, prefix: prefix) }
        let work = Work()
        let instances = try [("k1", kernels[0]), ("k1", kernels[0]), ("k2", kernels[1]), ("k2", kernels[1])].map {
            try Instance($0.1, kernel: $0.0, work: work)
        }
        defer { for i in instances { i.stop() } }
        let total = 10_000
        let names = (0..<total).map { "t\($0)" }
        let publishers = try kernels.map { try Federated.connect($0) }
        let errors = Mutex<[String]>([])
        let shared = UncheckedSendable(publishers)
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            do { try Self.publish(shared.value[k], names.enumerated().filter { $0.offset % 3 == k }.map(\.element)) } catch {
                errors.withLock { $0.append("k\(k + 1): \(error)") }
            }
        }
        #expect(errors.withLock { $0 }.isEmpty)
        #expect(Federated.eventually(120) { work.distinct >= total }, "done \(work.distinct) of \(total)")
        // Nothing more comes: a second delivery would be a task done twice.
        #expect(Federated.eventually(30) { work.acks >= work.count })
        let (done, byKernel) = work.snapshot
        #expect(Federated.difference(done, Set(names)) == nil)
        #expect((byKernel["k1"]?.count ?? 0) > 0 && (byKernel["k2"]?.count ?? 0) > 0,
                "k1 did \(byKernel["k1"]?.count ?? 0), k2 \(byKernel["k2"]?.count ?? 0)")
        let key = "\(prefix):{fed.tasks}"
        let port = try cluster.masterPort(forKey: key)
        #expect(Federated.eventually(30) {
            cluster.command(port: port, ["XPENDING", key, "worker"]).map { reply -> Bool in
                guard case .array(let parts) = reply, let first = parts.first else { return false }
                return first == .integer(0)
            } ?? false
        }, "the cluster group's pending list empties")
        for (i, p) in publishers.enumerated() {
            let claimed = Int(try Federated.info(p, "federation_tasks_claimed") ?? "") ?? -1
            let acked = Int(try Federated.info(p, "federation_tasks_acknowledged") ?? "") ?? -1
            let did = byKernel["k\(i + 1)"]?.count ?? 0
            #expect(claimed == did && acked == did, "k\(i + 1): claimed \(claimed), acknowledged \(acked), did \(did)")
        }
    }

    /// kill -9 of a kernel whose instances hold tasks mid-run: the tasks it
    /// had claimed are taken over by the other kernel after ack_wait and
    /// done there; none is lost. A task is done twice only if the killed
    /// kernel's instances had done it and its acknowledgement died with it.
    @Test func aKernelKilledMidRunLeavesItsTasksToTheOthers() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let dir2 = NSTemporaryDirectory() + "vimana-fed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let k1 = try Self.kernel("k1", cluster, prefix: prefix)
        var k2 = try Self.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2)
        let k3 = try Self.kernel("k3", cluster, prefix: prefix)
        let work = Work()
        let onK1 = try (0..<2).map { _ in try Instance(k1, kernel: "k1", work: work) }
        let onK2 = try (0..<2).map { _ in try Instance(k2, kernel: "k2", work: work) }
        defer { for i in onK1 + onK2 { i.stop() } }
        let total = 10_000
        let names = (0..<total).map { "t\($0)" }
        let publishers = UncheckedSendable(try [k1, k2, k3].map { try Federated.connect($0) })
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            try? Self.publish(publishers.value[k], names.enumerated().filter { $0.offset % 3 == k }.map(\.element))
        }
        #expect(Federated.eventually(120) { work.distinct >= total / 4 }, "done \(work.distinct) before the kill")
        let heldOnK2 = Federated.eventually(30) { (work.snapshot.byKernel["k2"]?.count ?? 0) > 0 }
        #expect(heldOnK2, "k2's instances took tasks")
        k2.stop()  // SIGKILL
        let doneOnK2BeforeKill = Set(work.snapshot.byKernel["k2"] ?? [])
        // k2 comes back without instances: its mirror sends what it had
        // confirmed and not yet sent; the tasks it had claimed are k1's to
        // take over once they are idle for ack_wait.
        k2 = try Self.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2)
        #expect(Federated.eventually(180) { work.distinct >= total }, "done \(work.distinct) of \(total)")
        let (done, byKernel) = work.snapshot
        let missing = Set(names).subtracting(done)
        #expect(missing.isEmpty, "\(missing.count) never done: \(missing.sorted().prefix(5))")
        let twice = done.repeated
        let unexplained = Set(twice).subtracting(doneOnK2BeforeKill)
        #expect(unexplained.isEmpty, "done twice without k2 having done them before its kill: \(unexplained.sorted().prefix(5))")
        #expect(twice.count <= 64, "\(twice.count) done twice (k2's instances hold at most 16 and acknowledge in batches)")
        #expect((byKernel["k1"]?.count ?? 0) > 0)
        #expect(k1.waitForLog("tasks taken over from a kernel that stopped refreshing them", timeout: 30), "k1 took k2's claims over")
        print("federation tasks after kill -9: k1 did \(byKernel["k1"]?.count ?? 0), k2 \(doneOnK2BeforeKill.count) before its kill, \(twice.count) twice")
        let c2 = try Federated.connect(k2)
        #expect(try Federated.info(c2, "federation_status") == "ok")
    }
}
