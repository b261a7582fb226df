import Foundation
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// An operator's housekeeping at the ledger (LEDGER.md §8): a seal on
/// request, retention now, and the archive listed, verified and restored on
/// the maintenance thread, answered on the loop.
@Suite(.serialized) struct HousekeepingTests {
    final class Box { var sealed: [String] = []; var answers: [HousekeepingAnswer] = [] }

    func name(_ n: Int) -> String { LedgerDirectory.segmentName(UInt64(n)) }

    @Test func sealRetainListVerifyRestore() throws {
        let dir = temporaryDirectory(), archive = temporaryDirectory() + "/archive"
        let loop = TestLoop()
        var config = LedgerConfig(dir: dir)
        config.archiveDir = archive
        let ledger = Ledger(config: config)
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let box = Box()
        ledger.onSealed = { box.sealed.append($0) }
        // Nothing in the active segment: nothing is asked.
        #expect(!ledger.requestSeal())
        ledger.publish("t", "a")
        ledger.publish("t", "b")
        #expect(ledger.requestSeal(), "records appended, not yet committed, are on their way to the active segment")
        ledger.commit()
        #expect(loop.pump { box.sealed == [name(1)] })
        ledger.publish("t", "c")
        ledger.commit()
        #expect(ledger.requestSeal())
        #expect(loop.pump { box.sealed == [name(1), name(3)] })
        #expect(!ledger.requestSeal())
        // Without retention nothing retires; past max_bytes every sealed segment does, oldest first.
        #expect(ledger.retainNow(nowMicros: Clock.wallMicros()).isEmpty)
        ledger.options_setRetentionBytes(1)
        #expect(ledger.retainNow(nowMicros: Clock.wallMicros()) == [name(1), name(3)])
        #expect(ledger.retainNow(nowMicros: Clock.wallMicros()).isEmpty)
        func ask(_ request: HousekeepingRequest) -> HousekeepingAnswer? {
            let before = box.answers.count
            ledger.housekeeping(request) { box.answers.append($0) }
            return loop.pump { box.answers.count > before } ? box.answers.last : nil
        }
        // The listing is queued after the moves into the archive: both are there.
        guard case .archives(let list)? = ask(.list) else { throw TestFailure("no listing") }
        #expect(list.map(\.name) == [name(1), name(3)] && list.map(\.firstSequence) == [1, 3] && list.allSatisfy { $0.bytes > 0 })
        guard case .verified(let v)? = ask(.verify(name(1))) else { throw TestFailure("no verification") }
        #expect(v.segment == name(1) && v.frames >= 1 && v.records == 2 && v.errors.isEmpty && v.warnings.isEmpty)
        guard case .restored(let path)? = ask(.restore(name(1))) else { throw TestFailure("not restored") }
        #expect(path == archive + "/restored/" + name(1))
        #expect(FileManager.default.contents(atPath: path) == FileManager.default.contents(atPath: archive + "/" + name(1)))
        #expect(FileManager.default.fileExists(atPath: archive + "/restored/" + LedgerDirectory.indexName(forSegment: name(1))))
        guard case .refused(let again)? = ask(.restore(name(1))) else { throw TestFailure("restored twice") }
        #expect(again == "ERR segment '\(name(1))' is already restored")
        guard case .refused(let missing)? = ask(.verify(name(9))) else { throw TestFailure("verified a missing segment") }
        #expect(missing == "ERR no archived segment '\(name(9))'")
        guard case .refused(let bad)? = ask(.restore("../" + name(1))) else { throw TestFailure("a path was taken") }
        #expect(bad.hasPrefix("ERR invalid segment name '../"))
        #expect(((try? FileIO.list(archive + "/restored")) ?? []).sorted()
                == [LedgerDirectory.indexName(forSegment: name(1)), name(1)])
    }

    /// LEDGER CHECK between a seal and its final index (the writer writes it
    /// just after the seal): the sealed segment's index is still a
    /// checkpoint, which is no finding then; it is one once the seal is done.
    @Test func aCheckRightAfterASealDoesNotFaultTheIndexStillBeingWritten() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        let ledger = Ledger(config: LedgerConfig(dir: dir))
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let box = Box()
        ledger.onSealed = { box.sealed.append($0) }
        ledger.publish("t", "a")
        ledger.commit()
        #expect(ledger.requestSeal())
        // Sealed, its final index written, and compacted (which rewrites the index too).
        #expect(loop.pump { box.sealed == [name(1)] && ledger.liveSegments.allSatisfy { !$0.indexPending }
                            && ledger.segments.dropLast().allSatisfy { $0.index.compacted } })
        // The sealed segment's index as its last checkpoint was: not marked sealed.
        let indexPath = dir + "/" + LedgerDirectory.indexName(forSegment: name(1))
        var index = try #require(Ledger.readFile(indexPath).flatMap(SegmentIndex.decode))
        index.sealed = false
        #expect(FileManager.default.createFile(atPath: indexPath, contents: Data(index.encoded())))
        let live = ledger.liveSegments
        func warnings(pending: Bool) -> [String] {
            let segments = live.map { LiveSegment(name: $0.name, bytes: $0.bytes, indexPending: pending && $0.name == name(1)) }
            guard case .checked(let v) = Housekeeping.check(segments, directory: dir) else { return ["no check"] }
            return v.flatMap { $0.warnings + $0.errors }
        }
        #expect(warnings(pending: true) == [])
        #expect(warnings(pending: false).contains { $0.contains("not marked sealed") }, "\(warnings(pending: false))")
        try FileManager.default.removeItem(atPath: indexPath)
        #expect(warnings(pending: true) == [])
        #expect(warnings(pending: false).contains { $0.contains("missing") }, "\(warnings(pending: false))")
    }

    @Test func withoutAnArchiveTheArchiveRequestsAreRefused() throws {
        let loop = TestLoop()
        let ledger = Ledger(config: LedgerConfig(dir: temporaryDirectory()))
        _ = try ledger.open(notify: loop.notify)
        defer { ledger.close() }
        let box = Box()
        ledger.housekeeping(.list) { box.answers.append($0) }
        #expect(loop.pump { !box.answers.isEmpty })
        guard case .refused(let m)? = box.answers.first else { throw TestFailure("\(box.answers)") }
        #expect(m == HousekeepingRefusal.noArchive)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
