import VimanaCore
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// How `vimana ledger` prints records, bytes, times and ratios. Text lines
/// read as `tools/ledger/vimana_ledger.py` writes them, and JSON timestamps
/// are written as it writes them (`rfc3339`), so the two readers' dumps can
/// be compared line for line.
enum LedgerFormat {
    // MARK: - Records

    /// `SEQ ID TOPIC name=value ...`, each topic, name and value as `text`
    /// writes it; a record from another kernel (an origin, LEDGER.md §3)
    /// has `@ORIGIN:OSEQ` after its topic, ORIGIN as `text` writes it.
    static func textLine(_ r: LedgerRecord) -> String {
        var line = "\(r.sequence) \(r.id) " + text(r.topic)
        if !r.origin.isEmpty { line += " @" + text(r.origin) + ":\(r.originSequence)" }
        for f in r.fields {
            line += " " + text(f.name, isName: true) + "=" + text(f.value)
        }
        return line
    }

    /// `{"seq":…,"id":"ms-seq","ts":"RFC 3339, µs","topic":…,"client_id":…,
    /// "client_name":…|null,"publisher":…|null,"fields":{…}}` (`publisher`
    /// null: the kernel's own record, or one of format version 1), with
    /// `"origin":…,"origin_seq":…` before `fields` only for a record from
    /// another kernel (LEDGER.md §3); `fields` is `[[name,value],…]`
    /// when a name repeats. Bytes that are not UTF-8 cannot be a JSON string:
    /// when a record has any, every string of it is written escaped
    /// (`\` doubled, each such byte as `\xHH`) and the object says
    /// `"escaped":true`, so nothing is lost or ambiguous.
    static func jsonLine(_ r: LedgerRecord) -> String {
        let escaped = !isUTF8(r.topic) || !isUTF8(r.clientName) || !isUTF8(r.publisher) || !isUTF8(r.origin)
            || r.fields.contains { !isUTF8($0.name) || !isUTF8($0.value) }
        func string(_ bytes: [UInt8]) -> String { json(escaped ? escapedText(bytes) : String(decoding: bytes, as: UTF8.self)) }
        var line = "{\"seq\":\(r.sequence),\"id\":\"\(r.id)\",\"ts\":\"\(rfc3339(micros: r.timestampMicros))\""
        line += ",\"topic\":" + string(r.topic) + ",\"client_id\":\(r.clientID),\"client_name\":"
        line += r.clientName.isEmpty ? "null" : string(r.clientName)
        line += ",\"publisher\":" + (r.publisher.isEmpty ? "null" : string(r.publisher))
        if !r.origin.isEmpty { line += ",\"origin\":" + string(r.origin) + ",\"origin_seq\":\(r.originSequence)" }
        let unique = Set(r.fields.map(\.name)).count == r.fields.count
        line += unique ? ",\"fields\":{" : ",\"fields\":["
        for (k, f) in r.fields.enumerated() {
            if k > 0 { line += "," }
            line += unique ? string(f.name) + ":" + string(f.value) : "[" + string(f.name) + "," + string(f.value) + "]"
        }
        line += unique ? "}" : "]"
        if escaped { line += ",\"escaped\":true" }
        return line + "}"
    }

    // MARK: - Bytes as text

    /// As is when the bytes are non-empty printable UTF-8 with no space,
    /// quote, backslash (or `=` in a name); otherwise in double quotes with
    /// `\\ \" \n \r \t` and `\xHH` for every other byte that is not part of a
    /// printable character.
    static func text(_ bytes: [UInt8], isName: Bool = false) -> String {
        if let s = String(validating: bytes, as: UTF8.self), !s.isEmpty,
           s.unicodeScalars.allSatisfy({ isPrintable($0) && $0 != " " && $0 != "\"" && $0 != "\\" && !(isName && $0 == "=") }) {
            return s
        }
        var out = "\""
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x5C: out += "\\\\"
            case 0x22: out += "\\\""
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let n = sequenceLength(bytes, at: i)
                if n > 0, let s = String(validating: bytes[i..<(i + n)], as: UTF8.self),
                   let scalar = s.unicodeScalars.first, isPrintable(scalar) {
                    out += s
                    i += n
                    continue
                }
                out += hex(b)
            }
            i += 1
        }
        return out + "\""
    }

    /// Valid UTF-8 kept, `\` doubled, every other byte as `\xHH`.
    static func escapedText(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x5C {
                out += "\\\\"
            } else if b < 0x80 {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let n = sequenceLength(bytes, at: i)
                if n > 0, let s = String(validating: bytes[i..<(i + n)], as: UTF8.self) {
                    out += s
                    i += n
                    continue
                }
                out += hex(b)
            }
            i += 1
        }
        return out
    }

    /// A JSON string literal. Besides the mandatory escapes, U+0085, U+2028
    /// and U+2029 are escaped: some line splitters take them for line ends,
    /// and one record must stay one line.
    static func json(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F, 0x85, 0x2028, 0x2029:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func isUTF8(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    /// Printable as Python's `str.isprintable` means it: not a control,
    /// format, surrogate, private-use, unassigned or separator character,
    /// except the ASCII space.
    static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        if u == " " { return true }
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator: return false
        default: return true
        }
    }

    /// The length a UTF-8 lead byte announces (2–4), or 0; the bytes still need validating.
    private static func sequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
        let b = bytes[i]
        let n = b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
        return i + n <= bytes.count ? n : 0
    }

    private static func hex(_ b: UInt8) -> String { "\\x" + SHA256.hex(CollectionOfOne(b)) }

    // MARK: - Numbers and times

    /// RFC 3339 UTC with microseconds: `2026-11-25T09:51:45.123456Z`
    /// (vimana_ledger.py's `format_timestamp`).
    static func rfc3339(micros: Int64) -> String {
        let (q, r) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        let seconds = r < 0 ? q - 1 : q
        let fraction = r < 0 ? r + 1_000_000 : r
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return "\(pad(Int64(parts.tm_year) + 1900, 4))-\(pad(Int64(parts.tm_mon) + 1, 2))-\(pad(Int64(parts.tm_mday), 2))T"
            + "\(pad(Int64(parts.tm_hour), 2)):\(pad(Int64(parts.tm_min), 2)):\(pad(Int64(parts.tm_sec), 2)).\(pad(fraction, 6))Z"
    }

    /// raw / compressed with two decimals, rounded half up; nil when nothing is compressed.
    static func ratio(raw: Int, compressed: Int) -> String? {
        guard compressed > 0 else { return nil }
        let hundredths = (raw * 100 + compressed / 2) / compressed
        return "\(hundredths / 100).\(pad(Int64(hundredths % 100), 2))"
    }

    /// As C's and Python's `%0*d`: zeros after the sign (`-005`), so the two
    /// readers agree on every year a 64-bit timestamp can hold.
    private static func pad(_ v: Int64, _ width: Int) -> String {
        let digits = String(v.magnitude)
        let sign = v < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - sign.count - digits.count)) + digits
    }
}

/// Lines for stdout, written in chunks: a dump of millions of records never
/// becomes one string, nor one write(2) per record.
struct LedgerOutput {
    private var buffer = ""

    mutating func line(_ text: String) {
        buffer += text
        buffer += "\n"
        if buffer.utf8.count >= CLILimits.outputChunkBytes { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        printOut(buffer)
        buffer = ""
    }
}
