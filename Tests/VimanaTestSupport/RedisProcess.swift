import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real redis-server on a free loopback port, for byte-for-byte parity
/// tests. Snapshots and AOF off, as in the benchmarks.
package final class RedisProcess {
    package private(set) var process = Process()
    package private(set) var port = 0

    package static var binary: String? {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A port free a moment ago can be taken before redis-server binds it
    /// (the clusters of the federation tests bind P and P+10000): a start
    /// that fails is tried again on another port.
    static let startAttempts = 3

    /// - Parameter arguments: more of redis-server's options (`--slowlog-log-slower-than 0`).
    package init(arguments: [String] = []) throws {
        guard let binary = Self.binary else {
            throw TestFailure("redis-server is not installed: run `make test` (it installs redis-server) or apt-get install redis-server")
        }
        for _ in 0..<Self.startAttempts {
            port = try freePort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--daemonize", "no", "--logfile", "/dev/null"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && process.isRunning {
                // Ours, not a server that took the port first: its process id.
                if let c = try? RawClient(port: port, timeout: 1) {
                    c.send("INFO server\r\n")
                    if case .bulk(let info)? = RESPReader(c).next(timeout: 2),
                       info.contains("\r\nprocess_id:\(process.processIdentifier)\r\n") {
                        return
                    }
                }
                usleep(20_000)
            }
            stop()
        }
        throw TestFailure("redis-server did not start (\(Self.startAttempts) ports tried, the last \(port))")
    }

    deinit { stop() }

    package func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A port that was free a moment ago (bind to 0, read it, close).
package func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw TestFailure("bind failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}
