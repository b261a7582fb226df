import VimanaCore
import VimanaRESP

/// SLOWLOG's subcommands, as in the table (`slowlog|get` …).
enum SlowlogSubcommand: String, Keyword {
    case get, len, reset, help
}

/// LATENCY's subcommands, as in the table (`latency|latest` …).
enum LatencySubcommand: String, Keyword {
    case latest, history, reset, graph, doctor, help
}

/// A value a setting may not take, in Redis's words (CONFIG SET's
/// `argument must be between -1 and 9223372036854775807 inclusive`).
struct ConfigValueError: Error, CustomStringConvertible, Equatable {
    let description: String

    static func range(_ min: Int, _ max: Int) -> ConfigValueError {
        ConfigValueError(description: "argument must be between \(min) and \(max) inclusive")
    }
}

/// What happens after each command for INFO commandstats and errorstats,
/// SLOWLOG and LATENCY (their state: CommandStats.swift, SlowLog.swift,
/// LatencyMonitor.swift), and the commands and settings that read them.
extension Kernel {
    // MARK: - After each command

    /// Whether the reply `call` wrote from stream position `mark` (as
    /// `flushedBytes` counts) is an error: its first byte is `-`. Redis
    /// counts a call failed when an error reply was added during it; a
    /// command's reply is one value, so its first byte says it.
    @inline(__always)
    func replyIsError(_ c: UnsafeMutablePointer<ClientState>, _ mark: Int) -> Bool {
        let offset = mark &- c.pointee.flushedBytes &- c.pointee.output.queuedBytes
        return offset >= 0 && offset < c.pointee.output.tail.readableBytes && c.pointee.output.tail.readPointer[offset] == 45
    }

    /// The bytes after the `-` of the error reply at `mark` (up to the
    /// code's search length), or nil when the reply there is not an error.
    func errorHead(_ c: UnsafeMutablePointer<ClientState>, _ mark: Int) -> [UInt8]? {
        guard replyIsError(c, mark) else { return nil }
        let offset = mark &- c.pointee.flushedBytes &- c.pointee.output.queuedBytes
        let available = c.pointee.output.tail.readableBytes - offset - 1
        let n = min(available, KernelConstants.errorCodeScan - 1)
        return Array(UnsafeBufferPointer(start: c.pointee.output.tail.readPointer + offset + 1, count: max(n, 0)))
    }

    /// Counts an error reply written outside a command's call (an unknown
    /// command, a protocol error, a refusal before the call).
    func countError(_ text: String) {
        s.pointee.stats.countError(text)
    }

    /// The rest of `call` for a call that was slow, failed, was refused
    /// inside its handler, or blocked: Redis's call() bookkeeping.
    @inline(never)
    func accountCall(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ slot: Int, _ args: Arguments,
                     elapsed: Int64, mark: Int) {
        let refusal = s.pointee.stats.subcommandRefusal
        s.pointee.stats.subcommandRefusal = CommandStats.noRefusal
        if let head = errorHead(c, mark) {
            s.pointee.stats.countError(head)
            // Refused before the call in Redis: no call, and a known
            // subcommand's refusal is its rejected call.
            if refusal == CommandStats.unknownSubcommand { return }
            if refusal >= 0 {
                s.pointee.stats.slots[refusal].rejected &+= 1
                return
            }
            s.pointee.stats.slots[slot].failed &+= 1
        }
        s.pointee.stats.slots[slot].calls &+= 1
        s.pointee.stats.slots[slot].nanos &+= elapsed
        if c.pointee.flags.contains(.blocked) {
            // Redis 7.0 logs a blocked command when it is served, with the
            // time of this call and of its reply (not of the wait).
            clientInfo(c.pointee.fd)?.blockedCall = BlockedCall(slot: slot, nanos: elapsed, arguments: loggedArguments(command, args))
            return
        }
        if elapsed >= s.pointee.slowCallNanos {
            noteSlowCall(c, slot, elapsed: elapsed, arguments: { loggedArguments(command, args) })
        }
        s.pointee.slowCallNanos = s.pointee.slowCallThreshold
    }

