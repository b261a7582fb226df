/// The gate between what a pass appends to the ledger and what leaves the
/// server: replies held until the ledger confirms their records, and
/// publishers paused while its writer is behind. The kernel keeps one in
/// `KernelState` (behind its pointer: no exclusivity checks on the append
/// path) and does the I/O the gate decides on: flushing, re-arming the
/// poller, logging.
///
/// Promises:
/// - A client holds a reply (`ClientInfo.heldReplies` is not empty) exactly
///   while it has `awaitingLedger`, and is then listed once in the awaiting
///   list. Its output before its first held reply may be written
///   (`releasableBytes`); a hold goes once the ledger confirms a sequence
///   past the hold's record (`release(upTo:)`), holds in any order.
/// - A hold until the pass's end waits for the pass's last record, known
///   once the pass has appended it (`resolvePassEndHolds`).
/// - A client has `stalled` exactly while it is in the stalled list, which
///   `takeStalled` hands back whole; every stall is counted (`stalls`), and
///   the stall and resume log lines each come at most once per
///   `KernelConstants.ledgerStallLogIntervalNanos`.
///
/// Only this type changes `heldReplies`, `awaitingLedger` and `stalled`.
/// A client that closes leaves every list (`forget`), so a connection that
/// gets its descriptor number is never listed twice.
struct LedgerGate {
    /// Clients whose replies wait for the ledger to confirm a record.
    private var awaiting: [Int32] = []
    /// Set when a reply is held in this pass: the commit is urgent.
    private var heldThisPass = false
    /// Clients holding a reply until every record of this pass is
    /// confirmed (`holdUntilPassCommitted`): their sequence is known once
    /// the pass's last record is appended, just before the commit.
    private var heldUntilPassEnd: [Int32] = []
    /// Clients not read from while the ledger writer catches up.
    private var stalled: [Int32] = []
    /// Times a publisher was paused (INFO `ledger_stalls`).
    private(set) var stalls = 0
    private var lastStallLog: Int64 = -1_000_000_000_000
    private var lastResumeLog: Int64 = -1_000_000_000_000

    // MARK: - Held replies

    /// Holds `c`'s replies from output position `replyStart` on until the
    /// ledger confirms everything before `sequence` + 1 (`confirmedSequence`:
    /// written to the OS, and under `fsync: always` fsynced). Commands keep
    /// running: pipelined appends share one write (and fsync), as with
    /// Redis's AOF, which is written before replies leave.
    /// `sequence` `.max`: the pass's last record, not yet known
    /// (`holdUntilPassCommitted`).
    @inline(__always)
    mutating func hold(_ c: UnsafeMutablePointer<ClientState>, untilConfirmed sequence: UInt64, replyStart: Int) {
        c.pointee.info.heldReplies.append((replyStart, sequence))
        heldThisPass = true
        if !c.pointee.flags.contains(.awaitingLedger) {
            c.pointee.flags.insert(.awaitingLedger)
            awaiting.append(c.pointee.fd)
        }
    }

    /// Holds `c`'s reply from `replyStart` on until every record appended
    /// in this pass is confirmed, those appended after the command ran
    /// included: for a change whose record another concern writes at the
    /// pass's end (the agents batch their journal records so, an ACK's with
    /// them), and whose sequence is therefore known only then.
    mutating func holdUntilPassCommitted(_ c: UnsafeMutablePointer<ClientState>, replyStart: Int) {
        hold(c, untilConfirmed: .max, replyStart: replyStart)
        if heldUntilPassEnd.last != c.pointee.fd { heldUntilPassEnd.append(c.pointee.fd) }
    }

    /// True while holds wait for the pass's last record.
    var hasPassEndHolds: Bool { !heldUntilPassEnd.isEmpty }

    /// Just before the commit, once the pass has appended its last record
    /// (`lastSequence`): the replies held until then wait for that record.
    mutating func resolvePassEndHolds(lastSequence: UInt64, in connections: borrowing ConnectionTable) {
        for fd in heldUntilPassEnd {
            guard let info = connections.client(fd)?.pointee.info else { continue }
            for k in info.heldReplies.indices where info.heldReplies[k].sequence == .max {
                info.heldReplies[k].sequence = lastSequence
            }
        }
        heldUntilPassEnd.removeAll(keepingCapacity: true)
    }

