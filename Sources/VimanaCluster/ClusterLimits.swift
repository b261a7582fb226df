/// Every tunable of the cluster client in one place, each with its reason.
public enum ClusterLimits {
    /// Seconds to wait for a TCP connection to a node by default. On a LAN
    /// a connect takes well under a millisecond; a node that is down answers
    /// at once with a refusal, so only a partition waits this out.
    public static let defaultConnectTimeout = 2.0
    /// Seconds to wait for one reply by default. Cluster commands answer in
    /// microseconds; a master stalled by a failover or a slow fsync can take
    /// a second or two. A caller that sends WAIT or a blocking read must
    /// give a longer one (`call(node:_:readTimeout:)`).
    public static let defaultCommandTimeout = 5.0
    /// `call(key:_:)` without `within` keeps retrying for this many command
    /// timeouts (20 s with the default): a failover with
    /// `cluster-node-timeout 5000` takes 6–10 s (NOTES.md), so one fits with room.
    public static let retryWindowPerCommandTimeout = 4.0
    /// MOVED and ASK replies followed for one command before giving up.
    /// A stable cluster needs one; while nodes disagree during a failover or
    /// a resharding a few more; more than this means a loop (redis-py: 16).
    public static let maxRedirects = 16
    /// The first pause before retrying after TRYAGAIN, CLUSTERDOWN, LOADING,
    /// MASTERDOWN or a lost connection. Short: TRYAGAIN during a migration
    /// clears in milliseconds.
    public static let retryPauseMin = 0.01
    /// The longest pause between retries (each doubles the last). A failover
    /// takes seconds; polling every quarter second finds the new master soon
    /// after it is elected without flooding a cluster that is recovering.
    public static let retryPauseMax = 0.25
    /// Shards and nodes accepted in one CLUSTER SHARDS/SLOTS reply. Redis
    /// advises at most ~1000 nodes; a reply listing more is not a cluster's.
    public static let maxNodes = 4096
    /// Slot ranges accepted in one reply: at most one per slot.
    public static let maxRanges = 16384
    /// Longest host name accepted from a node (RFC 1035: 253 characters;
    /// NI_MAXHOST is 1025): a longer one is a malformed reply.
    public static let maxHostLength = 255
    /// Bytes of a key shown in an error's description: enough to recognize
    /// a topic, never a whole payload-sized key in a log line.
    public static let keyShownInErrors = 64
}
