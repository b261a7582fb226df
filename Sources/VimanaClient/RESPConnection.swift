#if canImport(Glibc)
import Glibc
#endif
import VimanaRESP

/// A blocking connection to a RESP server: send commands, read replies.
///
/// Promises: one owner at a time (not thread-safe); the socket is closed by
/// `close()` or when the connection is released; error replies from `call`
/// come back as `.error` values, while `hello` and the typed helpers turn
/// them into `ClientError.server`. Replies are read with a `ReplyDecoder`,
/// so any RESP2 or RESP3 reply is accepted.
public final class RESPConnection {
    public let host: String
    public let port: Int
    /// The socket, for callers that take over the stream (the load generator).
    public private(set) var fd: Int32
    /// 2 until `hello(3)` succeeds.
    public private(set) var protocolVersion = 2
    private var decoder = ReplyDecoder()
    private var readTimeout: Double?

    /// Bytes asked of each `recv`.
    static let readChunk = 16 << 10

    /// Connects to `host:port`, waiting at most `timeout` seconds.
    public init(host: String, port: Int, timeout: Double = 5) throws(ClientError) {
        self.host = host
        self.port = port
        fd = try TCPSocket.connect(host: host, port: port, timeout: timeout)
    }

    deinit { close() }

    /// Closes the socket; later calls fail with `.closed`.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Waits at most `seconds` for each read (nil: forever).
    public func setReadTimeout(_ seconds: Double?) {
        readTimeout = seconds
        if fd >= 0 { TCPSocket.setReceiveTimeout(fd, seconds: seconds) }
    }

    // MARK: - Sending

    /// Sends one command as a RESP multibulk, without waiting for the reply.
    public func send(_ args: [[UInt8]]) throws(ClientError) {
        try write(CommandEncoding.encode(args))
    }

    /// Sends one command given as text arguments.
    public func send(_ args: String...) throws(ClientError) {
        try send(args.map { Array($0.utf8) })
    }

    /// Writes raw bytes (pre-encoded commands, pipelines).
    public func write(_ bytes: [UInt8]) throws(ClientError) {
        guard fd >= 0 else { throw .closed(host: host, port: port) }
        let e = bytes.withUnsafeBytes { b in
            b.baseAddress.map { TCPSocket.writeAll(fd, $0, b.count) } ?? 0
        }
        if e == EPIPE || e == ECONNRESET { throw .closed(host: host, port: port) }
        if e != 0 { throw .io(operation: "write", errno: e) }
    }

    // MARK: - Receiving

    /// Blocks until one complete reply has arrived and returns it.
    public func readValue() throws(ClientError) -> RESPValue {
        while true {
            do {
                if case .value(let v) = try decoder.next() { return v }
            } catch {
                throw .protocolError(error)
            }
            guard fd >= 0 else { throw .closed(host: host, port: port) }
            let socket = fd
            let n = decoder.fill(capacity: Self.readChunk) { buf in
                buf.baseAddress.map { TCPSocket.read(socket, $0, buf.count) } ?? 0
            }
            if n > 0 { continue }
            if n == 0 || n == -Int(ECONNRESET) { throw .closed(host: host, port: port) }
            if n == -Int(EAGAIN) { throw .readTimeout(seconds: readTimeout ?? 0) }
            throw .io(operation: "read", errno: Int32(-n))
        }
    }

    /// Bytes already received but not yet decoded; removes them from the
    /// connection (for a caller that reads the socket itself from now on).
    public func takeBuffered() -> [UInt8] { decoder.takeBuffered() }

    /// Hands the socket and the bytes received but not decoded to a caller
    /// that reads it itself from now on; the connection no longer closes it.
    public func detach() -> (fd: Int32, buffered: [UInt8]) {
        let taken = (fd, decoder.takeBuffered())
        fd = -1
        return taken
    }

    // MARK: - Request/response

    /// Sends a command and returns its reply (error replies included).
    @discardableResult
    public func call(_ args: [[UInt8]]) throws(ClientError) -> RESPValue {
        try send(args)
        return try readValue()
    }

    /// Sends a command given as text arguments and returns its reply.
    @discardableResult
    public func call(_ args: String...) throws(ClientError) -> RESPValue {
        try call(args.map { Array($0.utf8) })
    }

    /// `HELLO version`: switches the protocol (2 or 3) and returns the
    /// server's description map. A server without HELLO fails with `.server`.
    @discardableResult
    public func hello(_ version: Int) throws(ClientError) -> RESPValue {
        let reply = try call("HELLO", String(version))
        if case .error(let message) = reply { throw .server(message) }
        protocolVersion = version
        return reply
    }
}
