import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The readers tests wait with (VimanaTestSupport's RawClient+Replies): whole
/// RESP values, exactly their bytes, whatever else is already buffered. The
/// test plays the server on a loopback listener.
@Suite struct ReplyReaderTests {
    /// A client connected to a listener, and the server end of it.
    func pair() throws -> (RawClient, Int32, LoopbackListener) {
        let listener = try LoopbackListener()
        let client = try RawClient(port: listener.port)
        return (client, listener.accept(), listener)
    }

    @Test func readRepliesTakesWholeValuesAndLeavesTheRest() throws {
        let (c, server, listener) = try pair()
        defer { close(server); withExtendedLifetime(listener) {} }
        let values = ["+OK\r\n", "-ERR no\r\n", ":-7\r\n", "$-1\r\n", "$5\r\na\r\nbc\r\n",
                      "*2\r\n*1\r\n$1\r\nx\r\n%1\r\n+k\r\n_\r\n", ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$0\r\n\r\n",
                      "*-1\r\n", "~1\r\n,1.5\r\n", "|1\r\n+key\r\n+v\r\n#t\r\n"]
        writeString(server, values.joined() + "+NEXT\r\n")
        #expect(c.readReplies(values.count) == values.joined())
        // Nothing past the last value was consumed.
        #expect(c.read(matching: "+NEXT\r\n") == "+NEXT\r\n")
    }

    @Test func readRepliesWaitsForTheRestOfAValue() throws {
        let (c, server, listener) = try pair()
        defer { close(server); withExtendedLifetime(listener) {} }
        // The rest is written only once the client has consumed the head of
        // the reply: it cannot have seen it, so it waited for it.
        writeString(server, "*2\r\n$3\r\nab")
        let clientFD = c.fd
        let writer = Thread {
            var queued: Int32 = 1
            while queued > 0 {
                _ = ioctl(clientFD, UInt(FIONREAD), &queued)
                sched_yield()
            }
            writeString(server, "c\r\n:1\r\n")
        }
        writer.start()
        #expect(c.readReplies() == "*2\r\n$3\r\nabc\r\n:1\r\n")
    }

    @Test func readRepliesReturnsWhatArrivedWhenTheRestNeverComes() throws {
        let (c, server, listener) = try pair()
        defer { withExtendedLifetime(listener) {} }
        writeString(server, "+one\r\n$10\r\nshort")
        #expect(c.readReplies(2, timeout: 0.2) == "+one\r\n$10\r\nshort")
        close(server)
        #expect(c.readReplies() == "")
    }

    @Test func readBeforePongSendsAPingAndStopsAtItsReply() throws {
        let (c, server, listener) = try pair()
        defer { close(server); withExtendedLifetime(listener) {} }
        writeString(server, "+OK\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n+PONG\r\n:5\r\n")
        #expect(c.readBeforePong() == "+OK\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n")
        #expect(String(decoding: readBytes(server, count: 6), as: UTF8.self) == "PING\r\n")
        #expect(c.readReplies() == ":5\r\n")
        // RESP2's subscribed form of the reply counts too.
        writeString(server, "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(c.readBeforePong() == "")
    }

    @Test func sentinelReaderCutsStretchesAtItsOwnPingsReplies() throws {
        let (c, server, listener) = try pair()
        defer { close(server); withExtendedLifetime(listener) {} }
        let r = SentinelReader(c)
        r.sendSentinel(tag: 1)
        r.sendSentinel(tag: 2)
        let pings = RawClient.command(["PING", SentinelReader.token(1)]) + RawClient.command(["PING", SentinelReader.token(2)])
        #expect(String(decoding: readBytes(server, count: pings.utf8.count), as: UTF8.self) == pings)
        func stretches(_ timeout: TimeInterval = RawClient.replyTimeout) -> [String] {
            r.receive(timeout: timeout).map { "\($0.tag) \($0.text)" }
        }
        func bulk(_ s: String) -> String { "$\(s.utf8.count)\r\n\(s)\r\n" }
        // A reply to a test's own PING is not the sentinel's.
        writeString(server, "+PONG\r\n" + bulk("vimana-test-sentinel-0") + bulk(SentinelReader.token(1)) + "*3\r\n$7\r\nmess")
        #expect(stretches() == ["1 +PONG\r\n\(bulk("vimana-test-sentinel-0"))"])
        #expect(r.outstanding == [2])
        // A stretch waits for its sentinel (a blocked connection's does).
        #expect(stretches(0.05) == [])
        // RESP2's subscribed form of the reply counts too.
        writeString(server, "age\r\n$1\r\na\r\n$1\r\nm\r\n*2\r\n$4\r\npong\r\n" + bulk(SentinelReader.token(2)))
        #expect(stretches() == ["2 *3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"])
        #expect(!r.waiting)
        // A connection that ends gives what came to the oldest sentinel.
        r.sendSentinel(tag: 3)
        r.sendSentinel(tag: 4)
        writeString(server, "+OK\r\n$5\r\nab")
        shutdown(server, Int32(SHUT_WR))
        #expect(stretches() == ["3 +OK\r\n$5\r\nab"])
        #expect(r.closed && !r.waiting)
    }

    @Test func readToEndReadsUntilThePeerCloses() throws {
        let (c, server, listener) = try pair()
        defer { withExtendedLifetime(listener) {} }
        writeString(server, "HTTP/1.1 200 OK\r\n\r\n")
        writeString(server, "body")
        close(server)
        #expect(c.readToEnd() == "HTTP/1.1 200 OK\r\n\r\nbody")
    }
}
