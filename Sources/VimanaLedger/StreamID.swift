import VimanaCore

/// A Redis Streams entry ID: `ms-seq`, ordered by ms then seq.
///
/// This file is the one place an ID is read from text or written as text:
/// every command, the group journal, the `groups.snapshot` pointer file and
/// the offline tools go through `parse…` and `write(to:)`.
public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: UInt64
    public var seq: UInt64

    @inlinable
    public init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    public static let zero = StreamID(ms: 0, seq: 0)
    public static let max = StreamID(ms: .max, seq: .max)

    @inlinable
    public static func < (a: StreamID, b: StreamID) -> Bool { a.ms != b.ms ? a.ms < b.ms : a.seq < b.seq }

    /// The next ID after this one, or nil at the very top.
    public var successor: StreamID? {
        if seq < .max { return StreamID(ms: ms, seq: seq + 1) }
        if ms < .max { return StreamID(ms: ms + 1, seq: 0) }
        return nil
    }

    /// The ID before this one, or nil at 0-0.
    public var predecessor: StreamID? {
        if seq > 0 { return StreamID(ms: ms, seq: seq - 1) }
        if ms > 0 { return StreamID(ms: ms - 1, seq: .max) }
        return nil
    }
}

// MARK: - Writing

extension StreamID {
    /// The longest text of an ID: two 20-digit decimals and the dash.
    /// (Computed, not stored: a stored global is read through a lazy-init check.)
    @inlinable public static var maxTextLength: Int { 41 }

    /// Writes `ms-seq` in decimal at `p`, which must have room for
    /// `maxTextLength` bytes; returns the number of bytes written.
    @inlinable
    public func write(to p: UnsafeMutablePointer<UInt8>) -> Int {
        let n = Self.writeDecimal(ms, to: p)
        p[n] = 45  // '-'
        return n &+ 1 &+ Self.writeDecimal(seq, to: p + (n &+ 1))
    }

    /// `ms-seq` (logs, cold paths; replies and the journal use `write(to:)`).
    public var description: String {
        String(unsafeUninitializedCapacity: Self.maxTextLength) { b in
            guard let p = b.baseAddress else { return 0 }
            return write(to: p)
        }
    }

    /// Writes `value` in decimal at `p` (room for 20 bytes); returns the length.
    @inlinable
    static func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits &+= 1 }
        v = value
        var i = digits
        repeat {
            i &-= 1
            let (q, r) = v.quotientAndRemainder(dividingBy: 10)
            p[i] = 48 &+ UInt8(truncatingIfNeeded: r)
            v = q
        } while i > 0
        return digits
    }
}

extension ByteBuffer {
    /// Appends the ID's text, `ms-seq`.
    @inlinable
    public mutating func append(_ id: StreamID) {
        reserve(StreamID.maxTextLength)
        writeIndex &+= id.write(to: base + writeIndex)
    }
}

// MARK: - Parsing

/// IDs are read exactly as redis-server 7.0 reads them
/// (`streamGenericParseIDOrReply` in t_stream.c), so that every ID a client
/// sends gets Redis's reply:
/// - The argument is copied into a 128-byte C string: longer than 127 bytes
///   is invalid, and a NUL byte ends it (`5\0x` is `5`).
/// - `ms-seq` splits at the first `-`; `ms` alone takes the command's
///   missing sequence (0, or 2^64 − 1 for a range's end).
/// - Each number is read by `string2ull`: `strtoull` base 10, so leading
///   white space and one `+` or `-` sign are accepted, the digits must run
///   to the end, more than 2^64 − 1 is invalid, and a `-` sign wraps
///   (`0- -5` is `0-18446744073709551611`); except that a plain negative
///   number in `long long` range (`-5`, which `string2ll` reads first) is
///   invalid.
/// - `-` and `+` alone are 0-0 and the largest ID where a command accepts
///   them (ranges, XGROUP SETID), invalid elsewhere ("strict": XADD,
///   XREAD, XACK, XCLAIM's LASTID, an exclusive bound…).
extension StreamID {
    /// Redis's buffer for an ID argument is 128 bytes with its NUL.
    @inlinable public static var maxArgumentLength: Int { 127 }

