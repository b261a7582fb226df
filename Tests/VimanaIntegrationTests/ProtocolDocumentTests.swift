import Foundation
import Testing

/// Protocol/PROTOCOL.md's tables of what the server reports, compared with
/// what a running server reports: every INFO field (section 6, Server), every
/// /metrics name and type and the /health example (section 10). A field added
/// to the code and not to the document, or the reverse, fails here.
@Suite struct ProtocolDocumentTests {
    /// An agent, so that the agent metrics and /health's `agents` appear.
    static let config = """
        agents:
          - id: clerk
            name: Clerk registry
            subscribes: ["tasks.clerk", "tasks.clerk.*"]
        users:
          - name: metered
            limits: {publish_rate: 1000}
        """

    static func document() throws -> [String] {
        let url = CompatibilityTests.packageRoot.appendingPathComponent("Protocol/PROTOCOL.md")
        return try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
    }

    /// The rows after the table header `header` (each row's cells, trimmed).
    static func table(_ lines: [String], header: String) -> [[String]] {
        guard let start = lines.firstIndex(of: header) else { return [] }
        var rows: [[String]] = []
        for line in lines[(start + 2)...] {
            guard line.hasPrefix("|") else { break }
            // Cells split at `|` not escaped as `\|`.
            let cells = line.replacingOccurrences(of: "\\|", with: "\u{1}").split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "\u{1}", with: "|").trimmingCharacters(in: .whitespaces) }
            rows.append(Array(cells.dropFirst().dropLast()))
        }
        return rows
    }

    /// The `code` spans of `text` outside parentheses.
    static func names(_ text: String) -> [String] {
        var depth = 0, inCode = false, current = "", out: [String] = []
        for ch in text {
            if ch == "`" {
                if inCode && depth == 0 { out.append(current) }
                inCode.toggle()
                current = ""
            } else if inCode {
                current.append(ch)
            } else if ch == "(" {
                depth += 1
            } else if ch == ")" {
                depth = max(0, depth - 1)
            }
        }
        return out
    }

    /// The first code span of a cell: `vimana_x{agent="…"}` → vimana_x.
    static func firstName(_ cell: String) -> String {
        let name = names(cell).first ?? ""
        return String(name.prefix { $0 != "{" })
    }

    @Test func infoFieldsAreTheDocumentedOnesInTheirOrder() throws {
        let lines = try Self.document()
        var documented: [String: [String]] = [:]
        var order: [String] = []
        for row in Self.table(lines, header: "| section | fields |") where row.count == 2 {
            let section = Self.firstName(row[0])
            order.append(section)
            documented[section] = row[1] == "the table below"
                ? Self.table(lines, header: "| field | meaning |").map { Self.firstName($0[0]) }
                : Self.names(row[1])
        }
        try #require(order == ["server", "clients", "memory", "stats", "replication", "cpu", "commandstats", "errorstats",
                               "pubsub", "ledger", "federation", "users", "keyspace"],
                     "\(order)")

        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let c = try RawClient(port: server.port)
        let r = RESPReader(c)
        c.send("XADD one-key * f v\r\n")  // a key, so that keyspace has its line
        _ = r.next()
        c.send("XADD one-key 0-0 f v\r\n")  // an error, so that errorstats has a line
        _ = r.next()
        c.send("INFO everything\r\n")
        guard case .bulk(let text) = r.next() else { Issue.record("INFO gave no bulk string"); return }
        var actual: [String: [String]] = [:]
        var actualOrder: [String] = []
        var section = ""
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            if line.hasPrefix("# ") {
                section = line.dropFirst(2).lowercased()
                actualOrder.append(section)
            } else if let colon = line.firstIndex(of: ":") {
                actual[section, default: []].append(String(line[..<colon]))
            }
        }
        // One `user_<name>` line per user: the agent's and `default`.
        #expect(actual["users"] == ["user_agent%3Aclerk", "user_default", "user_metered"], "\(actual["users"] ?? [])")
        if actual["users"]?.isEmpty == false { actual["users"] = ["user_<name>"] }
        // One line per command called (XADD, and the one in progress is not yet counted) and per error code.
        #expect(actual["commandstats"]?.contains("cmdstat_xadd") == true, "\(actual["commandstats"] ?? [])")
        #expect(actual["errorstats"] == ["errorstat_ERR"], "\(actual["errorstats"] ?? [])")
        if actual["commandstats"]?.isEmpty == false { actual["commandstats"] = ["cmdstat_<name>"] }
        if actual["errorstats"]?.isEmpty == false { actual["errorstats"] = ["errorstat_<code>"] }
        #expect(text.contains("\r\ndb0:keys=") && text.contains(",expires=0,avg_ttl=0\r\n"), "\(text)")
        #expect(actualOrder == order)
        // Not federated: the section is there, empty (FederationWireTests checks its lines).
        #expect(actual["federation"] == nil, "\(actual["federation"] ?? [])")
        for name in order where name != "federation" {
            #expect(actual[name] == documented[name], "INFO \(name): the server says \(actual[name] ?? []), PROTOCOL.md \(documented[name] ?? [])")
        }
    }

    @Test func metricsAreTheDocumentedOnesWithTheirTypes() throws {
        let lines = try Self.document()
        let documented = Self.table(lines, header: "| metric | type | meaning |").filter { $0.count == 3 }
            .map { "\(Self.firstName($0[0])) \($0[1])" }
        try #require(documented.count > 30, "\(documented)")

        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        let actual = metrics.components(separatedBy: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.dropFirst(7)) }
        #expect(actual == documented, """
            missing from PROTOCOL.md: \(actual.filter { !documented.contains($0) })
            documented, not served: \(documented.filter { !actual.contains($0) })
            """)
    }

    /// Protocol/AGENTS.md's examples (the §3 session, the §4 request and
    /// reply, the §7 AGENTS reply, §9's refusals to `alice`), replayed byte
    /// for byte against a server with the agents and the user they name.
    @Test func agentsDocumentExamplesHoldByteForByte() throws {
        let doc = CompatibilityTests.packageRoot.appendingPathComponent("Protocol/AGENTS.md").path
        try CompatibilityTests.runAgainstServer("tools/compat/protocol_examples.py", interpreter: "python3", config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            agents:
              - id: echoer
                subscribes: ["tasks.echo"]
              - id: clerk
                name: Clerk registry
                enabled: false
                subscribes: ["tasks.clerk"]
            """, extraArguments: ["--doc", doc])
    }

    /// Protocol/AGENTS.md's phoenix.yaml snippets (§1's declaration, §8's
    /// built-in, §9's agent with a declared user, §10's Swift example), each through `vimana
    /// check` as tools/compat/readme_examples.py runs a document's ```yaml
    /// blocks: the snippets a reader copies load.
    @Test func agentsDocumentConfigurationsPassCheck() throws {
        let doc = CompatibilityTests.packageRoot.appendingPathComponent("Protocol/AGENTS.md").path
        let script = CompatibilityTests.packageRoot.appendingPathComponent("tools/compat/readme_examples.py").path
        let run = try CompatibilityTests.runTool(["python3", script, "--vimana", ServerProcess.binaryPath, "--doc", doc],
                                                 timeout: 120)
        #expect(run.status == 0 && !run.timedOut, "readme_examples.py --doc AGENTS.md: \(run.output)")
        #expect(run.output.contains("OK: 0 shell commands, 0 Python and 4 YAML examples, 0 netcat blocks"), "\(run.output)")
    }

    /// Every fenced block of AGENTS.md and LEDGER.md is run by a test:
    /// AGENTS.md's ```resp blocks are replayed and its ```yaml blocks checked
    /// (above), its ```swift (§10) is the example agent's source, compiled
    /// (AgentKitDocumentTests), LEDGER.md's ```python (§7) is run by ledger_example.py
    /// (LedgerReaderTests). The only others are AGENTS.md §3's grammar line
    /// and push layout, which show notation, not bytes. An example added
    /// untagged, which nothing would run, fails here.
    @Test func everyExampleOfAgentsAndLedgerIsRunByATest() throws {
        let notation: Set<String> = ["AGENT JOIN <agent-id>", ">6"]
        for (name, run) in [("AGENTS.md", ["resp", "yaml", "swift"]), ("LEDGER.md", ["python"])] {
            let url = CompatibilityTests.packageRoot.appendingPathComponent("Protocol/\(name)")
            let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
            var blocks = 0
            var i = 0
            while i < lines.count {
                if lines[i].hasPrefix("```") {
                    let tag = lines[i].dropFirst(3).trimmingCharacters(in: .whitespaces)
                    let first = i + 1 < lines.count ? lines[i + 1] : ""
                    #expect(run.contains(tag) || (tag.isEmpty && notation.contains(first)),
                            "\(name):\(i + 1): a ```\(tag) block that no test runs, beginning \(first)")
                    blocks += 1
                    i += 1
                    while i < lines.count && lines[i] != "```" { i += 1 }
                }
                i += 1
            }
            #expect(blocks > 0, "\(name): no fenced blocks found")
        }
    }

    /// The document's /health example, numbers aside, is what a server with
    /// that agent and one joined instance answers; its Content-Length is its body's.
    @Test func healthExampleIsWhatTheServerAnswers() throws {
        let lines = try Self.document()
        let curl = try #require(lines.firstIndex(of: "$ curl -si http://127.0.0.1:7380/health"))
        let body = try #require(lines[curl...].first { $0.hasPrefix("{\"status\"") })
        let length = try #require(lines[curl...].first { $0.hasPrefix("Content-Length: ") })
        #expect(length == "Content-Length: \(body.utf8.count + 1)", "the example's Content-Length is not its body's")

        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let agent = try RawClient(port: server.port)
        agent.send("AGENT JOIN clerk\r\n")
        #expect(agent.read(matching: "+OK\r\n") == "+OK\r\n")
        let response = RawClient.httpGet(port: server.httpPort, path: "/health")
        let actual = try #require(response.components(separatedBy: "\r\n\r\n").last)
        // Numbers vary; everything else is as written.
        let pattern = "^" + NSRegularExpression.escapedPattern(for: body)
            .replacingOccurrences(of: #"[0-9]+"#, with: "[0-9]+", options: .regularExpression) + "\n$"
        #expect(actual.range(of: pattern, options: .regularExpression) != nil, "server: \(actual)\ndocument: \(body)")
    }
}
