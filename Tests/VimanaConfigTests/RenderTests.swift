import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaConfigLoader

@Suite struct RenderTests {
    @Test func defaultsRenderInTheDocumentedLayout() {
        #expect(Configuration().render() == """
            # effective configuration (source: built-in default)
            kernel:
              bind: 127.0.0.1
              port: 7379
              http_port: 7380
              protected_mode: true
              slowlog_log_slower_than: 10000
              slowlog_max_len: 128
              latency_monitor_threshold: 0
              limits:
                max_clients: 10000
                max_payload: 1MiB
                max_inline: 64KiB
                query_buffer: 64MiB
                query_buffer_before_auth: 1MiB
                pubsub_output:
                  hard: 32MiB
                  soft: 8MiB
                  soft_seconds: 60
                normal_output:
                  hard: 256MiB
                  soft: 0
                  soft_seconds: 0
            logging:
              level: info
              format: text
            ledger:
              enabled: true
              dir: data/ledger
              record: ["*"]
              exclude: ["_*"]
              fsync: everysec
              compression_level: 1
              compaction_level: 6
              max_pending: 64MiB
              segment_bytes: 64MiB
              segment_age: 3600s
              retention:
                max_age: 0s
                max_bytes: 0
              archive_dir: ~
            users: []
            agents: []
            \(renderedDefaultSystem)

            """)
    }

    @Test func disabledHTTPRendersAsOff() {
        var config = Configuration()
        config.kernel.httpPort = -1
        #expect(config.render().contains("\n  http_port: off\n"))
    }

    @Test func sourceCannotBreakOutOfTheComment() throws {
        let config = Configuration(source: "evil\nkernel: 1")
        #expect(config.render().hasPrefix("# effective configuration (source: evil?kernel: 1)\nkernel:\n"))
        #expect(try loaded(config.render()) == Configuration(source: "phoenix.yaml"))
    }

    @Test func renderRoundTrips() throws {
        var odd = Configuration(source: "odd")
        odd.kernel.bind = "0.0.0.0"
        odd.kernel.port = 0
        odd.kernel.httpPort = -1
        odd.kernel.protectedMode = false
        odd.kernel.limits.maxClients = 1
        odd.kernel.limits.maxPayload = 1000
        odd.kernel.limits.maxInline = 1536
        odd.kernel.limits.queryBufferBeforeAuth = 1 << 30
        odd.kernel.limits.pubsubOutputHard = 0
        odd.kernel.limits.pubsubOutputSoft = 3 << 30
        odd.kernel.limits.pubsubOutputSoftSeconds = 0
        odd.logging.level = .error
        odd.logging.format = .json
        odd.ledger.enabled = false
        odd.ledger.dir = "ledger dir"
        odd.ledger.record = ["a*", "b?c", "[de]f"]
        odd.ledger.exclude = []
        odd.ledger.fsync = .no
        odd.ledger.compressionLevel = 9
        odd.ledger.compactionLevel = 0
        odd.ledger.maxPending = 1_500_000
        odd.ledger.segmentBytes = 100_000
        odd.ledger.segmentAgeSeconds = 1
        odd.ledger.retentionMaxAgeSeconds = 3_153_600_000
        odd.ledger.retentionMaxBytes = 1
        odd.ledger.archiveDir = "/archive"

        for original in [Configuration(), try loaded(fullFile), odd] {
            var reloaded = try loaded(original.render(), path: "rendered.yaml")
            #expect(reloaded.source == "rendered.yaml")
            reloaded.source = original.source
            #expect(reloaded == original)
        }
    }
}