    /// The slow log and the latency monitor for a call of `elapsed` ns.
    func noteSlowCall(_ c: UnsafeMutablePointer<ClientState>, _ slot: Int, elapsed: Int64, arguments: () -> [[UInt8]]) {
        let spec = statsSpec(slot)
        let micros = elapsed / 1000
        if !spec.flags.contains("skip_slowlog") {
            // Redis trims on every attempt; the arguments are built only for an entry.
            let logging = s.pointee.slowlogLogSlowerThan >= 0 && micros >= Int64(s.pointee.slowlogLogSlowerThan)
            let info = clientInfo(c.pointee.fd)
            s.pointee.slowLog.push(micros: micros, threshold: s.pointee.slowlogLogSlowerThan, maxLength: s.pointee.slowlogMaxLen,
                                   time: Clock.wallMillis() / 1000, arguments: logging ? arguments() : [],
                                   peer: info?.address ?? "", name: info?.name ?? [])
        }
        recordLatency(spec.flags.contains("fast") ? "fast-command" : "command", nanos: elapsed)
    }

    /// The spec of a stats slot: a command's, or a subcommand's.
    func statsSpec(_ slot: Int) -> CommandSpec {
        let entries = CommandTable.entries
        if slot < entries.count { return entries[slot].spec }
        for (k, entry) in entries.enumerated() where !entry.spec.subcommands.isEmpty {
            let base = s.pointee.stats.subcommandBase[k]
            if slot >= base && slot < base + entry.spec.subcommands.count { return entry.spec.subcommands[slot - base] }
        }
        return CommandTable.emptyEntry.spec
    }

    /// A command's arguments as the slow log keeps them, secrets replaced
    /// by `(redacted)` where Redis 7.0 redacts them: AUTH's, HELLO's after
    /// AUTH, ACL SETUSER's, CONFIG SET's value of a password setting.
    func loggedArguments(_ command: Command, _ args: Arguments) -> [[UInt8]] {
        var words = (0..<args.count).map { Array(args.buffer($0)) }
        func redact(_ i: Int) { if i < words.count { words[i] = SlowLog.redacted } }
        switch command {
        case .auth:
            for i in 1..<words.count { redact(i) }
        case .hello:
            var j = 2
            while j < words.count {
                let word = String(decoding: words[j], as: UTF8.self).lowercased()
                if word == "auth" && words.count - j - 1 >= 2 {
                    redact(j + 1)
                    redact(j + 2)
                    j += 3
                } else if word == "setname" && words.count - j - 1 >= 1 {
                    j += 2
                } else {
                    break
                }
            }
        case .acl where words.count > 2 && String(decoding: words[1], as: UTF8.self).lowercased() == "setuser":
            for i in 2..<words.count { redact(i) }
        case .config where words.count > 3 && String(decoding: words[1], as: UTF8.self).lowercased() == "set":
            var j = 2
            while j + 1 < words.count {
                let name = String(decoding: words[j], as: UTF8.self).lowercased()
                if name == "requirepass" || name == "masterauth" { redact(j + 1) }
                j += 2
            }
        default:
            break
        }
        return words
    }

    /// Adds a latency sample when `nanos` reaches `latency-monitor-threshold`.
    func recordLatency(_ event: String, nanos: Int64) {
        let threshold = s.pointee.latencyMonitorThreshold
        guard threshold > 0 else { return }
        let millis = Int(nanos / 1_000_000)
        if millis >= threshold { s.pointee.latency.add(event, millis: millis, now: Clock.wallMillis() / 1000) }
    }

    /// A blocked XREAD or XREADGROUP answered after its wait: Redis 7.0's
    /// updateStatsOnUnblock (time of the call and of the reply, failed
    /// when the reply is an error, the slow log), not for a timeout.
    func accountServedRead(_ c: UnsafeMutablePointer<ClientState>, replyNanos: Int64, mark: Int) {
        guard let info = clientInfo(c.pointee.fd), let call = info.blockedCall else { return }
        info.blockedCall = nil
        if let head = errorHead(c, mark) {
            s.pointee.stats.countError(head)
            s.pointee.stats.slots[call.slot].failed &+= 1
        }
        let total = call.nanos &+ replyNanos
        s.pointee.stats.slots[call.slot].nanos &+= total
        noteSlowCall(c, call.slot, elapsed: total, arguments: { call.arguments })
    }

    // MARK: - The loop's pass and timer

