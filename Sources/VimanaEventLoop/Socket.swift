import CLinuxShim
import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// Thin, allocation-free wrappers over the socket calls the loop needs.
public enum Socket {
    /// A non-blocking IPv4 TCP listener bound to `host:port` (port 0 picks a
    /// free one). Returns the fd and the port actually bound.
    public static func listen(host: String, port: Int, backlog: Int32 = EventLoopLimits.listenBacklog) throws(SystemError) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError("socket") }
        _ = vimana_set_reuseaddr(fd)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        if inet_pton(AF_INET, host, &addr.sin_addr) != 1 {
            _ = Glibc.close(fd)
            throw SystemError("inet_pton", context: host, errno: EINVAL)
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound < 0 {
            let e = errno
            _ = Glibc.close(fd)
            throw SystemError("bind", context: "\(host):\(port)", errno: e)
        }
        if Glibc.listen(fd, backlog) < 0 {
            let e = errno
            _ = Glibc.close(fd)
            throw SystemError("listen", context: "\(host):\(port)", errno: e)
        }
        return (fd, localPort(fd))
    }

    /// The local port of a bound socket.
    public static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Accepts one connection as a non-blocking, close-on-exec socket with
    /// TCP_NODELAY. Returns -1 with errno set when none is pending.
    @inline(__always)
    public static func accept(_ listener: Int32) -> Int32 {
        let fd = accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        if fd >= 0 { _ = vimana_set_nodelay(fd) }
        return fd
    }

    /// `ip:port` of the peer (`remote: true`) or of the local end.
    public static func address(_ fd: Int32, remote: Bool) -> String {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                remote ? getpeername(fd, $0, &len) : getsockname(fd, $0, &len)
            }
        }
        guard rc == 0 else { return "?:0" }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        _ = inet_ntop(AF_INET, &addr.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host):\(UInt16(bigEndian: addr.sin_port))"
    }

    /// The peer's IPv4 address in host byte order (127.0.0.1 is
    /// 0x7F00_0001), or nil when it cannot be had (the peer is gone, or
    /// the socket is not IPv4).
    public static func peerIPv4(_ fd: Int32) -> UInt32? {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        guard rc == 0, addr.sin_family == sa_family_t(AF_INET) else { return nil }
        return UInt32(bigEndian: addr.sin_addr.s_addr)
    }

    /// Result of one `read` into a buffer.
    public enum ReadResult {
        case bytes(Int)
        case wouldBlock
        case closed
        case failed(Int32)
    }

    /// Reads at most `limit` bytes into `buffer`'s free space (the caller
    /// has reserved `limit` bytes) and advances its write index.
    @inline(__always)
    public static func read(_ fd: Int32, into buffer: inout ByteBuffer, limit: Int) -> ReadResult {
        while true {
            let n = Glibc.read(fd, buffer.writePointer, limit)
            if n > 0 { buffer.writeIndex &+= n; return .bytes(n) }
            if n == 0 { return .closed }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .failed(e)
        }
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
