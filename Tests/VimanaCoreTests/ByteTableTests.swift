import Testing
@testable import VimanaCore

/// The byte-keyed table under the channel table, the ledger's topic map,
/// the pattern table's index and the WATCH table.
@Suite struct ByteTableTests {
    /// A value whose copies are counted alive, so a test sees every value
    /// the table forgot to deinitialize or deinitialized twice.
    final class Tracked {
        nonisolated(unsafe) static var alive = 0
        let n: Int
        init(_ n: Int) { self.n = n; Tracked.alive += 1 }
        deinit { Tracked.alive -= 1 }
    }

    /// A deterministic generator (SplitMix64), so a failure replays.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Slots whose key is not in its home slot: the probe runs a lookup must walk.
    func displaced<V>(_ t: ByteTable<V>) -> Int {
        (0...t.mask).filter { t.key($0).pointee.bytes != nil && t.key($0).pointee.hash & t.mask != $0 }.count
    }

    /// Every slot that holds a key is counted by `count` (no tombstones).
    func occupiedSlots<V>(_ t: ByteTable<V>) -> Int {
        (0...t.mask).filter { t.key($0).pointee.bytes != nil }.count
    }

    @Test func insertFindUpdateRemove() {
        var t = ByteTable<Int>(slots: 8)
        defer { t.release() }
        #expect(t.updateValue(1, forKey: bytes("a")) == nil)
        #expect(t.updateValue(2, forKey: bytes("b")) == nil)
        #expect(t.updateValue(3, forKey: bytes("a")) == 1)
        #expect(t[bytes("a")] == 3)
        #expect(t[bytes("b")] == 2)
        #expect(t[bytes("c")] == nil)
        #expect(t.count == 2)
        let (i, inserted) = bytes("b").withUnsafeBytes { key in t.findOrInsert(key) { 99 } }
        #expect(!inserted)
        t[i] += 10
        #expect(t[bytes("b")] == 12)
        #expect(Array(t.key(at: i)) == bytes("b"))
        #expect(t.removeValue(forKey: bytes("a")) == 3)
        #expect(t.removeValue(forKey: bytes("a")) == nil)
        #expect(t[bytes("a")] == nil)
        #expect(t.count == 1)
    }

    @Test func emptyKeyIsAKeyLikeAnyOther() {
        var t = ByteTable<Int>(slots: 4)
        defer { t.release() }
        #expect(t[UnsafeRawBufferPointer(start: nil, count: 0)] == nil)
        #expect(t.updateValue(7, forKey: []) == nil)
        #expect(t.updateValue(8, forKey: [0]) == nil)
        #expect(t[UnsafeRawBufferPointer(start: nil, count: 0)] == 7)
        #expect(t[[]] == 7)
        #expect(t[[0]] == 8)
        #expect(t.count == 2)
        #expect(t.removeValue(forKey: UnsafeRawBufferPointer(start: nil, count: 0)) == 7)
        #expect(t[[]] == nil)
        #expect(t[[0]] == 8)
    }

    @Test(arguments: [1, 7, 8, 9, 15, 16, 17, 64, 1000])
    func keysDifferingOnlyInTheLastByteAreDistinct(length: Int) {
        var t = ByteTable<Int>(slots: 4)
        defer { t.release() }
        let base = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for last in 0..<40 {
            var key = base
            key[length - 1] = UInt8(last)
            t.updateValue(last, forKey: key)
        }
        // A prefix and an extension are other keys too.
        t.updateValue(-1, forKey: Array(base.dropLast()))
        t.updateValue(-2, forKey: base + [0])
        #expect(t.count == 42)
        for last in 0..<40 {
            var key = base
            key[length - 1] = UInt8(last)
            #expect(t[key] == last)
        }
        #expect(t[Array(base.dropLast())] == -1)
        #expect(t[base + [0]] == -2)
        var other = base
        other[length - 1] = 200
        #expect(t[other] == nil)
    }

