import VimanaRESP

/// One master with its replicas and the slots it serves.
public struct ClusterShard: Sendable, Equatable {
    public var master: ClusterNode
    public var replicas: [ClusterNode]
    /// Disjoint, ascending.
    public var slots: [ClosedRange<Int>]

    public init(master: ClusterNode, replicas: [ClusterNode], slots: [ClosedRange<Int>]) {
        self.master = master
        self.replicas = replicas
        self.slots = slots
    }
}

/// Which master serves each of the 16384 slots, as one node described the
/// cluster (CLUSTER SHARDS or CLUSTER SLOTS), patched by MOVED replies since.
///
/// Promises: built only from a reply whose every number was range-checked
/// (slots 0…16383, ports 1…65535) and whose shape is Redis's; anything else
/// is a `ClusterError.protocolError`, never a trap. A slot no master claims
/// has no owner (`master(forSlot:)` is nil).
public struct SlotMap: Sendable, Equatable {
    /// Masters, each once, in the order first seen; `replicas` parallel to it.
    private var masterNodes: [ClusterNode] = []
    private var replicaNodes: [[ClusterNode]] = []
    /// Per slot, an index into `masterNodes`, or -1.
    private var owner = [Int16](repeating: -1, count: HashSlot.count)

    public init() {}

    /// The master serving `slot`, nil when none does (or the slot is out of range).
    public func master(forSlot slot: Int) -> ClusterNode? {
        guard slot >= 0 && slot < HashSlot.count else { return nil }
        let i = Int(owner[slot])
        return i < 0 ? nil : masterNodes[i]
    }

    /// How many slots have a master.
    public var servedSlots: Int { owner.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// The shards that serve at least one slot, in the order of their first slot.
    public var shards: [ClusterShard] {
        var ranges = [[ClosedRange<Int>]](repeating: [], count: masterNodes.count)
        var slot = 0
        while slot < HashSlot.count {
            let i = Int(owner[slot])
            var end = slot
            while end + 1 < HashSlot.count && owner[end + 1] == owner[slot] { end += 1 }
            if i >= 0 { ranges[i].append(slot...end) }
            slot = end + 1
        }
        return masterNodes.indices.filter { !ranges[$0].isEmpty }
            .sorted { ranges[$0][0].lowerBound < ranges[$1][0].lowerBound }
            .map { ClusterShard(master: masterNodes[$0], replicas: replicaNodes[$0], slots: ranges[$0]) }
    }

    /// Every node the map knows: masters first, then replicas, each once.
    public var nodes: [ClusterNode] {
        var seen = Set<ClusterNode>()
        return (masterNodes + replicaNodes.flatMap { $0 }).filter { seen.insert($0).inserted }
    }

    /// Records that `node` serves `slot` (a MOVED reply said so).
    public mutating func assign(slot: Int, to node: ClusterNode) {
        guard slot >= 0 && slot < HashSlot.count else { return }
        owner[slot] = Int16(index(of: node))
    }

    /// The index of `master`, added when new.
    private mutating func index(of master: ClusterNode) -> Int {
        if let i = masterNodes.firstIndex(of: master) { return i }
        masterNodes.append(master)
        replicaNodes.append([])
        return masterNodes.count - 1
    }

    /// Adds a shard; a slot claimed twice is a malformed reply.
    private mutating func add(master: ClusterNode, replicas: [ClusterNode], slots: [ClosedRange<Int>]) throws(ClusterError) {
        let i = index(of: master)
        for r in replicas where !replicaNodes[i].contains(r) && r != master { replicaNodes[i].append(r) }
        for range in slots {
            for slot in range {
                guard owner[slot] < 0 || Int(owner[slot]) == i else {
                    throw .protocolError("slot \(slot) claimed by both \(masterNodes[Int(owner[slot])]) and \(master)")
                }
                owner[slot] = Int16(i)
            }
        }
    }
}

// MARK: - Parsing CLUSTER SHARDS and CLUSTER SLOTS

extension SlotMap {
    /// The map from a CLUSTER SHARDS reply (Redis 7.0+; RESP2 flat lists or
    /// RESP3 maps). Each shard is `slots` (pairs of integers, start and end)
    /// and `nodes` (each with `ip`, `endpoint`, `port`, `role` …); its
    /// master is the node whose role is `master`. A node's address is its
    /// `endpoint`, else its `ip`; when both are empty or `?` (unknown), it
    /// is `askedHost`, the host the reply came from, as Redis documents.
    /// Shards without slots are left out.
    public static func fromShards(_ reply: RESPValue, askedHost: String) throws(ClusterError) -> SlotMap {
        guard let list = reply.elements else { throw .protocolError("CLUSTER SHARDS: not an array: \(kind(reply))") }
        guard list.count <= ClusterLimits.maxNodes else { throw .protocolError("CLUSTER SHARDS: \(list.count) shards") }
        var map = SlotMap()
        for (n, shard) in list.enumerated() {
            let what = "CLUSTER SHARDS: shard \(n + 1)"
            let fields = try fieldList(shard, what)
            guard let slotsValue = fields.first(where: { $0.0 == "slots" })?.1,
                  let nodesValue = fields.first(where: { $0.0 == "nodes" })?.1 else {
                throw .protocolError("\(what): no slots or no nodes")
            }
            let slots = try slotPairs(slotsValue, what)
            guard let nodeList = nodesValue.elements, nodeList.count <= ClusterLimits.maxNodes else {
                throw .protocolError("\(what): nodes is not an array")
            }
            var master: ClusterNode?
            var replicas: [ClusterNode] = []
            for (k, nodeValue) in nodeList.enumerated() {
                let (node, role) = try shardNode(nodeValue, askedHost: askedHost, "\(what), node \(k + 1)")
                if role == "master" && master == nil { master = node } else { replicas.append(node) }
            }
            if slots.isEmpty { continue }
            guard let master else { throw .protocolError("\(what): slots but no master") }
            try map.add(master: master, replicas: replicas, slots: slots)
        }
        return map
    }

