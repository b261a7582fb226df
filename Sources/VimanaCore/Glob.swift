/// Redis's glob matching (`stringmatchlen`), so that PSUBSCRIBE patterns,
/// `PUBSUB CHANNELS pattern` and `CONFIG GET pattern` select exactly what
/// they select in Redis: `*` any run, `?` one byte, `[abc]`, `[a-z]`, `[^x]`
/// (a reversed range matches too), `\` escapes the next byte. Bytes, not
/// characters: a multi-byte UTF-8 character is several `?`.
///
/// Promises: no allocation; recursion bounded (depth 1000, as Redis) and
/// exponential backtracking cut off, so a hostile pattern cannot stall the bus.
public enum Glob {
    /// True when `string` matches `pattern`.
    @inlinable
    public static func matches(_ pattern: UnsafeBufferPointer<UInt8>, _ string: UnsafeBufferPointer<UInt8>,
                               ignoringCase: Bool = false) -> Bool {
        guard let p = pattern.baseAddress else { return string.isEmpty }
        let s = string.baseAddress ?? p
        var skipLonger = false
        return match(p, pattern.count, s, string.count, ignoringCase, &skipLonger, 0)
    }

    /// The same on raw pointers (the pattern table's hot path).
    @inlinable @inline(__always)
    public static func matches(_ pattern: UnsafePointer<UInt8>, _ patternLength: Int,
                               _ string: UnsafePointer<UInt8>, _ stringLength: Int) -> Bool {
        var skipLonger = false
        return match(pattern, patternLength, string, stringLength, false, &skipLonger, 0)
    }

    /// Convenience for cold paths and tests.
    public static func matches(_ pattern: [UInt8], _ string: [UInt8], ignoringCase: Bool = false) -> Bool {
        pattern.withUnsafeBufferPointer { p in
            string.withUnsafeBufferPointer { s in matches(p, s, ignoringCase: ignoringCase) }
        }
    }

    public static func matches(_ pattern: String, _ string: String, ignoringCase: Bool = false) -> Bool {
        matches(Array(pattern.utf8), Array(string.utf8), ignoringCase: ignoringCase)
    }

    /// True when the pattern has no glob metacharacter, so it can only match itself.
    public static func isLiteral(_ pattern: [UInt8]) -> Bool {
        !pattern.contains { $0 == 42 || $0 == 63 || $0 == 91 || $0 == 92 }
    }

    @inlinable @inline(__always)
    static func fold(_ c: UInt8, _ ignoringCase: Bool) -> UInt8 {
        ignoringCase && c >= 65 && c <= 90 ? c | 0x20 : c
    }

    @usableFromInline
    static func match(_ pattern: UnsafePointer<UInt8>, _ patternLength: Int,
                      _ string: UnsafePointer<UInt8>, _ stringLength: Int,
                      _ nocase: Bool, _ skipLonger: inout Bool, _ depth: Int) -> Bool {
        if depth > 1000 { return false }
        var p = pattern, pn = patternLength
        var s = string, sn = stringLength
        while pn > 0 && sn > 0 {
            switch p[0] {
            case 42:  // '*'
                while pn > 1 && p[1] == 42 { p += 1; pn -= 1 }
                if pn == 1 { return true }
                while sn > 0 {
                    if match(p + 1, pn - 1, s, sn, nocase, &skipLonger, depth + 1) { return true }
                    // A later '*' already failed on a shorter suffix: longer ones cannot match.
                    if skipLonger { return false }
                    s += 1; sn -= 1
                }
                skipLonger = true
                return false
            case 63:  // '?'
                s += 1; sn -= 1
            case 91:  // '['
                p += 1; pn -= 1
                let negate = pn > 0 && p[0] == 94  // '^'
                if negate { p += 1; pn -= 1 }
                var matched = false
                while true {
                    if pn == 0 {
                        // Unterminated class: step back so the outer advance lands at the end.
                        p -= 1; pn += 1
                        break
                    } else if p[0] == 92 && pn >= 2 {  // '\' escapes inside a class
                        p += 1; pn -= 1
                        if p[0] == s[0] { matched = true }
                    } else if p[0] == 93 {  // ']'
                        break
                    } else if pn >= 3 && p[1] == 45 {  // a-z
                        var lo = p[0], hi = p[2]
                        if lo > hi { swap(&lo, &hi) }
                        var c = s[0]
                        if nocase { lo = fold(lo, true); hi = fold(hi, true); c = fold(c, true) }
                        p += 2; pn -= 2
                        if c >= lo && c <= hi { matched = true }
                    } else {
                        if fold(p[0], nocase) == fold(s[0], nocase) { matched = true }
                    }
                    p += 1; pn -= 1
                }
                if negate { matched = !matched }
                if !matched { return false }
                s += 1; sn -= 1
            case 92:  // '\'
                if pn >= 2 { p += 1; pn -= 1 }
                if fold(p[0], nocase) != fold(s[0], nocase) { return false }
                s += 1; sn -= 1
            default:
                if fold(p[0], nocase) != fold(s[0], nocase) { return false }
                s += 1; sn -= 1
            }
            p += 1; pn -= 1
            if sn == 0 {
                while pn > 0 && p[0] == 42 { p += 1; pn -= 1 }
                break
            }
        }
        return pn == 0 && sn == 0
    }
}
