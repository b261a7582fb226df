/// LATENCY's events, as Redis 7.0's latency.c keeps them: per event the
/// latest 160 samples (one per second at most, the worst of that second),
/// the latest latency and the worst of all time, in milliseconds.
///
/// Events Vimana records (each when it took at least
/// `latency-monitor-threshold` ms, and only while that is above 0):
/// `command` and `fast-command` (a command, by its `fast` flag, as Redis),
/// `event-loop` (one pass of the event loop, from the wake-up to the next
/// wait), `ledger-fsync` (an fsync of the ledger's active segment).
struct LatencyMonitor {
    struct Sample {
        var time: Int64 = 0
        var latency: Int = 0
    }

    struct Series {
        var samples = [Sample](repeating: Sample(), count: KernelConstants.latencySamples)
        var index = 0
        var max = 0

        /// The samples with a time, oldest first.
        var history: [Sample] {
            (0..<samples.count).map { samples[(index + $0) % samples.count] }.filter { $0.time != 0 }
        }

        var latest: Sample { samples[(index + samples.count - 1) % samples.count] }
    }

    /// By event name, in the order each first occurred.
    private(set) var events: [(name: String, series: Series)] = []

    /// Redis's latencyAddSample: the worst of one second is kept.
    mutating func add(_ event: String, millis: Int, now: Int64) {
        var k = events.firstIndex { $0.name == event }
        if k == nil {
            events.append((event, Series()))
            k = events.count - 1
        }
        guard let k else { return }
        var ts = events[k].series
        if millis > ts.max { ts.max = millis }
        let previous = (ts.index + ts.samples.count - 1) % ts.samples.count
        if ts.samples[previous].time == now {
            if millis > ts.samples[previous].latency { ts.samples[previous].latency = millis }
        } else {
            ts.samples[ts.index] = Sample(time: now, latency: millis)
            ts.index = (ts.index + 1) % ts.samples.count
        }
        events[k].series = ts
    }

    func series(_ event: String) -> Series? { events.first { $0.name == event }?.series }

    /// LATENCY RESET: the named event (any case, as Redis's strcasecmp), or
    /// every event when nil; how many were reset.
    mutating func reset(_ event: String?) -> Int {
        let before = events.count
        if let event {
            let lower = event.lowercased()
            events.removeAll { $0.name.lowercased() == lower }
        } else {
            events.removeAll()
        }
        return before - events.count
    }

    /// Redis's analyzeLatencyForEvent: samples, their mean, mean absolute
    /// deviation, and the seconds since the oldest (at least 1).
    static func analyze(_ ts: Series, now: Int64) -> (samples: Int, avg: Int, mad: Int, period: Int64) {
        let history = ts.history
        guard !history.isEmpty else { return (0, 0, 0, 0) }
        let sum = history.reduce(0) { $0 &+ $1.latency }
        let avg = sum / history.count
        let oldest = history.map(\.time).min() ?? now
        let period = max(now - oldest, 1)
        let mad = history.reduce(0) { $0 &+ abs(avg - $1.latency) } / history.count
        return (history.count, avg, mad, period)
    }
}
