import Testing
@testable import VimanaKernel

/// SCAN's cursor as Redis reads it (C's strtoul, whole), and the table of
/// other key types' commands (ForeignCommands.swift).
@Suite struct KeyspaceUnitTests {
    func cursor(_ text: String) -> UInt64? {
        Array(text.utf8).withUnsafeBufferPointer { Kernel.scanCursor($0) }
    }

    @Test func scanCursorIsStrtoulOverTheWholeArgument() {
        #expect(cursor("0") == 0)
        #expect(cursor("") == 0)
        #expect(cursor("007") == 7)
        #expect(cursor("+5") == 5)
        #expect(cursor("-0") == 0)
        #expect(cursor("-1") == UInt64.max)
        #expect(cursor("-18446744073709551615") == 1)
        #expect(cursor("18446744073709551615") == UInt64.max)
        // A NUL ends the C string Redis reads.
        #expect(cursor("1\u{0}x") == 1)
        #expect(cursor("\u{0}") == 0)
        for bad in ["18446744073709551616", "-18446744073709551616", " 0", "0 ", "+", "-", "+-1", "1.5", "0x1", "x", "+\u{0}1"] {
            #expect(cursor(bad) == nil, "\(bad)")
        }
    }

    @Test func otherKeyTypesCommandsAreNotTableCommandsAndHaveRedisArity() {
        let table = Set(CommandTable.entries.map(\.spec.name))
        #expect(ForeignCommand.byName.count == 131)
        for (name, command) in ForeignCommand.byName {
            #expect(!table.contains(name), "\(name) is in the command table")
            #expect(name == name.lowercased() && name == command.name)
            #expect(name.utf8.count <= ForeignCommand.longestName)
            #expect(command.arity != 0 && abs(command.arity) >= 2, "\(name)")
        }
        #expect(ForeignCommand.byName["get"]?.arityOK(2) == true)
        #expect(ForeignCommand.byName["get"]?.arityOK(3) == false)
        #expect(ForeignCommand.byName["hset"]?.arityOK(3) == false)
        #expect(ForeignCommand.byName["hset"]?.arityOK(6) == true)
        #expect(ForeignCommand.byName["mget"]?.keyed == false)
        #expect(ForeignCommand.byName["zunion"]?.keyed == false)
        #expect(ForeignCommand.byName["set"]?.keyed == true)
    }
}
