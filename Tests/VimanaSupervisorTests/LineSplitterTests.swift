import Testing
@testable import VimanaSupervisor

/// Feeds each chunk in turn and returns the lines emitted, then those from `finish`.
private func split(_ chunks: [[UInt8]], finish: Bool = true) -> [(String, Bool)] {
    var splitter = LineSplitter()
    var out: [(String, Bool)] = []
    for chunk in chunks {
        chunk.withUnsafeBytes { splitter.feed($0) { out.append(($0, $1)) } }
    }
    if finish { splitter.finish { out.append(($0, $1)) } }
    return out
}

@Suite struct LineSplitterTests {
    @Test func linesSplitAcrossReadsAreJoined() {
        let lines = split([Array("hel".utf8), Array("lo\nwor".utf8), Array("ld\r\n\nlast".utf8)], finish: false)
        #expect(lines.map(\.0) == ["hello", "world", ""])
    }

    @Test func partialLastLineIsKeptUntilEOF() {
        #expect(split([Array("a\nb".utf8)], finish: false).map(\.0) == ["a"])
        #expect(split([Array("a\nb".utf8)]).map(\.0) == ["a", "b"])
    }

    @Test func overlongLineIsCutAt4KiBAndTheRestDropped() {
        let long = [UInt8](repeating: 0x61, count: 10_000)
        let lines = split([Array(long[0..<3000]), Array(long[3000...]) + Array("\nnext\n".utf8)])
        #expect(lines.count == 2)
        #expect(lines[0].0.utf8.count == SupervisorLimits.maxLine && lines[0].1)
        #expect(lines[1].0 == "next" && !lines[1].1)
    }

    @Test func lineOfExactly4KiBIsNotCut() {
        let exact = [UInt8](repeating: 0x62, count: SupervisorLimits.maxLine)
        let lines = split([exact, [0x0A]])
        #expect(lines.count == 1 && lines[0].0.utf8.count == SupervisorLimits.maxLine && !lines[0].1)
    }

    @Test func cutDoesNotSplitAMultiByteCharacter() {
        // 4095 ASCII bytes, then "é" (2 bytes) straddling the 4 KiB limit.
        let bytes = [UInt8](repeating: 0x63, count: SupervisorLimits.maxLine - 1) + Array("é and more\n".utf8)
        let lines = split([bytes])
        #expect(lines.count == 1)
        #expect(lines[0].0.utf8.count == SupervisorLimits.maxLine - 1 && lines[0].1)
        #expect(!lines[0].0.contains("\u{FFFD}"))
    }
}
