#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import VimanaCore

/// What the bench's threads share: readiness counts, the start signal and
/// the stop flags. Only atomics, so the hot loops read them without locks.
final class BenchControl: Sendable {
    let subscribersReady = Atomic<Int>(0)
    let publishersReady = Atomic<Int>(0)
    /// Workers that failed during setup; the run is aborted.
    let setupFailures = Atomic<Int>(0)
    /// Monotonic time publishing started; 0 until the start signal.
    let startNanos = Atomic<Int64>(0)
    let publishersDone = Atomic<Bool>(false)
    /// Task mode: acknowledgements confirmed, all workers together; the
    /// run ends when it reaches the number of tasks.
    let tasksAcknowledged = Atomic<Int>(0)
    /// Set when the run is abandoned; every worker returns promptly.
    let abort = Atomic<Bool>(false)

    /// Blocks until publishing starts; false when the run was aborted.
    func waitForStart() -> Bool {
        while startNanos.load(ordering: .acquiring) == 0 {
            if abort.load(ordering: .relaxed) { return false }
            Self.pause()
        }
        return !abort.load(ordering: .relaxed)
    }

    /// Waits until `ready()` holds; false on a setup failure, an abort or
    /// after `timeout` seconds.
    func wait(timeout: Double, until ready: () -> Bool) -> Bool {
        let deadline = Clock.monotonicNanos() + Int64(timeout * 1e9)
        while !ready() {
            if setupFailures.load(ordering: .relaxed) > 0 || abort.load(ordering: .relaxed) { return false }
            if Clock.monotonicNanos() > deadline { return false }
            Self.pause()
        }
        return true
    }

    static func pause() {
        var ts = timespec(tv_sec: 0, tv_nsec: 50_000)
        nanosleep(&ts, nil)
    }
}
