/// Which of a cluster's 16384 slots a key belongs to: Redis's rule
/// (cluster.c `keyHashSlot`), so that a key and the node serving it agree.
public enum HashSlot {
    public static let count = 16384

    /// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value
    /// 0, no reflection, no final XOR): Redis's `crc16`. Of "123456789" it is 0x31C3.
    public static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(b))]
        }
        return crc
    }

    /// The slot of `key`: CRC16 of the key modulo 16384, or of its hash tag
    /// when it has one — the bytes between the first `{` and the first `}`
    /// after it, when there is at least one byte between them. So
    /// `{user1000}.following` hashes `user1000`, `foo{}{bar}` the whole key
    /// (the first tag is empty), `foo{{bar}}zap` hashes `{bar`, and
    /// `foo{bar}{zap}` hashes `bar`.
    public static func of(_ key: [UInt8]) -> Int {
        key.withUnsafeBytes { all in
            if let open = all.firstIndex(of: UInt8(ascii: "{")),
               let close = all[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
               close > open + 1 {
                return Int(crc16(UnsafeRawBufferPointer(rebasing: all[(open + 1)..<close])) & 0x3FFF)
            }
            return Int(crc16(all) & 0x3FFF)
        }
    }

    /// The 256 remainders of the polynomial, one per leading byte.
    static let table: [UInt16] = (0..<256).map { (i: Int) -> UInt16 in
        var crc = UInt16(i) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
