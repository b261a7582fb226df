import Foundation

/// A JSON value, as tasks, replies and event data carry it.
///
/// Integers stay integers (a request id `42` comes back as `42`, not `42.0`);
/// objects keep no order of their own and are written with sorted keys, so
/// the same value always has the same text (what `AgentEvent`s and stored
/// replies rely on).
public enum JSON: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses UTF-8 JSON text; nil when it is not JSON.
    public static func parse(_ bytes: [UInt8]) -> JSON? {
        try? JSONDecoder().decode(JSON.self, from: Data(bytes))
    }

    /// Parses JSON text; nil when it is not JSON.
    public static func parse(_ text: String) -> JSON? { parse(Array(text.utf8)) }

    /// The canonical text of the JSON text `raw` — `JSON.parse(raw)?.text`,
    /// or `raw` itself when it is not JSON — without parsing it when it
    /// already is canonical: an integer of at most 18 digits, or a string of
    /// printable ASCII with nothing to escape (every request id the kit
    /// writes from a string or integer id of that kind). Folding an agent's
    /// events keys each by it.
    public static func canonical(_ raw: String) -> String {
        let u = raw.utf8
        if let first = u.first {
            if first == UInt8(ascii: "\""), u.count >= 2, u.last == UInt8(ascii: "\"") {
                let inner = u.dropFirst().dropLast()
                if inner.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) { return raw }
            } else {
                let digits = first == UInt8(ascii: "-") ? u.dropFirst() : u[...]
                if !digits.isEmpty && digits.count <= 18 && digits.allSatisfy({ $0 >= 48 && $0 <= 57 })
                    && (digits.first != 48 || digits.count == 1) && raw != "-0" { return raw }
            }
        }
        return parse(raw)?.text ?? raw
    }

    /// The value as compact JSON text, keys sorted, `/` not escaped.
    /// A double that is not finite (which JSON cannot write) becomes `null`.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(finite) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    private var finite: JSON {
        switch self {
        case .double(let d) where !d.isFinite: .null
        case .array(let a): .array(a.map(\.finite))
        case .object(let o): .object(o.mapValues(\.finite))
        default: self
        }
    }

    // MARK: - Reading

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int64? { if case .int(let i) = self { return i }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var object: [String: JSON]? { if case .object(let o) = self { return o }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}
