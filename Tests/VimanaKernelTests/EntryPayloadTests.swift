import Testing
import VimanaLedger
@testable import VimanaKernel

/// The single-`payload` rule, in its one place.
@Suite struct EntryPayloadTests {
    func bytes(_ fields: [(String, String)]) -> String {
        String(decoding: EntryPayload.bytes(fields.map { LedgerRecord.Field(name: Array($0.0.utf8), value: Array($0.1.utf8)) }),
               as: UTF8.self)
    }

    @Test func onlyALoneFieldNamedExactlyPayloadIsRaw() {
        #expect(bytes([("payload", "x")]) == "x")
        #expect(bytes([("PAYLOAD", "x")]) == "{\"PAYLOAD\":\"x\"}", "field names are case-sensitive")
        #expect(bytes([("payloads", "x")]) == "{\"payloads\":\"x\"}")
        #expect(bytes([("payload", "x"), ("b", "\"")]) == "{\"payload\":\"x\",\"b\":\"\\\"\"}")
        #expect(bytes([]) == "{}")
    }
}
