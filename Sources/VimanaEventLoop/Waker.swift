import CLinuxShim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Wakes the event loop from other threads (the ledger writer, agents) and
/// hands it work: `execute` queues a closure under a mutex and writes the
/// eventfd; the loop drains the queue on its own thread.
///
/// Promises: closures run on the loop thread, in submission order; wake-ups
/// coalesce (many `execute` calls between two loop passes cost one read).
public final class Waker: Sendable {
    public let fd: Int32
    private let queue = Mutex<[@Sendable () -> Void]>([])

    public init() throws(SystemError) {
        let e = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if e < 0 { throw SystemError("eventfd") }
        fd = e
    }

    deinit { _ = close(fd) }

    /// Runs `work` on the loop thread soon. Safe from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        queue.withLock { $0.append(work) }
        wake()
    }

    /// Interrupts `epoll_wait` without queuing work.
    public func wake() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Called by the loop when the eventfd is readable: clears it and runs the queue.
    public func drain() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
        let work = queue.withLock { q -> [@Sendable () -> Void] in
            let taken = q
            q.removeAll(keepingCapacity: true)
            return taken
        }
        for w in work { w() }
    }
}
