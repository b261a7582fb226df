/// The in-place scanner of pub/sub message frames used by `Subscriber`.
enum MessageFrame {
    /// `3\r\n$7\r\nmessage\r\n`: the 16 bytes after `*` or `>`, as two words.
    private static let head: (UInt64, UInt64) = {
        let bytes = Array("3\r\n$7\r\nmessage\r\n".utf8)
        return bytes.withUnsafeBytes { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }()

    /// Scans one message frame at `p`. Returns its length in bytes (with the
    /// payload's offset and length in the inout arguments), 0 when the frame
    /// is incomplete, or -1 when the bytes are not a message frame.
    @inline(__always)
    static func scan(_ p: UnsafeMutablePointer<UInt8>, _ count: Int,
                     _ payload: inout Int, _ payloadLength: inout Int) -> Int {
        let marker = p[0]
        guard marker == 42 || marker == 62 else { return -1 }  // '*' or '>'
        guard count >= 17 else { return 0 }
        let raw = UnsafeRawPointer(p + 1)
        guard raw.loadUnaligned(as: UInt64.self) == head.0,
              raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == head.1 else { return -1 }
        var i = 17
        let topicLength = bulkHeader(p, count, &i)
        guard topicLength >= 0 else { return topicLength == -1 ? 0 : -1 }
        i &+= topicLength &+ 2
        let length = bulkHeader(p, count, &i)
        guard length >= 0 else { return length == -1 ? 0 : -1 }
        payload = i
        payloadLength = length
        i &+= length &+ 2
        return i <= count ? i : 0
    }

    /// Reads `$L\r\n` at `i` and advances past it. Returns L, -1 when
    /// incomplete, -2 when malformed.
    @inline(__always)
    private static func bulkHeader(_ p: UnsafeMutablePointer<UInt8>, _ count: Int, _ i: inout Int) -> Int {
        guard i < count else { return -1 }
        guard p[i] == 36 else { return -2 }  // '$'
        var j = i &+ 1
        var value = 0
        while true {
            guard j < count else { return -1 }
            let c = p[j]
            if c == 13 { break }
            let digit = c &- 48
            guard digit <= 9, value < (1 << 40) else { return -2 }
            value = value &* 10 &+ Int(digit)
            j &+= 1
        }
        guard j &+ 1 < count else { return -1 }
        guard p[j &+ 1] == 10 else { return -2 }
        i = j &+ 2
        return value
    }

    /// A one-line description of a frame that is not a message (an error
    /// reply from the server, most likely).
    static func describeUnexpected(_ p: UnsafeMutablePointer<UInt8>, _ count: Int) -> String {
        let shown = String(decoding: UnsafeBufferPointer(start: p, count: min(count, 80)), as: UTF8.self)
        if p[0] == 45 { return "server error: " + (shown.split(separator: "\r").first.map(String.init) ?? shown) }
        return "unexpected frame: " + String(reflecting: shown)
    }
}
