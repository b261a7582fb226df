// What the supervisor reports about a child: its state and how it last ended.
#if canImport(Glibc)
import Glibc
#endif

/// Where a child is in its life.
public enum ChildState: String, Sendable {
    /// A process is alive (or exited and not yet reaped by `tick`).
    case running
    /// It exited and is waiting for its restart time.
    case backoff
    /// It restarted more than `maxRestarts` times within a minute: never started again.
    case failed
    /// Declared and not started, exited without a restart due, or stopped by `stopAll` or `stop`.
    case stopped
}

/// How a child's last run ended.
public enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    /// It called `exit` with this status.
    case exited(Int32)
    /// It was killed by this signal.
    case signaled(Int32)
    /// `posix_spawnp` (or the pipes before it) failed with this errno: it never ran.
    case spawnFailed(errno: Int32)
    /// `waitpid` said the pid is not our child (ECHILD): someone else reaped it.
    case lost

    /// Whether `onFailure` restarts after this: everything but a clean exit.
    public var isFailure: Bool {
        if case .exited(0) = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let sig): "signal \(sig)"
        case .spawnFailed(let e): "spawn failed: \(errorText(e))"
        case .lost: "lost (not our child)"
        }
    }
}

/// A snapshot of one child, for `AGENTS`, `/health` and tests.
public struct ChildStatus: Sendable, Equatable {
    public var state: ChildState
    /// The live process, when `state` is `running`.
    public var pid: Int32?
    /// Restarts performed since the child was declared (the first start is not one).
    public var restarts: Int
    public var lastExit: ExitReason?
    /// `running`, and asked to stop (`Supervisor.stop` or `restart`): the
    /// process has been sent SIGTERM and is not reaped yet.
    public var stopping = false
    /// The wall clock (ms since the epoch) when the live process was started.
    public var startedAtMillis: Int64? = nil

    public init(state: ChildState, pid: Int32?, restarts: Int, lastExit: ExitReason?,
                stopping: Bool = false, startedAtMillis: Int64? = nil) {
        self.state = state
        self.pid = pid
        self.restarts = restarts
        self.lastExit = lastExit
        self.stopping = stopping
        self.startedAtMillis = startedAtMillis
    }
}

/// What an operator's stop, start or restart did (`Supervisor.stop` …).
public enum ControlResult: Sendable, Equatable {
    /// Done, or under way (a stop waits for the exit, which `tick` reaps).
    case done
    /// No child has this id.
    case unknown
    case alreadyRunning
    case alreadyStopped
    /// A stop is under way: start it once it has exited.
    case stopping
}

/// `strerror` without a force unwrap.
func errorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}
