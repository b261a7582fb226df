import Foundation
import VimanaClient
import VimanaRESP
import VimanaTestSupport

/// Kernels federated through a test cluster, and what the tests ask of them.
struct Federated {
    /// A prefix of its own per test: tests share the cluster, never its keys.
    static func freshPrefix() -> String { "t" + String(UUID().uuidString.prefix(8)).lowercased() }

    static func config(node: String, cluster: RedisCluster, prefix: String, topics: [String] = ["fed.*"],
                       extra: String = "") -> String {
        let seeds = cluster.seeds.prefix(3).map { "\"\($0)\"" }.joined(separator: ", ")
        return """
        federation:
          node: \(node)
          cluster: [\(seeds)]
          topics: [\(topics.map { "\"\($0)\"" }.joined(separator: ", "))]
          prefix: \(prefix)
        \(extra)
        """
    }

    static func kernel(_ node: String, _ cluster: RedisCluster, prefix: String, topics: [String] = ["fed.*"],
                       ledgerDirectory: String? = nil, extra: String = "") throws -> ServerProcess {
        try ServerProcess(config: config(node: node, cluster: cluster, prefix: prefix, topics: topics, extra: extra), logLevel: "info",
                          ledgerDirectory: ledgerDirectory)
    }

    static func connect(_ k: ServerProcess) throws -> RESPConnection {
        try RESPConnection(host: "127.0.0.1", port: k.port)
    }

    /// Calls until `condition` holds or `seconds` pass; true when it held.
    static func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// The `payload` field of every entry of `topic` on `k`, in order.
    static func payloads(_ c: RESPConnection, _ topic: String) throws -> [String] {
        guard case .array(let entries) = try c.call("XRANGE", topic, "-", "+") else { return [] }
        return entries.compactMap { e -> String? in
            guard case .array(let pair) = e, pair.count == 2, case .array(let fields) = pair[1], fields.count == 2,
                  case .bulkString(let v) = fields[1] else { return nil }
            return String(decoding: v, as: UTF8.self)
        }
    }

    /// The whole HTTP response to `GET path` on `port`.
    static func httpGet(_ port: Int, _ path: String) throws -> String {
        let c = try RawClient(port: port, timeout: 5)
        c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        return c.readToEnd(timeout: 5)
    }

    /// One INFO federation field of `k`.
    static func info(_ c: RESPConnection, _ field: String) throws -> String? {
        let reply = try c.call("INFO", "federation")
        let text: String
        switch reply {
        case .bulkString(let b): text = String(decoding: b, as: UTF8.self)
        case .verbatim(_, let b): text = String(decoding: b, as: UTF8.self)
        default: return nil
        }
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(field + ":") {
            return String(line.dropFirst(field.count + 1))
        }
        return nil
    }

    /// Reads pub/sub messages from a subscribed connection until `count`
    /// have come or `seconds` pass; returns their payloads in arrival order.
    static func messages(_ c: RESPConnection, count: Int, seconds: Double) -> [String] {
        var out: [String] = []
        c.setReadTimeout(0.5)
        let deadline = Date().addingTimeInterval(seconds)
        while out.count < count && Date() < deadline {
            guard let v = try? c.readValue() else { continue }
            if case .array(let parts) = v, parts.count == 3, case .bulkString(let kind) = parts[0], kind == Array("message".utf8),
               case .bulkString(let payload) = parts[2] {
                out.append(String(decoding: payload, as: UTF8.self))
            }
        }
        return out
    }

    /// The payloads of the cluster stream of `topic`, read from its master
    /// in pages (a reply of 100,000 entries outlasts a reply timeout).
    static func clusterPayloads(_ cluster: RedisCluster, prefix: String, topic: String) throws -> [String] {
        let key = "\(prefix):{\(topic)}"
        let port = try cluster.masterPort(forKey: key)
        var out: [String] = []
        var start = "-"
        while true {
            guard case .array(let entries)? = cluster.command(port: port, ["XRANGE", key, start, "+", "COUNT", "5000"]) else {
                throw TestFailure("XRANGE \(key) from \(start) failed on \(port)")
            }
            for e in entries {
                guard case .array(let pair) = e, pair.count == 2, case .bulk(let id) = pair[0], case .array(let fields) = pair[1] else { continue }
                start = "(" + id
                if let k = fields.firstIndex(of: .bulk("payload")), k >= 10, k + 1 < fields.count, case .bulk(let v) = fields[k + 1] {
                    out.append(v)
                }
            }
            if entries.count < 5000 { return out }
        }
    }

    /// nil when `got` holds each of `expected` exactly once; else a short
    /// account (counts and a few examples: a failure must not print 100,000 names).
    static func difference(_ got: [String], _ expected: Set<String>) -> String? {
        let have = Set(got)
        let missing = expected.subtracting(have), extra = have.subtracting(expected), twice = got.repeated
        if missing.isEmpty && extra.isEmpty && twice.isEmpty { return nil }
        return "\(got.count) held of \(expected.count): \(missing.count) missing \(missing.sorted().prefix(5)), "
            + "\(extra.count) unexpected \(extra.sorted().prefix(5)), \(twice.count) twice \(twice.sorted().prefix(5))"
    }
}

extension Array where Element: Hashable {
    /// Elements that occur more than once.
    var repeated: [Element] {
        var seen = Set<Element>(), twice = Set<Element>()
        for e in self where !seen.insert(e).inserted { twice.insert(e) }
        return Array(twice)
    }
}
