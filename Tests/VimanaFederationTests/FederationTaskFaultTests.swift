import Foundation
import Synchronization
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// Tasks across kernels under the agents' own faults (Protocol/FEDERATION.md
/// §6): tasks given up after max_deliver, instances that leave, the
/// cluster's group as other tools see it.
@Suite(.serialized) struct FederationTaskFaultTests {
    static func agents(ackWait: String = "1s", maxDeliver: Int = 100, prefetch: Int = 4) -> String {
        """
        agents:
          - id: worker
            subscribes: ["fed.tasks"]
            ack_wait: \(ackWait)
            max_deliver: \(maxDeliver)
            prefetch: \(prefetch)
        """
    }

    /// A task as an instance received it.
    struct Task: Sendable {
        var topic: [UInt8]
        var id: [UInt8]
        var deliveries: Int
        var payload: String
    }

    /// An agent instance whose answer to each task `answer` chooses (the
    /// command to send, or nil to hold the task); it records what it got.
    final class Instance: @unchecked Sendable {
        /// What the instance received, shared with its thread.
        final class Log: @unchecked Sendable {
            private let lock = NSLock()
            private var tasks: [Task] = []
            private var stop = false
            func add(_ t: Task) { lock.lock(); tasks.append(t); lock.unlock() }
            var stopping: Bool {
                get { lock.lock(); defer { lock.unlock() }; return stop }
                set { lock.lock(); stop = newValue; lock.unlock() }
            }
            var all: [Task] { lock.lock(); defer { lock.unlock() }; return tasks }
        }
        private let log = Log()
        private let thread: Thread

        /// `idle` is called whenever no push came for 0.2 s, with the tasks
        /// received so far: the commands it returns are sent.
        init(_ server: ServerProcess, idle: @escaping @Sendable ([Task]) -> [[[UInt8]]] = { _ in [] },
             answer: @escaping @Sendable (Task) -> [[UInt8]]?) throws {
            let c = try Federated.connect(server)
            #expect(try c.call("AGENT", "JOIN", "worker") == .simpleString("OK"))
            c.setReadTimeout(0.2)
            let box = FederationTaskTests.UncheckedSendable(c)
            let log = self.log
            thread = Thread {
                let c = box.value
                defer { c.close() }
                while !log.stopping {
                    let value: RESPValue
                    do { value = try c.readValue() } catch {
                        guard case ClientError.readTimeout = error else { return }
                        for command in idle(log.all) {
                            do { try c.send(command) } catch { return }
                        }
                        continue
                    }
                    guard case .array(let parts) = value, parts.count >= 5, parts[0] == .bulkString(Array("task".utf8)),
                          case .bulkString(let topic) = parts[1], case .bulkString(let id) = parts[2],
                          case .integer(let n) = parts[3], case .bulkString(let payload) = parts[4] else { continue }
                    let task = Task(topic: topic, id: id, deliveries: n, payload: String(decoding: payload, as: UTF8.self))
                    log.add(task)
                    if let reply = answer(task) {
                        do { try c.send(reply) } catch { return }
                    }
                }
            }
            thread.start()
        }

        var received: [Task] { log.all }
        var payloads: [String] { received.map(\.payload) }

        /// Closes the connection (the instance leaves as a client that went away does).
        func close() {
            log.stopping = true
            while !thread.isFinished { usleep(10_000) }
        }
    }

    static func ack(_ t: Task) -> [[UInt8]] { [Array("ACK".utf8), t.topic, t.id] }

    static func publish(_ c: RESPConnection, _ names: [String]) throws {
        for n in names {
            guard case .bulkString = try c.call("XADD", "fed.tasks", "*", "payload", n) else { throw TestFailure("XADD refused") }
        }
    }

    /// The cluster group's pending count, or nil when it cannot be read.
    static func clusterPending(_ cluster: RedisCluster, _ key: String) -> Int? {
        guard let port = try? cluster.masterPort(forKey: key),
              case .array(let parts)? = cluster.command(port: port, ["XPENDING", key, "worker"]),
              case .integer(let n)? = parts.first else { return nil }
        return n
    }

