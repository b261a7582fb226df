#if canImport(Glibc)
import Glibc
#endif
import Testing
import VimanaClient
import VimanaRESP

/// A listening socket on 127.0.0.1 with a kernel-chosen port. The tests
/// drive both ends from one thread: connect completes from the backlog,
/// and loopback buffers hold the bytes each side writes.
final class LoopbackListener {
    let fd: Int32
    let port: Int

    init() throws {
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
            close(socketFD)
            throw ClientError.io(operation: "listen", errno: errno)
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }

    func accept() -> Int32 { Glibc.accept(fd, nil, nil) }
}

func writeString(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func readAvailable(_ fd: Int32) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return n > 0 ? Array(buffer[..<n]) : []
}

@Suite struct ConnectionTests {
    @Test func connectionRefusedNamesHostAndPort() throws {
        let port: Int
        do { let listener = try LoopbackListener(); port = listener.port }  // closed again: nobody listens
        #expect {
            _ = try RESPConnection(host: "127.0.0.1", port: port, timeout: 2)
        } throws: { error in
            guard let e = error as? ClientError, case .connectionRefused("127.0.0.1", port) = e else { return false }
            return e.description.contains("127.0.0.1:\(port)")
        }
    }

    @Test func unresolvableHostIsAResolveError() {
        #expect {
            _ = try RESPConnection(host: "no-such-host.invalid", port: 7379, timeout: 2)
        } throws: { error in
            if case .resolve? = error as? ClientError { return true }
            return false
        }
    }

    @Test func callSendsMultibulkAndDecodesASplitReply() throws {
        let listener = try LoopbackListener()
        let connection = try RESPConnection(host: "127.0.0.1", port: listener.port)
        let server = listener.accept()
        defer { close(server) }
        try connection.send("PUBLISH", "news", "hi")
        #expect(readAvailable(server) == Array("*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$2\r\nhi\r\n".utf8))
        writeString(server, "*2\r\n$3\r\nab")
        writeString(server, "c\r\n:7\r\n+OK\r\n")
        #expect(try connection.readValue() == .array([.bulk("abc"), .integer(7)]))
        #expect(try connection.readValue() == .simpleString("OK"))
    }

    @Test func serverClosingIsReportedAsClosed() throws {
        let listener = try LoopbackListener()
        let connection = try RESPConnection(host: "127.0.0.1", port: listener.port)
        close(listener.accept())
        #expect {
            _ = try connection.readValue()
        } throws: { error in
            if case .closed("127.0.0.1", listener.port)? = error as? ClientError { return true }
            return false
        }
    }

    @Test func helloErrorBecomesAServerError() throws {
        let listener = try LoopbackListener()
        let connection = try RESPConnection(host: "127.0.0.1", port: listener.port)
        let server = listener.accept()
        defer { close(server) }
        writeString(server, "-ERR unknown command 'HELLO'\r\n")
        #expect {
            try connection.hello(3)
        } throws: { error in
            if case .server(let m)? = error as? ClientError { return m.hasPrefix("ERR unknown command") }
            return false
        }
        #expect(connection.protocolVersion == 2)
    }
}
