/// Integer ↔ ASCII decimal without Foundation or String.
///
/// `Int(String(decoding:))` costs ~200 instructions a call and interpolation
/// allocates; the protocol parser and reply encoder call these per message.
public enum Decimal {
    /// Writes `value` as decimal ASCII at `out` (room for 20 bytes required)
    /// and returns the number of bytes written.
    @inlinable
    public static func format(_ value: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        if value >= 0 && value < 10 {
            out[0] = 48 &+ UInt8(truncatingIfNeeded: value)
            return 1
        }
        var magnitude = value.magnitude
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes on the stack
        return withUnsafeMutableBytes(of: &scratch) { raw -> Int in
            guard let start = raw.baseAddress else { return 0 }
            let tmp = start.assumingMemoryBound(to: UInt8.self)
            var i = 24
            repeat {
                i &-= 1
                let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10)
                tmp[i] = 48 &+ UInt8(truncatingIfNeeded: r)
                magnitude = q
            } while magnitude != 0
            var n = 0
            if value < 0 { out[0] = 45; n = 1 }
            let digits = 24 &- i
            (out + n).update(from: tmp + i, count: digits)
            return n &+ digits
        }
    }

    /// Number of bytes `format` writes for `value`.
    @inlinable
    public static func width(_ value: Int) -> Int {
        var m = value.magnitude
        var n = value < 0 ? 2 : 1
        while m >= 10 { m /= 10; n &+= 1 }
        return n
    }

    /// Parses an optionally signed decimal integer occupying exactly
    /// `count` bytes. Returns nil on any non-digit, on an empty or
    /// oversized input, and on overflow — as Redis's `string2ll`, it
    /// rejects leading `+`, spaces and leading zeros ("0" itself is fine).
    @inlinable
    public static func parse(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int? {
        if count <= 0 || count > 20 { return nil }
        var i = 0
        var negative = false
        if p[0] == 45 {  // '-'
            negative = true
            i = 1
            if count == 1 { return nil }
        }
        if p[i] == 48 { return count == i &+ 1 && !negative ? 0 : nil }
        var v: UInt64 = 0
        while i < count {
            let d = p[i] &- 48
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = a
            i &+= 1
        }
        if negative {
            if v > UInt64(Int.max) &+ 1 { return nil }
            return v == UInt64(Int.max) &+ 1 ? Int.min : -Int(v)
        }
        if v > UInt64(Int.max) { return nil }
        return Int(v)
    }

    /// Parses decimal ASCII from an array (cold paths, tests).
    public static func parse(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return nil }
            return parse(base, b.count)
        }
    }
}