    @Test func longKeysAreCopiedAndCompared() {
        var t = ByteTable<Int>(slots: 4)
        defer { t.release() }
        var key = [UInt8](repeating: 0x61, count: 100_000)
        t.updateValue(1, forKey: key)
        key[50_000] = 0x62  // the caller's buffer changes: the table kept its own copy
        t.updateValue(2, forKey: key)
        #expect(t[key] == 2)
        key[50_000] = 0x61
        #expect(t[key] == 1)
        key[99_999] = 0
        #expect(t[key] == nil)
        #expect(t.count == 2)
    }

    @Test func growthKeepsEveryKeyAndItsBytes() {
        var t = ByteTable<Int>(slots: 2)
        defer { t.release() }
        let (first, _) = bytes("topic.0").withUnsafeBytes { key in t.findOrInsert(key) { 0 } }
        let firstBytes = t.key(at: first).baseAddress
        for n in 1..<20_000 { t.updateValue(n, forKey: bytes("topic.\(n)")) }
        #expect(t.count == 20_000)
        #expect(t.mask + 1 >= 40_000)  // load factor at most 1/2
        for n in 0..<20_000 { #expect(t[bytes("topic.\(n)")] == n) }
        // Growth moved the slots, not the key bytes.
        let firstNow = bytes("topic.0").withUnsafeBytes { t.index(forKey: $0).flatMap { t.key(at: $0).baseAddress } }
        #expect(firstNow == firstBytes)
        var seen = Set<Int>()
        for (key, value) in t {
            #expect(Array(key) == bytes("topic.\(value)"))
            seen.insert(value)
        }
        #expect(seen.count == 20_000)
    }

    /// Removal in a small, crowded table: keys share home slots, so probe
    /// runs are long and the backward shift has work to do. Checked against
    /// a Dictionary after every operation.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func removalWithCollisionsKeepsSurvivorsReachable(seed: UInt64) {
        var rng = SplitMix(state: seed)
        var t = ByteTable<Int>(slots: 64)
        defer { t.release() }
        var model: [[UInt8]: Int] = [:]
        var sawCollisions = false
        // 32 keys in at most 64 slots: the table stays at its size and full to half.
        let universe = (0..<48).map { bytes("k\($0)") }
        for step in 0..<4000 {
            let key = universe[Int(rng.next() % UInt64(universe.count))]
            if model.count < 32 && rng.next() % 2 == 0 {
                #expect(t.updateValue(step, forKey: key) == model.updateValue(step, forKey: key))
            } else {
                #expect(t.removeValue(forKey: key) == model.removeValue(forKey: key))
            }
            if displaced(t) > 0 { sawCollisions = true }
            #expect(t.count == model.count)
            #expect(occupiedSlots(t) == model.count)
            #expect(universe.map { t[$0] } == universe.map { model[$0] })
        }
        #expect(t.mask + 1 == 64)
        #expect(sawCollisions)
    }

