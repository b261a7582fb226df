#if canImport(Glibc)
import Glibc
#endif

/// A joinable OS thread running one closure and handing back its result.
///
/// Each bench connection gets its own thread with a blocking socket, as
/// `nats bench` does: no event loop between the client and the kernel, so
/// the client's own overhead stays small and easy to reason about.
struct BenchThread<Result: Sendable> {
    /// Written by the thread before it exits, read after `pthread_join`:
    /// the join orders the two accesses.
    private final class Slot: @unchecked Sendable {
        var result: Result?
    }

    private let thread: pthread_t
    private let slot: Slot

    /// Starts `body` on a new thread; nil when the system refuses a thread.
    static func spawn(_ body: @escaping @Sendable () -> Result) -> BenchThread? {
        let slot = Slot()
        let start = ThreadStart { slot.result = body() }
        let context = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, threadEntry, context)
        if rc != 0 {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            return nil
        }
        return BenchThread(thread: thread, slot: slot)
    }

    /// Waits for the thread to finish and returns what its closure returned.
    func join() -> Result? {
        pthread_join(thread, nil)
        return slot.result
    }
}

/// The closure a new thread runs, passed through `pthread_create`'s context pointer.
private final class ThreadStart: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

private func threadEntry(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    Unmanaged<ThreadStart>.fromOpaque(context).takeRetainedValue().body()
    return nil
}
