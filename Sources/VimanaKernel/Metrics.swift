/// Counters the kernel keeps for INFO and /metrics. Plain integers in the
/// kernel's state struct: incremented on the loop thread only, read only by
/// the registry (MetricRegistry.swift), which declares what each is called
/// in INFO and in /metrics.
struct Metrics {
    var connectionsAccepted = 0
    var connectionsRejected = 0
    // Calls per command are `KernelState.stats` (CommandStats.swift).
    var netInputBytes = 0
    var netOutputBytes = 0
    var messagesPublished = 0
    var messagesDelivered = 0
    /// Clients cut off at an output limit: subscribers (`pubsub_output`) and the rest (`normal_output`).
    var slowSubscriberDisconnects = 0
    var normalOutputDisconnects = 0
    var protocolErrors = 0
    /// Request heads read on the HTTP port, refused ones (400, 405, 404) included.
    var httpRequests = 0
    var queryBufferDisconnects = 0
    /// Connections closed for a bulk over `max_payload`.
    var payloadLimitDisconnects = 0
    /// accept(2) failures other than "nothing to accept" (EMFILE and the like).
    var acceptErrors = 0
    /// Denials by reason, as Redis 7.2's INFO `acl_access_denied_*`: each
    /// ACL LOG entry recorded (a repeat grouped into an entry included).
    var aclDeniedAuth = 0
    var aclDeniedCommand = 0
    var aclDeniedKey = 0
    var aclDeniedChannel = 0
    /// Publishes refused for a licence not active (ACL LOG reason `license`).
    var licenseRefusedPublishes = 0
}
