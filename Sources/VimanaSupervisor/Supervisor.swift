// The agent supervisor: starts children, logs their output, restarts them
// by policy with backoff, and stops them at shutdown (Protocol/AGENTS.md §6).
//
// It has no thread of its own: the event loop watches `outputFDs`, calls
// `readOutput` when one is readable and `tick` about every 100 ms. Exits are
// found by `waitpid(pid, WNOHANG)` on each child's own pid, never
// `waitpid(-1)`, so children that other code starts are never reaped here.
#if canImport(Glibc)
import Glibc
#endif
import VimanaCore
import VimanaConfig

// MARK: - User API

/// Runs declared child processes for the single-threaded event loop.
///
/// All times are `Clock.monotonicNanos()` readings. Not thread-safe: call it
/// from the loop's thread only.
public final class Supervisor {
    /// Called for each output line, after it is logged: `(agent, stream, line)`
    /// with `stream` `"stdout"` or `"stderr"`. For tests and observers.
    public var onLine: ((String, String, String) -> Void)?

    /// Errors that did not belong to one child's exit: a duplicate `add`, a
    /// failed read, a child that could not be reaped after SIGKILL.
    public internal(set) var errors = 0

    let log: Log
    var children: [Child] = []
    var byID: [String: Child] = [:]
    /// Every open pipe read end, by fd.
    var pipes: [Int32: OutputPipe] = [:]
    /// Read ends opened since `takeOpenedOutputFDs` last ran, in order.
    var opened: [Int32] = []
    var readBuffer = [UInt8](repeating: 0, count: SupervisorLimits.readChunk)

    public init(log: Log = .shared) {
        self.log = log
    }

    deinit {
        for fd in pipes.keys { close(fd) }
    }

    /// Declares a child to run; does not start it. The child's environment is
    /// this process's environment with `environment` laid over it.
    public func add(id: String, command: [String], environment: [String: String],
                    restart: RestartPolicy, maxRestarts: Int) {
        guard byID[id] == nil else {
            errors += 1
            log.error("agent declared twice", ["agent": .string(id)])
            return
        }
        let child = Child(id: id, command: command, environment: environment,
                          restart: restart, maxRestarts: max(0, maxRestarts))
        children.append(child)
        byID[id] = child
    }

    /// Spawns every declared child that is `stopped`; a `failed` child stays failed.
    public func startAll(nowNanos: Int64) {
        for child in children where child.state == .stopped {
            child.stopRequested = false
            spawn(child, nowNanos: nowNanos)
        }
    }

    /// Pipe read ends (children's stdout and stderr) the loop must watch for
    /// readability. Changes after `startAll`, `readOutput`, `tick` and `stopAll`.
    public var outputFDs: Set<Int32> { Set(pipes.keys) }

    /// The read ends opened since the last call and still open: the ones the
    /// loop must start watching. Asked rather than worked out from
    /// `outputFDs`: within one `tick` a child's pipes can close and another
    /// child's open on the same numbers, which a comparison of sets of
    /// numbers would take for the same, unwatched pipes.
    public func takeOpenedOutputFDs() -> [Int32] {
        defer { opened.removeAll(keepingCapacity: true) }
        var seen = Set<Int32>()
        return opened.filter { pipes[$0] != nil && seen.insert($0).inserted }
    }

