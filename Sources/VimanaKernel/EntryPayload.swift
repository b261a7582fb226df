import VimanaCore
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// What a stream entry looks like when it is delivered rather than read:
/// to a topic's live subscribers (XADD, a dead letter, a built-in's result)
/// and to an agent as a task's payload (Protocol/PROTOCOL.md §6,
/// Protocol/AGENTS.md §3). The one owner of the single-`payload` rule.
///
/// An entry whose only field is named `payload` is delivered as that field's
/// raw value; any other entry as a JSON object of its fields, in order.
/// The name is compared byte for byte: field names are case-sensitive, as
/// in Redis, so `PAYLOAD` or `Payload` is just another field.
enum EntryPayload {
    static let fieldName: StaticString = "payload"

    /// True when an entry of `fieldCount` fields whose first field is named
    /// `name` is delivered as its value alone.
    @inline(__always)
    static func isRaw(fieldCount: Int, firstName name: UnsafeRawBufferPointer) -> Bool {
        guard fieldCount == 1, name.count == fieldName.utf8CodeUnitCount, let p = name.baseAddress else { return false }
        return memcmp(p, fieldName.utf8Start, name.count) == 0
    }

    /// The bytes delivered for an entry with `fields`.
    static func bytes(_ fields: [LedgerRecord.Field]) -> [UInt8] {
        if fields.count == 1, fields[0].name.withUnsafeBytes({ isRaw(fieldCount: 1, firstName: $0) }) {
            return fields[0].value
        }
        return json(fieldCount: fields.count, name: { String(decoding: fields[$0].name, as: UTF8.self) },
                    value: { String(decoding: fields[$0].value, as: UTF8.self) })
    }

    /// The JSON object of an entry that is not delivered raw: `{"name":"value",…}`,
    /// fields in order (invalid UTF-8 repaired).
    static func json(fieldCount: Int, name: (Int) -> String, value: (Int) -> String) -> [UInt8] {
        var json = "{"
        for k in 0..<fieldCount {
            if k > 0 { json += "," }
            json += Log.jsonString(name(k)) + ":" + Log.jsonString(value(k))
        }
        return Array((json + "}").utf8)
    }
}
