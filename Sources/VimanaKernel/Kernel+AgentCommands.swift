import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents
import VimanaConfig
import VimanaSupervisor
import VimanaEventLoop
import VimanaBus

/// AGENT JOIN|LEAVE, ACK, NACK, PROGRESS, AGENTS, and the agents' facts for
/// /health and /metrics: parsing and replies; the agents' state is VimanaAgents.Agents'.
extension Kernel {
    func agentCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.equals(1, caseInsensitive: "join") {
            guard args.count == 3 else {
                c.pointee.output.tail.writeError("ERR wrong number of arguments for 'agent|join' command")
                return
            }
            let id = args.string(2)
            guard let (index, a) = agents.agent(id: id) else {
                c.pointee.output.tail.writeError("ERR unknown agent '\(id)' (declare it under agents: in phoenix.yaml)")
                return
            }
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
            agents.join(index, fd: c.pointee.fd, clientID: c.pointee.id)
            c.pointee.output.tail.append("+OK\r\n")
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
        let a = agents.all[index]
        if a.mayPublish(to: topic) { return true }
        c.pointee.output.tail.writeError("ERR agent '\(a.id)' " + a.publishRefusal(topic))
        return false
    }

    /// Ends an instance: its tasks become due for redelivery at once.
    func leaveAgent(_ fd: Int32) {
        guard let info = infos[Int(fd)], let index = info.agent else { return }
        info.agent = nil
        s.pointee.client(fd)?.pointee.flags.remove(.agentInstance)
        agents.leave(index, fd: fd)
    }

    /// The agent a task reply (ACK, NACK, PROGRESS topic id) comes from and
    /// the task's ID; nil when the connection is no instance or the ID is
    /// malformed (the reply is 0).
    private func taskReply(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) -> (Int, StreamID)? {
        guard let index = infos[Int(c.pointee.fd)]?.agent,
              let id = StreamID.parse(args.buffer(2)) else { return nil }
        return (index, id)
    }

    /// A late ACK (after ack_wait, before the task went to another
    /// instance) still counts: the work is done, as an XACK would say.
    func ackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let (index, id) = taskReply(c, args),
              agents.ack(index, fd: c.pointee.fd, topic: args.bytes(1), id: id) else {
            c.pointee.output.tail.writeInteger(0)
            return
        }
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
        guard let (index, id) = taskReply(c, args) else { c.pointee.output.tail.writeInteger(0); return }
        let given = agents.nack(index, fd: c.pointee.fd, topic: args.bytes(1), id: id, delayMillis: delay)
        c.pointee.output.tail.writeInteger(given ? 1 : 0)
    }

    func progressCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let (index, id) = taskReply(c, args) else { c.pointee.output.tail.writeInteger(0); return }
        let touched = agents.progress(index, fd: c.pointee.fd, topic: args.bytes(1), id: id)
        c.pointee.output.tail.writeInteger(touched ? 1 : 0)
    }

    // MARK: - AGENTS

    func agentsCommand(_ c: UnsafeMutablePointer<ClientState>) {
        let resp3 = c.pointee.flags.contains(.resp3)
        c.pointee.output.tail.writeArrayHeader(agents.all.count)
        for a in agents.all {
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
        var live = a.liveRedisReaders(nowMillis: Clock.wallMillis())
        let group = a.groupName
        for fd in blockedReaders.fds {
            if let read = infos[Int(fd)]?.blockedRead?.group, read.group == group { live.insert(read.consumer) }
        }
        return a.instances.count + live.count
    }

    /// Agents that are required, enabled and have no live instance.
    var requiredAgentsDown: [AgentRuntime] {
        agents.all.filter { $0.config.required && $0.config.enabled && liveInstances($0) == 0 }
    }

    /// /ready's condition: every required agent has a live instance.
    var requiredAgentsUp: Bool { requiredAgentsDown.isEmpty }

    // MARK: - Supervised processes

    /// Starts every enabled external agent that has a `command`, with
    /// VIMANA_ADDR and VIMANA_AGENT_ID in its environment.
    func startSupervisedAgents() {
        let declared = agents.all.filter { $0.config.enabled && $0.config.kind == .external && $0.config.command != nil }
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
}
