
/// Named limits. Each protects the server from one kind of client misbehaviour.
public struct Limits: Sendable, Equatable {
    /// Connections beyond this get `-ERR max number of clients reached` and are closed.
    public var maxClients: Int = 10_000
    /// Largest bulk string (argument) accepted, as Redis's proto-max-bulk-len; at most 512 MiB.
    public var maxPayload: Int = 1 << 20
    /// Longest inline command line (no `*` prefix), as Redis's PROTO_INLINE_MAX_SIZE.
    public var maxInline: Int = 64 << 10
    /// Query buffer allowed to a connection that has not authenticated (when a password is set).
    public var queryBufferBeforeAuth: Int = 1 << 20
    /// Memory one connection's unfinished request may hold — its input
    /// buffer and its argument table together — as Redis's
    /// client-query-buffer-limit. At least `minimumQueryBuffer(maxPayload:)`;
    /// when not configured, the larger of 64 MiB and that minimum.
    public var queryBuffer: Int = Limits.defaultQueryBuffer
    /// A subscriber whose pending output exceeds this is disconnected at once.
    public var pubsubOutputHard: Int = 32 << 20
    /// A subscriber above this for `pubsubOutputSoftSeconds` is disconnected.
    public var pubsubOutputSoft: Int = 8 << 20
    public var pubsubOutputSoftSeconds: Int = 60
    /// Any other client whose pending replies exceed this is disconnected at
    /// once (Redis's `client-output-buffer-limit normal`, unlimited there by
    /// default): one client that never reads must not grow the server
    /// without bound. Larger than any reply a sane client asks for at once.
    public var normalOutputHard: Int = 256 << 20
    /// 0: no soft limit for normal clients (Redis's default).
    public var normalOutputSoft: Int = 0
    public var normalOutputSoftSeconds: Int = 0

    public init() {}

    /// Upper bound for `maxPayload`, as Redis's proto-max-bulk-len ceiling.
    public static let maxPayloadCeiling = 512 << 20

    // The ranges phoenix.yaml and CONFIG SET accept, each with its reason.
    /// `max_clients`: at least one, and no more than a machine's fds could hold.
    public static let maxClientsRange = 1...1_000_000
    /// `max_payload`: at least one byte, at most Redis's proto-max-bulk-len ceiling.
    public static let maxPayloadRange = 1...maxPayloadCeiling
    /// `max_inline`: a line shorter than 1KiB cannot hold a useful command;
    /// above 64MiB an inline command is no longer a typed one.
    public static let maxInlineRange = (1 << 10)...(64 << 20)
    /// `query_buffer`: at least 1MiB (and the `minimumQueryBuffer` rule),
    /// at most `queryBufferCeiling`.
    public static let queryBufferRange = (1 << 20)...queryBufferCeiling
    /// `query_buffer_before_auth`: room for an AUTH command, at most 1GiB.
    public static let queryBufferBeforeAuthRange = (1 << 10)...(1 << 30)
    /// `soft_seconds` of an output limit: up to a day.
    public static let outputSoftSecondsRange = 0...86_400
    /// 64 MiB: a command of dozens of maximal (1 MiB) arguments fits; twenty
    /// stuck connections hold at most about 1.3 GiB.
    public static let defaultQueryBuffer = 64 << 20
    /// Upper bound for `queryBuffer`: a guard against a typo, above the
    /// minimum for the largest `maxPayload`.
    public static let queryBufferCeiling = 4 << 30

    /// The smallest query buffer limit that admits every command with one
    /// argument of `maxPayload` bytes: the input buffer grows by doubling, so
    /// such a command may occupy twice its size, plus a read's worth.
    public static func minimumQueryBuffer(maxPayload: Int) -> Int { 2 * maxPayload + (64 << 10) }
}
