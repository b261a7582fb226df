import Foundation
import Testing

/// Publish/subscribe sequences with exact reply bytes, RESP2 and RESP3.
@Suite struct PubSubTests {
    @Test func subscribePublishUnsubscribeInRESP2() throws {
        let server = try ServerProcess()
        let sub = try RawClient(port: server.port)
        sub.send("SUBSCRIBE tasks.civic events\r\n")
        let confirm = "*3\r\n$9\r\nsubscribe\r\n$11\r\ntasks.civic\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\nevents\r\n:2\r\n"
        #expect(sub.read(matching: confirm) == confirm)

        let pub = try RawClient(port: server.port)
        pub.send("PUBLISH tasks.civic \"hello world\"\r\nPUBLISH nobody x\r\n")
        #expect(pub.read(matching: ":1\r\n:0\r\n") == ":1\r\n:0\r\n")
        let message = "*3\r\n$7\r\nmessage\r\n$11\r\ntasks.civic\r\n$11\r\nhello world\r\n"
        #expect(sub.read(matching: message) == message)

        sub.send("UNSUBSCRIBE tasks.civic\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\n")
        let unsub = "*3\r\n$11\r\nunsubscribe\r\n$11\r\ntasks.civic\r\n:1\r\n"
            + "*3\r\n$11\r\nunsubscribe\r\n$6\r\nevents\r\n:0\r\n"
            + "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
        #expect(sub.read(matching: unsub) == unsub)
        // Back in normal mode: any command works again.
        sub.send("ECHO ok\r\n")
        #expect(sub.read(matching: "$2\r\nok\r\n") == "$2\r\nok\r\n")
        pub.send("PUBLISH tasks.civic again\r\n")
        #expect(pub.read(matching: ":0\r\n") == ":0\r\n")
    }

    @Test func subscribedStateOnlyAllowsPubSubCommandsInRESP2() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send("SUBSCRIBE a\r\nECHO x\r\nCLIENT LIST\r\nPING\r\nPING hi\r\nNOSUCH\r\n")
        let expected = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
            + "-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
            + "-ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
            + "*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"
            + "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
        #expect(c.read(matching: expected) == expected)
        c.send("RESET\r\nECHO x\r\n")
        #expect(c.read(matching: "+RESET\r\n$1\r\nx\r\n") == "+RESET\r\n$1\r\nx\r\n")
    }

    @Test func resp3SubscribersGetPushFramesAndMayRunAnyCommand() throws {
        let server = try ServerProcess()
        let sub = try RawClient(port: server.port)
        sub.send("HELLO 3\r\n")
        _ = sub.readReplies()
        sub.send("SUBSCRIBE a\r\nPSUBSCRIBE a*\r\nECHO x\r\nPING\r\n")
        let expected = ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n$1\r\nx\r\n+PONG\r\n"
        #expect(sub.read(matching: expected) == expected)
        let pub = try RawClient(port: server.port)
        pub.send("PUBLISH a m\r\n")
        // Channel and pattern both match: two deliveries, counted twice, as Redis.
        #expect(pub.read(matching: ":2\r\n") == ":2\r\n")
        let pushes = ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n>4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nm\r\n"
        #expect(sub.read(matching: pushes) == pushes)
        sub.send("UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\n")
        let unsub = ">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:0\r\n>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
        #expect(sub.read(matching: unsub) == unsub)
    }

    @Test func patternSubscriptionsUseRedisGlob() throws {
        let server = try ServerProcess()
        let sub = try RawClient(port: server.port)
        sub.send("PSUBSCRIBE events.*.broadcast tasks.[a-c]*\r\n")
        _ = sub.read(count: "*3\r\n$10\r\npsubscribe\r\n$18\r\nevents.*.broadcast\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$13\r\ntasks.[a-c]*\r\n:2\r\n".utf8.count)
        let pub = try RawClient(port: server.port)
        pub.send("PUBLISH events.herald.broadcast x\r\nPUBLISH events.herald.audit x\r\nPUBLISH tasks.civic y\r\nPUBLISH tasks.x y\r\n")
        #expect(pub.read(matching: ":1\r\n:0\r\n:1\r\n:0\r\n") == ":1\r\n:0\r\n:1\r\n:0\r\n")
        let expected = "*4\r\n$8\r\npmessage\r\n$18\r\nevents.*.broadcast\r\n$23\r\nevents.herald.broadcast\r\n$1\r\nx\r\n"
            + "*4\r\n$8\r\npmessage\r\n$12\r\ntasks.[a-c]*\r\n$11\r\ntasks.civic\r\n$1\r\ny\r\n"
        #expect(sub.read(matching: expected) == expected)
    }

    @Test func pubsubIntrospection() throws {
        let server = try ServerProcess()
        let a = try RawClient(port: server.port)
        a.send("SUBSCRIBE tasks.civic tasks.herald\r\nPSUBSCRIBE x* y*\r\n")
        _ = a.readReplies(4)
        let b = try RawClient(port: server.port)
        b.send("SUBSCRIBE tasks.civic\r\nPSUBSCRIBE x*\r\n")
        _ = b.readReplies(2)
        let c = try RawClient(port: server.port)
        c.send("PUBSUB NUMSUB tasks.civic tasks.herald none\r\nPUBSUB NUMPAT\r\nPUBSUB CHANNELS *herald\r\n")
        let expected = "*6\r\n$11\r\ntasks.civic\r\n:2\r\n$12\r\ntasks.herald\r\n:1\r\n$4\r\nnone\r\n:0\r\n:2\r\n*1\r\n$12\r\ntasks.herald\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func largeMessagesAreDeliveredIntactToEverySubscriber() throws {
        let server = try ServerProcess()
        let payload = String((0..<200_000).map { Character(Unicode.Scalar(UInt8(97 + $0 % 26))) })
        var subs: [RawClient] = []
        for i in 0..<3 {
            let s = try RawClient(port: server.port)
            if i == 1 { s.send("HELLO 3\r\n"); _ = s.readReplies() }
            s.send("SUBSCRIBE big\r\n")
            _ = s.readReplies()
            subs.append(s)
        }
        let pub = try RawClient(port: server.port)
        pub.send(RawClient.command(["PUBLISH", "big", payload]) + RawClient.command(["PUBLISH", "big", "small"]))
        #expect(pub.read(matching: ":3\r\n:3\r\n") == ":3\r\n:3\r\n")
        for (i, s) in subs.enumerated() {
            let head = i == 1 ? ">" : "*"
            let expected = "\(head)3\r\n$7\r\nmessage\r\n$3\r\nbig\r\n$200000\r\n\(payload)\r\n\(head)3\r\n$7\r\nmessage\r\n$3\r\nbig\r\n$5\r\nsmall\r\n"
            #expect(s.read(matching: expected) == expected)
        }
    }
}
