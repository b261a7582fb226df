import Foundation
import Testing
import VimanaTestSupport

/// docs/OPERATIONS.md, "Running it as a service", held to what the server
/// does: its ```sh examples run as written (tools/compat/readme_examples.py:
/// `vimana check`, a backup beside a running server, a server started on
/// the copy), every metric it names is one a server exposes, and its log
/// example has the fields the server writes.
@Suite struct OperationsDocTests {
    static let section = "Running it as a service"

    /// The section's text, from its heading to the next `## ` heading.
    static func sectionText() throws -> String {
        let text = try String(contentsOf: TLSTests.document, encoding: .utf8)
        guard let start = text.range(of: "\n## \(section)\n") else {
            throw TestFailure("docs/OPERATIONS.md has no section `## \(section)`")
        }
        let rest = text[start.upperBound...]
        return String(rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest)
    }

    @Test func theSectionsExamplesRunAsWritten() throws {
        try requireProgram("redis-cli")
        let script = CompatibilityTests.packageRoot.appendingPathComponent("tools/compat/readme_examples.py").path
        let run = try CompatibilityTests.runTool(["python3", script, "--vimana", ServerProcess.binaryPath,
                                                  "--doc", TLSTests.document.path, "--section", Self.section], timeout: 600)
        #expect(run.status == 0 && !run.timedOut, "readme_examples.py: \(run.output)")
        // `vimana check`, the backup's four commands, the restore's two.
        #expect(run.output.contains("readme_examples: OK: 7 shell commands"), "\(run.output)")
    }

    @Test func everyMetricTheSectionNamesIsExposed() throws {
        let text = try Self.sectionText()
        var named: Set<String> = []
        let pattern = try NSRegularExpression(pattern: "vimana_[a-z_]+[a-z]")
        for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            if let r = Range(m.range, in: text) { named.insert(String(text[r])) }
        }
        #expect(named.count >= 15, "\(named.sorted())")
        // With its system agents, so that the per-agent families have series.
        let server = try ServerProcess(logLevel: "info", systemAgents: true)
        defer { server.stop() }
        var scrape = ""
        let complete = waitFor(60) {
            guard let c = try? RawClient(port: server.httpPort) else { return false }
            c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            scrape = c.readToEnd()
            return scrape.contains("vimana_agent_up{agent=\"oracle\"} 1")
        }
        #expect(complete, "\(scrape.prefix(2000))")
        let families = Set(scrape.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return line.split(separator: " ").dropFirst(2).first.map(String.init)
        })
        let unknown = named.subtracting(families)
        #expect(unknown.isEmpty, "named in docs/OPERATIONS.md but not on /metrics: \(unknown.sorted())")
    }

    @Test func theLogExampleHasTheFieldsTheServerWrites() throws {
        let text = try Self.sectionText()
        let example = try #require(text.split(separator: "\n").first { $0.hasPrefix("{\"ts\":") })
        let documented = try #require(try JSONSerialization.jsonObject(with: Data(example.utf8)) as? [String: Any])
        let event = try #require(documented["event"] as? String)
        let server = try ServerProcess(logLevel: "info")
        defer { server.stop() }
        let line = try #require(server.logLines.first { $0.contains("\"event\":\"\(event)\"") })
        let written = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(documented.keys) == Set(written.keys), "documented \(example)\nwritten \(line)")
        // The order the section describes: ts, level, event, then the event's fields.
        #expect(line.hasPrefix("{\"ts\":\"") && line.contains("\",\"level\":\"info\",\"event\":\"\(event)\","))
        let ts = try #require(written["ts"] as? String)
        #expect(ts.count == 24 && ts.hasSuffix("Z"), "\(ts)")
    }
}
