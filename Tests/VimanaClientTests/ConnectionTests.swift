#if canImport(Glibc)
import Glibc
#endif
import Testing
import VimanaClient
import VimanaRESP
import VimanaTestSupport

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
        let sent = Array("*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$2\r\nhi\r\n".utf8)
        #expect(readBytes(server, count: sent.count) == sent)
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
