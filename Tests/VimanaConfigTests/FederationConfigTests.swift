import Foundation
import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// The `federation:` section (issue 15, Protocol/FEDERATION.md): what it
/// accepts, each mistake with the exact text `vimana check` prints, how it is
/// rendered (the password never), and that a reload names it as needing a restart.
@Suite struct FederationConfigTests {
    /// A valid section's first lines, to which a case adds or changes one key.
    static let minimal = "federation:\n  node: kernel-a\n  cluster: [\"127.0.0.1:7000\"]\n  topics: [orders]\n"

    static let full = """
        federation:
          node: kernel-a
          cluster: ["127.0.0.1:7000", "[::1]:7001", "redis-2.example.net:7002"]
          user: vimana
          password: s3cret-federation
          topics: ["orders.*", "chat"]
          prefix: "bus:eu"
          wait_replicas: 2
          wait_timeout_ms: 250
          batch_entries: 100

        """

    // MARK: - Accepted

    @Test func aFullSectionParsesToItsValues() throws {
        let f = try #require(try loaded(Self.full).federation)
        #expect(f.node == "kernel-a")
        #expect(f.cluster == [.init(host: "127.0.0.1", port: 7000), .init(host: "::1", port: 7001),
                              .init(host: "redis-2.example.net", port: 7002)])
        #expect(f.user == "vimana")
        #expect(f.password == "s3cret-federation")
        #expect(f.topics == ["orders.*", "chat"])
        #expect(f.prefix == "bus:eu")
        #expect(f.waitReplicas == 2)
        #expect(f.waitTimeoutMillis == 250)
        #expect(f.batchEntries == 100)
    }

    @Test func leftOutKeysTakeTheDocumentedDefaults() throws {
        let f = try #require(try loaded(Self.minimal).federation)
        #expect(f.user == nil)
        #expect(f.password == nil)
        #expect(f.prefix == "vimana")
        #expect(f.waitReplicas == 1)
        #expect(f.waitTimeoutMillis == 1000)
        #expect(f.batchEntries == 512)
        // Null keeps a default too, as elsewhere in phoenix.yaml.
        let nulls = Self.minimal + "  user: ~\n  password: ~\n  prefix: ~\n  wait_replicas: ~\n  wait_timeout_ms:\n  batch_entries: null\n"
        #expect(try loaded(nulls).federation == f)
    }

    /// Absent or null: the kernel works alone, as before federation existed.
    @Test func anAbsentOrNullSectionIsNil() throws {
        #expect(try loaded("").federation == nil)
        #expect(try loaded("kernel:\n  port: 7379\n").federation == nil)
        #expect(try loaded("federation:\n").federation == nil)
        #expect(try loaded("federation: ~\n").federation == nil)
        #expect(Configuration().federation == nil)
    }

    /// One address and one pattern may be written without a sequence, as `ledger.record` may.
    @Test func oneAddressAndOnePatternNeedNoSequence() throws {
        let f = try #require(try loaded("federation:\n  node: a\n  cluster: redis:6379\n  topics: \"*\"\n").federation)
        #expect(f.cluster == [.init(host: "redis", port: 6379)])
        #expect(f.topics == ["*"])
    }

    @Test func theBoundsOfEachRangeAreAccepted() throws {
        let longest = String(repeating: "n", count: 64)
        let low = try #require(try loaded("federation:\n  node: \(longest)\n  cluster: [\"h:1\"]\n  topics: [t]\n"
                                          + "  prefix: \"A-z_0.9:\"\n  wait_replicas: 0\n  wait_timeout_ms: 1\n  batch_entries: 1\n").federation)
        #expect(low.node == longest && low.prefix == "A-z_0.9:" && low.cluster == [.init(host: "h", port: 1)])
        #expect(low.waitReplicas == 0 && low.waitTimeoutMillis == 1 && low.batchEntries == 1)
        let high = try #require(try loaded("federation:\n  node: N\n  cluster: [\"[fe80::1]:65535\"]\n  topics: [t]\n"
                                           + "  prefix: \(longest)\n  wait_replicas: 16\n  wait_timeout_ms: 60000\n  batch_entries: 10000\n").federation)
        #expect(high.cluster == [.init(host: "fe80::1", port: 65535)] && high.prefix == longest)
        #expect(high.waitReplicas == 16 && high.waitTimeoutMillis == 60000 && high.batchEntries == 10000)
    }

    // MARK: - Refused

    static let keys = "node, cluster, user, password, topics, prefix, wait_replicas, wait_timeout_ms, batch_entries"
    static let address = "expected an address host:port (an IPv6 address as [::1]:7000)"
    static let nodeID = "expected a node id of 1 to 64 letters, digits, '_', '.' or '-'"

    @Test(arguments: [
        // the section itself
        ("federation: 5\n",
         "phoenix.yaml:1:13: federation: expected a mapping with keys \(keys), got '5'"),
        ("federation: [a, b]\n",
         "phoenix.yaml:1:13: federation: expected a mapping with keys \(keys), got a sequence"),
        ("federation:\n  node: a\n  clusters: [\"h:1\"]\n",
         "phoenix.yaml:3:3: unknown key 'clusters' in federation (expected one of: \(keys))"),
        // required keys
        ("federation:\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:1:1: federation: missing required key 'node'"),
        ("federation:\n  node: a\n  topics: [t]\n",
         "phoenix.yaml:1:1: federation: missing required key 'cluster'"),
        ("kernel:\n  port: 1\nfederation:\n  node: a\n  cluster: [\"h:1\"]\n",
         "phoenix.yaml:3:1: federation: missing required key 'topics'"),
        // node
        ("federation:\n  node: kernel/a\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:9: federation.node: \(nodeID), got 'kernel/a'"),
        ("federation:\n  node: \"\"\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:9: federation.node: \(nodeID), got ''"),
        ("federation:\n  node: \(String(repeating: "a", count: 65))\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:9: federation.node: \(nodeID), got '\(String(repeating: "a", count: 40))…'"),
        ("federation:\n  node: ~\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:9: federation.node: \(nodeID), got '~' (null)"),
        ("federation:\n  node: [a]\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:9: federation.node: \(nodeID), got a sequence"),
        // cluster
        ("federation:\n  node: a\n  cluster: [\"127.0.0.1\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got '127.0.0.1' (no port)"),
        ("federation:\n  node: a\n  cluster: [\"h:1\", \"h:\"]\n  topics: [t]\n",
         "phoenix.yaml:3:20: federation.cluster[1]: \(address), got 'h:' (no port)"),
        ("federation:\n  node: a\n  cluster: [\"h:0\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got 'h:0' (the port must be from 1 to 65535)"),
        ("federation:\n  node: a\n  cluster: [\"h:65536\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got 'h:65536' (the port must be from 1 to 65535)"),
        ("federation:\n  node: a\n  cluster: [\"h:+7000\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got 'h:+7000' (the port must be from 1 to 65535)"),
        ("federation:\n  node: a\n  cluster: [\":7000\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got ':7000' (no host)"),
        ("federation:\n  node: a\n  cluster: [\"::1:7000\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got '::1:7000' (an IPv6 address goes between brackets)"),
        ("federation:\n  node: a\n  cluster: [\"[::1]\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got '[::1]' (no port)"),
        ("federation:\n  node: a\n  cluster: [\"[redis]:7000\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got '[redis]:7000' (not an IPv6 address between the brackets)"),
        ("federation:\n  node: a\n  cluster: [\"red is:7000\"]\n  topics: [t]\n",
         "phoenix.yaml:3:13: federation.cluster[0]: \(address), got 'red is:7000'"),
        ("federation:\n  node: a\n  cluster: []\n  topics: [t]\n",
         "phoenix.yaml:3:12: federation.cluster: expected at least one address host:port (a string or a sequence of strings), got a sequence"),
        ("federation:\n  node: a\n  cluster:\n  topics: [t]\n",
         "phoenix.yaml:3:11: federation.cluster: expected at least one address host:port (a string or a sequence of strings), got '' (null)"),
        // topics
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: []\n",
         "phoenix.yaml:4:11: federation.topics: expected at least one topic pattern (a string or a sequence of strings), got a sequence"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [orders, \"\"]\n",
         "phoenix.yaml:4:20: federation.topics[1]: expected a non-empty topic pattern, got ''"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [orders, ~]\n",
         "phoenix.yaml:4:20: federation.topics[1]: expected a non-empty topic pattern, got '~' (null)"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [orders, \"_vimana.*\"]\n",
         "phoenix.yaml:4:20: federation.topics[1]: '_vimana.*' can match only the server's own _vimana. topics, which are never federated"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: _vimana.groups\n",
         "phoenix.yaml:4:11: federation.topics: '_vimana.groups' can match only the server's own _vimana. topics, which are never federated"),
        // prefix
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  prefix: \"bus{eu}\"\n",
         "phoenix.yaml:5:11: federation.prefix: expected a key prefix of 1 to 64 letters, digits, '_', '.', ':' or '-' (no '{' or '}': the keys' hash tags follow it), got 'bus{eu}'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  prefix: \"\"\n",
         "phoenix.yaml:5:11: federation.prefix: expected a key prefix of 1 to 64 letters, digits, '_', '.', ':' or '-' (no '{' or '}': the keys' hash tags follow it), got ''"),
        // credentials: the password is never shown
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  user: \"a b\"\n",
         "phoenix.yaml:5:9: federation.user: expected a user name: not empty, without spaces or NUL bytes, got 'a b'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  password: \"\"\n",
         "phoenix.yaml:5:13: federation.password: expected a string of 1 to 512 bytes without control characters"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  password: \"s3cret\\tx\"\n",
         "phoenix.yaml:5:13: federation.password: expected a string of 1 to 512 bytes without control characters"),
        // numbers
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  wait_replicas: 17\n",
         "phoenix.yaml:5:18: federation.wait_replicas: expected an integer from 0 to 16, got '17'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  wait_replicas: -1\n",
         "phoenix.yaml:5:18: federation.wait_replicas: expected an integer from 0 to 16, got '-1'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  wait_timeout_ms: 0\n",
         "phoenix.yaml:5:20: federation.wait_timeout_ms: expected an integer from 1 to 60000, got '0'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  wait_timeout_ms: 1s\n",
         "phoenix.yaml:5:20: federation.wait_timeout_ms: expected an integer from 1 to 60000, got '1s'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  batch_entries: 10001\n",
         "phoenix.yaml:5:18: federation.batch_entries: expected an integer from 1 to 10000, got '10001'"),
        ("federation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n  batch_entries: 99999999999999999999\n",
         "phoenix.yaml:5:18: federation.batch_entries: expected an integer from 1 to 10000, got '99999999999999999999'"),
        // the ledger is federation's outbox
        ("ledger:\n  enabled: false\nfederation:\n  node: a\n  cluster: [\"h:1\"]\n  topics: [t]\n",
         "phoenix.yaml:2:12: ledger.enabled: false, but federation needs the ledger (its outbox and inbox); set it to true or remove the federation section"),
    ])
    func aMistakeIsReportedWhereItIs(yaml: String, message: String) {
        #expect(loadError(yaml)?.description == message)
    }

    /// A password that breaks a rule is never echoed, whatever the rule.
    @Test func noMessageShowsThePassword() {
        for yaml in [Self.minimal + "  password: [s3cret-in-a-list]\n", Self.minimal + "  password: \"s3cret\\u0001\"\n"] {
            let error = loadError(yaml)
            #expect(error != nil)
            #expect(error?.description.contains("s3cret") == false, "\(String(describing: error))")
        }
    }

    @Test func noLedgerIsRefusedWithAFederation() throws {
        var federated = try loaded(Self.minimal)
        #expect(throws: ConfigError(path: "--no-ledger", message: "federation needs the ledger, and phoenix.yaml declares a "
                                    + "federation section; leave out --no-ledger, or use a configuration without it")) {
            try federated.disableLedger()
        }
    }

    // MARK: - vimana check

    /// `vimana check` prints the section with every key, the password only as set.
    @Test func theSectionIsRenderedWithoutThePassword() throws {
        let config = try loaded(Self.full)
        let text = config.render()
        #expect(text.hasSuffix("""
              ack_wait_after: 3
            federation:
              node: kernel-a
              cluster: ["127.0.0.1:7000", "[::1]:7001", "redis-2.example.net:7002"]
              user: vimana
              # password: set (not shown)
              topics: ["orders.*", "chat"]
              prefix: "bus:eu"
              wait_replicas: 2
              wait_timeout_ms: 250
              batch_entries: 100

            """), "\(text)")
        #expect(!text.contains("s3cret"))
        // Read back, it is the same section without the password.
        var expected = config
        expected.federation?.password = nil
        #expect(try loaded(text) == expected)
        // Without a user or a password: `user: ~`, no password line.
        let alone = try loaded(Self.minimal).render()
        #expect(alone.contains("\nfederation:\n  node: kernel-a\n  cluster: [\"127.0.0.1:7000\"]\n  user: ~\n  topics: [\"orders\"]\n"))
        #expect(!alone.contains("password"))
        // No section, nothing printed.
        #expect(!Configuration().render().contains("federation"))
    }

    // MARK: - The shipped example

    /// config/phoenix.yaml documents the section as a commented-out block:
    /// the file loads without it, and the block, uncommented, loads to the
    /// values its comments give.
    @Test func theShippedExampleLoadsUncommented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent("config/phoenix.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(try ConfigLoader.load(path: path).federation == nil)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex(of: "# federation:"))
        let block = lines[start...].prefix { $0.hasPrefix("#") }.map { $0.dropFirst(2) }.joined(separator: "\n")
        let f = try #require(try loaded(block + "\n").federation)
        var expected = FederationConfig(node: "kernel-a", cluster: [.init(host: "127.0.0.1", port: 7000),
                                                                     .init(host: "127.0.0.1", port: 7001),
                                                                     .init(host: "::1", port: 7002)],
                                        topics: ["orders.*", "chat"])
        expected.user = "vimana"
        #expect(f == expected)
        #expect(f.prefix == "vimana" && f.waitReplicas == 1 && f.waitTimeoutMillis == 1000 && f.batchEntries == 512)
    }

    /// docs/FEDERATION.md's configuration example loads to what its comments say.
    @Test func theOperatorsGuideExampleLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOfFile: root.appendingPathComponent("docs/FEDERATION.md").path, encoding: .utf8)
        let start = try #require(text.range(of: "```yaml\n"))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        let f = try #require(try loaded(String(text[start.upperBound..<end.lowerBound])).federation)
        var expected = FederationConfig(node: "kernel-a", cluster: [.init(host: "10.0.0.1", port: 7000),
                                                                     .init(host: "10.0.0.2", port: 7000),
                                                                     .init(host: "10.0.0.3", port: 7000)],
                                        topics: ["orders.*", "chat"])
        expected.user = "vimana"
        expected.password = "secret"
        #expect(f == expected)
    }

    // MARK: - Reload

    /// SIGHUP cannot apply a federation change: `changedKeys` names it (and
    /// the kernel logs it as needing a restart), never its values.
    @Test func aChangedSectionIsNamedAsAWhole() throws {
        let alone = try loaded("")
        let federated = try loaded(Self.full)
        #expect(federated.changedKeys(from: alone) == ["federation"])
        #expect(alone.changedKeys(from: federated) == ["federation"])
        var otherPassword = federated
        otherPassword.federation?.password = "another-s3cret"
        #expect(otherPassword.changedKeys(from: federated) == ["federation"])
        var otherBatch = federated
        otherBatch.federation?.batchEntries = 1
        #expect(otherBatch.changedKeys(from: federated) == ["federation"])
        #expect(federated.changedKeys(from: try loaded(Self.full)) == [])
        #expect(Configuration.comparedKeyNames.last == "federation")
    }
}
