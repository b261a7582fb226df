import Foundation
import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaLedger

/// `Ledger.append`: one call per entry; the record's field count is the
/// fields written, and a refused ID appends nothing.
@Suite struct AppendTests {
    func ledger() -> Ledger { Ledger(config: LedgerConfig(dir: temporaryDirectory())) }

    @Test func anEntryIsWrittenWithItsClientItsPublisherAndEveryField() throws {
        let ledger = ledger()
        let topic = bytes("orders"), name = bytes("shop-1"), user = bytes("alice")
        let pairs: [([UInt8], [UInt8])] = [(bytes("item"), bytes("tea")), (bytes(""), bytes("")), (bytes("qty"), [0, 13, 10, 255])]
        let result = topic.withUnsafeBytes { t in
            name.withUnsafeBytes { n in
                user.withUnsafeBytes { u in
                    ledger.append(topic: t, id: .explicit(StreamID(ms: 5, seq: 1)), client: RecordClient(id: 42, name: n, user: u),
                                  nowMillis: 1000, nowMicros: 1_000_123) { fields in
                        for (k, v) in pairs { k.withUnsafeBytes { kb in v.withUnsafeBytes { fields.add(name: kb, value: $0) } } }
                    }
                }
            }
        }
        let appended = try result.get()
        #expect(appended.sequence == 1 && appended.id == StreamID(ms: 5, seq: 1))
        let record = try #require(ledger.current?.record(1))
        #expect(record.topic == topic && record.clientName == name && record.clientID == 42)
        #expect(record.publisher == user)
        #expect(record.timestampMicros == 1_000_123)
        #expect(record.fields.map { $0.name } == pairs.map { $0.0 })
        #expect(record.fields.map { $0.value } == pairs.map { $0.1 })
        #expect(ledger.stream(topic)?.length == 1)
    }

    @Test func aRefusedIDAppendsNothingAndWritesNoField() {
        let ledger = ledger()
        ledger.publish("orders", "first", now: 2000)
        var called = false
        let result = bytes("orders").withUnsafeBytes { t in
            ledger.append(topic: t, id: .explicit(StreamID(ms: 1, seq: 0)), client: .kernel(), nowMillis: 3000, nowMicros: 0) { _ in
                called = true
            }
        }
        #expect(result.map { $0.sequence } == .failure(.notGreaterThanTop))
        #expect(!called)
        #expect(ledger.nextSequence == 2)
        #expect(ledger.current?.count == 1)
        #expect(ledger.stream(bytes("orders"))?.length == 1)
    }

    /// A PUBLISH is one `payload` field, auto ID, by its client.
    @Test func aRecordedPublishIsOnePayloadField() throws {
        let ledger = ledger()
        ledger.publish("news", "hello", now: 7)
        let record = try #require(ledger.current?.record(1))
        #expect(record.fields == [LedgerRecord.Field(name: bytes("payload"), value: bytes("hello"))])
        #expect(record.id == StreamID(ms: 7, seq: 0) && record.clientID == 7)
    }
}
