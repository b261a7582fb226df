import VimanaClient
import VimanaCore

/// `vimana bench --tasks PEER`: the task round trip (submit → deliver →
/// acknowledge) against Vimana, Redis Streams or beanstalkd, with one
/// producer and `workers` workers driven by the same code.
///
/// Promises: workers are connected (and joined) before the first task; a run
/// ends when every task's acknowledgement is confirmed, or 3 s after the last
/// progress once the producer is done (the rest reported as lost); every
/// thread is joined before `run` returns.
public enum TaskBench {
    public static func run(_ options: BenchOptions, peer: TaskPeer) throws(BenchError) -> TaskBenchResult {
        try options.validate()
        if peer == .redis { try prepareRedis(options) }
        let control = BenchControl()
        let setup = WorkerSetup(options)
        try FileLimit.raise(to: options.workers + 64)

        var workers: [BenchThread<TaskWorkerStats>] = []
        var spawnFailed = false
        for k in 0..<options.workers {
            let o = options
            guard let t = BenchThread.spawn({
                var worker = TaskWorker(peer: peer, setup: setup, index: k, agent: o.agent, prefetch: o.prefetch,
                                        expected: o.messages, control: control)
                return worker.run()
            }) else { spawnFailed = true; break }
            workers.append(t)
        }
        let joined = !spawnFailed && control.wait(timeout: options.setupTimeoutSeconds) {
            control.subscribersReady.load(ordering: .acquiring) == options.workers
        }
        var producer: BenchThread<TaskProducerStats>?
        if joined {
            let o = options
            producer = BenchThread.spawn {
                TaskProducer.run(peer: peer, setup: setup, messages: o.messages, payloadSize: o.payloadSize,
                                 pipeline: o.pipeline, control: control)
            }
        }
        let ready = joined && producer != nil && control.wait(timeout: options.setupTimeoutSeconds) {
            control.publishersReady.load(ordering: .acquiring) == 1
        }
        if !ready { control.abort.store(true, ordering: .releasing) }
        let start = Clock.monotonicNanos()
        control.startNanos.store(start, ordering: .releasing)
        let produced = producer?.join() ?? TaskProducerStats(failure: "producer thread not started")
        control.publishersDone.store(true, ordering: .releasing)
        let worked = workers.map { $0.join() ?? TaskWorkerStats(failure: "thread ended without a result") }
        if !ready {
            if let first = (worked.compactMap(\.failure) + [produced.failure].compactMap { $0 }).first { throw .setup(first) }
            throw .setup("workers were not ready within \(options.setupTimeoutSeconds) s")
        }
        return TaskBenchResult(options: options, peer: peer, producer: produced, workers: worked, startNanos: start)
    }

    /// A fresh stream with the workers' group at its end.
    static func prepareRedis(_ options: BenchOptions) throws(BenchError) {
        do {
            let c = try RESPConnection(host: options.host, port: options.port, timeout: options.setupTimeoutSeconds)
            c.setReadTimeout(options.setupTimeoutSeconds)
            try c.call("DEL", options.topic)
            let r = try c.call("XGROUP", "CREATE", options.topic, options.agent, "$", "MKSTREAM")
            if case .error(let m) = r { throw BenchError.setup("XGROUP CREATE: \(m)") }
        } catch let e as BenchError {
            throw e
        } catch {
            throw .setup("redis setup: \(error)")
        }
    }
}

extension TaskProducerStats {
    init(failure: String) { self.init(); self.failure = failure }
}

extension TaskWorkerStats {
    init(failure: String) { self.init(); self.failure = failure }
}

/// The outcome of a task run. Rates are per second of wall time from the
/// start signal to the last confirmed acknowledgement.
public struct TaskBenchResult: Sendable {
    public var options: BenchOptions
    public var peer: TaskPeer
    public var producer: TaskProducerStats
    public var workers: [TaskWorkerStats]
    public var startNanos: Int64

