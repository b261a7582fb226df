import VimanaRESP

/// What can go wrong talking to a cluster, each with the context to act
/// on it. Descriptions never hold a password or a payload (a key is shown
/// escaped and cut to `ClusterLimits.keyShownInErrors` bytes).
public enum ClusterError: Error, Sendable, CustomStringConvertible {
    /// No node answered: every known node and seed was tried; `last` is the last failure.
    case unreachable(tried: [ClusterNode], last: String)
    /// Nodes answered but none gave a usable slot map (an error reply, no slot assigned).
    case noSlotMap(String)
    /// More than `ClusterLimits.maxRedirects` MOVED/ASK replies for one command.
    case tooManyRedirects(key: [UInt8])
    /// The cluster answered CLUSTERDOWN, TRYAGAIN, LOADING or MASTERDOWN, or
    /// a slot had no master in the map, until the deadline.
    case clusterDown(String)
    /// Connecting to, writing to or reading from one node failed (refused,
    /// closed, timed out); the connection was closed.
    case connection(node: ClusterNode, String)
    /// A node's AUTH or CLIENT SETNAME was refused (a wrong password is not retried).
    case auth(node: ClusterNode, String)
    /// A reply that breaks the protocol or the shape a command's reply must have
    /// (a malformed CLUSTER SHARDS, a MOVED with a bad slot or address).
    case protocolError(String)

    public var description: String {
        switch self {
        case .unreachable(let tried, let last):
            "no cluster node reachable (tried \(tried.map(\.description).joined(separator: ", "))): \(last)"
        case .noSlotMap(let why):
            "no slot map: \(why)"
        case .tooManyRedirects(let key):
            "more than \(ClusterLimits.maxRedirects) redirects for key \(Self.shown(key))"
        case .clusterDown(let why):
            "cluster down: \(why)"
        case .connection(let node, let why):
            "\(node): \(why)"
        case .auth(let node, let why):
            "\(node): authentication failed: \(why)"
        case .protocolError(let why):
            "protocol error: \(why)"
        }
    }

    /// A key as quoted, escaped text, cut to a bounded length.
    static func shown(_ key: [UInt8]) -> String {
        let cut = key.count > ClusterLimits.keyShownInErrors
        return RESPValue.quoted(Array(key.prefix(ClusterLimits.keyShownInErrors))) + (cut ? "…" : "")
    }
}
