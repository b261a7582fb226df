/// The arguments of one parsed command: slices of the connection's read
/// buffer, never copied. Valid only until the buffer is next modified
/// (the command handler must copy what it keeps).
public struct Arguments {
    @usableFromInline let base: UnsafeMutablePointer<UInt8>
    @usableFromInline let slots: UnsafePointer<Int>
    public let count: Int

    @inlinable
    public init(base: UnsafeMutablePointer<UInt8>, slots: UnsafePointer<Int>, count: Int) {
        self.base = base
        self.slots = slots
        self.count = count
    }

    /// The arguments from `first` on, as a list of their own (ACL DRYRUN's command).
    @inlinable
    public func dropping(_ first: Int) -> Arguments {
        Arguments(base: base, slots: slots + first &* 2, count: count - first)
    }

    /// Pointer to the first byte of argument `i`.
    @inlinable @inline(__always)
    public func pointer(_ i: Int) -> UnsafeMutablePointer<UInt8> { base + slots[i &* 2] }

    /// Length in bytes of argument `i`.
    @inlinable @inline(__always)
    public func length(_ i: Int) -> Int { slots[i &* 2 &+ 1] }

    /// Argument `i` as a buffer pointer.
    @inlinable @inline(__always)
    public func buffer(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pointer(i), count: length(i))
    }

    /// A copy of argument `i`.
    public func bytes(_ i: Int) -> [UInt8] { Array(buffer(i)) }

    /// Argument `i` decoded as UTF-8 (invalid sequences repaired): for cold paths.
    public func string(_ i: Int) -> String { String(decoding: buffer(i), as: UTF8.self) }

    /// Argument `i` as a base-10 integer in Redis's strict syntax, or nil.
    @inlinable
    public func integer(_ i: Int) -> Int? { Decimal.parse(pointer(i), length(i)) }
}

import VimanaCore