    /// Reaps exited children, logs their exits, schedules restarts by policy
    /// and starts children whose restart time has come. Call about every 100 ms.
    public func tick(nowNanos: Int64) {
        for child in children {
            switch child.state {
            case .running:
                if let reason = reap(child) {
                    exited(child, reason, nowNanos: nowNanos)
                } else if child.stopRequested, let pid = child.pid, nowNanos >= child.killAtNanos {
                    // A stop asked by an operator (`stop`, `restart`): the
                    // grace is over; the next tick reaps it.
                    log.warn("agent killed after grace", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                                          "grace_seconds": .double(SupervisorLimits.stopGraceSeconds)])
                    kill(pid, SIGKILL)
                    child.killAtNanos = .max
                }
            case .backoff:
                if nowNanos >= child.restartAtNanos { restart(child, nowNanos: nowNanos) }
            case .failed, .stopped:
                break
            }
        }
    }

    /// Sends SIGTERM to every running child, waits up to `grace` seconds for
    /// them to exit (logging their output meanwhile), then SIGKILLs and reaps
    /// the rest. Children waiting in backoff are not started again.
    public func stopAll(grace: Double = SupervisorLimits.stopGraceSeconds) {
        var alive: [Child] = []
        for child in children {
            child.stopRequested = true
            child.restartRequested = false  // an operator's restart under way: not at shutdown
            if child.state == .backoff { child.state = .stopped }
            guard child.state == .running, let pid = child.pid else { continue }
            log.info("agent stopping", ["agent": .string(child.id), "pid": .int(Int(pid))])
            kill(pid, SIGTERM)
            alive.append(child)
        }
        let graceNanos = Int64(max(0, grace) * 1e9)
        alive = waitForExits(alive, until: Clock.monotonicNanos() + graceNanos)
        for child in alive {
            guard let pid = child.pid else { continue }
            log.warn("agent killed after grace", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                                  "grace_seconds": .double(grace)])
            kill(pid, SIGKILL)
        }
        alive = waitForExits(alive, until: Clock.monotonicNanos() + SupervisorLimits.killWaitNanos)
        for child in alive {
            errors += 1
            log.error("agent not reaped after SIGKILL", ["agent": .string(child.id), "pid": .int(Int(child.pid ?? 0))])
        }
    }

    /// The child's state, pid, restarts and last exit; nil for an unknown id.
    public func status(_ id: String) -> ChildStatus? {
        guard let child = byID[id] else { return nil }
        return ChildStatus(state: child.state, pid: child.pid, restarts: child.restarts, lastExit: child.lastExit,
                           stopping: child.state == .running && child.stopRequested,
                           startedAtMillis: child.pid == nil ? nil : child.startedAtMillis)
    }

    /// Every declared child's status, in declaration order.
    public var statuses: [(id: String, status: ChildStatus)] {
        children.compactMap { c in status(c.id).map { (c.id, $0) } }
    }

    // MARK: Operators' commands (AGENT STOP|START|RESTART)

    /// Stops a child until `start`: a running one gets SIGTERM now (and
    /// SIGKILL from `tick` after `SupervisorLimits.stopGraceSeconds`), and
    /// is reaped by `tick` as any exit is, its policy not applied; one in
    /// backoff or failed is stopped at once. Never waits.
    public func stop(_ id: String, nowNanos: Int64) -> ControlResult {
        guard let child = byID[id] else { return .unknown }
        switch child.state {
        case .stopped: return .alreadyStopped
        case .running where child.stopRequested && !child.restartRequested: return .alreadyStopped
        case .backoff, .failed:
            child.stopRequested = true
            child.state = .stopped
            log.info("agent stopped by request", ["agent": .string(child.id)])
            return .done
        case .running:
            if child.stopRequested {  // a restart under way becomes a stop
                child.restartRequested = false
                return .done
            }
            signalStop(child, nowNanos: nowNanos)
            return .done
        }
    }

    /// Starts a stopped or failed child now (its restart window and backoff
    /// forgotten: an operator's start is a fresh start); one in backoff is
    /// started now instead of at its time.
    public func start(_ id: String, nowNanos: Int64) -> ControlResult {
        guard let child = byID[id] else { return .unknown }
        switch child.state {
        case .running: return child.stopRequested && !child.restartRequested ? .stopping : .alreadyRunning
        case .stopped, .failed, .backoff:
            freshStart(child, nowNanos: nowNanos)
            return .done
        }
    }

    /// A running child gets SIGTERM and is started again as soon as it has
    /// exited (no backoff, not counted against `maxRestarts`); any other is
    /// started now. A restart already under way is not repeated.
    public func restart(_ id: String, nowNanos: Int64) -> ControlResult {
        guard let child = byID[id] else { return .unknown }
        switch child.state {
        case .running:
            if child.stopRequested {
                child.restartRequested = true
                return .done
            }
            child.restartRequested = true
            signalStop(child, nowNanos: nowNanos)
            return .done
        case .stopped, .failed, .backoff:
            freshStart(child, nowNanos: nowNanos)
            return .done
        }
    }

    private func signalStop(_ child: Child, nowNanos: Int64) {
        guard let pid = child.pid else { return }
        child.stopRequested = true
        child.killAtNanos = nowNanos + Int64(SupervisorLimits.stopGraceSeconds * 1e9)
        log.info("agent stopping by request", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                               "restart": .bool(child.restartRequested)])
        kill(pid, SIGTERM)
    }

    private func freshStart(_ child: Child, nowNanos: Int64) {
        if child.pid != nil { return }
        child.stopRequested = false
        child.restartRequested = false
        child.restartTimes.removeAll()
        child.backoffNanos = SupervisorLimits.initialBackoffNanos
        if child.everStarted { child.restarts += 1 }
        spawn(child, nowNanos: nowNanos)
    }
}

// MARK: - Children

/// One declared child and its run history. A class: the pipes refer to it.
final class Child {
    let id: String
    let command: [String]
    let environment: [String: String]
    let policy: RestartPolicy
    let maxRestarts: Int

