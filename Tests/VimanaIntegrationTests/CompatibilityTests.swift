import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Real client software against the real server: redis-py (its default RESP3
/// client and a protocol=2 one, without and with a password), redis-cli and
/// redis-rb (Debian's ruby-redis, as named ACL users),
/// each driven by a script in tools/compat/, and every example in
/// Protocol/PROTOCOL.md replayed byte for byte. A missing redis-cli, ruby
/// `redis` gem or python `redis` package is a failure, not a skip: `make test`
/// installs them (tools/install-deps.sh test).
@Suite struct CompatibilityTests {
    @Test func redisPyDefaultAndRESP2ClientsPublishSubscribeAndInspect() throws {
        try Self.requirePythonRedis()
        try Self.runAgainstServer("tools/compat/redis_py_compat.py", interpreter: "python3")
    }

    @Test func redisPyAuthenticatesWithThePasswordInBothProtocols() throws {
        try Self.requirePythonRedis()
        try Self.runAgainstServer("tools/compat/redis_py_compat.py", interpreter: "python3",
                                  config: "kernel:\n  password: secret\n", extraArguments: ["--password", "secret"])
    }

    @Test func redisCliCommandsSubscribersAndRESP3Work() throws {
        guard Self.executableInPath("redis-cli") != nil else {
            throw TestFailure("redis-cli is not installed: run `make test` (tools/install-deps.sh test installs "
                + "redis-tools) or apt-get install redis-tools")
        }
        try Self.runAgainstServer("tools/compat/redis_cli_compat.sh", interpreter: "bash")
    }

    /// A third client from Debian (ruby-redis, redis-rb 4.8) as named ACL
    /// users: allowed channels and keys work, a channel, a key and a command
    /// outside the user's rules get -NOPERM, wrong and disabled credentials
    /// -WRONGPASS (tools/compat/redis_rb_compat.rb says every check).
    @Test func redisRbAuthenticatesAsNamedUsersAndIsRefusedOutsideItsRules() throws {
        guard Self.executableInPath("ruby") != nil else {
            throw TestFailure("ruby is not installed: run `make test` (tools/install-deps.sh test installs "
                + "ruby-redis) or apt-get install ruby-redis")
        }
        try Self.runAgainstServer("tools/compat/redis_rb_compat.rb", interpreter: "ruby", config: """
            users:
              - name: rb-app
                password_hashes: ["23a17bf433f18631d90e48668fc5758cd477c51b6f5d79b30446f52014dd8b6e"]
                permissions: ["-@all", "+@connection", "+publish", "+subscribe", "+psubscribe",
                              "+unsubscribe", "+punsubscribe", "+xadd", "+xrange", "+acl|whoami",
                              "&rb.*", "~rb.*"]
              - name: rb-off
                enabled: false
                password_hashes: ["1e284bd0e18a9372ed76dfe41ca109663fc89dec09f315ea46757d122491ac93"]

            """, expectOutput: "redis_rb_compat: OK: ")
    }

    @Test func protocolDocumentExamplesHoldByteForByte() throws {
        try Self.runAgainstServer("tools/compat/protocol_examples.py", interpreter: "python3")
    }

    @Test func protocolDocumentAuthenticationExamplesHoldWithAPassword() throws {
        try Self.runAgainstServer("tools/compat/protocol_examples.py", interpreter: "python3",
                                  config: "kernel:\n  password: secret\n", extraArguments: ["--requirepass", "secret"])
    }

    // MARK: - Support

    /// The package root: this file is Tests/VimanaIntegrationTests/CompatibilityTests.swift.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts a server (with `config` as its phoenix.yaml, if given), runs
    /// `interpreter script --host 127.0.0.1 --port P extraArguments…` and fails
    /// with the script's output (and the server's log tail) unless it exits 0.
    static func runAgainstServer(_ script: String, interpreter: String, config: String? = nil,
                                 extraArguments: [String] = [], expectOutput: String? = nil) throws {
        let path = packageRoot.appendingPathComponent(script).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestFailure("\(script) not found at \(path)")
        }
        let server = try ServerProcess(config: config, logLevel: "info")
        defer { server.stop() }
        let run = try runTool([interpreter, path, "--host", "127.0.0.1", "--port", String(server.port)] + extraArguments,
                              timeout: 120)
        let logTail = String(server.log.suffix(3000))
        #expect(run.status == 0 && !run.timedOut, """
            \(script) \(run.timedOut ? "timed out" : "exited with status \(run.status)"); its output:
            \(run.output)
            server log (tail):
            \(logTail)
            """)
        if let expectOutput {
            #expect(run.output.contains(expectOutput), "\(script) did not print \(expectOutput): \(run.output)")
        }
    }

    /// Fails unless `python3 -c "import redis"` works.
    static func requirePythonRedis() throws {
        guard executableInPath("python3") != nil else {
            throw TestFailure("python3 is not installed; the redis-py compatibility test needs it with the `redis` package")
        }
        let probe = try runTool(["python3", "-c", "import redis"], timeout: 30)
        guard probe.status == 0 else {
            throw TestFailure("python3 cannot import the `redis` package (redis-py): run `make test` "
                + "(tools/install-deps.sh test installs it) or python3 -m pip install redis\n\(probe.output)")
        }
    }

    /// The full path of `name` in $PATH, if it is there and executable.
    static func executableInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a command found through $PATH, stdout and stderr together, and
    /// terminates it after `timeout` seconds.
    static func runTool(_ arguments: [String], timeout: TimeInterval) throws
        -> (status: Int32, output: String, timedOut: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let watchdog = Watchdog(process)
        watchdog.arm(after: timeout)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), watchdog.fired)
    }
}

/// Kills a child process that outlives its deadline, so that a hung script
/// fails the test instead of hanging the suite. SIGKILL to the whole process
/// group (Foundation starts each child in a group of its own): the test
/// thread's blocked SIGTERM is inherited by children, and a script's own
/// background processes must go too.
private final class Watchdog: @unchecked Sendable {
    let process: Process
    private let lock = NSLock()
    private var didFire = false

    init(_ process: Process) { self.process = process }

    var fired: Bool {
        lock.lock()
        defer { lock.unlock() }
        return didFire
    }

    func arm(after seconds: TimeInterval) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            guard process.isRunning else { return }
            lock.lock()
            didFire = true
            lock.unlock()
            let pid = process.processIdentifier
            if getpgid(pid) == pid { kill(-pid, SIGKILL) } else { kill(pid, SIGKILL) }
        }
    }
}
