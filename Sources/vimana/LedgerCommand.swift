import VimanaAgents
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// `vimana ledger stats|verify|dump|tail|backup|repair DIR`: reads a ledger
/// directory (Protocol/LEDGER.md) with no server, running or not; `backup`
/// copies it, a server running or not; `repair` changes it, with the server
/// stopped. Exit status: 0 ok, 1 a problem in the ledger, an unreadable
/// directory or a failed write, 2 bad arguments, a DIR that is not a ledger
/// directory or a DEST that is not a new or empty directory.
enum LedgerCommand {
    static let usage = """
    Usage:
      vimana ledger stats DIR [--json]     records, segments, raw and compressed bytes, ratio, topics
      vimana ledger verify DIR             check every frame of every segment; exit 1 on corruption
      vimana ledger dump DIR [--from SEQ] [--topic PATTERN] [--json] [--all]
      vimana ledger tail DIR [-n|--lines N] [--follow] [--topic PATTERN] [--json]
      vimana ledger backup DIR DEST        copy the ledger into DEST (new or empty), a server running or not:
                                           sealed segments whole, the active one up to its last whole frame;
                                           fsynced, then verified (Protocol/LEDGER.md section 10)
      vimana ledger repair DIR             with the server stopped: move damaged frames to DIR/damaged/,
                                           keep every valid frame (Protocol/LEDGER.md section 6)

    PATTERN is a Redis glob (as PSUBSCRIBE). Text lines are `SEQ ID TOPIC name=value ...`
    (`SEQ ID TOPIC @ORIGIN:OSEQ name=value ...` for a record received from another kernel);
    --json prints one object per record. dump leaves out the entries XDEL, XTRIM and DEL removed
    (their markers on _vimana.removals stay); --all prints them too. tail --follow polls for new
    records until interrupted.
    """

    static func run(_ args: [String]) -> Int32 {
        guard let sub = args.first else { return CLI.usageError("usage: vimana ledger stats|verify|dump|tail|backup|repair DIR ...") }
        let rest = Array(args.dropFirst())
        if CLI.wantsHelp(rest) {
            printOut(usage)
            return 0
        }
        switch sub {
        case "stats": return stats(rest)
        case "verify": return verify(rest)
        case "dump": return LedgerRead.dump(rest)
        case "tail": return LedgerRead.tail(rest)
        case "backup": return backup(rest)
        case "repair": return repair(rest)
        case "--help", "-h", "help":
            printOut(usage)
            return 0
        default:
            return CLI.usageError("unknown ledger command '\(sub)' (try: vimana ledger --help)")
        }
    }

    // MARK: - Shared

    /// Flags, and exactly one positional DIR. `-n` is accepted as `--lines`.
    static func parse(_ args: [String], valued: Set<String>, bare: Set<String>,
                      usage: String) throws(UsageError) -> (FlagReader, String) {
        var rewritten: [String] = []
        for a in args {
            if a == "-n" { rewritten.append("--lines") }
            else if a.hasPrefix("-n"), valued.contains("lines"), a.count > 2 { rewritten += ["--lines", String(a.dropFirst(2))] }
            else if a == "-f" { rewritten.append("--follow") }
            else { rewritten.append(a) }
        }
        let f = try FlagReader(rewritten, valued: valued, bare: bare)
        if let bad = f.positional.first(where: { $0.hasPrefix("-") && $0.count > 1 }) {
            throw UsageError("unknown option \(bad)")
        }
        guard f.positional.count == 1 else { throw UsageError("usage: \(usage)") }
        return (f, f.positional[0])
    }

