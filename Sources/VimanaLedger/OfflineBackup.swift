#if canImport(Glibc)
import Glibc
#endif

/// `vimana ledger backup DIR DEST` (Protocol/LEDGER.md §10): a copy of a
/// ledger directory that a server started on it serves as the original,
/// taken while a server runs on DIR or not, without its lock.
///
/// What is consistent, and why: every record a server acknowledged before
/// the backup began is in a segment listed at that moment (its frame was
/// written before the reply left, §5), and segments are only ever appended
/// to. So the segments listed at the start are copied, each sealed one whole
/// and the last one (the active segment, which may grow, or be sealed,
/// meanwhile) cut after its last whole, valid frame; a segment created after
/// the listing holds only records written after the backup began. Each copy
/// is checked frame by frame in DEST, not in DIR, so what was checked is what
/// is kept. The copy's indexes are built from the copied frames (the
/// source's may be a checkpoint, or describe a segment compaction rewrote
/// under the copy). Then DEST is verified as `vimana ledger verify` does.
public enum OfflineBackup {

    /// Why a backup did not happen, or stopped.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable {
            /// DEST cannot be used (exists and is not an empty directory, or is
            /// inside DIR): nothing was written. `vimana ledger` exits 2.
            case destination
            /// Reading DIR or writing DEST failed (not writable, disk full):
            /// what the backup wrote was removed. `vimana ledger` exits 1.
            case io
        }
        public let kind: Kind
        public let description: String
        init(_ kind: Kind, _ description: String) {
            self.kind = kind
            self.description = description
        }
    }

    /// One segment as copied.
    public struct SegmentCopy: Sendable {
        public var name: String
        /// Bytes in DEST.
        public var bytes: Int
        public var frames: Int
        public var records: UInt64
        /// The last segment listed: its copy ends after its last whole frame.
        public var last: Bool
        /// Bytes read after the cut and left out (a frame being written, or a torn tail).
        public var leftOut: Int
        /// Its copy holds damage (copied as found, reported by the verification).
        public var damaged: Bool
    }

    public struct Outcome: Sendable {
        public var segments: [SegmentCopy] = []
        /// Segments listed at the start that retention retired during the
        /// backup (and those older than one it retired): not in the copy.
        public var retired: [String] = []
        /// Other files copied as they are (`groups.snapshot`, `damaged/…`).
        public var files: [String] = []
        /// Names in DIR that are not part of a ledger, or need no copy, with the reason.
        public var skipped: [(name: String, why: String)] = []
        /// `vimana ledger verify` over DEST.
        public var verification = OfflineVerification()
    }

    /// Copies the ledger in `directory` into `destination` (created when
    /// missing; else it must be an empty directory), fsyncs every file and
    /// the directories, and verifies the copy. `pointerFiles`: small files of
    /// the directory copied as they are when present (the groups' snapshot
    /// pointer, which the agents module names). Never takes DIR's lock, and
    /// never writes to DIR.
    public static func backup(directory: String, to destination: String,
                              pointerFiles: [String]) throws(Failure) -> Outcome {
        let existing = try prepare(destination, source: directory)
        let created = existing != nil
        var written = Written(destination: destination, existingAncestor: existing)
        do throws(LedgerIOError) {
            let outcome = try copy(directory, into: destination, pointerFiles: pointerFiles, written: &written)
            return outcome
        } catch {
            written.removeAll()
            throw Failure(.io, "\(error)" + (created ? "; removed \(destination)" : "; removed what the backup wrote in \(destination)"))
        }
    }

    // MARK: - Destination

    /// Checks DEST (an empty directory, or a path to create; not DIR nor
    /// inside it); creates it, and its missing parents, when missing. When
    /// it was created, the nearest ancestor that existed before; else nil.
    static func prepare(_ destination: String, source: String) throws(Failure) -> String? {
        var st = stat()
        if lstat(destination, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw Failure(.destination, "\(destination): not a directory") }
            let names: [String]
            do throws(LedgerIOError) { names = try FileIO.list(destination) } catch { throw Failure(.io, "\(error)") }
            guard names.isEmpty else {
                throw Failure(.destination, "\(destination): not empty (\(names.count) entr\(names.count == 1 ? "y" : "ies")); "
                    + "a backup goes into a new or empty directory")
            }
            try refuseInside(destination, source: source)
            return nil
        }
        guard errno == ENOENT else { throw Failure(.io, "\(LedgerIOError("stat", destination))") }
        // Where DEST will be: its nearest existing ancestor must be a directory outside DIR.
        var ancestor = parentDirectory(destination)
        while !FileIO.exists(ancestor) && ancestor != parentDirectory(ancestor) { ancestor = parentDirectory(ancestor) }
        guard FileIO.isDirectory(ancestor) else { throw Failure(.destination, "\(destination): \(ancestor) is not a directory") }
        try refuseInside(ancestor, source: source)
        do throws(LedgerIOError) { try FileIO.makeDirectories(parentDirectory(destination)) } catch {
            Written(destination: destination, existingAncestor: ancestor).removeCreatedDirectories()
            throw Failure(.io, "\(error)")
        }
        // DIR's own permissions: a copy of the records is no more readable than they are.
        var dirStat = stat()
        let mode = stat(source, &dirStat) == 0 ? dirStat.st_mode & 0o777 : 0o700
        if mkdir(destination, mode) != 0 {
            let failure = LedgerIOError("mkdir", destination)
            Written(destination: destination, existingAncestor: ancestor).removeCreatedDirectories()
            throw Failure(.io, "\(failure)")
        }
        return ancestor
    }

    /// DEST inside DIR would be a directory in the ledger, and a backup that copies itself.
    private static func refuseInside(_ existing: String, source: String) throws(Failure) {
        guard let d = realPath(existing), let s = realPath(source) else { return }
        if d == s || d.hasPrefix(s.hasSuffix("/") ? s : s + "/") {
            throw Failure(.destination, "\(existing) is inside the ledger directory \(source): choose a destination outside it")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func parentDirectory(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// What the backup created, removed again when it fails.
    struct Written {
        let destination: String
        /// When the backup created DEST: the nearest ancestor that existed before.
        let existingAncestor: String?
        var files: [String] = []
        var directories: [String] = []

        var created: Bool { existingAncestor != nil }

        func removeAll() {
            for f in files.reversed() { unlink(f) }
            for d in directories.reversed() { rmdir(d) }
            removeCreatedDirectories()
        }

        /// DEST and the parents created for it (rmdir: only while empty).
        func removeCreatedDirectories() {
            guard let existingAncestor else { return }
            var d = destination
            while d != existingAncestor && d != parentDirectory(d) {
                rmdir(d)
                d = parentDirectory(d)
            }
        }

        /// The entries of DEST and of the parents created for it made durable.
        func fsyncCreatedDirectories() throws(LedgerIOError) {
            guard let existingAncestor else { return }
            var d = destination
            while d != existingAncestor && d != parentDirectory(d) {
                d = parentDirectory(d)
                try FileIO.fsyncDirectory(d)
            }
        }
    }

    // MARK: - Copying

    /// `willOpen`: called with each segment's name before its copy opens
    /// it (tests retire or add segments there, as a running server would).
    static func copy(_ dir: String, into dest: String, pointerFiles: [String], written: inout Written,
                     willOpen: (String) -> Void = { _ in }) throws(LedgerIOError) -> Outcome {
        var outcome = Outcome()
        // The pointers first: a pointer names records written before it, so
        // every record it names is in the segments listed after it.
        var pointers: [(String, [UInt8])] = []
        for name in pointerFiles {
            if let bytes = try readWhole(dir + "/" + name) { pointers.append((name, bytes)) }
        }
        let names = try FileIO.list(dir).sorted()
        let segments = names.filter { LedgerDirectory.firstSequence(ofSegment: $0) != nil }
        for name in names where LedgerDirectory.firstSequence(ofSegment: name) == nil {
            if pointerFiles.contains(name) || name == LedgerDirectory.damagedDirectory { continue }
            if let why = skipReason(name) { outcome.skipped.append((name, why)) }
        }
        let scanner: SegmentScanner
        do throws(ZlibError) { scanner = try SegmentScanner() } catch { throw LedgerIOError("zlib initialisation for", dir, errno: ENOMEM) }
        for (k, name) in segments.enumerated() {
            let last = k == segments.count - 1
            willOpen(name)
            guard let copied = try copySegment(name, from: dir, into: dest, last: last, scanner: scanner, written: &written) else {
                // Retention retires the oldest segments first: one gone
                // means those before it are gone too, and the copy starts
                // after it (a copy that kept them would have a gap).
                for earlier in outcome.segments {
                    try FileIO.unlink(dest + "/" + earlier.name)
                    try FileIO.unlink(dest + "/" + LedgerDirectory.indexName(forSegment: earlier.name))
                    outcome.retired.append(earlier.name)
                }
                outcome.segments.removeAll()
                outcome.retired.append(name)
                continue
            }
            outcome.segments.append(copied)
        }
        for (name, bytes) in pointers {
            try writeFile(dest + "/" + name, bytes, written: &written)
            outcome.files.append(name)
        }
        outcome.files += try copyDamaged(dir, into: dest, written: &written)
        // A directory whose ledger is empty is a ledger directory through its
        // lock file (§1); a lock file with no lock held on it is normal.
        try writeFile(dest + "/" + LedgerLock.fileName, [], written: &written)
        try FileIO.fsyncDirectory(dest)
        try written.fsyncCreatedDirectories()
        do throws(LedgerError) { outcome.verification = try OfflineVerifier.verify(directory: dest) } catch {
            throw LedgerIOError("verify \(error):", dest, errno: EIO)
        }
        return outcome
    }

    /// Why a file of DIR that is neither a segment, a pointer nor `damaged/` is not copied.
    static func skipReason(_ name: String) -> String? {
        if name == LedgerLock.fileName { return nil }
        if name.hasSuffix(".idx") && LedgerDirectory.firstSequence(ofSegment: String(name.dropLast(4)) + ".seg") != nil {
            return nil
        }
        if name.hasSuffix(".tmp") { return "a file being written (the server deletes it on start)" }
        return "not a file of the ledger format (Protocol/LEDGER.md §1)"
    }

    /// Copies segment `name`, checks the copy frame by frame and writes its
    /// index; nil when the segment no longer exists.
    static func copySegment(_ name: String, from dir: String, into dest: String, last: Bool,
                            scanner: SegmentScanner, written: inout Written) throws(LedgerIOError) -> SegmentCopy? {
        guard let first = LedgerDirectory.firstSequence(ofSegment: name) else { return nil }
        let source = dir + "/" + name
        let fd = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LedgerIOError("open", source)
        }
        defer { close(fd) }
        let target = dest + "/" + name
        let tmp = target + ".tmp"
        let out = try FileIO.open(tmp, O_RDWR | O_CREAT | O_EXCL)
        written.files.append(tmp)
        defer { close(out) }
        // Everything there is now; the active segment's end may be a frame
        // being written, and the writer may append more meanwhile.
        let size = try copyBytes(fd, source: source, to: out, path: tmp, limit: FileIO.size(fd))
        var index = SegmentIndex(firstSequence: first)
        let scan = scanner.scan(fd: out, path: name, size: size, sequence: first) { location, records in
            index.addFrame(offset: UInt64(location.offset), header: location.header,
                           records: (records ?? []).map {
                               RecordSummary(sequence: $0.sequence, id: $0.id, timestampMicros: $0.timestampMicros, topic: $0.topic)
                           })
        }
        var end = size, damaged = false
        if scan.problem != nil {
            // At the end of the last segment, an invalid frame no valid frame
            // follows is one being written (or a torn tail a start would cut):
            // the cut leaves it out. Anything else is damage, kept as it is
            // for the verification to report.
            if last && scanner.nextValidFrame(fd: out, size: size, from: scan.validEnd, minimumSequence: scan.nextSequence) == nil {
                end = scan.validEnd
            } else {
                damaged = true
            }
        }
        if end < size { try FileIO.truncate(out, to: end, path: tmp) }
        try FileIO.fsync(out, path: tmp)
        try FileIO.rename(tmp, target)
        written.files[written.files.count - 1] = target
        // The active segment has no index until its first checkpoint (§4);
        // a damaged one is surveyed by the server, which writes its own.
        if !last && !damaged {
            index.sealed = true
            index.compacted = sourceCompacted(dir, name, size: end)
            let indexPath = dest + "/" + LedgerDirectory.indexName(forSegment: name)
            written.files.append(indexPath)
            let bytes = index.encoded()
            var failure: LedgerIOError?
            bytes.withUnsafeBytes { raw in
                do throws(LedgerIOError) { try FileIO.replace(indexPath, with: raw, durable: true, directory: dest) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        return SegmentCopy(name: name, bytes: end, frames: scan.frames, records: scan.records, last: last,
                           leftOut: size - end, damaged: damaged)
    }

    /// Whether the source's own index says compaction rewrote the segment
    /// (so the copy is not compacted again at its first start): only when
    /// that index is sealed and covers exactly the bytes copied.
    static func sourceCompacted(_ dir: String, _ name: String, size: Int) -> Bool {
        guard let bytes = Ledger.readFile(dir + "/" + LedgerDirectory.indexName(forSegment: name)),
              let index = SegmentIndex.decode(bytes) else { return false }
        return index.sealed && index.compacted && index.coveredBytes == UInt64(size)
    }

    /// Copies `fd` from offset 0 to `out` until `limit` bytes or the file's
    /// end, whichever comes first; the bytes copied.
    static func copyBytes(_ fd: Int32, source: String, to out: Int32, path: String, limit: Int) throws(LedgerIOError) -> Int {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: LedgerLimits.copyChunk, alignment: 16)
        defer { buffer.deallocate() }
        var at = 0
        while at < limit {
            let n = FileIO.pread(fd, buffer, min(LedgerLimits.copyChunk, limit - at), at: at)
            if n < 0 { throw LedgerIOError("read", source) }
            if n == 0 { break }
            try FileIO.writeAll(out, buffer, n, path: path)
            at += n
        }
        return at
    }

    /// `damaged/` as it is (a repair writes it with no server running): the
    /// names there make the gaps a repair left legitimate (§1).
    static func copyDamaged(_ dir: String, into dest: String, written: inout Written) throws(LedgerIOError) -> [String] {
        let from = dir + "/" + LedgerDirectory.damagedDirectory
        guard FileIO.isDirectory(from) else { return [] }
        let to = dest + "/" + LedgerDirectory.damagedDirectory
        if mkdir(to, 0o755) != 0 { throw LedgerIOError("mkdir", to) }
        written.directories.append(to)
        var copied: [String] = []
        for name in try FileIO.list(from).sorted() {
            guard let bytes = try readWhole(from + "/" + name) else { continue }
            try writeFile(to + "/" + name, bytes, written: &written)
            copied.append(LedgerDirectory.damagedDirectory + "/" + name)
        }
        try FileIO.fsyncDirectory(to)
        return copied
    }

    /// A regular file's bytes; nil when it does not exist or is not a regular file.
    static func readWhole(_ path: String) throws(LedgerIOError) -> [UInt8]? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LedgerIOError("open", path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: LedgerLimits.copyChunk)
        while true {
            let n = chunk.withUnsafeMutableBytes { b in b.baseAddress.map { FileIO.pread(fd, $0, b.count, at: bytes.count) } ?? 0 }
            if n < 0 { throw LedgerIOError("read", path) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Writes a new file (never replacing one) and fsyncs it.
    static func writeFile(_ path: String, _ bytes: [UInt8], written: inout Written) throws(LedgerIOError) {
        let fd = try FileIO.open(path, O_WRONLY | O_CREAT | O_EXCL)
        written.files.append(path)
        defer { close(fd) }
        var failure: LedgerIOError?
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            do throws(LedgerIOError) { try FileIO.writeAll(fd, base, raw.count, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
        try FileIO.fsync(fd, path: path)
    }
}
