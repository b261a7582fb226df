/// The `federation:` section of phoenix.yaml: the Redis Cluster through which
/// this kernel shares chosen topics with other kernels (Protocol/FEDERATION.md).
/// Absent (`Configuration.federation` nil): the kernel works alone.
///
/// Promises (the loader's): `node` and `prefix` are within their byte
/// ranges and alphabets; `cluster` has at least one address, each with a
/// non-empty host and a port from 1 to 65535; `topics` has at least one
/// pattern, none empty and none beginning with `serverTopicPrefix`; the
/// numbers are within their ranges; `password` is never logged or printed.
public struct FederationConfig: Sendable, Equatable {
    /// A seed address of the cluster: `host:port`, or `[ipv6]:port` in the file.
    public struct Address: Sendable, Equatable {
        /// A host name, an IPv4 address, or an IPv6 address without its brackets.
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// This kernel's node id: unique among the kernels sharing the cluster; it
    /// names the origin of every entry the kernel mirrors and its consumer in
    /// the cluster's groups.
    public var node: String
    /// Seed addresses: the kernel learns the rest of the cluster from any of them.
    public var cluster: [Address]
    /// AUTH user; nil: AUTH with the password alone (Redis's `default` user).
    public var user: String? = nil
    /// AUTH password; nil: no AUTH. Never logged or printed.
    public var password: String? = nil
    /// Redis glob patterns of the federated topics.
    public var topics: [String]
    /// The first part of every key in the cluster (`P:{T}`), so that several
    /// buses can share one cluster.
    public var prefix: String = "vimana"
    /// Replicas that must have an entry (WAIT) before the mirror's cursor
    /// passes it: one, so that the failover of a master loses no entry that
    /// was acknowledged (docs/FEDERATION.md). 0: the master alone.
    public var waitReplicas: Int = 1
    /// How long one WAIT waits, in ms: a second is several replication
    /// round trips on a LAN; WAIT is sent again when it answers short.
    public var waitTimeoutMillis: Int = 1000
    /// Entries per script call and per XREAD COUNT: 512 keeps one call well
    /// under a millisecond of the server's time while a backlog drains.
    public var batchEntries: Int = 512

    public init(node: String, cluster: [Address], topics: [String]) {
        self.node = node
        self.cluster = cluster
        self.topics = topics
    }

    // MARK: - Ranges

    /// `node`: a log field and a field of every mirrored entry; 64 bytes is ample.
    public static let nodeBytes = 1...64
    /// `prefix`: part of every key; 64 bytes is ample.
    public static let prefixBytes = 1...64
    /// `wait_replicas`: no sensible shard has more than 16 replicas.
    public static let waitReplicasRange = 0...16
    /// `wait_timeout_ms`: WAIT 0 would block forever; beyond a minute the
    /// mirror would look stalled while it waits.
    public static let waitTimeoutMillisRange = 1...60_000
    /// `batch_entries`: beyond 10,000 one script call would hold the cluster's
    /// shard for too long.
    public static let batchEntriesRange = 1...10_000

    /// The server's own topics (the ledger's internal topics): never
    /// federated, so a pattern that can match only them is a mistake.
    public static let serverTopicPrefix = "_vimana."

    /// A byte of a node id: `A–Z a–z 0–9 _ . -`.
    public static func isNodeByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    /// A byte of the prefix: a node id's, and `:`. Never `{` or `}`: the
    /// prefix comes before a key's hash tag.
    public static func isPrefixByte(_ byte: UInt8) -> Bool {
        isNodeByte(byte) || byte == UInt8(ascii: ":")
    }
}
