import Synchronization
import VimanaLedger

/// Which entries of other kernels this kernel's ledger holds, and under
/// which local ID: the reader writes it (after the loop appended a batch,
/// and at start from its recovery), the task claimer reads it to turn a
/// task claimed in the cluster into the local entry an instance is given
/// (Protocol/FEDERATION.md §6).
///
/// Promises: `lookup` says `.notYet` only for an entry above the highest
/// sequence of its origin held for the topic; the IDs of the latest
/// `FederationLimits.indexedIDs` entries appended are kept, older ones are
/// answered `.held` (the loop then finds them in the ledger).
final class ImportIndex: Sendable {
    enum Lookup: Equatable {
        /// Held here under this local ID.
        case local(StreamID)
        /// Held here, its local ID no longer indexed.
        case held
        /// Not yet appended here.
        case notYet
    }

    private struct Key: Hashable {
        var topic: [UInt8]
        var origin: [UInt8]
        var sequence: UInt64
    }

    private struct State {
        /// topic → origin → the highest origin sequence held.
        var high: [[UInt8]: [[UInt8]: UInt64]] = [:]
        var ids: [Key: StreamID] = [:]
        /// `ids`' keys in the order they came, oldest first from `head`.
        var order: [Key] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = FederationLimits.indexedIDs) { self.capacity = max(1, capacity) }

    /// The ledger holds `origin`'s entries of `topic` up to `sequence` (recovery).
    func held(topic: [UInt8], origin: [UInt8], upTo sequence: UInt64) {
        state.withLock { s in
            if sequence > s.high[topic, default: [:]][origin, default: 0] { s.high[topic, default: [:]][origin] = sequence }
        }
    }

    /// The loop appended `entries` of `topic` under `ids` (same order).
    func appended(topic: [UInt8], entries: [FederatedEntry], ids: [StreamID]) {
        state.withLock { s in
            for (k, e) in entries.enumerated() where k < ids.count {
                add(&s, topic: topic, origin: e.origin, sequence: e.sequence, id: ids[k])
            }
        }
    }

    /// A record the ledger holds with an origin (read back at start).
    func found(topic: [UInt8], origin: [UInt8], sequence: UInt64, id: StreamID) {
        state.withLock { s in add(&s, topic: topic, origin: origin, sequence: sequence, id: id) }
    }

    private func add(_ s: inout State, topic: [UInt8], origin: [UInt8], sequence: UInt64, id: StreamID) {
        if sequence > s.high[topic, default: [:]][origin, default: 0] { s.high[topic, default: [:]][origin] = sequence }
        let key = Key(topic: topic, origin: origin, sequence: sequence)
        if s.ids.updateValue(id, forKey: key) == nil { s.order.append(key) }
        if s.order.count - s.head > capacity {
            while s.order.count - s.head > capacity {
                s.ids[s.order[s.head]] = nil
                s.head += 1
            }
            // Drop the forgotten keys' slots once they are half the array.
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    func lookup(topic: [UInt8], origin: [UInt8], sequence: UInt64) -> Lookup {
        state.withLock { s in
            if let id = s.ids[Key(topic: topic, origin: origin, sequence: sequence)] { return .local(id) }
            return sequence <= s.high[topic]?[origin] ?? 0 ? .held : .notYet
        }
    }
}
