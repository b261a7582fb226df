import Foundation
import Testing
import VimanaTestSupport

/// SLOWLOG, LATENCY, INFO commandstats and errorstats, CONFIG RESETSTAT
/// (issue 14 §4) against redis-server 7.0.15: the same commands, one at a
/// time, to both servers started with the same settings (Redis's options,
/// Vimana's phoenix.yaml), and the replies compared byte for byte after
/// what legitimately differs is replaced: times, durations, client ports,
/// and the order of commandstats' lines (a hash table's in Redis).
@Suite(.serialized) struct RedisParityStatsTests {
    /// (connection, command's arguments); a command whose reply comes later
    /// (a blocked XREAD) is marked with `blocks` and read at the next step
    /// on its connection.
    struct Step {
        let connection: Int
        let args: [String]
        var blocks = false
    }

    static func step(_ connection: Int, _ words: String...) -> Step { Step(connection: connection, args: words) }

    /// Sends each step and reads its reply; returns the normalised replies.
    static func run(_ steps: [Step], port: Int) throws -> [String] {
        let count = (steps.map(\.connection).max() ?? 0) + 1
        let clients = try (0..<count).map { _ in try RawClient(port: port) }
        var pending = [Bool](repeating: false, count: count)
        var out: [String] = []
        for s in steps {
            let c = clients[s.connection]
            if pending[s.connection] {
                out.append("[\(s.connection)] (later) " + normalize(c.readReplies(1)))
                pending[s.connection] = false
            }
            c.send(RawClient.command(s.args))
            if s.blocks {
                pending[s.connection] = true
                // Wait until the server counts it as blocked: the next step may wake it.
                let probe = clients[(s.connection + 1) % count]
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline {
                    probe.send("INFO clients\r\n")
                    if probe.readReplies(1).contains("blocked_clients:1\r\n") { break }
                }
                continue
            }
            out.append("[\(s.connection)] \(s.args.joined(separator: " ")): " + normalize(c.readReplies(1)))
        }
        for (k, c) in clients.enumerated() where pending[k] { out.append("[\(k)] (later) " + normalize(c.readReplies(1))) }
        return out
    }

    /// Times, durations and ports replaced; commandstats' lines sorted.
    static func normalize(_ reply: String) -> String {
        var s = RedisParityTests.normalize(reply)
        // A slow log entry: id, time and duration replaced (the servers'
        // start-up probes differ: the ids count from different numbers).
        s = s.replacing(/\*6\r\n:\d+\r\n:\d+\r\n:\d+\r\n/) { _ in "*6\r\n:ID\r\n:TIME\r\n:MICROS\r\n" }
        s = s.replacing(/\$\d+\r\n127\.0\.0\.1:\d+\r\n/) { _ in "$PEER\r\n" }
        s = s.replacing(/usec=\d+,usec_per_call=\d+\.\d+/) { _ in "usec=U,usec_per_call=P" }
        if s.contains("cmdstat_") {
            // The bulk's length changes with the numbers replaced: drop it, sort the lines.
            let lines = s.components(separatedBy: "\r\n").filter { $0.hasPrefix("cmdstat_") }.sorted()
            s = "COMMANDSTATS " + lines.joined(separator: " ")
        }
        return s
    }

    static let config = """
        kernel:
          slowlog_log_slower_than: 0
          slowlog_max_len: 5
        """
    static let redisArguments = ["--slowlog-log-slower-than", "0", "--slowlog-max-len", "5"]

