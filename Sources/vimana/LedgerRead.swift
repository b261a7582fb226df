import VimanaLedger
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `vimana ledger dump` and `vimana ledger tail`: records in sequence order,
/// as text lines or JSON, from a directory a server may be writing to.
enum LedgerRead {
    /// Set by SIGINT and SIGTERM to end `tail --follow` cleanly.
    static let interrupted = Atomic<Bool>(false)

    // MARK: - dump

    static func dump(_ args: [String]) -> Int32 {
        let usage = "vimana ledger dump DIR [--from SEQ] [--topic PATTERN] [--json] [--all]"
        let f: FlagReader, dir: String, from: Int?
        do throws(UsageError) {
            (f, dir) = try LedgerCommand.parse(args, valued: ["from", "topic"], bare: ["json", "all"], usage: usage)
            from = try f.int("from", range: 0...Int.max)
        } catch {
            return CLI.usageError(error.message)
        }
        if let status = LedgerCommand.checkDirectory(dir) { return status }
        let filter = OfflineFilter(from: UInt64(from ?? 0), topic: f.values["topic"].map { Array($0.utf8) })
        let json = f.flags.contains("json")
        let reader: OfflineReader
        do throws(LedgerError) { reader = try OfflineReader(directory: dir) } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        do throws(LedgerIOError) { try reader.refresh() } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        // Entries the removal markers removed are left out unless --all (LEDGER.md §9).
        let removed = f.flags.contains("all") ? OfflineRemovals() : OfflineRemovals.read(dir)
        if let from { reader.seek(to: UInt64(from)) }
        var out = LedgerOutput()
        var status: Int32 = 0
        reading: while true {
            let stop = reader.read { records in
                for r in records where filter.accepts(r) && !removed.removes(r) {
                    out.line(json ? LedgerFormat.jsonLine(r) : LedgerFormat.textLine(r))
                }
            }
            out.flush()
            notes(reader)
            switch stop {
            case .end, .endOfSegment:
                break reading
            case .unreadable(let error):
                printErr("vimana ledger: \(error)")
                return 1
            case .problem(let problem):
                if problem.tornTail {
                    // Where the server's recovery cuts the file: nothing after it is ever served.
                    printErr("vimana ledger: \(problem); stopping at the torn tail (\(problem.bytesAfter) bytes)")
                    break reading
                }
                // Corruption: the valid frames after it are kept by `vimana ledger repair`, so they are printed.
                printErr("vimana ledger: \(problem); skipping to the next valid frame (run vimana ledger repair)")
                status = 1
                if !reader.skipDamage() { break reading }
            }
        }
        // A segment missing or overlapping is damage too (LEDGER.md §1), though the records around it print.
        return reader.unexplainedGaps > 0 ? 1 : status
    }

    // MARK: - tail

    static func tail(_ args: [String]) -> Int32 {
        let usage = "vimana ledger tail DIR [-n N] [--follow] [--topic PATTERN] [--json]"
        let f: FlagReader, dir: String, count: Int
        do throws(UsageError) {
            (f, dir) = try LedgerCommand.parse(args, valued: ["lines", "topic"], bare: ["follow", "json"], usage: usage)
            count = try f.int("lines", range: 0...Int(Int32.max)) ?? CLILimits.tailLines
        } catch {
            return CLI.usageError(error.message)
        }
        if let status = LedgerCommand.checkDirectory(dir) { return status }
        let filter = OfflineFilter(topic: f.values["topic"].map { Array($0.utf8) })
        let json = f.flags.contains("json")
        func render(_ r: LedgerRecord) -> String { json ? LedgerFormat.jsonLine(r) : LedgerFormat.textLine(r) }
        let reader: OfflineReader
        do throws(LedgerError) { reader = try OfflineReader(directory: dir) } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        if f.flags.contains("follow") { installSignalHandlers() }
        do throws(LedgerIOError) { try reader.refresh() } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        var out = LedgerOutput()
        for r in last(count, reader: reader, filter: filter) { out.line(render(r)) }
        out.flush()
        guard f.flags.contains("follow") else { return 0 }
        return follow(reader, filter: filter, render: render)
    }

