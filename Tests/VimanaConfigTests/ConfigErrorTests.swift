import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// Every kind of mistake, with the exact text `vimana check` prints. Positions
/// are those of the offending key (unknown, duplicate) or value (type, range).
@Suite struct ConfigErrorTests {
    @Test(arguments: [
        // unknown keys, at each level
        ("kernal:\n  port: 1\n",
         "phoenix.yaml:1:1: unknown key 'kernal' at the top level (expected one of: kernel, logging, ledger, users, agents, system, federation)"),
        ("kernel:\n  prot: 7379\n",
         "phoenix.yaml:2:3: unknown key 'prot' in kernel (expected one of: bind, port, http_port, password, protected_mode, http_token, http_token_file, limits, slowlog_log_slower_than, slowlog_max_len, latency_monitor_threshold)"),
        ("kernel:\n  limits:\n    max_client: 5\n",
         "phoenix.yaml:3:5: unknown key 'max_client' in kernel.limits (expected one of: max_clients, max_payload, max_inline, query_buffer, query_buffer_before_auth, pubsub_output, normal_output)"),
        ("kernel:\n  limits:\n    pubsub_output:\n      hard: 1\n      sft: 2\n",
         "phoenix.yaml:5:7: unknown key 'sft' in kernel.limits.pubsub_output (expected one of: hard, soft, soft_seconds)"),
        ("logging: {level: info, colour: true}\n",
         "phoenix.yaml:1:24: unknown key 'colour' in logging (expected one of: level, format)"),
        // wrong types
        ("kernel:\n  port: abc\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got 'abc'"),
        ("kernel:\n  port: [1]\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got a sequence"),
        ("kernel:\n  port: {a: 1}\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got a mapping"),
        ("kernel:\n  port: \"\"\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got ''"),
        ("kernel: 7379\n",
         "phoenix.yaml:1:9: kernel: expected a mapping with keys bind, port, http_port, password, protected_mode, http_token, http_token_file, limits, slowlog_log_slower_than, slowlog_max_len, latency_monitor_threshold, got '7379'"),
        ("kernel:\n  slowlog_log_slower_than: -2\n",
         "phoenix.yaml:2:28: kernel.slowlog_log_slower_than: expected an integer from -1 to 9223372036854775807, got '-2'"),
        ("kernel:\n  slowlog_max_len: -1\n",
         "phoenix.yaml:2:20: kernel.slowlog_max_len: expected an integer from 0 to 9223372036854775807, got '-1'"),
        ("kernel:\n  latency_monitor_threshold: 1ms\n",
         "phoenix.yaml:2:30: kernel.latency_monitor_threshold: expected an integer from 0 to 9223372036854775807, got '1ms'"),
        ("kernel:\n  limits: [1, 2]\n",
         "phoenix.yaml:2:11: kernel.limits: expected a mapping with keys max_clients, max_payload, max_inline, query_buffer, query_buffer_before_auth, pubsub_output, normal_output, got a sequence"),
        ("- kernel\n",
         "phoenix.yaml:1:1: expected a mapping at the top level with keys kernel, logging, ledger, users, agents, system, federation, got a sequence"),
        ("kernel:\n  bind: [127.0.0.1]\n",
         "phoenix.yaml:2:9: kernel.bind: expected an IPv4 address such as 127.0.0.1 or 0.0.0.0, or 'localhost', got a sequence"),
        // out of range or malformed values
        ("kernel:\n  port: 65536\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got '65536'"),
        ("kernel:\n  port: -1\n",
         "phoenix.yaml:2:9: kernel.port: expected an integer from 0 to 65535, got '-1'"),
        ("kernel:\n  http_port: -2\n",
         "phoenix.yaml:2:14: kernel.http_port: expected an integer from -1 to 65535 or 'off', got '-2'"),
        ("kernel:\n  bind: 10.0.0.256\n",
         "phoenix.yaml:2:9: kernel.bind: expected an IPv4 address such as 127.0.0.1 or 0.0.0.0, or 'localhost', got '10.0.0.256'"),
        ("kernel:\n  bind: ::1\n",
         "phoenix.yaml:2:9: kernel.bind: expected an IPv4 address such as 127.0.0.1 or 0.0.0.0, or 'localhost', got '::1'"),
        ("kernel:\n  limits:\n    max_clients: 0\n",
         "phoenix.yaml:3:18: kernel.limits.max_clients: expected an integer from 1 to 1000000, got '0'"),
        ("kernel:\n  limits:\n    max_payload: 1GiB\n",
         "phoenix.yaml:3:18: kernel.limits.max_payload: expected a size from 1 to 512MiB (like 64KiB or 65536), got '1GiB'"),
        ("kernel:\n  limits:\n    max_payload: 0\n",
         "phoenix.yaml:3:18: kernel.limits.max_payload: expected a size from 1 to 512MiB (like 64KiB or 65536), got '0'"),
        ("kernel:\n  limits:\n    max_inline: 1023\n",
         "phoenix.yaml:3:17: kernel.limits.max_inline: expected a size from 1KiB to 64MiB (like 64KiB or 65536), got '1023'"),
        ("kernel:\n  limits:\n    query_buffer_before_auth: 2 GiB\n",
         "phoenix.yaml:3:31: kernel.limits.query_buffer_before_auth: expected a size from 1KiB to 1GiB (like 64KiB or 65536), got '2 GiB'"),
        ("kernel:\n  limits:\n    max_payload: 4MiB\n    query_buffer: 8MiB\n",
         "phoenix.yaml:4:19: kernel.limits.query_buffer: expected a size of at least 8256KiB (2 × max_payload + 64KiB: a maximal argument must fit), got '8MiB'"),
        ("kernel:\n  limits:\n    pubsub_output:\n      hard: 32 MB!\n",
         "phoenix.yaml:4:13: kernel.limits.pubsub_output.hard: expected a size (like 32MiB or 33554432; 0 = no limit), got '32 MB!'"),
        ("kernel:\n  limits:\n    pubsub_output:\n      soft: 99999999999999GiB\n",
         "phoenix.yaml:4:13: kernel.limits.pubsub_output.soft: expected a size (like 32MiB or 33554432; 0 = no limit), got '99999999999999GiB' (too large)"),
        ("kernel:\n  limits:\n    pubsub_output:\n      soft_seconds: 1500ms\n",
         "phoenix.yaml:4:21: kernel.limits.pubsub_output.soft_seconds: expected a duration in whole seconds from 0 to 86400 (like 60, 60s, 2m or 1h), got '1500ms'"),
        ("kernel:\n  limits:\n    pubsub_output:\n      soft_seconds: 25h\n",
         "phoenix.yaml:4:21: kernel.limits.pubsub_output.soft_seconds: expected a duration in whole seconds from 0 to 86400 (like 60, 60s, 2m or 1h), got '25h'"),
        ("logging:\n  level: verbose\n",
         "phoenix.yaml:2:10: logging.level: expected one of debug, info, warn, error, got 'verbose'"),
        ("logging:\n  format: xml\n",
         "phoenix.yaml:2:11: logging.format: expected one of text, json, got 'xml'"),
    ])
    func errorNamesPositionAndExpectation(yaml: String, expected: String) {
        #expect(loadError(yaml)?.description == expected)
    }

