import Foundation
import Testing

/// The publisher travels with the message (issue 11 §3): the kernel records
/// the user of the connection that published or appended each entry
/// (Protocol/LEDGER.md §3), pushes it with every task (Protocol/AGENTS.md
/// §3), and shows it to a Redis client that asks (CLIENT PUBLISHER,
/// Protocol/PROTOCOL.md §6). Nothing a client sends can set it.
@Suite struct PublisherTests {
    static let config = """
        ledger:
          fsync: always
        agents:
          - id: w
            subscribes: ["jobs.*"]
            max_deliver: 1
          - id: echo
            kind: builtin
            subscribes: ["tasks.echo"]
        """

    /// A client's own `publisher` field, or its client name, changes
    /// nothing: the task says the user its connection is. A field named
    /// `_publisher` is refused (a value of that text is any value).
    @Test func aTaskCarriesItsPublisherAndNoFieldOrNameForgesIt() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let instance = try RawClient(port: server.port)
        let tasks = RESPReader(instance)
        instance.send("HELLO 3\r\n")
        _ = tasks.next()
        instance.send("AGENT JOIN w\r\n")
        #expect(tasks.next() == .simple("OK"))
        let producer = try RawClient(port: server.port)
        producer.send("CLIENT SETNAME mallory\r\nXADD jobs.a 5-1 publisher mallory _publisher mallory payload p\r\n"
                      + "XADD jobs.a 5-1 _publisher mallory\r\nXADD jobs.a 5-1 publisher _publisher payload p\r\n")
        let refused = "-ERR the field name '_publisher' is reserved: the kernel adds it, naming each entry's publisher,"
            + " to entries read with CLIENT PUBLISHER ON\r\n"
        let replies = "+OK\r\n" + refused + refused + "$3\r\n5-1\r\n"
        #expect(producer.read(matching: replies) == replies)
        let task = try #require(tasks.next(timeout: 10), "no task pushed")
        #expect(task.task?.publisher == "default", "\(task)")
        #expect(task.task?.payload == #"{"publisher":"_publisher","payload":"p"}"#)
        instance.send("ACK jobs.a 5-1\r\n")
        #expect(tasks.next() == .integer(1))
        // A PUBLISH too: its one field is `payload`, its publisher the user.
        producer.send("PUBLISH jobs.b hello\r\n")
        #expect(producer.read(matching: ":0\r\n") == ":0\r\n")
        let published = try #require(tasks.next(timeout: 10)?.task, "no task for the PUBLISH")
        #expect(published.payload == "hello" && published.publisher == "default")
    }

    /// A dead letter is written by the kernel but keeps the publisher of the
    /// task it gives up on; a built-in agent's result is published as the
    /// agent. A Redis client sees both with CLIENT PUBLISHER ON.
    @Test func deadLettersKeepTheTasksPublisherAndBuiltinsPublishAsThemselves() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let instance = try RawClient(port: server.port)
        let tasks = RESPReader(instance)
        instance.send("AGENT JOIN w\r\n")
        #expect(tasks.next() == .simple("OK"))
        let producer = try RawClient(port: server.port)
        producer.send("XADD jobs.a 7-1 payload boom\r\n")
        #expect(producer.read(matching: "$3\r\n7-1\r\n") == "$3\r\n7-1\r\n")
        #expect(try #require(tasks.next(timeout: 10)?.task).id == "7-1")
        instance.send("NACK jobs.a 7-1\r\n")  // max_deliver 1: dead-lettered
        #expect(tasks.next() == .integer(1))

        let reader = try RawClient(port: server.port)
        let replies = RESPReader(reader)
        reader.send("CLIENT PUBLISHER ON\r\n")
        #expect(replies.next() == .simple("OK"))
        var letter: [String] = []
        let deadline = Date().addingTimeInterval(10)
        while letter.isEmpty && Date() < deadline {
            reader.send("XRANGE dead.w - +\r\n")
            if case .array(let entries)? = replies.next(), let e = entries.first, case .array(let parts) = e, parts.count == 2 {
                letter = parts[1].strings
            }
        }
        #expect(letter.suffix(4) == ["payload", "boom", "_publisher", "default"], "\(letter)")

        // The built-in echo publishes the request to its reply_to as itself.
        producer.send(command: "XADD", "tasks.echo", "*", "payload", #"{"reply_to":"echo.out"}"#)
        _ = RESPReader(producer).next()
        var echoed: [String] = []
        let until = Date().addingTimeInterval(10)
        while echoed.isEmpty && Date() < until {
            reader.send("XRANGE echo.out - +\r\n")
            if case .array(let entries)? = replies.next(), let e = entries.first, case .array(let parts) = e, parts.count == 2 {
                echoed = parts[1].strings
            }
        }
        #expect(echoed == ["payload", #"{"reply_to":"echo.out"}"#, "_publisher", "agent:echo"], "\(echoed)")
    }

    /// CLIENT PUBLISHER is per connection and off by default: replies stay
    /// Redis's byte for byte until a client asks; ON adds one last pair to
    /// every entry of XRANGE, XREVRANGE, XREAD and XREADGROUP; RESET and OFF
    /// take it away.
    @Test func clientPublisherIsAnOptInOfOneConnection() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: server.port)
        let other = try RawClient(port: server.port)
        c.send("XADD orders 1-1 item pen\r\n")
        #expect(c.read(matching: "$3\r\n1-1\r\n") == "$3\r\n1-1\r\n")
        let plain = "*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$4\r\nitem\r\n$3\r\npen\r\n"
        let shown = "*1\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$4\r\nitem\r\n$3\r\npen\r\n$10\r\n_publisher\r\n$7\r\ndefault\r\n"
        c.send("XRANGE orders - +\r\n")
        #expect(c.read(matching: plain) == plain)
        c.send("CLIENT PUBLISHER ON\r\nXRANGE orders - +\r\nXREVRANGE orders + -\r\n")
        #expect(c.read(matching: "+OK\r\n" + shown + shown) == "+OK\r\n" + shown + shown)
        // Another connection is untouched.
        other.send("XRANGE orders - +\r\n")
        #expect(other.read(matching: plain) == plain)
        let streams = "*1\r\n*2\r\n$6\r\norders\r\n" + shown
        c.send("XREAD STREAMS orders 0\r\n")
        #expect(c.read(matching: streams) == streams)
        c.send("XGROUP CREATE orders g 0\r\nXREADGROUP GROUP g me STREAMS orders >\r\n")
        #expect(c.read(matching: "+OK\r\n" + streams) == "+OK\r\n" + streams)
        c.send("CLIENT PUBLISHER maybe\r\nCLIENT PUBLISHER\r\n")
        let errors = "-ERR syntax error\r\n-ERR wrong number of arguments for 'client|publisher' command\r\n"
        #expect(c.read(matching: errors) == errors)
        c.send("RESET\r\nXRANGE orders - +\r\nCLIENT PUBLISHER on\r\nCLIENT PUBLISHER OFF\r\nXRANGE orders - +\r\n")
        let after = "+RESET\r\n" + plain + "+OK\r\n+OK\r\n" + plain
        #expect(c.read(matching: after) == after)
    }

    /// With CLIENT PUBLISHER ON a subscriber's messages end with one more
    /// element, the publisher's user: `message` and `pmessage`, RESP2 and
    /// RESP3, small frames and large (shared) ones, a PUBLISH, an XADD
    /// delivered live and a built-in agent's result. Subscribers without
    /// it get Redis's bytes from the same PUBLISH.
    @Test func messagesCarryThePublisherToASubscriberThatAsks() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            agents:
              - id: echo
                kind: builtin
                subscribes: ["tasks.echo"]
            """, logLevel: "info")
        let plain = try RawClient(port: server.port)
        let resp2 = try RawClient(port: server.port)
        let resp3 = try RawClient(port: server.port)
        plain.send("SUBSCRIBE a\r\n")
        _ = plain.readReplies(1)
        resp2.send("CLIENT PUBLISHER ON\r\nSUBSCRIBE a\r\nPSUBSCRIBE a*\r\n")
        _ = resp2.readReplies(3)
        resp3.send("HELLO 3\r\nCLIENT PUBLISHER ON\r\nSUBSCRIBE a\r\n")
        _ = resp3.readReplies(3)
        let alice = try RawClient(port: server.port)
        alice.send("AUTH alice alice-pw\r\nPUBLISH a hi\r\n")
        #expect(alice.read(matching: "+OK\r\n:4\r\n") == "+OK\r\n:4\r\n")
        let message = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
        #expect(plain.read(matching: message) == message)
        let shown = "*4\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n$5\r\nalice\r\n"
            + "*5\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$2\r\nhi\r\n$5\r\nalice\r\n"
        #expect(resp2.read(matching: shown) == shown)
        let pushed = ">4\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n$5\r\nalice\r\n"
        #expect(resp3.read(matching: pushed) == pushed)

        // A large message is framed once per kind of subscriber and shared.
        let big = String(repeating: "x", count: 20_000)
        alice.send(RawClient.command(["PUBLISH", "a", big]))
        #expect(alice.read(matching: ":4\r\n") == ":4\r\n")
        let bigPlain = "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n"
        #expect(plain.read(matching: bigPlain) == bigPlain)
        let bigShown = "*4\r\n$7\r\nmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n$5\r\nalice\r\n"
            + "*5\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$20000\r\n\(big)\r\n$5\r\nalice\r\n"
        #expect(resp2.read(matching: bigShown) == bigShown)
        let bigPushed = ">4\r\n$7\r\nmessage\r\n$1\r\na\r\n$20000\r\n\(big)\r\n$5\r\nalice\r\n"
        #expect(resp3.read(matching: bigPushed) == bigPushed)

        // An XADD delivered live (its entry's payload) names its appender
        // (`default`); the built-in echo's result names the agent.
        resp3.send("SUBSCRIBE echo.out\r\n")
        _ = resp3.readReplies(1)
        let producer = try RawClient(port: server.port)
        producer.send(RawClient.command(["XADD", "a", "*", "payload", "entry"]))
        _ = producer.readReplies()
        let entry = ">4\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nentry\r\n$7\r\ndefault\r\n"
        #expect(resp3.read(matching: entry) == entry)
        producer.send(RawClient.command(["XADD", "tasks.echo", "*", "payload", #"{"reply_to":"echo.out"}"#]))
        _ = producer.readReplies()
        let echoed = ">4\r\n$7\r\nmessage\r\n$8\r\necho.out\r\n$23\r\n{\"reply_to\":\"echo.out\"}\r\n$10\r\nagent:echo\r\n"
        #expect(resp3.read(matching: echoed) == echoed)
    }
}
