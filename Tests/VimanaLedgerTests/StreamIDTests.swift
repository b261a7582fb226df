import Testing
import VimanaCore
@testable import VimanaLedger

/// StreamID's one parser and one writer. Every expected value here was
/// checked against redis-server 7.0.15 (XRANGE, XADD, XACK, XGROUP SETID
/// with the same bytes); the wire tests (RedisParityTests' stream-ID cases)
/// compare the replies themselves.
@Suite struct StreamIDTests {
    func parse(_ s: String, missing: UInt64 = 0, strict: Bool = true) -> StreamID? {
        Array(s.utf8).withUnsafeBufferPointer { StreamID.parse($0, missingSequence: missing, strict: strict) }
    }

    func request(_ s: String) -> IDRequest? { Array(s.utf8).withUnsafeBufferPointer { StreamID.parseRequest($0) } }
    func bound(_ s: String, missing: UInt64 = 0) -> StreamID.Bound? {
        Array(s.utf8).withUnsafeBufferPointer { StreamID.parseBound($0, missingSequence: missing) }
    }
    func position(_ s: String, strict: Bool = true) -> StreamID.Position? {
        Array(s.utf8).withUnsafeBufferPointer { StreamID.parsePosition($0, strict: strict) }
    }
    func id(_ ms: UInt64, _ seq: UInt64) -> StreamID { StreamID(ms: ms, seq: seq) }

    @Test func explicitAndMissingSequence() {
        #expect(parse("0-0") == .zero)
        #expect(parse("1-2") == id(1, 2))
        #expect(parse("5") == id(5, 0))
        #expect(parse("5", missing: .max) == id(5, .max))
        #expect(parse("18446744073709551615-18446744073709551615") == .max)
        #expect(parse("18446744073709551615") == id(.max, 0))
        #expect(parse("007-01") == id(7, 1))
    }

    @Test(arguments: ["", "x", "5-", "-5", "-", "+", "5-x", "5-1-2", "0x10", "1.5", "5 ", "5-1 ", "18446744073709551616",
                      "0-18446744073709551616", "99999999999999999999-0", "0--5", "0--9223372036854775808", "+-1",
                      "- 5", "0-+", "0- ", "*", "5-*", "(5", "$", ">", "\u{0}5"])
    func invalid(_ s: String) {
        #expect(parse(s) == nil, "'\(s)'")
        #expect(parse(s, strict: false) == nil || s == "-" || s == "+", "'\(s)'")
    }

    /// strtoull's leniency, which Redis keeps: white space and a sign before
    /// each number; a `-` sign wraps unless string2ll read it first.
    @Test func signsAndSpacesAsRedisReadsThem() {
        #expect(parse("+5") == id(5, 0))
        #expect(parse(" 5") == id(5, 0))
        #expect(parse("\t\n\u{0B}\u{0C}\r 5") == id(5, 0))
        #expect(parse("0-+5") == id(0, 5))
        #expect(parse("0- 5") == id(0, 5))
        #expect(parse("0- -5") == id(0, UInt64.max - 4))
        #expect(parse("0--0") == id(0, 0))
        #expect(parse("0--05") == id(0, UInt64.max - 4))
        #expect(parse("0--9223372036854775809") == id(0, 9_223_372_036_854_775_807))
        #expect(parse("0--18446744073709551615") == id(0, 1))
        #expect(parse("0--18446744073709551616") == nil)
        #expect(parse("+18446744073709551615-+18446744073709551615") == .max)
    }

    @Test func aNulByteEndsTheID() {
        #expect(parse("5\u{0}junk") == id(5, 0))
        #expect(parse("5-1\u{0}-2") == id(5, 1))
        #expect(parse("-\u{0}x", strict: false) == .zero)
        #expect(parse("-\u{0}x") == nil)
        #expect(request("*\u{0}x") == .auto)
        #expect(position("$\u{0}") == .last)
    }

