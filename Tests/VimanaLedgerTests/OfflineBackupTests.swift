import Foundation
import Testing
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
}
