/// The federation's tunables, each with its reason (Protocol/FEDERATION.md,
/// docs/FEDERATION.md). Settings an operator chooses are in phoenix.yaml's
/// `federation:` (VimanaConfig.FederationConfig); these are not.
public enum FederationLimits {
    /// How long one cluster call may take, redirects and retries included,
    /// before the thread records an error and starts over (a failover with
    /// `cluster-node-timeout 5000` takes 6–10 s: a call or two fail, then the
    /// same batch goes to the new master). Short, because a stop waits for
    /// the call in progress.
    public static let callSeconds: Double = 5

    /// A thread with nothing to do wakes at least this often: the reader
    /// polls every federated topic (doorbells are lost while a connection
    /// is down) and both check their stop flag.
    public static let idleMillis = 1000

    /// Pause after a failed round before the next, so that an unreachable
    /// cluster costs a few connection attempts a second, not a spin.
    public static let retryMillis = 200

    /// Records the mirror holds in memory read ahead of what it sent: a
    /// catch-up after an outage reads a segment at a time, not the ledger.
    public static let readAheadRecords = 65_536

    /// Bytes of entries in one script call (besides `batch_entries`): a
    /// large entry does not make one call carry megabytes times the batch.
    public static let batchBytes = 1 << 20

    /// The mirror and the reader write their cursor files at most this
    /// often, busy or idle (a restart resends, or reads again, at most this
    /// much, and the script and the reader's marks skip it): at a thousand
    /// one-entry batches a second, a write after each was two fsyncs per
    /// entry, and under I/O load a second of delay.
    public static let cursorWriteMillis = 1000

    /// How long the ledger keeps what the mirror sent after WAIT answered
    /// (the retention hold lags the cursor by this): a failover that loses
    /// acknowledged entries shows at the next script call for the topic,
    /// seconds later, and the mirror sends them again from the ledger.
    public static let rewindSeconds: Int64 = 300

    /// The longest text kept of the last error, for INFO and /health.
    public static let errorTextBytes = 200

    /// How long the reader takes doorbells between two rounds of reads.
    static let doorbellDrainMillis = 2

    /// Local IDs of imported entries the task claimer can look up without
    /// the ledger (ImportIndex): a claim usually follows its import within
    /// milliseconds; an older one is found by the loop in the ledger.
    static let indexedIDs = 65_536

    /// Entries one task claim call asks for at most (XREADGROUP, XAUTOCLAIM
    /// COUNT; an XCLAIM or XACK carries at most this many IDs).
    static let claimBatch = 512

    /// The shortest interval between two refreshes of this kernel's claims
    /// (and two XAUTOCLAIMs), whatever ack_wait: a claim's idle time is
    /// reset every third of ack_wait, so that other kernels take over only
    /// the tasks of a kernel that stopped refreshing (Protocol/FEDERATION.md §6).
    static let refreshMillis = 200

    /// A claim whose entry this kernel has not yet imported is looked up
    /// again this often (the reader is bringing it).
    static let unresolvedRetryMillis = 20
}
