#if canImport(Glibc)
import Glibc
#endif

// The operator's housekeeping of the archive (LEDGER ARCHIVES, VERIFY and
// RESTORE; Protocol/LEDGER.md §7): disk work, done on the maintenance
// thread (after the compaction or retirement in progress, never beside one
// that moves a segment into the archive) and answered to the loop.

/// What an operator asks of the archive.
public enum HousekeepingRequest: Sendable, Equatable {
    /// The archived segments.
    case list
    /// Every frame of archived segment `name` checked, as `vimana ledger verify` does.
    case verify(String)
    /// A copy of archived segment `name` (and its index) in `<archive>/restored/`.
    case restore(String)
    /// Every frame of the ledger's own segments checked (LEDGER CHECK), each
    /// only as far as the loop knew it written when asked.
    case check([LiveSegment])
}

/// A segment of the running ledger as the loop sees it: its name and the
/// bytes of whole frames written to it (the active one grows after).
public struct LiveSegment: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    /// Sealed, and its final index not yet written (the writer writes it
    /// just after the seal): its index is still a checkpoint.
    public var indexPending: Bool
    public init(name: String, bytes: Int, indexPending: Bool = false) {
        self.name = name
        self.bytes = bytes
        self.indexPending = indexPending
    }
}

/// An archived segment: its file name, size and first sequence.
public struct ArchivedSegment: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    public var firstSequence: UInt64
}

/// What `verify` found in one archived segment.
public struct ArchiveVerification: Sendable {
    public var segment: String
    public var frames: Int
    public var records: UInt64
    /// `OfflineFinding.description` of each error (the segment does not hold what the format promises).
    public var errors: [String]
    /// Of each warning (an index file is wrong; harmless).
    public var warnings: [String]
}

public enum HousekeepingAnswer: Sendable {
    case archives([ArchivedSegment])
    case verified(ArchiveVerification)
    /// LEDGER CHECK's answer: each live segment, oldest first.
    case checked([ArchiveVerification])
    /// The restored copy's path.
    case restored(String)
    /// The request's error reply text (`ERR …`).
    case refused(String)
}

enum Housekeeping {
    /// Where RESTORE copies archived segments, inside the archive directory:
    /// a directory of segments `vimana ledger` reads as it reads a ledger.
    static let restoredDirectory = "restored"

    static func answer(_ request: HousekeepingRequest, directory: String, archive: String?) -> HousekeepingAnswer {
        if case .check(let segments) = request { return check(segments, directory: directory) }
        guard let archive else { return .refused(HousekeepingRefusal.noArchive) }
        switch request {
        case .list: return list(archive)
        case .verify(let name): return verify(name, archive: archive)
        case .restore(let name): return restore(name, archive: archive)
        case .check: return .refused(HousekeepingRefusal.notOpen)
        }
    }

    /// The live segments checked together, as `vimana ledger verify` checks
    /// a directory (one definition of a good frame: `OfflineVerifier`): the
    /// last is the active one, cut at the bytes the loop knew written, so a
    /// frame the writer is writing is not read at all; a sealed one is read
    /// whole (the writer is done with it: bytes past what the loop knew are
    /// damage to find, as the offline tool finds them). Runs on the
    /// maintenance thread, after any compaction or retirement asked before.
    static func check(_ live: [LiveSegment], directory: String) -> HousekeepingAnswer {
        let segments = live.enumerated().map { k, s in
            let active = k == live.count - 1
            return OfflineSegment(directory: directory, name: s.name, active: active, limit: active ? s.bytes : nil,
                                  indexMayLag: s.indexPending)
        }
        let result: OfflineVerification
        do throws(LedgerError) {
            result = try OfflineVerifier.verify(segments, repaired: LedgerDirectory.repairedGaps(in: directory))
        } catch {
            return .refused("ERR verifying the ledger: \(error)")
        }
        var tally: [String: (frames: Int, records: UInt64)] = [:]
        for t in result.bySegment { tally[t.name] = (t.frames, t.records) }
        return .checked(live.map { s in
            ArchiveVerification(segment: s.name, frames: tally[s.name]?.frames ?? 0, records: tally[s.name]?.records ?? 0,
                                errors: result.errors.filter { $0.segment == s.name }.map(\.description),
                                warnings: result.warnings.filter { $0.segment == s.name }.map(\.description))
        })
    }

    /// The segment files of the archive in sequence order (none when it does not exist yet).
    static func list(_ archive: String) -> HousekeepingAnswer {
        guard FileIO.exists(archive) else { return .archives([]) }
        do throws(LedgerIOError) {
            return .archives(try LedgerDirectory.segments(in: archive).compactMap { name in
                guard let first = LedgerDirectory.firstSequence(ofSegment: name),
                      let bytes = FileIO.size(path: archive + "/" + name) else { return nil }
                return ArchivedSegment(name: name, bytes: bytes, firstSequence: first)
            })
        } catch {
            return .refused(HousekeepingRefusal.io(error))
        }
    }