    public var acknowledged: Int { workers.reduce(0) { $0 + $1.acknowledged } }
    public var received: Int { workers.reduce(0) { $0 + $1.received } }
    /// Start to the last confirmed acknowledgement, in seconds.
    public var seconds: Double {
        let end = workers.map(\.lastNanos).max() ?? startNanos
        return max(0, Double(end - startNanos) / 1e9)
    }
    /// Tasks round-tripped per second.
    public var rate: Double { seconds > 0 ? Double(acknowledged) / seconds : 0 }
    public var submitRate: Double {
        let s = Double(producer.endNanos - startNanos) / 1e9
        return s > 0 ? Double(producer.accepted) / s : 0
    }
    public var lost: Int { max(0, options.messages - acknowledged) }
    /// Round trips (submission sent → acknowledgement confirmed), µs.
    public var latency: LatencySummary? { LatencySummary(workers.flatMap(\.latencies)) }
    public var failures: [String] {
        [producer.failure].compactMap { $0 }.map { "producer: " + $0 } + workers.compactMap(\.failure).map { "worker: " + $0 }
    }

    public func renderTable() -> String {
        let o = options
        var lines = ["vimana bench --tasks \(peer.rawValue): \(o.host):\(o.port) \"\(o.topic)\", 1 producer (pipeline \(o.pipeline)), "
            + "\(Fmt.plural(o.workers, "worker")) (prefetch \(o.prefetch)), \(Fmt.grouped(o.messages)) tasks of \(o.payloadSize) B"]
        lines.append("Tasks: \(Fmt.grouped(rate)) tasks/s round trip (\(Fmt.grouped(acknowledged)) acknowledged in \(Fmt.fixed(seconds, 2)) s)")
        lines.append("Submit: \(Fmt.grouped(submitRate)) tasks/s (\(Fmt.grouped(producer.accepted)) accepted, \(Fmt.plural(producer.errors, "error")))")
        let perWorker = workers.map { Fmt.grouped($0.acknowledged) }.joined(separator: " | ")
        lines.append("     per worker: \(perWorker)")
        if let l = latency {
            lines.append("Latency (submit → ack confirmed): p50 \(Fmt.fixed(l.p50, 0)) µs, p99 \(Fmt.fixed(l.p99, 0)) µs, "
                + "max \(Fmt.fixed(l.max, 0)) µs (\(Fmt.grouped(l.samples)) samples)")
        }
        lines.append("Lost: \(Fmt.grouped(lost)); redelivered: \(Fmt.grouped(max(0, received - acknowledged)))")
        for f in failures { lines.append("Failure: " + f) }
        return lines.joined(separator: "\n") + "\n"
    }

    public func renderJSON() -> String {
        let o = options
        var f: [(String, String)] = [
            ("mode", "\"tasks\""), ("peer", Log.jsonString(peer.rawValue)), ("host", Log.jsonString(o.host)),
            ("port", String(o.port)), ("topic", Log.jsonString(o.topic)), ("tasks", String(o.messages)),
            ("size", String(o.payloadSize)), ("pipeline", String(o.pipeline)), ("workers", String(o.workers)),
            ("prefetch", String(o.prefetch)), ("acknowledged", String(acknowledged)), ("received", String(received)),
            ("lost", String(lost)), ("seconds", Fmt.fixed(seconds, 4)), ("rate", Fmt.fixed(rate, 1)),
            ("submit_rate", Fmt.fixed(submitRate, 1)), ("submit_errors", String(producer.errors)),
        ]
        if let l = latency {
            f += [("p50_us", Fmt.fixed(l.p50, 1)), ("p99_us", Fmt.fixed(l.p99, 1)), ("max_us", Fmt.fixed(l.max, 1))]
        }
        f.append(("failures", "[" + failures.map(Log.jsonString).joined(separator: ",") + "]"))
        return "{" + f.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
    }
}