    /// The map from a CLUSTER SLOTS reply: entries `[start, end, master,
    /// replica…]`, each node `[host, port, id?, metadata?]`. An empty, null
    /// or `?` host means `askedHost`.
    public static func fromSlots(_ reply: RESPValue, askedHost: String) throws(ClusterError) -> SlotMap {
        guard let list = reply.elements else { throw .protocolError("CLUSTER SLOTS: not an array: \(kind(reply))") }
        guard list.count <= ClusterLimits.maxRanges else { throw .protocolError("CLUSTER SLOTS: \(list.count) ranges") }
        var map = SlotMap()
        for (n, entry) in list.enumerated() {
            let what = "CLUSTER SLOTS: entry \(n + 1)"
            guard let items = entry.elements, items.count >= 3, items.count <= ClusterLimits.maxNodes else {
                throw .protocolError("\(what): not [start, end, master, replicas…]")
            }
            let range = try slotRange(items[0], items[1], what)
            var nodes: [ClusterNode] = []
            for (k, item) in items.dropFirst(2).enumerated() {
                let where_ = "\(what), node \(k + 1)"
                guard let parts = item.elements, parts.count >= 2 else { throw .protocolError("\(where_): not [host, port, …]") }
                let host = try hostText(parts[0], where_) ?? askedHost
                guard let port = parts[1].integer, (1...65535).contains(port) else {
                    throw .protocolError("\(where_): port \(parts[1]) is not 1…65535")
                }
                nodes.append(ClusterNode(host: host, port: port))
            }
            try map.add(master: nodes[0], replicas: Array(nodes.dropFirst()), slots: [range])
        }
        return map
    }

    // MARK: Pieces

    /// Name/value pairs of a RESP3 map or a RESP2 flat list; names are strings.
    static func fieldList(_ value: RESPValue, _ what: String) throws(ClusterError) -> [(String, RESPValue)] {
        var pairs: [(RESPValue, RESPValue)] = []
        switch value {
        case .map(let p):
            pairs = p
        case .array(let items) where items.count % 2 == 0:
            var i = 0
            while i < items.count {
                pairs.append((items[i], items[i + 1]))
                i += 2
            }
        default:
            throw .protocolError("\(what): not a map or a list of name/value pairs: \(kind(value))")
        }
        var out: [(String, RESPValue)] = []
        for (name, v) in pairs {
            guard let b = name.bytes else { throw .protocolError("\(what): a field name that is not a string") }
            out.append((String(decoding: b, as: UTF8.self), v))
        }
        return out
    }

    /// A shard's `slots`: an even list of integers, start and end of each range.
    static func slotPairs(_ value: RESPValue, _ what: String) throws(ClusterError) -> [ClosedRange<Int>] {
        guard let items = value.elements, items.count % 2 == 0, items.count <= 2 * ClusterLimits.maxRanges else {
            throw .protocolError("\(what): slots is not a list of start/end pairs")
        }
        var out: [ClosedRange<Int>] = []
        var i = 0
        while i < items.count {
            out.append(try slotRange(items[i], items[i + 1], what))
            i += 2
        }
        return out
    }

    static func slotRange(_ a: RESPValue, _ b: RESPValue, _ what: String) throws(ClusterError) -> ClosedRange<Int> {
        guard let start = a.integer, let end = b.integer,
              start >= 0, end < HashSlot.count, start <= end else {
            throw .protocolError("\(what): slot range \(a)…\(b) is not within 0…16383")
        }
        return start...end
    }

    /// A CLUSTER SHARDS node: its address and role.
    static func shardNode(_ value: RESPValue, askedHost: String, _ what: String) throws(ClusterError) -> (ClusterNode, String) {
        let fields = try fieldList(value, what)
        func field(_ name: String) -> RESPValue? { fields.first { $0.0 == name }?.1 }
        guard let portValue = field("port"), let port = portValue.integer, (1...65535).contains(port) else {
            throw .protocolError("\(what): port \(field("port").map { "\($0)" } ?? "missing") is not 1…65535")
        }
        let endpoint = try field("endpoint").flatMap { v throws(ClusterError) in try hostText(v, what) }
        let ip = try field("ip").flatMap { v throws(ClusterError) in try hostText(v, what) }
        guard let roleValue = field("role"), let role = roleValue.bytes else { throw .protocolError("\(what): no role") }
        return (ClusterNode(host: endpoint ?? ip ?? askedHost, port: port), String(decoding: role, as: UTF8.self))
    }

    /// A host from a reply; nil when unknown (null, empty or `?`). Bounded
    /// in length and free of spaces and control bytes.
    static func hostText(_ value: RESPValue, _ what: String) throws(ClusterError) -> String? {
        if case .null = value { return nil }
        guard let b = value.bytes else { throw .protocolError("\(what): host is not a string") }
        if b.isEmpty || b == [UInt8(ascii: "?")] { return nil }
        guard b.count <= ClusterLimits.maxHostLength, b.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw .protocolError("\(what): host \(RESPValue.quoted(Array(b.prefix(ClusterLimits.maxHostLength)))) is not a host name")
        }
        return String(decoding: b, as: UTF8.self)
    }

    static func kind(_ v: RESPValue) -> String {
        if case .error(let e) = v { return "error reply \(e)" }
        let text = v.description
        return text.count > 80 ? String(text.prefix(80)) + "…" : text
    }
}
