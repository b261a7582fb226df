import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// docs/SYSTEM-AGENTS.md's "A day in the city", run as written: the
/// section's configuration (its ```yaml city.yaml block) served by the real
/// `vimana serve` with the thirteen system agents, and every shell command of
/// the section run in order against it by tools/compat/readme_examples.py
/// (`--section`, `--port`: redis-cli and nc as a user types them, 7379
/// replaced by the server's port, each `#> ` line compared with what the
/// command printed). Extracted from the document itself, so the test breaks
/// when the day the document tells is no longer what the agents do.
@Suite struct CityDayDocTests {
    static let section = "A day in the city"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The lines of the block fenced ```<fence> within `## <section>` of `document`.
    static func block(_ document: String, section: String, fence: String) throws -> String {
        var inside = false, lines: [String]?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("## ") || line.hasPrefix("# ") {
                if lines != nil { break }
                inside = line == "## " + section
            } else if inside && lines == nil && line == "```" + fence {
                lines = []
            } else if inside, lines != nil {
                if line == "```" { return lines?.joined(separator: "\n") ?? "" }
                lines?.append(line)
            }
        }
        throw TestFailure("docs/SYSTEM-AGENTS.md: no ```\(fence) block under `## \(section)`")
    }

    static func onPath(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
    }

    @Test func aDayInTheCityRunsAsWritten() throws {
        for tool in ["redis-cli", "nc", "python3"] where !Self.onPath(tool) {
            throw TestFailure("\(tool) is not installed: run `make test` (tools/install-deps.sh test installs it)")
        }
        let doc = Self.root.appendingPathComponent("docs/SYSTEM-AGENTS.md")
        let config = try Self.block(try String(contentsOf: doc, encoding: .utf8), section: Self.section, fence: "yaml city.yaml")
        // The script skips the section's own `vimana serve` line (this test serves the city): it must be exactly what is served here.
        #expect(try Self.block(try String(contentsOf: doc, encoding: .utf8), section: Self.section, fence: "sh")
                    .hasPrefix("vimana serve --config city.yaml\n"), "the section's first command is not `vimana serve --config city.yaml`")

        // Saved as city.yaml beside a `config` that is the repository's, as
        // in its root: envoy's `playbooks: config/playbooks` is relative to the file.
        let dir = NSTemporaryDirectory() + "vimana-city-day-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/config", withDestinationPath: Self.root.appendingPathComponent("config").path)
        try config.write(toFile: dir + "/city.yaml", atomically: true, encoding: .utf8)
        let server = try ServerProcess(arguments: ["--config", dir + "/city.yaml"], logLevel: "info", systemAgents: true)

        let output = dir + "/examples.txt"
        FileManager.default.createFile(atPath: output, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.root.appendingPathComponent("tools/compat/readme_examples.py").path,
                       "--vimana", ServerProcess.binaryPath, "--doc", doc.path, "--section", Self.section,
                       "--port", String(server.port)]
        p.standardOutput = out
        p.standardError = out
        try p.run()
        // Each command has the script's own timeout; this bounds the whole.
        let deadline = Date().addingTimeInterval(900)
        while p.isRunning && Date() < deadline { usleep(100_000) }
        let timedOut = p.isRunning
        if timedOut { p.terminate() }
        p.waitUntilExit()
        try out.close()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(!timedOut && p.terminationStatus == 0, """
            readme_examples.py \(timedOut ? "timed out" : "exited with status \(p.terminationStatus)"): \(text)
            server log (end):
            \(server.log.suffix(4000))
            """)
        // Every command of the section ran (a block whose fence changed would be skipped, not failed).
        #expect(text.contains("readme_examples: OK: 42 shell commands, 0 Python and 1 YAML examples"), "\(text)")
    }
}