    /// A range bound: an ID, or `(` and an ID for an exclusive one.
    public enum Bound: Equatable, Sendable {
        case inclusive(StreamID)
        case exclusive(StreamID)

        /// The first ID the bound admits as a range's start; nil for an
        /// exclusive bound with nothing after it (`ERR invalid start ID for the interval`).
        @inlinable
        public var asStart: StreamID? {
            switch self {
            case .inclusive(let id): id
            case .exclusive(let id): id.successor
            }
        }

        /// The last ID the bound admits as a range's end; nil for an
        /// exclusive bound with nothing before it (`ERR invalid end ID for the interval`).
        @inlinable
        public var asEnd: StreamID? {
            switch self {
            case .inclusive(let id): id
            case .exclusive(let id): id.predecessor
            }
        }
    }

    /// An ID argument that may also be `$` or `>` (XREAD, XREADGROUP,
    /// XGROUP CREATE and SETID): which of them a command accepts is its own.
    public enum Position: Equatable, Sendable {
        case id(StreamID)
        /// `$`: the stream's last ID.
        case last
        /// `>`: entries never delivered to the group.
        case new
    }

    /// An ID as Redis reads one: `ms-seq`, or `ms` with `missingSequence`;
    /// `-` and `+` (0-0 and the largest ID) unless `strict`. Nil when invalid.
    @inlinable
    public static func parse(_ text: UnsafeBufferPointer<UInt8>, missingSequence: UInt64 = 0,
                             strict: Bool = true) -> StreamID? {
        guard let p = text.baseAddress, text.count <= maxArgumentLength else { return nil }
        // One pass: the C string's end (a NUL) and its first dash.
        var n = 0, dash = -1
        while n < text.count {
            let b = p[n]
            if b == 0 { break }
            if b == 45 && dash < 0 { dash = n }
            n &+= 1
        }
        if n == 1 && (p[0] == 45 || p[0] == 43) {  // "-", "+"
            if strict { return nil }
            return p[0] == 45 ? StreamID(ms: 0, seq: 0) : StreamID(ms: .max, seq: .max)
        }
        if dash < 0 { dash = n }
        guard let ms = parseNumber(p, dash) else { return nil }
        if dash == n { return StreamID(ms: ms, seq: missingSequence) }
        guard let seq = parseNumber(p + (dash &+ 1), n &- dash &- 1) else { return nil }
        return StreamID(ms: ms, seq: seq)
    }

    /// XADD's ID: `*`, `ms-*`, or an ID (strict; `ms` alone is `ms-0`).
    @inlinable
    public static func parseRequest(_ text: UnsafeBufferPointer<UInt8>) -> IDRequest? {
        guard let p = text.baseAddress, text.count > 0 else { return nil }
        // Redis tests for "*" before copying, as a C string.
        if p[0] == 42 && (text.count == 1 || p[1] == 0) { return .auto }
        guard text.count <= maxArgumentLength else { return nil }
        let n = cLength(p, text.count)
        let dash = firstDash(p, n)
        if dash < n && n &- dash == 2 && p[dash &+ 1] == 42 {  // "ms-*"
            return parseNumber(p, dash).map { .partial(ms: $0) }
        }
        return parse(text, missingSequence: 0, strict: true).map { .explicit($0) }
    }

    /// A range bound (XRANGE, XREVRANGE, XPENDING): `(` and a strict ID, or
    /// an ID where `-` and `+` are allowed.
    @inlinable
    public static func parseBound(_ text: UnsafeBufferPointer<UInt8>, missingSequence: UInt64) -> Bound? {
        if text.count > 1, let p = text.baseAddress, p[0] == 40 {  // "("
            return parse(UnsafeBufferPointer(start: p + 1, count: text.count &- 1), missingSequence: missingSequence,
                         strict: true).map { .exclusive($0) }
        }
        return parse(text, missingSequence: missingSequence, strict: false).map { .inclusive($0) }
    }

