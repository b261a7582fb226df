import VimanaCore

/// Topics as Redis keys (KEYS, SCAN, DBSIZE, RANDOMKEY, MEMORY USAGE):
/// the streams of `topicNames`, by their position there. That list only
/// grows (a topic keeps its position for the ledger's life), so a SCAN
/// cursor that is a position returns every key present for the whole
/// iteration.
extension Ledger {
    /// Whether the topic at position `i` of `topicNames` is a key the
    /// keyspace commands list: its stream exists (`StreamState.exists`) and
    /// it is not one of the server's own topics (`internalTopicPrefix`),
    /// which no listing shows (an admin may still name one).
    public func isListedKey(at i: Int) -> Bool {
        guard i >= 0, i < streams.count, streams[i].exists else { return false }
        return !topicNames[i].starts(with: Self.internalTopicPrefix)
    }

    /// MEMORY USAGE: the bytes `topic` takes on disk, its share of each
    /// segment file (records are compressed together, so a file's size is
    /// shared by its topics in proportion to their records), and in memory
    /// (its records in the batches the ledger still holds, written or not).
    /// nil when `topic` is not a stream.
    public func usage(of topic: [UInt8]) -> (disk: Int, memory: Int)? {
        guard let state = stream(topic), state.exists else { return nil }
        var disk = 0
        for view in segments {
            let records = view.index.recordCount
            guard records > 0, let stats = view.index.topics[topic] else { continue }
            // size × count / records, without overflow: count ≤ records.
            let (high, low) = UInt64(max(view.size, 0)).multipliedFullWidth(by: min(stats.count, records))
            let share = records.dividingFullWidth((high, low)).quotient
            disk = disk.addingSaturating(Int(clamping: share))
        }
        var memory = 0
        topic.withUnsafeBytes { raw in
            for batch in tail.live { memory = memory.addingSaturating(batch.bytes(on: raw)) }
            if let current { memory = memory.addingSaturating(current.bytes(on: raw)) }
        }
        return (disk, memory)
    }
}

extension Batch {
    /// The bytes of this batch's records on `topic`, read in place.
    func bytes(on topic: UnsafeRawBufferPointer) -> Int {
        var total = 0
        var sequence = firstSequence
        while sequence < nextSequence {
            if id(sequence, on: topic) != nil {
                let i = Int(sequence - firstSequence)
                let end = i + 1 < offsets.count ? offsets[i + 1] : bytes.writeIndex
                total &+= end - offsets[i]
            }
            sequence += 1
        }
        return total
    }
}
