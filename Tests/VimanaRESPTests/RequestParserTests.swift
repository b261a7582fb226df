import Testing
import VimanaCore
@testable import VimanaRESP

/// Feeds `input` to a parser in the given chunk sizes, the way a socket
/// would deliver it, and returns the commands (or the first error).
func parse(_ input: [UInt8], chunks: [Int]? = nil, maxBulk: Int = 1 << 20, maxInline: Int = 64 << 10)
    -> (commands: [[String]], error: ProtocolError?)
{
    var parser = RequestParser(maxBulk: maxBulk, maxInline: maxInline)
    var buffer = ByteBuffer(capacity: 16)
    defer { buffer.release() }
    var commands: [[String]] = []
    var offset = 0
    var sizes = chunks ?? [input.count]
    var k = 0
    while offset < input.count || k == 0 {
        let size = min(sizes.isEmpty ? input.count : sizes[k % sizes.count], input.count - offset)
        k += 1
        // Compact like the server does, keeping the parser's offsets right.
        let shift = buffer.readIndex
        if shift > 0 { buffer.compact(); parser.rebase(by: shift) }
        input[offset..<offset + size].withUnsafeBufferPointer { b in
            if let p = b.baseAddress { buffer.append(p, b.count) }
        }
        offset += size
        loop: while true {
            switch parser.next(&buffer) {
            case .command:
                let args = parser.arguments(in: buffer)
                commands.append((0..<args.count).map { args.string($0) })
            case .needMore:
                break loop
            case .error(let e):
                return (commands, e)
            }
        }
        if sizes.isEmpty { sizes = [input.count] }
        if offset >= input.count { break }
    }
    return (commands, nil)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct RequestParserTests {
    static let pipeline = bytes("*2\r\n$4\r\nPING\r\n$5\r\nhello\r\n*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$0\r\n\r\n"
        + "ping\r\nsubscribe a b\nECHO \"x y\"\r\n*0\r\n\r\n*1\r\n$4\r\nQUIT\r\n")
    static let expected = [["PING", "hello"], ["PUBLISH", "ch", ""], ["ping"], ["subscribe", "a", "b"], ["ECHO", "x y"], ["QUIT"]]

    @Test func pipelinedMixOfMultibulkAndInlineInOneRead() {
        let r = parse(Self.pipeline)
        #expect(r.error == nil)
        #expect(r.commands == Self.expected)
    }

    @Test func sameCommandsWhenFedOneByteAtATime() {
        let r = parse(Self.pipeline, chunks: [1])
        #expect(r.error == nil)
        #expect(r.commands == Self.expected)
    }

    @Test func sameCommandsForEveryRandomSplit() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let chunks = (0..<8).map { _ in Int.random(in: 1...13, using: &rng) }
            let r = parse(Self.pipeline, chunks: chunks)
            #expect(r.error == nil)
            #expect(r.commands == Self.expected, "chunks \(chunks)")
        }
    }

    @Test func largeBulkSplitAcrossManyReads() {
        let payload = String(repeating: "x", count: 100_000)
        let input = bytes("*3\r\n$7\r\npublish\r\n$1\r\nc\r\n$100000\r\n\(payload)\r\n")
        let r = parse(input, chunks: [4096])
        #expect(r.commands == [["publish", "c", payload]])
    }

    @Test func binarySafeBulkWithCRLFInside() {
        let r = parse(bytes("*2\r\n$4\r\necho\r\n$4\r\na\r\nb\r\n"))
        #expect(r.commands == [["echo", "a\r\nb"]])
    }

    @Test func emptyInlineLinesAndEmptyMultibulksAreSkipped() {
        let r = parse(bytes("\r\n\n   \r\n*0\r\n*-1\r\nping\r\n"))
        #expect(r.commands == [["ping"]])
    }

    @Test(arguments: [
        ("*a\r\n", ProtocolError.invalidMultibulkLength),
        ("*3000000000\r\n", .invalidMultibulkLength),
        ("*1\r\nx4\r\n", .expectedDollar(120)),
        ("*1\r\n$-5\r\n", .invalidBulkLength),
        ("*1\r\n$abc\r\n", .invalidBulkLength),
        ("*1\r\n$2000000\r\n", .bulkOverLimit(length: 2_000_000, limit: 1 << 20)),
        ("*1\r\n$3\r\nabcXY", .expectedCRLF),
        ("set \"a\r\n", .unbalancedQuotes),
        ("set 'a\r\n", .unbalancedQuotes),
        ("set \"a\"b\r\n", .unbalancedQuotes),
    ])
    func malformedInputIsAProtocolError(input: String, error: ProtocolError) {
        #expect(parse(bytes(input)).error == error)
        #expect(parse(bytes(input), chunks: [1]).error == error)
    }

    @Test func commandsBeforeAnErrorAreStillReturned() {
        let r = parse(bytes("ping\r\n*x\r\nping\r\n"))
        #expect(r.commands == [["ping"]])
        #expect(r.error == .invalidMultibulkLength)
    }

    @Test func inlineLineOverTheLimitIsRejectedWithoutANewline() {
        let long = [UInt8](repeating: 97, count: 70_000)
        #expect(parse(long, chunks: [1000]).error == .tooBigInlineRequest)
        #expect(parse(long + [10]).error == .tooBigInlineRequest)
        #expect(parse(bytes("a b\r\n"), maxInline: 2).error == .tooBigInlineRequest)
    }

    @Test func headerLineOverTheLimitIsRejected() {
        let star = [42] + [UInt8](repeating: 49, count: 70_000)
        #expect(parse(star, chunks: [5000]).error == .tooBigMultibulkCountString)
        let dollar = bytes("*1\r\n$") + [UInt8](repeating: 49, count: 70_000)
        #expect(parse(dollar, chunks: [5000]).error == .tooBigBulkCountString)
    }

    @Test func hugeMultibulkCountDoesNotPreallocate() {
        // Would need gigabytes if the argument table were sized from the header.
        let r = parse(bytes("*2147483647\r\n$4\r\nPING\r\n"))
        #expect(r.error == nil)
        #expect(r.commands.isEmpty)
    }

    @Test func errorMessagesMatchRedis() {
        #expect(ProtocolError.invalidMultibulkLength.replyText == "ERR Protocol error: invalid multibulk length")
        #expect(ProtocolError.expectedDollar(120).replyText == "ERR Protocol error: expected '$', got 'x'")
        #expect(ProtocolError.unbalancedQuotes.replyText == "ERR Protocol error: unbalanced quotes in request")
        #expect(ProtocolError.tooBigInlineRequest.replyText == "ERR Protocol error: too big inline request")
    }
}