    /// Exit status 2 with a message when `dir` is not a ledger directory:
    /// missing, not a directory, or holding neither a segment nor
    /// `ledger.lock` (every directory a server has opened has both), so that
    /// a mistyped path is never reported as an empty, healthy ledger. Else
    /// nil; and when `reading` and a server holds its lock, says so on
    /// stderr: these commands only read (they never truncate, rewrite an
    /// index or remove a file), but what they see of the active segment may
    /// already have grown.
    static func checkDirectory(_ dir: String, reading: Bool = true) -> Int32? {
        guard FileIO.isDirectory(dir) else {
            printErr("vimana ledger: \(dir): " + (FileIO.exists(dir) ? "not a directory" : "no such directory"))
            return 2
        }
        let names: [String]
        do throws(LedgerIOError) { names = try FileIO.list(dir) } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        guard LedgerDirectory.isLedger(listing: names) else {
            printErr("vimana ledger: \(dir): not a ledger directory (no segment files, no \(LedgerLock.fileName))")
            return 2
        }
        if reading, let server = LedgerLock.holder(of: dir) {
            printErr("vimana ledger: note: a server (pid \(server.pid.map(String.init) ?? "unknown")) is running on \(dir); "
                     + "reading only, and the active segment may be growing")
        }
        return nil
    }

    // MARK: - verify

    static func verify(_ args: [String]) -> Int32 {
        let dir: String
        do throws(UsageError) {
            (_, dir) = try parse(args, valued: [], bare: [], usage: "vimana ledger verify DIR")
        } catch {
            return CLI.usageError(error.message)
        }
        if let status = checkDirectory(dir) { return status }
        let result: OfflineVerification
        do throws(LedgerError) { result = try OfflineVerifier.verify(directory: dir) } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        var out = LedgerOutput()
        for finding in result.errors { out.line(finding.description) }
        for finding in result.warnings { out.line("warning: \(finding)") }
        let errors = result.errors.count
        let summary = "\(result.segments) segments, \(result.frames) frames, \(result.records) records"
        out.line(errors == 0 ? "ok: \(summary)" : "\(errors) problem\(errors == 1 ? "" : "s"): \(summary)")
        out.flush()
        return errors == 0 ? 0 : 1
    }

    // MARK: - backup

    static func backup(_ args: [String]) -> Int32 {
        let usage = "usage: vimana ledger backup DIR DEST"
        let f: FlagReader
        do throws(UsageError) { f = try FlagReader(args, valued: [], bare: []) } catch {
            return CLI.usageError(error.message)
        }
        if let bad = f.positional.first(where: { $0.hasPrefix("-") && $0.count > 1 }) {
            return CLI.usageError("unknown option \(bad)")
        }
        guard f.positional.count == 2 else { return CLI.usageError(usage) }
        let (dir, dest) = (f.positional[0], f.positional[1])
        // Never the server's lock: a backup runs beside the server it copies.
        if let status = checkDirectory(dir, reading: false) { return status }
        let outcome: OfflineBackup.Outcome
        do throws(OfflineBackup.Failure) {
            outcome = try OfflineBackup.backup(directory: dir, to: dest, pointerFiles: [GroupJournal.snapshotPointerFile])
        } catch {
            printErr("vimana ledger: backup: \(error)")
            return error.kind == .destination ? 2 : 1
        }
        var out = LedgerOutput()
        for name in outcome.retired { out.line("\(name): retired by retention during the backup, not copied") }
        for s in outcome.segments {
            var line = "\(s.name): \(s.bytes) bytes, \(s.frames) frames, \(s.records) records"
            if s.damaged { line += ", damaged (copied as found)" }
            else if s.last { line += s.leftOut > 0 ? ", cut after its last whole frame (\(s.leftOut) bytes after it left out)" : ", whole" }
            out.line(line)
        }
        for name in outcome.files { out.line(name) }
        for (name, why) in outcome.skipped { out.line("skipped \(name): \(why)") }
        let v = outcome.verification
        for finding in v.errors { out.line(finding.description) }
        for finding in v.warnings { out.line("warning: \(finding)") }
        let errors = v.errors.count
        let summary = "\(v.segments) segments, \(v.frames) frames, \(v.records) records"
        if errors == 0 {
            out.line("ok: backup of \(dir) in \(dest), verified: \(summary)")
        } else {
            out.line("\(errors) problem\(errors == 1 ? "" : "s") in the backup in \(dest): \(summary) "
                     + "(damage is copied as found: run vimana ledger verify \(dir))")
        }
        out.flush()
        return errors == 0 ? 0 : 1
    }

    // MARK: - repair

