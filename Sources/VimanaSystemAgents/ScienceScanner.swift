import Foundation
import VimanaAgentKit
import VimanaClient
import VimanaConfig
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// science's process: the kit's runtime for `ScienceLogic` (the queries),
/// and a scanner thread that reads the ledger forward with LEDGER SCAN and
/// appends `checkpoint` events to `events.science` as science's own user
/// (the runtime folds them as any event of the agent's).
enum Science {
    /// `system.science`, as the kernel passes it in the environment (each
    /// value range-checked again: the environment is outside input too).
    struct Tuning {
        var settings: ScienceSettings
        var checkpointMillis: Int
        var pollMillis: Int
        var scanCount: Int

        static func fromEnvironment(_ env: [String: String]) -> Tuning {
            let d = ScienceConfig()
            func value(_ name: String, _ range: ClosedRange<Int>, _ fallback: Int) -> Int {
                env[name].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) } ?? fallback
            }
            let bucket = value("VIMANA_SCIENCE_BUCKET_S", ScienceConfig.bucketSecondsRange, d.bucketSeconds)
            let retention = value("VIMANA_SCIENCE_RETENTION_S", ScienceConfig.retentionSecondsRange, d.retentionSeconds)
            return Tuning(settings: ScienceSettings(bucketSeconds: bucket, retentionSeconds: retention),
                          checkpointMillis: value("VIMANA_SCIENCE_CHECKPOINT_MS", ScienceConfig.checkpointMillisRange, d.checkpointMillis),
                          pollMillis: value("VIMANA_SCIENCE_POLL_MS", ScienceConfig.pollMillisRange, d.pollMillis),
                          scanCount: value("VIMANA_SCIENCE_SCAN_COUNT", ScienceConfig.scanCountRange, d.scanCount))
        }
    }

    static func main() -> Never {
        let tuning = Tuning.fromEnvironment(ProcessInfo.processInfo.environment)
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "science") } catch {
            say("\(error)")
            exit(2)
        }
        // Without credentials its connections are `default`'s: a checkpoint
        // could not be told from a forgery, and LEDGER SCAN is an operator's.
        if settings.password != nil {
            Thread { scan(settings, tuning) }.start()
        } else {
            say("no VIMANA_PASSWORD: not scanning the ledger (no counts); the kernel gives its system agents credentials")
        }
        AgentRuntime.main(logic: ScienceLogic(settings: tuning.settings), agentID: settings.agentID)
    }

    /// Forever: connect, fold `events.science` into an aggregator, then
    /// LEDGER SCAN from its cursor, page after page, checkpointing as
    /// `ScienceAggregator.wantsCheckpoint` says; idle pages wait `pollMillis`.
    /// A lost connection is retried, the state folded again from the events
    /// (what was read since the last checkpoint is read again: counted once).
    static func scan(_ settings: AgentSettings, _ tuning: Tuning) {
        var delay = ScienceLimits.retryFirstMicros
        while true {
            do {
                let c = try settings.connect()
                defer { c.close() }
                var aggregator = ScienceAggregator(settings: tuning.settings, state: try rebuild(c, settings, tuning),
                                                   ownTopic: settings.eventsTopic)
                var lastCheckpoint = WallClock.millis()
                while true {
                    let page = try call(c, ["LEDGER", "SCAN", String(aggregator.state.cursor), "COUNT", String(tuning.scanCount)])
                    let now = WallClock.millis()
                    delay = ScienceLimits.retryFirstMicros
                    switch page {
                    case .page(let records, let cursor, let skipped):
                        let cut = aggregator.ingest(records, cursor: cursor, skipped: skipped, nowMillis: now)
                        let due = now - lastCheckpoint >= Int64(tuning.checkpointMillis)
                        if aggregator.wantsCheckpoint(due: due) {
                            try append(c, settings, aggregator.checkpoint(nowMillis: now))
                            lastCheckpoint = now
                        }
                        if !cut && records.count < tuning.scanCount { usleep(UInt32(tuning.pollMillis) * 1000) }
                    case .beyondEnd:
                        // The ledger lost records science had counted (a power
                        // loss under fsync everysec): go on from its end.
                        guard case .page(_, let end, _) = try call(c, ["LEDGER", "SCAN", "$"]) else { continue }
                        say("cursor \(aggregator.state.cursor) is past the ledger's end: going on from \(end)")
                        try append(c, settings, aggregator.rewind(to: end, nowMillis: now))
                    }
                }
            } catch {
                say("scanner: \(error); retrying in \(delay / 1000) ms")
            }
            // A refusal (LEDGER SCAN not granted) is not retried in a tight loop.
            usleep(delay)
            delay = min(delay * 2, ScienceLimits.retryMaxMicros)
        }
    }

    enum Page {
        case page([ScienceRecord], cursor: UInt64, skipped: UInt64)
        case beyondEnd
    }

    /// One LEDGER SCAN, parsed (RESP3 map or RESP2 flat array).
    static func call(_ c: RESPConnection, _ args: [String]) throws(AgentKitError) -> Page {
        let reply: RESPValue
        do { reply = try c.call(args.map { Array($0.utf8) }) } catch { throw .client(error) }
        if case .error(let m) = reply {
            if m.contains("beyond the ledger's end") { return .beyondEnd }
            throw .refused("LEDGER SCAN: \(m)")
        }
        var fields: [String: RESPValue] = [:]
        var flat: [RESPValue] = []
        if case .map(let m) = reply { for (k, v) in m { flat += [k, v] } } else { flat = reply.elements ?? [] }
        var i = 0
        while i + 1 < flat.count {
            fields[String(decoding: flat[i].bytes ?? [], as: UTF8.self)] = flat[i + 1]
            i += 2
        }
        guard let cursor = fields["cursor"]?.bytes.flatMap({ UInt64(String(decoding: $0, as: UTF8.self)) }),
              let skipped = fields["skipped"]?.integer, skipped >= 0, let items = fields["records"]?.elements else {
            throw .unexpected("LEDGER SCAN answered \(reply)")
        }
        var records: [ScienceRecord] = []
        records.reserveCapacity(items.count)
        for item in items {
            guard let e = item.elements, e.count == 6, let seq = e[0].integer, seq >= 0, let topic = e[1].bytes,
                  let id = e[2].bytes, let publisher = e[3].bytes, let bytes = e[4].integer, let micros = e[5].integer else {
                throw .unexpected("LEDGER SCAN record \(item)")
            }
            records.append(ScienceRecord(sequence: UInt64(seq), topic: String(decoding: topic, as: UTF8.self),
                                         id: String(decoding: id, as: UTF8.self),
                                         publisher: String(decoding: publisher, as: UTF8.self), bytes: bytes, micros: Int64(micros)))
        }
        return .page(records, cursor: cursor, skipped: UInt64(skipped))
    }

    /// The state folded from science's own entries of `events.science`
    /// (after its latest snapshot).
    static func rebuild(_ c: RESPConnection, _ settings: AgentSettings, _ tuning: Tuning) throws(AgentKitError) -> ScienceState {
        func send(_ args: [String]) throws(AgentKitError) -> RESPValue {
            do { return try c.call(args.map { Array($0.utf8) }) } catch { throw .client(error) }
        }
        if case .error(let m) = try send(["CLIENT", "PUBLISHER", "ON"]) { throw .refused("CLIENT PUBLISHER ON: \(m)") }
        // From the latest snapshot on, as the runtime starts.
        let logic = ScienceLogic(settings: tuning.settings)
        var book = AgentBook(logic: logic)
        var start = "-"
        if let loaded = try AgentSnapshots.load(logic: logic, settings: settings, call: { (args: [[UInt8]]) throws(AgentKitError) -> RESPValue in
            do throws(ClientError) { return try c.call(args) } catch { throw .client(error) }
        }) {
            book = loaded.book
            start = "(" + loaded.upto
        }
        while true {
            let reply = try send(["XRANGE", settings.eventsTopic, start, "+", "COUNT", String(ScienceLimits.replayPage)])
            if case .error(let m) = reply { throw .refused("cannot read \(settings.eventsTopic): \(m)") }
            guard let entries = reply.elements else { throw .unexpected("XRANGE answered \(reply)") }
            for e in entries {
                guard let pair = e.elements, pair.count == 2, let id = pair[0].bytes else { throw .unexpected("XRANGE entry \(e)") }
                start = "(" + String(decoding: id, as: UTF8.self)
                var flat: [RESPValue] = []
                if case .map(let m) = pair[1] { for (k, v) in m { flat += [k, v] } } else { flat = pair[1].elements ?? [] }
                var fields: [(String, String)] = []
                var i = 0
                while i + 1 < flat.count {
                    fields.append((String(decoding: flat[i].bytes ?? [], as: UTF8.self), String(decoding: flat[i + 1].bytes ?? [], as: UTF8.self)))
                    i += 2
                }
                // With PUBLISHER ON the kernel's `_publisher` is the last pair: only science's own entries count.
                guard fields.last?.0 == "_publisher", fields.removeLast().1 == settings.identity else { continue }
                book.replay(fields, id: String(decoding: id, as: UTF8.self))
            }
            if entries.count < ScienceLimits.replayPage { break }
        }
        return book.state
    }

    /// Appends `event` to `events.science` as the kit writes an event with no request.
    static func append(_ c: RESPConnection, _ settings: AgentSettings, _ event: AgentEvent) throws(AgentKitError) {
        var args = ["XADD", settings.eventsTopic, "*", "type", event.type]
        for (k, v) in event.data.sorted(by: { $0.key < $1.key }) { args += [k, v] }
        let reply: RESPValue
        do { reply = try c.call(args.map { Array($0.utf8) }) } catch { throw .client(error) }
        if case .error(let m) = reply { throw .refused("XADD \(settings.eventsTopic): \(m)") }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("science: " + line + "\n").utf8))
    }
}

/// The scanner's clock: a checkpoint's `time`, and the age of buckets.
enum WallClock {
    static func millis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
