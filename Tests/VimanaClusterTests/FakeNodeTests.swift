import Foundation
import Testing
import VimanaCluster
import VimanaRESP
import VimanaTestSupport

/// A node played by the test on a loopback listener: it reads the request
/// it expects (by its exact bytes) and answers what the test gives it,
/// then waits for the client to close.
final class FakeNode: @unchecked Sendable {
    let listener: LoopbackListener
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var received: [[UInt8]] = []

    /// `script`: pairs of (the request's bytes, the answer's bytes), in order,
    /// on the first connection. Then `close` ends the connection, or it waits for EOF.
    init(_ script: [(String, String)], closeAfter: Bool = false) throws {
        listener = try LoopbackListener()
        let fd = listener.fd
        Thread.detachNewThread { [self] in
            let conn = accept(fd, nil, nil)
            for (request, answer) in script {
                let got = readBytes(conn, count: request.utf8.count)
                lock.lock()
                received.append(got)
                lock.unlock()
                guard got == Array(request.utf8) else { break }
                writeString(conn, answer)
            }
            if !closeAfter { _ = readBytes(conn, count: 1 << 20) }
            close(conn)
            done.signal()
        }
    }

    var node: ClusterNode { ClusterNode(host: "127.0.0.1", port: listener.port) }

    /// What the client sent, per scripted request, once the connection ended.
    func requests() -> [String] {
        _ = done.wait(timeout: .now() + 10)
        lock.lock()
        defer { lock.unlock() }
        return received.map { String(decoding: $0, as: UTF8.self) }
    }
}

func command(_ args: String...) -> String {
    "*\(args.count)\r\n" + args.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
}

/// Malformed slot maps and lost connections from a node the test plays:
/// each a ClusterError, never a trap.
@Suite struct FakeNodeTests {
    static let shards = command("CLUSTER", "SHARDS")
    static let slots = command("CLUSTER", "SLOTS")

    @Test func malformedShardsReplyIsAClusterError() throws {
        let malformed = [
            // A slot past 16383.
            "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:99999\r\n$5\r\nnodes\r\n*0\r\n",
            // A port past 65535.
            "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*6\r\n$4\r\nport\r\n:99999\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n",
            // Not an array.
            ":12\r\n",
            // Not RESP at all.
            "hello\r\n",
        ]
        for reply in malformed {
            let fake = try FakeNode([(Self.shards, reply)])
            let client = ClusterClient(ClusterSettings(seeds: [fake.node], commandTimeout: 5))
            #expect(throws: ClusterError.self, "\(visible(reply))") { try client.refreshSlots() }
            client.close()
            #expect(fake.requests() == [Self.shards])
            #expect(client.slotMap == nil)
        }
    }

    /// Before Redis 7.0 there is no CLUSTER SHARDS: the client asks CLUSTER
    /// SLOTS, whose malformed reply is a ClusterError too; a good one is a map.
    @Test func slotsAreAskedWhenShardsIsUnknown() throws {
        let unknown = "-ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.\r\n"
        let bad = try FakeNode([(Self.shards, unknown), (Self.slots, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:0\r\n")])
        let client = ClusterClient(ClusterSettings(seeds: [bad.node]))
        #expect(throws: ClusterError.self) { try client.refreshSlots() }
        client.close()
        #expect(bad.requests() == [Self.shards, Self.slots])

        let good = try FakeNode([(Self.shards, unknown), (Self.slots, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n")])
        let client2 = ClusterClient(ClusterSettings(seeds: [good.node]))
        try client2.refreshSlots()
        #expect(client2.masters == [ClusterNode(host: "127.0.0.1", port: 7001)])
        client2.close()
        _ = good.requests()
    }

    /// A node that answers with an error reply, or assigns no slot: no map.
    @Test func errorReplyOrNoSlotsIsNoSlotMap() throws {
        for reply in ["-ERR This instance has cluster support disabled\r\n", "*0\r\n"] {
            let fake = try FakeNode([(Self.shards, reply)])
            let client = ClusterClient(ClusterSettings(seeds: [fake.node]))
            #expect {
                try client.refreshSlots()
            } throws: { error in
                if case ClusterError.noSlotMap = error { return true }
                return false
            }
            client.close()
            _ = fake.requests()
        }
    }

    /// Nothing listening: `.unreachable`, naming what was tried.
    @Test func noNodeListeningIsUnreachable() throws {
        let port = try freePort()
        let client = ClusterClient(ClusterSettings(seeds: [ClusterNode(host: "127.0.0.1", port: port)]))
        #expect {
            try client.refreshSlots()
        } throws: { error in
            guard case ClusterError.unreachable(let tried, _) = error else { return false }
            return tried == [ClusterNode(host: "127.0.0.1", port: port)]
        }
    }

    /// The subscriber waits for the confirmation, delivers messages of its
    /// channel only, and throws when the node closes the connection.
    @Test func subscriberThrowsWhenTheConnectionIsLost() throws {
        let confirm = "*3\r\n$9\r\nsubscribe\r\n$4\r\ndoor\r\n:1\r\n"
        let messages = "*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$1\r\nx\r\n*3\r\n$7\r\nmessage\r\n$4\r\ndoor\r\n$4\r\nT\r\n1\r\n"
        let fake = try FakeNode([(command("SUBSCRIBE", "door"), confirm + messages)], closeAfter: true)
        let subscriber = try ClusterSubscriber(ClusterSettings(seeds: [fake.node]), channel: Array("door".utf8))
        #expect(try subscriber.next(timeout: 5) == Array("T\r\n1".utf8))
        #expect(throws: ClusterError.self) { _ = try subscriber.next(timeout: 5) }
        #expect(fake.requests() == [command("SUBSCRIBE", "door")])
    }

    /// `next(timeout: 0)` hands a message already received (the reader takes
    /// the doorbells that came while it read, without waiting), and is nil
    /// when there is none.
    @Test func aZeroTimeoutTakesAMessageAlreadyReceived() throws {
        let confirm = "*3\r\n$9\r\nsubscribe\r\n$4\r\ndoor\r\n:1\r\n"
        let two = "*3\r\n$7\r\nmessage\r\n$4\r\ndoor\r\n$1\r\na\r\n*3\r\n$7\r\nmessage\r\n$4\r\ndoor\r\n$1\r\nb\r\n"
        let fake = try FakeNode([(command("SUBSCRIBE", "door"), confirm + two)])
        let subscriber = try ClusterSubscriber(ClusterSettings(seeds: [fake.node]), channel: Array("door".utf8))
        #expect(try subscriber.next(timeout: 5) == Array("a".utf8))
        #expect(try subscriber.next(timeout: 0) == Array("b".utf8))
        #expect(try subscriber.next(timeout: 0) == nil)
        subscriber.close()
        #expect(fake.requests() == [command("SUBSCRIBE", "door")])
    }
}
