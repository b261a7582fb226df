import Testing
import VimanaCore
import VimanaRESP

/// The two tools that keep client numbers from trapping: the strict parser
/// every integer argument goes through, and saturating arithmetic for values
/// that are legitimately huge.
@Suite struct NumberParsingTests {
    func parse(_ s: String) -> Int? { Decimal.parse(Array(s.utf8)) }

    @Test func theLimitsOfAnInt64Parse() {
        #expect(parse("9223372036854775807") == Int.max)
        #expect(parse("-9223372036854775808") == Int.min)
        #expect(parse("0") == 0)
        #expect(parse("-1") == -1)
    }

    @Test(arguments: ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "18446744073709551615",
                      "100000000000000000000", "99999999999999999999999", "", "-", "+1", " 1", "1 ", "01", "-0",
                      "1.5", "1e3", "0x10", "abc", "١٢", "\u{0}1"])
    func anythingElseIsNotAnInteger(_ s: String) {
        #expect(parse(s) == nil, "'\(s)'")
    }

    @Test func argumentsParseInPlace() {
        var bytes = Array("XREAD9223372036854775807-9223372036854775808x".utf8)
        var slots = [0, 5, 5, 19, 24, 20, 44, 1]
        bytes.withUnsafeMutableBufferPointer { b in
            slots.withUnsafeMutableBufferPointer { s in
                let args = Arguments(base: b.baseAddress!, slots: UnsafePointer(s.baseAddress!), count: 4)
                #expect(args.integer(0) == nil)
                #expect(args.integer(1) == Int.max)
                #expect(args.integer(2) == Int.min)
                #expect(args.integer(3) == nil)
            }
        }
    }

    @Test func saturatingArithmeticClampsAtTheBounds() {
        #expect(Int64.max.addingSaturating(1) == .max)
        #expect(Int64.min.addingSaturating(-1) == .min)
        #expect(Int64(5).addingSaturating(-7) == -2)
        #expect(Int64.min.subtractingSaturating(1) == .min)
        #expect(Int64.max.subtractingSaturating(-1) == .max)
        #expect(Int64(2).subtractingSaturating(Int64.min) == .max)
        #expect(UInt64(3).subtractingSaturating(5) == 0)
        #expect(UInt64.max.addingSaturating(1) == .max)
        // XREAD BLOCK's milliseconds to nanoseconds: the first value that overflows.
        #expect(Int64(9_223_372_036_854).multipliedSaturating(by: 1_000_000) == 9_223_372_036_854_000_000)
        #expect(Int64(9_223_372_036_855).multipliedSaturating(by: 1_000_000) == .max)
        #expect(Int64(-9_223_372_036_855).multipliedSaturating(by: 1_000_000) == .min)
        #expect(Int64(-3).multipliedSaturating(by: -4) == 12)
        #expect(Int64.min.multipliedSaturating(by: -1) == .max)
    }
}
