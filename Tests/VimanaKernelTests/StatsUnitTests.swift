import Testing
@testable import VimanaKernel

/// The statistics' parts that need no server: the slow log's cutting and
/// trimming, the latency monitor's one sample per second, error codes,
/// the command/subcommand slots, the instantaneous rates.
@Suite struct StatsUnitTests {
    @Test func slowLogCutsArgumentsAsRedis() {
        let many = (0..<40).map { Array("a\($0)".utf8) }
        let cut = SlowLog.trimmed(many)
        #expect(cut.count == 32)
        #expect(cut[30] == Array("a30".utf8))
        #expect(cut[31] == Array("... (9 more arguments)".utf8))
        // Exactly 32 arguments are kept whole.
        #expect(SlowLog.trimmed(Array(many.prefix(32))) == Array(many.prefix(32)))
        let long = [UInt8](repeating: 120, count: 200)
        #expect(SlowLog.trimmed([long]) == [[UInt8](repeating: 120, count: 128) + Array("... (72 more bytes)".utf8)])
        #expect(SlowLog.trimmed([[UInt8](repeating: 120, count: 128)]) == [[UInt8](repeating: 120, count: 128)])
    }

    @Test func slowLogKeepsTheNewestAndTrimsOnEveryAttempt() {
        var log = SlowLog()
        func push(_ micros: Int64, threshold: Int = 10, max: Int = 3) {
            log.push(micros: micros, threshold: threshold, maxLength: max, time: 1, arguments: [Array("x\(micros)".utf8)],
                     peer: "p", name: [])
        }
        for m in [5, 10, 20, 30, 40] as [Int64] { push(m) }
        #expect(log.count == 3)
        #expect(log.newest(10).map(\.micros) == [40, 30, 20])
        #expect(log.newest(10).map(\.id) == [3, 2, 1], "ids count logged entries only, from 0")
        #expect(log.newest(1).map(\.micros) == [40])
        // A shorter length takes effect at the next attempt, logged or not.
        push(1, max: 1)
        #expect(log.newest(10).map(\.micros) == [40])
        // Negative threshold: nothing logged, nothing trimmed.
        push(100, threshold: -1, max: 0)
        #expect(log.count == 1)
        log.reset()
        #expect(log.count == 0)
        push(50)
        #expect(log.newest(1).map(\.id) == [4], "ids go on after RESET")
        for m in 0..<1000 { push(Int64(m) + 10, max: 2) }
        #expect(log.newest(5).map(\.micros) == [1009, 1008])
    }

    @Test func latencyKeepsTheWorstOfEachSecond() {
        var monitor = LatencyMonitor()
        monitor.add("command", millis: 5, now: 100)
        monitor.add("command", millis: 9, now: 100)
        monitor.add("command", millis: 2, now: 100)
        monitor.add("command", millis: 3, now: 101)
        monitor.add("event-loop", millis: 7, now: 101)
        let ts = monitor.series("command")
        #expect(ts?.history.map(\.time) == [100, 101])
        #expect(ts?.history.map(\.latency) == [9, 3])
        #expect(ts?.latest.latency == 3)
        #expect(ts?.max == 9)
        #expect(monitor.events.map(\.name) == ["command", "event-loop"])
        // 160 seconds kept.
        for t in 200..<400 { monitor.add("command", millis: 1, now: Int64(t)) }
        #expect(monitor.series("command")?.history.count == KernelConstants.latencySamples)
        #expect(monitor.series("command")?.history.first?.time == 240)
        #expect(monitor.reset("EVENT-LOOP") == 1)
        #expect(monitor.reset("nope") == 0)
        #expect(monitor.reset(nil) == 1)
        #expect(monitor.events.isEmpty)
    }

    @Test func latencyAnalysisAsRedis() {
        var monitor = LatencyMonitor()
        monitor.add("command", millis: 10, now: 100)
        monitor.add("command", millis: 20, now: 104)
        let a = LatencyMonitor.analyze(monitor.series("command") ?? LatencyMonitor.Series(), now: 110)
        #expect(a.samples == 2 && a.avg == 15 && a.mad == 5 && a.period == 10)
    }

    @Test func errorsAreCountedByTheirFirstWord() {
        var stats = CommandStats(CommandTable.entries)
        stats.countError("ERR unknown command")
        stats.countError("WRONGTYPE Operation against a key")
        stats.countError(Array("NOGROUP No such key".utf8))
        stats.countError("ERR again")
        // No space within 32 bytes: ERR, as Redis's afterErrorReply.
        stats.countError(String(repeating: "X", count: 40) + " late space")
        stats.countError("NOSPACE")
        #expect(stats.totalErrorReplies == 6)
        #expect(stats.errorLines().map { "\($0.0):\($0.1)" }
            == ["errorstat_ERR:count=4", "errorstat_NOGROUP:count=1", "errorstat_WRONGTYPE:count=1"])
        stats.reset()
        #expect(stats.totalErrorReplies == 0 && stats.errorLines().isEmpty)
    }

    @Test func subcommandsHaveTheirOwnSlotsAndLines() {
        let stats = CommandStats(CommandTable.entries)
        let config = Command.config.rawValue
        let resetstat = CommandTable.spec(.config).subcommands.firstIndex { $0.name == "config|resetstat" } ?? -1
        let slot = stats.slot(config, resetstat)
        #expect(slot >= Command.allCases.count)
        #expect(stats.names[slot] == "config|resetstat")
        // A command without subcommands ignores a subcommand left behind (EXEC's queued ones).
        #expect(stats.slot(Command.exec.rawValue, 3) == Command.exec.rawValue)
        #expect(stats.slot(config, -1) == config)
        stats.slots[slot].calls = 3
        stats.slots[slot].nanos = 10_500
        stats.slots[Command.ping.rawValue].rejected = 1
        #expect(stats.commandLines().map { "\($0.0):\($0.1)" } == [
            "cmdstat_ping:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0",
            "cmdstat_config|resetstat:calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=0",
        ])
        #expect(stats.totalCalls == 3)
    }

    @Test func instantaneousRateIsTheMeanOfSixteenSamples() {
        var m = InstantaneousMetric(nowMillis: 0, count: 0)
        m.sample(nowMillis: 100, count: 160)  // 1600/s
        #expect(m.perSecond == 100)
        for k in 2...16 { m.sample(nowMillis: Int64(k) * 100, count: 160 * k) }
        #expect(m.perSecond == 1600)
        // A counter reset by CONFIG RESETSTAT is not a negative rate.
        m.sample(nowMillis: 1700, count: 0)
        #expect(m.perSecond == 1500)
    }
}
