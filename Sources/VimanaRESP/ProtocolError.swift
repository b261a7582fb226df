/// A request the server cannot parse. The connection that sent it gets
/// `-ERR Protocol error: <message>` and is closed after the reply, as Redis does:
/// once framing is lost there is no safe way to find the next command.
public enum ProtocolError: Error, Equatable, Sendable {
    case invalidMultibulkLength
    case invalidBulkLength
    /// A well-formed `$` length over the server's `max_payload`. Redis says
    /// only `invalid bulk length` (its limit, 512 MB, is rarely met); Vimana's
    /// 1 MiB default is, so the reply names the limit after Redis's text.
    case bulkOverLimit(length: Int, limit: Int)
    case expectedDollar(UInt8)
    case expectedCRLF
    case unbalancedQuotes
    case tooBigInlineRequest
    case tooBigMultibulkCountString
    case tooBigBulkCountString

    /// The text after `Protocol error: `, identical to Redis's where Redis has one.
    public var message: String {
        switch self {
        case .invalidMultibulkLength: "invalid multibulk length"
        case .invalidBulkLength: "invalid bulk length"
        case .bulkOverLimit(let length, let limit): "invalid bulk length (\(length) > max_payload \(limit))"
        case .expectedDollar(let b): "expected '$', got '\(Character(Unicode.Scalar(b)))'"
        case .expectedCRLF: "expected CRLF after bulk data"
        case .unbalancedQuotes: "unbalanced quotes in request"
        case .tooBigInlineRequest: "too big inline request"
        case .tooBigMultibulkCountString: "too big mbulk count string"
        case .tooBigBulkCountString: "too big bulk count string"
        }
    }

    /// The whole error line, without the leading `-` and trailing CRLF.
    public var replyText: String { "ERR Protocol error: " + message }
}
