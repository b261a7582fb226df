import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// The `ledger:` section: what each key accepts, what it refuses (with the exact
/// text `vimana check` prints), and that the rendered section reads back unchanged.
@Suite struct LedgerConfigTests {
    // MARK: - Accepted

    @Test func defaultsAreTheDocumentedOnes() {
        let g = Configuration().ledger
        #expect(g.enabled == true)
        #expect(g.dir == "data/ledger")
        #expect(g.record == ["*"])
        #expect(g.exclude == ["_*"])
        #expect(g.fsync == .everysec)
        #expect(g.compressionLevel == 1)
        #expect(g.compactionLevel == 6)
        #expect(g.maxPending == 64 << 20)
        #expect(g.segmentBytes == 64 << 20)
        #expect(g.segmentAgeSeconds == 3600)
        #expect(g.retentionMaxAgeSeconds == 0)
        #expect(g.retentionMaxBytes == 0)
        #expect(g.archiveDir == nil)
    }

    @Test func emptyOrNullSectionKeepsTheDefaults() throws {
        for text in ["ledger:\n", "ledger: ~\n", "ledger: {}\n", "ledger:\n  retention:\n  dir: ~\n  record: null\n"] {
            #expect(try loaded(text) == Configuration(source: "phoenix.yaml"), "for \(text.debugDescription)")
        }
    }

    @Test func oneKeyChangesOnlyItsField() throws {
        var expected = Configuration(source: "phoenix.yaml")
        expected.ledger.segmentBytes = 1 << 30
        #expect(try loaded("kernel:\n  port: 7379\nledger:\n  segment_bytes: 1GiB\n") == expected)
    }

    @Test(arguments: [
        ("true", true), ("True", true), ("YES", true), ("on", true), ("\"yes\"", true),
        ("false", false), ("No", false), ("OFF", false), ("'off'", false),
    ])
    func enabledReadsEveryBooleanSpelling(text: String, value: Bool) throws {
        #expect(try loaded("ledger:\n  enabled: \(text)\n").ledger.enabled == value)
    }

    @Test(arguments: [
        ("no", FsyncPolicy.no), ("No", .no), ("NO", .no), ("\"no\"", .no),
        ("always", .always), ("Always", .always), ("everysec", .everysec), ("EverySec", .everysec),
    ])
    func fsyncNoIsThePolicyNotABoolean(text: String, policy: FsyncPolicy) throws {
        #expect(try loaded("ledger:\n  fsync: \(text)\n").ledger.fsync == policy)
    }

    @Test func recordAndExcludeAcceptOneStringForAListOfOne() throws {
        let g = try loaded("ledger:\n  record: orders.*\n  exclude: \"_*\"\n").ledger
        #expect(g.record == ["orders.*"])
        #expect(g.exclude == ["_*"])
    }

    @Test func recordAndExcludeAcceptBlockAndEmptySequences() throws {
        let g = try loaded("ledger:\n  record:\n    - \"*\"\n    - 'a?c'\n    - h[ae]llo\n  exclude: []\n").ledger
        #expect(g.record == ["*", "a?c", "h[ae]llo"])
        #expect(g.exclude == [])
    }

    @Test func archiveDirNullMeansDeleteAndQuotedTildeIsAPath() throws {
        for text in ["~", "null", ""] {
            #expect(try loaded("ledger:\n  archive_dir: \(text)\n").ledger.archiveDir == nil)
        }
        #expect(try loaded("ledger:\n  archive_dir: \"~\"\n").ledger.archiveDir == "~")
        #expect(try loaded("ledger:\n  archive_dir: old segments/\n").ledger.archiveDir == "old segments/")
    }

    @Test func rangesAcceptTheirBounds() throws {
        let low = try loaded("""
            ledger:
              compression_level: 0
              compaction_level: 0
              max_pending: 1MiB
              segment_bytes: 64KiB
              segment_age: 1s
              retention: {max_age: 0, max_bytes: 0}
            """).ledger
        #expect(low.compressionLevel == 0)
        #expect(low.compactionLevel == 0)
        #expect(low.maxPending == 1 << 20)
        #expect(low.segmentBytes == 64 << 10)
        #expect(low.segmentAgeSeconds == 1)
        #expect(low.retentionMaxAgeSeconds == 0)
        let high = try loaded("""
            ledger:
              compression_level: 9
              compaction_level: 9
              max_pending: 16GiB
              segment_bytes: 4GiB
              segment_age: 720h
              retention: {max_age: 876000h, max_bytes: 8589934591GiB}
            """).ledger
        #expect(high.compressionLevel == 9)
        #expect(high.compactionLevel == 9)
        #expect(high.maxPending == 16 << 30)
        #expect(high.segmentBytes == 4 << 30)
        #expect(high.segmentAgeSeconds == 30 * 86_400)
        #expect(high.retentionMaxAgeSeconds == 100 * 365 * 86_400)
        #expect(high.retentionMaxBytes == Int.max - (1 << 30) + 1)
    }

