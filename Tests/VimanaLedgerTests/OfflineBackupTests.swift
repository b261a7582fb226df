import Foundation
import Testing
import VimanaCore
@testable import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// The path and name rules of `vimana ledger backup` (OfflineBackup.swift),
/// which its wire tests (LedgerBackupTests) reach only in part.
@Suite struct OfflineBackupTests {
    func temporary() -> String { NSTemporaryDirectory() + "vimana-backup-unit-\(UUID().uuidString)" }

    @Test func parentDirectoriesOfRelativeAbsoluteAndTrailingSlashPaths() {
        #expect(OfflineBackup.parentDirectory("backups/ledger-1") == "backups")
        #expect(OfflineBackup.parentDirectory("backups") == ".")
        #expect(OfflineBackup.parentDirectory(".") == ".")
        #expect(OfflineBackup.parentDirectory("/var/backups/x/") == "/var/backups")
        #expect(OfflineBackup.parentDirectory("/x") == "/")
        #expect(OfflineBackup.parentDirectory("/") == "/")
    }

    @Test func onlyFilesOutsideTheFormatAreReportedAsSkipped() {
        #expect(OfflineBackup.skipReason(LedgerLock.fileName) == nil)
        #expect(OfflineBackup.skipReason("00000000000000000001.idx") == nil)
        #expect(OfflineBackup.skipReason("00000000000000000001.seg.tmp")?.hasPrefix("a file being written") == true)
        #expect(OfflineBackup.skipReason("notes.txt")?.hasPrefix("not a file of the ledger format") == true)
        // Beyond 2^63 - 1 a name is not a segment (LEDGER.md §1), nor its index.
        #expect(OfflineBackup.skipReason("99999999999999999999.idx")?.hasPrefix("not a file") == true)
    }

    @Test func missingParentsAreCreatedAndRemovedAgainOnFailure() throws {
        let root = temporary()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = root + "/ledger"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        chmod(source, 0o700)
        let dest = root + "/a/b/copy"
        let existing = try OfflineBackup.prepare(dest, source: source)
        #expect(existing == root)
        #expect(FileIO.isDirectory(dest))
        // DIR's mode: the copy is no more readable than the ledger.
        var st = stat()
        #expect(stat(dest, &st) == 0 && st.st_mode & 0o777 == 0o700)
        OfflineBackup.Written(destination: dest, existingAncestor: existing).removeCreatedDirectories()
        #expect(!FileIO.exists(root + "/a"))
        // An existing empty directory is taken as it is, and not removed.
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        #expect(try OfflineBackup.prepare(root + "/empty", source: source) == nil)
        OfflineBackup.Written(destination: root + "/empty", existingAncestor: nil).removeCreatedDirectories()
        #expect(FileIO.isDirectory(root + "/empty"))
    }