    static func repair(_ args: [String]) -> Int32 {
        let dir: String
        do throws(UsageError) {
            (_, dir) = try parse(args, valued: [], bare: [], usage: "vimana ledger repair DIR")
        } catch {
            return CLI.usageError(error.message)
        }
        if let status = checkDirectory(dir, reading: false) { return status }
        // The server's own lock (LEDGER.md §1), held until the repair is done:
        // a repair must never run beside a server, nor a server start during one.
        let lock: LedgerLock
        do throws(LedgerLock.Failure) { lock = try LedgerLock.acquire(dir, what: "ledger directory") } catch {
            if case .inUse = error { printErr("vimana ledger: \(error): stop the server first") }
            else { printErr("vimana ledger: \(error)") }
            return 1
        }
        defer { withExtendedLifetime(lock) {} }
        let outcome: OfflineRepair.Outcome
        do throws(LedgerError) { outcome = try OfflineRepair.repair(directory: dir) } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        var out = LedgerOutput()
        for line in outcome.lines { out.line(line) }
        if outcome.repaired > 0 { out.line("repaired \(outcome.repaired) damaged stretch\(outcome.repaired == 1 ? "" : "es"); run vimana ledger verify \(dir)") }
        out.flush()
        return 0
    }

    // MARK: - stats

    static func stats(_ args: [String]) -> Int32 {
        let f: FlagReader, dir: String
        do throws(UsageError) {
            (f, dir) = try parse(args, valued: [], bare: ["json"], usage: "vimana ledger stats DIR [--json]")
        } catch {
            return CLI.usageError(error.message)
        }
        if let status = checkDirectory(dir) { return status }
        var summaries: [OfflineSegmentStats] = []
        do {
            let scanner = try SegmentScanner()
            for segment in try OfflineSegment.list(dir) {
                let s = try OfflineSegmentStats.gather(segment, scanner: scanner)
                if let problem = s.problem {
                    printErr("vimana ledger: \(problem); counted up to offset \(problem.offset) (run vimana ledger verify)")
                }
                summaries.append(s)
            }
        } catch {
            printErr("vimana ledger: \(error)")
            return 1
        }
        let totals = LedgerTotals(summaries)
        printOut(f.flags.contains("json") ? statsJSON(dir, summaries, totals) : statsText(dir, summaries, totals))
        return 0
    }

    static func statsText(_ dir: String, _ segments: [OfflineSegmentStats], _ t: LedgerTotals) -> String {
        var lines = ["ledger: \(dir)"]
        lines.append("records: \(t.records)" + (t.range.map { " (sequences \($0.lowerBound)..\($0.upperBound))" } ?? ""))
        lines.append("segments: \(segments.count)")
        for s in segments {
            var line = "  \(s.segment.name): " + (s.lastSequence.map { "\(s.firstSequence)..\($0)" } ?? "-")
            line += ", \(s.frames) frames, \(s.records) records, \(s.compressedBytes) compressed bytes"
            line += ", \(s.rawBytes) raw bytes, ratio " + (LedgerFormat.ratio(raw: s.rawBytes, compressed: s.compressedBytes) ?? "-")
            line += s.segment.active ? ", active" : ", sealed"
            if s.segment.usableIndex?.compacted == true { line += ", compacted" }
            line += ", index \(s.segment.indexState)"
            if let p = s.problem { line += p.tornTail && p.active ? ", torn tail" : ", damaged" }
            lines.append(line)
        }
        lines.append("raw bytes: \(t.rawBytes)")
        lines.append("compressed bytes: \(t.compressedBytes)")
        lines.append("ratio: " + (LedgerFormat.ratio(raw: t.rawBytes, compressed: t.compressedBytes) ?? "-"))
        lines.append("topics: \(t.topics.count)")
        for (topic, count) in t.busiest(CLILimits.statsTopics) { lines.append("  \(LedgerFormat.text(topic)) \(count)") }
        if t.topics.count > CLILimits.statsTopics { lines.append("  (\(t.topics.count - CLILimits.statsTopics) more)") }
        if let ts = t.timestamps {
            lines.append("oldest: \(LedgerFormat.rfc3339(micros: ts.lowerBound))")
            lines.append("newest: \(LedgerFormat.rfc3339(micros: ts.upperBound))")
        }
        return lines.joined(separator: "\n")
    }