    static let cases: [(String, [Step])] = [
        ("slowlog entries, trimming, arguments cut", [
            step(0, "SLOWLOG", "RESET"), step(0, "PING"), step(0, "ECHO", String(repeating: "x", count: 200)),
            step(0, "CLIENT", "SETNAME", "logger"),
            Step(connection: 0, args: ["XADD", "s", "1-1"] + (0..<40).map { "f\($0)" }),
            step(0, "SLOWLOG", "LEN"), step(0, "SLOWLOG", "GET", "2"), step(0, "SLOWLOG", "GET"), step(0, "SLOWLOG", "GET", "-1"),
            step(0, "SLOWLOG", "LEN"),
        ]),
        ("slowlog errors and help", [
            step(0, "SLOWLOG", "RESET"), step(0, "SLOWLOG"), step(0, "SLOWLOG", "FOO"), step(0, "SLOWLOG", "GET", "-2"), step(0, "SLOWLOG", "GET", "x"),
            step(0, "SLOWLOG", "GET", "1", "2"), step(0, "SLOWLOG", "LEN", "x"), step(0, "SLOWLOG", "RESET", "x"),
            step(0, "SLOWLOG", "HELP"), step(0, "slowlog", "len"),
        ]),
        ("slowlog redacts secrets", [
            step(0, "SLOWLOG", "RESET"), step(0, "AUTH", "nobody", "secret"), step(0, "AUTH", "secret"),
            step(0, "HELLO", "2", "AUTH", "default", "nopass", "SETNAME", "n1"),
            step(0, "ACL", "SETUSER", "alice", "on", ">pw"), step(0, "ACL", "DELUSER", "alice"), step(0, "SLOWLOG", "GET", "-1"),
        ]),
        ("commandstats and errorstats", [
            step(0, "CONFIG", "RESETSTAT"), step(0, "PING"), step(0, "PING", "a", "b"), step(0, "FOO"), step(0, "CLIENT", "NOPE"),
            step(0, "CLIENT", "SETNAME"), step(0, "CLIENT", "GETNAME"), step(0, "XADD", "s", "0-0", "a", "1"), step(0, "CONFIG"),
            step(0, "XGROUP", "CREATE", "nope", "g", "0"), step(0, "MULTI"), step(0, "XLEN"), step(0, "EXEC"),
            step(0, "MULTI"), step(0, "XADD", "t", "0-0", "a", "1"), step(0, "PING"), step(0, "EXEC"),
            step(0, "MULTI"), step(0, "EXEC", "x"), step(0, "AUTH", "a", "b"), step(0, "HELLO", "4"),
            step(0, "INFO", "commandstats"), step(0, "INFO", "errorstats"), step(0, "CONFIG", "RESETSTAT"),
            step(0, "INFO", "commandstats"), step(0, "INFO", "errorstats"),
        ]),
        ("latency with monitoring off", [
            step(0, "LATENCY", "LATEST"), step(0, "LATENCY", "HISTORY", "command"), step(0, "LATENCY", "RESET"),
            step(0, "LATENCY", "RESET", "command", "x"), step(0, "LATENCY", "DOCTOR"), step(0, "LATENCY", "GRAPH", "command"),
            step(0, "LATENCY"), step(0, "LATENCY", "FOO"), step(0, "LATENCY", "LATEST", "x"), step(0, "LATENCY", "HISTORY"),
        ]),
        ("config get and resetstat", [
            step(0, "SLOWLOG", "RESET"),
            step(0, "CONFIG", "GET", "slowlog-max-len"), step(0, "CONFIG", "GET", "SLOWLOG-LOG-SLOWER-THAN"),
            step(0, "CONFIG", "GET", "latency-monitor-threshold"),
            step(0, "CONFIG", "RESETSTAT", "x"), step(0, "CONFIG", "RESETSTAT"), step(0, "SLOWLOG", "LEN"),
        ]),
    ]

