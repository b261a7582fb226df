import VimanaCore

/// `vimana bench`: a load generator that speaks RESP to any server.
///
/// Promises: subscribers are all confirmed subscribed before the first
/// PUBLISH; every thread is joined before `run` returns (a server that
/// closes or stalls a subscriber ends that subscriber, never the run);
/// losses and disconnections are reported in the result, while failures to
/// set up (connection refused, SUBSCRIBE refused) throw.
public enum Bench {
    /// Runs the load (or, with `idleConnections` > 0, the idle-connection
    /// hold) described by `options`. `progress` receives one-line status
    /// messages meant for stderr, such as the "ready" line of idle mode.
    public static func run(_ options: BenchOptions, progress: ((String) -> Void)? = nil) throws(BenchError) -> BenchResult {
        try options.validate()
        if options.idleConnections > 0 {
            let idle = try IdleConnections.hold(options, progress: progress)
            return BenchResult(options: options, idle: idle)
        }
        let control = BenchControl()
        let setup = WorkerSetup(options)
        try FileLimit.raise(to: options.publishers + options.subscribers + 64)

        var subscribers: [BenchThread<SubscriberStats>] = []
        var publishers: [BenchThread<PublisherStats>] = []
        var spawnFailed = false
        for _ in 0..<options.subscribers {
            let expected = options.messages
            let drain = options.drainIdleSeconds
            guard let t = BenchThread.spawn({
                Subscriber.run(setup: setup, expected: expected, drainIdleSeconds: drain, control: control)
            }) else { spawnFailed = true; break }
            subscribers.append(t)
        }
        let subscribed = !spawnFailed && control.wait(timeout: options.setupTimeoutSeconds) {
            control.subscribersReady.load(ordering: .acquiring) == options.subscribers
        }
        if subscribed {
            for share in shares(options.messages, among: options.publishers) {
                guard let t = BenchThread.spawn({
                    Publisher.run(setup: setup, messages: share, payloadSize: options.payloadSize,
                                  pipeline: options.pipeline, control: control)
                }) else { spawnFailed = true; break }
                publishers.append(t)
            }
        }
        let ready = subscribed && !spawnFailed && control.wait(timeout: options.setupTimeoutSeconds) {
            control.publishersReady.load(ordering: .acquiring) == options.publishers
        }
        if !ready { control.abort.store(true, ordering: .releasing) }
        let start = Clock.monotonicNanos()
        control.startNanos.store(start, ordering: .releasing)

        let publisherStats = publishers.map { $0.join() ?? PublisherStats(failure: "thread ended without a result") }
        control.publishersDone.store(true, ordering: .releasing)
        let subscriberStats = subscribers.map { $0.join() ?? SubscriberStats(failure: "thread ended without a result") }
        let end = Clock.monotonicNanos()

        if !ready {
            let failures = (subscriberStats.compactMap(\.failure) + publisherStats.compactMap(\.failure))
            if let first = failures.first { throw .setup(first) }
            if spawnFailed { throw .setup("cannot start a thread per connection") }
            throw .setup("connections were not ready within \(options.setupTimeoutSeconds) s")
        }
        return BenchResult(options: options, startNanos: start, endNanos: end,
                           publishers: publisherStats, subscribers: subscriberStats)
    }

    /// `total` split into `parts` nearly equal shares (the first ones larger).
    static func shares(_ total: Int, among parts: Int) -> [Int] {
        guard parts > 0 else { return [] }
        return (0..<parts).map { total / parts + ($0 < total % parts ? 1 : 0) }
    }
}
