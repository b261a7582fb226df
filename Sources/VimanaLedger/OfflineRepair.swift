#if canImport(Glibc)
import Glibc
#endif

/// `vimana ledger repair DIR` (Protocol/LEDGER.md §6): moves every damaged
/// stretch that is not a torn tail out of its segment into `DIR/damaged/`,
/// keeping its bytes, and keeps every valid frame: those after a damaged
/// stretch become a new segment named by their first sequence, so that each
/// segment stays a run of consecutive sequences and the records lost leave a
/// gap between segments, which the file in `damaged/` names. Every file is
/// written to a temporary name, fsynced and renamed before the damaged
/// segment is cut, so a crash at any point leaves what a second run finishes.
/// Running it again finds nothing to do.
public enum OfflineRepair {

    /// What one run did, a line per action, and how many stretches it removed.
    public struct Outcome: Sendable {
        public var lines: [String] = []
        public var repaired = 0
    }

    /// A stretch of valid frames: bytes [start, end) of the segment, starting at `sequence`.
    struct Run {
        var start: Int
        var end: Int
        var sequence: UInt64
    }

    public static func repair(directory: String) throws(LedgerError) -> Outcome {
        let scanner: SegmentScanner
        do throws(ZlibError) { scanner = try SegmentScanner() } catch { throw LedgerError("zlib initialisation failed") }
        let names: [String]
        do throws(LedgerIOError) { names = try LedgerDirectory.segments(in: directory) } catch { throw LedgerError("\(error)") }
        var out = Outcome()
        var touched: Set<String> = []
        for (k, name) in names.enumerated() {
            let nextFirst = k + 1 < names.count ? LedgerDirectory.firstSequence(ofSegment: names[k + 1]) : nil
            do throws(LedgerIOError) {
                try repairSegment(directory, name, active: k == names.count - 1, nextFirst: nextFirst,
                                  scanner: scanner, into: &out, touched: &touched)
            } catch {
                throw LedgerError("repairing \(name): \(error)")
            }
        }
        do throws(LedgerIOError) {
            try rewriteIndexes(directory, touched, scanner: scanner)
        } catch {
            throw LedgerError("rewriting indexes: \(error)")
        }
        if out.repaired == 0 { out.lines.append("nothing to repair: every damaged frame is a torn tail, or there is none") }
        return out
    }

    private static func repairSegment(_ dir: String, _ name: String, active: Bool, nextFirst: UInt64?,
                                      scanner: SegmentScanner, into out: inout Outcome,
                                      touched: inout Set<String>) throws(LedgerIOError) {
        let path = dir + "/" + name
        guard let first = LedgerDirectory.firstSequence(ofSegment: name) else { return }
        let fd = try FileIO.open(path, O_RDWR)
        defer { close(fd) }
        let size = FileIO.size(fd)
        let survey = scanner.survey(fd: fd, path: path, size: size, sequence: first, active: active)
        if let torn = survey.tornTail {
            out.lines.append("segment \(name): frame \(torn.frame) at offset \(torn.offset): torn tail (\(size - torn.offset) bytes) "
                             + "left as it is: the server cuts it on start")
        }
        let damage = survey.damage.filter { !$0.isTornTail }
        guard !damage.isEmpty else { return }

        // Valid runs between the damaged stretches (a torn tail stays with the last run).
        var runs = [Run(start: 0, end: damage[0].offset, sequence: first)]
        for (i, d) in damage.enumerated() {
            guard let resume = d.resumeSequence else { break }
            runs.append(Run(start: d.end, end: i + 1 < damage.count ? damage[i + 1].offset : size, sequence: resume))
        }

        // 1. The damaged bytes, kept.
        let damagedDir = dir + "/" + LedgerDirectory.damagedDirectory
        try FileIO.makeDirectories(damagedDir)
        for d in damage {
            var next = d.firstSequence
            switch d.kind {
            case .followed(let resume): next = resume
            case .trailing(let whole):
                next = active ? d.firstSequence.addingReportingOverflow(UInt64(whole ?? 0)).partialValue
                              : max(nextFirst ?? d.firstSequence, d.firstSequence)
            case .tornTail: break
            }
            let gap = SequenceGap(first: d.firstSequence, next: next)
            let file = LedgerDirectory.damagedName(gap, segment: name, offset: d.offset)
            try copy(fd, from: d.offset, to: d.end, into: damagedDir + "/" + file, directory: damagedDir)
            out.lines.append("segment \(name): frame \(d.frame) at offset \(d.offset): \(d.error): moved \(d.end - d.offset) bytes "
                             + (gap.next > gap.first ? "(\(gap), lost) " : "")
                             + "to \(LedgerDirectory.damagedDirectory)/\(file)")
            out.repaired += 1
            // A whole frame at the end of the active segment: the next records
            // must not take its sequences, so the next segment starts after them.
            if active, case .trailing(let whole?) = d.kind, whole > 0 {
                let fresh = LedgerDirectory.segmentName(gap.next)
                if !FileIO.exists(dir + "/" + fresh) {
                    try writeFile(dir + "/" + fresh, directory: dir) { _, _ throws(LedgerIOError) in }
                    out.lines.append("segment \(name): the next records start a new segment, \(fresh)")
                }
                touched.insert(fresh)
            }
        }

        // 2. The valid frames after each damaged stretch, as segments of their own.
        var replaced = false
        for run in runs.dropFirst() where run.end > run.start {
            let target = LedgerDirectory.segmentName(run.sequence)
            let targetPath = dir + "/" + target
            if target != name, FileIO.exists(targetPath) {
                // A second run after a crash: the copy is there already.
                guard try hasPrefix(targetPath, fd, run.start, run.end) else {
                    throw LedgerIOError("refusing to overwrite \(target), which holds other bytes than", path, errno: EEXIST)
                }
            } else {
                try copy(fd, from: run.start, to: run.end, into: targetPath, directory: dir)
                if target == name { replaced = true }
            }
            touched.insert(target)
            out.lines.append("segment \(name): kept the valid frames at bytes \(run.start)-\(run.end) (from sequence \(run.sequence)) as \(target)")
        }

        // 3. The segment keeps the frames before its first damage.
        if !replaced {
            let keep = runs[0].end
            if keep > 0 {
                try FileIO.truncate(fd, to: keep, path: path)
                try FileIO.fsync(fd, path: path)
                touched.insert(name)
                out.lines.append("segment \(name): kept the valid frames at bytes 0-\(keep) (from sequence \(first))")
            } else {
                try FileIO.unlink(path)
                touched.remove(name)
                out.lines.append("segment \(name): removed (no valid frame before its damage)")
            }
        }
        let index = dir + "/" + LedgerDirectory.indexName(forSegment: name)
        if FileIO.exists(index) { try FileIO.unlink(index) }
        try FileIO.fsyncDirectory(dir)
    }

