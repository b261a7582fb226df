import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// What the event loop calls. It knows file descriptors, not what they carry.
public protocol EventLoopHandler: AnyObject {
    /// `fd` is ready; `events` holds `Poller.readable` / `writable` / error bits.
    func handle(fd: Int32, events: UInt32)
    /// After each batch of events, before waiting again: flush replies, close
    /// what was marked for closing.
    func beforeSleep()
    /// About every `tickMillis`: timers, limits, housekeeping.
    func tick(nowNanos: Int64)
    /// SIGINT or SIGTERM arrived.
    func signalReceived(_ signal: Int32)
    /// The earliest monotonic time (ns) something is due (a blocked read's
    /// timeout), or 0 for none: the loop wakes for it even between ticks.
    func nextDeadline() -> Int64
    /// The wait returned (before this pass's `handle` calls): `nowNanos`
    /// is the monotonic time then, `previousPassNanos` how long the
    /// previous pass ran, from its wake-up to its next wait (0 for the first).
    func passBegins(nowNanos: Int64, previousPassNanos: Int64)
}

extension EventLoopHandler {
    public func nextDeadline() -> Int64 { 0 }
    public func passBegins(nowNanos: Int64, previousPassNanos: Int64) {}
}

/// One thread, one epoll set: the whole server runs on it.
///
/// Promises: every handler call happens on the thread that called `run`;
/// work from other threads enters only through `waker.execute`; `stop()`
/// (on the loop thread) ends `run` after the current pass.
public final class EventLoop {
    public let poller: Poller
    public let waker: Waker
    public let signals: SignalWatcher?
    public let tickNanos: Int64
    private var running = false

    /// - Parameter watchSignals: turn SIGINT/SIGTERM into loop events (must be
    ///   created on the main thread before other threads start).
    public init(watchSignals: Bool, tickMillis: Int = EventLoopLimits.tickMillis) throws(SystemError) {
        poller = try Poller(capacity: EventLoopLimits.eventsPerWait)
        waker = try Waker()
        try poller.add(waker.fd, Poller.readable)
        if watchSignals {
            let s = try SignalWatcher()
            signals = s
            try poller.add(s.fd, Poller.readable)
        } else {
            signals = nil
        }
        tickNanos = Int64(tickMillis) * 1_000_000
    }

    /// Runs until `stop()`.
    public func run(_ handler: EventLoopHandler) {
        running = true
        var nextTick = Clock.monotonicNanos() + tickNanos
        let wakerFD = waker.fd
        let signalFD = signals?.fd ?? -1
        var woke: Int64 = 0
        while running {
            handler.beforeSleep()
            if !running { break }
            let now = Clock.monotonicNanos()
            let previousPass = woke == 0 ? 0 : now - woke
            var due = nextTick
            let deadline = handler.nextDeadline()
            if deadline > 0 && deadline < due { due = deadline }
            let timeout = max(0, Int32((due - now + 999_999) / 1_000_000))
            let n = poller.wait(timeoutMillis: timeout)
            woke = Clock.monotonicNanos()
            handler.passBegins(nowNanos: woke, previousPassNanos: previousPass)
            var i = 0
            while i < n {
                let fd = poller.eventFD(i)
                let mask = poller.eventMask(i)
                if fd == wakerFD {
                    waker.drain()
                } else if fd == signalFD {
                    while let s = signals?.next() { handler.signalReceived(s) }
                } else {
                    handler.handle(fd: fd, events: mask)
                }
                i &+= 1
            }
            // The wake-up's reading times the tick too: one reading per pass
            // fewer (the tick runs about every `tickNanos` all the same).
            if woke >= nextTick {
                handler.tick(nowNanos: woke)
                nextTick = woke + tickNanos
            }
        }
        handler.beforeSleep()
    }

    deinit {
        if let signals { Socket.close(signals.fd) }
    }

    /// Ends `run` after the current pass. Call on the loop thread.
    public func stop() { running = false }
}
