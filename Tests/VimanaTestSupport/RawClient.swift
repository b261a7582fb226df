import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP client: sends bytes, reads bytes, with timeouts. Tests compare
/// exact reply bytes: the readers that wait for whole RESP values
/// (RawClient+Replies.swift) return them as they came.
package final class RawClient {
    package let fd: Int32
    /// The receive timeout reads go back to after one of their own.
    private(set) var timeout: TimeInterval = 5

    /// The socket is this object's only once connected: a class whose
    /// stored properties are all set runs its `deinit` when `init` throws,
    /// so a failed connect that set `fd` and closed it was closed twice, and
    /// the second close took whatever another thread had opened on that
    /// number meanwhile (a reader of StallTests' 9,000, a Foundation
    /// Process's exit-watch socket, which hung its waitUntilExit).
    package init(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 5) throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw TestFailure("socket failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(socketFD)
            throw TestFailure("connect to \(host):\(port) failed: \(reason)")
        }
        fd = socketFD
        setTimeout(timeout)
    }

    deinit { close(fd) }

    package func setTimeout(_ seconds: TimeInterval) {
        timeout = seconds
        applyTimeout(seconds)
    }

    /// Sets SO_RCVTIMEO without changing `timeout` (for a read's own
    /// deadline). At least 1 ms: a zero timeval would mean wait forever.
    func applyTimeout(_ requested: TimeInterval) {
        let seconds = max(requested, 0.001)
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    package func send(_ text: String) { send(Array(text.utf8)) }

    package func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Encodes a command as a RESP multibulk.
    package static func command(_ args: [String]) -> String {
        "*\(args.count)\r\n" + args.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    package func send(command args: String...) { send(Self.command(args)) }

    /// Reads exactly `count` bytes, or fewer on timeout/EOF.
    package func read(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = recv(fd, &buf, min(buf.count, count - out.count), 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// Reads as many bytes as `expected` has and returns them as text.
    package func read(matching expected: String) -> String {
        String(decoding: read(count: expected.utf8.count), as: UTF8.self)
    }

    /// Reads whatever arrives until `seconds` of silence or EOF. Only for
    /// checking that nothing arrives: a loaded machine can be silent for
    /// longer than `seconds` before a reply, so to read replies use
    /// `readReplies(_:)` or `readBeforePong()`, which wait for them.
    package func readAvailable(quiet seconds: TimeInterval = 0.3) -> String {
        applyTimeout(seconds)
        defer { applyTimeout(timeout) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True when the server closes the connection (EOF) within `timeout`.
    package func isClosedByPeer(timeout: TimeInterval = 3) -> Bool {
        applyTimeout(0.2)
        defer { applyTimeout(timeout) }
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { return true }
            if n < 0 && errno == ECONNRESET { return true }
        }
        return false
    }
}

/// Makes RESP readable in failure messages.
package func visible(_ s: String) -> String {
    s.replacingOccurrences(of: "\r\n", with: "⏎")
}
