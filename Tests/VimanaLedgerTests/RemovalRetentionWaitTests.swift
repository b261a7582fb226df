import Testing
import VimanaCore
@testable import VimanaLedger

/// Retention waits for the removals' state a seal writes: until it is
/// confirmed, the sealed segment may hold the only marker of an XDEL made
/// before the seal, and retiring it then would let a crash lose what the
/// marker says of the topic (its max-deleted-entry-id, an XSETID's figures).
@Suite(.serialized) struct RemovalRetentionWaitTests {
    @Test func retentionWaitsUntilTheSealsRemovalStateIsConfirmed() throws {
        let loop = TestLoop()
        let fixture = MemoryReadStartTests()
        let ledger = Ledger(config: fixture.config())
        _ = try ledger.open(notify: loop.notify)
        let entries = fixture.fill(ledger, loop, count: 50)
        let removed = ledger.delete(topic: bytes("t"), ids: [entries[20].id], nowMillis: 99_999, nowMicros: 99_999_000)
        #expect(removed.removed == 1)
        ledger.commit()
        #expect(loop.pump { ledger.writtenSequence == ledger.nextSequence })
        // Sealed: the XDEL's marker lies in the sealed segment, the only one
        // retention may retire; the state marker is not written yet.
        #expect(ledger.requestSeal())
        #expect(loop.pump { ledger.segmentCount == 2 })
        ledger.retentionOverride = 1
        #expect(ledger.enforceRetention(nowMicros: 100_000_000_000).isEmpty)
        // Written with the next commit and confirmed: now it may go.
        ledger.commit()
        #expect(loop.pump { ledger.confirmedSequence > ledger.removalsSnapshotSequence })
        #expect(ledger.enforceRetention(nowMicros: 100_000_000_000).count == 1)
        // The state marker, in the active segment, keeps the topic's figures across a start.
        let config = ledger.config
        ledger.close()
        let again = Ledger(config: config)
        _ = try again.open(notify: loop.notify)
        defer { again.close() }
        #expect(again.stream(bytes("t"))?.maxDeleted == entries[20].id)
    }
}
