import Foundation
import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
import VimanaTestSupport
@testable import VimanaKernel

/// The users' journal on a crafted ledger (`_vimana.acl` records written
/// here as a server at a given moment would have left them), read by a
/// real server.
@Suite struct UserJournalLedgerTests {
    /// A ledger directory whose `_vimana.acl` holds `records` (ID, client
    /// id, fields in order), closed as a stopped server leaves it.
    static func craft(_ records: [(StreamID, Int, [(String, String)])]) throws -> String {
        let dir = NSTemporaryDirectory() + "vimana-acl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        let ledger = Ledger(config: config)
        _ = try ledger.open(notify: { _ in })
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        for (id, client, fields) in records {
            let appended = UserJournal.topic.withUnsafeBytes { topic in
                ledger.append(topic: topic, id: .explicit(id), client: RecordClient(id: client, name: none, user: none),
                              nowMillis: 0, nowMicros: 0) { out in
                    for (name, value) in fields {
                        Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { out.add(name: n, value: $0) } }
                    }
                }
            }
            guard case .success = appended else { throw TestFailure("could not append \(id)") }
        }
        ledger.close()
        return dir
    }

    static func send(_ c: RawClient, _ text: String, replies: Int = 1) -> String {
        c.send(text)
        return c.readReplies(replies)
    }

    /// A snapshot begun and never ended (the server stopped while copying
    /// alice's two changes): its one copy, of the older change, is ignored
    /// with a warning, so alice has the newer change, as acknowledged. The
    /// start then writes a complete snapshot, and the next start agrees.
    @Test func anUnfinishedSnapshotIsIgnored() throws {
        let dir = try Self.craft([
            (StreamID(ms: 1, seq: 0), 0, [("op", "setuser"), ("user", "alice"), ("new", "1"), ("rule", "on"), ("rule", "~old.*")]),
            (StreamID(ms: 2, seq: 0), 0, [("op", "setuser"), ("user", "alice"), ("new", "0"), ("rule", "resetkeys"), ("rule", "~new.*")]),
            (StreamID(ms: 3, seq: 0), 0, [("op", "snapshot-begin")]),
            (StreamID(ms: 3, seq: 1), 0, [("op", "setuser"), ("user", "alice"), ("new", "1"), ("rule", "on"), ("rule", "~old.*"),
                                          ("snapshot", "3-0")]),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for start in 0..<2 {
            let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info", ledgerDirectory: dir)
            let c = try RawClient(port: server.port)
            let keys = Self.send(c, "ACL GETUSER alice\r\n")
            #expect(keys.contains("$4\r\nkeys\r\n$6\r\n~new.*\r\n"), "start \(start): \(visible(keys))")
            if start == 0 {
                #expect(server.waitForLog("unfinished ACL snapshot ignored"))
                #expect(server.log.contains("\"begin\":\"3-0\""), "\(server.log)")
                #expect(server.waitForLog("\"unfinished_snapshot_records\":1,"))
            } else {
                #expect(server.waitForLog("\"unfinished_snapshot_records\":0,"))
            }
            #expect(server.terminate() == 0)
        }
    }

    /// ACL DELUSER a b c whose record for b the ledger refuses (the
    /// journal's stream is at its last possible ID after a's): a stays
    /// deleted and the error says so; b and c are not deleted.
    @Test func aDeluserCutShortSaysWhatItDeleted() throws {
        // Not the server's (client 7): skipped at start, but its ID is the journal's last.
        let dir = try Self.craft([(StreamID(ms: .max, seq: .max - 1), 7, [("op", "setuser"), ("user", "x")])])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let users = ["a", "b", "c"].map { "  - name: \($0)\n    nopass: true\n    permissions: [\"+@all\"]\n" }.joined()
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: "users:\n" + users, logLevel: "info",
                                       ledgerDirectory: dir)
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "ACL DELUSER a b c\r\nACL USERS\r\n", replies: 2)
                == "-ERR the ledger refused to record the deletion of user 'b' (it would not survive a restart);"
                + " the 1 deleted before it stay deleted, it and those after it were not deleted\r\n"
                + "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$7\r\ndefault\r\n")
        #expect(Self.send(c, "ACL DELUSER b\r\n")
                == "-ERR the ledger refused the ACL change (it would not survive a restart); nothing was changed\r\n")
    }

    /// ACL DELUSER that the ledger refuses to record (the journal's stream
    /// at its last possible ID) changes nothing, the user's account
    /// included: its two open connections still fill its `connections`
    /// limit (a third AUTH is refused), and its figures go on.
    @Test func aRefusedDeluserKeepsTheUsersAccount() throws {
        let dir = try Self.craft([(StreamID(ms: .max, seq: .max), 7, [("op", "setuser"), ("user", "x")])])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = """
            users:
              - name: default
                nopass: true
                permissions: ["+@all", "~*", "&*"]
              - name: alice
                nopass: true
                permissions: ["+@all", "~*", "&*"]
                limits: {connections: 2, publish_rate: 1000}
            """
        let server = try ServerProcess(arguments: ["--fsync", "always"], config: config, logLevel: "info",
                                       ledgerDirectory: dir)
        let admin = try RawClient(port: server.port)
        let a1 = try RawClient(port: server.port), a2 = try RawClient(port: server.port)
        #expect(Self.send(a1, "AUTH alice x\r\nPUBLISH t m\r\n", replies: 2) == "+OK\r\n:0\r\n")
        #expect(Self.send(a2, "AUTH alice x\r\n") == "+OK\r\n")
        #expect(Self.send(admin, "ACL DELUSER alice\r\nACL USERS\r\n", replies: 2)
                == "-ERR the ledger refused the ACL change (it would not survive a restart); nothing was changed\r\n"
                + "*2\r\n$5\r\nalice\r\n$7\r\ndefault\r\n")
        let a3 = try RawClient(port: server.port)
        #expect(Self.send(a3, "AUTH alice x\r\nACL WHOAMI\r\n", replies: 2)
                == "-ERR max number of connections reached for user 'alice'\r\n$7\r\ndefault\r\n")
        let info = Self.send(admin, "INFO users\r\n")
        #expect(info.contains("user_alice:connections=2,connections_refused=1,publish_pauses=0,"), "\(visible(info))")
        #expect(info.contains(",messages_published=1,bytes_published=1\r\n"), "\(visible(info))")
        // The connections still act as alice.
        #expect(Self.send(a1, "ACL WHOAMI\r\n") == "$5\r\nalice\r\n")
    }
}
