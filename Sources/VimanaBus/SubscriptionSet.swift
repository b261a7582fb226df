/// One connection's own channels (or patterns), in subscription order,
/// with membership, insertion and removal by name in O(1).
///
/// Why not an array: UNSUBSCRIBE by name searched and shifted it, so
/// dropping 100,000 of a connection's 1,000,000 channels took 20 s of the
/// one loop thread (issue 9). Redis keeps a dict per client.
///
/// Promises: `elements` and `removeAll` give the names in the order they
/// were first inserted (UNSUBSCRIBE with no argument replies in that order);
/// a removed name leaves a hole that is compacted once holes are half the
/// storage, so memory stays within twice the live names.
public struct SubscriptionSet: Sequence {
    /// Names in insertion order; nil where one was removed.
    private var names: [[UInt8]?] = []
    /// Name → its index in `names`.
    private var positions: [[UInt8]: Int] = [:]

    public init() {}

    public var count: Int { positions.count }
    public var isEmpty: Bool { positions.isEmpty }

    public func contains(_ name: [UInt8]) -> Bool { positions[name] != nil }

    /// Adds `name`; false when it was there already.
    @discardableResult
    public mutating func insert(_ name: [UInt8]) -> Bool {
        guard positions[name] == nil else { return false }
        positions[name] = names.count
        names.append(name)
        return true
    }

    /// Removes `name`; false when it was not there.
    @discardableResult
    public mutating func remove(_ name: [UInt8]) -> Bool {
        guard let i = positions.removeValue(forKey: name) else { return false }
        names[i] = nil
        if positions.isEmpty {
            names.removeAll()
        } else if positions.count * 2 < names.count {
            compact()
        }
        return true
    }

    /// The names, in subscription order.
    public var elements: [[UInt8]] { names.compactMap { $0 } }

    public struct Iterator: IteratorProtocol {
        var names: IndexingIterator<[[UInt8]?]>
        public mutating func next() -> [UInt8]? {
            while let slot = names.next() { if let name = slot { return name } }
            return nil
        }
    }

    /// The names, in subscription order.
    public func makeIterator() -> Iterator { Iterator(names: names.makeIterator()) }

    /// Empties the set and returns what it held, in subscription order.
    public mutating func removeAll() -> [[UInt8]] {
        let all = elements
        names.removeAll()
        positions.removeAll()
        return all
    }

    private mutating func compact() {
        var kept: [[UInt8]?] = []
        kept.reserveCapacity(positions.count)
        for case let name? in names {
            positions[name] = kept.count
            kept.append(name)
        }
        names = kept
    }
}
