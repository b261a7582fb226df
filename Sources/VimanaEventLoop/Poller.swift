import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// Level-triggered epoll: the simpler correct choice (Redis, beanstalkd do
/// the same). A readable socket is reported again on the next wait until it
/// is drained, so a handler may stop reading early (fairness) without losing
/// the event.
///
/// Owns its epoll descriptor and event array: `~Copyable`, so exactly one
/// value holds them, and its `deinit` closes and frees them.
public struct Poller: ~Copyable {
    public let fd: Int32
    @usableFromInline let events: UnsafeMutablePointer<epoll_event>
    public let capacity: Int

    public init(capacity: Int = EventLoopLimits.eventsPerWait) throws(SystemError) {
        let e = epoll_create1(Int32(EPOLL_CLOEXEC))
        if e < 0 { throw SystemError("epoll_create1") }
        fd = e
        self.capacity = capacity
        events = .allocate(capacity: capacity)
    }

    public static let readable = EPOLLIN.rawValue
    public static let writable = EPOLLOUT.rawValue
    public static let errorOrHangup = EPOLLERR.rawValue | EPOLLHUP.rawValue

    /// Watches `fd` for `mask` (`readable`, `writable` or both).
    public func add(_ target: Int32, _ mask: UInt32) throws(SystemError) {
        if vimana_epoll_ctl(fd, EPOLL_CTL_ADD, target, mask) < 0 { throw SystemError("epoll_ctl(ADD)") }
    }

    /// Changes the events watched for `fd`.
    public func modify(_ target: Int32, _ mask: UInt32) {
        _ = vimana_epoll_ctl(fd, EPOLL_CTL_MOD, target, mask)
    }

    /// Stops watching `fd` (closing it does that too; this is for fds kept open).
    public func remove(_ target: Int32) {
        _ = vimana_epoll_ctl(fd, EPOLL_CTL_DEL, target, 0)
    }

    /// Waits up to `timeoutMillis` (-1: forever) and returns the number of
    /// ready events, 0 on timeout or EINTR.
    public func wait(timeoutMillis: Int32) -> Int {
        let n = epoll_wait(fd, events, Int32(capacity), timeoutMillis)
        return n < 0 ? 0 : Int(n)
    }

    @inlinable @inline(__always)
    public func eventFD(_ i: Int) -> Int32 { vimana_event_fd(events, Int32(i)) }

    @inlinable @inline(__always)
    public func eventMask(_ i: Int) -> UInt32 { vimana_event_mask(events, Int32(i)) }

    deinit {
        _ = Glibc.close(fd)
        events.deallocate()
    }
}