    var state = ChildState.stopped
    var pid: Int32?
    var startedAtNanos: Int64 = 0
    var restartAtNanos: Int64 = 0
    var backoffNanos = SupervisorLimits.initialBackoffNanos
    /// When each restart within the last window happened.
    var restartTimes: [Int64] = []
    var restarts = 0
    var lastExit: ExitReason?
    /// Set by `stopAll` and `stop`: the next exit is final, whatever the policy.
    var stopRequested = false
    /// Set by `restart`: the exit that `stopRequested` awaits is followed by a start.
    var restartRequested = false
    /// When a stop asked by `stop` or `restart` turns to SIGKILL.
    var killAtNanos: Int64 = .max
    /// The wall clock at the latest spawn, for AGENT PS.
    var startedAtMillis: Int64 = 0
    /// Spawned at least once: a later start counts as a restart.
    var everStarted = false
    /// Read ends of this run's stdout and stderr pipes still open.
    var pipeFDs: [Int32] = []

    init(id: String, command: [String], environment: [String: String], restart: RestartPolicy, maxRestarts: Int) {
        self.id = id
        self.command = command
        self.environment = environment
        self.policy = restart
        self.maxRestarts = maxRestarts
    }
}

extension Supervisor {
    /// Starts a child again once its backoff has passed.
    func restart(_ child: Child, nowNanos: Int64) {
        child.restarts += 1
        child.restartTimes.append(nowNanos)
        spawn(child, nowNanos: nowNanos)
    }

    /// `waitpid(WNOHANG)` on the child: its exit, or nil while it runs.
    func reap(_ child: Child) -> ExitReason? {
        guard let pid = child.pid else { return nil }
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return Self.exitReason(status) }
            if r == 0 { return nil }
            let e = errno
            if e == EINTR { continue }
            if e == ECHILD { return .lost }
            errors += 1
            log.error("waitpid failed", ["agent": .string(child.id), "pid": .int(Int(pid)), "error": .string(errorText(e))])
            return nil
        }
    }

    /// Decodes a wait status (the W* macros are not visible from Swift).
    static func exitReason(_ status: Int32) -> ExitReason {
        let low = status & 0x7F
        if low == 0 { return .exited((status >> 8) & 0xFF) }
        return .signaled(low)
    }

    /// Records an exit (or a failed spawn), logs it, and applies the restart policy.
    func exited(_ child: Child, _ reason: ExitReason, nowNanos: Int64) {
        closePipes(of: child)
        let uptimeNanos = child.pid == nil ? 0 : max(0, nowNanos - child.startedAtNanos)
        if let pid = child.pid {
            let uptime = LogValue.double(Double(uptimeNanos / 1_000_000) / 1000)
            let level: LogLevel = reason.isFailure && !child.stopRequested ? .warn : .info
            switch reason {
            case .exited(let code):
                log.emit(level, "agent exited", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                                 "exit_status": .int(Int(code)), "uptime_seconds": uptime])
            case .signaled(let sig):
                log.emit(level, "agent exited", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                                 "signal": .int(Int(sig)), "uptime_seconds": uptime])
            case .lost, .spawnFailed:
                errors += 1
                log.error("agent lost", ["agent": .string(child.id), "pid": .int(Int(pid)), "reason": .string(reason.description)])
            }
        }
        child.pid = nil
        child.lastExit = reason

        let wanted = switch child.policy {
        case .always: true
        case .onFailure: reason.isFailure
        case .never: false
        }
        if child.restartRequested {
            // An operator's restart: at once, outside the policy and its window.
            child.restartRequested = false
            child.stopRequested = false
            child.killAtNanos = .max
            child.restarts += 1
            spawn(child, nowNanos: nowNanos)
            return
        }
        guard wanted && !child.stopRequested else {
            child.state = .stopped
            child.killAtNanos = .max
            return
        }
        if uptimeNanos >= SupervisorLimits.windowNanos { child.backoffNanos = SupervisorLimits.initialBackoffNanos }
        child.restartTimes.removeAll { $0 <= nowNanos - SupervisorLimits.windowNanos }
        if child.restartTimes.count >= child.maxRestarts {
            child.state = .failed
            log.error("agent failed: too many restarts", ["agent": .string(child.id), "restarts": .int(child.restartTimes.count),
                                                          "max_restarts": .int(child.maxRestarts), "last_exit": .string(reason.description)])
            return
        }
        child.state = .backoff
        child.restartAtNanos = nowNanos + child.backoffNanos
        log.info("agent restart scheduled", ["agent": .string(child.id),
                                             "delay_seconds": .double(Double(child.backoffNanos / 1_000_000) / 1000)])
        child.backoffNanos = min(child.backoffNanos * 2, SupervisorLimits.maxBackoffNanos)
    }

    /// Polls the children until all have exited or the deadline passes,
    /// logging their output meanwhile. Returns those still alive.
    func waitForExits(_ children: [Child], until deadline: Int64) -> [Child] {
        var alive = children
        while true {
            let now = Clock.monotonicNanos()
            alive.removeAll { child in
                guard let reason = reap(child) else { return false }
                exited(child, reason, nowNanos: now)
                return true
            }
            if alive.isEmpty || now >= deadline { return alive }
            pollOutput(timeoutMillis: Int32(min(SupervisorLimits.exitPollMillis, max(1, (deadline - now) / 1_000_000))))
        }
    }
}
