import Foundation
import Testing

/// Protocol/AGENTS.md §10 quotes the example agent whole: the ```swift
/// block is the source the build compiles, so the example in the document
/// compiles.
@Suite struct AgentKitDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theDocumentsSwiftExampleIsTheCounterAgentsSource() throws {
        let doc = try String(contentsOf: Self.root.appendingPathComponent("Protocol/AGENTS.md"), encoding: .utf8)
        let source = try String(contentsOf: Self.root.appendingPathComponent("Sources/CounterAgent/CounterAgent.swift"),
                                encoding: .utf8)
        let blocks = doc.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```\n")[0] }
        #expect(blocks.count == 1, "AGENTS.md has \(blocks.count) ```swift blocks")
        #expect(blocks.first == source, "AGENTS.md §10's example differs from Sources/CounterAgent/CounterAgent.swift")
    }

    /// The crash switch of the tests is the example's, never the kit's:
    /// a caller who learns it cannot make a production agent exit.
    @Test func theKitReadsNoTestSwitch() throws {
        let kit = Self.root.appendingPathComponent("Sources/VimanaAgentKit")
        for name in try FileManager.default.contentsOfDirectory(atPath: kit.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: kit.appendingPathComponent(name), encoding: .utf8)
            #expect(!text.contains("CRASH"), "\(name) reads a test switch")
        }
    }
}
