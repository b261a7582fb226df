import VimanaCore
import VimanaConfig
import VimanaCluster
import Synchronization

/// What INFO federation, /health and /metrics show: a snapshot the two
/// threads update under a lock, read on the loop thread.
public struct FederationStatus: Sendable, Equatable {
    public var node: String = ""
    /// False from a failed cluster call until the next one succeeds.
    public var clusterReachable = true
    /// Every federated entry before this ledger sequence is in the cluster, acknowledged by WAIT.
    public var mirrorCursor: UInt64 = 0
    /// The ledger's confirmed sequence as the mirror last heard it.
    public var confirmed: UInt64 = 0
    /// Entries this kernel appended to the cluster (the script's counts).
    public var mirroredEntries: UInt64 = 0
    /// Entries the mirror could not append (too many fields for the script).
    public var skippedEntries: UInt64 = 0
    /// WAIT answers below `wait_replicas` (each followed by another try).
    public var waitShortfalls: UInt64 = 0
    /// Times the cluster had lost acknowledged entries (a failover) and the mirror sent them again.
    public var rewinds: UInt64 = 0
    /// Entries of other kernels appended to this ledger.
    public var importedEntries: UInt64 = 0
    /// Cluster entries not following Protocol/FEDERATION.md §2, passed over.
    public var malformedEntries: UInt64 = 0
    /// Remote topics being read.
    public var importTopics = 0
    /// Tasks of agents on federated topics claimed in the cluster for this kernel.
    public var tasksClaimed: UInt64 = 0
    /// Tasks answered here and acknowledged in the cluster (XACK).
    public var tasksAcknowledged: UInt64 = 0
    public var errors: UInt64 = 0
    public var lastError = ""
    /// Wall-clock ms of the last error; since when the cluster has been unreachable.
    public var lastErrorMillis: Int64 = 0
    public var unreachableSinceMillis: Int64 = 0

    /// Ledger sequences recorded and not yet mirrored (all topics' records count).
    public var mirrorLag: UInt64 { confirmed > mirrorCursor ? confirmed - mirrorCursor : 0 }

    public init() {}
}

/// The threads' shared status and its one writer discipline: each thread
/// changes only its own fields, through `update`.
final class StatusBox: Sendable {
    private let status = Mutex(FederationStatus())

    func update(_ change: (inout FederationStatus) -> Void) { status.withLock { change(&$0) } }
    var snapshot: FederationStatus { status.withLock { $0 } }

    func failed(_ what: String, _ error: any Error) {
        let text = String("\(what): \(error)".prefix(FederationLimits.errorTextBytes))
        let now = Clock.wallMillis()
        update { s in
            s.errors &+= 1
            s.lastError = text
            s.lastErrorMillis = now
            if s.clusterReachable { s.unreachableSinceMillis = now }
            s.clusterReachable = false
        }
    }

    func succeeded() {
        update { s in if !s.clusterReachable { s.clusterReachable = true; s.unreachableSinceMillis = 0 } }
    }
}

/// Whether this kernel's node id is its own in the cluster (`P:nodes`,
/// Protocol/FEDERATION.md §1): set by the mirror once the cluster says so;
/// neither thread sends or takes entries before.
final class NodeClaim: Sendable {
    private let confirmed = Atomic<Bool>(false)
    var isConfirmed: Bool { confirmed.load(ordering: .acquiring) }
    func confirm() { confirmed.store(true, ordering: .releasing) }
}

/// What the mirror and the reader both work from, made once from the
/// configuration (Federation.init): the node id, the key names, the
/// federated topics, the cursor files, the cluster's address, the status
/// they report to and the node claim they wait for.
struct FederationShared: Sendable {
    let config: FederationConfig
    let clusterSettings: ClusterSettings
    let ledgerDirectory: String
    let node: [UInt8]
    let keys: FederationKeys
    let federated: FederatedTopics
    let files: FederationFiles
    let status: StatusBox
    let log: Log
    let claim: NodeClaim

    init(config: FederationConfig, clusterSettings: ClusterSettings, ledgerDirectory: String, log: Log) {
        self.config = config
        self.clusterSettings = clusterSettings
        self.ledgerDirectory = ledgerDirectory
        node = Array(config.node.utf8)
        keys = FederationKeys(prefix: config.prefix)
        federated = FederatedTopics(config.topics)
        files = FederationFiles(ledgerDirectory: ledgerDirectory)
        status = StatusBox()
        self.log = log
        claim = NodeClaim()
    }
}
