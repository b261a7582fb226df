import Foundation
import Testing
import VimanaTestSupport

/// Sharded pub/sub where Vimana has more than Redis to say (PROTOCOL.md
/// §5.5): SPUBLISH is never recorded, and is held to the licences, publish
/// limits and ACL changes PUBLISH is held to; PUBLISHER ON ends an
/// `smessage` with its publisher. Its Redis behaviour is compared byte for
/// byte in RedisParityShardTests.
@Suite struct ShardPubSubTests {
    static func send(_ c: RawClient, _ args: String...) -> String {
        c.send(RawClient.command(args))
        return c.readReplies()
    }

    /// A recorded topic's name as a shard channel: SPUBLISH delivers and
    /// appends nothing, where PUBLISH on the same name appends an entry.
    @Test func spublishIsNeverRecordedEvenOnARecordedTopic() throws {
        let server = try ServerProcess()
        let sub = try RawClient(port: server.port)
        sub.send("SSUBSCRIBE tasks.shard\r\n")
        #expect(sub.readReplies(1) == "*3\r\n$10\r\nssubscribe\r\n$11\r\ntasks.shard\r\n:1\r\n")
        let c = try RawClient(port: server.port)
        #expect(Self.send(c, "PUBLISH", "tasks.shard", "kept") == ":0\r\n")
        #expect(Self.send(c, "XLEN", "tasks.shard") == ":1\r\n", "tasks.* is recorded: the test needs a recorded topic")
        #expect(Self.send(c, "SPUBLISH", "tasks.shard", "passing") == ":1\r\n")
        let frame = "*3\r\n$8\r\nsmessage\r\n$11\r\ntasks.shard\r\n$7\r\npassing\r\n"
        #expect(sub.read(matching: frame) == frame)
        #expect(Self.send(c, "XLEN", "tasks.shard") == ":1\r\n")
        #expect(Self.send(c, "SPUBLISH", "tasks.other", "x") == ":0\r\n")
        #expect(Self.send(c, "EXISTS", "tasks.other") == ":0\r\n")
        // Counted as messages, and the shard channel in INFO.
        #expect(infoField(server, "pubsubshard_channels", section: "stats") == "1")
        #expect(infoField(server, "pubsub_channels", section: "stats") == "0")
        #expect(infoField(server, "messages_published", section: "pubsub") == "3")
        #expect(infoField(server, "messages_delivered", section: "pubsub") == "1")
    }

    /// A suspended user's SPUBLISH is refused as its PUBLISH is, but to
    /// the court's name; a user with a publish limit is charged for it.
    @Test func aLicenceAndAPublishLimitHoldSpublishToo() throws {
        let server = try ServerProcess(config: """
            users:
              - name: carol
                nopass: true
                permissions: ["+@all", "~*", "&*"]
                limits: {publish_rate: 100000}
            """, logLevel: "info")
        let admin = try RawClient(port: server.port)
        #expect(Self.send(admin, "ACL", "SETUSER", "bob", "on", ">bob-pass", "+@all", "~*", "&*") == "+OK\r\n")
        let bob = try RawClient(port: server.port)
        #expect(Self.send(bob, "AUTH", "bob", "bob-pass") == "+OK\r\n")
        #expect(Self.send(bob, "SPUBLISH", "orders.1", "x") == ":0\r\n")
        #expect(Self.send(admin, "LICENSE", "SET", "bob", "SUSPENDED", "flooding") == "+OK\r\n")
        #expect(Self.send(bob, "SPUBLISH", "orders.1", "x")
                == "-NOPERM user 'bob' is suspended (flooding): it may publish only to tasks.supreme_court\r\n")
        #expect(Self.send(bob, "SPUBLISH", "tasks.supreme_court", "appeal") == ":0\r\n")
        #expect(infoField(server, "license_refused_publishes", section: "stats") == "1")

