import VimanaCore
import VimanaConfig
import VimanaEventLoop
import VimanaSupervisor

/// An operator's action on a supervised process (AGENT STOP|START|RESTART).
enum ProcessAction: String {
    case stop, start, restart
}

/// The processes of the external agents that declare a `command`
/// (Protocol/AGENTS.md §6): the supervisor that starts, restarts and stops
/// them, and their output pipes in the loop's poll set. The kernel's one
/// handle on them; it calls `start` once, `handleReadable` for an fd that is
/// no connection, `tick` from its timer and `stop` at shutdown.
///
/// Promises: every pipe the supervisor has open is in the loop's poll set
/// (synced after each call that can open or close one); nothing runs before
/// `start` nor after `stop`. Not thread-safe: the loop's thread only.
final class AgentProcesses {
    private let loop: EventLoop
    private let log: Log
    /// Nil until `start` finds an agent to run.
    private var supervisor: Supervisor?
    /// What the supervised agents were told at start (`VIMANA_MAX_PAYLOAD`,
    /// `VIMANA_LEDGER_RETENTION`), which they keep until the server
    /// restarts (a restarted agent is told the same): nil when none runs.
    private(set) var told: (maxPayload: Int, retention: Bool)?
    /// The supervisor's output pipes now in the loop's poll set.
    private var watched: Set<Int32> = []

    init(loop: EventLoop, log: Log) {
        self.loop = loop
        self.log = log
    }

    /// Starts every enabled external agent of `agents` that has a `command`,
    /// with `VIMANA_ADDR` (`address`, host:port), `VIMANA_AGENT_ID`,
    /// `VIMANA_ACK_WAIT_MS` (its `ack_wait`, for the PROGRESS interval),
    /// `VIMANA_MAX_PAYLOAD` (`max_payload`: the largest reply or event field
    /// it may send without the kernel closing its connection),
    /// `VIMANA_LEDGER_RETENTION` (`1` when the ledger retires old segments,
    /// else `0`: the kit then keeps its latest snapshot young) and its
    /// `credentials` (`VIMANA_USER`, `VIMANA_PASSWORD`: in the environment,
    /// which only the agent's own user can read, never in its arguments,
    /// which `ps` shows to all) laid over its `env`.
    func start(_ agents: [AgentConfig], address: String, maxPayload: Int, retention: Bool,
               credentials: (AgentConfig) -> [String: String]) {
        let declared = agents.filter { $0.enabled && $0.kind == .external && $0.command != nil }
        guard !declared.isEmpty else { return }
        let supervisor = Supervisor(log: log)
        told = (maxPayload, retention)
        for a in declared {
            guard let command = a.command else { continue }
            var env = a.env
            env["VIMANA_ADDR"] = address
            env["VIMANA_AGENT_ID"] = a.id
            env["VIMANA_ACK_WAIT_MS"] = String(a.ackWaitMillis)
            env["VIMANA_MAX_PAYLOAD"] = String(maxPayload)
            env["VIMANA_LEDGER_RETENTION"] = retention ? "1" : "0"
            env.merge(credentials(a)) { $1 }
            supervisor.add(id: a.id, command: command, environment: env, restart: a.restart, maxRestarts: a.maxRestarts)
        }
        self.supervisor = supervisor
        supervisor.startAll(nowNanos: Clock.monotonicNanos())
        syncWatched()
    }

    /// Reads and logs a child's output when `fd` is one of its pipes;
    /// false when it is not (then `fd` is nothing of the agents').
    func handleReadable(_ fd: Int32) -> Bool {
        guard let supervisor, watched.contains(fd) else { return false }
        supervisor.readOutput(fd: fd)
        syncWatched()
        return true
    }

    /// Reaps exited children and restarts them by policy (call about every 100 ms).
    func tick(nowNanos: Int64) {
        guard let supervisor else { return }
        supervisor.tick(nowNanos: nowNanos)
        syncWatched()
    }

    /// Stops every child: SIGTERM, `SupervisorLimits.stopGraceSeconds`, then SIGKILL.
    func stop() {
        guard let supervisor else { return }
        supervisor.stopAll()
        syncWatched()
    }

    /// An operator's AGENT STOP|START|RESTART on the agent's process: signals
    /// or spawns and returns at once (the exit is reaped by `tick`); nil
    /// when the kernel supervises no process of that id.
    func control(_ action: ProcessAction, _ id: String) -> ControlResult? {
        guard let supervisor, supervisor.status(id) != nil else { return nil }
        let now = Clock.monotonicNanos()
        let result = switch action {
        case .stop: supervisor.stop(id, nowNanos: now)
        case .start: supervisor.start(id, nowNanos: now)
        case .restart: supervisor.restart(id, nowNanos: now)
        }
        syncWatched()
        return result
    }

    /// Every supervised process's status, in declaration order (AGENT PS).
    var statuses: [(id: String, status: ChildStatus)] { supervisor?.statuses ?? [] }

    /// Whether the kernel supervises a process for the agent.
    func supervises(_ id: String) -> Bool { supervisor?.status(id) != nil }

    /// Times the agent's process was restarted (0 for an agent without one).
    func restarts(_ id: String) -> Int { supervisor?.status(id)?.restarts ?? 0 }

    /// True when the agent's process is given up on (restart policy exhausted).
    func hasFailed(_ id: String) -> Bool { supervisor?.status(id)?.state == .failed }

    /// Adds the pipes opened since the last call to the poll set (the
    /// supervisor names them: a number closed and reopened within one tick is
    /// a new pipe); closed ones left it by themselves when closed.
    private func syncWatched() {
        guard let supervisor else { return }
        for fd in supervisor.takeOpenedOutputFDs() {
            do throws(SystemError) { try loop.poller.add(fd, Poller.readable) } catch {
                log.warn("cannot watch agent output", ["error": .string(error.description)])
            }
        }
        watched = supervisor.outputFDs
    }
}