    @Test func compactionCanBeTurnedOff() throws {
        #expect(try loaded("ledger:\n  compaction_level: off\n").ledger.compactionLevel == nil)
        #expect(try loaded("ledger:\n  compaction_level: OFF\n").ledger.compactionLevel == nil)
        #expect(try loaded("").ledger.compactionLevel == 6)
    }

    @Test func removedRecordsAreEmptiedUnlessKeptForAudit() throws {
        #expect(try loaded("").ledger.compactionDropDeleted)
        #expect(try loaded("ledger:\n  compaction_drop_deleted: false\n").ledger.compactionDropDeleted == false)
        #expect(try loaded("ledger:\n  compaction_drop_deleted: true\n").ledger.compactionDropDeleted)
    }

    // MARK: - Refused

    @Test(arguments: [
        // unknown keys and wrong shapes
        ("ledger:\n  fsnyc: always\n",
         "phoenix.yaml:2:3: unknown key 'fsnyc' in ledger (expected one of: enabled, dir, record, exclude, fsync, compression_level, compaction_level, compaction_drop_deleted, max_pending, segment_bytes, segment_age, retention, archive_dir)"),
        ("ledger:\n  retention:\n    max_size: 1GiB\n",
         "phoenix.yaml:3:5: unknown key 'max_size' in ledger.retention (expected one of: max_age, max_bytes)"),
        ("ledger: on\n",
         "phoenix.yaml:1:9: ledger: expected a mapping with keys enabled, dir, record, exclude, fsync, compression_level, compaction_level, compaction_drop_deleted, max_pending, segment_bytes, segment_age, retention, archive_dir, got 'on'"),
        ("ledger:\n  compaction_drop_deleted: sometimes\n",
         "phoenix.yaml:2:28: ledger.compaction_drop_deleted: expected true or false (or yes/no, on/off), got 'sometimes'"),
        ("ledger:\n  retention: 7d\n",
         "phoenix.yaml:2:14: ledger.retention: expected a mapping with keys max_age, max_bytes, got '7d'"),
        ("ledger:\n  dir: a\n  dir: b\n",
         "phoenix.yaml:3:3: duplicate key 'dir' in ledger (first at line 2, column 3)"),
        // enabled
        ("ledger:\n  enabled: maybe\n",
         "phoenix.yaml:2:12: ledger.enabled: expected true or false (or yes/no, on/off), got 'maybe'"),
        ("ledger:\n  enabled: 1\n",
         "phoenix.yaml:2:12: ledger.enabled: expected true or false (or yes/no, on/off), got '1'"),
        ("ledger:\n  enabled: [true]\n",
         "phoenix.yaml:2:12: ledger.enabled: expected true or false (or yes/no, on/off), got a sequence"),
        // dir and archive_dir
        ("ledger:\n  dir: \"\"\n",
         "phoenix.yaml:2:8: ledger.dir: expected a non-empty path without NUL bytes, got ''"),
        ("ledger:\n  dir: \"a\\0b\"\n",
         "phoenix.yaml:2:8: ledger.dir: expected a non-empty path without NUL bytes, got 'a\u{0}b'"),
        ("ledger:\n  dir: {path: x}\n",
         "phoenix.yaml:2:8: ledger.dir: expected a non-empty path without NUL bytes, got a mapping"),
        ("ledger:\n  archive_dir: ''\n",
         "phoenix.yaml:2:16: ledger.archive_dir: expected a non-empty path without NUL bytes, got ''"),
        ("ledger:\n  archive_dir: [a]\n",
         "phoenix.yaml:2:16: ledger.archive_dir: expected a non-empty path without NUL bytes, got a sequence"),
        // record and exclude: the whole value, then each item at its own position
        ("ledger:\n  record: \"\"\n",
         "phoenix.yaml:2:11: ledger.record: expected a non-empty string or a sequence of non-empty strings, got ''"),
        ("ledger:\n  record: {a: 1}\n",
         "phoenix.yaml:2:11: ledger.record: expected a non-empty string or a sequence of non-empty strings, got a mapping"),
        ("ledger:\n  record: [\"a\", \"\"]\n",
         "phoenix.yaml:2:17: ledger.record[1]: expected a non-empty string, got ''"),
        ("ledger:\n  exclude:\n    - _*\n    - ~\n",
         "phoenix.yaml:4:7: ledger.exclude[1]: expected a non-empty string, got '~' (null)"),
        ("ledger:\n  exclude: [[a]]\n",
         "phoenix.yaml:2:13: ledger.exclude[0]: expected a non-empty string, got a sequence"),
        // fsync
        ("ledger:\n  fsync: sometimes\n",
         "phoenix.yaml:2:10: ledger.fsync: expected one of always, everysec, no, got 'sometimes'"),
        ("ledger:\n  fsync: off\n",
         "phoenix.yaml:2:10: ledger.fsync: expected one of always, everysec, no, got 'off'"),
        // levels
        ("ledger:\n  compression_level: 10\n",
         "phoenix.yaml:2:22: ledger.compression_level: expected an integer from 0 to 9, got '10'"),
        ("ledger:\n  compaction_level: -1\n",
         "phoenix.yaml:2:21: ledger.compaction_level: expected an integer from 0 to 9 or 'off', got '-1'"),
        ("ledger:\n  compaction_level: fast\n",
         "phoenix.yaml:2:21: ledger.compaction_level: expected an integer from 0 to 9 or 'off', got 'fast'"),
        // sizes
        ("ledger:\n  max_pending: 1023KiB\n",
         "phoenix.yaml:2:16: ledger.max_pending: expected a size from 1MiB to 16GiB (like 64KiB or 65536), got '1023KiB'"),
        ("ledger:\n  max_pending: 17GiB\n",
         "phoenix.yaml:2:16: ledger.max_pending: expected a size from 1MiB to 16GiB (like 64KiB or 65536), got '17GiB'"),
        ("ledger:\n  segment_bytes: 32KiB\n",
         "phoenix.yaml:2:18: ledger.segment_bytes: expected a size from 64KiB to 4GiB (like 64KiB or 65536), got '32KiB'"),
        ("ledger:\n  segment_bytes: 99999999999999GiB\n",
         "phoenix.yaml:2:18: ledger.segment_bytes: expected a size from 64KiB to 4GiB (like 64KiB or 65536), got '99999999999999GiB' (too large)"),
        ("ledger:\n  retention:\n    max_bytes: -1\n",
         "phoenix.yaml:3:16: ledger.retention.max_bytes: expected a size (like 32MiB or 33554432; 0 = no limit), got '-1'"),
        // durations
        ("ledger:\n  segment_age: 0\n",
         "phoenix.yaml:2:16: ledger.segment_age: expected a duration in whole seconds from 1 to 2592000 (like 60, 60s, 2m or 1h), got '0'"),
        ("ledger:\n  segment_age: 721h\n",
         "phoenix.yaml:2:16: ledger.segment_age: expected a duration in whole seconds from 1 to 2592000 (like 60, 60s, 2m or 1h), got '721h'"),
        ("ledger:\n  segment_age: 1500ms\n",
         "phoenix.yaml:2:16: ledger.segment_age: expected a duration in whole seconds from 1 to 2592000 (like 60, 60s, 2m or 1h), got '1500ms'"),
        ("ledger:\n  retention:\n    max_age: 876001h\n",
         "phoenix.yaml:3:14: ledger.retention.max_age: expected a duration in whole seconds from 0 to 3153600000 (like 60, 60s, 2m or 1h), got '876001h'"),
        ("ledger:\n  retention:\n    max_age: 7d\n",
         "phoenix.yaml:3:14: ledger.retention.max_age: expected a duration in whole seconds from 0 to 3153600000 (like 60, 60s, 2m or 1h), got '7d'"),
    ])
    func errorNamesPositionAndExpectation(yaml: String, expected: String) {
        #expect(loadError(yaml)?.description == expected)
    }

