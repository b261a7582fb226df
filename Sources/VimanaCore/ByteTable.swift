/// Byte string → `Value`: an open-addressing hash table whose keys are
/// copies of bytes it owns, looked up in place from any buffer.
///
/// Why not `Dictionary<[UInt8], Value>`: a lookup from a request buffer
/// would first build an array, an allocation per message on the publish
/// path. Here a lookup hashes the bytes where they lie and compares them a
/// word at a time. Hashing is Swift's `Hasher` (SipHash with a per-process
/// random seed), so clients cannot choose keys that collide (no hash
/// flooding).
///
/// Promises:
/// - Lookups and removals allocate nothing; an insert allocates the key's
///   copy (and, past the load factor, the doubled slot array).
/// - Linear probing, load factor at most 1/2, backward-shift deletion (no
///   tombstones): after any removal every other key is still found, and
///   removals never leave dead slots for lookups to walk.
/// - Any byte string is a key, the empty one included.
/// - An `Index` is valid until the next insert or removal. Key bytes stay
///   where they are until their key is removed (growth moves slots, not
///   bytes), so `key(at:)` may be kept as long as the key is in the table.
/// - Iteration order is unspecified.
/// - Ownership: like `ByteBuffer`, a plain struct so that it can live inside
///   the kernel's state behind a pointer (no class, no ARC, no exclusivity
///   check on the publish path). Copying it aliases the storage: exactly one
///   copy calls `release()`, and no copy is used afterwards.
///
/// Layout: one array of slots, each a `Key` followed by its `Value` (see
/// `Layout`), so a hit computes one address and reads the key and its
/// value from adjacent memory (one cache line, or two for a slot that
/// straddles a line). With the keys and values in two arrays, a
/// PUBLISH cost 8 instructions more than with the per-use tables this
/// table replaced (docs/PERFORMANCE.md).
///
/// Everything is `@inlinable` so that each client module specializes the
/// table for its `Value` (a generic call through witness tables would cost
/// the publish path more than the lookup itself).
public struct ByteTable<Value> {
    /// Where a key sits; valid until the next insert or removal.
    public struct Index: Equatable, Sendable {
        @usableFromInline let slot: Int
        @inlinable init(_ slot: Int) { self.slot = slot }
    }

    @usableFromInline
    struct Key {
        @usableFromInline var hash: Int
        /// The key's bytes, owned by the table; nil: the slot is empty.
        @usableFromInline var bytes: UnsafeMutablePointer<UInt8>?
        @usableFromInline var length: Int

        @inlinable
        init(hash: Int, bytes: UnsafeMutablePointer<UInt8>?, length: Int) {
            self.hash = hash
            self.bytes = bytes
            self.length = length
        }

        @inlinable static var empty: Key { Key(hash: 0, bytes: nil, length: 0) }
    }

    /// Where a slot's parts sit in the slot array. Every slot's `Key` is
    /// initialized; its `Value`, at `valueOffset` after the key, exactly
    /// where the key's `bytes` is not nil. Constants of the specialization:
    /// they fold into the addressing of each access.
    @usableFromInline
    enum Layout {
        /// The first multiple of the value's alignment past the key.
        @inlinable static var valueOffset: Int {
            let align = MemoryLayout<Value>.alignment
            return (MemoryLayout<Key>.size &+ align &- 1) & ~(align &- 1)
        }

        @inlinable static var alignment: Int {
            Swift.max(MemoryLayout<Key>.alignment, MemoryLayout<Value>.alignment)
        }

        /// Bytes from one slot to the next: a multiple of both alignments, so
        /// every slot's key and value are aligned.
        @inlinable static var stride: Int {
            let align = alignment
            return (valueOffset &+ MemoryLayout<Value>.size &+ align &- 1) & ~(align &- 1)
        }
    }

    /// `mask + 1` slots of `Layout.stride` bytes.
    @usableFromInline var slots: UnsafeMutableRawPointer
    /// Slots - 1 (slots are a power of two).
    @usableFromInline var mask: Int
    @usableFromInline var occupied = 0
    /// A `Hasher` seeded and fed nothing: each lookup starts from a copy of
    /// it, which is cheaper than `Hasher()` (a call that reads the
    /// process's seed) and hashes exactly as a fresh one does.
    @usableFromInline let seeded = Hasher()

