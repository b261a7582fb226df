import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads RESP replies from a connection as a stream, for tests that move
/// hundreds of thousands of them: bytes are received straight into one raw
/// buffer and lines and whole values are consumed in place, without
/// building values or parsing a reply again from its start as more bytes
/// arrive (`RESPReader` does both, fine for small replies). Pointer code,
/// so that it keeps up with the server in a debug build.
package final class ReplyStream {
    private var client: RawClient?
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity = 1 << 20
    private var start = 0
    private var end = 0

    package init(port: Int) throws {
        client = try RawClient(port: port)
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    package func send(_ text: String) { client?.send(text) }
    package func send(_ bytes: [UInt8]) { client?.send(bytes) }

    package func close() { client = nil }

    /// Reads more bytes; false on EOF or when `deadline` passes.
    private func fill(until deadline: Date) -> Bool {
        guard let client else { return false }
        if start == end {
            start = 0
            end = 0
        } else if capacity - end < 1 << 16 {
            if start > 0 {
                (base).update(from: base + start, count: end - start)
                end -= start
                start = 0
            }
            if capacity - end < 1 << 16 {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                grown.update(from: base, count: end)
                base.deallocate()
                base = grown
                capacity *= 2
            }
        }
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            client.setTimeout(min(left, 0.25))
            let n = recv(client.fd, base + end, capacity - end, 0)
            if n > 0 {
                end += n
                return true
            }
            if n == 0 { return false }
        }
    }

    /// Index of the LF ending the line at `start`, or nil when not all here.
    private func lineEnd() -> Int? {
        guard end > start, let p = memchr(base + start, 10, end - start) else { return nil }
        return start + (p.assumingMemoryBound(to: UInt8.self) - (base + start))
    }

    /// The next line without its CRLF, or nil on timeout.
    package func line(timeout: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let lf = lineEnd() {
                let s = String(decoding: UnsafeBufferPointer(start: base + start, count: max(0, lf - 1 - start)), as: UTF8.self)
                start = lf + 1
                return s
            }
            guard fill(until: deadline) else { return nil }
        }
    }

    /// The next `n` lines (fewer on timeout).
    package func lines(_ n: Int, timeout: Double = 30) -> [String] {
        var out: [String] = []
        for _ in 0..<n {
            guard let l = line(timeout: timeout) else { break }
            out.append(l)
        }
        return out
    }

    /// Exactly `count` bytes as text (fewer on timeout).
    package func read(bytes count: Int, timeout: Double = 30) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while end - start < count {
            guard fill(until: deadline) else { break }
        }
        let n = min(count, end - start)
        let s = String(decoding: UnsafeBufferPointer(start: base + start, count: n), as: UTF8.self)
        start += n
        return s
    }

    /// Drops `count` bytes; false when they do not all arrive in time.
    package func skip(bytes count: Int, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var left = count
        while true {
            let have = min(left, end - start)
            start += have
            left -= have
            if left == 0 { return true }
            guard fill(until: deadline) else { return false }
        }
    }

    /// A bulk string reply's text; nil for anything else or on timeout.
    package func bulk(timeout: Double = 30) -> String? {
        guard let head = line(timeout: timeout), head.hasPrefix("$"), let n = Int(head.dropFirst()), n >= 0 else { return nil }
        let s = read(bytes: n, timeout: timeout)
        guard skip(bytes: 2, timeout: timeout), s.utf8.count == n else { return nil }
        return s
    }

    /// Skips `n` whole values (aggregates with everything in them); false
    /// on timeout or on a malformed reply.
    package func skip(replies n: Int, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var left = n
        while left > 0 {
            guard let lf = lineEnd() else {
                guard fill(until: deadline) else { return false }
                continue
            }
            let type = base[start]
            // The number after the type byte (lengths and counts; -1 for null).
            var i = start + 1, value = 0, negative = false
            if i < lf && base[i] == 45 { negative = true; i += 1 }
            while i < lf && base[i] >= 48 && base[i] <= 57 {
                value = value * 10 + Int(base[i] - 48)
                i += 1
            }
            if negative { value = -value }
            start = lf + 1
            left -= 1
            switch type {
            case 36, 61, 33:  // $ = !
                if value >= 0 && !skip(bytes: value + 2, timeout: max(0.01, deadline.timeIntervalSinceNow)) { return false }
            case 42, 62, 126:  // * > ~
                left += max(value, 0)
            case 37:  // %
                left += max(value, 0) * 2
            default:
                break
            }
        }
        return true
    }
}

/// Builds RESP commands as bytes for tests that send hundreds of thousands.
package struct CommandBytes {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    /// A multibulk header for `count` arguments.
    package mutating func header(_ count: Int) {
        bytes.append(42)
        number(count)
        bytes += [13, 10]
    }

    package mutating func argument(_ text: String) {
        bytes.append(36)
        number(text.utf8.count)
        bytes += [13, 10]
        bytes += text.utf8
        bytes += [13, 10]
    }

    /// An argument `prefix` followed by the decimal `n` (no interpolation).
    package mutating func argument(_ prefix: String, _ n: Int, suffix: String = "") {
        bytes.append(36)
        number(prefix.utf8.count + Self.digits(n) + suffix.utf8.count)
        bytes += [13, 10]
        bytes += prefix.utf8
        number(n)
        bytes += suffix.utf8
        bytes += [13, 10]
    }

    private mutating func number(_ n: Int) {
        var divisor = 1
        while divisor * 10 <= n { divisor *= 10 }
        var rest = n
        while divisor > 0 {
            bytes.append(UInt8(48 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Decimal digits of `n` (≥ 0).
    package static func digits(_ n: Int) -> Int {
        var d = 1, v = n
        while v >= 10 { v /= 10; d += 1 }
        return d
    }
}
