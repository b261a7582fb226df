import Foundation
import Synchronization
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// Reverse reads walk the index backwards and inflate frames newest first;
/// background reads return what the loop's own reads return.
@Suite(.serialized) struct ReverseReadTests {
    /// A reopened ledger (nothing in memory) of 600 records in frames of 3,
    /// topics `a` and `b` interleaved, over several 16 KiB segments.
    func interleavedLedger(_ loop: TestLoop) throws -> Ledger {
        let dir = temporaryDirectory()
        var config = LedgerConfig(dir: dir)
        config.fsync = .no
        config.segmentBytes = 16 << 10
        config.compactionLevel = nil
        // Written through a loop of its own: what it still has queued at
        // close is for this ledger object only.
        let writing = TestLoop()
        var ledger = Ledger(config: config, tailBytes: 0)
        _ = try ledger.open(notify: writing.notify)
        for i in 0..<600 {
            ledger.publish(i % 2 == 0 ? "a" : "b", "\(i)-" + String(repeating: "x", count: 80), now: 1000 + UInt64(i))
            if i % 3 == 2 {
                ledger.commit()
                #expect(writing.pump { ledger.writtenSequence == ledger.nextSequence })
            }
        }
        ledger.commit()
        #expect(writing.pump { ledger.writtenSequence == ledger.nextSequence })
        ledger.close()
        ledger = Ledger(config: config, tailBytes: 0)
        _ = try ledger.open(notify: loop.notify)
        return ledger
    }

    @Test func reverseReadsAreForwardReadsReversed() throws {
        let loop = TestLoop()
        let ledger = try interleavedLedger(loop)
        defer { ledger.close() }
        #expect(ledger.segmentCount >= 3)
        let all = ledger.range(topic: bytes("a"), from: .zero, to: .max, count: .max)
        #expect(all.count == 300)
        for (from, to, count) in [(0, 299, 5), (0, 299, 300), (10, 250, 7), (100, 101, 10), (0, 0, 1), (299, 299, 3), (37, 211, 1000)] {
            let expected = Array(all[from...to].suffix(count).reversed())
            let got = ledger.range(topic: bytes("a"), from: all[from].id, to: all[to].id, count: count, reverse: true)
            #expect(got.map(\.sequence) == expected.map(\.sequence), "\(from)...\(to) count \(count)")
        }
        // The last five `a` records are in the last four frames.
        let before = ledger.stats.framesRead
        _ = ledger.range(topic: bytes("a"), from: .zero, to: .max, count: 5, reverse: true)
        #expect(ledger.stats.framesRead - before <= 4, "frames read: \(ledger.stats.framesRead - before)")
    }

    @Test func backgroundReadsReturnWhatTheLoopReads() throws {
        let loop = TestLoop()
        let ledger = try interleavedLedger(loop)
        defer { ledger.close() }
        for (reverse, count) in [(false, Int.max), (true, Int.max), (true, 4), (false, 9)] {
            let expected = ledger.range(topic: bytes("b"), from: .zero, to: .max, count: count, reverse: reverse)
            let got = Mutex<[LedgerRecord]>([])
            var result: BackgroundReadResult?
            let started = ledger.readInBackground(topic: bytes("b"), from: .zero, to: .max, count: count, reverse: reverse,
                                                  visit: { r in got.withLock { $0.append(r) }; return true }) { result = $0 }
            #expect(started)
            #expect(loop.pump { result != nil })
            guard case .done(let returned) = result else {
                Issue.record("read ended \(String(describing: result))")
                continue
            }
            #expect(returned == expected.count)
            #expect(got.withLock { $0 } == expected, "reverse \(reverse) count \(count)")
            #expect(ledger.readsInProgress == 0)
        }
    }
}