    /// Writes a fresh index for every segment the repair touched: sealed for
    /// all but the last segment of the directory, whose index (a checkpoint)
    /// is removed instead; the server scans it on start.
    private static func rewriteIndexes(_ dir: String, _ touched: Set<String>, scanner: SegmentScanner) throws(LedgerIOError) {
        guard !touched.isEmpty else { return }
        let names = try LedgerDirectory.segments(in: dir)
        for name in names where touched.contains(name) {
            let indexPath = dir + "/" + LedgerDirectory.indexName(forSegment: name)
            if name == names.last {
                if FileIO.exists(indexPath) { try FileIO.unlink(indexPath) }
                continue
            }
            guard let first = LedgerDirectory.firstSequence(ofSegment: name) else { continue }
            let fd = try FileIO.open(dir + "/" + name, O_RDONLY)
            defer { close(fd) }
            var index = SegmentIndex(firstSequence: first)
            let outcome = scanner.scan(fd: fd, path: name, size: FileIO.size(fd), sequence: first) { location, records in
                index.addFrame(offset: UInt64(location.offset), header: location.header,
                               records: (records ?? []).map { RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic) })
            }
            // A segment that was last before the repair may end in a torn tail: it has no index then.
            guard outcome.problem == nil else {
                if FileIO.exists(indexPath) { try FileIO.unlink(indexPath) }
                continue
            }
            index.sealed = true
            var failure: LedgerIOError?
            index.encoded().withUnsafeBytes { raw in
                do throws(LedgerIOError) { try FileIO.replace(indexPath, with: raw, durable: true, directory: dir) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    // MARK: - Files

    /// Copies bytes [start, end) of `fd` to `path`: a temporary file, fsynced, renamed, the directory fsynced.
    static func copy(_ fd: Int32, from start: Int, to end: Int, into path: String, directory: String) throws(LedgerIOError) {
        try writeFile(path, directory: directory) { out, tmp throws(LedgerIOError) in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: LedgerLimits.copyChunk, alignment: 16)
            defer { buffer.deallocate() }
            var at = start
            while at < end {
                let n = FileIO.pread(fd, buffer, min(LedgerLimits.copyChunk, end - at), at: at)
                guard n > 0 else { throw LedgerIOError("read", path, errno: EIO) }
                try FileIO.writeAll(out, buffer, n, path: tmp)
                at += n
            }
        }
    }

    /// Writes `path` through `body` as `FileIO.replace` does.
    static func writeFile(_ path: String, directory: String,
                          _ body: (Int32, String) throws(LedgerIOError) -> Void) throws(LedgerIOError) {
        let tmp = path + ".tmp"
        let out = try FileIO.open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try body(out, tmp)
            try FileIO.fsync(out, path: tmp)
        } catch {
            close(out)
            try? FileIO.unlink(tmp)
            throw error
        }
        close(out)
        try FileIO.rename(tmp, path)
        try FileIO.fsyncDirectory(directory)
    }

    /// True when the file at `path` begins with bytes [start, end) of `fd`.
    static func hasPrefix(_ path: String, _ fd: Int32, _ start: Int, _ end: Int) throws(LedgerIOError) -> Bool {
        let other = try FileIO.open(path, O_RDONLY)
        defer { close(other) }
        guard FileIO.size(other) >= end - start else { return false }
        let a = UnsafeMutableRawPointer.allocate(byteCount: LedgerLimits.copyChunk, alignment: 16)
        let b = UnsafeMutableRawPointer.allocate(byteCount: LedgerLimits.copyChunk, alignment: 16)
        defer { a.deallocate(); b.deallocate() }
        var at = 0
        while start + at < end {
            let want = min(LedgerLimits.copyChunk, end - start - at)
            guard FileIO.pread(fd, a, want, at: start + at) == want, FileIO.pread(other, b, want, at: at) == want,
                  memcmp(a, b, want) == 0 else { return false }
            at += want
        }
        return true
    }
}
