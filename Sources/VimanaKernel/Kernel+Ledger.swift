import VimanaCore
import VimanaConfig
import VimanaLedger
import VimanaEventLoop

/// The ledger's place in the loop: opening it, committing each pass's
/// records, releasing replies held for fsync, pausing publishers while the
/// writer catches up.
extension Kernel {
    /// Builds the ledger from the configuration (nil when disabled).
    static func makeLedger(_ config: LedgerConfig) -> Ledger? {
        config.enabled ? Ledger(config: config) : nil
    }

    /// Every reason `start` refuses `config` that the configuration itself
    /// decides, found without binding, creating or changing anything: the
    /// one list `vimana check` prints and `start` checks first. Not here: a
    /// port in use, a ledger directory another server holds, a damaged
    /// ledger (`vimana ledger verify`): the state of the moment, not the
    /// configuration's.
    public static func configurationProblems(_ config: Configuration) -> [String] {
        guard config.ledger.enabled else {
            return config.agents.isEmpty ? [] : ["agents need the ledger: set ledger.enabled: true (or remove the agents)"]
        }
        return Ledger.directoryProblems(config.ledger)
    }

    /// Locks and recovers the ledger once the listeners are bound.
    func openLedger() throws(KernelStartError) {
        guard let ledger else { return }
        let waker = loop.waker
        let report: RecoveryReport
        do throws(LedgerError) {
            report = try ledger.open { work in waker.execute(work) }
        } catch {
            if error.directoryInUse { throw KernelStartError(error.description, reason: .directoryInUse) }
            throw KernelStartError("ledger: \(error)")
        }
        ledger.onConfirmed = { [unowned self] sequence in releaseHeldReplies(upTo: sequence) }
        ledger.onDrained = { [unowned self] in resumeStalled() }
        for problem in report.problems { log.error("ledger problem", ["detail": .string(problem)]) }
        log.info("ledger opened", ["dir": .string(ledger.config.dir), "segments": .int(report.segments),
                                   "records": .int(Int(clamping: report.records)), "next_sequence": .int(Int(clamping: ledger.nextSequence)),
                                   "truncated_bytes": .int(report.truncatedBytes),
                                   "dropped_records": .int(report.droppedRecords),
                                   "checkpoint": .bool(report.usedCheckpoint),
                                   "ms": .int(Int(report.nanos / 1_000_000))])
    }

    // MARK: - Replies that wait for the ledger

    /// Redis's reply while its AOF cannot be written is `-MISCONF Errors
    /// writing to the AOF file: <strerror>`; an append refused while the
    /// ledger cannot be written gets the same shape.
    static func ledgerWriteRefusal(_ error: LedgerIOError) -> String {
        "MISCONF Errors writing to the ledger: \(error.reason)"
    }

    /// Holds `c`'s replies from output position `replyStart` on until the
    /// ledger confirms everything before `sequence` + 1 (`confirmedSequence`:
    /// written to the OS, and under `fsync: always` fsynced). Commands keep
    /// running: pipelined appends share one write (and fsync), as with
    /// Redis's AOF, which is written before replies leave.
    /// `sequence` `.max`: the pass's last record, not yet known
    /// (`holdReplyUntilPassCommitted`).
    func holdReply(_ c: UnsafeMutablePointer<ClientState>, untilConfirmed sequence: UInt64, replyStart: Int) {
        clientInfo(c.pointee.fd)?.heldReplies.append((replyStart, sequence))
        replyHeldThisPass = true
        if !c.pointee.flags.contains(.awaitingLedger) {
            c.pointee.flags.insert(.awaitingLedger)
            awaitingLedger.append(c.pointee.fd)
        }
    }

    /// Holds `c`'s reply from `replyStart` on until every record appended
    /// in this pass is confirmed, those appended after the command ran
    /// included: for a change whose record another concern writes at the
    /// pass's end (the agents batch their journal records so, an ACK's with
    /// them), and whose sequence is therefore known only then.
    func holdReplyUntilPassCommitted(_ c: UnsafeMutablePointer<ClientState>, replyStart: Int) {
        holdReply(c, untilConfirmed: .max, replyStart: replyStart)
        if heldUntilPassEnd.last != c.pointee.fd { heldUntilPassEnd.append(c.pointee.fd) }
    }