    /// A blocked XREAD is logged once it is served, with its arguments as
    /// sent (Redis 7.0's updateStatsOnUnblock), and counted once; one that
    /// times out is counted and not logged.
    @Test func blockedReadIsLoggedWhenServedNotWhenTimedOut() throws {
        let vimana = try ServerProcess(config: Self.config, logLevel: "info")
        let reader = try RawClient(port: vimana.port), writer = try RawClient(port: vimana.port)
        writer.send("CONFIG RESETSTAT\r\n")
        #expect(writer.readReplies(1) == "+OK\r\n")
        reader.send("XREAD BLOCK 0 STREAMS s $\r\n")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            writer.send("INFO clients\r\n")
            if writer.readReplies(1).contains("blocked_clients:1\r\n") { break }
        }
        writer.send("XADD s 1-1 a 1\r\n")
        #expect(writer.readReplies(1) == "$3\r\n1-1\r\n")
        #expect(reader.readReplies(1).contains("$3\r\n1-1\r\n"))
        reader.send("XREAD BLOCK 10 STREAMS s $\r\n")
        #expect(reader.readReplies(1) == "*-1\r\n")
        writer.send("SLOWLOG GET 2\r\n")
        let log = writer.readReplies(1)
        #expect(log.contains("$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n"), "\(visible(log))")
        #expect(!log.contains("$2\r\n10\r\n"), "\(visible(log))")
        writer.send("INFO commandstats\r\n")
        let stats = writer.readReplies(1)
        #expect(stats.contains("cmdstat_xread:calls=2,"), "\(visible(stats))")
    }

    /// With `latency_monitor_threshold: 1`, a loop pass that runs a pipeline
    /// of 50,000 commands (milliseconds of work in any build) is an
    /// `event-loop` sample: LATEST, HISTORY and RESET show and drop it.
    @Test func aLongLoopPassIsAnEventLoopLatencySample() throws {
        let vimana = try ServerProcess(config: "kernel:\n  latency_monitor_threshold: 1\n", logLevel: "info")
        let c = try RawClient(port: vimana.port)
        c.send("CONFIG GET latency-monitor-threshold\r\n")
        #expect(c.readReplies(1) == "*2\r\n$25\r\nlatency-monitor-threshold\r\n$1\r\n1\r\n")
        c.send(String(repeating: "PING\r\n", count: 50_000))
        #expect(c.readReplies(50_000).utf8.count == 7 * 50_000)
        c.send("LATENCY HISTORY event-loop\r\n")
        let history = c.readReplies(1)
        #expect(history.hasPrefix("*") && !history.hasPrefix("*0\r\n"), "\(visible(history))")
        c.send("LATENCY LATEST\r\n")
        let latest = c.readReplies(1)
        #expect(latest.contains("$10\r\nevent-loop\r\n"), "\(visible(latest))")
        c.send("LATENCY DOCTOR\r\n")
        let doctor = c.readReplies(1)
        #expect(doctor.contains("I have observed latency spikes") && doctor.contains(". event-loop: "), "\(visible(doctor))")
        c.send("LATENCY RESET event-loop\r\nLATENCY HISTORY event-loop\r\n")
        #expect(c.readReplies(2).hasPrefix(":1\r\n*0\r\n"))
    }

    /// An fsync of the ledger reaches the latency monitor from the writer's
    /// thread: with the threshold at 1 ms, every fsync that took 1 ms or
    /// more is a `ledger-fsync` sample, and INFO's last fsync time says
    /// whether one did.
    @Test func aSlowLedgerFsyncIsALatencySample() throws {
        let vimana = try ServerProcess(arguments: ["--fsync", "always"], config: "kernel:\n  latency_monitor_threshold: 1\n",
                                       logLevel: "info")
        let c = try RawClient(port: vimana.port)
        var slowest = 0
        for i in 1...200 {
            c.send("XADD s \(i)-1 f v\r\nINFO ledger\r\n")
            let reply = c.readReplies(2)
            if let r = reply.range(of: "ledger_fsync_last_us:") {
                slowest = max(slowest, Int(reply[r.upperBound...].prefix { $0.isNumber }) ?? 0)
            }
        }
        c.send("LATENCY HISTORY ledger-fsync\r\n")
        let history = c.readReplies(1)
        if slowest >= 1000 {
            #expect(!history.hasPrefix("*0\r\n"), "an fsync of \(slowest) µs: \(visible(history))")
        }
        // Never a sample below the threshold.
        #expect(!history.contains(":0\r\n"), "\(visible(history))")
    }

    /// CONFIG RESETSTAT zeroes INFO stats' counters as Redis's does: the
    /// same figures from both servers after the same commands.
    @Test func resetstatZeroesTheStatsCountersAsRedis() throws {
        func figures(_ port: Int) throws -> [String] {
            let c = try RawClient(port: port)
            c.send("PING\r\nFOO\r\nCONFIG RESETSTAT\r\nPING\r\nFOO\r\nXADD s 0-0 a 1\r\n")
            _ = c.readReplies(6)
            let other = try RawClient(port: port)  // one connection received since the reset
            other.send("PING\r\n")
            _ = other.readReplies(1)
            c.send("INFO stats\r\n")
            let text = c.readReplies(1)
            return ["total_connections_received", "total_commands_processed", "rejected_connections",
                    "unexpected_error_replies", "total_error_replies"].map { field in
                text.components(separatedBy: "\r\n").first { $0.hasPrefix(field + ":") } ?? "\(field) missing"
            }
        }
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let want = try figures(redis.port), got = try figures(vimana.port)
        #expect(got == want, "vimana \(got), redis \(want)")
        // RESETSTAT itself, PING, the failed XADD (a failed call is a call), the other's PING; FOO's and XADD's errors.
        #expect(want.contains("total_commands_processed:4") && want.contains("total_error_replies:2"), "\(want)")
    }

    /// `instantaneous_ops_per_sec` follows the commands of the last 1.6 s
    /// (16 samples of 100 ms): above zero while a client sends, zero again
    /// once it stopped.
    @Test func instantaneousOpsFollowTheLoad() throws {
        let vimana = try ServerProcess(logLevel: "info")
        let load = try RawClient(port: vimana.port), info = try RawClient(port: vimana.port)
        func ops() -> Int {
            info.send("INFO stats\r\n")
            let text = info.readReplies(1)
            guard let r = text.range(of: "instantaneous_ops_per_sec:") else { return -1 }
            return Int(text[r.upperBound...].prefix { $0.isNumber }) ?? -1
        }
        var seen = 0
        let deadline = Date().addingTimeInterval(20)
        while seen < 10_000 && Date() < deadline {
            load.send(String(repeating: "PING\r\n", count: 1000))
            _ = load.readReplies(1000)
            seen = ops()
        }
        #expect(seen >= 10_000, "\(seen)")
        // Stopped: only INFO runs, about 20 a second (each a command).
        var now = seen
        let quiet = Date().addingTimeInterval(20)
        while now >= 1000 && Date() < quiet {
            usleep(50_000)
            now = ops()
        }
        #expect(now < 1000, "\(now)")
    }

    @Test(arguments: cases.map(\.0))
    func sameBytesAsRedis(name: String) throws {
        let steps = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess(arguments: Self.redisArguments)
        let vimana = try ServerProcess(config: Self.config, logLevel: "info")
        let expected = try Self.run(steps, port: redis.port)
        let actual = try Self.run(steps, port: vimana.port)
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) {
            #expect(a == e, "\(name)\nredis:  \(visible(e))\nvimana: \(visible(a))")
        }
    }
}
