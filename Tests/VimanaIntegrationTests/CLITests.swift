import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The command line as a newcomer meets it: `vimana pub` and `vimana sub`
/// against the real server, every command's help, flags and the errors that
/// name them, signals, and `make install`.
@Suite struct CLITests {
    @Test func subPrintsWhatPubPublishes() throws {
        let server = try ServerProcess(logLevel: "info")
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
        sub.arguments = ["sub", "--port", String(server.port), "--json", "tasks.*", "plain"]
        let out = Pipe()
        let received = OutputCollector()
        out.fileHandleForReading.readabilityHandler = { received.append($0.availableData) }
        sub.standardOutput = out
        sub.standardError = FileHandle.nullDevice
        try sub.run()
        defer {
            // SIGKILL: the test runner's children inherit a blocked SIGTERM.
            kill(sub.processIdentifier, SIGKILL)
            sub.waitUntilExit()
            out.fileHandleForReading.readabilityHandler = nil
        }
        // Wait until both subscriptions are registered on the server.
        let probe = try RawClient(port: server.port)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            probe.send("PUBSUB NUMPAT\r\nPUBSUB NUMSUB plain\r\n")
            if probe.readReplies(2).hasPrefix(":1\r\n*2\r\n$5\r\nplain\r\n:1") { break }
        }
        let pub1 = try runVimana(["pub", "--port", String(server.port), "tasks.civic", "hello world"])
        #expect(pub1.status == 0)
        #expect(pub1.stdout == "1\n")
        let pub2 = try runVimana(["pub", "--port", String(server.port), "plain", "x"])
        #expect(pub2.stdout == "1\n")
        let until = Date().addingTimeInterval(5)
        while Date() < until && received.text.split(separator: "\n").count < 2 { usleep(10_000) }
        let lines = received.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\"topic\":\"tasks.civic\"") == true)
        #expect(lines.first?.contains("\"pattern\":\"tasks.*\"") == true)
        #expect(lines.first?.contains("\"payload\":\"hello world\"") == true)
        #expect(lines.last?.contains("\"topic\":\"plain\"") == true)
    }

    @Test func pubToAStoppedServerSaysWhyAndExitsOne() throws {
        let port = try freePort()
        let r = try runVimana(["pub", "--port", String(port), "t", "m"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("127.0.0.1:\(port)"))
    }

    // MARK: - Usage

    /// `-h`/`--help` after any command prints that command's usage on stdout
    /// and exits 0, without doing anything else (serve does not serve).
    @Test(arguments: [
        (["serve", "--help"], "vimana serve"), (["serve", "-h"], "vimana serve"),
        (["serve", "--port", "0", "--help"], "vimana serve"),
        (["pub", "--help"], "vimana pub"), (["pub", "-h"], "vimana pub"),
        (["sub", "--help"], "vimana sub"), (["sub", "-h"], "vimana sub"),
        (["check", "--help"], "vimana check"), (["check", "-h"], "vimana check"),
        (["ledger", "--help"], "vimana ledger verify"), (["ledger", "verify", "--help"], "vimana ledger verify"),
        (["ledger", "stats", "-h"], "vimana ledger stats"), (["ledger", "dump", "--help"], "vimana ledger dump"),
        (["ledger", "tail", "-h"], "vimana ledger tail"),
        (["bench", "--help"], "vimana bench"), (["bench", "-h"], "vimana bench"),
        (["help", "serve"], "vimana serve"), (["--help"], "vimana serve"),
        (["agent", "--help"], "vimana agent"), (["agent", "discovery", "-h"], "vimana agent"),
        (["help", "agent"], "vimana agent"), (["--help"], "vimana agent"),
    ])
    func everyCommandPrintsItsUsageOnHelpAndExitsZero(_ args: [String], _ usage: String) throws {
        let r = try runVimana(args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        #expect(r.stdout.contains("Usage:") && r.stdout.contains(usage), "\(args): \(r.stdout)")
        #expect(r.stderr == "", "\(args)")
    }

    /// `vimana agent` runs only the system agents that exist: an unknown id
    /// is a usage error that lists them, and nothing runs.
    @Test func anUnknownSystemAgentIsRefusedListingTheKnownOnes() throws {
        let r = try runVimana(["agent", "mayor"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("vimana: unknown system agent 'mayor' (system agents: discovery, oracle, archivist, engineer, science, auditor, scribe, civic"))
        #expect(r.stderr.hasSuffix(")\n"))
        #expect(r.stdout == "")
        let none = try runVimana(["agent"])
        #expect(none.status == 2 && none.stderr.hasPrefix("vimana: usage: vimana agent ID (system agents: discovery, oracle, archivist, engineer, science, auditor, scribe, civic"))
    }

    // MARK: - Flags and their errors

    /// `--http-port off` is what `http_port: off` is in a file: no HTTP listener.
    @Test func httpPortOffDisablesHTTPAsTheConfigurationDoes() throws {
        let dry = try runVimana(["serve", "--http-port", "off", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("\n  http_port: off\n"), "\(dry.stdout)")
        #expect(dry.stdout.contains("# overridden by flags: --http-port off\n"), "\(dry.stdout)")
        let server = try ServerProcess(arguments: ["--http-port", "off"], logLevel: "info")
        #expect(server.httpPort == -1)
    }

    /// A refused flag is reported as `--flag value: expected …` (exit 2), not
    /// against the configuration file, which keeps `file:line:column`.
    @Test func flagErrorsNameTheFlagAndFileErrorsTheFile() throws {
        let file = try temporaryFile("kernel:\n  port: 7379\n")
        for (args, message) in [
            (["--port", "99999"], "--port 99999: expected an integer from 0 to 65535"),
            (["--http-port", "none"], "--http-port none: expected an integer from -1 to 65535 or 'off'"),
            (["--bind", "example.com"], "--bind example.com: expected an IPv4 address such as 127.0.0.1 or 0.0.0.0, or 'localhost'"),
            (["--fsync", "sometimes"], "--fsync sometimes: expected one of always, everysec, no"),
            (["--log-level", "loud"], "--log-level loud: expected one of debug, info, warn, error"),
            (["--ledger-dir", ""], "--ledger-dir \"\": expected a non-empty path without NUL bytes"),
        ] {
            let r = try runVimana(["serve", "--config", file] + args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr == message + "\n", "\(args)")
        }
        let bad = try temporaryFile("kernel:\n  port: 99999\n")
        let r = try runVimana(["serve", "--config", bad, "--port", "0"])
        #expect(r.status == 2)
        #expect(r.stderr == "\(bad):2:9: kernel.port: expected an integer from 0 to 65535, got '99999'\n")
    }

    /// `--no-ledger` with agents declared is refused naming the flag; with a
    /// file that turns the ledger off, the file's line. The stream commands'
    /// error names what turned the ledger off.
    @Test func aDisabledLedgerIsBlamedOnWhatDisabledIt() throws {
        let agents = try temporaryFile("agents:\n  - id: a\n    subscribes: [t]\n")
        let flag = try runVimana(["serve", "--config", agents, "--no-ledger"])
        #expect(flag.status == 2)
        #expect(flag.stderr == "--no-ledger: agents need the ledger, and \(agents) declares agent a; "
                + "leave out --no-ledger, or use a configuration without agents\n")
        let off = try temporaryFile("ledger:\n  enabled: false\nagents:\n  - id: a\n    subscribes: [t]\n")
        let file = try runVimana(["check", off])
        #expect(file.status == 2)
        #expect(file.stderr == "\(off):2:12: ledger.enabled: false, but agents need the ledger, and this file "
                + "declares agent a; set it to true or remove the agents\n")

        let byFlag = try ServerProcess(arguments: ["--no-ledger"], logLevel: "info")
        let c = try RawClient(port: byFlag.port)
        c.send("XLEN t\r\n")
        let byFlagError = "-ERR the ledger is disabled (--no-ledger)\r\n"
        #expect(c.read(matching: byFlagError) == byFlagError)
        let byFile = try ServerProcess(config: "ledger:\n  enabled: false\n", logLevel: "info")
        let d = try RawClient(port: byFile.port)
        d.send("XLEN t\r\n")
        let byFileError = "-ERR the ledger is disabled (ledger.enabled: false in phoenix.yaml)\r\n"
        #expect(d.read(matching: byFileError) == byFileError)
    }

    // MARK: - Listeners

    /// A port in use: the error says which listener, and what set its port.
    @Test func bindErrorsSayWhetherTheRESPOrTheHTTPPortIsTaken() throws {
        let first = try ServerProcess(logLevel: "info")
        let resp = try runVimana(["serve", "--port", String(first.port), "--http-port", "off", "--no-ledger"])
        #expect(resp.status == 1)
        #expect(resp.stderr.contains("cannot listen on the RESP port (--port \(first.port)): bind 127.0.0.1:\(first.port): "
                                     + "Address already in use"), "\(resp.stderr)")
        let http = try runVimana(["serve", "--port", "0", "--http-port", String(first.httpPort), "--no-ledger"])
        #expect(http.status == 1)
        #expect(http.stderr.contains("cannot listen on the HTTP port (--http-port \(first.httpPort)): "
                                     + "bind 127.0.0.1:\(first.httpPort): Address already in use"), "\(http.stderr)")
        let config = try temporaryFile("kernel:\n  http_port: \(first.httpPort)\n")
        let fromFile = try runVimana(["serve", "--config", config, "--port", "0", "--no-ledger"])
        #expect(fromFile.stderr.contains("cannot listen on the HTTP port (kernel.http_port in \(config)): "), "\(fromFile.stderr)")
    }

    // MARK: - Signals

    /// SIGHUP neither stops the server nor passes unseen: without a file to
    /// reload (no --config) it is logged, and the server carries on.
    @Test func sighupIsLoggedAndTheServerCarriesOn() throws {
        let server = try ServerProcess(logLevel: "info")
        kill(server.process.processIdentifier, SIGHUP)
        #expect(server.waitForLog(#""event":"signal ignored","signal":"SIGHUP""#), "log:\n\(server.log)")
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(!server.log.contains("shutdown requested"))
        #expect(server.terminate() == 0)
    }

    // MARK: - Listening beyond loopback

    /// config/examples/production.yaml binds 0.0.0.0: its password is a
    /// placeholder that is refused until replaced.
    @Test func productionExampleIsRefusedUntilItsPasswordIsReplaced() throws {
        let path = CompatibilityTests.packageRoot.appendingPathComponent("config/examples/production.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.hasPrefix("  password: CHANGE-ME") }) + 1
        let check = try runVimana(["check", path])
        #expect(check.status == 2)
        #expect(check.stderr == "\(path):\(line):13: kernel.password: replace the placeholder CHANGE-ME with a secret of your own\n")
        // Its user's password file, which must exist and be private.
        let passwords = try temporaryFile("orders-s3cret\n", suffix: ".password")
        defer { try? FileManager.default.removeItem(atPath: passwords) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passwords)
        let replaced = try temporaryFile(text.replacingOccurrences(of: "password: CHANGE-ME", with: "password: s3cret-of-mine")
            .replacingOccurrences(of: "/etc/vimana/orders.password", with: passwords))
        let ok = try runVimana(["check", replaced])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("  bind: 0.0.0.0\n") && ok.stdout.contains("  # password: set (not shown)\n"))
        #expect(ok.stdout.contains("  - name: orders\n") && ok.stdout.contains("    # password_hashes: 1 (not shown)\n"))
    }

    /// `vimana check` prints the federation section, its password only as
    /// set, and refuses a mistake in it at its line and column.
    @Test func checkPrintsTheFederationSectionWithoutItsPassword() throws {
        let good = try temporaryFile("federation:\n  node: kernel-a\n  cluster: [\"[::1]:7000\", \"redis:7001\"]\n"
                                     + "  user: vimana\n  password: s3cret-federation\n  topics: [\"orders.*\"]\n")
        let ok = try runVimana(["check", good])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("""

            federation:
              node: kernel-a
              cluster: ["[::1]:7000", "redis:7001"]
              user: vimana
              # password: set (not shown)
              topics: ["orders.*"]
              prefix: vimana
              wait_replicas: 1
              wait_timeout_ms: 1000
              batch_entries: 512

            """), "\(ok.stdout)")
        #expect(!ok.stdout.contains("s3cret") && !ok.stderr.contains("s3cret"))
        let bad = try temporaryFile("federation:\n  node: kernel-a\n  cluster: [\"redis\"]\n  topics: [\"orders.*\"]\n")
        let refused = try runVimana(["check", bad])
        #expect(refused.status == 2)
        #expect(refused.stderr == "\(bad):3:13: federation.cluster[0]: expected an address host:port "
                + "(an IPv6 address as [::1]:7000), got 'redis' (no port)\n")
    }

    /// A server reachable from other machines warns at start, one line per
    /// listener without its credential: the RESP port without a password,
    /// the HTTP port without a token. Guarded, or on loopback, it does not.
    @Test func listeningBeyondLoopbackWithoutAPasswordIsWarnedAbout() throws {
        let warning = #""level":"warn","event":"listening beyond loopback without a password","bind":"0.0.0.0","protected_mode":"yes""#
        let httpWarning = #""level":"warn","event":"HTTP port listening beyond loopback without a token","bind":"0.0.0.0""#
        let open = try ServerProcess(arguments: ["--bind", "0.0.0.0"], logLevel: "info")
        // Each warning is its own line, written after `listening`: wait for both.
        #expect(open.waitForLog(warning, timeout: 30), "log:\n\(open.log)")
        #expect(open.waitForLog(httpWarning, timeout: 30), "log:\n\(open.log)")
        let passwordOnly = try ServerProcess(arguments: ["--bind", "0.0.0.0"], config: "kernel:\n  password: secret\n", logLevel: "info")
        let guarded = try ServerProcess(arguments: ["--bind", "0.0.0.0"],
                                        config: "kernel:\n  password: secret\n  http_token: 0123456789abcdef0123\n",
                                        logLevel: "info")
        let loopback = try ServerProcess(logLevel: "info")
        for server in [passwordOnly, guarded, loopback] {
            // Stopped first, and read up to its last line (the pipe's end may
            // come later: a process started meanwhile can hold it): what is
            // absent then never came.
            #expect(server.terminate(timeout: 30) == 0)
            #expect(server.waitForLog(#""event":"shutdown complete""#, timeout: 30), "log:\n\(server.log)")
            #expect(!server.log.contains("without a password"), "log:\n\(server.log)")
            #expect(server.log.contains(httpWarning) == (server === passwordOnly), "log:\n\(server.log)")
        }
    }

    // MARK: - Ledger directories

    /// A directory with neither segments nor ledger.lock is not a ledger:
    /// `verify` (and the other readers) exit 2 and say so, instead of
    /// reporting an empty, healthy ledger.
    @Test func ledgerVerifyOnADirectoryThatIsNotALedgerExitsTwo() throws {
        let dir = NSTemporaryDirectory() + "vimana-not-a-ledger-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "notes".write(toFile: dir + "/README.txt", atomically: true, encoding: .utf8)
        for command in ["verify", "stats", "dump", "tail"] {
            let r = try runVimana(["ledger", command, dir])
            #expect(r.status == 2, "\(command)")
            #expect(r.stderr == "vimana ledger: \(dir): not a ledger directory (no segment files, no ledger.lock)\n", "\(command)")
            #expect(r.stdout == "", "\(command)")
        }
        let python = try CompatibilityTests.runTool(
            ["python3", CompatibilityTests.packageRoot.appendingPathComponent("tools/ledger/vimana_ledger.py").path, "verify", dir],
            timeout: 60)
        #expect(python.status == 2)
        #expect(python.output == "vimana_ledger: \(dir): not a ledger directory (no segment files, no ledger.lock)\n")
    }

    // MARK: - make install

    /// `make install` builds the release binary and copies it to
    /// $(DESTDIR)$(PREFIX)/bin/vimana, PREFIX /usr/local by default. Run
    /// here with SWIFT=true (the build is what `make release` does, checked
    /// by the dry run) and RELEASE_BIN set to the binary under test.
    @Test func makeInstallPutsTheBinaryInPrefixBin() throws {
        let dry = try CompatibilityTests.runTool(["make", "-n", "install"], timeout: 60)
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("swift build -c release --product vimana"), "\(dry.output)")
        #expect(dry.output.contains("install -m 0755 \".build/release/vimana\" \"/usr/local/bin/vimana\""), "\(dry.output)")

        let root = NSTemporaryDirectory() + "vimana-install-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let install = try CompatibilityTests.runTool(
            ["make", "-s", "install", "SWIFT=true", "DESTDIR=\(root)", "PREFIX=/opt/v", "RELEASE_BIN=\(ServerProcess.binaryPath)"],
            timeout: 300)
        #expect(install.status == 0, "\(install.output)")
        let installed = root + "/opt/v/bin/vimana"
        #expect(FileManager.default.isExecutableFile(atPath: installed))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: installed)
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let version = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(version.hasPrefix("vimana "), "\(version)")
        let uninstall = try CompatibilityTests.runTool(["make", "-s", "uninstall", "DESTDIR=\(root)", "PREFIX=/opt/v"], timeout: 60)
        #expect(uninstall.status == 0)
        #expect(!FileManager.default.fileExists(atPath: installed))
    }
}

