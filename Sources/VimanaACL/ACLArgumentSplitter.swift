/// Splits the inside of a `(...)` selector rule into rules as Redis does
/// (sdssplitargs): words separated by spaces, `"..."` with `\n \r \t \b \a`
/// and `\xHH` escapes, `'...'` with `\'`. A closing quote must be followed by
/// a space or the end, and a quote must be closed: otherwise nil.
enum ACLArgumentSplitter {
    static func split(_ line: [UInt8]) -> [[UInt8]]? {
        var words: [[UInt8]] = []
        var p = 0
        let n = line.count
        func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        while true {
            while p < n && isSpace(line[p]) { p += 1 }
            if p == n { return words }
            var inDouble = false, inSingle = false, done = false
            var current: [UInt8] = []
            while !done {
                if inDouble {
                    guard p < n else { return nil }
                    let c = line[p]
                    if c == 92, p + 3 < n, line[p + 1] == UInt8(ascii: "x"),
                       let high = hexValue(line[p + 2]), let low = hexValue(line[p + 3]) {
                        current.append(high << 4 | low)
                        p += 3
                    } else if c == 92, p + 1 < n {
                        p += 1
                        switch line[p] {
                        case UInt8(ascii: "n"): current.append(10)
                        case UInt8(ascii: "r"): current.append(13)
                        case UInt8(ascii: "t"): current.append(9)
                        case UInt8(ascii: "b"): current.append(8)
                        case UInt8(ascii: "a"): current.append(7)
                        default: current.append(line[p])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if p + 1 < n && !isSpace(line[p + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    guard p < n else { return nil }
                    let c = line[p]
                    if c == 92, p + 1 < n, line[p + 1] == UInt8(ascii: "'") {
                        p += 1
                        current.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if p + 1 < n && !isSpace(line[p + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else {
                    if p == n { break }
                    let c = line[p]
                    switch c {
                    case 32, 10, 13, 9, 0: done = true
                    case UInt8(ascii: "\""): inDouble = true
                    case UInt8(ascii: "'"): inSingle = true
                    default: current.append(c)
                    }
                }
                if p < n { p += 1 }
            }
            words.append(current)
        }
    }
}
