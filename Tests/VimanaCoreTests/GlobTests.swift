import Testing
@testable import VimanaCore

/// Cases from Redis's own test suite for `stringmatchlen` (keyspace and
/// util tests) plus the pub/sub topic conventions of Vimana.
@Suite struct GlobTests {
    @Test(arguments: [
        ("*", "anything", true),
        ("*", "", false),  // Redis: a pattern never matches the empty string except ""
        ("", "", true),
        ("", "a", false),
        ("a*", "abc", true),
        ("a*", "bac", false),
        ("*c", "abc", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a??", "abc", true),
        ("h[ae]llo", "hello", true),
        ("h[ae]llo", "hallo", true),
        ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hbllo", true),
        ("h[a-b]llo", "hcllo", false),
        ("h[b-a]llo", "hallo", true),  // reversed ranges match too
        ("h\\*llo", "h*llo", true),
        ("h\\*llo", "hello", false),
        ("[\\]]", "]", true),
        ("a[", "a[", false),
        ("a[b", "ab", true),  // unterminated class: matches what it has
        ("tasks.*", "tasks.civic", true),
        ("tasks.*", "task.civic", false),
        ("events.*.broadcast", "events.herald.broadcast", true),
        ("events.*.broadcast", "events.herald.audit", false),
        ("*.*", "a.b.c", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("**a", "bba", true),
        ("a*", "a", true),
        ("a**", "a", true),
    ])
    func matchesAsRedis(pattern: String, string: String, expected: Bool) {
        #expect(Glob.matches(pattern, string) == expected, "\(pattern) vs \(string)")
    }

    @Test func caseFoldingOnlyWhenAsked() {
        #expect(!Glob.matches("SAVE", "save"))
        #expect(Glob.matches("SAVE", "save", ignoringCase: true))
        #expect(Glob.matches("[A-C]x", "bx", ignoringCase: true))
    }

    @Test func pathologicalPatternFinishesQuickly() {
        // Exponential without Redis's skip-longer-matches cut-off.
        let pattern = String(repeating: "a*", count: 30) + "b"
        let string = String(repeating: "a", count: 60)
        #expect(!Glob.matches(pattern, string))
    }
}
