/// The applied requests an agent still remembers, by key (caller, newline,
/// the request id's JSON text), each with a value (the kit keeps the entry
/// ID of its reply, and separately the latest replies themselves):
/// the latest `count` of them, and of those only as many as hold `bytes` of
/// key and value text together (at least the latest one). Older ones are
/// forgotten in the order they were remembered, so every instance that
/// remembers the same sequence forgets the same ones (Protocol/AGENTS.md
/// §10, the duplicate window).
///
/// The window over a suffix of the sequence is a subset of the window over
/// the whole: a reader that starts in the middle of an agent's events
/// (auditor) never counts as remembered a request the agent had forgotten.
public struct DuplicateWindow<Value: DuplicateWindowValue>: Sendable {
    /// By the key's bytes: Swift's `String` equality is canonical
    /// equivalence, under which "é" and "e\u{301}" (two ids) would be one key.
    private var stored: [[UInt8]: Value] = [:]
    /// The keys of `stored`, oldest first (from `head` on).
    private var order: [[UInt8]] = []
    private var head = 0
    /// Bytes of the keys and values held.
    public private(set) var bytes = 0
    public let count: Int
    public let byteLimit: Int

    public init(count: Int = AgentKitLimits.appliedKept, bytes: Int = AgentKitLimits.appliedBytes) {
        self.count = max(1, count)
        byteLimit = max(1, bytes)
    }

    public subscript(key: String) -> Value? { stored[Array(key.utf8)] }

    /// How many keys are held.
    public var held: Int { stored.count }

    /// The keys held, oldest first, each with its value.
    public var entries: [(key: String, value: Value)] {
        order[head...].compactMap { k in stored[k].map { (String(decoding: k, as: UTF8.self), $0) } }
    }

    /// Remembers `key` (again: its value replaced, its place kept), then
    /// forgets the oldest beyond the window.
    public mutating func remember(_ key: String, _ value: Value) {
        let k = Array(key.utf8)
        if let old = stored.updateValue(value, forKey: k) {
            bytes -= k.count + old.windowBytes
        } else {
            order.append(k)
        }
        bytes += k.count + value.windowBytes
        while stored.count > count || (bytes > byteLimit && stored.count > 1) {
            let oldest = order[head]
            head += 1
            if let v = stored.removeValue(forKey: oldest) { bytes -= oldest.count + v.windowBytes }
        }
        if head >= 1024 && head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

/// What a `DuplicateWindow` holds for a key, and the bytes it counts for it.
public protocol DuplicateWindowValue: Sendable {
    var windowBytes: Int { get }
}

extension String: DuplicateWindowValue {
    public var windowBytes: Int { utf8.count }
}
