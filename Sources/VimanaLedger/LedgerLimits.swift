/// The ledger's tunables, each with its reason (the settings a user may
/// change are in VimanaConfig's `LedgerConfig`; these are not configurable).
public enum LedgerLimits {
    /// Committed batches kept in memory after they are written, so that a
    /// reader just behind the writer (XREAD, an agent's next task) is served
    /// without inflating frames from the files.
    public static let tailBytes = 16 << 20
}
