import Foundation
import Testing

/// Each setting has one value type and one default (issue 10): the facts
/// below were once written in several places, and the copies drifted.
/// These read the source tree, so a second copy fails here at once.
@Suite struct SingleSourceTests {
    /// Every Swift file under Sources/, as (path relative to the package, text).
    static let sources: [(path: String, text: String)] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        guard let walk = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var files: [(String, String)] = []
        for case let url as URL in walk where url.pathExtension == "swift" {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            files.append((String(url.path.dropFirst(root.path.count + 1)), text))
        }
        return files.sorted { $0.0 < $1.0 }
    }()

    /// The files with a line matching `pattern`.
    func files(matching pattern: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
        return Self.sources.filter { file in
            regex.firstMatch(in: file.text, range: NSRange(file.text.startIndex..., in: file.text)) != nil
        }.map(\.path)
    }

    @Test func theSourceTreeIsFound() {
        #expect(Self.sources.count > 50)
    }

    /// `vimana pub`, `sub`, `bench` and `serve --help` read the port from
    /// `KernelConfig`; only the settings write it.
    @Test func theDefaultPortIsWrittenOnce() throws {
        #expect(try files(matching: "7379") == ["Sources/VimanaConfig/Configuration.swift"])
        #expect(try files(matching: "7380") == ["Sources/VimanaConfig/Configuration.swift"])
    }

    /// One enum for the fsync policy, which the loader parses and the ledger's writer obeys.
    @Test func theFsyncPolicyIsOneEnum() throws {
        #expect(try files(matching: #"\bcase\s+(\w+\s*,\s*)*everysec\b"#) == ["Sources/VimanaConfig/LedgerConfig.swift"])
    }

    /// One enum for the restart policy, which the loader parses and the supervisor obeys.
    @Test func theRestartPolicyIsOneEnum() throws {
        #expect(try files(matching: #"\bcase\s+(\w+\s*,\s*)*onFailure\b"#) == ["Sources/VimanaConfig/AgentConfig.swift"])
    }

    /// The ledger's settings are declared, with their defaults, in `LedgerConfig` only:
    /// the ledger takes that type, not a copy with its own defaults.
    @Test(arguments: ["dir", "record", "exclude", "fsync", "compressionLevel", "compactionLevel", "maxPending",
                      "segmentBytes", "segmentAgeSeconds", "retentionMaxAgeSeconds", "retentionMaxBytes", "archiveDir"])
    func aLedgerSettingHasOneDefault(name: String) throws {
        // A declaration with its type and a default (`var fsync: FsyncPolicy = …`), not a local variable.
        #expect(try files(matching: #"\bvar\s+\#(name)\s*:[^=\n]*="#) == ["Sources/VimanaConfig/LedgerConfig.swift"])
    }

    /// Agent settings the supervisor applies are declared in `AgentConfig` only.
    @Test(arguments: ["restart", "maxRestarts"])
    func anAgentSettingHasOneDefault(name: String) throws {
        #expect(try files(matching: #"\bvar\s+\#(name)\b[^=\n]*="#) == ["Sources/VimanaConfig/AgentConfig.swift"])
    }
}
