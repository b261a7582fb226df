import Testing
@testable import VimanaKernel

/// The generated word constants in `CommandTable.lookup` and `arity` must
/// agree with the spec table they were generated from.
@Suite struct CommandTableTests {
    func lookup(_ name: String) -> Command? {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { CommandTable.lookup($0, b.count) } }
    }

    @Test func everyCommandIsFoundByItsNameInAnyCase() {
        for command in Command.allCases {
            let name = CommandTable.specs[command.rawValue].name
            #expect(lookup(name) == command, "\(name)")
            #expect(lookup(name.uppercased()) == command, "\(name)")
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            #expect(lookup(mixed) == command, "\(mixed)")
            #expect(CommandTable.arity(command) == CommandTable.specs[command.rawValue].arity, "\(name)")
        }
    }

    @Test func nearMissesAreNotCommands() {
        for name in ["", "p", "pin", "pingg", "pinh", "p\u{0}ng", "PING ", "publis", "publishx", "subscribe\u{0}",
                     "0ing", "@ing", "pInG\r", "unsubscribf", "punsubscribe!", "PUBSUB|x", "xxxxxxxxxxxxxxxxx"] {
            #expect(lookup(name) == nil, "\(name)")
        }
        // Bytes that fold onto letters only when they are letters.
        #expect(lookup("\u{10}ing") == nil)
        #expect(lookup("P\u{09}NG") == nil)
    }
}