    /// `$`, `>` or an ID (`-` and `+` allowed unless `strict`).
    @inlinable
    public static func parsePosition(_ text: UnsafeBufferPointer<UInt8>, strict: Bool = true) -> Position? {
        if let p = text.baseAddress, text.count >= 1, text.count == 1 || p[1] == 0 {  // compared as a C string
            if p[0] == 36 { return .last }
            if p[0] == 62 { return .new }
        }
        return parse(text, missingSequence: 0, strict: strict).map { .id($0) }
    }

    /// An ID in Vimana's own text (the journal, the pointer file): parsed
    /// as a strict argument.
    public static func parse(bytes: some Collection<UInt8>) -> StreamID? {
        let copy = Array(bytes)
        return copy.withUnsafeBufferPointer { parse($0) }
    }

    /// An ID exactly as `write(to:)` writes it: two decimal numbers with a
    /// dash between, no sign, space or leading zero, each at most 2^64 − 1;
    /// nil for anything else. For text Vimana wrote itself (the
    /// `groups.snapshot` pointer file): any other byte means the file is not
    /// what was written, not a Redis spelling to honour.
    public static func parseCanonical(_ text: some Collection<UInt8>) -> StreamID? {
        let copy = Array(text)
        guard copy.count <= maxTextLength else { return nil }
        return copy.withUnsafeBufferPointer { b -> StreamID? in
            guard let p = b.baseAddress else { return nil }
            let n = b.count
            let dash = firstDash(p, n)
            guard dash < n, isCanonicalNumber(p, dash), isCanonicalNumber(p + (dash &+ 1), n &- dash &- 1),
                  let ms = parseNumber(p, dash), let seq = parseNumber(p + (dash &+ 1), n &- dash &- 1)
            else { return nil }
            return StreamID(ms: ms, seq: seq)
        }
    }

    /// `p[0..<n]` is a number as `writeDecimal` writes one: digits only, no
    /// leading zero but for 0 itself (its range is `parseNumber`'s to check).
    static func isCanonicalNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        guard n > 0, n == 1 || p[0] != 48 else { return false }
        var i = 0
        while i < n {
            guard p[i] &- 48 <= 9 else { return false }
            i &+= 1
        }
        return true
    }

    /// The bytes before the first NUL: Redis reads an ID as a C string.
    @inlinable @inline(__always)
    static func cLength(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var i = 0
        while i < count && p[i] != 0 { i &+= 1 }
        return i
    }

    @inlinable @inline(__always)
    static func firstDash(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var i = 0
        while i < n && p[i] != 45 { i &+= 1 }
        return i
    }

    /// One number of an ID, as Redis's `string2ull` reads `p[0..<n]`.
    @inlinable
    static func parseNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64? {
        var i = 0
        // strtoull skips isspace(): space, \t, \n, \v, \f, \r.
        while i < n && (p[i] == 32 || (p[i] >= 9 && p[i] <= 13)) { i &+= 1 }
        var negative = false
        if i < n && (p[i] == 43 || p[i] == 45) {
            negative = p[i] == 45
            i &+= 1
        }
        let first = i
        guard i < n else { return nil }
        var v: UInt64 = 0
        while i < n {
            let d = p[i] &- 48
            guard d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1 && !o2 else { return nil }
            v = a
            i &+= 1
        }
        guard negative else { return v }
        // string2ll reads "-", a digit 1-9 and digits within long long first:
        // negative, so invalid. Anything else strtoull negates, wrapping.
        if first == 1 && p[1] != 48 && v <= UInt64(1) << 63 { return nil }
        return 0 &- v
    }
}
