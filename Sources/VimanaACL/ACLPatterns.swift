import VimanaCore

/// A selector's key or channel patterns compiled once (when a connection
/// takes a user: AUTH, ACL SETUSER, start), so that a request's check is a
/// walk over plain records: the shapes almost every rule has are matched
/// with a byte compare, the others by the glob (`Glob`, Redis's
/// stringmatchlen), and every answer is stringmatchlen's:
///
/// | kind | pattern | matches |
/// |---|---|---|
/// | `literal` | no `*`, `?`, `[`, `\` (`]` alone is a plain byte) | the same bytes |
/// | `prefix` | such bytes, then one or more `*` | strings that start with them (`ab*` matches `ab`) |
/// | `any` | only `*` | every string but the empty one (stringmatchlen's `*` needs a byte) |
/// | `glob` | anything else | as `Glob.matches` |
/// | `all` | (`allkeys`, `allchannels`) | every string |
///
/// Measured (docs/PERFORMANCE.md): a user allowed `&ch*` paid 126
/// instructions more per pipelined PUBLISH than `default` with the check
/// before this (nested arrays, a class's `var`), 54 with it.
public struct ACLPatternList: @unchecked Sendable {
    public enum Kind: UInt8, Sendable { case literal, prefix, any, glob, all }

    /// One compiled pattern: for `prefix` the bytes before the stars.
    public struct Entry {
        @usableFromInline let bytes: UnsafePointer<UInt8>
        @usableFromInline let length: Int
        public let kind: Kind
        /// What a key pattern grants (`%R~` read, `%W~` write, `~` both); a channel pattern both.
        @usableFromInline let grants: UInt8
    }

    /// A key access as `matches` asks it: bit 0 read, bit 1 write (Redis's
    /// ACL_READ_PERMISSION, ACL_WRITE_PERMISSION); 0 asks for neither (XLEN).
    public static let read: UInt8 = 1
    public static let write: UInt8 = 2

    /// The records, `start..<end` (equal when there is none).
    @usableFromInline let start: UnsafePointer<Entry>
    @usableFromInline let end: UnsafePointer<Entry>

    /// Matches nothing: no records, at an address that is never read.
    public static let none: ACLPatternList = {
        let nowhere = UnsafePointer(UnsafeMutablePointer<Entry>.allocate(capacity: 1))
        return ACLPatternList(start: nowhere, end: nowhere)
    }()

    @usableFromInline init(start: UnsafePointer<Entry>, end: UnsafePointer<Entry>) {
        self.start = start
        self.end = end
    }

    public var count: Int { end - start }

    /// The kind stringmatchlen gives `pattern` (see the type's table).
    public static func kind(of pattern: [UInt8]) -> Kind {
        var literalEnd = 0
        while literalEnd < pattern.count && !special(pattern[literalEnd]) { literalEnd += 1 }
        if literalEnd == pattern.count { return .literal }
        var i = literalEnd
        while i < pattern.count && pattern[i] == 42 { i += 1 }
        guard i == pattern.count else { return .glob }
        return literalEnd == 0 ? .any : .prefix
    }

    /// A byte stringmatchlen treats specially outside a class: `*` `?` `[` `\`.
    static func special(_ b: UInt8) -> Bool { b == 42 || b == 63 || b == 91 || b == 92 }

    /// True when one pattern granting every bit of `access` matches the
    /// bytes `string[0..<length]` (Redis's ACLSelectorCheckKey and
    /// ACLCheckChannelAgainstList without the `allkeys`/`allchannels` flags,
    /// which `all` stands for). Allocates nothing, retains nothing. Inlined
    /// where a request is checked: the walk stays in registers (a glob
    /// hands the rest of the walk to `matchesFrom`, out of line, so no
    /// value lives across a call).
    @inlinable @inline(__always)
    public func matches(_ string: UnsafeRawPointer?, _ length: Int, access: UInt8 = 0) -> Bool {
        // An empty argument may come without an address: any readable one will do for zero bytes.
        let s = (string ?? UnsafeRawPointer(start)).assumingMemoryBound(to: UInt8.self)
        var e = start
        while e < end {
            if e.pointee.grants & access == access {
                let kind = e.pointee.kind
                let n = e.pointee.length
                // A prefix needs `n` bytes or more, a literal exactly `n`.
                if kind.rawValue <= Kind.prefix.rawValue {
                    if (n == length || (n < length && kind == .prefix)) && Self.equal(e.pointee.bytes, s, n) { return true }
                } else if kind == .glob {
                    return Self.matchesFrom(e, end, s, length, access)
                } else if length > 0 || kind == .all {
                    return true
                }
            }
            e += 1
        }
        return false
    }