    @Test func errorFieldsCarryTheValuePosition() throws {
        let error = try #require(loadError("logging:\n  level: info\nkernel:\n    port: abc\n", path: "conf/phoenix.yaml"))
        #expect(error.path == "conf/phoenix.yaml")
        #expect(error.line == 4)
        #expect(error.column == 11)
        #expect(error.message == "kernel.port: expected an integer from 0 to 65535, got 'abc'")
    }

    @Test func longValuesAreShortenedInMessages() {
        let long = String(repeating: "x", count: 100)
        #expect(loadError("logging:\n  level: \(long)\n")?.message
                == "logging.level: expected one of debug, info, warn, error, got '\(String(repeating: "x", count: 40))…'")
    }

    @Test func descriptionWithoutPositionIsPathAndMessage() {
        #expect(ConfigError(path: "a.yaml", message: "boom").description == "a.yaml: boom")
        #expect(ConfigError(path: "a.yaml", line: 3, column: 7, message: "boom").description == "a.yaml:3:7: boom")
    }
}

@Suite struct PasswordConfigTests {
    @Test func passwordIsReadAndNeverRendered() throws {
        let config = try ConfigLoader.load(yaml: "kernel:\n  password: \"s3cret pass\"\n", path: "p.yaml")
        #expect(config.kernel.password == "s3cret pass")
        let text = config.render()
        #expect(!text.contains("s3cret"))
        #expect(text.contains("# password: set (not shown)"))
    }

    @Test func badPasswordIsRejectedWithoutEchoingIt() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: "kernel:\n  password: \"\"\n", path: "p.yaml") }
        do {
            _ = try ConfigLoader.load(yaml: "kernel:\n  password: \"a\\tb\"\n", path: "p.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "p.yaml:2:13: kernel.password: expected a string of 1 to 512 bytes without control characters")
        }
    }
}
