import VimanaCore

/// Topic bytes → index of the topic's state in `Ledger.streams`: a
/// `ByteTable`, looked up in place from a request buffer (no array built
/// per message). Entries are never removed: a topic's stream state lives as
/// long as the ledger remembers it.
struct TopicMap {
    private var table = ByteTable<Int>(slots: LedgerLimits.initialTopicSlots)

    var count: Int { table.count }

    /// Frees the table; it must not be used afterwards.
    mutating func release() { table.release() }

    @inline(__always)
    func find(_ p: UnsafeRawPointer, _ n: Int) -> Int? {
        table[UnsafeRawBufferPointer(start: p, count: n)]
    }

    mutating func insert(_ p: UnsafeRawPointer, _ n: Int, value: Int) {
        table.updateValue(value, forKey: UnsafeRawBufferPointer(start: p, count: n))
    }
}