    /// The loop woke: the first command's time counts from here; the
    /// pass before is an `event-loop` latency sample when long enough.
    public func passBegins(nowNanos: Int64, previousPassNanos: Int64) {
        s.pointee.clockMark = nowNanos
        if previousPassNanos >= 1_000_000 { recordLatency("event-loop", nanos: previousPassNanos) }
    }

    /// The `instantaneous_*` rates: a sample every 100 ms (from `tick`).
    func sampleInstantaneousMetrics() {
        let now = Clock.wallMillis()
        guard now - s.pointee.instantaneous.lastSampleMillis >= KernelConstants.instantaneousSampleMillis else { return }
        s.pointee.instantaneous.lastSampleMillis = now
        s.pointee.instantaneous.commands.sample(nowMillis: now, count: s.pointee.stats.totalCalls)
        s.pointee.instantaneous.netInput.sample(nowMillis: now, count: s.pointee.metrics.netInputBytes)
        s.pointee.instantaneous.netOutput.sample(nowMillis: now, count: s.pointee.metrics.netOutputBytes)
    }

    /// An fsync of the ledger (its time measured by the thread that made
    /// it, handed to the loop with the durable sequence): `ledger-fsync`.
    func ledgerFsynced(nanos: Int64) {
        recordLatency("ledger-fsync", nanos: nanos)
    }

    // MARK: - Settings (CONFIG GET, and CONFIG SET through these setters)

    /// `slowlog-log-slower-than`: µs, -1 … Int.max (negative: off, 0: every command).
    func setSlowlogLogSlowerThan(_ value: Int) throws(ConfigValueError) {
        guard value >= -1 else { throw .range(-1, Int.max) }
        s.pointee.setStatsSettings(slowlogLogSlowerThan: value, slowlogMaxLen: s.pointee.slowlogMaxLen,
                                   latencyMonitorThreshold: s.pointee.latencyMonitorThreshold)
    }

    /// `slowlog-max-len`: 0 … Int.max entries; a shorter log is trimmed at the next command, as Redis.
    func setSlowlogMaxLen(_ value: Int) throws(ConfigValueError) {
        guard value >= 0 else { throw .range(0, Int.max) }
        s.pointee.setStatsSettings(slowlogLogSlowerThan: s.pointee.slowlogLogSlowerThan, slowlogMaxLen: value,
                                   latencyMonitorThreshold: s.pointee.latencyMonitorThreshold)
    }

    /// `latency-monitor-threshold`: ms, 0 … Int.max (0: off).
    func setLatencyMonitorThreshold(_ value: Int) throws(ConfigValueError) {
        guard value >= 0 else { throw .range(0, Int.max) }
        s.pointee.setStatsSettings(slowlogLogSlowerThan: s.pointee.slowlogLogSlowerThan, slowlogMaxLen: s.pointee.slowlogMaxLen,
                                   latencyMonitorThreshold: value)
    }

    // MARK: - CONFIG RESETSTAT

    /// What Redis 7.0's CONFIG RESETSTAT resets: the stats counters, the
    /// instantaneous rates, commandstats and errorstats. Not the slow log,
    /// not the latency events (Redis keeps both).
    func resetStats() {
        s.pointee.metrics = Metrics()
        s.pointee.stats.reset()
        let now = Clock.wallMillis()
        s.pointee.instantaneous = InstantaneousMetrics(nowMillis: now)
    }

    // MARK: - SLOWLOG

