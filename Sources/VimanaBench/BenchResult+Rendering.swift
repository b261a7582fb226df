import VimanaCore

extension BenchResult {
    // MARK: - Table

    /// A human-readable report in the spirit of `nats bench`.
    public func renderTable() -> String {
        let o = options
        if let idle {
            var lines = ["vimana bench: \(o.host):\(o.port), idle connections",
                         "Idle: \(Fmt.grouped(idle.open)) of \(Fmt.grouped(idle.requested)) connections open "
                            + "(opened in \(Fmt.fixed(idle.openSeconds, 2)) s, held \(Fmt.fixed(idle.heldSeconds, 1)) s)"]
            if let failure = idle.failure { lines.append("Failure: " + failure) }
            return lines.joined(separator: "\n") + "\n"
        }
        var lines: [String] = []
        lines.append("vimana bench: \(o.host):\(o.port) topic \"\(o.topic)\", \(Fmt.plural(o.publishers, "publisher")), "
            + "\(Fmt.plural(o.subscribers, "subscriber")), \(Fmt.grouped(o.messages)) msgs of \(o.payloadSize) B, "
            + "pipeline \(o.pipeline), RESP\(o.protocolVersion)")
        if o.publishers > 0 {
            lines.append("Pub: \(Fmt.grouped(publishRate)) msgs/s ~ \(Fmt.bytes(publishRate * Double(o.payloadSize)))/s "
                + "(\(Fmt.grouped(published)) msgs in \(Fmt.fixed(publishSeconds, 2)) s, \(Fmt.plural(publishErrors, "error")))")
        }
        if o.subscribers > 0 {
            let rates = subscriberRates
            let avg = rates.reduce(0, +) / Double(max(rates.count, 1))
            lines.append("Sub: \(Fmt.grouped(deliveredRate)) msgs/s ~ \(Fmt.bytes(deliveredRate * Double(o.payloadSize)))/s total "
                + "(\(Fmt.grouped(delivered)) msgs in \(Fmt.fixed(deliverySeconds, 2)) s)")
            lines.append("     per subscriber: min \(Fmt.grouped(rates.min() ?? 0)) | avg \(Fmt.grouped(avg)) "
                + "| max \(Fmt.grouped(rates.max() ?? 0)) msgs/s")
            if rates.count > 1 && rates.count <= 20 {
                for (i, r) in rates.enumerated() {
                    lines.append("     [\(i + 1)] \(Fmt.grouped(r)) msgs/s (\(Fmt.grouped(subscribers[i].received)) msgs)"
                        + (subscribers[i].disconnected ? ", disconnected" : ""))
                }
            }
            if let l = latency {
                lines.append("Latency: p50 \(Fmt.fixed(l.p50, 0)) µs, p99 \(Fmt.fixed(l.p99, 0)) µs, "
                    + "max \(Fmt.fixed(l.max, 0)) µs (\(Fmt.grouped(l.samples)) samples)")
            }
            lines.append("Lost: \(Fmt.grouped(lost))" + (disconnected > 0
                ? ", \(Fmt.plural(disconnected, "subscriber")) disconnected by the server (slow consumer?)" : ""))
        }
        lines.append("Duration: \(Fmt.fixed(durationSeconds, 2)) s")
        for failure in failures { lines.append("Failure: " + failure) }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - JSON

    /// One JSON object with every figure, for scripts (`jq`).
    public func renderJSON() -> String {
        let o = options
        var f: [(String, String)] = [
            ("host", Log.jsonString(o.host)), ("port", String(o.port)), ("topic", Log.jsonString(o.topic)),
        ]
        if let idle {
            f += [("mode", "\"idle\""), ("requested", String(idle.requested)), ("open", String(idle.open)),
                  ("open_s", Fmt.fixed(idle.openSeconds, 3)), ("held_s", Fmt.fixed(idle.heldSeconds, 3)),
                  ("failure", idle.failure.map(Log.jsonString) ?? "null")]
            return "{" + f.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
        }
        let rates = subscriberRates
        let latencyJSON = latency.map {
            "{\"p50\":\(Fmt.fixed($0.p50, 1)),\"p99\":\(Fmt.fixed($0.p99, 1)),\"max\":\(Fmt.fixed($0.max, 1)),\"samples\":\($0.samples)}"
        } ?? "null"
        f += [
            ("mode", "\"run\""), ("publishers", String(o.publishers)), ("subscribers", String(o.subscribers)),
            ("messages", String(o.messages)), ("size", String(o.payloadSize)), ("pipeline", String(o.pipeline)),
            ("resp", String(o.protocolVersion)), ("duration_s", Fmt.fixed(durationSeconds, 4)),
            ("published", String(published)), ("publish_errors", String(publishErrors)),
            ("publish_s", Fmt.fixed(publishSeconds, 4)), ("publish_rate", Fmt.fixed(publishRate, 1)),
            ("publish_bytes_rate", Fmt.fixed(publishRate * Double(o.payloadSize), 1)),
            ("delivered", String(delivered)), ("delivery_s", Fmt.fixed(deliverySeconds, 4)),
            ("delivered_rate", Fmt.fixed(deliveredRate, 1)),
            ("delivered_bytes_rate", Fmt.fixed(deliveredRate * Double(o.payloadSize), 1)),
            ("subscriber_rate", "{\"min\":\(Fmt.fixed(rates.min() ?? 0, 1)),\"avg\":"
                + "\(Fmt.fixed(rates.reduce(0, +) / Double(max(rates.count, 1)), 1)),\"max\":\(Fmt.fixed(rates.max() ?? 0, 1))}"),
            ("lost", String(lost)), ("disconnected", String(disconnected)),
            ("latency_us", latencyJSON),
            ("failures", "[" + failures.map(Log.jsonString).joined(separator: ",") + "]"),
        ]
        return "{" + f.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
    }
}

/// Number formatting without Foundation.
enum Fmt {
    /// `1234567` → `1,234,567`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    static func grouped(_ d: Double) -> String { d.isFinite ? grouped(Int(d.rounded())) : "0" }

    /// Fixed-point with `places` decimals (0…6).
    static func fixed(_ d: Double, _ places: Int) -> String {
        guard d.isFinite else { return "0" }
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((abs(d) * Double(scale)).rounded())
        let whole = String(scaled / scale)
        let sign = d < 0 && scaled != 0 ? "-" : ""
        guard places > 0 else { return sign + whole }
        let frac = String(scaled % scale)
        return sign + whole + "." + String(repeating: "0", count: places - frac.count) + frac
    }

    /// Bytes with a binary unit: `18.3 MiB`.
    static func bytes(_ b: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = b
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return fixed(v, u == 0 ? 0 : 1) + " " + units[u]
    }

    static func plural(_ n: Int, _ word: String) -> String { "\(grouped(n)) \(word)\(n == 1 ? "" : "s")" }
}
