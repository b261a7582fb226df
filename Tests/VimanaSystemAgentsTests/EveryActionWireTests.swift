import Foundation
import Testing
import VimanaAgentKit
import VimanaConfig
import VimanaTestSupport
@testable import VimanaSystemAgents

/// Every system agent answers every action it has over the bus, and
/// docs/SYSTEM-AGENTS.md documents each of them in that agent's section:
/// an action the code has and the document does not name (or the reverse)
/// fails here, as does one the running agent answers `unknown_action`.
@Suite struct EveryActionWireTests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/SYSTEM-AGENTS.md")

    /// The text of `## <id>: …` up to the next `## ` heading (outside code blocks).
    static func section(_ id: String, in text: String) -> String? {
        var lines: [Substring] = []
        var inside = false, fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { fenced.toggle() }
            if !fenced && line.hasPrefix("## ") {
                if inside { break }
                inside = line.hasPrefix("## \(id): ")
                continue
            }
            if inside && !fenced { lines.append(line) }
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    /// The action names a section documents as actions: each name of a
    /// heading `### a {…}, b {…}` or `### list` (one word), and each bold
    /// item `**a {…}**`.
    static func documented(_ section: String) -> Set<String> {
        var names: Set<String> = []
        func name(_ part: Substring, braces: Bool) -> String? {
            let t = part.trimmingCharacters(in: .whitespaces)
            let n = t.prefix { $0.isLowercase || $0 == "_" }
            let after = t.dropFirst(n.count)
            return !n.isEmpty && (after.hasPrefix(" {") || (!braces && after.isEmpty)) ? String(n) : nil
        }
        for line in section.split(separator: "\n") {
            if line.hasPrefix("### ") {
                // The commas between actions, not those inside braces.
                var depth = 0, parts: [Substring] = [""]
                for ch in line.dropFirst(4) {
                    if ch == "{" { depth += 1 } else if ch == "}" { depth -= 1 }
                    if ch == "," && depth == 0 { parts.append("") } else { parts[parts.count - 1].append(ch) }
                }
                for p in parts { if let n = name(p, braces: parts.count > 1) { names.insert(n) } }
            }
            var rest = line[...]
            while let open = rest.range(of: "**") {
                let inner = rest[open.upperBound...]
                guard let close = inner.range(of: "**") else { break }
                if let n = name(inner[..<close.lowerBound], braces: true) { names.insert(n) }
                rest = inner[close.upperBound...]
            }
        }
        return names
    }

    /// Each action the code has is named in its agent's section (as an
    /// action heading, or as `` `name` `` where it is an agent's own, such as
    /// herald's `announce`); each action heading is one the code has.
    @Test func theDocumentNamesEveryActionAndNoOther() throws {
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        for id in SystemAgentID.allCases {
            guard let section = Self.section(id.rawValue, in: text) else {
                Issue.record("docs/SYSTEM-AGENTS.md has no section '## \(id.rawValue): …'")
                continue
            }
            let code = Set(SystemAgents.actions(id))
            let headed = Self.documented(section)
            #expect(headed.subtracting(code).isEmpty, "\(id.rawValue): documented, not in the code: \(headed.subtracting(code).sorted())")
            for action in code.sorted() where !headed.contains(action) {
                #expect(section.contains("`\(action)`") || section.contains("\"action\":\"\(action)\""),
                        "\(id.rawValue): the action \(action) is not documented in its section")
            }
            #expect(!headed.isEmpty, "\(id.rawValue): no action found in its section")
        }
    }

    /// Every action of every agent, sent over the bus with an argument no
    /// action takes, is answered by the running agent, and never with
    /// `unknown_action` (the probe's argument makes each refuse before it
    /// acts, so nothing changes).
    @Test func everyAgentAnswersEveryActionItHas() throws {
        let server = try ServerProcess(logLevel: "info", systemAgents: true)
        for id in SystemAgentID.allCases where !server.waitForLog("as agent \(id.rawValue)", timeout: 60) {
            throw TestFailure("\(id.rawValue) did not join; log:\n\(server.log.suffix(3000))")
        }
        let requester = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "probe"))
        for id in SystemAgentID.allCases {
            for action in SystemAgents.actions(id) {
                let reply = try requester.request(agent: id.rawValue, action: action, args: ["zz_probe": true], timeout: 30)
                if case .error(let code, let message) = reply {
                    #expect(code != AgentErrorCode.unknownAction, "\(id.rawValue) \(action): \(message)")
                    #expect(["bad_argument", "forbidden"].contains(code), "\(id.rawValue) \(action): \(code) \(message)")
                } else {
                    Issue.record("\(id.rawValue) \(action) took an argument it does not know: \(reply)")
                }
            }
        }
    }
}
