// The supervisor's tunables, each with its reason (the per-agent settings a
// user may change, `restart` and `max_restarts`, are in VimanaConfig's `AgentConfig`).

/// The supervisor's tunables, each with its reason.
public enum SupervisorLimits {
    /// First restart delay: long enough that a crash loop cannot spin the CPU.
    public static let initialBackoffNanos: Int64 = 500_000_000
    /// Backoff cap: a broken agent is still retried twice a minute.
    public static let maxBackoffNanos: Int64 = 30_000_000_000
    /// A child that ran this long was healthy: its next restart starts from
    /// the initial backoff. Also the sliding window for `maxRestarts`.
    public static let windowNanos: Int64 = 60_000_000_000
    /// Bytes read from one pipe per `readOutput`, so one chatty child cannot
    /// hold the loop (the fd stays readable and is read again next turn).
    public static let readBudget = 256 * 1024
    /// Bytes read from a child's pipes after it exits: what it wrote before
    /// dying, bounded in case a grandchild still holds the pipe and keeps writing.
    public static let finalReadBudget = 1024 * 1024
    /// Bytes asked of one `read` on a pipe: a pipe holds 64 KiB by default,
    /// so one read empties it.
    public static let readChunk = 64 * 1024
    /// Longest output line logged: an agent's output is for people, and one
    /// log line must not be able to flood the log. Longer lines are cut here.
    public static let maxLine = 4096
    /// How long `stopAll` gives children between SIGTERM and SIGKILL by
    /// default: enough to finish a task and close a connection, short enough
    /// that a stop does not look hung (Protocol/AGENTS.md §6).
    public static let stopGraceSeconds = 3.0
    /// How long one wait for output lasts while `stopAll` polls for exits: a
    /// child's exit is noticed within this, without spinning.
    public static let exitPollMillis: Int64 = 10
    /// How long `stopAll` waits for SIGKILLed children before giving up on them
    /// (a process in uninterruptible sleep cannot be reaped at once).
    public static let killWaitNanos: Int64 = 2_000_000_000
}
