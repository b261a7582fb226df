/// The command-line tools' tunables, each with its reason. The server's
/// defaults are in VimanaConfig (`Configuration()`); these are the tools' own.
enum CLILimits {
    /// Records `vimana ledger tail` prints without `-n`, as tail(1).
    static let tailLines = 10
    /// How often `tail --follow` looks for new frames and segments: a new
    /// record shows within a fifth of a second, and an idle follow costs nothing.
    static let followIntervalMicros: UInt32 = 200_000
    /// Polls a bad frame at the end of the active segment is waited for
    /// before saying so: a frame being written is briefly incomplete (two
    /// seconds at `followIntervalMicros`).
    static let followPatiencePolls = 10
    /// Topics listed by `vimana ledger stats`, the busiest first: a screenful.
    static let statsTopics = 20
    /// Bytes of output gathered before one write(2): a dump of millions of
    /// records never becomes one string, nor one write per record.
    static let outputChunkBytes = 64 << 10
}
