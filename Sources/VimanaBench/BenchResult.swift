/// The outcome of one bench run: raw per-connection figures plus the
/// derived rates every report shows. Rates are per second of wall time
/// measured from the start signal (all connections ready) on.
public struct BenchResult: Sendable {
    public var options: BenchOptions
    public var publishers: [PublisherStats] = []
    public var subscribers: [SubscriberStats] = []
    /// Set in idle mode only.
    public var idle: IdleStats?
    /// Start signal to the last thread's end, in seconds.
    public var durationSeconds = 0.0
    private var startNanos: Int64 = 0

    init(options: BenchOptions, idle: IdleStats) {
        self.options = options
        self.idle = idle
    }

    init(options: BenchOptions, startNanos: Int64, endNanos: Int64,
         publishers: [PublisherStats], subscribers: [SubscriberStats]) {
        self.options = options
        self.startNanos = startNanos
        self.publishers = publishers
        self.subscribers = subscribers
        durationSeconds = Double(endNanos - startNanos) / 1e9
    }

    // MARK: - Publishing

    /// PUBLISH commands acknowledged (integer replies).
    public var published: Int { publishers.reduce(0) { $0 + $1.acknowledged } }
    public var publishErrors: Int { publishers.reduce(0) { $0 + $1.errors } }
    /// Seconds from the start signal until the last publisher's last reply.
    public var publishSeconds: Double { seconds(until: publishers.map(\.endNanos).max() ?? startNanos) }
    /// Acknowledged PUBLISH commands per second, all publishers together.
    public var publishRate: Double { rate(published, publishSeconds) }

    // MARK: - Delivery

    /// Messages received, all subscribers together.
    public var delivered: Int { subscribers.reduce(0) { $0 + $1.received } }
    /// Seconds from the start signal until the last subscriber's last message.
    public var deliverySeconds: Double { seconds(until: subscribers.map(\.lastNanos).max() ?? startNanos) }
    /// Deliveries per second, all subscribers together.
    public var deliveredRate: Double { rate(delivered, deliverySeconds) }
    /// Each subscriber's deliveries per second, from the start signal to its last message.
    public var subscriberRates: [Double] { subscribers.map { rate($0.received, seconds(until: $0.lastNanos)) } }
    /// Messages each subscriber should have received and did not, summed.
    public var lost: Int { subscribers.reduce(0) { $0 + (options.messages - $1.received) } }
    /// Subscribers the server disconnected before they had every message.
    public var disconnected: Int { subscribers.filter(\.disconnected).count }
    /// Every failure a worker reported, in order (publishers first).
    public var failures: [String] {
        publishers.compactMap(\.failure).map { "publisher: " + $0 }
            + subscribers.compactMap(\.failure).map { "subscriber: " + $0 }
    }

    // MARK: - Latency

    /// Sampled delivery latencies, all subscribers together, in microseconds.
    public var latency: LatencySummary? { LatencySummary(subscribers.flatMap(\.latencies)) }

    private func seconds(until end: Int64) -> Double { max(0, Double(end - startNanos) / 1e9) }
    private func rate(_ count: Int, _ seconds: Double) -> Double { seconds > 0 ? Double(count) / seconds : 0 }
}

/// Percentiles of sampled delivery latency, in microseconds.
public struct LatencySummary: Sendable, Equatable {
    public var samples: Int
    public var p50: Double
    public var p99: Double
    public var max: Double

    /// Nil when there are no samples (payloads under 8 bytes carry no send time).
    init?(_ nanos: [Int64]) {
        guard !nanos.isEmpty else { return nil }
        let sorted = nanos.sorted()
        func at(_ q: Double) -> Double { Double(sorted[Int((Double(sorted.count - 1) * q).rounded())]) / 1000 }
        samples = sorted.count
        p50 = at(0.5)
        p99 = at(0.99)
        max = at(1)
    }
}
