import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Reading whole replies
//
// Tests wait for the fact they need — `count` complete RESP values, or the
// reply to a PING sent after everything else — never for a quiet period, which
// on a loaded machine ends before a slow reply arrives. Values are framed in
// what MSG_PEEK shows, and only their bytes are consumed, so reads by other
// means (`read(count:)`, `RESPReader`, `recv` on `fd`) can follow.

extension RawClient {
    /// How long a reader waits for a reply before giving up: long, because
    /// only a failing test waits it out, and a loaded machine is slow.
    package static let replyTimeout: TimeInterval = 10

    /// RESP2 subscribed state answers PING with this push instead of +PONG.
    static let subscribedPong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n"

    /// Reads `count` whole RESP values (RESP2 or RESP3; aggregates with
    /// everything in them) and returns their bytes as text. On timeout or EOF
    /// it returns what did arrive, so the assertion on it fails showing that.
    package func readReplies(_ count: Int = 1, timeout: TimeInterval = replyTimeout) -> String {
        guard count > 0 else { return "" }
        var taken = 0
        let bytes = readValues(timeout: timeout) { _ in
            taken += 1
            return taken == count
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends PING and returns everything that arrived before its reply (the
    /// replies to what was sent earlier, and pushes), consuming the reply.
    /// The server answers in order, so when the PONG is here so is everything
    /// the earlier commands caused on this connection. Not for use inside
    /// MULTI (PING is queued there) or when the text itself holds a PONG.
    package func readBeforePong(timeout: TimeInterval = replyTimeout) -> String {
        send("PING\r\n")
        var pong = 0
        let bytes = readValues(timeout: timeout) { value in
            let isPong = value.elementsEqual("+PONG\r\n".utf8) || value.elementsEqual(Self.subscribedPong.utf8)
            if isPong { pong = value.count }
            return isPong
        }
        return String(decoding: bytes.dropLast(pong), as: UTF8.self)
    }

    /// Reads until the server closes the connection (or `timeout`), for
    /// protocols that end their answer by closing (HTTP/1.0 style replies).
    package func readToEnd(timeout: TimeInterval = replyTimeout) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        defer { applyTimeout(self.timeout) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while let left = remaining(deadline) {
            applyTimeout(left)
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 {
                out += buf[0..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                break
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Framing

    /// Seconds left before `deadline`, or nil when it has passed.
    private func remaining(_ deadline: Date) -> TimeInterval? {
        let left = deadline.timeIntervalSinceNow
        return left > 0 ? left : nil
    }

    /// Reads whole values, handing each to `done`, until it returns true;
    /// returns their bytes. Stops early on timeout, EOF or bytes that are not
    /// RESP, returning what arrived. Consumes nothing past the last value
    /// but the start of one it was still waiting for.
    private func readValues(timeout: TimeInterval, until done: (ArraySlice<UInt8>) -> Bool) -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        defer { applyTimeout(self.timeout) }
        // Consumed bytes: whole values handed over, then the start of the next.
        var data: [UInt8] = []
        var complete = 0
        // Small at first (most reads are one short reply), doubled while a
        // value is still incomplete when it was filled.
        var peek = [UInt8](repeating: 0, count: 4096)
        while let left = remaining(deadline) {
            applyTimeout(left)
            let n = recv(fd, &peek, peek.count, Int32(MSG_PEEK))
            if n == 0 { break }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                break
            }
            let before = data.count
            data += peek[0..<n]
            scan: while true {
                switch Self.valueEnd(data, from: complete) {
                case .complete(let end):
                    if done(data[complete..<end]) {
                        // Take only the bytes up to here from the socket.
                        _ = consume(end - before)
                        return Array(data[0..<end])
                    }
                    complete = end
                case .incomplete:
                    break scan
                case .malformed:
                    _ = consume(n)
                    return data
                }
            }
            guard consume(n) else { break }
            if n == peek.count && peek.count < 1 << 20 { peek = [UInt8](repeating: 0, count: peek.count * 2) }
        }
        return data
    }

    /// Receives `count` bytes that MSG_PEEK has shown are there.
    private func consume(_ count: Int) -> Bool {
        var left = count
        var sink = [UInt8](repeating: 0, count: min(max(count, 1), 65536))
        while left > 0 {
            let n = recv(fd, &sink, min(sink.count, left), 0)
            if n <= 0 { return false }
            left -= n
        }
        return true
    }

    enum ValueEnd: Equatable { case complete(Int), incomplete, malformed }

    /// Where the RESP value starting at `start` ends in `bytes`. Pointer
    /// code: a reply of a hundred thousand entries is framed again each time
    /// more of it arrives, in a debug build.
    static func valueEnd(_ bytes: [UInt8], from start: Int) -> ValueEnd {
        bytes.withUnsafeBufferPointer { valueEnd($0, from: start) }
    }

    private static func valueEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> ValueEnd {
        guard let base = bytes.baseAddress, start < bytes.count,
              let found = memchr(base + start, 10, bytes.count - start) else { return .incomplete }
        let lf = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        guard lf - start >= 2, bytes[lf - 1] == 13 else { return .malformed }
        let type = bytes[start]
        // The number after the type byte: a length or a count (nil for text).
        var number: Int? = nil
        var i = start + 1
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        if i < lf - 1 {
            var n = 0
            while i < lf - 1, bytes[i] >= 48, bytes[i] <= 57, n < Int.max / 10 - 10 {
                n = n * 10 + Int(bytes[i] - 48)
                i += 1
            }
            if i == lf - 1 { number = negative ? -n : n }
        }
        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard let n = number else { return .malformed }
            if n < 0 { return .complete(lf + 1) }
            let end = lf + 1 + n + 2
            return end <= bytes.count ? .complete(end) : .incomplete
        case UInt8(ascii: "*"), UInt8(ascii: ">"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let n = number else { return .malformed }
            let pairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
            // An attribute map (`|`) comes before the value it describes.
            let items = max(n, 0) * (pairs ? 2 : 1) + (type == UInt8(ascii: "|") ? 1 : 0)
            var end = lf + 1
            for _ in 0..<items {
                let next = valueEnd(bytes, from: end)
                guard case .complete(let e) = next else { return next }
                end = e
            }
            return .complete(end)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: ","),
             UInt8(ascii: "#"), UInt8(ascii: "("):
            return .complete(lf + 1)
        default:
            return .malformed
        }
    }
}
