/// Immutable bytes shared by many output queues: a large published message
/// is encoded once and referenced by every subscriber's queue instead of
/// being copied into each (freed when the last subscriber has written it).
public final class SharedBytes: @unchecked Sendable {
    public let base: UnsafeMutablePointer<UInt8>
    public let count: Int

    /// Takes `count` bytes from `source` (copied once).
    public init(copying source: UnsafeRawPointer, count: Int) {
        base = .allocate(capacity: max(count, 1))
        base.update(from: source.assumingMemoryBound(to: UInt8.self), count: count)
        self.count = count
    }

    deinit { base.deallocate() }
}
