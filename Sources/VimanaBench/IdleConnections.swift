#if canImport(Glibc)
import Glibc
#endif
import VimanaClient
import VimanaCore

/// What the idle mode measured.
public struct IdleStats: Sendable {
    public var requested = 0
    /// Connections that connected and answered PING.
    public var open = 0
    /// Seconds spent opening and pinging them.
    public var openSeconds = 0.0
    public var heldSeconds = 0.0
    /// The first failure, when fewer than requested opened.
    public var failure: String?
}

/// Opens many connections, proves each alive with one PING, and holds them
/// idle so a script can read the server's resident memory.
enum IdleConnections {
    static func hold(_ options: BenchOptions, progress: ((String) -> Void)?) throws(BenchError) -> IdleStats {
        try FileLimit.raise(to: options.idleConnections + 64)
        var stats = IdleStats(requested: options.idleConnections)
        var fds: [Int32] = []
        fds.reserveCapacity(options.idleConnections)
        defer { for fd in fds { close(fd) } }
        let began = Clock.monotonicNanos()
        for _ in 0..<options.idleConnections {
            do {
                fds.append(try TCPSocket.connect(host: options.host, port: options.port,
                                                 timeout: options.setupTimeoutSeconds))
            } catch {
                stats.failure = error.description
                break
            }
        }
        if fds.isEmpty, let failure = stats.failure { throw .setup(failure) }
        stats.open = ping(fds, timeout: options.setupTimeoutSeconds, failure: &stats.failure)
        stats.openSeconds = Double(Clock.monotonicNanos() - began) / 1e9
        progress?("ready: \(stats.open) idle connections open to \(options.host):\(options.port); holding \(options.idleHoldSeconds) s")
        let held = Clock.monotonicNanos()
        var ts = timespec(tv_sec: Int(options.idleHoldSeconds),
                          tv_nsec: Int((options.idleHoldSeconds - options.idleHoldSeconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&ts, &remaining) != 0 && errno == EINTR { ts = remaining }
        stats.heldSeconds = Double(Clock.monotonicNanos() - held) / 1e9
        return stats
    }

    /// Sends PING on every connection, then reads every `+PONG`; returns
    /// how many answered.
    private static func ping(_ fds: [Int32], timeout: Double, failure: inout String?) -> Int {
        let ping: StaticString = "*1\r\n$4\r\nPING\r\n"
        let reply = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
        defer { reply.deallocate() }
        var answered = 0
        for fd in fds { _ = TCPSocket.writeAll(fd, ping.utf8Start, ping.utf8CodeUnitCount) }
        for fd in fds {
            TCPSocket.setReceiveTimeout(fd, seconds: timeout)
            let n = TCPSocket.read(fd, reply, 64)
            if n > 0 && reply[0] == 43 {  // "+PONG"
                answered += 1
            } else if failure == nil {
                failure = n > 0 ? "unexpected PING reply: " + String(decoding: UnsafeBufferPointer(start: reply, count: n), as: UTF8.self)
                                : "no PING reply (connection closed or timed out)"
            }
            TCPSocket.setReceiveTimeout(fd, seconds: nil)
        }
        return answered
    }
}