    @Test func aDestinationInsideTheLedgerIsRefusedEvenThroughAnotherPath() throws {
        let root = temporary()
        try FileManager.default.createDirectory(atPath: root + "/ledger", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createSymbolicLink(atPath: root + "/alias", withDestinationPath: root + "/ledger")
        for dest in [root + "/ledger/copy", root + "/alias/copy", root + "/alias/x/y"] {
            #expect(throws: OfflineBackup.Failure.self) { try OfflineBackup.prepare(dest, source: root + "/ledger") }
            #expect(!FileIO.exists(root + "/ledger/copy") && !FileIO.exists(root + "/ledger/x"))
        }
    }

    // MARK: - A server's changes during the copy

    /// Frames of three records each, the k-th starting at sequence 3k + 1.
    func frames(_ count: Int) throws -> [[UInt8]] {
        let encoder = try FrameEncoder(level: 1)
        var out: [[UInt8]] = []
        for k in 0..<count {
            let first = UInt64(3 * k + 1)
            var b = ByteBuffer(capacity: 64)
            defer { b.release() }
            for s in first..<(first + 3) {
                RecordCodec.append(LedgerRecord(sequence: s, id: StreamID(ms: 1000 + s, seq: 0), timestampMicros: 1_000_000,
                                                clientID: 1, topic: Array("t".utf8), clientName: [],
                                                fields: [.init(name: Array("payload".utf8), value: Array("v\(s)".utf8))]), to: &b)
            }
            out.append(Array(try encoder.encode(records: b.readPointer, length: b.readableBytes, count: 3, firstSequence: first)))
        }
        return out
    }

    /// A ledger of segments 1, 4 and 7, one frame each; the backup's copy
    /// into a new DEST with `willOpen`, and the outcome.
    func backup(_ willOpen: (String, String) -> Void) throws -> (dir: String, dest: String, outcome: OfflineBackup.Outcome) {
        let root = temporary()
        let dir = root + "/ledger", dest = root + "/copy"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        for (k, frame) in try frames(3).enumerated() {
            FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(UInt64(3 * k + 1)), contents: Data(frame))
        }
        var written = OfflineBackup.Written(destination: dest, existingAncestor: nil)
        let outcome = try OfflineBackup.copy(dir, into: dest, pointerFiles: [], written: &written) { name in willOpen(dir, name) }
        return (dir, dest, outcome)
    }

    func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// Retention retires segments 1 and 4 after segment 1 was copied: the
    /// copy starts at 7, with no gap.
    @Test func segmentsRetiredDuringTheCopyLeaveItWithoutAGap() throws {
        let (dir, dest, outcome) = try backup { dir, name in
            if name == LedgerDirectory.segmentName(4) {
                unlink(dir + "/" + LedgerDirectory.segmentName(1))
                unlink(dir + "/" + LedgerDirectory.segmentName(4))
            }
        }
        defer { try? FileManager.default.removeItem(atPath: OfflineBackup.parentDirectory(dir)) }
        #expect(outcome.retired == [LedgerDirectory.segmentName(1), LedgerDirectory.segmentName(4)])
        #expect(outcome.segments.map(\.name) == [LedgerDirectory.segmentName(7)])
        #expect(names(dest) == [LedgerDirectory.segmentName(7), LedgerLock.fileName])
        #expect(outcome.verification.errors.isEmpty && outcome.verification.records == 3, "\(outcome.verification.findings)")
    }

    /// The active segment is sealed while the copy reaches it: a frame is
    /// appended to it and a new segment begins. The copy holds the listed
    /// segment as far as it had been written when opened, and not the new one.
    @Test func aSegmentSealedDuringTheCopyIsCopiedAndTheNextOneIsNot() throws {
        let more = try frames(5)
        let (dir, dest, outcome) = try backup { dir, name in
            guard name == LedgerDirectory.segmentName(7) else { return }
            let handle = FileHandle(forWritingAtPath: dir + "/" + name)
            handle?.seekToEndOfFile()
            handle?.write(Data(more[3]))
            handle?.closeFile()
            FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(13), contents: Data(more[4]))
        }
        defer { try? FileManager.default.removeItem(atPath: OfflineBackup.parentDirectory(dir)) }
        #expect(outcome.segments.map(\.name) == [1, 4, 7].map { LedgerDirectory.segmentName($0) })
        #expect(outcome.segments.last.map { ($0.frames, $0.records, $0.leftOut) } ?? (0, 0, 1) == (2, 6, 0))
        #expect(!names(dest).contains(LedgerDirectory.segmentName(13)))
        // Sealed copies get a sealed index built from their frames; the last has none.
        #expect(names(dest).contains(LedgerDirectory.indexName(forSegment: LedgerDirectory.segmentName(4))))
        #expect(!names(dest).contains(LedgerDirectory.indexName(forSegment: LedgerDirectory.segmentName(7))))
        #expect(outcome.verification.findings.isEmpty && outcome.verification.records == 12, "\(outcome.verification.findings)")
    }
}
