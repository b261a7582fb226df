import Testing
@testable import VimanaKernel
#if canImport(Glibc)
import Glibc
#endif

/// The gate's bookkeeping without a server: connections are slots of a real
/// connection table on one end of a socket pair each (the slot closes it).
@Suite struct LedgerGateTests {
    /// `count` connections in a table; freeing it closes them and their peers.
    final class Connections {
        var table = ConnectionTable(size: 4)
        var clients: [UnsafeMutablePointer<ClientState>] = []
        var peers: [Int32] = []

        init(_ count: Int) {
            for _ in 0..<count {
                let (a, b) = ConnectionTableTests.socketPair()
                clients.append(table.insert(ConnectionTableTests.slot(a)))
                peers.append(b)
            }
        }

        deinit { peers.forEach { close($0) } }
    }

    /// Releases up to `sequence`, returning the descriptors of the clients
    /// the gate says may write further.
    static func release(_ gate: inout LedgerGate, upTo sequence: UInt64, _ conns: Connections) -> [Int32] {
        var released: [Int32] = []
        gate.release(upTo: sequence, in: conns.table) { released.append($0.pointee.fd) }
        return released
    }

    @Test func aHeldReplyGoesOnlyOnceTheLedgerConfirmsPastItsRecord() {
        let conns = Connections(1)
        let c = conns.clients[0]
        var gate = LedgerGate()
        c.pointee.flushedBytes = 4
        gate.hold(c, untilConfirmed: 7, replyStart: 10)
        #expect(c.pointee.flags.contains(.awaitingLedger))
        #expect(gate.releasableBytes(c) == 6)  // the output before the reply
        // Confirmed up to 7 means sequences before 7: the reply's record is not.
        #expect(Self.release(&gate, upTo: 7, conns).isEmpty)
        #expect(c.pointee.flags.contains(.awaitingLedger))
        #expect(gate.releasableBytes(c) == 6)
        #expect(Self.release(&gate, upTo: 8, conns) == [c.pointee.fd])
        #expect(!c.pointee.flags.contains(.awaitingLedger))
        #expect(gate.releasableBytes(c) == Int.max)
        #expect(c.pointee.info.heldReplies.isEmpty)
    }

    @Test func theEarliestRemainingHoldBoundsTheOutputAndTheClientStaysListedUntilTheLast() {
        let conns = Connections(2)
        let (c, d) = (conns.clients[0], conns.clients[1])
        var gate = LedgerGate()
        gate.hold(c, untilConfirmed: 5, replyStart: 10)
        gate.hold(c, untilConfirmed: 9, replyStart: 20)
        gate.hold(d, untilConfirmed: 3, replyStart: 0)
        gate.hold(c, untilConfirmed: 12, replyStart: 30)
        #expect(gate.releasableBytes(c) == 10)
        #expect(gate.releasableBytes(d) == 0)
        #expect(Self.release(&gate, upTo: 6, conns) == [c.pointee.fd, d.pointee.fd])
        #expect(gate.releasableBytes(c) == 20)
        #expect(!d.pointee.flags.contains(.awaitingLedger))
        // Nothing of c's passes 9: not released again, still waiting.
        #expect(Self.release(&gate, upTo: 9, conns).isEmpty)
        #expect(c.pointee.flags.contains(.awaitingLedger))
        #expect(Self.release(&gate, upTo: 13, conns) == [c.pointee.fd])
        #expect(!c.pointee.flags.contains(.awaitingLedger))
        // Released whole, a client waits again only when it holds again: d is not seen.
        gate.hold(c, untilConfirmed: 20, replyStart: 40)
        #expect(Self.release(&gate, upTo: 21, conns) == [c.pointee.fd])
    }

    @Test func aHoldUntilThePassEndWaitsForThePassesLastRecord() {
        let conns = Connections(1)
        let c = conns.clients[0]
        var gate = LedgerGate()
        #expect(!gate.hasPassEndHolds)
        gate.holdUntilPassCommitted(c, replyStart: 0)
        gate.holdUntilPassCommitted(c, replyStart: 5)
        #expect(gate.hasPassEndHolds)
        // Unresolved, no confirmation releases it.
        #expect(Self.release(&gate, upTo: 1_000, conns).isEmpty)
        gate.resolvePassEndHolds(lastSequence: 1_000, in: conns.table)
        #expect(!gate.hasPassEndHolds)
        #expect(c.pointee.info.heldReplies.map(\.sequence) == [1_000, 1_000])
        #expect(Self.release(&gate, upTo: 1_000, conns).isEmpty)
        #expect(Self.release(&gate, upTo: 1_001, conns) == [c.pointee.fd])
        #expect(!c.pointee.flags.contains(.awaitingLedger))
    }