    /// The names of the cluster group's consumers.
    static func clusterConsumers(_ cluster: RedisCluster, _ key: String) -> [String] {
        guard let port = try? cluster.masterPort(forKey: key),
              case .array(let consumers)? = cluster.command(port: port, ["XINFO", "CONSUMERS", key, "worker"]) else { return [] }
        return consumers.compactMap { c -> String? in
            guard case .array(let fields) = c, let k = fields.firstIndex(of: .bulk("name")), k + 1 < fields.count,
                  case .bulk(let name) = fields[k + 1] else { return nil }
            return name
        }
    }

    /// The `payload` fields of the dead letters on `c`.
    static func deadLetters(_ c: RESPConnection) throws -> [(payload: String, deliveries: String)] {
        guard case .array(let entries) = try c.call("XRANGE", "dead.worker", "-", "+") else { return [] }
        return entries.compactMap { e in
            guard case .array(let pair) = e, pair.count == 2, case .array(let flat) = pair[1] else { return nil }
            var fields: [String: String] = [:]
            var k = 0
            while k + 1 < flat.count {
                if case .bulkString(let n) = flat[k], case .bulkString(let v) = flat[k + 1] {
                    fields[String(decoding: n, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
                }
                k += 2
            }
            return (fields["payload"] ?? "", fields["deliveries"] ?? "")
        }
    }

    /// Tasks an instance rejects (NACK with a delay) until max_deliver are
    /// dead-lettered once, on the kernel that gave up, and leave the
    /// cluster's group (XPENDING empty): no other kernel does them after.
    /// The tasks were published before any instance joined, on a kernel
    /// where the topic first appeared after it started (the group starts at 0).
    /// The cluster group's consumers are the kernels' node ids.
    @Test func tasksRejectedUntilMaxDeliverAreDeadLetteredOnceOnTheKernelThatGaveUp() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let config = Self.agents(ackWait: "2s", maxDeliver: 3)
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix, extra: config)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        let names = (0..<6).map { "r\($0)" }
        try Self.publish(c2, names)
        // The topic reaches k1 before its instance joins.
        #expect(Federated.eventually(30) { (try? Federated.payloads(c1, "fed.tasks").count) == names.count })
        let rejecter = try Instance(k1) { t in [Array("NACK".utf8), t.topic, t.id, Array("100".utf8)] }
        defer { rejecter.close() }
        #expect(Federated.eventually(60) { (try? Self.deadLetters(c1).count) ?? 0 >= names.count },
                "dead letters on k1: \((try? Self.deadLetters(c1).count) ?? -1)")
        let dead = try Self.deadLetters(c1)
        #expect(dead.map(\.payload).sorted() == names.sorted(), "\(dead.map(\.payload))")
        #expect(dead.allSatisfy { $0.deliveries == "3" }, "\(dead.map(\.deliveries))")
        #expect(rejecter.payloads.count == names.count * 3, "deliveries on k1: \(rejecter.payloads.count)")
        let key = "\(prefix):{fed.tasks}"
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == 0 }, "the cluster group's pending list empties")
        // A second kernel's instance gets only what comes next: the dead are not tasks any more.
        let doer = try Instance(k2) { Self.ack($0) }
        defer { doer.close() }
        try Self.publish(c2, ["after"])
        #expect(Federated.eventually(30) { doer.payloads.contains("after") || rejecter.payloads.contains("after") })
        #expect(Set(doer.payloads).isSubset(of: ["after"]), "k2 did \(doer.payloads)")
        #expect(try Self.deadLetters(c2).isEmpty, "k2 wrote no dead letter")
        #expect(try Self.deadLetters(c1).count == names.count, "k1 wrote each dead letter once")
        #expect(Set(Self.clusterConsumers(cluster, key)).isSubset(of: ["k1", "k2"]),
                "consumers: \(Self.clusterConsumers(cluster, key))")
        #expect(Self.clusterConsumers(cluster, key).contains("k1"))
    }

    /// Instances leaving one kernel (their connections closed) while
    /// another kernel has instances: the tasks they held go to the other
    /// kernel after ack_wait and are done there once; an instance that
    /// joins the first kernel afterwards gets new tasks, not those again
    /// (no kernel died: Protocol/FEDERATION.md §6 promises them once).
    @Test func tasksOfInstancesThatLeftAreDoneOnceByAnotherKernel() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let config = Self.agents(ackWait: "1s", prefetch: 4)
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix, extra: config)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        // The topic on both kernels before any instance: the groups are wired.
        try Self.publish(c1, ["warm"])
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.tasks").count) == 1 })
        let holder = try Instance(k1) { _ in nil }
        #expect(Federated.eventually(30) { holder.payloads == ["warm"] })
        let held = (0..<3).map { "h\($0)" }
        try Self.publish(c1, held)
        #expect(Federated.eventually(30) { holder.payloads.count == 4 }, "k1's instance holds \(holder.payloads)")
        let taker = try Instance(k2) { Self.ack($0) }
        holder.close()
        #expect(Federated.eventually(30) { Set(taker.payloads).isSuperset(of: ["warm"] + held) }, "k2 did \(taker.payloads)")
        let key = "\(prefix):{fed.tasks}"
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == 0 }, "the cluster group's pending list empties")
        taker.close()
        // k1 has an instance again; new tasks go to it, not the old ones.
        let rejoined = try Instance(k1) { Self.ack($0) }
        defer { rejoined.close() }
        try Self.publish(c2, ["n0", "n1"])
        #expect(Federated.eventually(30) { Set(rejoined.payloads).isSuperset(of: ["n0", "n1"]) }, "k1 did \(rejoined.payloads)")
        #expect(Set(rejoined.payloads) == ["n0", "n1"], "done again on k1 after k2 did them: \(rejoined.payloads)")
        #expect(taker.payloads.repeated.isEmpty, "k2 did twice: \(taker.payloads.repeated)")
    }

    /// kill -9 of a kernel whose instance holds tasks (after it had done
    /// others), restarted with an instance: the tasks it held are taken
    /// again from its own pending list in the cluster (XREADGROUP … 0) and
    /// done there, each once after the restart; those done and
    /// acknowledged before the kill are not done again; the cluster
    /// group's pending list empties.
    @Test func aKernelKilledAndRestartedWithInstancesDoesWhatItHeldOnce() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let dir2 = NSTemporaryDirectory() + "vimana-fed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let config = Self.agents(ackWait: "30s", prefetch: 4)
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        var k2 = try Federated.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2, extra: config)
        let c1 = try Federated.connect(k1)
        var c2 = try Federated.connect(k2)
        try Self.publish(c1, ["warm"])
        #expect(Federated.eventually(30) { (try? Federated.payloads(c2, "fed.tasks").count) == 1 })
        // Does the d tasks, holds the p tasks.
        let first = try Instance(k2) { $0.payload.hasPrefix("p") ? nil : Self.ack($0) }
        try Self.publish(c1, ["d0", "d1", "d2"])
        #expect(Federated.eventually(30) { Set(first.payloads).isSuperset(of: ["warm", "d0", "d1", "d2"]) })
        try Self.publish(c1, ["p0", "p1"])
        try Self.publish(c2, ["p2", "p3"])
        let held = ["p0", "p1", "p2", "p3"]
        #expect(Federated.eventually(30) { Set(first.payloads).isSuperset(of: held) }, "k2's instance got \(first.payloads)")
        let key = "\(prefix):{fed.tasks}"
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == held.count }, "only the held tasks pending in the cluster")
        k2.stop()  // SIGKILL
        first.close()
        k2 = try Federated.kernel("k2", cluster, prefix: prefix, ledgerDirectory: dir2, extra: config)
        c2 = try Federated.connect(k2)
        let second = try Instance(k2) { Self.ack($0) }
        defer { second.close() }
        #expect(Federated.eventually(30) { Set(second.payloads).isSuperset(of: held) }, "after the restart k2 did \(second.payloads)")
        try Self.publish(c1, ["s"])
        #expect(Federated.eventually(30) { second.payloads.contains("s") })
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == 0 }, "the cluster group's pending list empties")
        #expect(second.payloads.repeated.isEmpty, "done twice after the restart: \(second.payloads)")
        #expect(Set(second.payloads) == Set(held + ["s"]), "after the restart k2 did \(second.payloads)")
        #expect(Self.clusterConsumers(cluster, key) == ["k2"])
    }

    /// `start: new` (the default) keeps the group where it stood, across a
    /// restart, as on one kernel (Protocol/AGENTS.md §1): tasks published
    /// after the topic first appeared, before any instance joined any
    /// kernel and before a restart, are tasks when an instance joins after it.
    @Test func tasksPublishedBeforeARestartAreTasksOfAGroupMadeAfterIt() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let dir1 = NSTemporaryDirectory() + "vimana-fed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir1) }
        let config = Self.agents(ackWait: "30s", prefetch: 4)
        var k1 = try Federated.kernel("k1", cluster, prefix: prefix, ledgerDirectory: dir1, extra: config)
        var c1 = try Federated.connect(k1)
        let old = ["old0", "old1", "old2"]
        try Self.publish(c1, old)
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_mirror_lag")) == "0" })
        #expect(k1.terminate() != nil, "k1 stops")
        k1 = try Federated.kernel("k1", cluster, prefix: prefix, ledgerDirectory: dir1, extra: config)
        c1 = try Federated.connect(k1)
        let worker = try Instance(k1) { Self.ack($0) }
        defer { worker.close() }
        try Self.publish(c1, ["new0"])
        #expect(Federated.eventually(30) { worker.payloads.contains("new0") }, "k1 did \(worker.payloads)")
        #expect(worker.payloads == old + ["new0"], "k1 did \(worker.payloads)")
    }

    /// The master of the tasks' stream frozen (cut off) while an instance
    /// holds tasks and tasks are published: the instance's ACKs during the
    /// outage reach the cluster after it (the kernel's claims stay its own:
    /// no other kernel does them again), the tasks published during it are
    /// done after it, each once; the cluster group's pending list empties.
    /// A cluster of its own: its master is frozen.
    @Test func acknowledgementsDuringAnOutageReachTheClusterAfterIt() throws {
        let cluster = try RedisCluster()
        let prefix = Federated.freshPrefix()
        let config = Self.agents(ackWait: "20s", prefetch: 4)
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix, extra: config)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        try Self.publish(c2, ["warm"])
        #expect(Federated.eventually(30) { (try? Federated.payloads(c1, "fed.tasks").count) == 1 })
        // Holds what it gets until the gate opens, then acknowledges it all.
        let gate = Gate()
        let held = try Instance(k1, idle: { tasks in gate.isOpen ? tasks.map(Self.ack) : [] }) { _ in nil }
        defer { held.close() }
        let before = ["b0", "b1", "b2"]
        try Self.publish(c1, before)
        #expect(Federated.eventually(30) { held.payloads.count == 4 }, "k1's instance holds \(held.payloads)")
        let key = "\(prefix):{fed.tasks}"
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == 4 })
        let other = try Instance(k2) { Self.ack($0) }
        defer { other.close() }
        let master = try cluster.masterPort(forKey: key)
        cluster.freeze(port: master)
        var thawed = false
        defer { if !thawed { cluster.thaw(port: master) } }
        gate.open()
        let during = ["d0", "d1"]
        try Self.publish(c1, during)
        try Self.publish(c2, ["d2"])
        // The ACKs are answered here, and the kernel finds the cluster gone.
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_status")) == "degraded" })
        cluster.thaw(port: master)
        thawed = true
        let all = ["warm"] + before + during + ["d2"]
        #expect(Federated.eventually(60) { Set(held.payloads + other.payloads).isSuperset(of: all) },
                "done: k1 \(held.payloads), k2 \(other.payloads)")
        #expect(Federated.eventually(30) { Self.clusterPending(cluster, key) == 0 }, "the cluster group's pending list empties")
        #expect((held.payloads + other.payloads).repeated.isEmpty, "done twice: k1 \(held.payloads), k2 \(other.payloads)")
        #expect(Set(other.payloads).isDisjoint(with: ["warm"] + before), "k2 did k1's: \(other.payloads)")
    }

    /// A task given back with a NACK delay holds no prefetch slot while
    /// the delay runs (Protocol/AGENTS.md §2), across kernels too: with
    /// prefetch 1, the instance gets the next task meanwhile.
    @Test func aTaskNackedWithADelayHoldsNoSlotWhileItWaits() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let config = Self.agents(ackWait: "30s", prefetch: 1)
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        let k2 = try Federated.kernel("k2", cluster, prefix: prefix, extra: config)
        let c1 = try Federated.connect(k1), c2 = try Federated.connect(k2)
        try Self.publish(c2, ["later"])
        #expect(Federated.eventually(30) { (try? Federated.payloads(c1, "fed.tasks").count) == 1 })
        let worker = try Instance(k1) { t in
            t.payload == "later" && t.deliveries == 1 ? [Array("NACK".utf8), t.topic, t.id, Array("60000".utf8)] : Self.ack(t)
        }
        defer { worker.close() }
        #expect(Federated.eventually(30) { worker.payloads == ["later"] })
        try Self.publish(c2, ["next0", "next1"])
        #expect(Federated.eventually(30) { worker.payloads.count >= 3 }, "k1 did \(worker.payloads) while 'later' waits")
        #expect(worker.payloads == ["later", "next0", "next1"])
    }

    /// A federated topic's cluster stream overwritten with another type
    /// (a tool's mistake, docs/FEDERATION.md's known limits) fails that
    /// topic's task calls only: the agent's tasks of its other topics go on.
    @Test func aBrokenTopicKeyStopsOnlyThatTopicsTasks() throws {
        let cluster = try RedisCluster.shared()
        let prefix = Federated.freshPrefix()
        let config = """
        agents:
          - id: worker
            subscribes: ["fed.a", "fed.b"]
            ack_wait: 30s
        """
        let k1 = try Federated.kernel("k1", cluster, prefix: prefix, extra: config)
        let c1 = try Federated.connect(k1)
        _ = try c1.call("XADD", "fed.a", "*", "payload", "a0")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_mirrored_entries")) == "1" })
        let key = "\(prefix):{fed.a}"
        let port = try cluster.masterPort(forKey: key)
        #expect(cluster.command(port: port, ["DEL", key]) == .integer(1))
        #expect(cluster.command(port: port, ["SET", key, "not a stream"]) == .simple("OK"))
        _ = try c1.call("XADD", "fed.b", "*", "payload", "b0")
        let worker = try Instance(k1) { Self.ack($0) }
        defer { worker.close() }
        #expect(Federated.eventually(30) { worker.payloads.contains("b0") }, "k1 did \(worker.payloads)")
        #expect(Federated.eventually(30) { (try? Federated.info(c1, "federation_last_error"))?.contains("WRONGTYPE") ?? false },
                "last error: \((try? Federated.info(c1, "federation_last_error")) ?? "nil")")
    }

    /// Opened once, from any thread.
    final class Gate: @unchecked Sendable {
        private let lock = NSLock()
        private var opened = false
        var isOpen: Bool { lock.lock(); defer { lock.unlock() }; return opened }
        func open() { lock.lock(); opened = true; lock.unlock() }
    }
}
