import VimanaCore
import VimanaConfig
import VimanaLedger
import VimanaCluster

/// Federation of this kernel with others through a Redis Cluster
/// (Protocol/FEDERATION.md, docs/FEDERATION.md): the mirror (out), the
/// reader (in) and the task claimer (agents' groups in the cluster), each on its own thread, talking to the loop only through
/// `confirmed` (the ledger's progress, in) and the closures given at
/// `init` (batches to append and the retention hold, out).
///
/// Promises: with the cluster unreachable the kernel's own bus is not
/// slowed (the threads wait, the ledger holds what is to be mirrored);
/// `status` says how far behind it is and why.
public final class Federation: Sendable {
    public let config: FederationConfig
    private let statusBox: StatusBox
    private let mirror: Mirror
    private let importer: Importer
    private let claimer: Claimer

    /// - Parameters:
    ///   - deliver: hands a batch of other kernels' entries to the loop, which
    ///     appends it and calls back (on any thread) with the outcome.
    ///   - claim: hands tasks claimed in the cluster for this kernel's agent
    ///     instances to the loop, which queues them and calls back (on any
    ///     thread) with those it could not find.
    ///   - holdRetention: called with each mirror cursor journaled: the
    ///     ledger must keep every record from that sequence on.
    public init(config: FederationConfig, ledgerDirectory: String, log: Log = .shared,
                deliver: @escaping @Sendable (ImportBatch, @escaping @Sendable (ImportOutcome) -> Void) -> Void,
                claim: @escaping @Sendable (ClaimBatch, @escaping @Sendable (ClaimOutcome) -> Void) -> Void,
                holdRetention: @escaping @Sendable (UInt64) -> Void) {
        self.config = config
        // A reply may take as long as WAIT's timeout, and then some.
        let replySeconds = max(ClusterLimits.defaultCommandTimeout, Double(config.waitTimeoutMillis) / 1000 + 2)
        let settings = ClusterSettings(seeds: config.cluster.map { ClusterNode(host: $0.host, port: $0.port) },
                                       user: config.user, password: config.password,
                                       commandTimeout: replySeconds, clientName: "vimana-" + config.node)
        let shared = FederationShared(config: config, clusterSettings: settings, ledgerDirectory: ledgerDirectory, log: log)
        statusBox = shared.status
        statusBox.update { $0.node = config.node }
        mirror = Mirror(shared, onCursor: holdRetention)
        let index = ImportIndex()
        let claimer = Claimer(shared, index: index, deliver: claim)
        self.claimer = claimer
        importer = Importer(shared, index: index, poke: { claimer.poke($0) }, deliver: deliver)
    }

    /// Starts both threads; returns the retention hold to set before any
    /// record can be retired (the mirror's cursor), or a description of
    /// why a thread could not start.
    public func start(confirmed: UInt64) -> Result<UInt64, FederationStartError> {
        let hold = mirror.loadCursor()
        mirror.confirmed(confirmed)
        importer.confirmed(confirmed)
        if let rc = mirror.start() { return .failure(FederationStartError(thread: "mirror", code: rc)) }
        if let rc = importer.start() {
            mirror.thread.stop()
            return .failure(FederationStartError(thread: "reader", code: rc))
        }
        if let rc = claimer.start() {
            mirror.thread.stop()
            importer.thread.stop()
            return .failure(FederationStartError(thread: "tasks", code: rc))
        }
        return .success(hold)
    }

    /// The ledger confirmed every record before `sequence` (loop thread).
    public func confirmed(_ sequence: UInt64) {
        mirror.confirmed(sequence)
        importer.confirmed(sequence)
    }

    public var status: FederationStatus { statusBox.snapshot }

    /// The agents' demand for tasks of federated topics changed (loop thread).
    public func taskDemand(_ demand: [TaskDemand]) {
        claimer.setDemand(demand)
    }

    /// Tasks answered here, to acknowledge in the cluster, and tasks given up
    /// here, left to other kernels (loop thread).
    public func tasksAnswered(group: [UInt8], topic: [UInt8], clusterIDs: [[UInt8]], released: [[UInt8]]) {
        claimer.answered(group: group, topic: topic, clusterIDs: clusterIDs, released: released)
    }

    /// Stops both threads (each finishes its call in progress, bounded by
    /// the cluster timeouts) and writes their cursors. Both are asked at
    /// once: a stop waits for the longer call, not for one after the other.
    public func stop() {
        mirror.thread.requestStop()
        importer.thread.requestStop()
        claimer.thread.requestStop()
        mirror.thread.stop()
        importer.thread.stop()
        claimer.thread.stop()
    }
}

public struct FederationStartError: Error, Sendable, CustomStringConvertible {
    public var thread: String
    public var code: Int32
    public var description: String { "federation: cannot start the \(thread) thread (pthread_create: \(code))" }
}
