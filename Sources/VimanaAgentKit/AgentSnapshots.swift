import Foundation
import VimanaRESP

/// An agent's snapshots on `snapshots.<agent-id>` (Protocol/AGENTS.md §10,
/// "Snapshots"): the book (`AgentBook.snapshot()`) as text cut into
/// `part` entries, then one `snapshot` entry that names them and the last
/// entry of `events.<agent-id>` they account for (`upto`). A snapshot counts
/// only once its `snapshot` entry is written, and only entries the agent's
/// own user appended count (read with CLIENT PUBLISHER ON), so a crash while
/// writing one, or another user's XADD, changes nothing a start reads.
public enum AgentSnapshots {
    /// Sends one command and returns its reply (the caller's connection).
    public typealias Call = ([[UInt8]]) throws(AgentKitError) -> RESPValue

    /// A snapshot read back.
    public struct Loaded<Logic: AgentLogic> {
        public var book: AgentBook<Logic>
        /// The entry of `events.<agent-id>` the book accounts for: a start folds the entries after it.
        public var upto: String
        /// The snapshot's size (bytes of its text).
        public var bytes: Int
        /// When it was written (its `snapshot` entry's milliseconds).
        public var millis: Int64
    }

    /// Entries per XRANGE/XREVRANGE page while looking for a snapshot.
    static let page = 64

    // MARK: - Reading

    /// The latest complete snapshot of `settings.agentID` that this logic
    /// can read, as a book: the newest `snapshot` entry the agent's user
    /// appended, or when that one cannot be read (a part missing or
    /// refused, another format or version: each said in the log) the one
    /// before it, and so on; nil when none can be (the caller then folds
    /// every event). The connection must have CLIENT PUBLISHER ON. Throws
    /// only when the connection fails.
    public static func load<Logic: AgentLogic>(logic: Logic, settings: AgentSettings,
                                               call: Call) throws(AgentKitError) -> Loaded<Logic>? {
        let topic = settings.snapshotsTopic
        var end = "+"
        while true {
            let reply = try call(bytes(["XREVRANGE", topic, end, "-", "COUNT", String(page)]))
            if case .error(let m) = reply {
                note("snapshots: cannot read \(topic) (\(m)); folding every event")
                return nil
            }
            let entries = try parse(reply)
            var next = entries.count == page ? entries.last.map { "(" + $0.0 } : nil
            for (id, fields) in entries {
                guard let own = ownFields(fields, identity: settings.identity), own["type"] == "snapshot" else { continue }
                switch try read(id, own, logic: logic, settings: settings, call: call) {
                case .success(let loaded): return loaded
                case .failure(let why):
                    note("snapshots: \(topic) \(id) cannot be read (\(why)); trying the one before")
                }
                // Its parts come before it: read on from before its first, not through them.
                if let first = own["first"], let a = entryID(first), let b = entryID(id), a < b {
                    next = "(" + first
                    break
                }
            }
            guard let next else { return nil }
            end = next
        }
    }

    struct Unreadable: Error { var why: String }

    /// The snapshot whose `snapshot` entry is `id` (its fields `c`).
    static func read<Logic: AgentLogic>(_ id: String, _ c: [String: String], logic: Logic, settings: AgentSettings,
                                        call: Call) throws(AgentKitError) -> Result<Loaded<Logic>, Unreadable> {
        let topic = settings.snapshotsTopic
        guard c["v"] == String(AgentKitLimits.snapshotVersion) else {
            return .failure(Unreadable(why: "format \(c["v"] ?? "1"), this kit writes \(AgentKitLimits.snapshotVersion)"))
        }
        guard c["logic"] == String(logic.snapshotVersion) else {
            return .failure(Unreadable(why: "a state of the logic's version \(c["logic"] ?? "?"), this one is \(logic.snapshotVersion)"))
        }
        guard let tag = c["snapshot"], let parts = c["parts"].flatMap(Int.init), parts >= 1,
              let first = c["first"], let upto = c["upto"], let bytes = c["bytes"].flatMap(Int.init), bytes >= 0 else {
            return .failure(Unreadable(why: "not a snapshot entry this kit reads"))
        }
        var data: [UInt8] = []
        var found = 0
        var start = first
        while found < parts {
            let reply = try call(Self.bytes(["XRANGE", topic, start, id, "COUNT", String(page)]))
            if case .error(let m) = reply { return .failure(Unreadable(why: "its parts cannot be read: \(m)")) }
            let entries = try parse(reply)
            for (_, fields) in entries {
                guard let own = ownFields(fields, identity: settings.identity), own["type"] == "part",
                      own["snapshot"] == tag else { continue }
                guard own["index"] == String(found), let chunk = own["data"] else {
                    return .failure(Unreadable(why: "part \(own["index"] ?? "?") where part \(found) was due"))
                }
                data += Array(chunk.utf8)
                found += 1
                if found == parts { break }
            }
            guard found < parts else { break }
            guard entries.count == page, let last = entries.last else { break }
            start = "(" + last.0
        }
        guard found == parts, data.count == bytes else {
            return .failure(Unreadable(why: "\(found) of \(parts) parts, \(data.count) of \(bytes) bytes"))
        }
        var why = ""
        guard let book = AgentBook(logic: logic, snapshot: String(decoding: data, as: UTF8.self), why: &why) else {
            return .failure(Unreadable(why: why))
        }
        return .success(Loaded(book: book, upto: upto, bytes: bytes, millis: millis(id)))
    }

