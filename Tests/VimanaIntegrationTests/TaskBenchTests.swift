import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `vimana bench --tasks` against each peer it compares: every task is
/// acknowledged, and the server's own state agrees with the bench's count.
@Suite struct TaskBenchTests {
    static let tasks = 5000

    func bench(port: Int, _ extra: [String]) throws -> [String: Any] {
        let r = try runVimana(["bench", "--port", String(port), "--msgs", String(Self.tasks), "--size", "64",
                               "--workers", "2", "--prefetch", "4", "--pipeline", "8", "--json"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(r.stdout)")
    }

    func expectComplete(_ result: [String: Any]) {
        #expect(result["acknowledged"] as? Int == Self.tasks, "\(result)")
        #expect(result["lost"] as? Int == 0)
        #expect((result["failures"] as? [Any])?.isEmpty == true, "\(result)")
        #expect((result["p50_us"] as? Double ?? 0) > 0 && (result["rate"] as? Double ?? 0) > 0)
    }

    @Test func vimanaAgentRoundTrip() throws {
        let server = try ServerProcess(config: """
            agents:
              - id: bench4
                subscribes: ["bench4.tasks"]
                prefetch: 4
            """, logLevel: "info")
        let result = try bench(port: server.port, ["--tasks", "vimana", "--topic", "bench4.tasks", "--agent", "bench4"])
        expectComplete(result)
        let c = try RawClient(port: server.port)
        c.send("XPENDING bench4.tasks bench4\r\nXLEN bench4.tasks\r\n")
        let expected = "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n:\(Self.tasks)\r\n"
        #expect(c.read(matching: expected) == expected)

        // An agent that is not declared: the bench says why and exits 1.
        let refused = try runVimana(["bench", "--port", String(server.port), "--tasks", "vimana", "--agent", "nosuch", "--msgs", "10"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("unknown agent 'nosuch'"), "\(refused.stderr)")
    }

    @Test func redisStreamsRoundTrip() throws {
        let redis = try RedisProcess()
        let result = try bench(port: redis.port, ["--tasks", "redis", "--topic", "bench.tasks"])
        expectComplete(result)
        let c = try RawClient(port: redis.port)
        c.send("XPENDING bench.tasks bench\r\nXLEN bench.tasks\r\n")
        let expected = "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n:\(Self.tasks)\r\n"
        #expect(c.read(matching: expected) == expected)
    }

    @Test func beanstalkdRoundTrip() throws {
        let binary = try #require(["/usr/bin/beanstalkd", "/usr/sbin/beanstalkd", "/usr/local/bin/beanstalkd"]
            .first { FileManager.default.isExecutableFile(atPath: $0) },
            "beanstalkd is not installed: run `make test` (it installs it) or apt-get install beanstalkd")
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-l", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var stats: RawClient?
        let deadline = Date().addingTimeInterval(10)
        while stats == nil && Date() < deadline {
            stats = try? RawClient(port: port, timeout: 1)
            if stats == nil { usleep(20_000) }
        }
        let c = try #require(stats, "beanstalkd did not start")
        let result = try bench(port: port, ["--tasks", "beanstalkd"])
        expectComplete(result)
        c.send("stats\r\n")
        let text = Self.beanstalkdData(c)
        #expect(text.contains("\ntotal-jobs: \(Self.tasks)\n") && text.contains("\ncmd-delete: \(Self.tasks)\n")
                && text.contains("\ncurrent-jobs-ready: 0\n"), "\(text)")
    }

    /// The body of a beanstalkd `OK <bytes>` reply, read by its length; ""
    /// for any other reply.
    static func beanstalkdData(_ c: RawClient) -> String {
        var head: [UInt8] = []
        while !head.reversed().starts(with: [10, 13]) {
            let byte = c.read(count: 1)
            guard let b = byte.first else { return "" }
            head.append(b)
        }
        let words = String(decoding: head.dropLast(2), as: UTF8.self).split(separator: " ")
        guard words.count == 2, words[0] == "OK", let bytes = Int(words[1]) else { return "" }
        return String(decoding: c.read(count: bytes + 2).dropLast(2), as: UTF8.self)
    }
}