        let carol = try RawClient(port: server.port)
        #expect(Self.send(carol, "AUTH", "carol", "x") == "+OK\r\n")
        #expect(Self.send(carol, "SPUBLISH", "a", "12345") == ":0\r\n")
        let figures = infoField(server, "user_carol", section: "users") ?? ""
        #expect(figures.contains(",messages_published=1,bytes_published=5"), "\(figures)")
    }

    /// An ACL change that takes a shard channel away ends that
    /// subscription with the `sunsubscribe` frame (as it does a channel's
    /// with `unsubscribe`); the others stay.
    @Test func anACLChangeEndsAShardSubscriptionTheRulesNowRefuse() throws {
        let server = try ServerProcess(logLevel: "info")
        let admin = try RawClient(port: server.port)
        #expect(Self.send(admin, "ACL", "SETUSER", "dan", "on", ">pw", "+@all", "&chan*", "&keep") == "+OK\r\n")
        let dan = try RawClient(port: server.port)
        #expect(Self.send(dan, "AUTH", "dan", "pw") == "+OK\r\n")
        dan.send("SSUBSCRIBE chan1 keep\r\nSUBSCRIBE chan2\r\n")
        _ = dan.readReplies(3)
        #expect(Self.send(admin, "ACL", "SETUSER", "dan", "resetchannels", "&keep") == "+OK\r\n")
        // Channels first, then shard channels; each count is its kind's.
        let ended = "*3\r\n$11\r\nunsubscribe\r\n$5\r\nchan2\r\n:0\r\n*3\r\n$12\r\nsunsubscribe\r\n$5\r\nchan1\r\n:1\r\n"
        #expect(dan.read(matching: ended) == ended)
        #expect(Self.send(admin, "PUBSUB", "SHARDNUMSUB", "chan1", "keep") == "*4\r\n$5\r\nchan1\r\n:0\r\n$4\r\nkeep\r\n:1\r\n")
        #expect(Self.send(admin, "SPUBLISH", "keep", "m") == ":1\r\n")
        let frame = "*3\r\n$8\r\nsmessage\r\n$4\r\nkeep\r\n$1\r\nm\r\n"
        #expect(dan.read(matching: frame) == frame)
    }

    /// CLIENT PUBLISHER ON: an `smessage` ends with the publisher, small
    /// (copied per subscriber) or large (one shared copy), RESP2 and RESP3.
    @Test func smessageCarriesThePublisherToASubscriberThatAsks() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            """, logLevel: "info")
        let plain = try RawClient(port: server.port)
        let resp2 = try RawClient(port: server.port)
        let resp3 = try RawClient(port: server.port)
        plain.send("SSUBSCRIBE a\r\n")
        _ = plain.readReplies(1)
        resp2.send("CLIENT PUBLISHER ON\r\nSSUBSCRIBE a\r\n")
        _ = resp2.readReplies(2)
        resp3.send("HELLO 3\r\nCLIENT PUBLISHER ON\r\nSSUBSCRIBE a\r\n")
        _ = resp3.readReplies(3)
        let alice = try RawClient(port: server.port)
        alice.send("AUTH alice alice-pw\r\nSPUBLISH a hi\r\n")
        #expect(alice.read(matching: "+OK\r\n:3\r\n") == "+OK\r\n:3\r\n")
        let message = "*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
        #expect(plain.read(matching: message) == message)
        let shown = "*4\r\n$8\r\nsmessage\r\n$1\r\na\r\n$2\r\nhi\r\n$5\r\nalice\r\n"
        #expect(resp2.read(matching: shown) == shown)
        let pushed = ">4\r\n$8\r\nsmessage\r\n$1\r\na\r\n$2\r\nhi\r\n$5\r\nalice\r\n"
        #expect(resp3.read(matching: pushed) == pushed)

        let big = String(repeating: "x", count: 20_000)
        alice.send(RawClient.command(["SPUBLISH", "a", big]))
        #expect(alice.read(matching: ":3\r\n") == ":3\r\n")
        let bigPlain = "*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n"
        #expect(plain.read(matching: bigPlain) == bigPlain)
        let bigShown = "*4\r\n$8\r\nsmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n$5\r\nalice\r\n"
        #expect(resp2.read(matching: bigShown) == bigShown)
        let bigPushed = ">4\r\n$8\r\nsmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n$5\r\nalice\r\n"
        #expect(resp3.read(matching: bigPushed) == bigPushed)
    }
}
