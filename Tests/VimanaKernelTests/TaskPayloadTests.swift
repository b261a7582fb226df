import Testing
import VimanaLedger
@testable import VimanaKernel

/// A task's payload as Protocol/AGENTS.md §3 specifies it: a lone `payload`
/// field byte for byte, any other entry a JSON object of its fields.
@Suite struct TaskPayloadTests {
    func field(_ name: [UInt8], _ value: [UInt8]) -> LedgerRecord.Field { LedgerRecord.Field(name: name, value: value) }

    @Test func aLonePayloadFieldIsSentAsItIs() {
        let binary: [UInt8] = [0, 0xFF, 0x22, 0x0A]
        #expect(EntryPayload.bytes([field(Array("payload".utf8), binary)]) == binary)
    }

    @Test func otherEntriesAreJSONObjectsOfStringsInFieldOrder() {
        let json = EntryPayload.bytes([field(Array("item".utf8), Array("pen".utf8)), field(Array("qty".utf8), Array("2".utf8))])
        #expect(String(decoding: json, as: UTF8.self) == #"{"item":"pen","qty":"2"}"#)
        // A name given twice appears twice; a lone field not named payload is an object too.
        let twice = EntryPayload.bytes([field(Array("a".utf8), Array("1".utf8)), field(Array("a".utf8), Array("2".utf8))])
        #expect(String(decoding: twice, as: UTF8.self) == #"{"a":"1","a":"2"}"#)
        #expect(String(decoding: EntryPayload.bytes([field(Array("x".utf8), [])]), as: UTF8.self) == #"{"x":""}"#)
    }

    @Test func escapesAreJSONsAndInvalidUTF8BecomesTheReplacementCharacter() {
        let value: [UInt8] = Array("q\"b\\n\nr\rt\t".utf8) + [0x01, 0x1F, 0x7F] + Array("é".utf8) + [0xFF, 0x41]
        let json = EntryPayload.bytes([field(Array("k".utf8), value), field(Array("payload".utf8), [])])
        let expected = #"{"k":"q\"b\\n\nr\rt\t\u0001\u001f"# + "\u{7F}é\u{FFFD}A" + #"","payload":""}"#
        #expect(String(decoding: json, as: UTF8.self) == expected)
    }
}
