#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer in raw memory with separate read and write indices.
///
/// Promises: appends never move bytes already handed out *within the same call*;
/// `reserve` may move the storage, so callers re-read `base` after it. The buffer
/// owns its memory until `release()`; it is a plain struct so that it can live
/// inside other structs behind a pointer (no class, no exclusivity checks, no ARC
/// on the hot path). Copying the struct aliases the storage: exactly one copy may
/// call `release()`. It stays copyable (not `~Copyable` with a `deinit`)
/// because `OutputQueue` keeps buffers in an `Array` of segments, and Swift's
/// `Array` cannot hold `~Copyable` elements; its owners that are `~Copyable`
/// (`OutputQueue`, a connection's slot, the kernel's state) release it in
/// their `deinit`.
public struct ByteBuffer {
    public var base: UnsafeMutablePointer<UInt8>
    public var capacity: Int
    public var readIndex: Int
    public var writeIndex: Int

    public init(capacity: Int) {
        let cap = max(capacity, 16)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        self.capacity = cap
        readIndex = 0
        writeIndex = 0
    }

    /// Frees the storage. The buffer, and every copy of it, must not be used
    /// afterwards. Not `mutating`, so that a `deinit` (where `self` is
    /// immutable) can call it on a buffer its type owns.
    public func release() {
        base.deallocate()
    }

    /// Bytes written and not yet consumed.
    @inlinable @inline(__always)
    public var readableBytes: Int { writeIndex - readIndex }

    /// Free bytes after the write index.
    @inlinable @inline(__always)
    public var writableBytes: Int { capacity - writeIndex }

    @inlinable @inline(__always)
    public var readPointer: UnsafeMutablePointer<UInt8> { base + readIndex }

    @inlinable @inline(__always)
    public var writePointer: UnsafeMutablePointer<UInt8> { base + writeIndex }

    /// Makes room for at least `count` more bytes after the write index.
    @inlinable @inline(__always)
    public mutating func reserve(_ count: Int) {
        if capacity &- writeIndex < count { makeRoom(count) }
    }

    /// Compacts (moves unread bytes to the front) when that frees enough room,
    /// otherwise grows geometrically.
    @usableFromInline
    mutating func makeRoom(_ count: Int) {
        let unread = writeIndex - readIndex
        if readIndex > 0 && capacity - unread >= count && readIndex >= unread {
            // Cheap compaction: the unread part is small relative to what is freed.
            (base).update(from: base + readIndex, count: unread)
            readIndex = 0
            writeIndex = unread
            return
        }
        var newCapacity = max(capacity, 16)
        while newCapacity - unread < count { newCapacity &*= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        fresh.update(from: base + readIndex, count: unread)
        base.deallocate()
        base = fresh
        capacity = newCapacity
        readIndex = 0
        writeIndex = unread
    }

    /// Moves unread bytes to the front so the whole free space is after them.
    public mutating func compact() {
        guard readIndex > 0 else { return }
        let unread = writeIndex - readIndex
        if unread > 0 { base.update(from: base + readIndex, count: unread) }
        readIndex = 0
        writeIndex = unread
    }

    /// Marks `count` bytes as consumed; resets the indices when empty so the
    /// next appends start at the front without a move.
    @inlinable @inline(__always)
    public mutating func consume(_ count: Int) {
        readIndex &+= count
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    /// Drops all content.
    @inlinable @inline(__always)
    public mutating func clear() { readIndex = 0; writeIndex = 0 }

    /// Replaces storage larger than `limit` with a fresh `keep`-byte buffer when
    /// empty, so one burst does not pin memory for the life of a connection.
    public mutating func shrinkIfEmpty(above limit: Int, to keep: Int) {
        guard readableBytes == 0, capacity > limit else { return }
        base.deallocate()
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: keep)
        capacity = keep
        readIndex = 0
        writeIndex = 0
    }

    // MARK: - Appending

    @inlinable @inline(__always)
    public mutating func append(_ bytes: UnsafeRawPointer, _ count: Int) {
        reserve(count)
        (base + writeIndex).update(from: bytes.assumingMemoryBound(to: UInt8.self), count: count)
        writeIndex &+= count
    }

    @inlinable @inline(__always)
    public mutating func append(byte: UInt8) {
        reserve(1)
        base[writeIndex] = byte
        writeIndex &+= 1
    }

    @inlinable @inline(__always)
    public mutating func append(_ text: StaticString) {
        append(text.utf8Start, text.utf8CodeUnitCount)
    }

    public mutating func append(string: String) {
        var s = string
        s.withUTF8 { append($0.baseAddress ?? UnsafePointer(base), $0.count) }
    }

    public mutating func append(contentsOf bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0.baseAddress ?? UnsafePointer(base), $0.count) }
    }

    /// Appends the decimal digits of `value`, without allocating.
    @inlinable
    public mutating func appendDecimal(_ value: Int) {
        reserve(20)
        writeIndex &+= Decimal.format(value, into: base + writeIndex)
    }

    /// Appends `\r\n`.
    @inlinable @inline(__always)
    public mutating func appendCRLF() {
        reserve(2)
        base[writeIndex] = 13
        base[writeIndex &+ 1] = 10
        writeIndex &+= 2
    }

    /// The unread bytes as a new array (for tests and cold paths).
    public var unreadBytes: [UInt8] {
        Array(UnsafeBufferPointer(start: base + readIndex, count: readableBytes))
    }
}
