import VimanaCore

/// Glob pattern → subscribers. A publish tests every pattern, as Redis does;
/// patterns are few in practice and each test is a pointer-walk `Glob` match.
///
/// Promises: pattern bytes live in raw memory (no ARC while matching);
/// patterns with no subscribers are removed; order of patterns is stable
/// except where a removal fills the hole with the last entry; finding a
/// pattern by name (subscribe, unsubscribe, a closing connection's cleanup)
/// is a hash lookup, not a walk of every pattern: a connection with 50,000
/// patterns closing used to hold the loop for 1.7 s (issue 9).
public struct PatternTable {
    @usableFromInline
    struct Entry {
        /// The pattern's bytes: `positions`' own copy of the key.
        var pattern: UnsafePointer<UInt8>
        var length: Int
        var subscribers: SubscriberList
    }

    /// Dense, for the walk every publish makes.
    @usableFromInline var entries: [Entry] = []
    /// Pattern → its index in `entries`.
    var positions = ByteTable<Int>(slots: ChannelTable.initialSlots)

    public init() {}

    /// Number of distinct patterns with at least one subscriber. Inlinable:
    /// every publish asks, and a call into this module cost more than the
    /// answer.
    @inlinable public var count: Int { entries.count }

    /// Total (pattern, subscriber) pairs: Redis's `PUBSUB NUMPAT` counts unique
    /// patterns, see `count`; this is for INFO.
    public var subscriptionCount: Int { entries.reduce(0) { $0 + $1.subscribers.count } }

    private func index(of pattern: [UInt8]) -> Int? { positions[pattern] }

    /// Adds `id` to `pattern`; returns false when already subscribed.
    public mutating func insert(_ id: SubscriberID, _ pattern: [UInt8]) -> Bool {
        let position = entries.count
        let (p, inserted) = pattern.withUnsafeBytes { positions.findOrInsert($0) { position } }
        if !inserted { return entries[positions[p]].subscribers.insert(id) }
        let key = positions.key(at: p)
        var list = SubscriberList()
        _ = list.insert(id)
        entries.append(Entry(pattern: key.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? ChannelTable.emptyKey,
                             length: key.count, subscribers: list))
        return true
    }

    /// Removes `id` from `pattern`; returns whether it was subscribed.
    public mutating func remove(_ id: SubscriberID, _ pattern: [UInt8]) -> Bool {
        guard let i = index(of: pattern), entries[i].subscribers.remove(id) else { return false }
        if entries[i].subscribers.count == 0 {
            entries[i].subscribers.release()
            positions.removeValue(forKey: pattern)  // frees the entry's pattern bytes
            let last = entries.count - 1
            if i != last {
                entries.swapAt(i, last)
                let moved = entries[i]
                positions.updateValue(i, forKey: UnsafeRawBufferPointer(start: moved.pattern, count: moved.length))
            }
            entries.removeLast()
        }
        return true
    }

    /// Calls `body(pattern, subscribers, count)` for each pattern matching `channel`.
    @inline(__always)
    public func forEachMatch(_ channel: UnsafePointer<UInt8>, _ length: Int,
                             _ body: (UnsafeBufferPointer<UInt8>, UnsafePointer<SubscriberID>, Int) -> Void) {
        if entries.isEmpty { return }
        entries.withUnsafeBufferPointer { all in
            for e in all {
                if Glob.matches(e.pattern, e.length, channel, length), let ids = e.subscribers.ids {
                    body(UnsafeBufferPointer(start: e.pattern, count: e.length), ids, e.subscribers.count)
                }
            }
        }
    }

    /// Frees every pattern and subscriber list. The table must not be used afterwards.
    public mutating func release() {
        for i in entries.indices { entries[i].subscribers.release() }
        entries.removeAll()
        positions.release()
    }

    /// Number of subscribers of exactly this pattern.
    public func subscriberCount(_ pattern: [UInt8]) -> Int {
        index(of: pattern).map { entries[$0].subscribers.count } ?? 0
    }
}
