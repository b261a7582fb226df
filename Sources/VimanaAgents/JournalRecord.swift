import VimanaLedger

/// One change to a consumer group as the journal (`_vimana.groups`) records
/// it: the fields `op`, `topic`, `group`, then `consumer`, `id`, a count
/// (`deliveries` or `entries-read`) and `ids` (space-separated, for the
/// batched `delivered` and `acked`) when the change has them (AGENTS.md §2).
/// Built per delivery and acknowledgement, so it holds references and
/// numbers, never formatted text: GroupJournal encodes it straight into the
/// ledger.
public struct JournalRecord {
    public var op: StaticString
    public var topic: [UInt8]
    public var group: [UInt8]
    public var consumer: [UInt8]?
    public var id: StreamID?
    public var countName: StaticString?
    public var count: Int64
    public var ids: [StreamID]?
    /// With `ids`, in a snapshot: each one's delivery count (field `counts`).
    public var counts: [Int]?

    public init(op: StaticString, topic: [UInt8], group: [UInt8], consumer: [UInt8]? = nil, id: StreamID? = nil,
                countName: StaticString? = nil, count: Int64 = 0, ids: [StreamID]? = nil, counts: [Int]? = nil) {
        self.ids = ids
        self.counts = counts
        self.op = op
        self.topic = topic
        self.group = group
        self.consumer = consumer
        self.id = id
        self.countName = countName
        self.count = count
    }
}
