import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaConfigLoader

/// A phoenix.yaml that sets every key to a value other than its default.
let fullFile = """
    # Vimana kernel configuration
    kernel:
      bind: 0.0.0.0
      port: 6380
      http_port: 0
      protected_mode: no
      limits:
        max_clients: 500
        max_payload: 4MiB
        max_inline: 16 KiB
        query_buffer_before_auth: 2mb
        pubsub_output:
          hard: 0
          soft: 4000k
          soft_seconds: 2m
    logging:
      level: debug
      format: json
    ledger:
      enabled: off
      dir: /var/lib/vimana/ledger
      record: ["orders.*", "audit"]
      exclude: []
      fsync: always
      compression_level: 0
      compaction_level: 9
      max_pending: 1GiB
      segment_bytes: 128 MiB
      segment_age: 10m
      retention:
        max_age: 168h
        max_bytes: 10GiB
      archive_dir: /srv/archive

    """

@Suite struct ConfigLoaderTests {
    @Test func emptyTextYieldsDefaults() throws {
        for text in ["", "\n\n", "# only a comment\n# and another\n", "---\n", "~\n", "kernel:\nlogging: ~\n"] {
            let config = try loaded(text)
            #expect(config == Configuration(source: "phoenix.yaml"), "for \(text.debugDescription)")
        }
    }

    @Test func fullFileSetsEveryField() throws {
        let config = try loaded(fullFile)
        #expect(config.source == "phoenix.yaml")
        #expect(config.kernel.bind == "0.0.0.0")
        #expect(config.kernel.port == 6380)
        #expect(config.kernel.httpPort == 0)
        #expect(config.kernel.protectedMode == false)
        let l = config.kernel.limits
        #expect(l.maxClients == 500)
        #expect(l.maxPayload == 4 << 20)
        #expect(l.maxInline == 16 << 10)
        #expect(l.queryBufferBeforeAuth == 2 << 20)
        #expect(l.pubsubOutputHard == 0)
        #expect(l.pubsubOutputSoft == 4_000_000)
        #expect(l.pubsubOutputSoftSeconds == 120)
        #expect(config.logging.level == .debug)
        #expect(config.logging.format == .json)
        let g = config.ledger
        #expect(g.enabled == false)
        #expect(g.dir == "/var/lib/vimana/ledger")
        #expect(g.record == ["orders.*", "audit"])
        #expect(g.exclude == [])
        #expect(g.fsync == .always)
        #expect(g.compressionLevel == 0)
        #expect(g.compactionLevel == 9)
        #expect(g.maxPending == 1 << 30)
        #expect(g.segmentBytes == 128 << 20)
        #expect(g.segmentAgeSeconds == 600)
        #expect(g.retentionMaxAgeSeconds == 7 * 86_400)
        #expect(g.retentionMaxBytes == 10 << 30)
        #expect(g.archiveDir == "/srv/archive")
    }

    @Test func omittedKeysKeepTheirDefaults() throws {
        let config = try loaded("kernel:\n  limits:\n    max_clients: 7\n")
        var expected = Configuration(source: "phoenix.yaml")
        expected.kernel.limits.maxClients = 7
        #expect(config == expected)
    }

    @Test func nullValueMeansDefault() throws {
        let config = try loaded("kernel:\n  port: ~\n  bind: null\n  limits:\nlogging:\n  level:\n")
        #expect(config == Configuration(source: "phoenix.yaml"))
    }

    @Test func quotedNumbersAreAcceptedWhereTheSchemaWantsNumbers() throws {
        let config = try loaded("kernel:\n  port: \"7000\"\n  http_port: '7001'\n  limits: {max_payload: \"2MiB\"}\n")
        #expect(config.kernel.port == 7000)
        #expect(config.kernel.httpPort == 7001)
        #expect(config.kernel.limits.maxPayload == 2 << 20)
    }

    @Test func httpPortOffDisablesHTTP() throws {
        #expect(try loaded("kernel:\n  http_port: off\n").kernel.httpPort == -1)
        #expect(try loaded("kernel:\n  http_port: -1\n").kernel.httpPort == -1)
    }

    @Test func localhostBindMeansLoopback() throws {
        #expect(try loaded("kernel:\n  bind: localhost\n").kernel.bind == "127.0.0.1")
    }

    @Test func limitsAcceptTheirBounds() throws {
        let config = try loaded("""
            kernel:
              port: 65535
              limits:
                max_clients: 1000000
                max_payload: 512MiB
                max_inline: 1KiB
                query_buffer_before_auth: 1GiB
                pubsub_output: {soft_seconds: 86400s}
            """)
        #expect(config.kernel.port == 65535)
        #expect(config.kernel.limits.maxClients == 1_000_000)
        #expect(config.kernel.limits.maxPayload == Limits.maxPayloadCeiling)
        #expect(config.kernel.limits.maxInline == 1024)
        #expect(config.kernel.limits.queryBufferBeforeAuth == 1 << 30)
        #expect(config.kernel.limits.pubsubOutputSoftSeconds == 86_400)
    }

    @Test func queryBufferDefaultsTo64MiBAndAlwaysAdmitsAMaximalArgument() throws {
        #expect(try loaded("kernel:\n  port: 1\n").kernel.limits.queryBuffer == 64 << 20)
        // A large max_payload raises the default to what one such argument needs.
        #expect(try loaded("kernel:\n  limits:\n    max_payload: 512MiB\n").kernel.limits.queryBuffer
                == 2 * (512 << 20) + (64 << 10))
        let set = try loaded("kernel:\n  limits:\n    max_payload: 1KiB\n    query_buffer: 1MiB\n")
        #expect(set.kernel.limits.queryBuffer == 1 << 20)
    }

    @Test func loadsAFileAndRecordsItsPathAsSource() throws {
        let file = TemporaryFile(Array(fullFile.utf8))
        defer { file.remove() }
        let config = try ConfigLoader.load(path: file.path)
        #expect(config.source == file.path)
        #expect(config.kernel.port == 6380)
    }
}
