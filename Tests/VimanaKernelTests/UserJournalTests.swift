import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaKernel

/// What the users' journal writes and how a start applies each record,
/// without a server (the wire and restart tests are ACLJournalTests).
@Suite struct UserJournalTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func passwordsAreRecordedAsTheirDigests() {
        let digest = SHA256.hexDigest(Self.bytes("hunter2"))
        #expect(UserJournal.storable(Self.bytes(">hunter2")) == Self.bytes("#" + digest))
        #expect(UserJournal.storable(Self.bytes("<hunter2")) == Self.bytes("!" + digest))
        // `>` alone is the empty password, hashed too.
        #expect(UserJournal.storable(Self.bytes(">")) == Self.bytes("#" + SHA256.hexDigest([UInt8]())))
        for rule in ["on", "#" + digest, "~jobs.*", "+@all", "", "nopass", "(~x +get)"] {
            #expect(UserJournal.storable(Self.bytes(rule)) == Self.bytes(rule))
        }
    }

    /// A `users:` with `alice`, and a journal on an unopened ledger (`apply` reads nothing from it).
    static func setUp() -> (Users, UserJournal) {
        var config = Configuration()
        var alice = UserConfig(name: "alice")
        alice.nopass = true
        alice.rules = [UserConfig.Rule("+@all")]
        config.users = [alice]
        return (Users(config: config), UserJournal(ledger: Ledger(config: LedgerConfig(dir: "/nonexistent"))))
    }

    static func record(_ fields: [(String, String)], client: UInt64 = 0) -> LedgerRecord {
        LedgerRecord(sequence: 42, id: StreamID(ms: 1, seq: 0), timestampMicros: 0, clientID: client,
                     topic: UserJournal.topic, clientName: [],
                     fields: fields.map { LedgerRecord.Field(name: bytes($0.0), value: bytes($0.1)) })
    }

    @Test func changesApplyOnTopOfTheFileInOrder() {
        let (users, journal) = Self.setUp()
        #expect(journal.apply(Self.record([("op", "setuser"), ("user", "alice"), ("new", "0"), ("rule", "~a.*")]), to: users) == nil)
        #expect(users.byName["alice"]?.keyPatterns == [Self.bytes("a.*")])
        #expect(users.byName["alice"]?.nopass == true)
        #expect(journal.apply(Self.record([("op", "setuser"), ("user", "bob"), ("new", "1"), ("rule", "on")]), to: users) == nil)
        #expect(users.byName["bob"]?.enabled == true)
        #expect(journal.apply(Self.record([("op", "deluser"), ("user", "alice")]), to: users) == nil)
        #expect(users.byName["alice"] == nil)
    }

    @Test func recordsThatCannotApplyAreRefusedWithAReason() {
        let (users, journal) = Self.setUp()
        // A change to a declared user the file no longer has.
        let gone = journal.apply(Self.record([("op", "setuser"), ("user", "carol"), ("new", "0"), ("rule", "on")]), to: users)
        #expect(gone?.contains("not declared") == true)
        #expect(users.byName["carol"] == nil)
        // A rule the model refuses: the whole change is skipped, the user unchanged.
        let before = users.byName["alice"]
        let refused = journal.apply(Self.record([("op", "setuser"), ("user", "alice"), ("new", "0"),
                                                 ("rule", "~b.*"), ("rule", "+nosuchcommand")]), to: users)
        #expect(refused?.contains("+nosuchcommand") == true)
        #expect(users.byName["alice"] == before)
        // Not the server's, unknown, malformed, or the default user's deletion.
        #expect(journal.apply(Self.record([("op", "deluser"), ("user", "alice")], client: 7), to: users) != nil)
        #expect(users.byName["alice"] != nil)
        #expect(journal.apply(Self.record([("op", "rename"), ("user", "alice")]), to: users) != nil)
        #expect(journal.apply(Self.record([("op", "setuser")]), to: users) != nil)
        #expect(journal.apply(Self.record([("op", "setuser"), ("user", "alice"), ("extra", "x")]), to: users) != nil)
        #expect(journal.apply(Self.record([("op", "deluser"), ("user", "default")]), to: users) != nil)
        #expect(users.byName["default"] != nil)
    }
}
