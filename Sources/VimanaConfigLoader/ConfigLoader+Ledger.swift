import VimanaConfig

/// The `ledger:` section of phoenix.yaml (see `LedgerConfig` for what each key means).
extension Schema {
    func ledger(_ node: YAMLNode) throws(ConfigError) -> LedgerConfig {
        var g = LedgerConfig()
        let s = try section(node, "ledger", keys: [
            "enabled", "dir", "record", "exclude", "fsync", "compression_level", "compaction_level", "compaction_drop_deleted",
            "max_pending", "segment_bytes", "segment_age", "retention", "archive_dir",
        ])
        if let n = s["enabled"], let v = try boolean(n, "ledger.enabled") { g.enabled = v }
        if let n = s["dir"], let v = try path(n, "ledger.dir") { g.dir = v }
        if let n = s["record"], let v = try strings(n, "ledger.record") { g.record = v }
        if let n = s["exclude"], let v = try strings(n, "ledger.exclude") { g.exclude = v }
        // Unquoted `no` is the text "no" here (libyaml does not resolve booleans), so it names the policy.
        if let n = s["fsync"], let v: FsyncPolicy = try choice(n, "ledger.fsync") { g.fsync = v }
        if let n = s["compression_level"], let v = try integer(n, "ledger.compression_level", ConfigLimits.zlibLevel) {
            g.compressionLevel = v
        }
        // `off`: sealed segments keep the frames they were written in.
        if let n = s["compaction_level"] {
            let levels = ConfigLimits.zlibLevel
            let expected = "an integer from \(levels.lowerBound) to \(levels.upperBound) or 'off'"
            if let text = try scalar(n, "ledger.compaction_level", expected) {
                if Self.lowerASCII(text) == "off" {
                    g.compactionLevel = nil
                } else if let v = Int(text), levels.contains(v) {
                    g.compactionLevel = v
                } else {
                    throw mismatch(n, "ledger.compaction_level", expected)
                }
            }
        }
        if let n = s["compaction_drop_deleted"], let v = try boolean(n, "ledger.compaction_drop_deleted") {
            g.compactionDropDeleted = v
        }
        if let n = s["max_pending"], let v = try size(n, "ledger.max_pending", ConfigLimits.maxPending) {
            g.maxPending = v
        }
        if let n = s["segment_bytes"], let v = try size(n, "ledger.segment_bytes", ConfigLimits.segmentBytes) {
            g.segmentBytes = v
        }
        if let n = s["segment_age"], let v = try seconds(n, "ledger.segment_age", ConfigLimits.segmentAgeSeconds) {
            g.segmentAgeSeconds = v
        }
        if let n = s["retention"] {
            let r = try section(n, "ledger.retention", keys: ["max_age", "max_bytes"])
            if let n = r["max_age"], let v = try seconds(n, "ledger.retention.max_age", ConfigLimits.retentionSeconds) {
                g.retentionMaxAgeSeconds = v
            }
            if let n = r["max_bytes"], let v = try size(n, "ledger.retention.max_bytes", nil) { g.retentionMaxBytes = v }
        }
        // `~` (the default) is a choice here: retired segments are deleted.
        if let n = s["archive_dir"] { g.archiveDir = try path(n, "ledger.archive_dir") }
        return g
    }
}
