import Foundation
import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaKernel

/// Licences without a server: the reason's rule, the journal record's
/// round trip and its application at a start, what a restricted
/// connection's bits lose, and what the snapshot keeps (the wire and
/// restart tests are Tests/VimanaIntegrationTests/LicenseTests.swift).
@Suite struct LicensesTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func aReasonIsOneTo512BytesOfTextWithoutControlCharacters() {
        #expect(Licenses.isReason(Self.bytes("flooding orders.*")))
        #expect(Licenses.isReason(Self.bytes(String(repeating: "x", count: 512))))
        #expect(Licenses.isReason(Self.bytes(String(repeating: "é", count: 256))))
        #expect(!Licenses.isReason(Self.bytes(String(repeating: "x", count: 513))))
        #expect(!Licenses.isReason([UInt8]()))
        for bad in ["a\nb", "a\rb", "a\tb", "\u{7f}", "\u{0}"] { #expect(!Licenses.isReason(Self.bytes(bad)), "\(bad)") }
        #expect(!Licenses.isReason([0x61, 0xFF]), "not UTF-8")
        #expect(!Licenses.isReason([0xC3]), "a cut sequence")
    }

    @Test func theRecordRoundTrips() throws {
        let fields = Licenses.fields(user: "agent:x", state: .suspended, reason: "flooding orders.*", by: "civic", sinceMillis: 1_796_000_000_123)
        #expect(fields.map { String(decoding: $0.name, as: UTF8.self) } == ["op", "user", "state", "reason", "by", "since"])
        let parsed = try Licenses.parse(fields).get()
        #expect(parsed.user == "agent:x")
        #expect(parsed.license == License(state: .suspended, reason: "flooding orders.*", by: "civic", sinceMillis: 1_796_000_000_123))
        // ACTIVE, with or without a reason, is no licence record.
        let active = try Licenses.parse(Licenses.fields(user: "bob", state: .active, reason: nil, by: "default", sinceMillis: 5)).get()
        #expect(active.user == "bob" && active.license == nil)
        #expect(try Licenses.parse(Licenses.fields(user: "bob", state: .active, reason: "mercy", by: "c", sinceMillis: 5)).get().license == nil)
    }

    @Test func recordsTheServerWouldNotWriteAreRefused() {
        func parse(_ pairs: [(String, String)]) -> String? {
            let fields = pairs.map { LedgerRecord.Field(name: Self.bytes($0.0), value: Self.bytes($0.1)) }
            if case .failure(let e) = Licenses.parse(fields) { return e.message }
            return nil
        }
        let good: [(String, String)] = [("op", "license"), ("user", "bob"), ("state", "revoked"), ("reason", "r"), ("by", "a"), ("since", "7")]
        #expect(parse(good) == nil)
        #expect(parse(good.filter { $0.0 != "reason" }) == "a revoked licence needs a reason")
        #expect(parse(good.filter { $0.0 != "since" }) != nil)
        #expect(parse(good.map { $0.0 == "since" ? ("since", "-1") : $0 }) == "invalid since '-1'")
        #expect(parse(good.map { $0.0 == "since" ? ("since", "99999999999999999999") : $0 }) != nil, "beyond Int64")
        #expect(parse(good.map { $0.0 == "state" ? ("state", "paroled") : $0 }) == "unknown state 'paroled'")
        #expect(parse(good.map { $0.0 == "reason" ? ("reason", "a\nb") : $0 }) == "invalid reason")
        #expect(parse(good + [("extra", "x")]) == "unknown field 'extra'")
        #expect(parse(good.map { $0.0 == "user" ? ("user", "") : $0 }) != nil)
    }

    @Test func aRestrictedUserLosesOnlyThePublishingBits() {
        var licenses = Licenses()
        #expect(licenses.commandMask("bob") == .all)
        licenses.set("bob", License(state: .suspended, reason: "r", by: "a", sinceMillis: 0))
        #expect(licenses.commandMask("alice") == .all)
        let mask = licenses.commandMask("bob")
        for command in Command.allCases {
            let kept = mask.contains(command)
            #expect(kept == ![.publish, .xadd, .spublish].contains(command), "\(command)")
        }
        licenses.set("bob", License(state: .active, reason: "r", by: "a", sinceMillis: 0))
        #expect(licenses.isEmpty)
    }

    /// At a start: applied on top of the users; a user that does not exist
    /// (any more) is skipped with a reason; a deletion takes the licence.
    @Test func theJournalAppliesARecordAndDeletionTakesIt() {
        let (users, journal) = UserJournalTests.setUp()
        let fields = Licenses.fields(user: "alice", state: .revoked, reason: "fraud", by: "civic", sinceMillis: 9)
        let record = UserJournalTests.record(fields.map { (String(decoding: $0.name, as: UTF8.self), String(decoding: $0.value, as: UTF8.self)) })
        #expect(journal.apply(record, to: users) == nil)
        #expect(users.licenses["alice"]?.state == .revoked)
        let ghost = UserJournalTests.record([("op", "license"), ("user", "ghost"), ("state", "suspended"), ("reason", "r"),
                                             ("by", "a"), ("since", "1")])
        #expect(journal.apply(ghost, to: users)?.contains("does not exist") == true)
        #expect(journal.apply(UserJournalTests.record([("op", "deluser"), ("user", "alice")]), to: users) == nil)
        #expect(users.licenses.isEmpty)
    }

    /// What a snapshot copies: each user's latest licence only, none once
    /// it is active again, and nothing of a deleted user.
    @Test func theSnapshotKeepsOnlyTheLicenceInForce() throws {
        let dir = NSTemporaryDirectory() + "vimana-license-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = Ledger(config: LedgerConfig(dir: dir))
        _ = try ledger.open(notify: { _ in })
        defer { ledger.close() }
        let journal = UserJournal(ledger: ledger)
        func licences() -> [String] {
            journal.live.filter { UserJournal.value($0, "op") == Self.bytes("license") }
                .map { String(decoding: UserJournal.value($0, "user") ?? [], as: UTF8.self) + "=" + String(decoding: UserJournal.value($0, "state") ?? [], as: UTF8.self) }
        }
        #expect(journal.recordLicense("bob", state: .revoked, reason: "a", by: "x", sinceMillis: 1) != nil)
        #expect(journal.recordLicense("carol", state: .suspended, reason: "b", by: "x", sinceMillis: 2) != nil)
        #expect(journal.recordLicense("bob", state: .suspended, reason: "c", by: "x", sinceMillis: 3) != nil)
        #expect(licences() == ["carol=suspended", "bob=suspended"])
        #expect(journal.recordLicense("carol", state: .active, reason: nil, by: "x", sinceMillis: 4) != nil)
        #expect(licences() == ["bob=suspended"])
        #expect(journal.recordDelUser("bob", nowMillis: 5) != nil)
        #expect(licences() == [])
    }
}
