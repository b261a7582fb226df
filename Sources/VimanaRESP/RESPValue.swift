/// One reply from a RESP2 or RESP3 server, fully decoded.
///
/// Promises: every reply type Redis 7 can send has a case (RESP3 attributes
/// are parsed and dropped by `ReplyDecoder`); bulk payloads stay bytes, so
/// binary data survives a round trip. Meant for clients and tests, not for
/// hot paths: building a value allocates.
public enum RESPValue: Sendable {
    /// `+OK`: a status line.
    case simpleString(String)
    /// `-ERR …` or a RESP3 blob error `!`: the whole line, code included.
    case error(String)
    /// `:42`.
    case integer(Int)
    /// `$5 hello`: binary-safe bytes.
    case bulkString([UInt8])
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3).
    case null
    /// `*N`.
    case array([RESPValue])
    /// `%N`: key/value pairs in the order the server sent them.
    case map([(RESPValue, RESPValue)])
    /// `~N`.
    case set([RESPValue])
    /// `>N`: an out-of-band push (pub/sub messages in RESP3).
    case push([RESPValue])
    /// `,3.14`, `,inf`, `,nan`.
    case double(Double)
    /// `#t` / `#f`.
    case boolean(Bool)
    /// `=N fmt:text`: text with a three-letter format such as `txt` or `mkd`.
    case verbatim(format: String, text: [UInt8])
    /// `(123…`: an integer beyond 64 bits, kept as its decimal digits.
    case bigNumber(String)
}

// MARK: - Convenience

extension RESPValue {
    /// A bulk string from UTF-8 text (tests and cold paths).
    public static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// The bytes of a bulk, simple or verbatim string; nil for other types.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b): b
        case .simpleString(let s): Array(s.utf8)
        case .verbatim(_, let t): t
        default: nil
        }
    }

    /// The integer of an `.integer` reply; nil otherwise.
    public var integer: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// The elements of an array, set or push; nil otherwise.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let e), .set(let e), .push(let e): e
        default: nil
        }
    }
}

// MARK: - Equality

extension RESPValue: Equatable {
    /// Structural equality; two NaN doubles are equal so that a decoded
    /// `,nan` compares equal to `.double(.nan)` in tests.
    public static func == (a: RESPValue, b: RESPValue) -> Bool {
        switch (a, b) {
        case (.simpleString(let x), .simpleString(let y)): return x == y
        case (.error(let x), .error(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.bulkString(let x), .bulkString(let y)): return x == y
        case (.null, .null): return true
        case (.array(let x), .array(let y)): return x == y
        case (.set(let x), .set(let y)): return x == y
        case (.push(let x), .push(let y)): return x == y
        case (.map(let x), .map(let y)):
            guard x.count == y.count else { return false }
            for i in x.indices where x[i].0 != y[i].0 || x[i].1 != y[i].1 { return false }
            return true
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): return x == y
        case (.verbatim(let f, let t), .verbatim(let g, let u)): return f == g && t == u
        case (.bigNumber(let x), .bigNumber(let y)): return x == y
        default: return false
        }
    }
}

// MARK: - Human rendering

extension RESPValue: CustomStringConvertible {
    /// The value as redis-cli prints it: `"text"` for strings, `(integer) 1`,
    /// `(nil)`, `(error) ERR …`, and numbered lines `1) "a"` for aggregates,
    /// nested aggregates indented under their number.
    public var description: String {
        var out = ""
        render(into: &out, indent: 0)
        return out
    }

