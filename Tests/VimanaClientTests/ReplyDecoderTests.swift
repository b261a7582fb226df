import Testing
import VimanaRESP

/// Every reply type, as bytes on the wire and as the value they decode to.
let wireSamples: [(String, RESPValue)] = [
    ("+OK\r\n", .simpleString("OK")),
    ("+\r\n", .simpleString("")),
    ("-ERR unknown command 'FOO'\r\n", .error("ERR unknown command 'FOO'")),
    (":0\r\n", .integer(0)),
    (":-42\r\n", .integer(-42)),
    (":9223372036854775807\r\n", .integer(Int.max)),
    ("$5\r\nhello\r\n", .bulk("hello")),
    ("$0\r\n\r\n", .bulk("")),
    ("$4\r\na\r\nb\r\n", .bulk("a\r\nb")),
    ("$-1\r\n", .null),
    ("*-1\r\n", .null),
    ("_\r\n", .null),
    ("*0\r\n", .array([])),
    ("*2\r\n$1\r\na\r\n:1\r\n", .array([.bulk("a"), .integer(1)])),
    ("*2\r\n*1\r\n+x\r\n*0\r\n", .array([.array([.simpleString("x")]), .array([])])),
    ("%2\r\n+proto\r\n:3\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n",
     .map([(.simpleString("proto"), .integer(3)), (.bulk("mode"), .bulk("standalone"))])),
    ("%0\r\n", .map([])),
    ("~2\r\n:1\r\n:2\r\n", .set([.integer(1), .integer(2)])),
    (">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", .push([.bulk("message"), .bulk("ch"), .bulk("hi")])),
    (",3.25\r\n", .double(3.25)),
    (",-1e10\r\n", .double(-1e10)),
    (",inf\r\n", .double(.infinity)),
    (",-inf\r\n", .double(-.infinity)),
    (",nan\r\n", .double(.nan)),
    ("#t\r\n", .boolean(true)),
    ("#f\r\n", .boolean(false)),
    ("=15\r\ntxt:Some string\r\n", .verbatim(format: "txt", text: Array("Some string".utf8))),
    ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
    ("(-1\r\n", .bigNumber("-1")),
    ("!21\r\nSYNTAX invalid syntax\r\n", .error("SYNTAX invalid syntax")),
    ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:7\r\n", .array([.integer(7)])),
    ("*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n", .array([.integer(1), .integer(2)])),
    ("|0\r\n+after-empty-attribute\r\n", .simpleString("after-empty-attribute")),
]

/// All samples back to back, and the values they should yield in order.
var wireStream: [UInt8] { wireSamples.flatMap { Array($0.0.utf8) } }
var wireValues: [RESPValue] { wireSamples.map(\.1) }

/// Drains every complete value currently decodable.
func drain(_ decoder: inout ReplyDecoder) throws -> [RESPValue] {
    var out: [RESPValue] = []
    while case .value(let v) = try decoder.next() { out.append(v) }
    return out
}

/// A deterministic generator so that "random" splits are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ReplyDecoderTests {
    @Test(arguments: wireSamples.indices)
    func decodesEachReplyTypeWhole(_ index: Int) throws {
        let (wire, expected) = wireSamples[index]
        var decoder = ReplyDecoder()
        decoder.feed(Array(wire.utf8))
        #expect(try decoder.next() == .value(expected))
        #expect(try decoder.next() == .needMore)
        #expect(decoder.bufferedCount == 0)
    }

    @Test(arguments: wireSamples.indices)
    func everyProperPrefixNeedsMore(_ index: Int) throws {
        let bytes = Array(wireSamples[index].0.utf8)
        for cut in 0..<bytes.count {
            var decoder = ReplyDecoder()
            decoder.feed(Array(bytes[..<cut]))
            #expect(try decoder.next() == .needMore, "prefix of \(cut) bytes")
        }
    }

    @Test func byteByByteFeedingYieldsTheSameValues() throws {
        var decoder = ReplyDecoder()
        var values: [RESPValue] = []
        for byte in wireStream {
            decoder.feed([byte])
            values += try drain(&decoder)
        }
        #expect(values == wireValues)
        #expect(decoder.bufferedCount == 0)
    }

    /// The stream is repeated so that the decoder compacts and grows its
    /// storage with values in progress.
    @Test(arguments: 1...50)
    func randomSplitsYieldTheSameValues(seed: Int) throws {
        var rng = SplitMix64(state: UInt64(seed))
        let stream = Array([[UInt8]](repeating: wireStream, count: 12).joined())
        var decoder = ReplyDecoder()
        var values: [RESPValue] = []
        var offset = 0
        while offset < stream.count {
            let size = Int.random(in: 1...64, using: &rng)
            let end = min(stream.count, offset + size)
            decoder.feed(Array(stream[offset..<end]))
            offset = end
            if Bool.random(using: &rng) { values += try drain(&decoder) }
        }
        values += try drain(&decoder)
        #expect(values == Array([[RESPValue]](repeating: wireValues, count: 12).joined()))
        #expect(decoder.bufferedCount == 0)
    }

    @Test func largeBulkArrivingInPiecesIsDecodedOnce() throws {
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wire = Array("$\(payload.count)\r\n".utf8) + payload + [13, 10]
        var decoder = ReplyDecoder()
        var offset = 0
        var result: RESPValue?
        while offset < wire.count {
            let end = min(wire.count, offset + 1000)
            decoder.feed(Array(wire[offset..<end]))
            offset = end
            if case .value(let v) = try decoder.next() { result = v }
        }
        #expect(result == .bulkString(payload))
    }

    @Test func fillWritesStraightIntoTheDecoder() throws {
        var decoder = ReplyDecoder()
        let wire = Array(":12\r\n".utf8)
        let n = decoder.fill(capacity: 64) { buffer in
            for (i, b) in wire.enumerated() { buffer[i] = b }
            return wire.count
        }
        #expect(n == wire.count)
        #expect(try decoder.next() == .value(.integer(12)))
    }

    @Test func takeBufferedHandsOverUndecodedBytes() throws {
        var decoder = ReplyDecoder()
        decoder.feed(Array("+OK\r\n*3\r\n$7\r\nmess".utf8))
        #expect(try decoder.next() == .value(.simpleString("OK")))
        #expect(try decoder.next() == .needMore)
        #expect(decoder.takeBuffered() == Array("*3\r\n$7\r\nmess".utf8))
        #expect(decoder.bufferedCount == 0)
        decoder.feed(Array(":1\r\n".utf8))
        #expect(try decoder.next() == .value(.integer(1)))
    }

    @Test func takeBufferedKeepsAValueInProgressAcrossCompaction() throws {
        var decoder = ReplyDecoder()
        let filler = Array(String(repeating: "+x\r\n", count: 1000).utf8)  // beyond the initial storage
        decoder.feed(filler)
        #expect(try drain(&decoder).count == 1000)
        let partial = Array("*2\r\n$3\r\nabc\r\n$6000\r\nhe".utf8)
        decoder.feed(partial)
        #expect(try decoder.next() == .needMore)
        let more = [UInt8](repeating: 97, count: 5000)
        decoder.feed(more)  // forces the storage to make room while the array is half decoded
        #expect(try decoder.next() == .needMore)
        #expect(decoder.takeBuffered() == partial + more)
    }
}