    func slowlogCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .slowlog, args, as: SlowlogSubcommand.self) else { return }
        switch sub {
        case .get:
            var count = KernelConstants.slowlogDefaultGetCount
            if args.count == 3 {
                guard let n = args.integer(2), n >= -1 else {
                    c.pointee.output.tail.writeError(ErrorReply.slowlogCount)
                    return
                }
                count = n == -1 ? s.pointee.slowLog.count : n
            } else if args.count > 3 {
                c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity(args.string(1), container: "SLOWLOG"))
                return
            }
            let entries = s.pointee.slowLog.newest(count)
            c.pointee.output.tail.writeArrayHeader(entries.count)
            for e in entries {
                c.pointee.output.tail.writeArrayHeader(6)
                c.pointee.output.tail.writeInteger(e.id)
                c.pointee.output.tail.writeInteger(Int(e.time))
                c.pointee.output.tail.writeInteger(Int(e.micros))
                c.pointee.output.tail.writeArrayHeader(e.arguments.count)
                for a in e.arguments { c.pointee.output.tail.writeBulk(bytes: a) }
                c.pointee.output.tail.writeBulk(string: e.peer)
                c.pointee.output.tail.writeBulk(bytes: e.name)
            }
        case .len:
            c.pointee.output.tail.writeInteger(s.pointee.slowLog.count)
        case .reset:
            s.pointee.slowLog.reset()
            c.pointee.output.tail.writeSimple("OK")
        case .help:
            replyHelp(c, [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ])
        }
    }

    // MARK: - LATENCY

    func latencyCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .latency, args, as: LatencySubcommand.self) else { return }
        let resp3 = c.pointee.flags.contains(.resp3)
        switch sub {
        case .latest:
            let events = s.pointee.latency.events
            c.pointee.output.tail.writeArrayHeader(events.count)
            for (name, ts) in events {
                c.pointee.output.tail.writeArrayHeader(4)
                c.pointee.output.tail.writeBulk(string: name)
                c.pointee.output.tail.writeInteger(Int(ts.latest.time))
                c.pointee.output.tail.writeInteger(ts.latest.latency)
                c.pointee.output.tail.writeInteger(ts.max)
            }
        case .history:
            let history = s.pointee.latency.series(args.string(2))?.history ?? []
            c.pointee.output.tail.writeArrayHeader(history.count)
            for sample in history {
                c.pointee.output.tail.writeArrayHeader(2)
                c.pointee.output.tail.writeInteger(Int(sample.time))
                c.pointee.output.tail.writeInteger(sample.latency)
            }
        case .reset:
            var resets = 0
            if args.count == 2 {
                resets = s.pointee.latency.reset(nil)
            } else {
                for i in 2..<args.count { resets += s.pointee.latency.reset(args.string(i)) }
            }
            c.pointee.output.tail.writeInteger(resets)
        case .graph:
            let event = args.string(2)
            guard let ts = s.pointee.latency.series(event) else {
                c.pointee.output.tail.writeError(ErrorReply.noLatencySamples(event))
                return
            }
            c.pointee.output.tail.writeVerbatim(latencyGraph(event, ts), resp3: resp3)
        case .doctor:
            c.pointee.output.tail.writeVerbatim(latencyReport(), resp3: resp3)
        case .help:
            replyHelp(c, [
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HELP",
                "    Prints this help.",
            ])
        }
    }

    /// LATENCY DOCTOR: Redis's text while monitoring is off and nothing was
    /// recorded, and its line per event otherwise (Redis's advice on what
    /// to tune is not given: Vimana's events are not Redis's causes).
    func latencyReport() -> String {
        let events = s.pointee.latency.events
        if events.isEmpty && s.pointee.latencyMonitorThreshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
        }
        if events.isEmpty {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n"
        }
        var report = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
        let now = Clock.wallMillis() / 1000
        for (k, (name, ts)) in events.enumerated() {
            let a = LatencyMonitor.analyze(ts, now: now)
            let period = a.samples == 0 ? 0 : Double(a.period) / Double(a.samples)
            report += "\(k + 1). \(name): \(a.samples) latency spikes (average \(a.avg)ms, mean deviation \(a.mad)ms, period \(String(format2: period)) sec). Worst all time event \(ts.max)ms.\n"
        }
        report += "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your request.\n"
        return report
    }

    /// LATENCY GRAPH: Redis's header, then one line per sample, oldest
    /// first (Redis draws a sparkline; this is the same data as text).
    func latencyGraph(_ event: String, _ ts: LatencyMonitor.Series) -> String {
        let history = ts.history
        let high = history.map(\.latency).max() ?? 0, low = history.map(\.latency).min() ?? 0
        var text = "\(event) - high \(high) ms, low \(low) ms (all time high \(ts.max) ms)\n"
        text += String(repeating: "-", count: 80) + "\n"
        let now = Clock.wallMillis() / 1000
        for sample in history { text += "\(now - sample.time)s ago: \(sample.latency) ms\n" }
        return text
    }
}

/// A blocked command's call, kept until it is served (`accountServedRead`).
struct BlockedCall {
    let slot: Int
    let nanos: Int64
    let arguments: [[UInt8]]
}
