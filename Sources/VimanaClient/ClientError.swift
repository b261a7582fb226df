#if canImport(Glibc)
import Glibc
#endif
import VimanaRESP

/// Everything that can go wrong talking to a RESP server, each case with
/// enough context for a one-line message that tells the user what to do.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// The host name did not resolve.
    case resolve(host: String, port: Int, reason: String)
    /// Nothing listens at host:port.
    case connectionRefused(host: String, port: Int)
    /// The TCP handshake did not finish within the timeout.
    case connectTimeout(host: String, port: Int, seconds: Double)
    /// Any other failure to connect (unreachable network, too many files…).
    case connectFailed(host: String, port: Int, errno: Int32)
    /// The server closed the connection (or reset it).
    case closed(host: String, port: Int)
    /// A socket call failed.
    case io(operation: String, errno: Int32)
    /// No reply arrived within the read timeout.
    case readTimeout(seconds: Double)
    /// The reply stream is malformed; the connection is unusable.
    case protocolError(ReplyDecodingError)
    /// The server answered with an error reply (`-ERR …`).
    case server(String)
    /// A reply of a type or shape the caller did not expect.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .resolve(let host, let port, let reason):
            "cannot resolve \(host):\(port): \(reason)"
        case .connectionRefused(let host, let port):
            "connection refused: \(host):\(port) (is the server running?)"
        case .connectTimeout(let host, let port, let seconds):
            "connection to \(host):\(port) timed out after \(seconds) s"
        case .connectFailed(let host, let port, let e):
            "cannot connect to \(host):\(port): \(Self.errnoText(e))"
        case .closed(let host, let port):
            "connection closed by \(host):\(port)"
        case .io(let op, let e):
            "\(op) failed: \(Self.errnoText(e))"
        case .readTimeout(let seconds):
            "no reply within \(seconds) s"
        case .protocolError(let e):
            "protocol error in server reply: \(e)"
        case .server(let message):
            message
        case .unexpectedReply(let rendered):
            "unexpected reply: \(rendered)"
        }
    }

    static func errnoText(_ e: Int32) -> String {
        guard let text = strerror(e) else { return "errno \(e)" }
        return String(cString: text)
    }
}
