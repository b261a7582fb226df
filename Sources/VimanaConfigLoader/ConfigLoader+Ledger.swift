import VimanaConfig

/// The `ledger:` section of phoenix.yaml (see `LedgerConfig` for what each key means).
extension Schema {
    /// Longest segment age: a segment open longer than a month is one nobody meant.
    static let maxSegmentAgeSeconds = 30 * 86_400
    /// Longest retention, 100 years of 365 days: effectively forever, but still
    /// far from overflowing a timestamp in microseconds when added to now.
    static let maxRetentionSeconds = 100 * 365 * 86_400

    func ledger(_ node: YAMLNode) throws(ConfigError) -> LedgerConfig {
        var g = LedgerConfig()
        let s = try section(node, "ledger", keys: [
            "enabled", "dir", "record", "exclude", "fsync", "compression_level", "compaction_level",
            "max_pending", "segment_bytes", "segment_age", "retention", "archive_dir",
        ])
        if let n = s["enabled"], let v = try boolean(n, "ledger.enabled") { g.enabled = v }
        if let n = s["dir"], let v = try path(n, "ledger.dir") { g.dir = v }
        if let n = s["record"], let v = try strings(n, "ledger.record") { g.record = v }
        if let n = s["exclude"], let v = try strings(n, "ledger.exclude") { g.exclude = v }
        // Unquoted `no` is the text "no" here (libyaml does not resolve booleans), so it names the policy.
        if let n = s["fsync"], let v: FsyncPolicy = try choice(n, "ledger.fsync") { g.fsync = v }
        // zlib's levels: 0 stores, 9 compresses hardest.
        if let n = s["compression_level"], let v = try integer(n, "ledger.compression_level", 0...9) {
            g.compressionLevel = v
        }
        // `off`: sealed segments keep the frames they were written in.
        if let n = s["compaction_level"] {
            let expected = "an integer from 0 to 9 or 'off'"
            if let text = try scalar(n, "ledger.compaction_level", expected) {
                if Self.lowerASCII(text) == "off" {
                    g.compactionLevel = nil
                } else if let v = Int(text), (0...9).contains(v) {
                    g.compactionLevel = v
                } else {
                    throw mismatch(n, "ledger.compaction_level", expected)
                }
            }
        }
        // Below 1MiB one burst would pause publishers; above 16GiB is memory no bus should hold unwritten.
        if let n = s["max_pending"], let v = try size(n, "ledger.max_pending", (1 << 20)...(16 << 30)) {
            g.maxPending = v
        }
        // Below 64KiB every few messages would seal a segment; above 4GiB a segment is too big to compact or archive at once.
        if let n = s["segment_bytes"], let v = try size(n, "ledger.segment_bytes", (64 << 10)...(4 << 30)) {
            g.segmentBytes = v
        }
        if let n = s["segment_age"], let v = try seconds(n, "ledger.segment_age", 1...Self.maxSegmentAgeSeconds) {
            g.segmentAgeSeconds = v
        }
        if let n = s["retention"] {
            let r = try section(n, "ledger.retention", keys: ["max_age", "max_bytes"])
            if let n = r["max_age"], let v = try seconds(n, "ledger.retention.max_age", 0...Self.maxRetentionSeconds) {
                g.retentionMaxAgeSeconds = v
            }
            if let n = r["max_bytes"], let v = try size(n, "ledger.retention.max_bytes", nil) { g.retentionMaxBytes = v }
        }
        // `~` (the default) is a choice here: retired segments are deleted.
        if let n = s["archive_dir"] { g.archiveDir = try path(n, "ledger.archive_dir") }
        return g
    }
}
