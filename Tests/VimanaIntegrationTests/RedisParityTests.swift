import Foundation
import Testing

/// The same bytes sent to redis-server 7 and to Vimana must get the same
/// bytes back. Each case is a list of steps on numbered connections; what
/// each step causes on each connection is read up to a sentinel (`run`).
@Suite(.serialized) struct RedisParityTests {
    /// (connection index, bytes to send)
    typealias Step = (Int, String)

    static let cases: [(String, [Step])] = [
        ("ping and echo", [(0, "PING\r\nping hello\r\nECHO \"a\\tb\"\r\n*2\r\n$4\r\necho\r\n$0\r\n\r\n")]),
        ("unknown command and arity", [(0, "FOO bar 'baz qux'\r\nfoo\r\nPUBLISH x\r\nECHO\r\nSUBSCRIBE\r\nPING a b\r\n")]),
        ("select", [(0, "SELECT 0\r\nSELECT x\r\nSELECT\r\n")]),
        ("auth without a password", [(0, "AUTH x\r\nAUTH default x\r\nAUTH a b c\r\n")]),
        ("hello errors", [(0, "HELLO 4\r\nHELLO x\r\nHELLO 3 SETNAME\r\nHELLO 3 FOO bar\r\nHELLO 2 SETNAME \"a b\"\r\n")]),
        ("client names", [(0, "CLIENT GETNAME\r\nCLIENT SETNAME \"a b\"\r\nCLIENT SETNAME ok\r\nCLIENT GETNAME\r\nCLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\nCLIENT NOPE\r\nCLIENT SETNAME\r\n")]),
        ("client kill errors", [(0, "CLIENT KILL ID 0\r\nCLIENT KILL ID x\r\nCLIENT KILL 1.2.3.4:5\r\nCLIENT KILL ID 99999\r\n")]),
        ("config get", [(0, "CONFIG GET save\r\nCONFIG GET appendonly\r\nCONFIG GET nosuchparam\r\nCONFIG\r\n")]),
        ("resp2 subscribe, publish, unsubscribe", [
            (0, "SUBSCRIBE a b\r\n"), (1, "PUBLISH a hello\r\nPUBLISH b \"\"\r\nPUBLISH c x\r\n"),
            (0, "PING\r\nPING x\r\nECHO no\r\nUNSUBSCRIBE a\r\nUNSUBSCRIBE b\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nECHO yes\r\n"),
        ]),
        ("resp2 patterns", [
            (0, "PSUBSCRIBE tasks.* ev?nts.[a-c]*\r\n"), (1, "PUBLISH tasks.civic 1\r\nPUBLISH events.alpha 2\r\nPUBLISH eVnts.d 3\r\n"),
            (0, "PUNSUBSCRIBE tasks.*\r\nPUNSUBSCRIBE nope\r\nPUNSUBSCRIBE\r\n"),
        ]),
        ("channel and pattern both match", [
            (0, "SUBSCRIBE t.a\r\nPSUBSCRIBE t.*\r\n"), (1, "PUBLISH t.a m\r\n"), (0, "RESET\r\nPING\r\n"),
        ]),
        ("resp3 pubsub", [
            (0, "HELLO 3\r\n"), (0, "SUBSCRIBE a\r\nPSUBSCRIBE a*\r\nPING\r\nECHO x\r\n"), (1, "PUBLISH a m\r\n"),
            (0, "UNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nCLIENT GETNAME\r\n"),
        ]),
        ("pubsub introspection", [
            (0, "SUBSCRIBE x y\r\nPSUBSCRIBE p*\r\n"), (1, "SUBSCRIBE x\r\n"),
            (2, "PUBSUB NUMSUB x y z\r\nPUBSUB NUMPAT\r\nPUBSUB CHANNELS y\r\nPUBSUB CHANNELS nomatch*\r\nPUBSUB\r\nPUBSUB NOPE\r\n"),
            (2, "HELLO 3\r\n"), (2, "PUBSUB NUMSUB x\r\n"),
        ]),
        ("quit", [(0, "QUIT\r\n")]),
        ("protocol error: multibulk length", [(0, "PING\r\n*x\r\n")]),
        ("protocol error: bulk length", [(0, "*1\r\n$-2\r\n")]),
        ("protocol error: expected dollar", [(0, "*1\r\n:1\r\n")]),
        ("protocol error: unbalanced quotes", [(0, "ECHO \"x\r\n")]),
        ("empty requests are ignored", [(0, "\r\n*0\r\n*-1\r\n\r\nPING\r\n")]),
        ("xadd with explicit ids", [(0, "XADD s 1-1 a 1\r\nXADD s 1-2 payload x\r\nXADD s 1-2 a 1\r\nXADD s 0-0 a 1\r\n"
            + "XADD s\r\nXADD s 2-1 a\r\nXADD s 5-* a b\r\nXADD s 5-* c d\r\nXADD t 0-* a b\r\nXADD s 3 a b\r\n"
            + "XADD s x-1 a b\r\nXADD nope NOMKSTREAM 1-1 a 1\r\nXLEN s\r\nXLEN nope\r\nXADD s 18446744073709551615-18446744073709551615 a b\r\nXADD s 18446744073709551615-* a b\r\n")]),
        ("xrange and xrevrange", [(0, "XADD s 1-1 a 1\r\nXADD s 1-2 b 2\r\nXADD s 3-0 c 3\r\n"),
            (0, "XRANGE s - +\r\nXRANGE s - + COUNT 1\r\nXRANGE s (1-1 +\r\nXRANGE s - (3-0\r\nXRANGE s 1 1\r\n"
                + "XREVRANGE s + - COUNT 2\r\nXREVRANGE s (3 -\r\nXRANGE s 5 3\r\nXRANGE s - + COUNT 0\r\nXRANGE s - + COUNT -1\r\n"
                + "XRANGE s x +\r\nXRANGE s - + LIMIT 1\r\nXRANGE s - + COUNT x\r\nXRANGE nope - +\r\n"
                + "XRANGE s (18446744073709551615-18446744073709551615 +\r\nXRANGE s - (0-0\r\n")]),
        ("xread", [(0, "XADD s 1-1 a 1\r\nXADD s 1-2 b 2\r\n"),
            (0, "XREAD COUNT 1 STREAMS s 0\r\nXREAD STREAMS s nope 0 0\r\nXREAD STREAMS s $\r\nXREAD STREAMS s 1-2\r\n"
                + "XREAD STREAMS s t 0\r\nXREAD BLOCK -1 STREAMS s 0\r\nXREAD COUNT x STREAMS s 0\r\nXREAD s 0\r\n")]),
        ("xread in resp3", [(0, "XADD s 1-1 a 1\r\n"), (0, "HELLO 3\r\n"), (0, "XREAD STREAMS s 0\r\nXREAD STREAMS s $\r\nXRANGE s - +\r\n")]),
        ("xread block woken by xadd", [(0, "XREAD BLOCK 0 STREAMS s $\r\n"), (1, "XADD s 9-9 f v\r\n"), (0, "PING\r\n")]),
        ("xread block times out", [(0, "XREAD BLOCK 50 STREAMS s $\r\n"), (0, "PING\r\n")]),
        ("consumer groups", [(0, "XADD s 1-1 a 1\r\nXADD s 1-2 b 2\r\nXGROUP CREATE s g 0\r\nXGROUP CREATE s g 0\r\n"
                + "XGROUP CREATE nos g 0\r\nXGROUP CREATE nos2 g $ MKSTREAM\r\nXGROUP CREATECONSUMER s g c1\r\nXGROUP CREATECONSUMER s g c1\r\n"
                + "XREADGROUP GROUP g c1 COUNT 1 STREAMS s >\r\nXREADGROUP GROUP g c2 STREAMS s >\r\nXREADGROUP GROUP g c1 STREAMS s 0\r\n"
                + "XREADGROUP GROUP nog c1 STREAMS s >\r\nXREADGROUP GROUP g c1 STREAMS s >\r\n"),
            (0, "XPENDING s g\r\nXPENDING s g - + 10 c9\r\nXACK s g 1-1 9-9\r\nXPENDING s g\r\nXCLAIM s g c3 0 1-2 JUSTID\r\n"
                + "XPENDING s g\r\nXAUTOCLAIM s g c4 0 0 COUNT 5 JUSTID\r\nXGROUP SETID s g 0\r\nXGROUP DELCONSUMER s g c4\r\n"
                + "XPENDING s g\r\nXGROUP DESTROY s g\r\nXGROUP DESTROY s g\r\nXGROUP\r\nXGROUP FOO\r\nXACK s nog 1-1\r\nXINFO GROUPS s\r\n")]),
        ("xreadgroup block woken by xadd", [(0, "XGROUP CREATE s g $ MKSTREAM\r\n"), (0, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n"),
            (1, "XADD s 5-5 f v\r\n"), (0, "XPENDING s g\r\n")]),
        ("numbers in consumer groups", [(0, "XADD s 1-1 a 1\r\nXGROUP CREATE s g1 $ ENTRIESREAD -2\r\n"
                + "XGROUP CREATE s g1 $ ENTRIESREAD x\r\nXGROUP CREATE s g1 $ ENTRIESREAD 99999999999999999999\r\n"
                + "XGROUP CREATE s g1 $ ENTRIESREAD -9223372036854775808\r\nXGROUP CREATE s g1 $ ENTRIESREAD 9223372036854775807\r\n"
                + "XGROUP CREATE s g2 0 ENTRIESREAD 5\r\nXGROUP SETID s g2 0 ENTRIESREAD -2\r\nXGROUP SETID s g2 0 ENTRIESREAD x\r\n"
                + "XGROUP SETID s g2 0 ENTRIESREAD\r\nXGROUP SETID s g2 0 FOO 1\r\nXGROUP SETID s g2 0 ENTRIESREAD 3\r\n"
                + "XINFO GROUPS s\r\n")]),
        ("numbers in reads and claims", [(0, "XADD s 1-1 a 1\r\nXGROUP CREATE s g 0\r\nXREADGROUP GROUP g c STREAMS s >\r\n"
                + "XREAD COUNT 9223372036854775807 STREAMS s 0\r\nXREAD COUNT -9223372036854775808 STREAMS s 0\r\n"
                + "XREAD COUNT 9223372036854775808 STREAMS s 0\r\nXREAD BLOCK 9223372036854775808 STREAMS s 0\r\n"
                + "XREAD BLOCK -9223372036854775808 STREAMS s 0\r\nXREAD BLOCK 9223372036854775807 STREAMS s 0\r\n"
                + "XREADGROUP GROUP g c COUNT x STREAMS s 0\r\nXREADGROUP GROUP g c BLOCK -1 STREAMS s 0\r\n"
                + "XREADGROUP GROUP g c BLOCK x STREAMS s 0\r\nXREADGROUP GROUP g c COUNT -5 BLOCK 9223372036854775807 STREAMS s 0\r\n"
                + "XRANGE s - + COUNT 9223372036854775807\r\nXRANGE s - + COUNT -9223372036854775808\r\n"
                + "XCLAIM s g c x 1-1\r\nXCLAIM s g c 0 1-1 IDLE x\r\nXCLAIM s g c 0 1-1 TIME x\r\n"
                + "XCLAIM s g c 0 1-1 RETRYCOUNT x\r\nXCLAIM s g c 9223372036854775807 1-1\r\n"
                + "XCLAIM s g c -9223372036854775808 1-1 IDLE 9223372036854775807 JUSTID\r\n"
                + "XCLAIM s g c 0 1-1 TIME -9223372036854775808 RETRYCOUNT 7 JUSTID\r\nXPENDING s g\r\n"
                + "XPENDING s g IDLE x - + 10\r\nXPENDING s g - + x\r\nXPENDING s g - + -9223372036854775808\r\n"
                + "XAUTOCLAIM s g c x 0\r\nXAUTOCLAIM s g c 0 0 COUNT 0\r\nXAUTOCLAIM s g c 0 0 COUNT -1\r\n"
                + "XAUTOCLAIM s g c 0 0 COUNT x\r\nXAUTOCLAIM s g c 0 0 COUNT 576460752303423488\r\n"
                + "XAUTOCLAIM s g c 9223372036854775807 0 COUNT 1 JUSTID\r\nXAUTOCLAIM s g c 0 0 COUNT 1 JUSTID\r\n")]),
        ("xinfo on a stream made by mkstream", [(0, "XGROUP CREATE e g $ MKSTREAM\r\nXINFO STREAM e\r\nXINFO GROUPS e\r\nXLEN e\r\n"
                + "XRANGE e - +\r\nXREADGROUP GROUP g c STREAMS e >\r\nXGROUP CREATE e g $\r\n"), (0, "HELLO 3\r\n"), (0, "XINFO STREAM e\r\n")]),
        ("entries-read and lag", [(0, "XADD s 1-1 a 1\r\nXADD s 1-2 a 1\r\nXADD s 1-3 a 1\r\nXGROUP CREATE s g 0\r\n"
                + "XGROUP CREATE s h $\r\nXGROUP CREATE s i 1-2\r\nXGROUP CREATE s j 1-1\r\nXINFO GROUPS s\r\n"),
            (0, "XREADGROUP GROUP g c COUNT 1 STREAMS s >\r\nXGROUP SETID s i 1-2 ENTRIESREAD 2\r\nXINFO GROUPS s\r\n"
                + "XGROUP SETID s g 1-2\r\nXINFO GROUPS s\r\nXGROUP SETID s g 1-2 ENTRIESREAD 7\r\n"
                + "XREADGROUP GROUP g c COUNT 1 STREAMS s >\r\nXREADGROUP GROUP j c NOACK STREAMS s >\r\nXINFO GROUPS s\r\n"),
            (0, "HELLO 3\r\n"), (0, "XINFO GROUPS s\r\n")]),
        ("xinfo stream", [(0, "XADD s 1-1 a 1\r\nXADD s 2-2 payload two\r\n"),
            (0, "XINFO STREAM s\r\nXINFO STREAM nope\r\nXINFO\r\nXINFO FOO\r\n"), (0, "HELLO 3\r\n"), (0, "XINFO STREAM s\r\n")]),
        // MULTI/EXEC/DISCARD/WATCH/UNWATCH (Protocol/PROTOCOL.md §6.6).
        ("multi exec with streams and publish", [(0, "MULTI\r\nXADD s 1-1 a 1\r\nPUBLISH ch x\r\nXLEN s\r\nXRANGE s - +\r\n"
                + "XADD s 1-1 a 2\r\nXADD s 2-1 payload p\r\nEXEC\r\nXLEN s\r\nMULTI\r\nEXEC\r\n")]),
        ("queueing errors abort exec", [(0, "MULTI\r\nFOO a\r\nPING\r\nEXEC\r\nMULTI\r\nXLEN\r\nXADD s 1-1 a 1\r\nEXEC\r\nXLEN s\r\n"
                + "MULTI\r\nCLIENT NOPE\r\nEXEC\r\nMULTI\r\nCLIENT ID x\r\nEXEC\r\nMULTI\r\nXGROUP FOO\r\nEXEC\r\n"
                + "MULTI\r\nMULTI x\r\nEXEC\r\nMULTI\r\nWATCH\r\nEXEC\r\nMULTI\r\nUNWATCH x\r\nEXEC\r\nMULTI\r\nDISCARD x\r\nEXEC\r\n")]),
        ("errors at run time are elements", [(0, "MULTI\r\nXADD s 0-0 a 1\r\nXADD s 1-1 a 1\r\nXADD s 1-1 a 1\r\nXRANGE s x +\r\n"
                + "XGROUP CREATE nope g 0\r\nCLIENT SETNAME \"a b\"\r\nPING\r\nEXEC\r\n")]),
        ("transaction misuse", [(0, "EXEC\r\nDISCARD\r\nMULTI\r\nMULTI\r\nWATCH s\r\nPING\r\nEXEC\r\nMULTI x\r\nEXEC x\r\n"
                + "MULTI\r\nPING\r\nEXEC x\r\nEXEC\r\nWATCH\r\nUNWATCH x\r\nDISCARD x\r\n")]),
        ("discard", [(0, "MULTI\r\nXADD s 1-1 a 1\r\nPING\r\nDISCARD\r\nXLEN s\r\nDISCARD\r\nEXEC\r\nMULTI\r\nUNWATCH\r\nEXEC\r\n")]),
        ("watch and a write from another connection", [(0, "XADD s 1-1 a 1\r\nWATCH s\r\n"), (1, "XADD s 2-1 b 2\r\n"),
            (0, "MULTI\r\nXADD s 3-1 c 3\r\nEXEC\r\nXLEN s\r\nMULTI\r\nPING\r\nEXEC\r\n")]),
        ("watch: unwatch, discard, exec and reset forget", [(0, "WATCH s t\r\nUNWATCH\r\n"), (1, "XADD s 1-1 a 1\r\n"),
            (0, "MULTI\r\nPING\r\nEXEC\r\nWATCH s\r\nMULTI\r\nDISCARD\r\n"), (1, "XADD s 2-1 a 1\r\n"),
            (0, "MULTI\r\nPING\r\nEXEC\r\nWATCH s\r\nMULTI\r\nEXEC\r\n"), (1, "XADD s 3-1 a 1\r\n"),
            (0, "MULTI\r\nPING\r\nEXEC\r\nWATCH s\r\nRESET\r\n"), (1, "XADD s 4-1 a 1\r\n"), (0, "MULTI\r\nPING\r\nEXEC\r\n")]),
        ("watch: own write, missing topic, many topics", [(0, "WATCH s\r\nXADD s 1-1 a 1\r\nMULTI\r\nPING\r\nEXEC\r\n"
                + "WATCH n1 n2 n2\r\nWATCH n3\r\n"), (1, "XADD n3 1-1 a 1\r\n"), (0, "MULTI\r\nPING\r\nEXEC\r\n"),
            (0, "WATCH s\r\n"), (1, "XADD s 0-1 a 1\r\n"), (0, "MULTI\r\nPING\r\nEXEC\r\n")]),
        ("watch: what counts as a change", [(0, "XADD s 1-1 a 1\r\nWATCH s\r\n"),
            (1, "XLEN s\r\nXGROUP CREATE s g 0\r\nXREADGROUP GROUP g c STREAMS s >\r\nXACK s g 1-1\r\nXCLAIM s g d 0 1-1 JUSTID\r\n"
                + "XAUTOCLAIM s g e 0 0 JUSTID\r\nXGROUP CREATECONSUMER s g f\r\nXGROUP SETID s g 0\r\nXGROUP DESTROY s g\r\n"),
            (0, "MULTI\r\nPING\r\nEXEC\r\nWATCH n\r\n"), (1, "XGROUP CREATE n g $ MKSTREAM\r\n"), (0, "MULTI\r\nPING\r\nEXEC\r\n")]),
        ("transactions in resp3", [(0, "HELLO 3\r\n"), (0, "WATCH s\r\n"), (1, "XADD s 1-1 a 1\r\n"),
            (0, "MULTI\r\nXLEN s\r\nEXEC\r\nMULTI\r\nXLEN s\r\nXREAD BLOCK 0 STREAMS s $\r\nXRANGE s - +\r\nEXEC\r\nMULTI\r\nFOO\r\nEXEC\r\n")]),
        ("blocking reads inside exec", [(0, "XGROUP CREATE gk g $ MKSTREAM\r\nMULTI\r\nXREADGROUP GROUP g c BLOCK 0 STREAMS gk >\r\n"
                + "XREAD BLOCK 0 STREAMS gk $\r\nXADD gk 1-1 a 1\r\nXREAD BLOCK 100 STREAMS gk 0\r\nXREADGROUP GROUP g c BLOCK 0 STREAMS gk >\r\n"
                + "EXEC\r\nPING\r\n")]),
        ("transactions while subscribed", [(0, "SUBSCRIBE zz\r\nMULTI\r\nEXEC\r\nDISCARD\r\nWATCH a\r\nUNWATCH\r\n"),
            (1, "MULTI\r\nSUBSCRIBE a b\r\nPING\r\nEXEC\r\nPING\r\n")]),
        ("reset and quit inside multi", [(0, "MULTI\r\nPING\r\nRESET\r\nEXEC\r\nMULTI\r\nXADD s 1-1 a 1\r\nQUIT\r\n"),
            (1, "XLEN s\r\n")]),
        ("auth inside multi", [(0, "MULTI\r\nAUTH x\r\nPING\r\nEXEC\r\n")]),
        ("hello inside multi", [(0, "MULTI\r\nHELLO 3\r\nPING\r\nEXEC\r\nPING\r\nMULTI\r\nHELLO 4\r\nEXEC\r\n")]),
    ]

    /// Replaces what legitimately differs (connection ids, server name) with placeholders.
    static func normalize(_ s: String) -> String {
        var out = s
        for (a, b) in [("$6\r\nvimana\r\n", "$SERVER"), ("$5\r\nredis\r\n", "$SERVER")] {
            out = out.replacingOccurrences(of: a, with: b)
        }
        // HELLO's id field: "$2\r\nid\r\n:N\r\n"
        if let r = out.range(of: "$2\r\nid\r\n:") {
            let rest = out[r.upperBound...]
            let digits = rest.prefix { $0.isNumber }
            out.replaceSubrange(r.upperBound..<rest.index(rest.startIndex, offsetBy: digits.count), with: "ID")
        }
        return out
    }

    /// Runs `steps` and returns the transcript: per step, per connection in
    /// order, what that step caused there; then the connections the server
    /// closed. After each step its connection gets a sentinel (a PING with a
    /// token, `SentinelReader`) and, once that is answered, every other open
    /// connection gets one: a push the step caused is queued before it. A
    /// connection left blocked (XREAD BLOCK) keeps its sentinel outstanding,
    /// and what comes when it is served still counts for its step.
    static func run(_ steps: [Step], port: Int) throws -> [String] {
        let count = (steps.map(\.0).max() ?? 0) + 1
        let readers = try (0..<count).map { _ in SentinelReader(try RawClient(port: port)) }
        // Asks how many clients are blocked; opened first, so that it is
        // there in every run alike.
        let probe = try RawClient(port: port)
        var texts = [[String]](repeating: [String](repeating: "", count: count), count: steps.count)
        for (n, (i, bytes)) in steps.enumerated() {
            readers[i].client.send(bytes)
            if !readers[i].closed { readers[i].sendSentinel(tag: n) }
            try settle(readers, &texts, probe: probe, step: n)
            for r in readers where !r.closed && r.outstanding.isEmpty { r.sendSentinel(tag: n) }
            try settle(readers, &texts, probe: probe, step: n)
        }
        var transcript: [String] = []
        for row in texts {
            for (k, text) in row.enumerated() where !text.isEmpty { transcript.append("[\(k)] " + normalize(text)) }
        }
        for (k, r) in readers.enumerated() {
            if r.closed { transcript.append("[\(k)] closed") } else if r.waiting { transcript.append("[\(k)] blocked") }
        }
        return transcript
    }

    /// How long a step may go without a reply on a connection that is not
    /// blocked: only a failing server waits it out.
    static let patience: TimeInterval = 30
    /// How long one connection is read before the others are looked at.
    static let slice: TimeInterval = 0.02

    /// Reads until every outstanding sentinel is answered, or the
    /// connections still waiting for one are exactly the clients INFO counts
    /// as blocked. (A command that unblocks a client does so before its own
    /// reply is sent, in Redis and in Vimana, so this count is never behind
    /// the sentinels already read.)
    static func settle(_ readers: [SentinelReader], _ texts: inout [[String]], probe: RawClient, step: Int) throws {
        var deadline = Date().addingTimeInterval(patience)
        while true {
            var waiting = 0, progressed = false
            for (k, r) in readers.enumerated() where r.waiting {
                for (tag, text) in r.receive(timeout: slice) {
                    texts[tag][k] += text
                    progressed = true
                }
                if r.waiting { waiting += 1 }
            }
            if waiting == 0 { return }
            if progressed {
                deadline = Date().addingTimeInterval(patience)
                continue
            }
            probe.send("INFO clients\r\n")
            let info = probe.readReplies()
            guard let field = info.range(of: "blocked_clients:"),
                  let blocked = Int(info[field.upperBound...].prefix { $0.isNumber }) else {
                throw TestFailure("INFO clients without blocked_clients: \(visible(info))")
            }
            if blocked == waiting { return }
            guard Date() < deadline else {
                throw TestFailure("step \(step): \(waiting) connections without a reply, \(blocked) blocked")
            }
        }
    }

    @Test(arguments: cases.map(\.0))
    func sameBytesAsRedis(name: String) throws {
        let steps = Self.cases.first { $0.0 == name }!.1
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try Self.run(steps, port: redis.port)
        let actual = try Self.run(steps, port: vimana.port)
        #expect(actual == expected, "\(name)\nredis:  \(expected.map(visible))\nvimana: \(actual.map(visible))")
    }
}