    @Test func atMost127Bytes() {
        let spaces = String(repeating: " ", count: 126)
        #expect(parse(spaces + "5") == id(5, 0))
        #expect(parse(" " + spaces + "5") == nil)
        // An exclusive bound's ID is what follows the `(`.
        #expect(bound("(" + spaces + "5") == .exclusive(id(5, 0)))
    }

    @Test func minusAndPlusOnlyWhereAllowed() {
        #expect(parse("-") == nil)
        #expect(parse("+") == nil)
        #expect(parse("-", strict: false) == .zero)
        #expect(parse("+", strict: false) == .max)
    }

    @Test func xaddRequests() {
        #expect(request("*") == .auto)
        #expect(request("5-*") == .partial(ms: 5))
        #expect(request("+5-*") == .partial(ms: 5))
        #expect(request("0-0") == .explicit(.zero))
        #expect(request("5") == .explicit(id(5, 0)))
        #expect(request("18446744073709551615-*") == .partial(ms: .max))
        for bad in ["", "-", "+", "**", "*-*", "5-**", "-*", "x-*", "18446744073709551616-*", "5-"] {
            #expect(request(bad) == nil, "'\(bad)'")
        }
    }

    @Test func rangeBounds() {
        #expect(bound("-") == .inclusive(.zero))
        #expect(bound("+", missing: .max) == .inclusive(.max))
        #expect(bound("5", missing: .max) == .inclusive(id(5, .max)))
        #expect(bound("(5") == .exclusive(id(5, 0)))
        #expect(bound("(5-1")?.asStart == id(5, 2))
        #expect(bound("(5-0")?.asEnd == id(4, .max))
        #expect(bound("(18446744073709551615-18446744073709551615")?.asStart == .some(nil))
        #expect(bound("(0-0")?.asEnd == .some(nil))
        for bad in ["(", "(-", "(+", "((5", "", "x"] { #expect(bound(bad) == nil, "'\(bad)'") }
    }

    @Test func positions() {
        #expect(position("$") == .last)
        #expect(position(">") == .new)
        #expect(position("0") == .id(.zero))
        #expect(position("+") == nil)
        #expect(position("+", strict: false) == .id(.max))
        #expect(position("$$") == nil)
    }

    @Test(arguments: [StreamID.zero, StreamID(ms: 1, seq: 0), StreamID(ms: 9, seq: 10), StreamID(ms: 1_700_000_000_000, seq: 42),
                      StreamID(ms: UInt64.max, seq: UInt64.max), StreamID(ms: 0, seq: UInt64.max)])
    func writtenAsTheParserReadsThem(_ value: StreamID) {
        var buffer = ByteBuffer(capacity: 8)
        defer { buffer.release() }
        buffer.append(value)
        let text = buffer.unreadBytes
        #expect(String(decoding: text, as: UTF8.self) == "\(value.ms)-\(value.seq)")
        #expect(value.description == "\(value.ms)-\(value.seq)")
        #expect(text.count <= StreamID.maxTextLength)
        #expect(StreamID.parse(bytes: text) == value)
        #expect(StreamID.parseCanonical(text) == value)
    }

    /// The canonical form is only what the writer writes: every spelling
    /// Redis's reader forgives, or that no reader takes, is refused.
    @Test(arguments: ["", "-", "+", "5", "5-", "-5", "-1-0", "1-2-3", "12-3x", "x-1", "007-1", "7-01", "00-0",
                      " 5-1", "5- 1", "5-1 ", "+5-1", "5-+1", "0- -5", "0--5", "5-1\n", "5-1\u{0}",
                      "5\u{0}-1", "18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-0",
                      "1٣-0", "1-1\u{0}junk"])
    func canonicalRefusesAnythingTheWriterDoesNotWrite(_ text: String) {
        #expect(StreamID.parseCanonical(Array(text.utf8)) == nil, "\(text.debugDescription)")
    }
}