    // MARK: - Writing

    /// Writes `text` (a book's snapshot accounting for `events.<agent-id>`
    /// through `upto`) as parts and then its `snapshot` entry; returns its
    /// size, or nil when the kernel refused an XADD (said in the log: the
    /// agent goes on, its start folds more events). Parts are at most
    /// `snapshotPartBytes`, and short enough for the kernel's `max_payload`.
    public static func write(_ text: String, upto: String, logicVersion: Int, settings: AgentSettings,
                             call: Call) throws(AgentKitError) -> Int? {
        let topic = settings.snapshotsTopic
        let text = Array(text.utf8)
        let tag = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var first: String?
        let partBytes = min(AgentKitLimits.snapshotPartBytes, max(settings.maxPayload - partOverhead, minimumPart))
        let parts = cut(text, at: partBytes)
        for (i, range) in parts.enumerated() {
            let reply = try call([Array("XADD".utf8), Array(topic.utf8), Array("*".utf8),
                                  Array("type".utf8), Array("part".utf8), Array("snapshot".utf8), Array(tag.utf8),
                                  Array("index".utf8), Array(String(i).utf8), Array("data".utf8), Array(text[range])])
            guard let id = reply.bytes else {
                note("snapshots: cannot append to \(topic) (\(reply)); no snapshot taken")
                return nil
            }
            if first == nil { first = String(decoding: id, as: UTF8.self) }
        }
        guard let first else { return nil }
        let reply = try call(bytes(["XADD", topic, "*", "type", "snapshot", "snapshot", tag, "parts", String(parts.count),
                                    "first", first, "upto", upto, "bytes", String(text.count),
                                    "v", String(AgentKitLimits.snapshotVersion), "logic", String(logicVersion)]))
        guard reply.bytes != nil else {
            note("snapshots: cannot append to \(topic) (\(reply)); no snapshot taken")
            return nil
        }
        return text.count
    }

    /// Bytes a part leaves to the rest of its XADD under `max_payload`, and
    /// the least part (a `max_payload` below it takes many parts, not none).
    static let partOverhead = 256
    static let minimumPart = 64

    /// `text` cut into ranges of at most `limit` bytes, never inside a UTF-8
    /// sequence (each part is valid text on its own).
    static func cut(_ text: [UInt8], at limit: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < text.count {
            var end = min(start + max(limit, 4), text.count)
            while end < text.count && end > start + 1 && text[end] & 0xC0 == 0x80 { end -= 1 }
            ranges.append(start..<end)
            start = end
        }
        return ranges.isEmpty ? [0..<0] : ranges
    }

    // MARK: - Entries

    private static func bytes(_ args: [String]) -> [[UInt8]] { args.map { Array($0.utf8) } }

    /// An XRANGE/XREVRANGE reply's entries, in its order.
    static func parse(_ reply: RESPValue) throws(AgentKitError) -> [(String, [(String, String)])] {
        guard let items = reply.elements else { throw .unexpected("XRANGE answered \(reply)") }
        var out: [(String, [(String, String)])] = []
        for e in items {
            guard let pair = e.elements, pair.count == 2, let id = pair[0].bytes else { throw .unexpected("XRANGE entry \(e)") }
            out.append((String(decoding: id, as: UTF8.self), StreamEntry.pairs(pair[1])))
        }
        return out
    }

    /// An entry's fields by name when the agent's own user appended it (with
    /// PUBLISHER ON the kernel's `_publisher` is always the last pair).
    static func ownFields(_ fields: [(String, String)], identity: String) -> [String: String]? {
        guard let p = fields.last, p.0 == "_publisher", p.1 == identity else { return nil }
        var out: [String: String] = [:]
        for (k, v) in fields.dropLast() where out[k] == nil { out[k] = v }
        return out
    }

    /// `<ms>-<seq>` as numbers; nil when it is not an entry ID.
    static func entryID(_ s: String) -> (UInt64, UInt64)? {
        let halves = s.split(separator: "-", omittingEmptySubsequences: false)
        guard halves.count == 2, let ms = UInt64(halves[0]), let seq = UInt64(halves[1]) else { return nil }
        return (ms, seq)
    }

    /// The milliseconds part of an entry ID (0 when it has none).
    static func millis(_ id: String) -> Int64 { Int64(id.prefix { $0 != "-" }) ?? 0 }
}
