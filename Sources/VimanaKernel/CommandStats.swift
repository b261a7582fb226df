/// What INFO `commandstats`, `errorstats` and the `instantaneous_*` fields
/// of `stats` report, as Redis 7.0 counts them: per command and per
/// subcommand its calls, time, rejected and failed calls; error replies by
/// their first word; and the rates sampled every 100 ms over 16 samples.
///
/// One slot per command (`Command.rawValue`) and then one per subcommand,
/// in raw memory: the per-request update is two adds at an index (an Array
/// here would cost a uniqueness check on every increment). `~Copyable`: one
/// value owns the memory, and `deinit` frees it.
struct CommandStats: ~Copyable {
    struct Counters {
        var calls = 0
        /// Summed in nanoseconds (Redis sums whole microseconds per call,
        /// so its fast commands lose their fractions; INFO divides at the end).
        var nanos: Int64 = 0
        var rejected = 0
        var failed = 0
    }

    /// Every slot: commands first, then each container's subcommands.
    let slots: UnsafeMutablePointer<Counters>
    let slotCount: Int
    /// The first slot of each command's subcommands, by `Command.rawValue`
    /// (-1 for a command without subcommands).
    let subcommandBase: UnsafeMutablePointer<Int>
    /// Each slot's name as INFO writes it (`xadd`, `client|list`).
    let names: [String]
    /// The slots in INFO's order: each command, then its subcommands.
    let infoOrder: [Int]

    /// Error replies by their code (`ERR`, `WRONGTYPE`, `NOPERM` …).
    var errors: [String: Int] = [:]
    /// INFO's `total_error_replies`: every error reply sent.
    var totalErrorReplies = 0

    /// Set by `Kernel.subcommand` when it refuses a subcommand (unknown, or
    /// the wrong number of arguments), read by the call's accounting when
    /// its reply is an error: Redis refuses both before the call, so the
    /// container is not called; a known subcommand's refusal counts as its
    /// `rejected_calls`. `noRefusal`, `unknownSubcommand`, or a slot.
    var subcommandRefusal = CommandStats.noRefusal
    static let noRefusal = -1
    static let unknownSubcommand = -2

    init(_ entries: [CommandEntry]) {
        var names = entries.map(\.spec.name)
        let base = UnsafeMutablePointer<Int>.allocate(capacity: max(entries.count, 1))
        var order: [Int] = []
        var next = entries.count
        for (k, entry) in entries.enumerated() {
            base[k] = entry.spec.subcommands.isEmpty ? -1 : next
            order.append(k)
            for (i, sub) in entry.spec.subcommands.enumerated() {
                names.append(sub.name)
                order.append(next + i)
            }
            next += entry.spec.subcommands.count
        }
        slotCount = next
        slots = .allocate(capacity: max(next, 1))
        slots.initialize(repeating: Counters(), count: max(next, 1))
        subcommandBase = base
        self.names = names
        infoOrder = order
    }

    deinit {
        slots.deallocate()
        subcommandBase.deallocate()
    }

    /// The slot of `command`, or of its subcommand `sub` (≥ 0; ignored
    /// for a command without subcommands).
    @inline(__always)
    func slot(_ command: Int, _ sub: Int) -> Int {
        if sub < 0 { return command }
        let base = subcommandBase[command]
        return base < 0 ? command : base &+ sub
    }

    /// INFO's `total_commands_processed`: every call counted.
    var totalCalls: Int {
        var n = 0
        for i in 0..<slotCount { n &+= slots[i].calls }
        return n
    }

    /// Counts one error reply by its code: the first word of `text` when
    /// a space ends it within 32 bytes, else `ERR` (Redis's afterErrorReply).
    mutating func countError(_ text: String) {
        countError(Array(text.utf8.prefix(KernelConstants.errorCodeScan)))
    }

    mutating func countError(_ head: [UInt8]) {
        totalErrorReplies &+= 1
        let scan = head.prefix(KernelConstants.errorCodeScan)
        let code = scan.firstIndex(of: 32).map { String(decoding: scan[..<$0], as: UTF8.self) } ?? "ERR"
        errors[code.isEmpty ? "ERR" : code, default: 0] &+= 1
    }

    /// CONFIG RESETSTAT: every call, time and error count back to zero.
    mutating func reset() {
        slots.update(repeating: Counters(), count: slotCount)
        errors = [:]
        totalErrorReplies = 0
    }

    /// INFO `commandstats`: a line per command or subcommand that was
    /// called, rejected or failed, as Redis writes it.
    func commandLines() -> [(String, String)] {
        infoOrder.compactMap { i in
            let s = slots[i]
            guard s.calls != 0 || s.rejected != 0 || s.failed != 0 else { return nil }
            let usec = s.nanos / 1000
            let perCall = s.calls == 0 ? 0 : Double(usec) / Double(s.calls)
            return ("cmdstat_" + names[i],
                    "calls=\(s.calls),usec=\(usec),usec_per_call=\(String(format2: perCall)),rejected_calls=\(s.rejected),failed_calls=\(s.failed)")
        }
    }

    /// INFO `errorstats`: a line per error code, in the codes' byte order
    /// (Redis keeps them in a radix tree).
    func errorLines() -> [(String, String)] {
        errors.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { ("errorstat_" + $0, "count=\(errors[$0] ?? 0)") }
    }
}

/// The `instantaneous_*` rates: Redis's trackInstantaneousMetric, a sample
/// every `sampleMillis` of the counter's growth per second, averaged over
/// the last `samples`.
struct InstantaneousMetric {
    private var samples = [Int](repeating: 0, count: KernelConstants.instantaneousSamples)
    private var index = 0
    private var lastMillis: Int64 = 0
    private var lastCount = 0

    init(nowMillis: Int64, count: Int) {
        lastMillis = nowMillis
        lastCount = count
    }

    /// Takes a sample of `count` at `nowMillis` (a counter that went back,
    /// after CONFIG RESETSTAT, starts afresh).
    mutating func sample(nowMillis: Int64, count: Int) {
        let elapsed = nowMillis - lastMillis
        let grown = count >= lastCount ? count - lastCount : 0
        samples[index] = elapsed > 0 ? Int((Int64(grown).multipliedSaturating(by: 1000)) / elapsed) : 0
        index = (index + 1) % samples.count
        lastMillis = nowMillis
        lastCount = count
    }

    /// The mean of the samples, per second.
    var perSecond: Int { samples.reduce(0, &+) / samples.count }

    /// CONFIG RESETSTAT: no samples, counting from `count` now.
    mutating func reset(nowMillis: Int64, count: Int) {
        self = InstantaneousMetric(nowMillis: nowMillis, count: count)
    }
}

/// The rates INFO `stats` shows, sampled by the loop's timer.
struct InstantaneousMetrics {
    var commands: InstantaneousMetric
    var netInput: InstantaneousMetric
    var netOutput: InstantaneousMetric
    /// When the last sample was taken (wall ms).
    var lastSampleMillis: Int64

    init(nowMillis: Int64) {
        commands = InstantaneousMetric(nowMillis: nowMillis, count: 0)
        netInput = commands
        netOutput = commands
        lastSampleMillis = nowMillis
    }
}
