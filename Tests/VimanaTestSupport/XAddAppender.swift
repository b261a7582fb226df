import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Keeps `window` XADDs in flight on one connection and sorts the replies:
/// the IDs the server acknowledged, in order, and the error replies. For the
/// durability tests: every acknowledged ID must be readable after a restart.
package final class XAddAppender: @unchecked Sendable {
    package let client: RawClient
    package let topic: String
    /// Bytes of random hex per entry (0: a 100-byte pad of `x`): hex of
    /// random bytes compresses only about 2:1, so it fills a disk.
    package let valueBytes: Int
    package let acked = Mutex<[String]>([])
    package let errors = Mutex<[String]>([])
    /// Stop sending; `run` returns once every reply is in (or the connection ends).
    package let stop = Atomic<Bool>(false)
    /// Set when `run` has returned: nothing is appended to `acked` after.
    package let finished = Atomic<Bool>(false)
    package static let window = 16

    package init(port: Int, topic: String, valueBytes: Int = 0) throws {
        client = try RawClient(port: port, timeout: 0.2)
        self.topic = topic
        self.valueBytes = valueBytes
    }

    package var ackedCount: Int { acked.withLock { $0.count } }
    package var errorCount: Int { errors.withLock { $0.count } }

    package func start() {
        let thread = Thread { self.run() }
        thread.start()
    }

    /// Waits (up to `timeout` s) for `run` to return after `stop`.
    @discardableResult
    package func finish(timeout: TimeInterval = 10) -> Bool {
        stop.store(true, ordering: .relaxed)
        let deadline = Date().addingTimeInterval(timeout)
        while !finished.load(ordering: .acquiring) && Date() < deadline { usleep(10_000) }
        return finished.load(ordering: .acquiring)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Sixteen digits per random word. One word per digit cost a `getrandom`
    /// system call each: about 4 ms of CPU per 4 KiB value, so that filling
    /// a disk took this client 8.5 s of CPU, longer than the server's work.
    private func value() -> String {
        if valueBytes == 0 { return String(repeating: "x", count: 100) }
        var g = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(valueBytes)
        while bytes.count < valueBytes {
            var word = g.next()
            for _ in 0..<min(16, valueBytes - bytes.count) {
                bytes.append(Self.hexDigits[Int(word & 15)])
                word >>= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    package func run() {
        defer { finished.store(true, ordering: .releasing) }
        var pending = 0
        var buffer: [UInt8] = []
        var n = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let stopping = stop.load(ordering: .relaxed)
            if stopping && pending == 0 { return }
            while !stopping && pending < Self.window {
                client.send(RawClient.command(["XADD", topic, "*", "n", "\(n)", "pad", value()]))
                n += 1
                pending += 1
            }
            let got = recv(client.fd, &chunk, chunk.count, 0)
            if got == 0 { return }
            if got < 0 { if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }; return }
            buffer += chunk[0..<got]
            // Complete "$L\r\nID\r\n" and "-error\r\n" replies.
            var start = 0
            while start < buffer.count, let cr = buffer[start...].firstIndex(of: 13), cr + 1 < buffer.count {
                if buffer[start] == 45 {
                    let text = String(decoding: buffer[(start + 1)..<cr], as: UTF8.self)
                    errors.withLock { $0.append(text) }
                    start = cr + 2
                } else if buffer[start] == 36, let len = Int(String(decoding: buffer[(start + 1)..<cr], as: UTF8.self)),
                          buffer.count >= cr + 2 + len + 2 {
                    let id = String(decoding: buffer[(cr + 2)..<(cr + 2 + len)], as: UTF8.self)
                    acked.withLock { $0.append(id) }
                    start = cr + 2 + len + 2
                } else {
                    break
                }
                pending -= 1
            }
            buffer.removeFirst(start)
        }
    }
}

/// One INFO field of a running server, or nil.
package func infoField(_ server: ServerProcess, _ name: String, section: String = "ledger") -> String? {
    guard let c = try? RawClient(port: server.port) else { return nil }
    c.send("INFO \(section)\r\n")
    let text = c.readReplies()
    guard let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
    return String(line.dropFirst(name.count + 1))
}

/// Waits up to `timeout` s for `condition`; true when it held.
package func waitFor(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Waits for `condition` for as long as `progress` keeps growing: false
/// once it has stood still for `stall` seconds. For facts that come after
/// an amount of work rather than of time (a disk filled by appends): a
/// loaded machine makes them later, not impossible, while a server that
/// stops answering still ends the wait.
package func waitWhileAdvancing(stall: TimeInterval, progress: () -> Int, _ condition: () -> Bool) -> Bool {
    var last = progress()
    var movedAt = Date()
    while !condition() {
        let now = progress()
        if now != last {
            last = now
            movedAt = Date()
        } else if Date().timeIntervalSince(movedAt) > stall {
            return condition()
        }
        usleep(20_000)
    }
    return true
}

/// Every entry ID of `topic`, read with XRANGE in pages.
package func streamIDs(_ server: ServerProcess, _ topic: String) throws -> [String] {
    let c = try RawClient(port: server.port)
    let reader = RESPReader(c)
    var ids: [String] = []
    var start = "-"
    while true {
        c.send(RawClient.command(["XRANGE", topic, start, "+", "COUNT", "500"]))
        guard case .array(let entries) = reader.next(timeout: 10) else { throw TestFailure("XRANGE \(topic) did not answer") }
        for case .array(let entry) in entries {
            if case .bulk(let id) = entry.first { ids.append(id) }
        }
        guard entries.count == 500, let last = ids.last else { return ids }
        start = "(" + last
    }
}

/// Each entry of `topic` (one XRANGE), as its fields and values in order;
/// `publisher`: read with CLIENT PUBLISHER ON, `_publisher` last.
package func streamFields(_ server: ServerProcess, _ topic: String, publisher: Bool = false) throws -> [[String]] {
    let c = try RawClient(port: server.port)
    let r = RESPReader(c)
    if publisher {
        c.send("CLIENT PUBLISHER ON\r\n")
        guard r.next() == .simple("OK") else { throw TestFailure("CLIENT PUBLISHER ON was refused") }
    }
    c.send(RawClient.command(["XRANGE", topic, "-", "+"]))
    guard case .array(let list)? = r.next() else { throw TestFailure("XRANGE \(topic) did not answer") }
    return list.map { entry in
        guard case .array(let pair) = entry, pair.count == 2 else { return [] }
        return pair[1].strings
    }
}
