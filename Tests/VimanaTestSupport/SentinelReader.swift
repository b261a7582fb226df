import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One connection's replies, cut into stretches by sentinels: after the
/// commands of a step a test sends `PING <token>`, and everything that
/// arrives before that PING's reply is what the step's commands caused on
/// this connection (replies and pushes: the server answers in order). Unlike
/// `readBeforePong`, the token makes the sentinel's reply unlike any reply a
/// test's own PING gets, and a stretch may stay open while the connection is
/// blocked (XREAD BLOCK): its sentinel is answered once the read is.
///
/// The reply is `$N token` (RESP2 and RESP3), or in RESP2's subscribed state
/// the push `*2 $4 pong $N token`, as Redis answers a PING with an argument.
/// Not for use inside MULTI (the PING would be queued).
package final class SentinelReader {
    package let client: RawClient
    /// Tags of the sentinels sent and not yet answered, oldest first.
    package private(set) var outstanding: [Int] = []
    /// The connection ended (EOF, reset, or bytes that are not RESP): no
    /// sentinel will be answered any more.
    package private(set) var closed = false
    private var data: [UInt8] = []
    /// Start of the open stretch, and of the first value not yet framed.
    private var stretch = 0
    private var framed = 0

    package init(_ client: RawClient) { self.client = client }

    /// Whether a sentinel waits for its reply on a connection still open.
    package var waiting: Bool { !outstanding.isEmpty && !closed }

    /// Sends the sentinel tagged `tag` (a step's number, say).
    package func sendSentinel(tag: Int) {
        client.send(RawClient.command(["PING", Self.token(tag)]))
        outstanding.append(tag)
    }

    /// Receives for up to `timeout` s, returning as soon as a stretch is
    /// complete: each answered sentinel's tag with the text before it. When
    /// the connection ends, what arrived goes to the oldest sentinel and the
    /// rest get nothing. Empty when nothing was completed in time.
    package func receive(timeout: TimeInterval) -> [(tag: Int, text: String)] {
        guard waiting else { return [] }
        let deadline = Date().addingTimeInterval(timeout)
        defer { client.applyTimeout(client.timeout) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var done = frame()
            if !done.isEmpty || closed { return done }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return [] }
            client.applyTimeout(left)
            let n = recv(client.fd, &buffer, buffer.count, 0)
            if n > 0 {
                data += buffer[0..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                done = frame()
                if let first = outstanding.first {
                    done.append((first, String(decoding: data[stretch...], as: UTF8.self)))
                }
                end()
                return done
            }
        }
    }

    /// Frames the values received, closing a stretch at each sentinel reply.
    private func frame() -> [(tag: Int, text: String)] {
        var done: [(tag: Int, text: String)] = []
        while let tag = outstanding.first {
            switch RawClient.valueEnd(data, from: framed) {
            case .complete(let end):
                if Self.isReply(data[framed..<end], to: tag) {
                    done.append((tag, String(decoding: data[stretch..<framed], as: UTF8.self)))
                    outstanding.removeFirst()
                    stretch = end
                }
                framed = end
            case .incomplete:
                compact()
                return done
            case .malformed:
                done.append((tag, String(decoding: data[stretch...], as: UTF8.self)))
                end()
                return done
            }
        }
        compact()
        return done
    }

    /// Drops the bytes of the stretches handed over.
    private func compact() {
        data.removeFirst(stretch)
        framed -= stretch
        stretch = 0
    }

    private func end() {
        closed = true
        outstanding = []
        data = []
        stretch = 0
        framed = 0
    }

    /// The argument of the PING tagged `tag`.
    package static func token(_ tag: Int) -> String { "vimana-test-sentinel-\(tag)" }

    static func isReply(_ value: ArraySlice<UInt8>, to tag: Int) -> Bool {
        let token = token(tag)
        let bulk = "$\(token.utf8.count)\r\n\(token)\r\n"
        return value.elementsEqual(bulk.utf8) || value.elementsEqual(("*2\r\n$4\r\npong\r\n" + bulk).utf8)
    }
}
