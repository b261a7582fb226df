import VimanaCore
import VimanaRESP
import VimanaLedger

/// LEDGER's subcommands, as in the table (`ledger|seal` …).
enum LedgerSubcommand: String, Keyword {
    case seal, retain, archives, verify, restore, check
}

/// LEDGER SEAL|RETAIN|ARCHIVES|VERIFY|RESTORE|CHECK: the ledger's housekeeping
/// (Protocol/LEDGER.md §7). The disk work is the ledger's maintenance
/// thread's; meanwhile the client runs no further command (as during a
/// background XRANGE) and every other client is served.
extension Kernel {
    func ledgerCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .ledger, args, as: LedgerSubcommand.self) else { return }
        guard let ledger else {
            c.pointee.output.tail.writeError(disabledError)
            return
        }
        // EXEC writes its array before running what was queued: a reply that
        // comes later would land after it.
        if sub != .retain && c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeError(ErrorReply.ledgerInTransaction(sub.rawValue.uppercased()))
            return
        }
        switch sub {
        case .seal:
            guard ledger.requestSeal() else {
                c.pointee.output.tail.writeError(HousekeepingRefusal.emptySegment)
                return
            }
            sealWaiters.append((c.pointee.fd, c.pointee.id))
            c.pointee.flags.insert(.reading)
        case .retain:
            let retired = ledger.retainNow(nowMicros: Clock.wallMicros())
            c.pointee.output.tail.writeArrayHeader(retired.count)
            for name in retired { c.pointee.output.tail.writeBulk(string: name) }
        case .archives:
            housekeeping(c, ledger, .list)
        case .check:
            // The sizes are the loop's: whole frames the writer reported
            // written, so the frame being written is never read.
            housekeeping(c, ledger, .check(ledger.liveSegments))
        case .verify, .restore:
            let name = args.string(2)
            guard LedgerDirectory.firstSequence(ofSegment: name) != nil else {
                c.pointee.output.tail.writeError(HousekeepingRefusal.badName(String(name.prefix(128))))
                return
            }
            housekeeping(c, ledger, sub == .verify ? .verify(name) : .restore(name))
        }
    }

    /// A segment was sealed: every LEDGER SEAL waiting gets its name.
    func ledgerSealed(_ name: String) {
        let waiters = sealWaiters
        sealWaiters.removeAll()
        for (fd, id) in waiters {
            guard let c = resumable(fd, id) else { continue }
            c.pointee.output.tail.writeBulk(string: name)
            resume(c)
        }
    }

    /// Hands `request` to the maintenance thread; the reply is written when it answers.
    private func housekeeping(_ c: UnsafeMutablePointer<ClientState>, _ ledger: Ledger, _ request: HousekeepingRequest) {
        let fd = c.pointee.fd, id = c.pointee.id
        c.pointee.flags.insert(.reading)
        ledger.housekeeping(request) { [unowned self] answer in
            guard let c = resumable(fd, id) else { return }
            writeHousekeeping(c, answer)
            resume(c)
        }
    }

    private func writeHousekeeping(_ c: UnsafeMutablePointer<ClientState>, _ answer: HousekeepingAnswer) {
        let resp3 = c.pointee.flags.contains(.resp3)
        switch answer {
        case .archives(let list):
            c.pointee.output.tail.writeArrayHeader(list.count)
            for a in list {
                c.pointee.output.tail.writeMapHeader(3, resp3: resp3)
                c.pointee.output.tail.writeBulk(string: "name")
                c.pointee.output.tail.writeBulk(string: a.name)
                c.pointee.output.tail.writeBulk(string: "bytes")
                c.pointee.output.tail.writeInteger(a.bytes)
                c.pointee.output.tail.writeBulk(string: "first-sequence")
                c.pointee.output.tail.writeInteger(Int(clamping: a.firstSequence))
            }
        case .verified(let v):
            writeVerification(c, v, resp3: resp3)
        case .checked(let list):
            c.pointee.output.tail.writeArrayHeader(list.count)
            for v in list { writeVerification(c, v, resp3: resp3) }
        case .restored(let path):
            c.pointee.output.tail.writeBulk(string: path)
        case .refused(let message):
            c.pointee.output.tail.writeError(message)
        }
    }

    /// One segment's verification: a map of segment, frames, records, errors, warnings.
    private func writeVerification(_ c: UnsafeMutablePointer<ClientState>, _ v: ArchiveVerification, resp3: Bool) {
        c.pointee.output.tail.writeMapHeader(5, resp3: resp3)
        c.pointee.output.tail.writeBulk(string: "segment")
        c.pointee.output.tail.writeBulk(string: v.segment)
        c.pointee.output.tail.writeBulk(string: "frames")
        c.pointee.output.tail.writeInteger(v.frames)
        c.pointee.output.tail.writeBulk(string: "records")
        c.pointee.output.tail.writeInteger(Int(clamping: v.records))
        c.pointee.output.tail.writeBulk(string: "errors")
        c.pointee.output.tail.writeArrayHeader(v.errors.count)
        for e in v.errors { c.pointee.output.tail.writeBulk(string: e) }
        c.pointee.output.tail.writeBulk(string: "warnings")
        c.pointee.output.tail.writeArrayHeader(v.warnings.count)
        for w in v.warnings { c.pointee.output.tail.writeBulk(string: w) }
    }
}
