import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A RESP value as tests need it.
package indirect enum RESP: Equatable, CustomStringConvertible {
    case simple(String), error(String), integer(Int), bulk(String), null, array([RESP])

    package var description: String {
        switch self {
        case .simple(let s): "+\(s)"
        case .error(let s): "-\(s)"
        case .integer(let n): ":\(n)"
        case .bulk(let s): "\"\(s)\""
        case .null: "nil"
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }

    package var strings: [String] {
        guard case .array(let items) = self else { return [] }
        return items.map { item in
            switch item {
            case .bulk(let s), .simple(let s): s
            case .integer(let n): String(n)
            default: ""
            }
        }
    }
}

/// Reads whole RESP values (RESP2 and RESP3 pushes) from a RawClient.
package final class RESPReader {
    package let client: RawClient
    private var buffer: [UInt8] = []

    package init(_ client: RawClient) { self.client = client }

    /// The next value, or nil when none arrives within `timeout` seconds.
    package func next(timeout: Double = 5) -> RESP? {
        let deadline = Date().addingTimeInterval(timeout)
        // Short receive timeouts of its own, and the client's back after:
        // a RawClient read that follows must not inherit 50 ms.
        defer { client.applyTimeout(client.timeout) }
        while true {
            var i = 0
            if let v = parse(&i) {
                buffer.removeFirst(i)
                return v
            }
            if Date() >= deadline { return nil }
            client.applyTimeout(0.05)
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(client.fd, &chunk, chunk.count, 0)
            if n > 0 { buffer += chunk[0..<n] }
            if n == 0 { return nil }
        }
    }

    /// Reads values until one satisfies `match` (others are kept out of the way and returned).
    package func next(timeout: Double = 5, where match: (RESP) -> Bool) -> RESP? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let v = next(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return nil }
            if match(v) { return v }
        }
        return nil
    }

    private func line(_ i: inout Int) -> String? {
        guard let cr = buffer[i...].firstIndex(of: 13), cr + 1 < buffer.count else { return nil }
        let s = String(decoding: buffer[i..<cr], as: UTF8.self)
        i = cr + 2
        return s
    }

    private func parse(_ i: inout Int) -> RESP? {
        guard i < buffer.count else { return nil }
        let type = buffer[i]
        var j = i + 1
        guard let head = line(&j) else { return nil }
        switch type {
        case 43: i = j; return .simple(head)
        case 45: i = j; return .error(head)
        case 58: i = j; return .integer(Int(head) ?? 0)
        case 95: i = j; return .null
        case 36:
            guard let n = Int(head) else { return nil }
            if n < 0 { i = j; return .null }
            guard buffer.count >= j + n + 2 else { return nil }
            let s = String(decoding: buffer[j..<(j + n)], as: UTF8.self)
            i = j + n + 2
            return .bulk(s)
        case 42, 62, 37, 126:
            guard let n = Int(head) else { return nil }
            if n < 0 { i = j; return .null }
            let count = type == 37 ? n * 2 : n
            var items: [RESP] = []
            for _ in 0..<count {
                guard let v = parse(&j) else { return nil }
                items.append(v)
            }
            i = j
            return .array(items)
        default:
            return nil
        }
    }
}

extension RESP {
    /// A task push: ("task", topic, id, deliveries, payload, publisher).
    package var task: (topic: String, id: String, deliveries: Int, payload: String, publisher: String)? {
        guard case .array(let a) = self, a.count == 6, a[0] == .bulk("task"),
              case .bulk(let topic) = a[1], case .bulk(let id) = a[2], case .integer(let d) = a[3],
              case .bulk(let payload) = a[4], case .bulk(let publisher) = a[5] else { return nil }
        return (topic, id, d, payload, publisher)
    }
}
