import VimanaCore
import VimanaRESP
import VimanaLedger

/// LEDGER's subcommands, as in the table (`ledger|seal` …).
enum LedgerSubcommand: String, Keyword {
    case seal, retain, archives, verify, restore, scan, check
}

/// LEDGER SEAL|RETAIN|ARCHIVES|VERIFY|RESTORE|CHECK: the ledger's housekeeping
/// (Protocol/LEDGER.md §8); LEDGER SCAN: every record's metadata from a cursor. The disk work is the ledger's maintenance
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
        case .scan:
            scan(c, ledger, args)
        }
    }

    /// LEDGER SCAN <cursor> [COUNT n]: the cursor is checked and COUNT
    /// range-checked here; the reading is the ledger reader thread's.
    private func scan(_ c: UnsafeMutablePointer<ClientState>, _ ledger: Ledger, _ args: Arguments) {
        var cursor: UInt64?
        if !(args.length(2) == 1 && args.pointer(2).pointee == UInt8(ascii: "$")) {
            guard let n = args.integer(2), n >= 0, args.length(2) <= 19,
                  args.buffer(2).allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                c.pointee.output.tail.writeError(ErrorReply.badScanCursor)
                return
            }
            guard UInt64(n) <= ledger.nextSequence else {
                c.pointee.output.tail.writeError(ErrorReply.scanCursorBeyondEnd(n, ledger.nextSequence))
                return
            }
            cursor = UInt64(n)
        }
        var count = LedgerLimits.scanCountDefault
        if args.count > 3 {
            guard args.count == 5, args.string(3).lowercased() == "count" else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            guard let n = args.integer(4), n >= 1, n <= LedgerLimits.scanCountMax else {
                c.pointee.output.tail.writeError(ErrorReply.scanCountRange(LedgerLimits.scanCountMax))
                return
            }
            count = n
        }
        let fd = c.pointee.fd, id = c.pointee.id
        let resp3 = c.pointee.flags.contains(.resp3)
        let now = ledger.scan(from: cursor, count: count, encode: { result in
            var b = ByteBuffer(capacity: LedgerScanReply.initialBytes + result.entries.count * LedgerScanReply.bytesPerEntry)
            Self.encodeScan(&b, result, resp3: resp3)
            return b
        }) { [unowned self] result, encoded in
            guard let c = resumable(fd, id) else {
                encoded?.release()
                return
            }
            if let encoded {
                c.pointee.output.append(owned: encoded)
            } else {
                writeScanProblem(c, result)
            }
            resume(c)
        }
        if let now {
            if now.problem != nil {
                writeScanProblem(c, now)
            } else {
                Self.encodeScan(&c.pointee.output.tail, now, resp3: resp3)
            }
        } else {
            c.pointee.flags.insert(.reading)
        }
    }

    private func writeScanProblem(_ c: UnsafeMutablePointer<ClientState>, _ r: ScanResult) {
        c.pointee.output.tail.writeError(ErrorReply.scanUnreadable(r.problem ?? "unknown"))
    }

    /// LEDGER SCAN's reply (PROTOCOL.md §6), on the reader thread or the loop.
    static func encodeScan(_ out: inout ByteBuffer, _ r: ScanResult, resp3: Bool) {
        out.writeMapHeader(4, resp3: resp3)
        out.writeBulk(string: "cursor")
        out.writeBulk(string: String(r.cursor))
        out.writeBulk(string: "end")
        out.writeInteger(Int(clamping: r.end))
        out.writeBulk(string: "skipped")
        out.writeInteger(Int(clamping: r.skipped))
        out.writeBulk(string: "records")
        out.writeArrayHeader(r.entries.count)
        for e in r.entries {
            out.writeArrayHeader(6)
            out.writeInteger(Int(clamping: e.sequence))
            out.writeBulk(bytes: e.topic)
            out.writeBulk(id: e.id)
            out.writeBulk(bytes: e.publisher)
            out.writeInteger(e.bytes)
            out.writeInteger(Int(e.timestampMicros))
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

/// Sizes to reserve for a LEDGER SCAN reply: its header, and an entry's usual bytes.
enum LedgerScanReply {
    static let initialBytes = 128
    static let bytesPerEntry = 96
}