    /// Whether a reply was held since the last call: the commit is urgent.
    mutating func takeUrgency() -> Bool {
        let urgent = heldThisPass
        heldThisPass = false
        return urgent
    }

    /// How many output bytes of `c`, holding replies, may be written now.
    @inline(__always)
    func releasableBytes(_ c: UnsafeMutablePointer<ClientState>) -> Int {
        guard let first = c.pointee.info.heldReplies.first else { return Int.max }
        return max(0, first.start - c.pointee.flushedBytes)
    }

    /// Drops the holds on records before `sequence` (the ledger confirmed
    /// them) and calls `released` for each client that lost one: its output
    /// may go further now.
    mutating func release(upTo sequence: UInt64, in connections: borrowing ConnectionTable,
                          _ released: (UnsafeMutablePointer<ClientState>) -> Void) {
        guard !awaiting.isEmpty else { return }
        var still: [Int32] = []
        for fd in awaiting {
            guard let c = connections.client(fd), c.pointee.flags.contains(.awaitingLedger) else { continue }
            let info = c.pointee.info
            let before = info.heldReplies.count
            info.heldReplies.removeAll { $0.sequence < sequence }
            if info.heldReplies.isEmpty {
                c.pointee.flags.remove(.awaitingLedger)
            } else {
                still.append(fd)
            }
            if info.heldReplies.count != before { released(c) }
        }
        awaiting = still
    }

    /// How many holds `c` has: with `restartHolds`, for EXEC.
    func holdCount(_ c: UnsafeMutablePointer<ClientState>) -> Int { c.pointee.info.heldReplies.count }

    /// Makes the holds `c` took from the `first`th on start at `replyStart`:
    /// an EXEC's reply is held whole when any command it ran held one.
    func restartHolds(_ c: UnsafeMutablePointer<ClientState>, from first: Int, at replyStart: Int) {
        let info = c.pointee.info
        guard first < info.heldReplies.count else { return }
        for k in first..<info.heldReplies.count { info.heldReplies[k].start = replyStart }
    }

    /// Takes `c`, closing, out of every list (it had `awaitingLedger` or
    /// `stalled`): a new connection on its descriptor starts unlisted.
    mutating func forget(_ c: UnsafeMutablePointer<ClientState>) {
        let fd = c.pointee.fd
        if c.pointee.flags.contains(.awaitingLedger) {
            awaiting.removeAll { $0 == fd }
            heldUntilPassEnd.removeAll { $0 == fd }
            c.pointee.flags.remove(.awaitingLedger)
        }
        if c.pointee.flags.contains(.stalled) {
            stalled.removeAll { $0 == fd }
            c.pointee.flags.remove(.stalled)
        }
    }

    // MARK: - Backpressure

    /// Clients not read from now (INFO `ledger_stalled_clients`).
    var stalledCount: Int { stalled.count }

    /// Stops counting `c` as readable (the caller takes it out of the poll
    /// set for reading). Returns whether to log it: the first stall of a
    /// wave, at most once per interval. A client stalled already is left
    /// as it is (false).
    mutating func stall(_ c: UnsafeMutablePointer<ClientState>, nowNanos: Int64) -> Bool {
        guard !c.pointee.flags.contains(.stalled) else { return false }
        c.pointee.flags.insert(.stalled)
        stalled.append(c.pointee.fd)
        stalls += 1
        guard stalled.count == 1 && nowNanos - lastStallLog >= KernelConstants.ledgerStallLogIntervalNanos else { return false }
        lastStallLog = nowNanos
        return true
    }

    /// Every client stalled so far, emptying the list: each is resumed with
    /// `unstall` (clients stalled from then on start a new list).
    mutating func takeStalled() -> [Int32] {
        let list = stalled
        stalled.removeAll()
        return list
    }

    /// Clears `c`'s stall; false when it was not stalled (a descriptor
    /// reused since, or resumed already).
    func unstall(_ c: UnsafeMutablePointer<ClientState>) -> Bool {
        guard c.pointee.flags.contains(.stalled) else { return false }
        c.pointee.flags.remove(.stalled)
        return true
    }

    /// Whether to log the resumption of `count` clients: some were, and
    /// none was logged within the interval.
    mutating func shouldLogResume(of count: Int, nowNanos: Int64) -> Bool {
        guard count > 0 && nowNanos - lastResumeLog >= KernelConstants.ledgerStallLogIntervalNanos else { return false }
        lastResumeLog = nowNanos
        return true
    }
}
