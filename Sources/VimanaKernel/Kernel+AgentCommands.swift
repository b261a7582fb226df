import Dispatch
import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents
import VimanaConfig
import VimanaSupervisor
import VimanaEventLoop
import VimanaBus

/// AGENT JOIN|LEAVE, ACK, NACK, PROGRESS, AGENTS; built-in agents' workers.
extension Kernel {
    func agentCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.equals(1, caseInsensitive: "join") {
            guard args.count == 3 else {
                c.pointee.output.tail.writeError("ERR wrong number of arguments for 'agent|join' command")
                return
            }
            let id = args.string(2)
            guard let index = agentIndex[id] else {
                c.pointee.output.tail.writeError("ERR unknown agent '\(id)' (declare it under agents: in phoenix.yaml)")
                return
            }
            let a = agents[index]
            guard a.config.enabled else {
                c.pointee.output.tail.writeError("ERR agent '\(id)' is disabled")
                return
            }
            guard a.config.kind == .external else {
                c.pointee.output.tail.writeError("ERR agent '\(id)' is built in")
                return
            }
            guard let info = infos[Int(c.pointee.fd)], info.agent == nil else {
                c.pointee.output.tail.writeError("ERR this connection is already an agent instance (AGENT LEAVE first)")
                return
            }
            info.agent = index
            c.pointee.flags.insert(.agentInstance)
            // Client ids restart at 1 with the process: the boot id keeps consumer
            // names of this run apart from those of earlier runs (whose tasks are
            // pending with no live owner, and so are redelivered).
            a.join(fd: c.pointee.fd, consumer: Array("\(id)-\(bootID)-\(c.pointee.id)".utf8))
            a.status = .running
            c.pointee.output.tail.append("+OK\r\n")
            log.info("agent instance joined", ["agent": .string(id), "client": .int(c.pointee.id),
                                               "instances": .int(a.instances.count)])
        } else if args.equals(1, caseInsensitive: "leave") {
            guard infos[Int(c.pointee.fd)]?.agent != nil else {
                c.pointee.output.tail.writeError("ERR this connection is not an agent instance")
                return
            }
            leaveAgent(c.pointee.fd)
            c.pointee.output.tail.append("+OK\r\n")
        } else {
            c.pointee.output.tail.writeError("ERR unknown subcommand '\(args.string(1))'. Try AGENT JOIN <agent-id> or AGENT LEAVE.")
        }
    }

    /// An agent declared with `publishes` may publish only to matching topics;
    /// replies the error and returns false otherwise.
    func agentMayPublish(_ c: UnsafeMutablePointer<ClientState>, _ topic: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let index = infos[Int(c.pointee.fd)]?.agent else { return true }
        let a = agents[index]
        if a.mayPublish(to: topic) { return true }
        c.pointee.output.tail.writeError("ERR agent '\(a.id)' " + a.publishRefusal(topic))
        return false
    }

    /// Ends an instance: its tasks become due for redelivery at once.
    func leaveAgent(_ fd: Int32) {
        guard let info = infos[Int(fd)], let index = info.agent else { return }
        info.agent = nil
        s.pointee.client(fd)?.pointee.flags.remove(.agentInstance)
        let a = agents[index]
        guard let i = a.instance(fd: fd) else { return }
        a.leave(i, wallMillis: Clock.wallMillis())
        if a.instances.isEmpty && a.status == .running { a.status = .idle }
        log.info("agent instance left", ["agent": .string(a.id), "instances": .int(a.instances.count)])
    }

    /// The agent and group a task reply names, if the task is pending and
    /// was last delivered to this connection; with `held`, only while it
    /// holds it (not given back: its ack_wait has not run out).
    private func ownTask(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments,
                         held: Bool) -> (AgentRuntime, ConsumerGroup, PendingEntry)? {
        guard let index = infos[Int(c.pointee.fd)]?.agent,
              let id = Self.parseID(args.buffer(2), missingSeq: 0) else { return nil }
        let a = agents[index]
        guard let i = a.instance(fd: c.pointee.fd), let g = a.group(for: args.bytes(1)),
              let entry = g.entry(id), g.consumerName(entry.consumer) == a.instances[i].consumer,
              entry.isHeld || !held else { return nil }
        return (a, g, entry)
    }

    /// A late ACK (after ack_wait, before the task went to another
    /// instance) still counts: the work is done, as an XACK would say.
    func ackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let (a, g, entry) = ownTask(c, args, held: false) else { c.pointee.output.tail.writeInteger(0); return }
        groups.ack(g, entry.id)
        a.countAcknowledged()
        replyJournaled(c, 1)
    }

    /// Replies once the journal record of the change is confirmed (written,
    /// and under `fsync: always` fsynced: Protocol/AGENTS.md §2). The record
    /// is written with the pass's other journal changes, so its sequence is
    /// known only at the end of the pass (`resolveJournalHolds`).
    func replyJournaled(_ c: UnsafeMutablePointer<ClientState>, _ value: Int) {
        let start = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeInteger(value)
        guard ledger != nil, value > 0 else { return }
        holdReply(c, untilConfirmed: .max, replyStart: start)
        if journalHolds.last != c.pointee.fd { journalHolds.append(c.pointee.fd) }
    }

    static let nackDelayError = "ERR NACK delay must be an integer from 0 to \(KernelConstants.maxNackDelayMillis) (milliseconds)"

    func nackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard args.count <= 4 else {
            c.pointee.output.tail.writeError("ERR wrong number of arguments for 'nack' command")
            return
        }
        var delay = 0
        if args.count == 4 {
            guard let d = args.integer(3), (0...KernelConstants.maxNackDelayMillis).contains(d) else {
                c.pointee.output.tail.writeError(Self.nackDelayError)
                return
            }
            delay = d
        }
        guard let (_, g, entry) = ownTask(c, args, held: true) else { c.pointee.output.tail.writeInteger(0); return }
        groups.giveBack(g, entry.id, atMillis: Clock.wallMillis().addingSaturating(Int64(delay)))
        c.pointee.output.tail.writeInteger(1)
    }

    func progressCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let (_, g, entry) = ownTask(c, args, held: true) else { c.pointee.output.tail.writeInteger(0); return }
        g.touch(entry.id, nowMillis: Clock.wallMillis())
        c.pointee.output.tail.writeInteger(1)
    }

    // MARK: - AGENTS

    func agentsCommand(_ c: UnsafeMutablePointer<ClientState>) {
        let resp3 = c.pointee.flags.contains(.resp3)
        c.pointee.output.tail.writeArrayHeader(agents.count)
        for a in agents {
            let fields = agentFields(a)
            c.pointee.output.tail.writeMapHeader(fields.count, resp3: resp3)
            for (k, v) in fields {
                c.pointee.output.tail.writeBulk(string: k)
                switch v {
                case .int(let n): c.pointee.output.tail.writeInteger(n)
                case .string(let s): c.pointee.output.tail.writeBulk(string: s)
                default: c.pointee.output.tail.writeNull(resp3: resp3)
                }
            }
        }
    }

    /// What AGENTS, /health and /metrics say of an agent, in this order
    /// (Protocol/AGENTS.md §7): the one place its facts are gathered.
    func agentFields(_ a: AgentRuntime) -> [(String, LogValue)] {
        let instances = liveInstances(a)
        let lag = a.lag { ledger?.stream($0) }
        return [
            ("id", .string(a.id)), ("name", .string(a.config.name)), ("kind", .string(a.config.kind.rawValue)),
            ("status", .string(agentStatus(a, instances: instances).rawValue)), ("instances", .int(instances)),
            ("topics", .int(a.groups.count)), ("pending", .int(a.pendingCount)), ("lag", .int(Int(clamping: lag))),
            ("delivered", .int(a.delivered)), ("acknowledged", .int(a.acknowledged)),
            ("dead-lettered", .int(a.deadLettered)), ("restarts", .int(supervisor?.status(a.id)?.restarts ?? 0)),
        ]
    }

    /// The numeric fields of `agentFields` that /metrics exports, as
    /// `vimana_agent_<field>` (`-` as `_`; counters end in `_total`).
    static let agentMetrics: [(field: String, counter: Bool, help: String)] = [
        ("instances", false, "Live instances of the agent."),
        ("pending", false, "Tasks delivered and not acknowledged."),
        ("lag", false, "Entries of the agent's topics not yet delivered."),
        ("delivered", true, "Task deliveries (redeliveries included)."),
        ("acknowledged", true, "Tasks acknowledged."),
        ("dead-lettered", true, "Tasks dead-lettered after max_deliver."),
        ("restarts", true, "Supervisor restarts of the agent's process."),
    ]

    func agentStatus(_ a: AgentRuntime, instances: Int) -> AgentStatus {
        if !a.config.enabled { return .disabled }
        if a.status == .failed || supervisor?.status(a.id)?.state == .failed { return .failed }
        return instances == 0 ? .idle : .running
    }

    /// Joined instances, plus the Redis-client consumers of its groups that
    /// read within `ack_wait` or are blocked in XREADGROUP now (AGENTS.md §5).
    func liveInstances(_ a: AgentRuntime) -> Int {
        guard !a.redisReaders.isEmpty else { return a.instances.count }
        let now = Clock.wallMillis()
        a.redisReaders = a.redisReaders.filter { now - $0.value < Int64(a.config.ackWaitMillis) }
        var live = Set(a.redisReaders.keys)
        let group = a.groupName
        for fd in blockedReaders.fds {
            if let read = infos[Int(fd)]?.blockedRead?.group, read.group == group { live.insert(read.consumer) }
        }
        return a.instances.count + live.count
    }

    /// Agents that are required, enabled and have no live instance.
    var requiredAgentsDown: [AgentRuntime] {
        agents.filter { $0.config.required && $0.config.enabled && liveInstances($0) == 0 }
    }

    /// /ready's condition: every required agent has a live instance.
    var requiredAgentsUp: Bool { requiredAgentsDown.isEmpty }

    // MARK: - Supervised processes

    /// Starts every enabled external agent that has a `command`, with
    /// VIMANA_ADDR and VIMANA_AGENT_ID in its environment.
    func startSupervisedAgents() {
        let declared = agents.filter { $0.config.enabled && $0.config.kind == .external && $0.config.command != nil }
        guard !declared.isEmpty else { return }
        let supervisor = Supervisor(log: log)
        let host = config.kernel.bind == "0.0.0.0" ? "127.0.0.1" : config.kernel.bind
        for a in declared {
            guard let command = a.config.command else { continue }
            var env = a.config.env
            env["VIMANA_ADDR"] = "\(host):\(port)"
            env["VIMANA_AGENT_ID"] = a.id
            supervisor.add(id: a.id, command: command, environment: env, restart: a.config.restart,
                           maxRestarts: a.config.maxRestarts)
        }
        self.supervisor = supervisor
        supervisor.startAll(nowNanos: Clock.monotonicNanos())
        syncChildOutputs()
    }

    /// Watches the supervisor's current output pipes (they change as children come and go).
    func syncChildOutputs() {
        guard let supervisor else { return }
        let current = supervisor.outputFDs
        for fd in current.subtracting(childOutputs) {
            do throws(SystemError) { try loop.poller.add(fd, Poller.readable) } catch {
                log.warn("cannot watch agent output", ["error": .string(error.description)])
            }
        }
        // Closed fds leave epoll by themselves.
        childOutputs = current
    }

    // MARK: - Built-in agents

    /// A built-in gets `prefetch` worker instances, each a negative "fd".
    func startBuiltin(_ a: AgentRuntime) {
        guard let type = BuiltinAgents.type(for: a.id) else {
            a.status = .failed
            log.error("built-in agent not found", ["agent": .string(a.id)])
            return
        }
        builtinWorkers[a.id] = type.init()
        for k in 0..<max(1, a.config.prefetch) {
            a.join(fd: -Int32(1 + k), consumer: Array("\(a.id)-builtin-\(k)".utf8))
        }
        a.status = .running
    }

    /// Runs a task on the built-ins' queue; the result comes back through
    /// the loop's waker (publishes, then ACK or NACK).
    func runBuiltin(_ a: AgentRuntime, _ task: AgentTask) {
        guard let worker = builtinWorkers[a.id] else { return }
        let me = KernelRef(self)
        let id = a.id
        builtinQueue.async {
            let outcome: Result<AgentResult, Error>
            do { outcome = .success(try worker.handle(task)) } catch { outcome = .failure(error) }
            me.kernel.execute { me.kernel.finishBuiltin(agent: id, task: task, outcome: outcome) }
        }
    }

    func finishBuiltin(agent id: String, task: AgentTask, outcome: Result<AgentResult, Error>) {
        guard let index = agentIndex[id] else { return }
        let a = agents[index]
        guard let g = a.group(for: task.topic), g.entry(task.id) != nil else { return }
        var outcome = outcome
        // A built-in declared with `publishes` is held to it like an external agent.
        if case .success(let result) = outcome,
           let refused = result.publish.first(where: { topic, _ in !topic.withUnsafeBufferPointer { a.mayPublish(to: $0) } }) {
            outcome = .failure(PublishRefused(description: refused.0.withUnsafeBufferPointer { a.publishRefusal($0) }))
        }
        switch outcome {
        case .success(let result):
            for (topic, payload) in result.publish {
                appendEntry(topic: topic, fields: [(Array("payload".utf8), payload)])
            }
            if result.ack {
                groups.ack(g, task.id)
                a.countAcknowledged()
                a.lastFailure[task.id] = nil
            } else {
                g.setEligible(task.id, atMillis: Clock.wallMillis())
            }
        case .failure(let error):
            log.warn("built-in agent failed a task", ["agent": .string(id), "id": .string(task.id.description),
                                                      "error": .string("\(error)")])
            a.lastFailure[task.id] = "\(error)"
            g.setEligible(task.id, atMillis: Clock.wallMillis() + 100)
        }
    }
}

/// Lets a worker thread hand a closure back to the loop through the kernel's
/// waker; the kernel itself is only touched on the loop thread.
struct KernelRef: @unchecked Sendable {
    unowned let kernel: Kernel
    init(_ kernel: Kernel) { self.kernel = kernel }
}

/// A built-in's result that would publish outside its `publishes` patterns.
struct PublishRefused: Error, CustomStringConvertible {
    let description: String
}
