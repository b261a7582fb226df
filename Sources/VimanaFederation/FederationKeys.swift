import VimanaCore
import VimanaLedger
import VimanaConfig

/// The names federation uses in the cluster (Protocol/FEDERATION.md §1):
/// written once here, for the mirror, the reader and the tests.
public struct FederationKeys: Sendable {
    public let prefix: [UInt8]

    public init(prefix: String) { self.prefix = Array(prefix.utf8) }

    /// `P:{T}`: the topic's stream.
    public func stream(_ topic: [UInt8]) -> [UInt8] { prefix + Array(":{".utf8) + topic + [UInt8(ascii: "}")] }

    /// `P:{T}:origins`: each origin's high mark for the topic.
    public func origins(_ topic: [UInt8]) -> [UInt8] { stream(topic) + Array(":origins".utf8) }

    /// `P:topics`: every federated topic that has entries.
    public var topics: [UInt8] { prefix + Array(":topics".utf8) }

    /// `P:nodes`: each node id and the identity of the ledger that federates under it.
    public var nodes: [UInt8] { prefix + Array(":nodes".utf8) }

    /// `P:doorbell`: the channel a mirror publishes a topic's name on after appending to it.
    public var doorbell: [UInt8] { prefix + Array(":doorbell".utf8) }
}

/// Which topics are federated: those matching one of `federation.topics`,
/// never the server's own, nor one whose keys would have no hash tag
/// (Protocol/FEDERATION.md, words and §1).
public struct FederatedTopics: Sendable {
    private let patterns: [[UInt8]]

    public init(_ patterns: [String]) { self.patterns = patterns.map { Array($0.utf8) } }

    public func contains(_ topic: [UInt8]) -> Bool {
        if topic.starts(with: Ledger.internalTopicPrefix) { return false }
        // Empty, or `}` first: the tag of `P:{T}` would be empty, so Redis would
        // hash `P:{T}` and `P:{T}:origins` whole, to different slots, and
        // refuse every script call for the topic (CROSSSLOT) for ever.
        if topic.first ?? UInt8(ascii: "}") == UInt8(ascii: "}") { return false }
        return patterns.contains { Glob.matches($0, topic) }
    }
}

/// One entry as it is kept in the cluster (Protocol/FEDERATION.md §2):
/// five positional fields, then the entry's own.
public struct FederatedEntry: Sendable, Equatable {
    public var origin: [UInt8]
    public var sequence: UInt64
    /// The entry's stream ID on its origin, `ms-seq`.
    public var originID: [UInt8]
    public var timestampMicros: Int64
    public var publisher: [UInt8]
    /// The entry's own fields, name then value, flattened.
    public var fields: [[UInt8]]

    public init(origin: [UInt8], sequence: UInt64, originID: [UInt8], timestampMicros: Int64,
                publisher: [UInt8], fields: [[UInt8]]) {
        self.origin = origin
        self.sequence = sequence
        self.originID = originID
        self.timestampMicros = timestampMicros
        self.publisher = publisher
        self.fields = fields
    }

    static let positional: [[UInt8]] = ["origin", "seq", "id", "ts", "publisher"].map { Array($0.utf8) }

    /// Decodes an XREAD entry's field list; nil for one that does not
    /// follow §2 (fewer than five pairs, the names not in place, an
    /// `origin` that is not a node id, a `seq` or `ts` that is not a decimal
    /// in range, an odd count). An empty origin above all: appended with
    /// it, the entry would be this kernel's own, and mirrored back.
    public static func decode(_ flat: [[UInt8]]) -> FederatedEntry? {
        guard flat.count >= 10, flat.count % 2 == 0 else { return nil }
        for (k, name) in positional.enumerated() where flat[2 * k] != name { return nil }
        guard isNodeID(flat[1]) else { return nil }
        guard let seq = parseUnsigned(flat[3]), seq > 0, let ts = parseUnsigned(flat[7]), ts <= UInt64(Int64.max) else {
            return nil
        }
        return FederatedEntry(origin: flat[1], sequence: seq, originID: flat[5], timestampMicros: Int64(ts),
                              publisher: flat[9], fields: Array(flat[10...]))
    }

    /// 1–64 bytes of `A–Z a–z 0–9 _ . -` (what `federation.node` may be).
    public static func isNodeID(_ bytes: [UInt8]) -> Bool {
        FederationConfig.nodeBytes.contains(bytes.count) && bytes.allSatisfy(FederationConfig.isNodeByte)
    }

    /// ASCII decimal without sign or leading zero, at most 2^64 − 1.
    public static func parseUnsigned(_ bytes: [UInt8]) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20, bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else { return nil }
        var v: UInt64 = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }
}

extension Array where Element == UInt8 {
    /// The decimal digits of `v`.
    static func decimal(_ v: UInt64) -> [UInt8] { Array(String(v).utf8) }
}