    /// Just before the commit, once the pass has appended its last record:
    /// the replies held until then wait for that record.
    func resolvePassEndHolds(_ ledger: Ledger) {
        let last = ledger.nextSequence > 0 ? ledger.nextSequence - 1 : 0
        for fd in heldUntilPassEnd {
            guard let info = clientInfo(fd) else { continue }
            for k in info.heldReplies.indices where info.heldReplies[k].sequence == .max {
                info.heldReplies[k].sequence = last
            }
        }
        heldUntilPassEnd.removeAll(keepingCapacity: true)
        // A hold on records confirmed already (none appended this pass) goes now.
        releaseHeldReplies(upTo: ledger.confirmedSequence)
    }

    /// How many output bytes of a waiting client may be written now.
    func releasableBytes(_ c: UnsafeMutablePointer<ClientState>) -> Int {
        guard let first = clientInfo(c.pointee.fd)?.heldReplies.first else { return Int.max }
        return max(0, first.start - c.pointee.flushedBytes)
    }

    func releaseHeldReplies(upTo sequence: UInt64) {
        guard !awaitingLedger.isEmpty else { return }
        var still: [Int32] = []
        for fd in awaitingLedger {
            guard let c = s.pointee.client(fd), c.pointee.flags.contains(.awaitingLedger),
                  let info = clientInfo(fd) else { continue }
            let before = info.heldReplies.count
            info.heldReplies.removeAll { $0.sequence < sequence }
            if info.heldReplies.isEmpty {
                c.pointee.flags.remove(.awaitingLedger)
            } else {
                still.append(fd)
            }
            if info.heldReplies.count != before { markPending(c) }
        }
        awaitingLedger = still
    }

    // MARK: - Backpressure

    /// Stops reading from a client that publishes to recorded topics while
    /// the writer is behind; others are served as usual.
    func stallIfBehind(_ c: UnsafeMutablePointer<ClientState>) {
        guard let ledger, ledger.isOverPendingLimit, !c.pointee.flags.contains(.stalled) else { return }
        c.pointee.flags.insert(.stalled)
        stalled.append(c.pointee.fd)
        ledgerStalls += 1
        let mask = c.pointee.flags.contains(.watchingWritable) ? Poller.writable : 0
        loop.poller.modify(c.pointee.fd, mask)
        // At most one line per 10 s however often it happens (counted in INFO).
        if stalled.count == 1 && s.pointee.nowNanos - lastStallLog >= 10_000_000_000 {
            lastStallLog = s.pointee.nowNanos
            log.warn("ledger writer behind: pausing publishers",
                     ["pending_bytes": .int(ledger.pendingBytes), "max_pending": .int(ledger.config.maxPending),
                      "stalls_so_far": .int(ledgerStalls)])
        }
    }

    func resumeStalled() {
        let list = stalled
        stalled.removeAll()
        for fd in list {
            guard let c = s.pointee.client(fd), c.pointee.flags.contains(.stalled) else { continue }
            c.pointee.flags.remove(.stalled)
            let mask = c.pointee.flags.contains(.watchingWritable) ? Poller.readable | Poller.writable : Poller.readable
            loop.poller.modify(fd, mask)
            processInput(c)
        }
        if !list.isEmpty && s.pointee.nowNanos - lastResumeLog >= 10_000_000_000 {
            lastResumeLog = s.pointee.nowNanos
            log.info("ledger writer caught up: publishers resumed", ["clients": .int(list.count)])
        }
    }
}

/// A failure to start serving (bind, ledger recovery).
public struct KernelStartError: Error, CustomStringConvertible {
    public enum Reason: Sendable {
        /// Another process holds the ledger directory (or its archive).
        case directoryInUse
        case failed
    }

    public let description: String
    public let reason: Reason
    init(_ description: String, reason: Reason = .failed) {
        self.description = description
        self.reason = reason
    }
}
