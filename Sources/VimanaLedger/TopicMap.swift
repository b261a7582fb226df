/// Topic bytes → small integer, looked up in place from a request buffer
/// (no array built per message). Open addressing with linear probing,
/// Swift's per-process seeded `Hasher` (SipHash), load factor ≤ 1/2.
/// Entries are never removed: a topic's stream state lives as long as the
/// ledger remembers it.
struct TopicMap {
    private struct Slot {
        var hash: Int
        var key: UnsafeMutablePointer<UInt8>?
        var length: Int
        var value: Int
    }

    private var slots: UnsafeMutablePointer<Slot>
    private var mask: Int
    private(set) var count = 0

    init() {
        mask = LedgerLimits.initialTopicSlots - 1
        slots = .allocate(capacity: mask + 1)
        slots.initialize(repeating: Slot(hash: 0, key: nil, length: 0, value: 0), count: mask + 1)
    }

    mutating func release() {
        for i in 0...mask { slots[i].key?.deallocate() }
        slots.deallocate()
    }

    @inline(__always)
    private static func hash(_ p: UnsafeRawPointer, _ n: Int) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(start: p, count: n))
        return h.finalize()
    }

    @inline(__always)
    func find(_ p: UnsafeRawPointer, _ n: Int) -> Int? {
        let h = Self.hash(p, n)
        var i = h & mask
        while let key = slots[i].key {
            if slots[i].hash == h && slots[i].length == n && memcmp(key, p, n) == 0 { return slots[i].value }
            i = (i &+ 1) & mask
        }
        return nil
    }

    mutating func insert(_ p: UnsafeRawPointer, _ n: Int, value: Int) {
        if (count + 1) * 2 > mask + 1 { grow() }
        let key = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
        key.update(from: p.assumingMemoryBound(to: UInt8.self), count: n)
        place(Slot(hash: Self.hash(p, n), key: key, length: n, value: value))
        count += 1
    }

    private mutating func place(_ slot: Slot) {
        var i = slot.hash & mask
        while slots[i].key != nil { i = (i + 1) & mask }
        slots[i] = slot
    }

    private mutating func grow() {
        let old = slots, oldCapacity = mask + 1
        mask = oldCapacity * 2 - 1
        slots = .allocate(capacity: mask + 1)
        slots.initialize(repeating: Slot(hash: 0, key: nil, length: 0, value: 0), count: mask + 1)
        for i in 0..<oldCapacity where old[i].key != nil { place(old[i]) }
        old.deallocate()
    }
}

#if canImport(Glibc)
import Glibc
#endif
