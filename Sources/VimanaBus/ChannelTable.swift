import VimanaCore

/// Exact channel name → subscribers: a `ByteTable` of subscriber lists.
///
/// A publish looks its channel up from the request bytes in place (no
/// array built, no allocation); see `ByteTable` for the hashing (seeded
/// SipHash: no hash flooding) and the probing.
///
/// Promises: channels with no subscribers are removed; `release()` frees
/// every name and subscriber list.
public struct ChannelTable {
    /// Slots of a fresh table: a server starts with few channels, and the
    /// table doubles past half full.
    static let initialSlots = 64

    @usableFromInline var table = ByteTable<SubscriberList>(slots: initialSlots)

    public init() {}

    /// Channels with at least one subscriber.
    public var count: Int { table.count }

    /// The subscribers of `name`: a pointer valid until the table is next
    /// modified, and a count (0 when nobody listens). Always inlined, so a
    /// publish with no channel at all pays a load and a branch: the lookup
    /// (`find`) takes the table by address and would otherwise save its
    /// registers before the empty check.
    @inlinable @inline(__always)
    public func subscribers(_ name: UnsafePointer<UInt8>, _ length: Int) -> (UnsafePointer<SubscriberID>, Int)? {
        if table.isEmpty { return nil }
        return find(name, length)
    }

    /// `subscribers` in a table that is not empty. Inlinable: the kernel
    /// specializes the lookup instead of calling into this module.
    @inlinable
    func find(_ name: UnsafePointer<UInt8>, _ length: Int) -> (UnsafePointer<SubscriberID>, Int)? {
        guard let i = table.index(forKey: UnsafeRawBufferPointer(start: name, count: length)),
              let ids = table[i].ids else { return nil }
        return (UnsafePointer(ids), table[i].count)
    }

    /// Number of subscribers of `name`.
    public func subscriberCount(_ name: [UInt8]) -> Int {
        table[name]?.count ?? 0
    }

    /// A valid pointer for the empty channel name (`""` is a legal channel).
    nonisolated(unsafe) static let emptyKey: UnsafePointer<UInt8> = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

    /// Adds `id` to `name`'s subscribers; returns false when it was already there.
    public mutating func insert(_ id: SubscriberID, _ name: [UInt8]) -> Bool {
        name.withUnsafeBytes { key in
            let (i, _) = table.findOrInsert(key) { SubscriberList() }
            return table[i].insert(id)
        }
    }

    /// Removes `id` from `name`'s subscribers (and the channel when it empties);
    /// returns whether it was subscribed.
    public mutating func remove(_ id: SubscriberID, _ name: [UInt8]) -> Bool {
        name.withUnsafeBytes { key in
            guard let i = table.index(forKey: key), table[i].remove(id) else { return false }
            if table[i].count == 0 {
                var emptied = table.remove(at: i)
                emptied.release()
            }
            return true
        }
    }

    /// Calls `body` with each channel name that has subscribers, and its count.
    public func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        for (name, list) in table { body(name.assumingMemoryBound(to: UInt8.self), list.count) }
    }

    /// Frees every name, subscriber list and the table. The table must not
    /// be used afterwards.
    public mutating func release() {
        table.release { $0.release() }
    }
}
