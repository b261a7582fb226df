import VimanaRESP

/// Words a command takes from a fixed set (subcommands, options, client
/// types): an enum whose raw values are the lower-case words. Scanned with
/// `Arguments.keyword`, matched with `switch`, not compared as strings.
protocol Keyword: RawRepresentable, CaseIterable where RawValue == String {}

extension Arguments {
    /// The keyword argument `i` spells, ignoring ASCII case; nil for any other word.
    func keyword<K: Keyword>(_ i: Int, as _: K.Type = K.self) -> K? {
        let p = pointer(i), n = length(i)
        for k in K.allCases {
            var word = k.rawValue
            // The length first: most words miss there, without copying the string.
            guard word.utf8.count == n else { continue }
            let same = word.withUTF8 { w in
                for j in 0..<n {
                    let b = p[j]
                    // Fold only A-Z: no other byte may match a letter.
                    if (b >= 65 && b <= 90 ? b | 0x20 : b) != w[j] { return false }
                }
                return true
            }
            if same { return k }
        }
        return nil
    }

    /// `keyword` for the options of the hot path (XADD, XREAD, XRANGE): the
    /// same answer from a table packed at start, comparing two machine words
    /// per word instead of walking strings.
    @inline(__always)
    func keyword<K: Keyword>(_ i: Int, in table: KeywordTable<K>) -> K? {
        let n = length(i)
        guard n <= KeywordTable<K>.packedBytes else { return table.hasLongWords ? keyword(i, as: K.self) : nil }
        let w = KeywordTable<K>.pack(UnsafeRawPointer(pointer(i)), n)
        let low = KeywordTable<K>.foldingASCIIUppercase(w.low), high = KeywordTable<K>.foldingASCIIUppercase(w.high)
        for e in table.entries where e.length == n && e.low == low && e.high == high { return e.value }
        return nil
    }
}

/// A `Keyword` enum's words packed for `Arguments.keyword(_:in:)`: each
/// word's bytes little-endian in two `UInt64`s, zero-padded; built once at
/// start (KernelState) so a scan compares two machine words per word.
struct KeywordTable<K: Keyword> {
    struct Entry {
        let length: Int, low: UInt64, high: UInt64, value: K
    }

    /// Bytes two packed words hold; a longer argument takes the string scan.
    static var packedBytes: Int { 16 }

    /// The words of at most `packedBytes`.
    let entries: [Entry]
    /// Whether a word is longer (none is, today): found by the string scan.
    let hasLongWords: Bool

    init() {
        hasLongWords = K.allCases.contains { $0.rawValue.utf8.count > Self.packedBytes }
        entries = K.allCases.compactMap { k -> Entry? in
            let bytes = Array(k.rawValue.utf8)
            guard bytes.count <= Self.packedBytes else { return nil }
            let w = bytes.withUnsafeBytes { b -> (low: UInt64, high: UInt64) in
                b.baseAddress.map { Self.pack($0, b.count) } ?? (0, 0)
            }
            return Entry(length: bytes.count, low: w.low, high: w.high, value: k)
        }
    }

    /// The `n` (at most `packedBytes`) bytes at `p`, byte k at bits 8k of
    /// the pair, zero-padded. Reads only those bytes: overlapping loads put
    /// each byte in its place (a byte read twice is OR-ed with itself).
    @inline(__always)
    static func pack(_ p: UnsafeRawPointer, _ n: Int) -> (low: UInt64, high: UInt64) {
        if n >= 8 {
            let low = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
            // Bytes n-8 ..< n; shifted so that byte 8 lands at bits 0.
            let last = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self))
            return (low, n == 8 ? 0 : last >> (UInt64(16 &- n) &* 8))
        }
        if n >= 4 {
            let a = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            let b = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)))
            return (a | b << (UInt64(n &- 4) &* 8), 0)
        }
        if n >= 2 {
            let a = UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            let b = UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: n &- 2, as: UInt16.self)))
            return (a | b << (UInt64(n &- 2) &* 8), 0)
        }
        return (n == 1 ? UInt64(p.load(as: UInt8.self)) : 0, 0)
    }

    /// `w` with each byte A-Z turned to a-z and every other byte (`@`, `[`,
    /// bytes with the high bit set, NUL) unchanged, eight bytes at once.
    @inline(__always)
    static func foldingASCIIUppercase(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7 = w & (0x7F &* ones)
        // Bit 7 of each byte: set where the low 7 bits are >= "A" (0x41), >= "Z" + 1 (0x5B); no carry crosses bytes.
        let fromA = low7 &+ (0x3F &* ones), pastZ = low7 &+ (0x25 &* ones)
        let upper = fromA & ~pastZ & ~w & (0x80 &* ones)
        return w | upper >> 2
    }
}
