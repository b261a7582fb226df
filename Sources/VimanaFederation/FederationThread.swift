import Dispatch
import Synchronization
import VimanaLedger

/// One of federation's threads (the mirror, the reader): its body on a
/// thread of its own, the semaphore it sleeps on, and a stop that wakes
/// it. Asking both threads to stop before joining either lets a stop take
/// one cluster call's time, not the sum of theirs.
final class FederationThread: Sendable {
    private let thread = LedgerThread()
    /// What the body waits on between rounds; signalled to wake it.
    let wakeup = DispatchSemaphore(value: 0)

    var isStopping: Bool { thread.isStopping }

    /// pthread_create's error, or nil once the thread runs.
    func start(name: String, _ body: @escaping @Sendable () -> Void) -> Int32? { thread.start(name: name, body) }

    /// Asks the body to return after its call in progress, without waiting.
    func requestStop() {
        thread.requestStop()
        wakeup.signal()
    }

    func stop() {
        requestStop()
        thread.join()
    }

    /// Hands `value` to the loop through `deliver` and waits for its answer,
    /// waking every `FederationLimits.idleMillis` to look at the stop flag;
    /// nil when stopping.
    func handOver<Value, Answer: Sendable>(_ value: Value,
                                           _ deliver: (Value, @escaping @Sendable (Answer) -> Void) -> Void) -> Answer? {
        let answer = Mutex<Answer?>(nil)
        let done = DispatchSemaphore(value: 0)
        deliver(value) { a in
            answer.withLock { $0 = a }
            done.signal()
        }
        while !isStopping {
            if done.wait(timeout: .now() + .milliseconds(FederationLimits.idleMillis)) == .success {
                return answer.withLock { $0 }
            }
        }
        return nil
    }
}
