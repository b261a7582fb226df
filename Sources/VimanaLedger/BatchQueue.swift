/// The loop's in-memory tail: batches in sequence order, appended at the end
/// and dropped from the front, both O(1) amortised; under a steady load the
/// loop does one of each per pass, so an array's `removeFirst` (a move of
/// every remaining batch) would cost in proportion to the tail's length.
struct BatchQueue {
    /// Dropped slots hold this, so their batches are freed at once.
    private static let dropped = Batch(firstSequence: 0)
    private var storage: [Batch] = []
    private var head = 0

    /// The batches held, oldest first; a view, not a copy.
    var live: ArraySlice<Batch> { storage[head...] }
    var first: Batch? { head < storage.count ? storage[head] : nil }

    mutating func append(_ batch: Batch) { storage.append(batch) }

    mutating func removeFirst() {
        guard head < storage.count else { return }
        storage[head] = Self.dropped
        head += 1
        // Compact once the dropped slots outnumber the live ones.
        if head >= LedgerLimits.tailQueueCompactAt && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }
}
