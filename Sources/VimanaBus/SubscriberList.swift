/// Identifies a subscriber to the bus. The kernel uses the connection's
/// file descriptor: unique among live connections, and a direct index into
/// its connection table, so delivery needs no second lookup.
public typealias SubscriberID = Int32

/// A growable array of subscriber ids in raw memory.
///
/// Promises: iteration is a plain pointer walk (no ARC, no bounds checks on
/// the delivery hot path); removal is O(n) and does not keep order, which is
/// fine because Redis promises no delivery order among subscribers either.
public struct SubscriberList {
    /// Nil until the first insert, so empty table slots own no memory.
    public private(set) var ids: UnsafeMutablePointer<SubscriberID>?
    public private(set) var count: Int = 0
    private var capacity: Int = 0

    init() {}

    mutating func release() {
        ids?.deallocate()
        ids = nil
        count = 0
        capacity = 0
    }

    func contains(_ id: SubscriberID) -> Bool { index(of: id) != nil }

    func index(of id: SubscriberID) -> Int? {
        guard let ids else { return nil }
        var i = 0
        while i < count {
            if ids[i] == id { return i }
            i += 1
        }
        return nil
    }

    /// Adds `id` unless present; returns whether it was added.
    mutating func insert(_ id: SubscriberID) -> Bool {
        if contains(id) { return false }
        if count == capacity {
            let newCapacity = max(4, capacity * 2)
            let fresh = UnsafeMutablePointer<SubscriberID>.allocate(capacity: newCapacity)
            if let ids { fresh.update(from: ids, count: count); ids.deallocate() }
            ids = fresh
            capacity = newCapacity
        }
        guard let ids else { return false }
        ids[count] = id
        count += 1
        return true
    }

    /// Removes `id` if present; returns whether it was there.
    mutating func remove(_ id: SubscriberID) -> Bool {
        guard let i = index(of: id), let ids else { return false }
        count -= 1
        ids[i] = ids[count]
        return true
    }
}
