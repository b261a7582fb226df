import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The real `vimana` binary started on ephemeral loopback ports, for
/// black-box tests. Stopped (SIGKILL if it must) when the test ends.
package final class ServerProcess: @unchecked Sendable {
    package let process = Process()
    package let stderrPipe = Pipe()
    /// A fresh ledger directory per server, so parallel tests never share one.
    package let ledgerDirectory: String
    private let ownsLedger: Bool
    package private(set) var port = 0
    package private(set) var httpPort = 0
    private var logText = ""
    /// Set when stderr reaches its end of file.
    private var logEnded = false
    private let lock = NSLock()

    /// The binary next to the test bundle (SwiftPM builds it before tests), or $VIMANA_BIN.
    package static var binaryPath: String {
        if let env = ProcessInfo.processInfo.environment["VIMANA_BIN"] { return env }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("vimana").path
    }

    /// Starts `vimana serve` with JSON logs and waits for the listening line.
    /// `environment`: added to the test's own (LD_PRELOAD shims).
    /// `fileLimit`: started through `sh -c 'ulimit -n N; exec vimana …'`, so
    /// the server has at most N descriptors (soft and hard).
    /// `launcher`: a command (found through $PATH) that ends by exec'ing its
    /// last arguments, the server's command line (`unshare --net sh -c '…;
    /// exec "$0" "$@"'`), so that the pid is still the server's.
    /// `systemAgents`: false (most tests) starts it with `--no-system-agents`,
    /// the kernel alone; true wires the system agents as `vimana serve` does.
    package init(arguments: [String] = [], config: String? = nil, logLevel: String = "debug", ledgerDirectory: String? = nil,
         environment: [String: String] = [:], fileLimit: Int? = nil, launcher: [String] = [],
         systemAgents: Bool = false) throws {
        ownsLedger = ledgerDirectory == nil
        self.ledgerDirectory = ledgerDirectory ?? NSTemporaryDirectory() + "vimana-ledger-\(UUID().uuidString)"
        var args = ["serve", "--port", "0", "--http-port", "0", "--log-format", "json", "--log-level", logLevel,
                    "--ledger-dir", self.ledgerDirectory]
        if let config {
            args += ["--config", try temporaryFile(config)]
        }
        if !systemAgents { args.append("--no-system-agents") }
        if let fileLimit {
            // exec keeps the pid, so signals and the exit status are the server's.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(fileLimit) && exec \"$0\" \"$@\"", Self.binaryPath] + args + arguments
        } else if !launcher.isEmpty {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = launcher + [Self.binaryPath] + args + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binaryPath)
            process.arguments = args + arguments
        }
        if !environment.isEmpty {
            // A test's LD_PRELOAD (a failing fsync) joins the inherited one
            // (make test's close guard) instead of replacing it.
            let own = ProcessInfo.processInfo.environment
            var merged = own.merging(environment) { $1 }
            if let given = environment["LD_PRELOAD"], let inherited = own["LD_PRELOAD"], !inherited.isEmpty {
                merged["LD_PRELOAD"] = given + ":" + inherited
            }
            process.environment = merged
        }
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self else { return }
            self.lock.lock()
            if data.isEmpty {
                // End of file: the server (and anything that shared its stderr) is gone.
                self.logEnded = true
                h.readabilityHandler = nil
            } else {
                self.logText += String(decoding: data, as: UTF8.self)
            }
            self.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(Self.startTimeout)
        while Date() < deadline {
            if let line = logLines.first(where: { $0.contains("\"event\":\"listening\"") }),
               let p = Self.field(line, "port"), let h = Self.field(line, "http_port") {
                port = p
                httpPort = h
                return
            }
            if !process.isRunning { break }
            usleep(10_000)
        }
        stop()
        throw TestFailure("server did not start; log:\n\(log)")
    }

    deinit {
        stop()
        if ownsLedger { try? FileManager.default.removeItem(atPath: ledgerDirectory) }
    }

    package var log: String {
        lock.lock()
        defer { lock.unlock() }
        return logText
    }

    package var logLines: [String] { log.split(separator: "\n").map(String.init) }

    package static func field(_ line: String, _ name: String) -> Int? {
        guard let r = line.range(of: "\"\(name)\":") else { return nil }
        let digits = line[r.upperBound...].prefix { $0 == "-" || $0.isNumber }
        return Int(digits)
    }

    /// Sends `signal` and waits up to `timeout` seconds for the exit status.
    package func terminate(signal: Int32 = SIGTERM, timeout: TimeInterval = 5) -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        // Its last log lines are still on their way through the pipe: the
        // log is whole once the pipe reaches its end.
        while !logComplete && Date() < deadline.addingTimeInterval(5) { usleep(10_000) }
        return process.terminationStatus
    }

    /// True once the server's stderr has reached its end (it exited and the log holds every line).
    package var logComplete: Bool {
        lock.lock()
        defer { lock.unlock() }
        return logEnded
    }

    /// How long a start may take before the test fails. Generous: only a
    /// server that never starts waits it out, and a debug build replaying a
    /// large ledger on a machine with a load of 15 took 18 s.
    package static let startTimeout: TimeInterval = 60

    package func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    /// Waits until a log line containing `text` appears.
    package func waitForLog(_ text: String, timeout: TimeInterval = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            usleep(10_000)
        }
        return false
    }
}

package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ d: String) { description = d }
}

/// Runs the vimana binary to completion (for `check`, usage errors, dry runs).
package func runVimana(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Writes `text` to a temporary file and returns its path.
package func temporaryFile(_ text: String, suffix: String = ".yaml") throws -> String {
    let path = NSTemporaryDirectory() + "vimana-\(UUID().uuidString)\(suffix)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Fails the test (not skips it) when a program a test runs (an example
/// agent's interpreter) is missing.
package func requireProgram(_ name: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "command -v \(name)"]
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        throw TestFailure("\(name) is not installed: run `make test`, which installs it")
    }
}
