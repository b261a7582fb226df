#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on 127.0.0.1 with a kernel-chosen port, for tests that
/// play the server themselves. They can drive both ends from one thread:
/// connect completes from the backlog, and loopback buffers hold the bytes
/// each side writes.
package final class LoopbackListener {
    package let fd: Int32
    package let port: Int

    package init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(socketFD, p, len) == 0 && listen(socketFD, 8) == 0 && getsockname(socketFD, p, &len) == 0
            }
        }
        guard bound else {
            let reason = String(cString: strerror(errno))
            close(socketFD)
            throw TestFailure("listen on 127.0.0.1 failed: \(reason)")
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }

    /// The next connection's fd (the caller closes it).
    package func accept() -> Int32 { Glibc.accept(fd, nil, nil) }
}

/// Writes all of `text` to `fd`.
package func writeString(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

/// Reads `count` bytes from `fd` (blocking until they are there), or what
/// came before EOF: a test that plays the server knows how many bytes the
/// client under test must have sent, so it waits for exactly those.
package func readBytes(_ fd: Int32, count: Int) -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while out.count < count {
        let want = min(buffer.count, count - out.count)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
        if n <= 0 { break }
        out += buffer[..<n]
    }
    return out
}