    @Test func aHoldMakesThePassesCommitUrgentOnce() {
        let conns = Connections(1)
        var gate = LedgerGate()
        let before = gate.takeUrgency()
        gate.hold(conns.clients[0], untilConfirmed: 1, replyStart: 0)
        let afterHold = gate.takeUrgency()
        let afterTaken = gate.takeUrgency()
        #expect(!before)
        #expect(afterHold)
        #expect(!afterTaken)
    }

    @Test func execRestartsOnlyTheHoldsItsCommandsTook() {
        let conns = Connections(1)
        let c = conns.clients[0]
        var gate = LedgerGate()
        gate.hold(c, untilConfirmed: 1, replyStart: 3)
        let before = gate.holdCount(c)
        gate.restartHolds(c, from: before, at: 50)  // no command held: nothing moves
        #expect(c.pointee.info.heldReplies.map(\.start) == [3])
        gate.hold(c, untilConfirmed: 2, replyStart: 60)
        gate.hold(c, untilConfirmed: 3, replyStart: 70)
        gate.restartHolds(c, from: before, at: 50)
        #expect(c.pointee.info.heldReplies.map(\.start) == [3, 50, 50])
    }

    @Test func stallsAreCountedListedOnceAndLoggedOncePerWaveAndInterval() {
        let conns = Connections(2)
        let (c, d) = (conns.clients[0], conns.clients[1])
        let second: Int64 = 1_000_000_000
        var gate = LedgerGate()
        var logged = gate.stall(c, nowNanos: 0)
        #expect(logged)  // the first stall is logged
        logged = gate.stall(d, nowNanos: KernelConstants.ledgerStallLogIntervalNanos)
        #expect(!logged)  // the same wave, however late: not logged again
        logged = gate.stall(c, nowNanos: 0)
        #expect(!logged)  // stalled already: not counted twice
        #expect(gate.stalls == 2)
        #expect(gate.stalledCount == 2)
        #expect(c.pointee.flags.contains(.stalled) && d.pointee.flags.contains(.stalled))

        let list = gate.takeStalled()
        #expect(list == [c.pointee.fd, d.pointee.fd])
        #expect(gate.stalledCount == 0)
        for fd in list { if let x = conns.table.client(fd) { #expect(gate.unstall(x)) } }
        #expect(!gate.unstall(c))  // resumed already
        #expect(!c.pointee.flags.contains(.stalled) && !d.pointee.flags.contains(.stalled))

        // A new wave within the interval is counted, not logged; after it, logged.
        logged = gate.stall(c, nowNanos: 5 * second)
        #expect(!logged)
        for fd in gate.takeStalled() { if let x = conns.table.client(fd) { _ = gate.unstall(x) } }
        logged = gate.stall(c, nowNanos: KernelConstants.ledgerStallLogIntervalNanos)
        #expect(logged)
        #expect(gate.stalls == 4)
    }

    /// A closing client leaves the lists: the next connection on its
    /// descriptor number is listed once, not beside the closed one.
    @Test func aClosedClientLeavesEveryListSoItsNumberIsListedOnce() {
        let conns = Connections(1)
        let c = conns.clients[0]
        let fd = c.pointee.fd
        var gate = LedgerGate()
        gate.hold(c, untilConfirmed: 5, replyStart: 0)
        _ = gate.stall(c, nowNanos: 0)
        gate.forget(c)
        #expect(!c.pointee.flags.contains(.awaitingLedger) && !c.pointee.flags.contains(.stalled))
        #expect(gate.stalledCount == 0)
        // What a new connection on the same number starts with.
        c.pointee.info.heldReplies.removeAll()
        gate.hold(c, untilConfirmed: 9, replyStart: 0)
        _ = gate.stall(c, nowNanos: 1)
        #expect(gate.stalledCount == 1)
        #expect(gate.takeStalled() == [fd])
        #expect(Self.release(&gate, upTo: 10, conns) == [fd])
    }

    @Test func resumptionIsLoggedAtMostOncePerInterval() {
        var gate = LedgerGate()
        let interval = KernelConstants.ledgerStallLogIntervalNanos
        var logged = gate.shouldLogResume(of: 0, nowNanos: 0)
        #expect(!logged)  // nobody resumed
        logged = gate.shouldLogResume(of: 2, nowNanos: 0)
        #expect(logged)
        logged = gate.shouldLogResume(of: 1, nowNanos: interval - 1)
        #expect(!logged)
        logged = gate.shouldLogResume(of: 1, nowNanos: interval)
        #expect(logged)
    }
}
