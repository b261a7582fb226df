import VimanaCore

/// `ledger.record` / `ledger.exclude` compiled once: each pattern becomes
/// "everything", a literal prefix, or a general Redis glob, held in raw
/// memory so the per-message check neither retains arrays nor reruns the
/// glob engine for the common shapes (`*`, `_*`).
struct TopicFilter {
    private enum Rule {
        case all
        case prefix(UnsafeMutablePointer<UInt8>, Int)
        case glob(UnsafeMutablePointer<UInt8>, Int)
    }

    private let record: [Rule]
    private let exclude: [Rule]

    /// - Parameter reserved: a prefix never recorded, whatever `exclude`
    ///   says (the internal topics): added to `exclude` only when no rule
    ///   there covers it already, so the default `_*` costs nothing more.
    init(record: [[UInt8]], exclude: [[UInt8]], reserved: [UInt8] = []) {
        self.record = record.map(Self.compile)
        var rules = exclude.map(Self.compile)
        if !reserved.isEmpty && !rules.contains(where: { Self.covers($0, prefix: reserved) }) {
            rules.insert(Self.compile(reserved + [42]), at: 0)
        }
        self.exclude = rules
    }

    /// Every topic beginning with `prefix` matches `rule` (known only for
    /// `*` and literal prefixes; a general glob is taken not to).
    private static func covers(_ rule: Rule, prefix: [UInt8]) -> Bool {
        switch rule {
        case .all: return true
        case .prefix(let p, let k): return k <= prefix.count && memcmp(p, prefix, k) == 0
        case .glob: return false
        }
    }

    private static func compile(_ pattern: [UInt8]) -> Rule {
        if pattern == [42] { return .all }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(pattern.count, 1))
        p.initialize(from: pattern, count: pattern.count)
        // "literal*" with no other metacharacter: a prefix test.
        if pattern.last == 42, Glob.isLiteral(Array(pattern.dropLast())) { return .prefix(p, pattern.count - 1) }
        return .glob(p, pattern.count)
    }

    @inline(__always)
    private static func matches(_ rule: Rule, _ t: UnsafeRawPointer, _ n: Int) -> Bool {
        switch rule {
        case .all:
            return n > 0  // as Redis's glob: `*` does not match the empty topic
        case .prefix(let p, let k):
            return n >= k && memcmp(p, t, k) == 0
        case .glob(let p, let k):
            return Glob.matches(UnsafeBufferPointer(start: p, count: k),
                                UnsafeBufferPointer(start: t.assumingMemoryBound(to: UInt8.self), count: n))
        }
    }

    /// Recorded: matches a `record` rule and no `exclude` rule.
    @inline(__always)
    func records(_ t: UnsafeRawPointer, _ n: Int) -> Bool {
        for rule in exclude where Self.matches(rule, t, n) { return false }
        for rule in record where Self.matches(rule, t, n) { return true }
        return false
    }
}

#if canImport(Glibc)
import Glibc
#endif