    /// An empty table of `slots` slots (rounded up to a power of two, at
    /// least 2); it holds half as many keys before it doubles.
    @inlinable
    public init(slots: Int) {
        var n = 2
        while n < slots { n &*= 2 }
        mask = n &- 1
        self.slots = Self.allocateSlots(n)
    }

    /// Number of keys.
    @inlinable public var count: Int { occupied }
    @inlinable public var isEmpty: Bool { occupied == 0 }

    // MARK: - Slots

    /// `n` empty slots: every key initialized empty, no value initialized.
    @inlinable
    static func allocateSlots(_ n: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: n * Layout.stride, alignment: Layout.alignment)
        var i = 0
        while i < n {
            (p + i &* Layout.stride).initializeMemory(as: Key.self, to: .empty)
            i &+= 1
        }
        return p
    }

    /// Slot `i`'s key. Unchecked arithmetic: `i <= mask`, and the array of
    /// `mask + 1` slots was allocated, so `i * stride` is within it.
    @inlinable @inline(__always)
    func key(_ i: Int) -> UnsafeMutablePointer<Key> {
        (slots + i &* Layout.stride).assumingMemoryBound(to: Key.self)
    }

    /// Slot `i`'s value (initialized exactly where the key's bytes are not
    /// nil); the arithmetic is unchecked for the reason given at `key(_:)`.
    @inlinable @inline(__always)
    func value(_ i: Int) -> UnsafeMutablePointer<Value> {
        (slots + (i &* Layout.stride &+ Layout.valueOffset)).assumingMemoryBound(to: Value.self)
    }

    // MARK: - Lookup

    @inlinable @inline(__always)
    func hash(_ key: UnsafeRawBufferPointer) -> Int {
        var h = seeded
        h.combine(bytes: key)
        return h.finalize()
    }

    /// Whether `stored` holds `key`'s bytes (their lengths are already equal).
    @inlinable @inline(__always)
    static func equal(_ stored: UnsafeMutablePointer<UInt8>, _ key: UnsafeRawBufferPointer) -> Bool {
        guard let b = key.baseAddress else { return true }  // length 0
        let a = UnsafeRawPointer(stored), n = key.count
        var i = 0
        while i &+ 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i &+= 8
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i &+= 1
        }
        return true
    }

    @inlinable @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash h: Int) -> Index? {
        var i = h & mask
        while true {
            let k = self.key(i)
            guard let stored = k.pointee.bytes else { return nil }
            if k.pointee.hash == h && k.pointee.length == key.count && Self.equal(stored, key) { return Index(i) }
            i = (i &+ 1) & mask
        }
    }

    /// Where `key` is, or nil.
    @inlinable @inline(__always)
    public func index(forKey key: UnsafeRawBufferPointer) -> Index? {
        find(key, hash: hash(key))
    }

    /// `key`'s value, or nil.
    @inlinable
    public subscript(key: UnsafeRawBufferPointer) -> Value? {
        index(forKey: key).map { value($0.slot).pointee }
    }

    /// `key`'s value, or nil (for cold paths and tests).
    @inlinable
    public subscript(key: [UInt8]) -> Value? {
        key.withUnsafeBytes { self[$0] }
    }

    /// The value at `index`, read and modified in place.
    @inlinable
    public subscript(index: Index) -> Value {
        unsafeAddress { UnsafePointer(value(index.slot)) }
        unsafeMutableAddress { value(index.slot) }
    }

    /// The key at `index`: the table's own bytes, valid while the key is in
    /// the table.
    @inlinable
    public func key(at index: Index) -> UnsafeRawBufferPointer {
        let k = key(index.slot)
        return UnsafeRawBufferPointer(start: k.pointee.bytes, count: k.pointee.length)
    }

    // MARK: - Insert and remove

    /// Where `key` is, inserting it first with the value `make()` when it is
    /// not there; `inserted` says which.
    @inlinable
    public mutating func findOrInsert(_ key: UnsafeRawBufferPointer,
                                      _ make: () -> Value) -> (index: Index, inserted: Bool) {
        findOrInsert(key, hash: hash(key), make)
    }

    /// `findOrInsert` with the key's hash given (tests give colliding ones).
    @inlinable
    mutating func findOrInsert(_ key: UnsafeRawBufferPointer, hash h: Int,
                               _ make: () -> Value) -> (index: Index, inserted: Bool) {
        if let i = find(key, hash: h) { return (i, false) }
        if (occupied &+ 1) &* 2 > mask &+ 1 { grow() }
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(key.count, 1))
        if let base = key.baseAddress { UnsafeMutableRawPointer(bytes).copyMemory(from: base, byteCount: key.count) }
        let i = place(Key(hash: h, bytes: bytes, length: key.count))
        (slots + (i &* Layout.stride &+ Layout.valueOffset)).initializeMemory(as: Value.self, to: make())
        occupied &+= 1
        return (Index(i), true)
    }

    /// Sets `key`'s value; returns the value it replaced, or nil when the key is new.
    @inlinable @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { updateValue(value, forKey: $0) }
    }

    /// Sets `key`'s value; returns the value it replaced, or nil when the key is new.
    @inlinable @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let (i, inserted) = findOrInsert(key) { value }
        if inserted { return nil }
        let old = self.value(i.slot).move()
        self.value(i.slot).initialize(to: value)
        return old
    }

    /// Removes the key at `index` and returns its value. Every other index
    /// is invalid afterwards.
    @inlinable @discardableResult
    public mutating func remove(at index: Index) -> Value {
        let removed = value(index.slot).move()
        key(index.slot).pointee.bytes?.deallocate()
        key(index.slot).pointee = .empty
        occupied &-= 1
        // Backward shift: pull the later keys of the same probe run into the
        // hole, each that may sit there (its home is not cyclically in (hole, i]).
        var hole = index.slot
        var i = (hole &+ 1) & mask
        while key(i).pointee.bytes != nil {
            let home = key(i).pointee.hash & mask
            if (i &- home) & mask >= (i &- hole) & mask {
                key(hole).pointee = key(i).pointee
                value(hole).moveInitialize(from: value(i), count: 1)
                key(i).pointee = .empty
                hole = i
            }
            i = (i &+ 1) & mask
        }
        return removed
    }

    /// Removes `key`; returns its value, or nil when it was not there.
    @inlinable @discardableResult
    public mutating func removeValue(forKey key: UnsafeRawBufferPointer) -> Value? {
        index(forKey: key).map { remove(at: $0) }
    }

    @inlinable @discardableResult
    public mutating func removeValue(forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { removeValue(forKey: $0) }
    }

    // MARK: - Release

    /// Hands each value to `body` (where a value that owns memory frees it),
    /// then frees the keys and the slots. The table must not be used afterwards.
    @inlinable
    public mutating func release(_ body: (inout Value) -> Void = { _ in }) {
        var i = 0
        while i <= mask {
            if let bytes = key(i).pointee.bytes {
                body(&value(i).pointee)
                value(i).deinitialize(count: 1)
                bytes.deallocate()
            }
            i &+= 1
        }
        slots.deallocate()
        occupied = 0
    }

    // MARK: - Storage

    /// Puts `key` in the first free slot of its probe run; returns the slot.
    @inlinable
    mutating func place(_ new: Key) -> Int {
        var i = new.hash & mask
        while key(i).pointee.bytes != nil { i = (i &+ 1) & mask }
        key(i).pointee = new
        return i
    }

    @usableFromInline
    mutating func grow() {
        let old = self, oldSlots = mask &+ 1
        let n = oldSlots * 2
        slots = Self.allocateSlots(n)
        mask = n &- 1
        for i in 0..<oldSlots where old.key(i).pointee.bytes != nil {
            let j = place(old.key(i).pointee)
            // Fresh memory, never bound to `Value`: moved in through the raw pointer.
            (slots + (j &* Layout.stride &+ Layout.valueOffset)).moveInitializeMemory(as: Value.self, from: old.value(i), count: 1)
        }
        old.slots.deallocate()
    }
}

/// Iteration: each key (the table's own bytes) with its value.
extension ByteTable: Sequence {
    public typealias Element = (key: UnsafeRawBufferPointer, value: Value)

    /// Walks the slots; the table must not change during the walk.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let table: ByteTable
        @usableFromInline var slot = 0

        @inlinable init(_ table: ByteTable) { self.table = table }

        @inlinable
        public mutating func next() -> Element? {
            while slot <= table.mask {
                let i = slot
                slot &+= 1
                let k = table.key(i)
                if let bytes = k.pointee.bytes {
                    return (UnsafeRawBufferPointer(start: bytes, count: k.pointee.length), table.value(i).pointee)
                }
            }
            return nil
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(self) }
    @inlinable public var underestimatedCount: Int { occupied }
}
