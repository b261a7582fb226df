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
        #expect(String(decoding: readAvailable(server), as: UTF8.self) == "PING\r\n")
        #expect(c.readReplies() == ":5\r\n")
        // RESP2's subscribed form of the reply counts too.
        writeString(server, "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(c.readBeforePong() == "")
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
