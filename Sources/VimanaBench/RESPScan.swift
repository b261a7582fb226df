/// Finds the extent of one RESP value in a read buffer without building it,
/// noting where each bulk string's bytes lie. The task bench's workers read
/// pushes, stream replies and integers with it, allocation-free once warm.
struct RESPScan {
    /// (offset, length) of every bulk string of the last value scanned, in order.
    var bulks: [(offset: Int, length: Int)] = []
    /// First byte of the last value scanned (`*`, `>`, `:`, `-`, `$`, `+`, …).
    var marker: UInt8 = 0
    /// The value of the last top-level integer reply.
    var integer = 0

    init() { bulks.reserveCapacity(256) }

    /// Scans the value at the start of `p[0..<count]`: its length in bytes,
    /// 0 when it is incomplete, -1 when the bytes are not RESP.
    mutating func scan(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int {
        bulks.removeAll(keepingCapacity: true)
        guard count > 0 else { return 0 }
        marker = p[0]
        var i = 0
        let r = value(p, count, &i, depth: 0)
        return r > 0 ? i : r
    }

    /// 1 complete (i advanced past it), 0 incomplete, -1 malformed.
    private mutating func value(_ p: UnsafePointer<UInt8>, _ count: Int, _ i: inout Int, depth: Int) -> Int {
        guard i < count else { return 0 }
        guard depth < 16 else { return -1 }
        let m = p[i]
        var j = i &+ 1
        // The header line: for everything but simple strings, errors and
        // the like, a signed decimal.
        let numeric = m == 36 || m == 42 || m == 62 || m == 58 || m == 126 || m == 37  // $ * > : ~ %
        var n = 0, negative = false
        while true {
            guard j < count else { return 0 }
            let c = p[j]
            if c == 13 { break }
            if numeric {
                if c == 45 && !negative && n == 0 { negative = true }
                else {
                    let d = c &- 48
                    guard d <= 9, n < (1 << 50) else { return -1 }
                    n = n &* 10 &+ Int(d)
                }
            }
            j &+= 1
        }
        guard j &+ 1 < count else { return 0 }
        guard p[j &+ 1] == 10 else { return -1 }
        j &+= 2
        if negative { n = -n }
        switch m {
        case 36:  // $
            if n >= 0 {
                guard j &+ n &+ 2 <= count else { return 0 }
                bulks.append((j, n))
                j &+= n &+ 2
            }
        case 42, 62, 126, 37:  // * > ~ %
            var k = 0
            let items = m == 37 ? n &* 2 : n
            while k < items {
                let r = value(p, count, &j, depth: depth &+ 1)
                if r <= 0 { return r }
                k &+= 1
            }
        case 58:  // :
            if depth == 0 { integer = n }
        default:
            break
        }
        i = j
        return 1
    }
}
