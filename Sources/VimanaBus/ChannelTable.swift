/// Exact channel name → subscribers, as an open-addressing hash table keyed
/// by raw bytes.
///
/// Why not `Dictionary<[UInt8], …>`: a publish would have to build an array
/// from the request bytes just to look the channel up. Here a lookup hashes
/// the bytes in place and compares with `memcmp`-like loops: no allocation.
/// Hashing is Swift's per-process randomly seeded SipHash (`Hasher`), so
/// clients cannot choose names that collide (no hash flooding).
///
/// Promises: linear probing with backward-shift deletion (no tombstones);
/// load factor at most 1/2; channels with no subscribers are removed.
public struct ChannelTable {
    struct Slot {
        var hash: Int
        var key: UnsafeMutablePointer<UInt8>?
        var keyLength: Int
        var subscribers: SubscriberList
    }

    var slots: UnsafeMutablePointer<Slot>
    var mask: Int
    public private(set) var count: Int = 0

    public init() {
        let capacity = 64
        slots = .allocate(capacity: capacity)
        mask = capacity - 1
        (slots).initialize(repeating: Slot(hash: 0, key: nil, keyLength: 0, subscribers: SubscriberList()), count: capacity)
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(start: p, count: n))
        return h.finalize()
    }

    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i &+ 8 <= n {
            if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self)
                != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) { return false }
            i &+= 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i &+= 1
        }
        return true
    }

    /// Index of the slot holding `name`, or nil.
    @inline(__always)
    func find(_ name: UnsafePointer<UInt8>, _ length: Int, hash: Int) -> Int? {
        var i = hash & mask
        while true {
            let slot = slots + i
            guard let key = slot.pointee.key else { return nil }
            if slot.pointee.hash == hash && slot.pointee.keyLength == length && Self.equal(key, name, length) {
                return i
            }
            i = (i &+ 1) & mask
        }
    }

    /// The subscribers of `name`: a pointer valid until the table is next
    /// modified, and a count (0 when nobody listens).
    public func subscribers(_ name: UnsafePointer<UInt8>, _ length: Int) -> (UnsafePointer<SubscriberID>, Int)? {
        if count == 0 { return nil }
        guard let i = find(name, length, hash: Self.hash(name, length)),
              let ids = slots[i].subscribers.ids else { return nil }
        return (UnsafePointer(ids), slots[i].subscribers.count)
    }

    /// Number of subscribers of `name`.
    public func subscriberCount(_ name: [UInt8]) -> Int {
        name.withUnsafeBufferPointer { b in subscribers(b.baseAddress ?? Self.emptyKey, b.count)?.1 ?? 0 }
    }

    /// A valid pointer for the empty channel name (`""` is a legal channel).
    nonisolated(unsafe) static let emptyKey: UnsafePointer<UInt8> = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

    /// Adds `id` to `name`'s subscribers; returns false when it was already there.
    public mutating func insert(_ id: SubscriberID, _ name: [UInt8]) -> Bool {
        return name.withUnsafeBufferPointer { b in
            let p = b.baseAddress ?? Self.emptyKey
            let h = Self.hash(p, b.count)
            if let i = find(p, b.count, hash: h) { return slots[i].subscribers.insert(id) }
            if (count + 1) * 2 > mask + 1 { grow() }
            let key = UnsafeMutablePointer<UInt8>.allocate(capacity: max(b.count, 1))
            key.update(from: p, count: b.count)
            var list = SubscriberList()
            _ = list.insert(id)
            place(Slot(hash: h, key: key, keyLength: b.count, subscribers: list))
            count += 1
            return true
        }
    }

    /// Removes `id` from `name`'s subscribers (and the channel when it empties);
    /// returns whether it was subscribed.
    public mutating func remove(_ id: SubscriberID, _ name: [UInt8]) -> Bool {
        return name.withUnsafeBufferPointer { b in
            let p = b.baseAddress ?? Self.emptyKey
            guard let i = find(p, b.count, hash: Self.hash(p, b.count)) else { return false }
            guard slots[i].subscribers.remove(id) else { return false }
            if slots[i].subscribers.count == 0 { erase(at: i) }
            return true
        }
    }

    /// Calls `body` with each channel name that has subscribers, and its count.
    public func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        for i in 0...mask {
            if let key = slots[i].key {
                body(UnsafeBufferPointer(start: key, count: slots[i].keyLength), slots[i].subscribers.count)
            }
        }
    }

    /// Frees every key, subscriber list and the slot array. The table must
    /// not be used afterwards.
    public mutating func release() {
        for i in 0...mask where slots[i].key != nil {
            slots[i].key?.deallocate()
            slots[i].subscribers.release()
        }
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
        count = 0
    }

    // MARK: - Storage

    private mutating func place(_ slot: Slot) {
        var i = slot.hash & mask
        while slots[i].key != nil { i = (i + 1) & mask }
        slots[i] = slot
    }

    private mutating func erase(at index: Int) {
        slots[index].key?.deallocate()
        slots[index].subscribers.release()
        slots[index].key = nil
        slots[index].subscribers = SubscriberList()
        count -= 1
        // Backward-shift: pull later entries of the same probe run into the hole.
        var hole = index
        var i = (index + 1) & mask
        while slots[i].key != nil {
            let home = slots[i].hash & mask
            // Move slot i into the hole when its home is not cyclically in (hole, i].
            let distanceToHome = (i - home) & mask
            let distanceToHole = (i - hole) & mask
            if distanceToHome >= distanceToHole {
                slots[hole] = slots[i]
                slots[i].key = nil
                slots[i].subscribers = SubscriberList()
                hole = i
            }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let oldSlots = slots
        let oldCapacity = mask + 1
        let capacity = oldCapacity * 2
        slots = .allocate(capacity: capacity)
        mask = capacity - 1
        slots.initialize(repeating: Slot(hash: 0, key: nil, keyLength: 0, subscribers: SubscriberList()), count: capacity)
        for i in 0..<oldCapacity where oldSlots[i].key != nil { place(oldSlots[i]) }
        oldSlots.deallocate()
    }
}
