import Testing
import VimanaCore
import VimanaRESP

func encoded(_ body: (inout ByteBuffer) -> Void) -> String {
    var b = ByteBuffer(capacity: 8)
    defer { b.release() }
    body(&b)
    return String(decoding: b.unreadBytes, as: UTF8.self)
}

func check(_ body: (inout ByteBuffer) -> Void, _ expected: String,
           sourceLocation: SourceLocation = #_sourceLocation) {
    let actual = encoded(body)
    #expect(actual == expected, sourceLocation: sourceLocation)
}

@Suite struct ReplyEncoderTests {
    @Test func scalarsInRESP2AndRESP3() {
        check({ $0.writeSimple("OK") }, "+OK\r\n")
        check({ $0.writeError("ERR bad\r\nthing") }, "-ERR bad  thing\r\n")
        check({ $0.writeInteger(-42) }, ":-42\r\n")
        check({ $0.writeInteger(Int.min) }, ":-9223372036854775808\r\n")
        check({ $0.writeBulk(string: "héllo") }, "$6\r\nhéllo\r\n")
        check({ $0.writeBulk(string: "") }, "$0\r\n\r\n")
        check({ $0.writeNull(resp3: false) }, "$-1\r\n")
        check({ $0.writeNull(resp3: true) }, "_\r\n")
        check({ $0.writeNullArray(resp3: false) }, "*-1\r\n")
        check({ $0.writeBool(true, resp3: true) }, "#t\r\n")
        check({ $0.writeBool(false, resp3: false) }, ":0\r\n")
        check({ $0.writeDouble(1.5, resp3: true) }, ",1.5\r\n")
        check({ $0.writeDouble(3, resp3: false) }, "$1\r\n3\r\n")
        check({ $0.writeVerbatim("a:b", resp3: true) }, "=7\r\ntxt:a:b\r\n")
        check({ $0.writeVerbatim("a:b", resp3: false) }, "$3\r\na:b\r\n")
    }

    @Test func aggregatesDegradeToArraysInRESP2() {
        check({ $0.writeMapHeader(2, resp3: true) }, "%2\r\n")
        check({ $0.writeMapHeader(2, resp3: false) }, "*4\r\n")
        check({ $0.writeSetHeader(3, resp3: true) }, "~3\r\n")
        check({ $0.writeSetHeader(3, resp3: false) }, "*3\r\n")
        check({ $0.writePushHeader(3, resp3: true) }, ">3\r\n")
        check({ $0.writePushHeader(3, resp3: false) }, "*3\r\n")
    }

    @Test func decimalRoundTrips() {
        for v in [0, 1, 9, 10, 99, 100, -1, -10, 123_456_789, Int.max, Int.min] {
            var scratch = [UInt8](repeating: 0, count: 24)
            let n = scratch.withUnsafeMutableBufferPointer { Decimal.format(v, into: $0.baseAddress!) }
            #expect(Decimal.parse(Array(scratch[0..<n])) == v)
            #expect(n == Decimal.width(v))
        }
        for bad in ["", "-", "+1", " 1", "01", "-0", "1a", "99999999999999999999"] {
            #expect(Decimal.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
