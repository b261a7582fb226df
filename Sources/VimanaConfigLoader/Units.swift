/// Sizes and durations as written in Vimana's configuration files.
///
/// Promises: a value parses exactly or not at all (no rounding, no silent
/// overflow), and `formatSize` and `formatMilliseconds` print text that
/// `parseSize` and `parseDuration` read back to the same value.
///
/// Sizes: a non-negative integer of bytes, optionally followed (directly or
/// after one space) by a case-insensitive unit: `B`; `KiB`/`MiB`/`GiB` and
/// Redis's `kb`/`mb`/`gb` (binary); Redis's `k`/`m`/`g` (decimal, 1k = 1000).
///
/// Durations: a non-negative integer of seconds, optionally followed by
/// `ms`, `s`, `m` or `h` (case-insensitive), with the same spacing rule.
public enum Units {
    /// Why a size or duration did not parse.
    public enum ParseError: Error, Sendable, Equatable {
        /// Not digits with an optional known unit.
        case invalid
        /// The value does not fit in an `Int` (of bytes, or of milliseconds).
        case overflow
    }

    // Redis reads k/m/g as powers of ten and kb/mb/gb as powers of two;
    // accepting both spellings keeps redis.conf values meaning what they did.
    private static let sizeUnits: [String: Int] = [
        "": 1, "b": 1,
        "k": 1_000, "m": 1_000_000, "g": 1_000_000_000,
        "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30,
        "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
    ]

    /// Milliseconds per duration unit; a bare number is seconds.
    private static let durationUnits: [String: Int] = [
        "": 1_000, "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000,
    ]

    /// Bytes denoted by `text`, e.g. `64KiB` → 65536, `1k` → 1000, `512` → 512.
    public static func parseSize(_ text: String) throws(ParseError) -> Int {
        try parse(text, units: sizeUnits)
    }

    /// The duration denoted by `text`, e.g. `60` and `1m` → 60 s, `250ms` → 0.25 s.
    public static func parseDuration(_ text: String) throws(ParseError) -> Duration {
        .milliseconds(try parse(text, units: durationUnits))
    }

    /// `bytes` in the largest binary unit that divides it exactly
    /// (`1MiB`, `64KiB`, `3GiB`), or plain bytes (`1000`, `0`).
    public static func formatSize(_ bytes: Int) -> String {
        guard bytes != 0 else { return "0" }
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    /// `millis` in the largest duration unit that divides it exactly
    /// (`24h`, `2m`, `30s`, `1500ms`; `0s`); `parseDuration` reads it back to the same value.
    public static func formatMilliseconds(_ millis: Int) -> String {
        guard millis != 0 else { return "0s" }
        for (scale, unit) in [(3_600_000, "h"), (60_000, "m"), (1_000, "s")] where millis % scale == 0 {
            return "\(millis / scale)\(unit)"
        }
        return "\(millis)ms"
    }

    /// Millionths denoted by a decimal fraction `text` of at most six
    /// decimals (`0.5` → 500000, `1` → 1000000, `0.000001` → 1), exactly:
    /// a threshold compared with counts of votes must not be a rounded double.
    public static func parseFraction(_ text: String) throws(ParseError) -> Int {
        let bytes = Array(text.utf8)
        func digit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        var i = 0
        var whole = 0
        while i < bytes.count, digit(bytes[i]) {
            // Seven digits already exceed any fraction up to 1: stop before overflowing.
            guard i < 7 else { throw .overflow }
            whole = whole * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
        }
        guard i > 0 else { throw .invalid }
        var millionths = whole * 1_000_000
        guard i < bytes.count else { return millionths }
        guard bytes[i] == UInt8(ascii: "."), i + 1 < bytes.count else { throw .invalid }
        let decimals = bytes[(i + 1)...]
        guard decimals.count <= 6, decimals.allSatisfy(digit) else { throw .invalid }
        var scale = 100_000
        for d in decimals {
            millionths += Int(d - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return millionths
    }

    /// `millionths` as the shortest decimal `parseFraction` reads back to it (`0.5`, `1`, `0.000001`).
    public static func formatFraction(_ millionths: Int) -> String {
        let whole = millionths / 1_000_000, part = millionths % 1_000_000
        guard part != 0 else { return String(whole) }
        var digits = String(part)
        digits = String(repeating: "0", count: 6 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// `<digits>[ ]<unit>` scaled by the unit's multiplier, overflow-checked.
    private static func parse(_ text: String, units: [String: Int]) throws(ParseError) -> Int {
        let bytes = Array(text.utf8)
        var i = 0
        var number = 0
        var overflowed = false
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            let (times10, o1) = number.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(bytes[i] - UInt8(ascii: "0")))
            overflowed = overflowed || o1 || o2
            number = sum
            i += 1
        }
        guard i > 0 else { throw .invalid }
        if i < bytes.count, bytes[i] == UInt8(ascii: " ") {
            i += 1
            guard i < bytes.count else { throw .invalid }  // a space must be followed by a unit
        }
        // ASCII-only lowering: "K" (Kelvin sign) must not pass for "k".
        let unit = String(decoding: bytes[i...].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        guard let scale = units[unit] else { throw .invalid }
        guard !overflowed else { throw .overflow }
        let (value, o) = number.multipliedReportingOverflow(by: scale)
        guard !o else { throw .overflow }
        return value
    }
}
