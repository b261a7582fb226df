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
                if let reason = reap(child) { exited(child, reason, nowNanos: nowNanos) }
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
        return ChildStatus(state: child.state, pid: child.pid, restarts: child.restarts, lastExit: child.lastExit)
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
    /// Set by `stopAll`: the next exit is final, whatever the policy.
    var stopRequested = false
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
        guard wanted && !child.stopRequested else {
            child.state = .stopped
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
