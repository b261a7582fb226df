import Foundation
import Testing

/// Protocol/PROTOCOL.md §8 promises every error text the server sends. Each
/// error literal in Sources/ (a string starting with an error code, `ERR `,
/// `NOGROUP `…, or the reply bytes `-ERR …\r\n`) must appear there: every fixed part of it, the parts between
/// its interpolations, word for word. So a new error, or a changed one,
/// cannot ship without its line in the document.
@Suite struct ErrorTextsDocumentedTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let codes = ["ERR", "NOAUTH", "WRONGPASS", "NOPERM", "NOPROTO", "NOGROUP", "BUSYGROUP", "MISCONF", "DAMAGED", "DENIED", "WRONGTYPE"]

    /// The text of §8, with Markdown's `\|` read as `|`.
    static func errorsSection() throws -> String {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Protocol/PROTOCOL.md"), encoding: .utf8)
        guard let start = text.range(of: "\n## 8. Errors\n"),
              let end = text.range(of: "\n## 9.", range: start.upperBound..<text.endIndex) else { return "" }
        return String(text[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "\\|", with: "|")
    }

    /// Each one-line string literal of `source` as its fixed parts (the text
    /// between interpolations `\(…)`, which may nest parentheses and strings).
    static func literals(_ source: String) -> [[String]] {
        let c = Array(source.unicodeScalars)
        var out: [[String]] = []
        var i = 0
        while i < c.count {
            // Skip comments and multi-line literals: error texts are one-line literals.
            if c[i] == "/" && i + 1 < c.count && c[i + 1] == "/" {
                while i < c.count && c[i] != "\n" { i += 1 }
                continue
            }
            if c[i] == "\"" && i + 2 < c.count && c[i + 1] == "\"" && c[i + 2] == "\"" {
                i += 3
                while i + 2 < c.count && !(c[i] == "\"" && c[i + 1] == "\"" && c[i + 2] == "\"") { i += 1 }
                i += 3
                continue
            }
            guard c[i] == "\"" else { i += 1; continue }
            i += 1
            var parts: [String] = [], current = ""
            while i < c.count && c[i] != "\"" && c[i] != "\n" {
                if c[i] == "\\" && i + 1 < c.count && c[i + 1] == "(" {
                    parts.append(current)
                    current = ""
                    i += 2
                    var depth = 1
                    while i < c.count && depth > 0 {
                        if c[i] == "\"" {  // a string inside the interpolation
                            i += 1
                            while i < c.count && c[i] != "\"" { i += c[i] == "\\" ? 2 : 1 }
                        } else if c[i] == "(" {
                            depth += 1
                        } else if c[i] == ")" {
                            depth -= 1
                        }
                        i += 1
                    }
                    continue
                }
                if c[i] == "\\" && i + 1 < c.count {
                    let escaped: [Unicode.Scalar: Unicode.Scalar] = ["n": "\n", "r": "\r", "t": "\t", "0": "\0"]
                    current.unicodeScalars.append(escaped[c[i + 1]] ?? c[i + 1])
                    i += 2
                    continue
                }
                current.unicodeScalars.append(c[i])
                i += 1
            }
            i += 1
            parts.append(current)
            out.append(parts)
        }
        return out
    }

    static func errorLiterals() throws -> [(file: String, parts: [String])] {
        let sources = packageRoot.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var found: [(String, [String])] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for var parts in literals(text) {
                // Written as reply bytes: `-ERR …\r\n`.
                if parts[0].hasPrefix("-") && parts[parts.count - 1].hasSuffix("\r\n") {
                    parts[0].removeFirst()
                    parts[parts.count - 1].removeLast()
                }
                guard codes.contains(where: { parts[0].hasPrefix($0 + " ") }) else { continue }
                found.append((url.lastPathComponent, parts))
            }
        }
        return found
    }

    @Test func everyErrorTextInTheCodeIsInProtocolSection8() throws {
        let section = try Self.errorsSection()
        try #require(!section.isEmpty, "PROTOCOL.md has no section 8")
        let errors = try Self.errorLiterals()
        // The scan must see the errors it is meant to check.
        try #require(errors.count > 50, "found only \(errors.count) error literals")
        for (file, parts) in errors {
            for part in parts where part.trimmingCharacters(in: .whitespaces).count > 2 {
                if !section.contains(part) {
                    Issue.record("\(file): \"\(parts.joined(separator: "…"))\": `\(part)` is not in PROTOCOL.md §8")
                }
            }
        }
    }

    /// The scanner itself: fixed parts around nested interpolations.
    @Test func literalsSplitAtInterpolations() {
        let source = #"""
            x("ERR a '\(f(g("q)")))' b \(h) c") // "ERR not this"
            let y = "NOGROUP \"z\""
            let z = "-ERR w\r\n"
            """#
        #expect(Self.literals(source) == [["ERR a '", "' b ", " c"], ["NOGROUP \"z\""], ["-ERR w\r\n"]])
    }
}
