import Foundation
import Testing

/// The target graph is the architecture (issue 10): Package.swift declares
/// it, its header comment and docs/ARCHITECTURE.md list it edge by edge, and
/// no Swift file may import one of our modules its target does not declare
/// (SwiftPM lets a transitive dependency be imported, which is how layers
/// leak into each other unnoticed).
@Suite struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// Modules of the toolchain and the platform: anyone may import them.
    static let platform: Set<String> = ["Foundation", "Glibc", "Dispatch", "Synchronization", "Testing", "XCTest"]

    struct Target {
        let name: String
        let kind: String
        let dependencies: Set<String>
    }

    /// Every target of Package.swift with its declared dependencies.
    static func declared() throws -> [String: Target] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let start = /\.(target|executableTarget|testTarget|systemLibrary)\(name: "(\w+)"/
        let matches = text.matches(of: start)
        var out: [String: Target] = [:]
        for (k, m) in matches.enumerated() {
            let end = k + 1 < matches.count ? matches[k + 1].range.lowerBound : text.endIndex
            let body = text[m.range.upperBound..<end]
            var dependencies: Set<String> = []
            if let list = body.firstMatch(of: /dependencies: \[([^\]]*)\]/) {
                dependencies = Set(list.1.matches(of: /"(\w+)"/).map { String($0.1) })
            }
            out[String(m.2)] = Target(name: String(m.2), kind: String(m.1), dependencies: dependencies)
        }
        return out
    }

    /// The `name → dependencies` lines of a document (every line of that shape).
    static func listed(in file: String) throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        var out: [String: Set<String>] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let m = line.wholeMatch(of: /^(?:\/\/)?\s*(\w+)\s+→(.*)$/) else { continue }
            out[String(m.1)] = Set(m.2.split(separator: " ").map(String.init))
        }
        return out
    }

    /// The modules each Swift file under `directory/<target>/` imports.
    static func imports(under directory: String) throws -> [(target: String, file: String, module: String)] {
        let base = root.appendingPathComponent(directory)
        var out: [(String, String, String)] = []
        let fm = FileManager.default
        for target in try fm.contentsOfDirectory(atPath: base.path).sorted() {
            guard let files = fm.enumerator(atPath: base.appendingPathComponent(target).path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: base.appendingPathComponent(target).appendingPathComponent(file),
                                      encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@testable ") {
                    if let m = line.wholeMatch(of: /^\s*(?:@testable\s+)?import\s+(\w+).*$/) {
                        out.append((target, "\(directory)/\(target)/\(file)", String(m.1)))
                    }
                }
            }
        }
        return out
    }

    @Test func noFileImportsAModuleItsTargetDoesNotDeclare() throws {
        let targets = try Self.declared()
        #expect(targets["VimanaKernel"] != nil, "Package.swift was not parsed")
        var problems: [String] = []
        for directory in ["Sources", "Tests"] {
            for (target, file, module) in try Self.imports(under: directory) where !Self.platform.contains(module) {
                guard let t = targets[target] else {
                    problems.append("\(file): directory \(target) is no target of Package.swift")
                    continue
                }
                if !t.dependencies.contains(module) {
                    problems.append("\(file): imports \(module), which target \(target) does not declare")
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func packageCommentAndArchitectureDocumentListEveryEdge() throws {
        let targets = try Self.declared()
        var graph: [String: Set<String>] = [:]
        for t in targets.values where t.kind != "testTarget" { graph[t.name] = t.dependencies }
        #expect(graph.count >= 10, "Package.swift was not parsed")
        for file in ["Package.swift", "docs/ARCHITECTURE.md"] {
            let listed = try Self.listed(in: file)
            for name in Set(graph.keys).union(listed.keys).sorted() where graph[name] != listed[name] {
                Issue.record("\(file): \(name) → \(listed[name].map { $0.sorted().joined(separator: " ") } ?? "(missing)"); Package.swift declares \(graph[name].map { $0.sorted().joined(separator: " ") } ?? "(no such target)")")
            }
        }
    }

    /// The drawing names every target (the list above is what is checked edge by edge).
    @Test func architectureDrawingNamesEveryTarget() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        let drawing = text.components(separatedBy: "```").dropFirst().first ?? ""
        for t in try Self.declared().values where t.kind != "testTarget" {
            #expect(drawing.contains(t.name), "the drawing in docs/ARCHITECTURE.md does not show \(t.name)")
        }
    }
}