@Suite struct ReplyDecoderErrorTests {
    static let malformed: [(String, ReplyDecodingError)] = [
        ("?what\r\n", .unknownType(63)),
        (":12a\r\n", .invalidInteger),
        (":\r\n", .invalidInteger),
        (":99999999999999999999\r\n", .invalidInteger),
        ("$x\r\n", .invalidLength),
        ("$-2\r\n", .invalidLength),
        ("*-5\r\n", .invalidLength),
        ("~-1\r\n", .invalidLength),
        ("$3\r\nabcde\r\n", .expectedCRLF),
        ("+OK\rX", .expectedCRLF),
        ("#x\r\n", .invalidBoolean),
        ("#tt\r\n", .invalidBoolean),
        (",1.5x\r\n", .invalidDouble),
        (",0x1p3\r\n", .invalidDouble),
        (",\r\n", .invalidDouble),
        ("(12a\r\n", .invalidBigNumber),
        ("(\r\n", .invalidBigNumber),
        ("=3\r\ntxt\r\n", .invalidVerbatim),
        ("=5\r\ntxt!x\r\n", .invalidVerbatim),
        ("_x\r\n", .invalidNull),
        ("$?\r\n", .streamedTypeUnsupported),
        ("*?\r\n", .streamedTypeUnsupported),
        (";4\r\nabcd\r\n", .streamedTypeUnsupported),
    ]

    @Test(arguments: malformed.indices)
    func malformedInputIsATypedError(_ index: Int) {
        let (wire, expected) = Self.malformed[index]
        var decoder = ReplyDecoder()
        decoder.feed(Array(wire.utf8))
        #expect(throws: expected) { try decoder.next() }
    }

    @Test func errorIsStickyBecauseFramingIsLost() {
        var decoder = ReplyDecoder()
        decoder.feed(Array("?\r\n".utf8))
        #expect(throws: ReplyDecodingError.unknownType(63)) { try decoder.next() }
        decoder.feed(Array("+OK\r\n".utf8))
        #expect(throws: ReplyDecodingError.unknownType(63)) { try decoder.next() }
    }

    @Test func hostileNestingIsRejectedWithoutRecursion() {
        var decoder = ReplyDecoder()
        decoder.feed(Array(String(repeating: "*1\r\n", count: 1_000_000).utf8))
        #expect(throws: ReplyDecodingError.tooDeep(128)) { try decoder.next() }
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        var decoder = ReplyDecoder(maxDepth: 8)
        decoder.feed(Array((String(repeating: "*1\r\n", count: 8) + ":1\r\n").utf8))
        var expected = RESPValue.integer(1)
        for _ in 0..<8 { expected = .array([expected]) }
        #expect(try decoder.next() == .value(expected))
        var deeper = ReplyDecoder(maxDepth: 8)
        deeper.feed(Array(String(repeating: "%1\r\n", count: 9).utf8))
        #expect(throws: ReplyDecodingError.tooDeep(8)) { try deeper.next() }
    }

    @Test func bulkBeyondTheLimitIsRejectedBeforeBuffering() {
        var decoder = ReplyDecoder(maxBulk: 1024)
        decoder.feed(Array("$1025\r\n".utf8))
        #expect(throws: ReplyDecodingError.bulkTooLong(1025)) { try decoder.next() }
    }

    @Test func hugeDeclaredAggregateDoesNotAllocateUpFront() throws {
        var decoder = ReplyDecoder()
        decoder.feed(Array("*2147483647\r\n:1\r\n".utf8))
        #expect(try decoder.next() == .needMore)
    }

    @Test func endlessLineIsRejected() {
        var decoder = ReplyDecoder()
        decoder.feed([43] + [UInt8](repeating: 97, count: ReplyDecoder.maxLine))
        #expect(throws: ReplyDecodingError.lineTooLong) { try decoder.next() }
    }
}
