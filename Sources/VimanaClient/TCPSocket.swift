#if canImport(Glibc)
import Glibc
#endif

/// Blocking TCP socket calls on a raw descriptor: connect with a timeout,
/// write everything, read some. No state beyond the fd, so the load
/// generator's threads can use them directly on their hot paths.
public enum TCPSocket {
    /// Connects to `host:port` (IPv4 or IPv6, first address that answers),
    /// with TCP_NODELAY set and the socket left in blocking mode.
    public static func connect(host: String, port: Int, timeout: Double) throws(ClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = gai_strerror(rc).map { String(cString: $0) } ?? "error \(rc)"
            throw .resolve(host: host, port: port, reason: reason)
        }
        defer { freeaddrinfo(first) }
        var lastError: ClientError = .connectionRefused(host: host, port: port)
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            node = ai.pointee.ai_next
            do {
                return try connect(ai.pointee, host: host, port: port, timeout: timeout)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// One connection attempt: non-blocking connect, poll for completion.
    private static func connect(_ ai: addrinfo, host: String, port: Int, timeout: Double) throws(ClientError) -> Int32 {
        let fd = socket(ai.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connectFailed(host: host, port: port, errno: errno) }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var rc = Glibc.connect(fd, ai.ai_addr, ai.ai_addrlen)
        if rc != 0 && errno == EINPROGRESS {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let deadline = timeout > 0 ? Int32(min(timeout * 1000, Double(Int32.max))) : -1
            repeat { rc = poll(&pfd, 1, deadline) } while rc < 0 && errno == EINTR
            if rc == 0 {
                close(fd)
                throw .connectTimeout(host: host, port: port, seconds: timeout)
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            rc = soError == 0 ? 0 : -1
            if soError != 0 { errno = soError }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            if e == ECONNREFUSED { throw .connectionRefused(host: host, port: port) }
            throw .connectFailed(host: host, port: port, errno: e)
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Writes all `count` bytes, retrying on EINTR and short writes.
    /// Never raises SIGPIPE: a closed peer is reported as `.closed`.
    @inline(__always)
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int32 {
        var offset = 0
        while offset < count {
            let n = send(fd, bytes + offset, count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    /// Reads up to `count` bytes. Returns the count (> 0), 0 at end of
    /// stream, or -errno (EAGAIN when a receive timeout expired).
    @inline(__always)
    public static func read(_ fd: Int32, _ into: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = recv(fd, into, count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            return -Int(errno)
        }
    }

    /// Sets SO_RCVTIMEO; nil or 0 waits forever.
    public static func setReceiveTimeout(_ fd: Int32, seconds: Double?) {
        let s = max(seconds ?? 0, 0)
        var tv = timeval(tv_sec: Int(s), tv_usec: Int((s - s.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
