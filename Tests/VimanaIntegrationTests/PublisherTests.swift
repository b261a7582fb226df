import Foundation
import Testing

/// The publisher travels with the message (issue 11 §3): the kernel records
/// the user of the connection that published or appended each entry
/// (Protocol/LEDGER.md §3) and pushes it with every task
/// (Protocol/AGENTS.md §3). Nothing a client sends can set it.
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

    /// A client's own `publisher` or `_publisher` field, or its client name,
    /// changes nothing: the task says the user its connection is.
    @Test func aTaskCarriesItsPublisherAndNoFieldOrNameForgesIt() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let instance = try RawClient(port: server.port)
        let tasks = RESPReader(instance)
        instance.send("HELLO 3\r\n")
        _ = tasks.next()
        instance.send("AGENT JOIN w\r\n")
        #expect(tasks.next() == .simple("OK"))
        let producer = try RawClient(port: server.port)
        producer.send("CLIENT SETNAME mallory\r\nXADD jobs.a 5-1 publisher mallory _publisher mallory payload p\r\n")
        #expect(producer.read(matching: "+OK\r\n$3\r\n5-1\r\n") == "+OK\r\n$3\r\n5-1\r\n")
        let task = try #require(tasks.next(timeout: 10), "no task pushed")
        #expect(task.task?.publisher == "default", "\(task)")
        #expect(task.task?.payload == #"{"publisher":"mallory","_publisher":"mallory","payload":"p"}"#)
        instance.send("ACK jobs.a 5-1\r\n")
        #expect(tasks.next() == .integer(1))
        // A PUBLISH too: its one field is `payload`, its publisher the user.
        producer.send("PUBLISH jobs.b hello\r\n")
        #expect(producer.read(matching: ":0\r\n") == ":0\r\n")
        let published = try #require(tasks.next(timeout: 10)?.task, "no task for the PUBLISH")
        #expect(published.payload == "hello" && published.publisher == "default")
    }
}
