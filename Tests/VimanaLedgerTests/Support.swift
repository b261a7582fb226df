import Foundation
import Synchronization
import VimanaCore
@testable import VimanaLedger

/// Stands in for the event loop: ledger threads queue closures here and
/// the test runs them on its own thread.
final class TestLoop: Sendable {
    let queue = Mutex<[@Sendable () -> Void]>([])

    var notify: @Sendable (@escaping @Sendable () -> Void) -> Void {
        { [self] work in queue.withLock { $0.append(work) } }
    }

    /// Runs queued work until `done()` or the timeout.
    @discardableResult
    func pump(timeout: Double = 10, until done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let work = queue.withLock { q -> [@Sendable () -> Void] in let w = q; q.removeAll(); return w }
            for w in work { w() }
            if done() { return true }
            usleep(1000)
        }
        return done()
    }
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "vimana-ledger-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension Ledger {
    /// Appends a PUBLISH-style record and returns its sequence.
    @discardableResult
    func publish(_ topic: String, _ payload: String, now: UInt64 = 1_700_000_000_000, publisher: String = "tester") -> UInt64 {
        let seq = nextSequence
        let t = bytes(topic), p = bytes(payload), u = bytes(publisher)
        t.withUnsafeBytes { tb in
            p.withUnsafeBytes { pb in
                u.withUnsafeBytes { ub in
                    recordPublish(topic: tb, payload: pb,
                                  client: RecordClient(id: 7, name: UnsafeRawBufferPointer(start: nil, count: 0), user: ub),
                                  nowMillis: now, nowMicros: Int64(now) * 1000)
                }
            }
        }
        return seq
    }
}
