import Testing
import VimanaClient
import VimanaRESP

@Suite struct RenderingTests {
    @Test func scalarsRenderLikeRedisCli() {
        #expect(RESPValue.simpleString("OK").description == "OK")
        #expect(RESPValue.integer(3).description == "(integer) 3")
        #expect(RESPValue.null.description == "(nil)")
        #expect(RESPValue.error("ERR nope").description == "(error) ERR nope")
        #expect(RESPValue.bulk("a\"b\n").description == "\"a\\\"b\\n\"")
        #expect(RESPValue.bulkString([0xff, 0x41]).description == "\"\\xffA\"")
        #expect(RESPValue.boolean(true).description == "(true)")
        #expect(RESPValue.double(1.5).description == "(double) 1.5")
        #expect(RESPValue.array([]).description == "(empty array)")
    }

    @Test func nestedAggregatesAreNumberedAndIndented() {
        let value = RESPValue.array([.bulk("subscribe"), .array([.bulk("a"), .integer(1)]), .integer(1)])
        #expect(value.description == """
            1) "subscribe"
            2) 1) "a"
               2) (integer) 1
            3) (integer) 1
            """)
        let map = RESPValue.map([(.bulk("proto"), .integer(3))])
        #expect(map.description == "1# \"proto\" => (integer) 3")
    }

    @Test func numbersArePaddedWhenTheListReachesTen() {
        let value = RESPValue.array((1...10).map { .integer($0) })
        #expect(value.description.hasPrefix(" 1) (integer) 1\n 2)"))
        #expect(value.description.hasSuffix("\n10) (integer) 10"))
    }

    @Test func utf8ValidationRejectsOverlongAndSurrogates() {
        #expect(UTF8Check.isValid(Array("ünïcode ✓ 🚀".utf8)))
        #expect(!UTF8Check.isValid([0xC0, 0x80]))  // overlong NUL
        #expect(!UTF8Check.isValid([0xED, 0xA0, 0x80]))  // surrogate
        #expect(!UTF8Check.isValid([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
        #expect(!UTF8Check.isValid([0xE2, 0x9C]))  // truncated
    }
}

@Suite struct PubSubMessageTests {
    @Test func messageAndPmessageArraysAndPushesAreRecognised() {
        let plain = RESPValue.array([.bulk("message"), .bulk("news"), .bulk("hi")])
        #expect(PubSubMessage(plain) == PubSubMessage(topic: Array("news".utf8), payload: Array("hi".utf8)))
        let pattern = RESPValue.push([.bulk("pmessage"), .bulk("n*"), .bulk("news"), .bulk("hi")])
        #expect(PubSubMessage(pattern)?.pattern == Array("n*".utf8))
        #expect(PubSubMessage(.array([.bulk("subscribe"), .bulk("news"), .integer(1)])) == nil)
        #expect(PubSubMessage(.simpleString("PONG")) == nil)
    }

    @Test func textLineEscapesSoOneMessageIsOneLine() {
        let m = PubSubMessage(topic: Array("a b".utf8), payload: [104, 10, 0xff, 92])
        #expect(m.textLine() == "a\\x20b h\\n\\xff\\\\")
    }

    @Test func jsonLineKeepsUTF8AndFlagsEscapedBinary() {
        let text = PubSubMessage(topic: Array("news".utf8), payload: Array("ü \"q\"".utf8))
        #expect(text.jsonLine() == #"{"topic":"news","pattern":null,"payload":"ü \"q\""}"#)
        let binary = PubSubMessage(pattern: Array("n*".utf8), topic: Array("news".utf8), payload: [0xff, 65])
        #expect(binary.jsonLine() == #"{"topic":"news","pattern":"n*","payload":"\\xffA","escaped":true}"#)
    }

    @Test func globCharactersSelectPsubscribe() {
        #expect(PubSubCLI.isPattern("news.*"))
        #expect(PubSubCLI.isPattern("h?llo"))
        #expect(PubSubCLI.isPattern("h[ae]llo"))
        #expect(!PubSubCLI.isPattern("news.today"))
    }

    @Test func commandsAreEncodedAsMultibulk() {
        let bytes = CommandEncoding.encode([Array("PUBLISH".utf8), Array("ch".utf8), []])
        #expect(bytes == Array("*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$0\r\n\r\n".utf8))
    }
}