    /// `matches` from the entry `e` on, globs included.
    @usableFromInline @inline(never)
    static func matchesFrom(_ first: UnsafePointer<Entry>, _ end: UnsafePointer<Entry>, _ s: UnsafePointer<UInt8>,
                            _ length: Int, _ access: UInt8) -> Bool {
        var e = first
        while e < end {
            if e.pointee.grants & access == access {
                let n = e.pointee.length
                switch e.pointee.kind {
                case .literal: if n == length && equal(e.pointee.bytes, s, n) { return true }
                case .prefix: if n <= length && equal(e.pointee.bytes, s, n) { return true }
                case .any: if length > 0 { return true }
                case .glob: if Glob.matches(e.pointee.bytes, n, s, length) { return true }
                case .all: return true
                }
            }
            e += 1
        }
        return false
    }

    /// Byte equality of `n` bytes: patterns are short, and two overlapping
    /// loads compare 1 to 16 bytes without a loop or a call to memcmp.
    @inlinable @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        if n >= 8 {
            var i = 0
            while i &+ 8 < n {
                if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
                i &+= 8
            }
            return ra.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
        }
        if n >= 4 {
            return ra.loadUnaligned(as: UInt32.self) == rb.loadUnaligned(as: UInt32.self)
                && ra.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self) == rb.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)
        }
        if n >= 2 {
            return ra.loadUnaligned(as: UInt16.self) == rb.loadUnaligned(as: UInt16.self)
                && ra.loadUnaligned(fromByteOffset: n &- 2, as: UInt16.self) == rb.loadUnaligned(fromByteOffset: n &- 2, as: UInt16.self)
        }
        return n == 0 || a[0] == b[0]
    }
}

/// The storage behind an `ACLPatternList`: one allocation for the records,
/// one for the bytes, freed with the owner. Immutable once made; whoever
/// copies `list` out must keep this alive as long as the copy is used.
public final class ACLPatternSet: @unchecked Sendable {
    public let list: ACLPatternList
    private let records: UnsafeMutablePointer<ACLPatternList.Entry>
    private let bytes: UnsafeMutablePointer<UInt8>

    /// Patterns with what each grants (`ACLPatternList.read`/`.write` bits);
    /// `all` first when every string is granted (`allkeys`, `allchannels`).
    public init(_ given: [(pattern: [UInt8], grants: UInt8)], all: Bool = false) {
        let patterns = all ? [] : given
        records = .allocate(capacity: max(patterns.count, 1))
        bytes = .allocate(capacity: max(patterns.reduce(0) { $0 + $1.pattern.count }, 1))
        var offset = 0
        for (i, p) in patterns.enumerated() {
            let kind = ACLPatternList.kind(of: p.pattern)
            let kept = kind == .prefix ? p.pattern.prefix { $0 != 42 }.count : kind == .any ? 0 : p.pattern.count
            for j in 0..<kept { bytes[offset + j] = p.pattern[j] }
            (records + i).initialize(to: ACLPatternList.Entry(bytes: UnsafePointer(bytes + offset), length: kept, kind: kind,
                                                              grants: p.grants))
            offset += kept
        }
        if all {
            records.initialize(to: ACLPatternList.Entry(bytes: UnsafePointer(bytes), length: 0, kind: .all,
                                                        grants: ACLPatternList.read | ACLPatternList.write))
        }
        let count = all ? 1 : patterns.count
        list = ACLPatternList(start: UnsafePointer(records), end: UnsafePointer(records + count))
    }

    /// A selector's channel patterns (each grants both bits), or `allchannels`.
    public convenience init(channelsOf selector: ACLSelector) {
        self.init(selector.channelPatterns.map { ($0, ACLPatternList.read | ACLPatternList.write) }, all: selector.allChannels)
    }

    /// A selector's key patterns with their `%R~`/`%W~` permissions, or `allkeys`.
    public convenience init(keysOf selector: ACLSelector) {
        self.init(selector.keyPatterns.map { ($0.pattern, ($0.read ? ACLPatternList.read : 0) | ($0.write ? ACLPatternList.write : 0)) },
                  all: selector.allKeys)
    }

    deinit {
        records.deallocate()
        bytes.deallocate()
    }
}

extension ACLKeyAccess {
    /// As `ACLPatternList.matches` asks it.
    public var bits: UInt8 { (read ? ACLPatternList.read : 0) | (write ? ACLPatternList.write : 0) }
}