    static func statsJSON(_ dir: String, _ segments: [OfflineSegmentStats], _ t: LedgerTotals) -> String {
        func opt(_ v: UInt64?) -> String { v.map(String.init) ?? "null" }
        func time(_ v: Int64?) -> String { v.map { "\"\(LedgerFormat.rfc3339(micros: $0))\"" } ?? "null" }
        var s = "{\"directory\":" + LedgerFormat.json(dir) + ",\"records\":\(t.records)"
        s += ",\"first_sequence\":\(opt(t.range?.lowerBound)),\"last_sequence\":\(opt(t.range?.upperBound))"
        s += ",\"raw_bytes\":\(t.rawBytes),\"compressed_bytes\":\(t.compressedBytes)"
        s += ",\"ratio\":" + (LedgerFormat.ratio(raw: t.rawBytes, compressed: t.compressedBytes) ?? "null")
        s += ",\"oldest\":\(time(t.timestamps?.lowerBound)),\"newest\":\(time(t.timestamps?.upperBound))"
        s += ",\"segments\":["
        for (k, seg) in segments.enumerated() {
            if k > 0 { s += "," }
            let index = seg.segment.usableIndex
            s += "{\"name\":\"\(seg.segment.name)\",\"first_sequence\":\(seg.firstSequence)"
            s += ",\"last_sequence\":\(opt(seg.lastSequence)),\"frames\":\(seg.frames),\"records\":\(seg.records)"
            s += ",\"compressed_bytes\":\(seg.compressedBytes),\"raw_bytes\":\(seg.rawBytes)"
            s += ",\"ratio\":" + (LedgerFormat.ratio(raw: seg.rawBytes, compressed: seg.compressedBytes) ?? "null")
            s += ",\"size\":\(seg.segment.size),\"active\":\(seg.segment.active)"
            s += ",\"compacted\":" + (index.map { "\($0.compacted)" } ?? "null")
            s += ",\"index\":\"\(seg.segment.indexState.name)\""
            if case .stale(let why) = seg.segment.indexState { s += ",\"index_detail\":" + LedgerFormat.json(why) }
            s += ",\"problem\":" + (seg.problem.map { LedgerFormat.json($0.description) } ?? "null") + "}"
        }
        s += "],\"topic_count\":\(t.topics.count),\"topics\":["
        for (k, (topic, count)) in t.busiest(CLILimits.statsTopics).enumerated() {
            if k > 0 { s += "," }
            let name = LedgerFormat.isUTF8(topic) ? String(decoding: topic, as: UTF8.self) : LedgerFormat.escapedText(topic)
            s += "{\"topic\":" + LedgerFormat.json(name) + ",\"records\":\(count)}"
        }
        return s + "]}"
    }
}

/// Sums over all segments.
struct LedgerTotals {
    var records: UInt64 = 0
    var rawBytes = 0
    var compressedBytes = 0
    var range: ClosedRange<UInt64>?
    var timestamps: ClosedRange<Int64>?
    var topics: [[UInt8]: UInt64] = [:]

    init(_ segments: [OfflineSegmentStats]) {
        for s in segments {
            records += s.records
            rawBytes += s.rawBytes
            compressedBytes += s.compressedBytes
            if let last = s.lastSequence {
                range = (range?.lowerBound ?? s.firstSequence)...last
            }
            if let ts = s.timestamps {
                timestamps = min(timestamps?.lowerBound ?? .max, ts.lowerBound)...max(timestamps?.upperBound ?? .min, ts.upperBound)
            }
            for (topic, count) in s.topics { topics[topic, default: 0] += count }
        }
    }

    /// The `n` topics with the most records (ties by name).
    func busiest(_ n: Int) -> [([UInt8], UInt64)] {
        topics.sorted { a, b in a.value != b.value ? a.value > b.value : a.key.lexicographicallyPrecedes(b.key) }
            .prefix(n).map { ($0.key, $0.value) }
    }
}
