import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// TLS through stunnel, as docs/OPERATIONS.md sets it up: the document's own
/// certificate commands and stunnel configuration (paths and ports replaced),
/// then redis-cli `--tls` and redis-py `ssl=True` publishing and subscribing
/// through it (tools/compat/tls_clients.py). stunnel4 and openssl come from
/// `make test` (tools/install-deps.sh test): missing, the test fails.
@Suite struct TLSTests {
    static let document = CompatibilityTests.packageRoot.appendingPathComponent("docs/OPERATIONS.md")

    /// The fenced block of `document` whose first line starts with `marker`, without its fences.
    static func block(_ text: String, startingWith marker: String) throws -> String {
        let parts = text.components(separatedBy: "```")
        // Odd indices are inside fences: "sh\n# certificates…".
        for (index, part) in parts.enumerated() where index % 2 == 1 {
            let body = part.drop { $0 != "\n" }.dropFirst()
            if body.hasPrefix(marker) { return String(body) }
        }
        throw TestFailure("docs/OPERATIONS.md has no fenced block starting with \(marker)")
    }

    /// `text` with each (from, to) replaced; fails when the document no longer has `from`.
    static func substitute(_ text: String, _ pairs: [(String, String)]) throws -> String {
        var out = text
        for (from, to) in pairs {
            guard out.contains(from) else { throw TestFailure("docs/OPERATIONS.md: the block no longer has \(from)") }
            out = out.replacingOccurrences(of: from, with: to)
        }
        return out
    }

    @Test func redisCliAndRedisPyPublishAndSubscribeThroughStunnel() throws {
        for tool in ["stunnel4", "openssl", "redis-cli"] where CompatibilityTests.executableInPath(tool) == nil {
            throw TestFailure("\(tool) is not installed: run `make test` (tools/install-deps.sh test installs it)")
        }
        try CompatibilityTests.requirePythonRedis()
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        let directory = NSTemporaryDirectory() + "vimana-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // The certificate, made by the document's commands in the directory.
        let commands = try Self.block(text, startingWith: "# certificates")
        let made = try CompatibilityTests.runTool(["sh", "-ec", "cd \"$0\"\n" + commands, directory], timeout: 60)
        #expect(made.status == 0, "certificate commands: \(made.output)")
        let certificate = directory + "/server.crt"
        #expect(FileManager.default.fileExists(atPath: certificate) && FileManager.default.fileExists(atPath: directory + "/server.key"))

        let password = "tls-s3cret"
        let server = try ServerProcess(config: "kernel:\n  password: \(password)\n", logLevel: "info")
        let stunnel = try Self.startStunnel(try Self.block(text, startingWith: "; stunnel"), directory: directory,
                                            vimanaPort: server.port)
        defer { stunnel.stop() }

        let script = CompatibilityTests.packageRoot.appendingPathComponent("tools/compat/tls_clients.py").path
        let run = try CompatibilityTests.runTool(
            ["python3", script, "--host", "127.0.0.1", "--port", String(stunnel.port), "--cacert", certificate,
             "--password", password], timeout: 120)
        #expect(run.status == 0 && !run.timedOut, """
            tls_clients.py \(run.timedOut ? "timed out" : "exited with status \(run.status)"):
            \(run.output)
            stunnel:
            \(stunnel.output)
            """)
    }

    /// stunnel running the document's configuration on a free loopback port.
    final class Stunnel {
        let process = Process()
        let port: Int
        let outputFile: String

        init(configuration: String, port: Int, directory: String) throws {
            self.port = port
            let path = directory + "/stunnel-\(port).conf"
            outputFile = directory + "/stunnel-\(port).log"
            try configuration.write(toFile: path, atomically: true, encoding: .utf8)
            FileManager.default.createFile(atPath: outputFile, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["stunnel4", path]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: outputFile)
            process.standardError = FileHandle(forWritingAtPath: outputFile)
            try process.run()
        }

        var output: String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }

        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Starts stunnel on a port the system just handed out; another process
    /// may take it before stunnel binds it, so a stunnel that exits is
    /// started again on another (three tries).
    static func startStunnel(_ block: String, directory: String, vimanaPort: Int) throws -> Stunnel {
        var lastOutput = ""
        for _ in 0..<3 {
            let port = try LoopbackListener().port  // closed again at once: free for stunnel
            let configuration = try substitute(block, [
                ("/etc/vimana/tls/", directory + "/"),
                ("accept = 0.0.0.0:7381", "accept = 127.0.0.1:\(port)"),
                ("connect = 127.0.0.1:7379", "connect = 127.0.0.1:\(vimanaPort)"),
            ])
            let stunnel = try Stunnel(configuration: configuration, port: port, directory: directory)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && stunnel.process.isRunning {
                if (try? RawClient(port: port, timeout: 1)) != nil { return stunnel }
                usleep(10_000)
            }
            lastOutput = stunnel.output
            stunnel.stop()
        }
        throw TestFailure("stunnel did not start:\n\(lastOutput)")
    }
}