    /// The last `count` records that pass `filter`: segments are read from
    /// the newest back until they hold enough. Leaves the reader at the end
    /// of the last segment.
    static func last(_ count: Int, reader: OfflineReader, filter: OfflineFilter) -> [LedgerRecord] {
        var newestFirst: [[LedgerRecord]] = []
        var found = 0
        var end: OfflineReader.Position?
        for k in reader.segments.indices.reversed() {
            reader.start(atSegment: k)
            var kept: [LedgerRecord] = []
            let stop = reader.read(oneSegment: true) { records in
                for r in records where filter.accepts(r) {
                    kept.append(r)
                    if kept.count >= 2 * max(count, 1) { kept.removeFirst(kept.count - count) }
                }
            }
            if k == reader.segments.count - 1 { end = reader.position }
            if case .problem(let problem) = stop {
                printErr("vimana ledger: \(problem); " + (problem.active ? "stopping there" : "skipping the rest of \(problem.segment)"))
            } else if case .unreadable(let error) = stop {
                printErr("vimana ledger: \(error)")
            }
            newestFirst.append(Array(kept.suffix(count)))
            found += min(kept.count, count)
            if found >= count { break }
        }
        reader.move(to: end)
        return Array(newestFirst.reversed().joined().suffix(count))
    }

    /// Prints records as they are appended until SIGINT or SIGTERM (exit 0).
    static func follow(_ reader: OfflineReader, filter: OfflineFilter, render: (LedgerRecord) -> String) -> Int32 {
        var out = LedgerOutput()
        var waiting: (offset: Int, polls: Int)?
        while !interrupted.load(ordering: .relaxed) {
            usleep(CLILimits.followIntervalMicros)
            if interrupted.load(ordering: .relaxed) { break }
            do throws(LedgerIOError) { try reader.refresh() } catch {
                printErr("vimana ledger: \(error)")
                return 1
            }
            polling: while true {
                let stop = reader.read { records in
                    for r in records where filter.accepts(r) { out.line(render(r)) }
                }
                out.flush()
                notes(reader)
                switch stop {
                case .end, .endOfSegment:
                    waiting = nil
                    break polling
                case .unreadable(let error):
                    printErr("vimana ledger: \(error)")
                    return 1
                case .problem(let problem) where problem.active:
                    // Most likely a frame still being written: look again next time.
                    let polls = waiting?.offset == problem.offset ? waiting!.polls + 1 : 1
                    if polls == CLILimits.followPatiencePolls {
                        printErr("vimana ledger: \(problem); waiting " + (problem.tornTail
                            ? "(the server truncates it on its next start)"
                            : "(valid frames follow it: the server refuses its next start; run vimana ledger repair)"))
                    }
                    waiting = (problem.offset, polls)
                    break polling
                case .problem(let problem):
                    printErr("vimana ledger: \(problem); skipping the rest of \(problem.segment)")
                    waiting = nil
                    if !reader.skipSegment() { break polling }
                }
            }
        }
        out.flush()
        return 0
    }

    private static func notes(_ reader: OfflineReader) {
        for note in reader.notes { printErr("vimana ledger: note: \(note)") }
        reader.notes.removeAll()
    }

    /// Catches SIGINT and SIGTERM, and unblocks them: a parent may have
    /// started us with them blocked (Foundation's Process does), and then
    /// nothing but SIGKILL would ever end the loop.
    private static func installSignalHandlers() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM] {
            _ = signal(s) { _ in LedgerRead.interrupted.store(true, ordering: .relaxed) }
            sigaddset(&set, s)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// The removal markers of a ledger directory (Protocol/LEDGER.md §9), read
/// in a first pass: an entry is removed when a marker of its topic has a
/// floor above its sequence or lists it.
struct OfflineRemovals {
    var floors: [[UInt8]: UInt64] = [:]
    var listed: [[UInt8]: Set<UInt64>] = [:]

    func removes(_ r: LedgerRecord) -> Bool {
        guard !floors.isEmpty else { return false }
        return r.sequence < floors[r.topic, default: 0] || listed[r.topic]?.contains(r.sequence) == true
    }

    /// What every readable marker says; damage is the second pass's to report.
    static func read(_ dir: String) -> OfflineRemovals {
        var out = OfflineRemovals()
        guard let reader = try? OfflineReader(directory: dir), (try? reader.refresh()) != nil else { return out }
        let filter = OfflineFilter(topic: Ledger.removalsTopic)
        while true {
            let stop = reader.read { records in
                for r in records where filter.accepts(r) { out.note(r) }
            }
            switch stop {
            case .problem(let problem) where !problem.tornTail:
                if !reader.skipDamage() { return out }
            default:
                return out
            }
        }
    }

    mutating func note(_ marker: LedgerRecord) {
        var topic: [UInt8]?, floor: UInt64?, sequences: [UInt64] = []
        for f in marker.fields {
            switch String(decoding: f.name, as: UTF8.self) {
            case "topic": topic = f.value
            case "floor": floor = UInt64(String(decoding: f.value, as: UTF8.self))
            case "sequences": sequences = String(decoding: f.value, as: UTF8.self).split(separator: " ").compactMap { UInt64($0) }
            default: break
            }
        }
        guard let topic, let floor else { return }
        floors[topic] = max(floors[topic, default: 0], floor)
        if !sequences.isEmpty { listed[topic, default: []].formUnion(sequences) }
    }
}
