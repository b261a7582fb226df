import Foundation
import Testing
import VimanaConfig
@testable import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// `LedgerLock`: one open ledger per directory (its archive included), and
/// what a reader learns of the holder without changing anything.
@Suite(.serialized) struct LedgerLockTests {
    func ledger(_ dir: String, archive: String? = nil) -> Ledger {
        var config = LedgerConfig(dir: dir)
        config.archiveDir = archive
        return Ledger(config: config)
    }

    func openError(_ ledger: Ledger) -> LedgerError? {
        do throws(LedgerError) {
            _ = try ledger.open(notify: TestLoop().notify)
            ledger.close()
            return nil
        } catch {
            return error
        }
    }

    @Test func aSecondOpenIsRefusedBeforeItTouchesAnythingUntilTheFirstCloses() throws {
        let dir = temporaryDirectory()
        let first = ledger(dir)
        _ = try first.open(notify: TestLoop().notify)
        first.publish("t", "kept")
        first.commit()
        // A stray temporary file: recovery would delete it.
        #expect(FileManager.default.createFile(atPath: dir + "/x.tmp", contents: Data("x".utf8)))

        let error = try #require(openError(ledger(dir)))
        #expect(error.directoryInUse)
        #expect(error.description == "ledger directory \(dir) is in use by process \(getpid())")
        #expect(FileIO.exists(dir + "/x.tmp"))

        first.close()
        let second = ledger(dir)
        let report = try second.open(notify: TestLoop().notify)
        #expect(report.records == 1)
        #expect(!FileIO.exists(dir + "/x.tmp"))
        #expect(LedgerLock.holder(of: dir) == LedgerLock.Holder(pid: getpid()))
        second.close()
        #expect(LedgerLock.holder(of: dir) == nil)
    }

    @Test func aDirectoryThatIsAnotherLedgersArchiveIsInUse() throws {
        let dir = temporaryDirectory(), archive = temporaryDirectory()
        let first = ledger(dir, archive: archive)
        _ = try first.open(notify: TestLoop().notify)
        defer { first.close() }
        let asLedger = try #require(openError(ledger(archive)))
        #expect(asLedger.description == "ledger directory \(archive) is in use by process \(getpid())")
        let asArchive = try #require(openError(ledger(temporaryDirectory(), archive: archive)))
        #expect(asArchive.directoryInUse)
        #expect(asArchive.description == "ledger archive directory \(archive) is in use by process \(getpid())")
    }

    @Test func anArchiveThatIsTheDirectoryItselfIsLockedOnce() throws {
        let dir = temporaryDirectory()
        // The same directory under another spelling.
        #expect(openError(ledger(dir, archive: dir + "/.")) == nil)
    }

    @Test func aReaderFindsNoHolderWithoutCreatingTheLockFile() {
        let dir = temporaryDirectory()
        #expect(LedgerLock.holder(of: dir) == nil)
        #expect(!FileIO.exists(dir + "/" + LedgerLock.fileName))
    }

    @Test func thePidIsDigitsAndANewlineOrNothing() throws {
        let cases: [(String, Int32?)] = [
            ("4242\n", 4242), ("1\n", 1), ("4242", nil), ("", nil), ("\n", nil), ("42a\n", nil),
            ("-5\n", nil), ("0\n", nil), ("99999999999\n", nil), (" 42\n", nil), ("2147483647\n", Int32.max),
            (String(repeating: "9", count: 40) + "\n", nil),
        ]
        for (text, pid) in cases {
            let path = temporaryDirectory() + "/" + LedgerLock.fileName
            #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
            let fd = try FileIO.open(path, O_RDONLY)
            defer { close(fd) }
            #expect(LedgerLock.readPid(fd) == pid, "\(text.debugDescription)")
        }
    }
}