    /// `*` starts an alias in YAML: an unquoted pattern `*` is refused by the reader, not taken as text.
    @Test func unquotedStarIsAnAliasAndRefused() throws {
        let error = try #require(loadError("ledger:\n  record: *\n"))
        #expect(error.line == 2)
        #expect(error.message.hasPrefix("invalid YAML: "))
    }

    // MARK: - Rendered

    @Test func nonDefaultLedgerRendersInTheDocumentedLayout() {
        var config = Configuration()
        config.ledger.enabled = false
        config.ledger.dir = "/var/lib/vimana"
        config.ledger.record = ["orders.*", "audit"]
        config.ledger.exclude = []
        config.ledger.fsync = .no
        config.ledger.compressionLevel = 0
        config.ledger.compactionLevel = 9
        config.ledger.maxPending = 1_000_000
        config.ledger.segmentBytes = 4 << 30
        config.ledger.segmentAgeSeconds = 90
        config.ledger.retentionMaxAgeSeconds = 7 * 86_400
        config.ledger.retentionMaxBytes = 10 << 30
        config.ledger.archiveDir = "archive"
        let text = config.render()
        #expect(text.hasSuffix("""
            ledger:
              enabled: false
              dir: /var/lib/vimana
              record: ["orders.*", "audit"]
              exclude: []
              fsync: no
              compression_level: 0
              compaction_level: 9
              max_pending: 1000000
              segment_bytes: 4GiB
              segment_age: 90s
              retention:
                max_age: 604800s
                max_bytes: 10GiB
              archive_dir: archive
            users: []
            agents: []
            \(renderedDefaultSystem)

            """))
    }

    @Test func awkwardStringsAreQuotedAndRoundTrip() throws {
        var config = Configuration()
        config.ledger.dir = "null"
        config.ledger.archiveDir = "~"
        config.ledger.record = ["*", "a,b", "[x]", "#c", "say \"hi\"", "back\\slash", "tab\there", "x\u{0}y",
                                "del\u{7F}", "nel\u{85}", "ls\u{2028}ps\u{2029}", "bom\u{FEFF}", "nc\u{FFFE}\u{FFFF}",
                                "é", "😀", " lead", "trail "]
        config.ledger.exclude = ["-x", "key: value"]
        let text = config.render()
        #expect(text.contains("\n  dir: \"null\"\n"))
        #expect(text.contains("\n  archive_dir: \"~\"\n"))
        #expect(text.contains("\n  record: [\"*\", \"a,b\", \"[x]\", \"#c\", \"say \\\"hi\\\"\", \"back\\\\slash\", \"tab\\x09here\","))
        #expect(text.contains("\"nel\\x85\", \"ls\\u2028ps\\u2029\", \"bom\\ufeff\", \"nc\\ufffe\\uffff\", \"é\", \"😀\""))
        #expect(text.contains("\n  exclude: [\"-x\", \"key: value\"]\n"))
        var reloaded = try loaded(text)
        reloaded.source = config.source
        #expect(reloaded == config)
    }

    @Test func plainLookingPathsStayPlain() {
        var config = Configuration()
        for dir in ["data/ledger", "/a/b.c/d_e-f+g", "./x", "1234"] {
            config.ledger.dir = dir
            #expect(config.render().contains("\n  dir: \(dir)\n"), "for \(dir)")
        }
        for dir in ["-a", "a b", "a:b", "Null", "NULL", "~x", "a#b"] {
            config.ledger.dir = dir
            #expect(config.render().contains("\n  dir: \"\(dir)\"\n"), "for \(dir)")
        }
    }

    @Test func sourceWithAUnicodeLineBreakStaysInTheComment() throws {
        let config = Configuration(source: "evil\u{85}ledger: 1\u{2028}kernel: 2")
        #expect(config.render().hasPrefix("# effective configuration (source: evil?ledger: 1?kernel: 2)\n"))
        #expect(try loaded(config.render()) == Configuration(source: "phoenix.yaml"))
    }

    /// Retention with external agents: a warning at `ledger.retention` (an
    /// agent kit agent's state would be rebuilt from part of its events);
    /// none without agents or without retention.
    @Test func retentionWithAgentsIsWarnedAbout() throws {
        let agents = "agents:\n  - id: counter\n    subscribes: [\"tasks.counter\"]\n"
        let retention = "ledger:\n  retention:\n    max_age: 1h\n"
        let both = try ConfigLoader.load(yaml: retention + agents, path: "p.yaml")
        #expect(both.warnings.map(\.description) == [
            "p.yaml:3:5: warning: ledger.retention retires old segments, and with them old entries of events.<id>: an agent "
            + "that rebuilds its state from them (VimanaAgentKit, Protocol/AGENTS.md §10) would start from a "
            + "part of its events unless its latest snapshot is kept (retention longer than an agent may be down, plus an hour); this file declares agent counter"])
        #expect(try ConfigLoader.load(yaml: retention, path: "p.yaml").warnings.isEmpty)
        #expect(try ConfigLoader.load(yaml: agents, path: "p.yaml").warnings.isEmpty)
    }
}
