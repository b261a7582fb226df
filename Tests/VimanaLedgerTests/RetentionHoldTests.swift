import Testing
import VimanaConfig
import VimanaCore
@testable import VimanaLedger

/// `Ledger.retentionHold` (LEDGER.md §8): federation's mirror keeps
/// retention off the entries it has not yet put in the cluster.
@Suite struct RetentionHoldTests {
    /// While federation's mirror holds retention at its cursor, no segment
    /// holding a sequence at or after it is retired, by `max_bytes`, by
    /// `max_age` or by LEDGER RETAIN; once the hold moves on, they go.
    @Test func retentionKeepsEverySegmentFromTheHoldOn() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        let ledger = Ledger(config: config)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        // Segments 1, 2 and 3 of one record each, then the active one from 4.
        for k in 1...3 {
            ledger.publish("t", "record \(k)", now: 1_000_000 + UInt64(k))
            ledger.commit()
            #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
            #expect(ledger.requestSeal())
            #expect(loop.pump { ledger.segmentCount == k + 1 })
        }
        ledger.publish("t", "record 4", now: 1_000_004)
        ledger.commit()
        #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        let far = Int64(4_000_000_000) * 1_000_000   // every record far past any max_age

        ledger.retentionHold = 2
        ledger.options_setRetentionBytes(1)
        #expect(ledger.enforceRetention(nowMicros: far) == [LedgerDirectory.segmentName(1)])
        #expect(ledger.enforceRetention(nowMicros: far).isEmpty)
        #expect(ledger.retainNow(nowMicros: far).isEmpty)
        ledger.retentionOverride = nil
        ledger.setRetention(maxAgeSeconds: 1, maxBytes: 0)
        #expect(ledger.enforceRetention(nowMicros: far).isEmpty)
        #expect(ledger.segmentCount == 3)
        #expect(ledger.range(topic: bytes("t"), from: .zero, to: .max, count: 10).map(\.sequence) == [2, 3, 4])

        // The mirror moves on: what it has passed may go, by age here.
        ledger.retentionHold = 4
        #expect(ledger.enforceRetention(nowMicros: far) == [LedgerDirectory.segmentName(2), LedgerDirectory.segmentName(3)])
        #expect(ledger.segmentCount == 1)
        #expect(ledger.stream(bytes("t"))?.length == 1)
    }
}