    static func verify(_ name: String, archive: String) -> HousekeepingAnswer {
        guard LedgerDirectory.firstSequence(ofSegment: name) != nil else { return .refused(HousekeepingRefusal.badName(name)) }
        guard FileIO.exists(archive + "/" + name) else { return .refused(HousekeepingRefusal.notArchived(name)) }
        let segment = OfflineSegment(directory: archive, name: name, active: false)
        let result: OfflineVerification
        do throws(LedgerError) { result = try OfflineVerifier.verify(segment: segment) } catch {
            return .refused("ERR verifying \(name): \(error)")
        }
        return .verified(ArchiveVerification(segment: name, frames: result.frames, records: result.records,
                                             errors: result.errors.map(\.description),
                                             warnings: result.warnings.map(\.description)))
    }

    /// Copies the segment, then its index when there is one, each to a
    /// temporary file made durable and then linked to its name: link(2)
    /// never replaces a file, so nothing restored before is overwritten.
    static func restore(_ name: String, archive: String) -> HousekeepingAnswer {
        guard LedgerDirectory.firstSequence(ofSegment: name) != nil else { return .refused(HousekeepingRefusal.badName(name)) }
        let source = archive + "/" + name
        guard FileIO.exists(source) else { return .refused(HousekeepingRefusal.notArchived(name)) }
        let target = archive + "/" + restoredDirectory
        guard !FileIO.exists(target + "/" + name) else { return .refused(HousekeepingRefusal.alreadyRestored(name)) }
        do throws(LedgerIOError) {
            try FileIO.makeDirectories(target)
            let index = LedgerDirectory.indexName(forSegment: name)
            if FileIO.exists(archive + "/" + index) && !FileIO.exists(target + "/" + index) {
                try copyNew(archive + "/" + index, to: target + "/" + index)
            }
            try copyNew(source, to: target + "/" + name)
            try FileIO.fsyncDirectory(target)
        } catch {
            if error.errno == EEXIST { return .refused(HousekeepingRefusal.alreadyRestored(name)) }
            return .refused(HousekeepingRefusal.io(error))
        }
        return .restored(target + "/" + name)
    }

    /// `from` copied to `to`, which must not exist.
    private static func copyNew(_ from: String, to: String) throws(LedgerIOError) {
        let tmp = to + ".tmp"
        try copy(from, to: tmp)
        defer { try? FileIO.unlink(tmp) }
        if link(tmp, to) != 0 { throw LedgerIOError("link", "\(tmp) -> \(to)") }
    }

    /// Copies `from` to `to` (created or truncated) and fsyncs it; a failed
    /// copy leaves no partial file (a full disk must not keep one around).
    static func copy(_ from: String, to: String) throws(LedgerIOError) {
        let input = try FileIO.open(from, O_RDONLY)
        defer { close(input) }
        let output = try FileIO.open(to, O_WRONLY | O_CREAT | O_TRUNC)
        var buffer = [UInt8](repeating: 0, count: LedgerLimits.copyChunk)
        var offset = 0
        var failure: LedgerIOError?
        while failure == nil {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return FileIO.pread(input, base, raw.count, at: offset)
            }
            if n == 0 { break }
            if n < 0 {
                failure = LedgerIOError("read", from)
                break
            }
            buffer.withUnsafeBytes { raw in
                do throws(LedgerIOError) {
                    if let base = raw.baseAddress { try FileIO.writeAll(output, base, n, path: to) }
                } catch {
                    failure = error
                }
            }
            offset += n
        }
        if failure == nil {
            do throws(LedgerIOError) { try FileIO.fsync(output, path: to) } catch { failure = error }
        }
        close(output)
        if let failure {
            try? FileIO.unlink(to)
            throw failure
        }
    }
}

/// The error replies of the ledger's housekeeping (Protocol/PROTOCOL.md §8).
public enum HousekeepingRefusal {
    public static let noArchive = "ERR the ledger has no archive (set ledger.archive_dir)"
    public static let notOpen = "ERR the ledger is not open"
    public static let emptySegment = "ERR the active segment is empty: nothing to seal"
    public static func badName(_ name: String) -> String {
        "ERR invalid segment name '\(name)' (20 digits and .seg, as LEDGER ARCHIVES lists them)"
    }
    public static func notArchived(_ name: String) -> String { "ERR no archived segment '\(name)'" }
    public static func alreadyRestored(_ name: String) -> String { "ERR segment '\(name)' is already restored" }
    public static func io(_ error: LedgerIOError) -> String { "ERR archive I/O failed: \(error)" }
}