    private func render(into out: inout String, indent: Int) {
        switch self {
        case .simpleString(let s): out += s
        case .error(let s): out += "(error) " + s
        case .integer(let n): out += "(integer) " + String(n)
        case .bulkString(let b): out += RESPValue.quoted(b)
        case .null: out += "(nil)"
        case .double(let d): out += "(double) " + RESPValue.renderDouble(d)
        case .boolean(let b): out += b ? "(true)" : "(false)"
        case .verbatim(_, let t): out += RESPValue.quoted(t)
        case .bigNumber(let s): out += "(big number) " + s
        case .array(let e), .set(let e), .push(let e):
            if e.isEmpty { out += self.isSet ? "(empty set)" : "(empty array)"; return }
            RESPValue.renderList(e.map { ($0, nil) }, into: &out, indent: indent)
        case .map(let pairs):
            if pairs.isEmpty { out += "(empty hash)"; return }
            RESPValue.renderList(pairs.map { ($0.0, $0.1) }, into: &out, indent: indent)
        }
    }

    private var isSet: Bool { if case .set = self { return true } else { return false } }

    /// Numbered lines; map entries print as `1# key => value` as redis-cli does.
    private static func renderList(_ items: [(RESPValue, RESPValue?)], into out: inout String, indent: Int) {
        let width = String(items.count).count
        for (i, item) in items.enumerated() {
            if i > 0 { out += "\n" + String(repeating: " ", count: indent) }
            let number = String(i + 1)
            let label = String(repeating: " ", count: width - number.count) + number
                + (item.1 == nil ? ") " : "# ")
            out += label
            let inner = indent + label.count
            item.0.render(into: &out, indent: inner)
            if let value = item.1 {
                out += " => "
                value.render(into: &out, indent: inner + 4)
            }
        }
    }

    private static func renderDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return String(d)
    }

    /// `"…"` with redis-cli's escapes: `\n`, `\r`, `\t`, `\"`, `\\`, and `\xNN`
    /// for other control bytes and for bytes that are not valid UTF-8.
    public static func quoted(_ bytes: [UInt8]) -> String {
        "\"" + escaped(bytes, escapeSpace: false, escapeQuote: true) + "\""
    }

    /// The bytes as printable text: valid UTF-8 is kept, control bytes and
    /// invalid sequences become `\n`, `\xNN` and so on, and a backslash
    /// becomes `\\`, so the original bytes can always be recovered.
    public static func escaped(_ bytes: [UInt8], escapeSpace: Bool = false, escapeQuote: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b >= 0x80 {
                let n = UTF8Check.sequenceLength(bytes, at: i)
                if n > 0 {
                    out += String(decoding: bytes[i..<(i + n)], as: UTF8.self)
                    i += n
                    continue
                }
                out += hexEscape(b)
            } else {
                switch b {
                case 10: out += "\\n"
                case 13: out += "\\r"
                case 9: out += "\\t"
                case 92: out += "\\\\"
                case 34 where escapeQuote: out += "\\\""
                case 32 where escapeSpace: out += "\\x20"
                case 0..<32, 127: out += hexEscape(b)
                default: out.unicodeScalars.append(Unicode.Scalar(b))
                }
            }
            i += 1
        }
        return out
    }

    private static func hexEscape(_ b: UInt8) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
        return "\\x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 15)])
    }
}

/// UTF-8 validation one sequence at a time, so that renderers can keep
/// valid text and escape only the bytes that are not.
public enum UTF8Check {
    /// The length (2–4) of the valid multi-byte UTF-8 sequence starting at
    /// `i`, or 0 when the bytes there are not one (overlong forms,
    /// surrogates and code points above U+10FFFF are rejected).
    public static func sequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
        let b0 = bytes[i]
        let n: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; upper = 0x9F
        case 0xF0: n = 4; lower = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; upper = 0x8F
        default: return 0
        }
        guard i + n <= bytes.count else { return 0 }
        let b1 = bytes[i + 1]
        guard b1 >= lower && b1 <= upper else { return 0 }
        var k = 2
        while k < n {
            guard bytes[i + k] & 0xC0 == 0x80 else { return 0 }
            k += 1
        }
        return n
    }

    /// True when all of `bytes` is valid UTF-8.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        var i = 0
        while i < bytes.count {
            if bytes[i] < 0x80 { i += 1; continue }
            let n = sequenceLength(bytes, at: i)
            if n == 0 { return false }
            i += n
        }
        return true
    }
}
