import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One of the ledger's threads (the writer, its sync thread, maintenance,
/// the reader): a body run on a thread of its own, a stop flag the body
/// polls, and a join. The threads' owners keep their own wake-ups (a
/// semaphore each); this type owns only starting, the flag and joining.
public final class LedgerThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)

    /// The body to run, carried through `pthread_create`'s context pointer.
    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(_ name: String, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }

        /// Names the calling thread (pthread_setname_np does not import;
        /// this is what it does on Linux). A failure only leaves it unnamed.
        func nameThread() {
            let fd = open("/proc/thread-self/comm", O_WRONLY)
            guard fd >= 0 else { return }
            _ = name.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
    }

    public init() {}

    /// Runs `body` on a new thread named `name` (as `top -H` shows it; at
    /// most 15 bytes, or Linux leaves the thread unnamed). Returns
    /// pthread_create's error, or nil once the thread runs.
    public func start(name: String, _ body: @escaping @Sendable () -> Void) -> Int32? {
        let box = Unmanaged.passRetained(Body(name, body))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            guard let raw else { return nil }
            let body = Unmanaged<Body>.fromOpaque(raw).takeRetainedValue()
            body.nameThread()
            body.run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            return rc
        }
        thread.withLock { $0 = tid }
        return nil
    }

    /// True once `requestStop` was called: the body finishes what
    /// it must and returns.
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Asks the body to return (it sees `isStopping` at its next check; the
    /// owner wakes it if it sleeps).
    public func requestStop() { stopping.store(true, ordering: .releasing) }

    /// Waits until the body has returned; at once when the thread never started.
    public func join() {
        if let tid = thread.withLock({ t in defer { t = nil }; return t }) { pthread_join(tid, nil) }
    }
}
