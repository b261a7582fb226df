/// The event loop's tunables, each with its reason.
public enum EventLoopLimits {
    /// Housekeeping period (timers, output limits, the supervisor's reaping):
    /// often enough that a second-granularity limit is enforced within a
    /// tenth of it, rarely enough to cost nothing on an idle server.
    public static let tickMillis = 100
    /// Events taken from one `epoll_wait`: with level triggering, an fd not
    /// taken now is reported again on the next wait, so this bounds a pass's
    /// work, not what is served. Redis takes up to its client limit; 1024
    /// keeps the array at 12 KiB.
    public static let eventsPerWait = 1024
    /// The listen backlog, as Redis's `tcp-backlog` default: the kernel caps
    /// it at `net.core.somaxconn` anyway.
    public static let listenBacklog: Int32 = 511
    /// First capacity of a connection's reply buffer when its owner does not choose one.
    public static let outputCapacity = 16 << 10
    /// Capacity of the buffer started after a shared or owned segment was
    /// queued: replies that follow a fan-out message are usually small.
    public static let outputTailCapacity = 4096
    /// iovecs per `writev`: a deep queue is written in several calls, each
    /// well under the kernel's `UIO_MAXIOV` (1024), with a small array.
    public static let writevVectors = 64
}