@Suite struct InlineQuotingTests {
    @Test(arguments: [
        ("set a b", ["set", "a", "b"]),
        ("  set   a\tb  ", ["set", "a", "b"]),
        ("echo \"hello world\"", ["echo", "hello world"]),
        ("echo 'hello world'", ["echo", "hello world"]),
        ("echo \"a\\nb\\r\\t\\b\\a\"", ["echo", "a\nb\r\t\u{8}\u{7}"]),
        ("echo \"\\x41\\x7a\\x4G\"", ["echo", "Azx4G"]),
        ("echo \"q\\\"q\"", ["echo", "q\"q"]),
        ("echo 'it\\'s'", ["echo", "it's"]),
        ("echo 'back\\slash'", ["echo", "back\\slash"]),
        ("echo \"\"", ["echo", ""]),
        ("echo ''", ["echo", ""]),
        ("a\"b c\"", ["ab c"]),
        ("echo x\u{0}y z", ["echo", "x"]),
    ])
    func splitsLikeRedis(line: String, expected: [String]) {
        let r = parse(bytes(line + "\r\n"))
        #expect(r.error == nil)
        #expect(r.commands == [expected])
    }

    @Test func lfAloneEndsALine() {
        #expect(parse(bytes("ping\nping\r\n")).commands == [["ping"], ["ping"]])
    }
}

@Suite struct ArgumentTableTests {
    @Test func argumentTableIsCountedAndShrinksBetweenCommands() {
        var parser = RequestParser()
            var buffer = ByteBuffer(capacity: 16)
        defer { buffer.release() }
        let initial = parser.argumentTableBytes
        #expect(initial == 16 * 16)
        buffer.append(string: "*5000\r\n" + String(repeating: "$0\r\n\r\n", count: 4000))
        #expect(parser.next(&buffer) == .needMore)
        // 4000 empty arguments sent 24 KB and hold a table of 4096 slots.
        #expect(parser.argumentTableBytes == 4096 * 16)
        parser.shrinkArguments()  // mid-command: kept
        #expect(parser.argumentTableBytes == 4096 * 16)
        buffer.append(string: String(repeating: "$1\r\nx\r\n", count: 1000))
        #expect(parser.next(&buffer) == .command)
        #expect(parser.argumentCount == 5000)
        #expect(parser.next(&buffer) == .needMore)
        parser.shrinkArguments()
        #expect(parser.argumentTableBytes == initial)
        buffer.append(string: "*2\r\n$4\r\necho\r\n$2\r\nhi\r\n")
        #expect(parser.next(&buffer) == .command)
        #expect(parser.arguments(in: buffer).string(1) == "hi")
    }
}
