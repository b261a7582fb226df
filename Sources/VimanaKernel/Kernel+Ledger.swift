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
            var problems: [String] = []
            if !config.agents.isEmpty { problems.append("agents need the ledger: set ledger.enabled: true (or remove the agents)") }
            if config.federation != nil { problems.append("federation needs the ledger: set ledger.enabled: true (or remove federation)") }
            return problems
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
        ledger.onConfirmed = { [unowned self] sequence in
            releaseHeldReplies(upTo: sequence)
            federationConfirmed(sequence)
        }
        ledger.onDrained = { [unowned self] in resumeStalled() }
        ledger.onFsync = { [unowned self] nanos in ledgerFsynced(nanos: nanos) }
        ledger.onSealed = { [unowned self] name in ledgerSealed(name) }
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

    /// Holds `c`'s replies from `replyStart` on until the ledger confirms
    /// the record `sequence` (`LedgerGate.hold`).
    @inline(__always)
    func holdReply(_ c: UnsafeMutablePointer<ClientState>, untilConfirmed sequence: UInt64, replyStart: Int) {
        s.pointee.ledgerGate.hold(c, untilConfirmed: sequence, replyStart: replyStart)
    }

    /// Holds `c`'s reply from `replyStart` on until every record of this
    /// pass is confirmed (`LedgerGate.holdUntilPassCommitted`).
    func holdReplyUntilPassCommitted(_ c: UnsafeMutablePointer<ClientState>, replyStart: Int) {
        s.pointee.ledgerGate.holdUntilPassCommitted(c, replyStart: replyStart)
    }

    /// Just before the commit, once the pass has appended its last record:
    /// the replies held until then wait for that record.
    func resolvePassEndHolds(_ ledger: Ledger) {
        let last = ledger.nextSequence > 0 ? ledger.nextSequence - 1 : 0
        s.pointee.ledgerGate.resolvePassEndHolds(lastSequence: last, in: s.pointee.connections)
        // A hold on records confirmed already (none appended this pass) goes now.
        releaseHeldReplies(upTo: ledger.confirmedSequence)
    }

    /// The ledger confirmed every record before `sequence`: the replies
    /// held for them may be written.
    func releaseHeldReplies(upTo sequence: UInt64) {
        s.pointee.ledgerGate.release(upTo: sequence, in: s.pointee.connections) { c in markPending(c) }
    }

    // MARK: - Backpressure

    /// Stops reading from a client that publishes to recorded topics while
    /// the writer is behind; others are served as usual.
    func stallIfBehind(_ c: UnsafeMutablePointer<ClientState>) {
        guard let ledger, ledger.isOverPendingLimit, !c.pointee.flags.contains(.stalled) else { return }
        let logIt = s.pointee.ledgerGate.stall(c, nowNanos: s.pointee.nowNanos)
        loop.poller.modify(c.pointee.fd, readInterest(c))
        // At most one line per interval however often it happens (counted in INFO).
        if logIt {
            log.warn("ledger writer behind: pausing publishers",
                     ["pending_bytes": .int(ledger.pendingBytes), "max_pending": .int(ledger.config.maxPending),
                      "stalls_so_far": .int(s.pointee.ledgerGate.stalls)])
        }
    }

    /// The writer caught up: reads every stalled client again, and runs
    /// the commands it sent meanwhile.
    func resumeStalled() {
        let list = s.pointee.ledgerGate.takeStalled()
        for fd in list {
            guard let c = s.pointee.client(fd), s.pointee.ledgerGate.unstall(c) else { continue }
            // Still not read if its user's publish allowance is spent.
            loop.poller.modify(fd, readInterest(c))
            processInput(c)
        }
        if s.pointee.ledgerGate.shouldLogResume(of: list.count, nowNanos: s.pointee.nowNanos) {
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
