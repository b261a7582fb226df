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
///   copy (and, past the load factor, the doubled slot arrays).
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
    }

    @usableFromInline var keys: UnsafeMutablePointer<Key>
    /// `values[i]` is initialized exactly where `keys[i].bytes` is not nil.
    @usableFromInline var values: UnsafeMutablePointer<Value>
    /// Slots - 1 (slots are a power of two).
    @usableFromInline var mask: Int
    @usableFromInline var occupied = 0

    /// An empty table of `slots` slots (rounded up to a power of two, at
    /// least 2); it holds half as many keys before it doubles.
    @inlinable
    public init(slots: Int) {
        var n = 2
        while n < slots { n &*= 2 }
        mask = n &- 1
        keys = .allocate(capacity: n)
        keys.initialize(repeating: Key(hash: 0, bytes: nil, length: 0), count: n)
        values = .allocate(capacity: n)
    }

    /// Number of keys.
    @inlinable public var count: Int { occupied }
    @inlinable public var isEmpty: Bool { occupied == 0 }

    // MARK: - Lookup

    @inlinable @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> Int {
        var h = Hasher()
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
        while let stored = keys[i].bytes {
            if keys[i].hash == h && keys[i].length == key.count && Self.equal(stored, key) { return Index(i) }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// Where `key` is, or nil.
    @inlinable @inline(__always)
    public func index(forKey key: UnsafeRawBufferPointer) -> Index? {
        find(key, hash: Self.hash(key))
    }

    /// `key`'s value, or nil.
    @inlinable
    public subscript(key: UnsafeRawBufferPointer) -> Value? {
        index(forKey: key).map { values[$0.slot] }
    }

    /// `key`'s value, or nil (for cold paths and tests).
    @inlinable
    public subscript(key: [UInt8]) -> Value? {
        key.withUnsafeBytes { self[$0] }
    }

    /// The value at `index`, read and modified in place.
    @inlinable
    public subscript(index: Index) -> Value {
        unsafeAddress { UnsafePointer(values + index.slot) }
        unsafeMutableAddress { values + index.slot }
    }

    /// The key at `index`: the table's own bytes, valid while the key is in
    /// the table.
    @inlinable
    public func key(at index: Index) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keys[index.slot].bytes, count: keys[index.slot].length)
    }

    // MARK: - Insert and remove

    /// Where `key` is, inserting it first with the value `make()` when it is
    /// not there; `inserted` says which.
    @inlinable
    public mutating func findOrInsert(_ key: UnsafeRawBufferPointer,
                                      _ make: () -> Value) -> (index: Index, inserted: Bool) {
        let h = Self.hash(key)
        if let i = find(key, hash: h) { return (i, false) }
        if (occupied &+ 1) &* 2 > mask &+ 1 { grow() }
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(key.count, 1))
        if let base = key.baseAddress { UnsafeMutableRawPointer(bytes).copyMemory(from: base, byteCount: key.count) }
        let i = place(Key(hash: h, bytes: bytes, length: key.count))
        (values + i).initialize(to: make())
        occupied &+= 1
        return (Index(i), true)
    }

    /// Sets `key`'s value; returns the value it replaced, or nil when the key is new.
    @inlinable @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: UnsafeRawBufferPointer) -> Value? {
        let (i, inserted) = findOrInsert(key) { value }
        if inserted { return nil }
        let old = (values + i.slot).move()
        (values + i.slot).initialize(to: value)
        return old
    }

    @inlinable @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: [UInt8]) -> Value? {
        key.withUnsafeBytes { updateValue(value, forKey: $0) }
    }

    /// Removes the key at `index` and returns its value. Every other index
    /// is invalid afterwards.
    @inlinable @discardableResult
    public mutating func remove(at index: Index) -> Value {
        let value = (values + index.slot).move()
        keys[index.slot].bytes?.deallocate()
        keys[index.slot].bytes = nil
        occupied &-= 1
        // Backward shift: pull the later keys of the same probe run into the
        // hole, each that may sit there (its home is not cyclically in (hole, i]).
        var hole = index.slot
        var i = (hole &+ 1) & mask
        while keys[i].bytes != nil {
            let home = keys[i].hash & mask
            if (i &- home) & mask >= (i &- hole) & mask {
                keys[hole] = keys[i]
                (values + hole).moveInitialize(from: values + i, count: 1)
                keys[i].bytes = nil
                hole = i
            }
            i = (i &+ 1) & mask
        }
        return value
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
            if let bytes = keys[i].bytes {
                body(&values[i])
                (values + i).deinitialize(count: 1)
                bytes.deallocate()
            }
            i &+= 1
        }
        keys.deinitialize(count: mask &+ 1)
        keys.deallocate()
        values.deallocate()
        occupied = 0
    }

    // MARK: - Storage

    /// Puts `key` in the first free slot of its probe run; returns the slot.
    @inlinable
    mutating func place(_ key: Key) -> Int {
        var i = key.hash & mask
        while keys[i].bytes != nil { i = (i &+ 1) & mask }
        keys[i] = key
        return i
    }

    @usableFromInline
    mutating func grow() {
        let oldKeys = keys, oldValues = values, oldSlots = mask &+ 1
        let slots = oldSlots &* 2
        mask = slots &- 1
        keys = .allocate(capacity: slots)
        keys.initialize(repeating: Key(hash: 0, bytes: nil, length: 0), count: slots)
        values = .allocate(capacity: slots)
        for i in 0..<oldSlots where oldKeys[i].bytes != nil {
            let j = place(oldKeys[i])
            (values + j).moveInitialize(from: oldValues + i, count: 1)
        }
        oldKeys.deinitialize(count: oldSlots)
        oldKeys.deallocate()
        oldValues.deallocate()
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
                if let bytes = table.keys[i].bytes {
                    return (UnsafeRawBufferPointer(start: bytes, count: table.keys[i].length), table.values[i])
                }
            }
            return nil
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(self) }
    @inlinable public var underestimatedCount: Int { occupied }
}
