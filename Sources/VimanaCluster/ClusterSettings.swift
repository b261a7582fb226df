/// How to reach a cluster. The password is kept only to send AUTH: it
/// never appears in a description, an error or a log line.
public struct ClusterSettings: Sendable {
    /// Nodes to ask for the slot map when no known node answers. Any node
    /// of the cluster will do; several let a client start while one is down.
    public var seeds: [ClusterNode]
    /// With `password`: `AUTH user password` on each connection (an ACL user).
    public var user: String?
    /// `AUTH password` (or `AUTH user password`) on each connection; nil sends no AUTH.
    public var password: String?
    /// Seconds to wait for a TCP connection.
    public var connectTimeout: Double
    /// Seconds to wait for one reply.
    public var commandTimeout: Double
    /// Sent as `CLIENT SETNAME` on each connection (CLIENT LIST shows it); nil sends none.
    public var clientName: String?

    public init(seeds: [ClusterNode], user: String? = nil, password: String? = nil,
                connectTimeout: Double = ClusterLimits.defaultConnectTimeout,
                commandTimeout: Double = ClusterLimits.defaultCommandTimeout,
                clientName: String? = nil) {
        self.seeds = seeds
        self.user = user
        self.password = password
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.clientName = clientName
    }
}

extension ClusterSettings: CustomStringConvertible {
    /// The settings without the password (for logs and errors).
    public var description: String {
        "seeds " + seeds.map(\.description).joined(separator: ",")
            + (user.map { " user \($0)" } ?? "") + (password == nil ? "" : " password (set)")
    }
}
