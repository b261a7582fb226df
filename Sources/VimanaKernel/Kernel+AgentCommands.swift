import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents
import VimanaConfig
import VimanaEventLoop
import VimanaBus

/// AGENT's subcommands, as in the table (`agent|join` …).
enum AgentSubcommand: String, Keyword {
    case join, leave, ps, start, stop, restart
}

/// AGENT JOIN|LEAVE, ACK, NACK, PROGRESS, AGENTS, and the agents' facts for
/// /health and /metrics: parsing and replies; the agents' state (which
/// connection is which instance included) is VimanaAgents.Agents'.
extension Kernel {
    /// AGENT JOIN|LEAVE; the subcommand and its arity are the table's.
    func agentCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .agent, args, as: AgentSubcommand.self) else { return }
        let fd = c.pointee.fd
        switch sub {
        case .join:
            let id = args.string(2)
            guard mayJoin(c, agentID: id) else { return }
            do throws(JoinRefusal) {
                try agents.join(agentID: id, fd: fd, clientID: c.pointee.id)
            } catch {
                c.pointee.output.tail.writeError(ErrorReply.joinRefused(error, agent: id))
                return
            }
            // The publish check's fast test; Agents keeps which agent it is.
            c.pointee.flags.insert(.agentInstance)
        case .leave:
            guard agents.leave(fd: fd) else {
                c.pointee.output.tail.writeError(ErrorReply.notAgentInstance)
                return
            }
            c.pointee.flags.remove(.agentInstance)
        case .ps:
            processesCommand(c)
            return
        case .start, .stop, .restart:
            guard let action = ProcessAction(rawValue: sub.rawValue) else { return }
            guard let refusal = controlProcess(action, args.string(2)) else { break }
            c.pointee.output.tail.writeError(refusal)
            return
        }
        c.pointee.output.tail.append("+OK\r\n")
    }

    /// AGENT STOP|START|RESTART <id> (Protocol/AGENTS.md §6): the error text,
    /// or nil once done. The reply does not wait for the process: a stop has
    /// sent SIGTERM (SIGKILL follows after the grace), and the exit is
    /// reaped by the supervisor's tick like any other; a start has spawned.
    func controlProcess(_ action: ProcessAction, _ id: String) -> String? {
        guard let a = agents.agent(id: id) else { return ErrorReply.joinRefused(.unknownAgent, agent: id) }
        guard agentProcesses.supervises(id) else { return ErrorReply.notSupervised(id) }
        if action == .stop && a.config.isSystemAgent { return ErrorReply.systemAgentNotStopped(id) }
        switch agentProcesses.control(action, id) {
        case .done?: return nil
        case .alreadyRunning?: return ErrorReply.processAlreadyRunning(id)
        case .alreadyStopped?: return ErrorReply.processAlreadyStopped(id)
        case .stopping?: return ErrorReply.processStopping(id)
        case .unknown?, nil: return ErrorReply.notSupervised(id)
        }
    }

    /// AGENT PS: per supervised process, in declaration order, `id`,
    /// `state` (running, stopping, backoff, failed, stopped), `pid`,
    /// `started_at` (ms since the epoch), `restarts`, `last_exit` (null
    /// when none); absent values are null.
    func processesCommand(_ c: UnsafeMutablePointer<ClientState>) {
        let resp3 = c.pointee.flags.contains(.resp3)
        let all = agentProcesses.statuses
        c.pointee.output.tail.writeArrayHeader(all.count)
        for (id, s) in all {
            c.pointee.output.tail.writeMapHeader(6, resp3: resp3)
            c.pointee.output.tail.writeBulk(string: "id")
            c.pointee.output.tail.writeBulk(string: id)
            c.pointee.output.tail.writeBulk(string: "state")
            c.pointee.output.tail.writeBulk(string: s.stopping ? "stopping" : s.state.rawValue)
            c.pointee.output.tail.writeBulk(string: "pid")
            if let pid = s.pid { c.pointee.output.tail.writeInteger(Int(pid)) } else { c.pointee.output.tail.writeNull(resp3: resp3) }
            c.pointee.output.tail.writeBulk(string: "started_at")
            if let t = s.startedAtMillis { c.pointee.output.tail.writeInteger(Int(t)) } else { c.pointee.output.tail.writeNull(resp3: resp3) }
            c.pointee.output.tail.writeBulk(string: "restarts")
            c.pointee.output.tail.writeInteger(s.restarts)
            c.pointee.output.tail.writeBulk(string: "last_exit")
            if let e = s.lastExit { c.pointee.output.tail.writeBulk(string: e.description) } else { c.pointee.output.tail.writeNull(resp3: resp3) }
        }
    }

    /// An agent declared with `publishes` may publish only to matching topics;
    /// replies the error and returns false otherwise.
    func agentMayPublish(_ c: UnsafeMutablePointer<ClientState>, _ topic: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let a = agents.agentRefusing(fd: c.pointee.fd, publishTo: topic) else { return true }
        c.pointee.output.tail.writeError(ErrorReply.agentMayNotPublish(a.id, refusal: a.publishRefusal(topic)))
        return false
    }

    /// A late ACK (after ack_wait, before the task went to another
    /// instance) still counts: the work is done, as an XACK would say. On a
    /// connection that is no instance, or with a malformed ID, the reply is 0.
    func ackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let id = StreamID.parse(args.buffer(2)),
              agents.ack(fd: c.pointee.fd, topic: args.bytes(1), id: id) else {
            c.pointee.output.tail.writeInteger(0)
            return
        }
        replyOnceCommitted(c, 1)
    }

    /// Replies `value`; when it is positive (the command changed a group,
    /// which the agents journal at the end of the pass) the reply waits
    /// until the pass's records are confirmed (written, and under `fsync:
    /// always` fsynced: Protocol/AGENTS.md §2).
    func replyOnceCommitted(_ c: UnsafeMutablePointer<ClientState>, _ value: Int) {
        let start = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeInteger(value)
        guard ledger != nil, value > 0 else { return }
        holdReplyUntilPassCommitted(c, replyStart: start)
    }

    /// The arity (two or three arguments) is the table's; the delay is
    /// checked before anything else, as it always was.
    func nackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var delay = 0
        if args.count == 4 {
            guard let d = args.integer(3), (0...KernelConstants.maxNackDelayMillis).contains(d) else {
                c.pointee.output.tail.writeError(ErrorReply.nackDelay)
                return
            }
            delay = d
        }
        let given = StreamID.parse(args.buffer(2)).map {
            agents.nack(fd: c.pointee.fd, topic: args.bytes(1), id: $0, delayMillis: delay)
        } ?? false
        c.pointee.output.tail.writeInteger(given ? 1 : 0)
    }

    func progressCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let touched = StreamID.parse(args.buffer(2)).map {
            agents.progress(fd: c.pointee.fd, topic: args.bytes(1), id: $0)
        } ?? false
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
            ("delivered", .int(a.delivered)), ("acknowledged", .int(a.acknowledged)), ("expired", .int(a.expired)),
            ("dead-lettered", .int(a.deadLettered)), ("restarts", .int(agentProcesses.restarts(a.id))),
        ]
    }

    func agentStatus(_ a: AgentRuntime, instances: Int) -> AgentStatus {
        if !a.config.enabled { return .disabled }
        if a.status == .failed || agentProcesses.hasFailed(a.id) { return .failed }
        return instances == 0 ? .idle : .running
    }

    /// Joined instances, plus the Redis-client consumers of its groups that
    /// read within `ack_wait` or are blocked in XREADGROUP now (AGENTS.md §5).
    func liveInstances(_ a: AgentRuntime) -> Int {
        guard !a.redisReaders.isEmpty else { return a.instances.count }
        var live = a.liveRedisReaders(nowMillis: Clock.wallMillis())
        let group = a.groupName
        for fd in blockedReaders.fds {
            if let read = clientInfo(fd)?.blockedRead?.group, read.group == group { live.insert(read.consumer) }
        }
        return a.instances.count + live.count
    }

    /// Agents that are required, enabled and have no live instance.
    var requiredAgentsDown: [AgentRuntime] {
        agents.all.filter { $0.config.required && $0.config.enabled && liveInstances($0) == 0 }
    }

    /// /ready's condition: every required agent has a live instance.
    var requiredAgentsUp: Bool { requiredAgentsDown.isEmpty }
}
