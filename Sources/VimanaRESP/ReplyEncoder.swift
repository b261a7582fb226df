import VimanaCore

/// RESP2/RESP3 reply encoding straight into a connection's output buffer.
///
/// Promises: no allocation beyond the buffer's own growth; each RESP3 type
/// degrades to the shape Redis 7 sends a RESP2 client (map → flat array,
/// null → `$-1`, boolean → integer, double → bulk string, verbatim → bulk).
extension ByteBuffer {
    /// `<prefix><n>\r\n`: the header of every aggregate and bulk.
    @inlinable @inline(__always)
    public mutating func writeHeader(_ prefix: UInt8, _ n: Int) {
        reserve(24)
        base[writeIndex] = prefix
        writeIndex &+= 1
        writeIndex &+= Decimal.format(n, into: base + writeIndex)
        base[writeIndex] = 13
        base[writeIndex &+ 1] = 10
        writeIndex &+= 2
    }

    /// `+text\r\n`. The text must not contain CR or LF.
    @inlinable @inline(__always)
    public mutating func writeSimple(_ text: StaticString) {
        reserve(text.utf8CodeUnitCount &+ 3)
        base[writeIndex] = 43
        writeIndex &+= 1
        append(text)
        appendCRLF()
    }

    public mutating func writeSimple(string text: String) {
        append(byte: 43)
        append(string: Self.singleLine(text))
        appendCRLF()
    }

    /// `-text\r\n`; CR and LF in the text become spaces, as Redis does, so an
    /// error can never break framing.
    public mutating func writeError(_ text: String) {
        append(byte: 45)
        append(string: Self.singleLine(text))
        appendCRLF()
    }

    @inlinable @inline(__always)
    public mutating func writeInteger(_ value: Int) { writeHeader(58, value) }

    @inlinable @inline(__always)
    public mutating func writeBulk(_ bytes: UnsafeRawPointer, _ count: Int) {
        reserve(count &+ 26)
        writeHeader(36, count)
        (base + writeIndex).update(from: bytes.assumingMemoryBound(to: UInt8.self), count: count)
        writeIndex &+= count
        base[writeIndex] = 13
        base[writeIndex &+ 1] = 10
        writeIndex &+= 2
    }

    @inlinable
    public mutating func writeBulk(_ text: StaticString) {
        writeBulk(text.utf8Start, text.utf8CodeUnitCount)
    }

    public mutating func writeBulk(string text: String) {
        var s = text
        s.withUTF8 { b in
            if let p = b.baseAddress { writeBulk(p, b.count) } else { append("$0\r\n\r\n") }
        }
    }

    public mutating func writeBulk(bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { b in
            if let p = b.baseAddress { writeBulk(p, b.count) } else { append("$0\r\n\r\n") }
        }
    }

    @inlinable @inline(__always)
    public mutating func writeArrayHeader(_ count: Int) { writeHeader(42, count) }

    /// A map header: `%n` in RESP3, a flat array of 2n elements in RESP2.
    @inlinable @inline(__always)
    public mutating func writeMapHeader(_ pairs: Int, resp3: Bool) {
        if resp3 { writeHeader(37, pairs) } else { writeHeader(42, pairs &* 2) }
    }

    /// A set header: `~n` in RESP3, an array in RESP2.
    @inlinable @inline(__always)
    public mutating func writeSetHeader(_ count: Int, resp3: Bool) {
        writeHeader(resp3 ? 126 : 42, count)
    }

    /// An out-of-band push header: `>n` in RESP3, an array in RESP2.
    @inlinable @inline(__always)
    public mutating func writePushHeader(_ count: Int, resp3: Bool) {
        writeHeader(resp3 ? 62 : 42, count)
    }

    /// A null: `_` in RESP3, the null bulk string `$-1` in RESP2.
    @inlinable
    public mutating func writeNull(resp3: Bool) {
        if resp3 { append("_\r\n") } else { append("$-1\r\n") }
    }

    /// A null where RESP2 uses the null array `*-1`.
    @inlinable
    public mutating func writeNullArray(resp3: Bool) {
        if resp3 { append("_\r\n") } else { append("*-1\r\n") }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    @inlinable
    public mutating func writeBool(_ value: Bool, resp3: Bool) {
        if resp3 { append(value ? "#t\r\n" : "#f\r\n") } else { append(value ? ":1\r\n" : ":0\r\n") }
    }

    /// A double: `,value` in RESP3, a bulk string in RESP2 (Redis's `%.17g`
    /// shape for integral values is plain digits).
    public mutating func writeDouble(_ value: Double, resp3: Bool) {
        let text: String
        if value.isNaN { text = "nan" }
        else if value.isInfinite { text = value > 0 ? "inf" : "-inf" }
        else if value == value.rounded(), abs(value) < 1e17 { text = String(Int(value)) }
        else { text = String(value) }
        if resp3 {
            append(byte: 44)
            append(string: text)
            appendCRLF()
        } else {
            writeBulk(string: text)
        }
    }

    /// A verbatim string (`=len\r\ntxt:…` in RESP3), a bulk string in RESP2:
    /// what Redis sends for INFO and CLIENT LIST.
    public mutating func writeVerbatim(_ text: String, resp3: Bool) {
        guard resp3 else { writeBulk(string: text); return }
        writeHeader(61, text.utf8.count + 4)
        append("txt:")
        append(string: text)
        appendCRLF()
    }

    /// `text` with CR and LF replaced by spaces.
    public static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 13 || $0 == 10 }) else { return text }
        return String(decoding: text.utf8.map { $0 == 13 || $0 == 10 ? 32 : $0 }, as: UTF8.self)
    }
}