    @Test func valuesAreDeinitializedExactlyOnce() {
        Tracked.alive = 0
        do {
            var t = ByteTable<Tracked>(slots: 2)
            for n in 0..<300 { t.updateValue(Tracked(n), forKey: bytes("\(n)")) }  // grows 8 times
            #expect(Tracked.alive == 300)
            for n in stride(from: 0, to: 300, by: 3) { _ = t.removeValue(forKey: bytes("\(n)")) }
            #expect(Tracked.alive == 200)
            for n in stride(from: 1, to: 300, by: 3) { t.updateValue(Tracked(-n), forKey: bytes("\(n)")) }
            #expect(Tracked.alive == 200)
            for n in 0..<300 { #expect(t[bytes("\(n)")]?.n == (n % 3 == 0 ? nil : n % 3 == 1 ? -n : n)) }
            var handed = 0
            t.release { _ in handed += 1 }
            #expect(handed == 200)
        }
        #expect(Tracked.alive == 0)
    }

    /// Keys whose hashes are all equal (given through the internal
    /// `findOrInsert(_:hash:_:)`, as no one can choose SipHash collisions):
    /// one probe run that wraps past the last slot, told apart by length and
    /// bytes alone. Removing from its middle must shift the rest back so the
    /// run stays unbroken from its home: a hole would hide every key after it.
    @Test(arguments: [0, 63])
    func fullCollisionsFormOneRunThatRemovalKeepsWhole(home: Int) {
        var t = ByteTable<Int>(slots: 64)
        defer { t.release() }
        let keys = (0..<30).map { bytes(String(repeating: "x", count: $0 % 5) + "k\($0)") }
        for (n, key) in keys.enumerated() {
            let (_, inserted) = key.withUnsafeBytes { t.findOrInsert($0, hash: home) { n } }
            #expect(inserted)
        }
        #expect(t.mask + 1 == 64)  // no growth: one run of 30 slots
        func find(_ key: [UInt8]) -> Int? {
            key.withUnsafeBytes { k in t.find(k, hash: home).map { t[$0] } }
        }
        func runIsWhole() -> Bool {
            (0..<t.count).allSatisfy { t.key((home &+ $0) & t.mask).pointee.bytes != nil }
                && t.key((home &+ t.count) & t.mask).pointee.bytes == nil
        }
        for (n, key) in keys.enumerated() { #expect(find(key) == n) }
        for n in stride(from: 1, to: 30, by: 2) {
            let i = keys[n].withUnsafeBytes { t.find($0, hash: home) }
            #expect(i != nil)
            if let i {
                let removed = t.remove(at: i)
                #expect(removed == n)
            }
            #expect(runIsWhole())
        }
        #expect(t.count == 15)
        for (n, key) in keys.enumerated() { #expect(find(key) == (n % 2 == 0 ? n : nil)) }
    }

    /// A hash is SipHash with the process's seed, as a fresh `Hasher` gives
    /// it: starting each lookup from the table's stored seeded hasher must
    /// change nothing, however many lookups came before.
    @Test func hashIsAFreshHashersHash() {
        var t = ByteTable<Int>(slots: 8)
        defer { t.release() }
        for key in [bytes(""), bytes("ch"), bytes("a longer channel name, past one word")] {
            var h = Hasher()
            key.withUnsafeBytes { h.combine(bytes: $0) }
            let fresh = h.finalize()
            #expect(key.withUnsafeBytes { t.hash($0) } == fresh)
            t.updateValue(1, forKey: key)
            _ = t[key]
            #expect(key.withUnsafeBytes { t.hash($0) } == fresh)
        }
    }

    /// Keys and values share one slot array: each value sits after its key
    /// at an offset and stride computed from both types. Values narrower,
    /// wider and more aligned than a key must each be aligned and must not
    /// overlap the next slot's key: insert, grow, remove and read back.
    @Test func slotsKeepKeysAndValuesApartAndAligned() {
        func check<V: Equatable>(_ make: (Int) -> V) {
            var t = ByteTable<V>(slots: 2)
            defer { t.release() }
            for n in 0..<200 { t.updateValue(make(n), forKey: bytes("v\(n)")) }  // grows 7 times
            for n in stride(from: 0, to: 200, by: 4) { #expect(t.removeValue(forKey: bytes("v\(n)")) == make(n)) }
            for n in 0..<200 { #expect(t[bytes("v\(n)")] == (n % 4 == 0 ? nil : make(n))) }
            for i in 0...t.mask where t.key(i).pointee.bytes != nil {
                #expect(Int(bitPattern: t.value(i)) % MemoryLayout<V>.alignment == 0)
                #expect(Int(bitPattern: t.key(i)) % MemoryLayout<ByteTable<V>.Key>.alignment == 0)
            }
            #expect(occupiedSlots(t) == 150)
        }
        struct Wide: Equatable { var a, b, c, d, e, f, g, h: Int }
        check { UInt8(truncatingIfNeeded: $0) }
        check { $0 }
        check { SIMD4<Float>(Float($0), 1, 2, 3) }  // 16-byte aligned
        check { Wide(a: $0, b: -$0, c: 3, d: 4, e: 5, f: 6, g: 7, h: $0 &* 7) }
        check { [$0, $0 &+ 1] }  // a reference-counted value
    }
}