/// Collects a child's output from the pipe's handler thread.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}

/// `vimana check` reads envoy's playbooks beside the configuration file: a
/// malformed one fails the check with its own file:line:column.
@Suite struct PlaybookCheckTests {
    @Test func aMalformedPlaybookFailsTheCheckAtItsLineAndColumn() throws {
        let dir = NSTemporaryDirectory() + "vimana-check-playbooks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/playbooks", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "kernel:\n  port: 0\n".write(toFile: dir + "/phoenix.yaml", atomically: true, encoding: .utf8)
        try "name: fine\nphases:\n  - name: a\n    steps:\n      - wait: 1s\n"
            .write(toFile: dir + "/playbooks/fine.yaml", atomically: true, encoding: .utf8)
        #expect(try runVimana(["check", dir + "/phoenix.yaml"]).status == 0)
        try "name: broken\nphases:\n  - name: a\n    steps:\n      - call: {agent: civic}\n"
            .write(toFile: dir + "/playbooks/broken.yaml", atomically: true, encoding: .utf8)
        let check = try runVimana(["check", dir + "/phoenix.yaml"])
        #expect(check.status == 2)
        #expect(check.stderr == "\(dir)/playbooks/broken.yaml:5:15: phases[a].steps[0].call.action: expected an action name\n")
    }
}
