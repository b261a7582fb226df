import Foundation
import VimanaAgentKit
import VimanaClient
import VimanaConfig
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// watchman's process: the kit's runtime for `WatchmanLogic` (policy from
/// `system.watchman`: `VIMANA_WATCHMAN_SUSPEND_AFTER`,
/// `VIMANA_WATCHMAN_WINDOW_S`, `VIMANA_WATCHMAN_INTERVAL_MS`,
/// `VIMANA_WATCHMAN_MAX_PUBLISH_RATE`, `VIMANA_WATCHMAN_ACK_WAIT_AFTER`;
/// the wiring's directory, `VIMANA_WATCHMAN_AGENTS`), an observer
/// thread that publishes `observe` for what it sees every interval, and a
/// thread that follows its own events and publishes `enforce {decision}`
/// for each suspend decision civic has not answered, and `observe` again
/// for each sight not recorded (civic did not answer it). Both publish to
/// tasks.watchman as watchman's own user: only it may observe and enforce.
enum Watchman {
    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "watchman") } catch {
            say("\(error)")
            exit(2)
        }
        let d = WatchmanConfig()
        func number(_ name: String, _ range: ClosedRange<Int>, _ fallback: Int) -> Int {
            env[name].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) } ?? fallback
        }
        let window = number("VIMANA_WATCHMAN_WINDOW_S", WatchmanConfig.windowSecondsRange, d.windowSeconds)
        let interval = number("VIMANA_WATCHMAN_INTERVAL_MS", WatchmanConfig.intervalMillisRange, d.intervalMillis)
        let rate = number("VIMANA_WATCHMAN_MAX_PUBLISH_RATE", WatchmanConfig.maxPublishRateRange, d.maxPublishRate)
        let ackWaitAfter = number("VIMANA_WATCHMAN_ACK_WAIT_AFTER", WatchmanConfig.ackWaitAfterRange, d.ackWaitAfter)
        var directory: [DeclaredAgent]?
        if let text = env["VIMANA_WATCHMAN_AGENTS"] {
            guard let parsed = DeclaredAgent.parse(text) else {
                say("VIMANA_WATCHMAN_AGENTS is not a JSON array of agents")
                exit(2)
            }
            directory = parsed
        }
        let watch = Watch(intervalMillis: interval, windowMillis: Int64(window) * 1000, maxPublishRate: rate, ackWaitAfter: ackWaitAfter,
                          directory: directory)
        let logic = WatchmanLogic(suspendAfter: number("VIMANA_WATCHMAN_SUSPEND_AFTER", WatchmanConfig.suspendAfterRange, d.suspendAfter),
                                  windowMillis: Int64(window) * 1000)
        if settings.password != nil {
            let unrecorded = Unrecorded()
            Thread { observer(settings, watch, unrecorded: unrecorded) }.start()
            Thread { enforcer(settings, logic: logic, unrecorded: unrecorded) }.start()
        } else {
            say("no VIMANA_PASSWORD: nothing is observed or enforced (its observe and enforce tasks would be anyone's)")
        }
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Publishes `enforce` for each suspend decision not yet enforced, at
    /// most once per `civicTimeout + 1` s each (the task asks civic, up to
    /// its timeout), and `observe` again for each of the observer's sights
    /// `unrecorded` says is due.
    static func enforcer(_ settings: AgentSettings, logic: WatchmanLogic, unrecorded: Unrecorded = Unrecorded(),
                         stop: @Sendable @escaping () -> Bool = { false }) {
        final class Sent: @unchecked Sendable { var at: [String: Double] = [:] }
        let sent = Sent()
        OwnEvents.follow(settings, logic: logic, stop: stop) { (state, c) throws(AgentKitError) in
            let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            for d in state.unenforced where now - (sent.at[d.decision] ?? -1e9) >= logic.civicTimeout + 1 {
                let task: JSON = ["action": "enforce", "id": .string("enforce-\(d.decision)"), "args": ["decision": .string(d.decision)]]
                _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text])
                sent.at[d.decision] = now
            }
            let due = unrecorded.due(recorded: { state.byKey[$0] != nil }, nowMillis: Int64(Date().timeIntervalSince1970 * 1000),
                                     uptime: now, windowMillis: logic.windowMillis, firstWait: logic.civicTimeout + 1)
            for key in due.dropped { say("observation \(key) not recorded within the window: given up") }
            for task in due.tasks { _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text]) }
        }
    }

    /// The sights the observer published whose violation watchman's events
    /// do not hold yet. An `observe` records nothing when civic does not
    /// answer it (`unavailable`), and the observer publishes a sight once:
    /// the follower of watchman's own events publishes it again (with its
    /// first time as `at`) after civic's timeout and a second, then twice as
    /// long each time up to 5 minutes (a civic that is down does not fill
    /// watchman's queue), until its key is recorded or it is older than the
    /// window (it would then make no decision). At most
    /// `WatchmanLimits.unrecordedSights` are kept; a sight beyond them is
    /// published once, as before.
    final class Unrecorded: @unchecked Sendable {
        struct Entry {
            var sight: Sight
            var firstMillis: Int64
            var sentAt: Double
            var wait: Double
        }
        private let lock = NSLock()
        private var entries: [String: Entry] = [:]

        /// The observer published `sight` at `nowMillis` (wall clock) and `uptime` (s).
        func published(_ sight: Sight, nowMillis: Int64, uptime: Double) {
            lock.withLock {
                guard entries[sight.key] == nil, entries.count < WatchmanLimits.unrecordedSights else { return }
                var s = sight
                if s.at == nil { s.at = nowMillis }
                entries[sight.key] = Entry(sight: s, firstMillis: nowMillis, sentAt: uptime, wait: 0)
            }
        }

        /// Forgets the sights `recorded` and those older than the window
        /// (returned as `dropped`); returns the `observe` tasks due again,
        /// counted as sent now.
        func due(recorded: (String) -> Bool, nowMillis: Int64, uptime: Double, windowMillis: Int64,
                 firstWait: Double) -> (tasks: [JSON], dropped: [String]) {
            lock.withLock {
                var tasks: [JSON] = [], dropped: [String] = []
                for (key, var e) in entries.sorted(by: { $0.value.firstMillis < $1.value.firstMillis }) {
                    if recorded(key) {
                        entries[key] = nil
                    } else if nowMillis - e.firstMillis > windowMillis {
                        entries[key] = nil
                        dropped.append(key)
                    } else if uptime - e.sentAt >= max(firstWait, e.wait) {
                        tasks.append(e.sight.task)
                        e.sentAt = uptime
                        e.wait = min(WatchmanLimits.observeRetryMaxSeconds, max(firstWait, 2 * e.wait))
                        entries[key] = e
                    }
                }
                return (tasks, dropped)
            }
        }

        var count: Int { lock.withLock { entries.count } }
    }

    /// What one look saw, as `observe` args (the key makes a second sight of it no new violation).
    struct Sight: Equatable {
        var kind: String
        var user: String
        var detail: String
        var key: String
        /// When it happened, for a sight of the past (ACL LOG's age, a dead
        /// letter's ID); nil for one of now: the task's entry ID times it.
        /// This process's clock is not the kernel's: a `now` read here can
        /// be a millisecond after the entry ID of the task that carries it,
        /// and `observe` refuses an `at` after its task.
        var at: Int64?
        /// For a rate sight: the start of science's counts (its `since`, ms),
        /// not sent: the observer makes no new rate sight of a user while
        /// the counts still reach back to its last one.
        var since: Int64? = nil

        var task: JSON {
            var args: [String: JSON] = ["kind": .string(kind), "user": .string(user), "detail": .string(detail), "key": .string(key)]
            if let at { args["at"] = .int(at) }
            return ["action": "observe", "id": .string("observe-" + key), "args": .object(args)]
        }
    }

    /// ACL LOG's `license` entries as sights: keyed by user and the
    /// `windowMillis` period of when it last happened, so that a suspended
    /// agent publishing on and on, to one topic or many, is one violation a
    /// window (each would be an offence the court counts against its
    /// appeal). `nowMillis` is this process's wall clock.
    static func licenceSights(_ reply: RESPValue, nowMillis: Int64, windowMillis: Int64) -> [Sight] {
        let period = max(1, windowMillis)
        var out: [Sight] = []
        for entry in reply.elements ?? [] {
            var flat: [RESPValue] = []
            if case .map(let m) = entry { for (k, v) in m { flat += [k, v] } } else { flat = entry.elements ?? [] }
            var f: [String: RESPValue] = [:]
            var i = 0
            while i + 1 < flat.count {
                f[String(decoding: flat[i].bytes ?? [], as: UTF8.self)] = flat[i + 1]
                i += 2
            }
            func text(_ k: String) -> String? { f[k]?.bytes.map { String(decoding: $0, as: UTF8.self) } }
            guard text("reason") == "license", let user = text("username"), let object = text("object") else { continue }
            var age = 0.0
            if case .double(let x)? = f["age-seconds"] { age = x } else if let s = text("age-seconds"), let x = Double(s) { age = x }
            guard age.isFinite, age >= 0, age < 1e9 else { continue }
            let at = nowMillis - Int64(age * 1000)
            let count = f["count"]?.integer ?? 1
            out.append(Sight(kind: "refused_while_suspended", user: user,
                             detail: "publish to \(object) refused for its licence (ACL LOG count \(count))",
                             key: "license:\(user):\(at / period)", at: at))
        }
        return out
    }

    /// The system agents' users, never watched: an external agent's made
    /// user (`agent:<its id>`) is watched as any other.
    static let systemUsers = Set(SystemAgentID.allCases.map { "agent:" + $0.rawValue })

    /// A dead letter of system agent `agent` (its fields: topic, id,
    /// deliveries, reason, publisher, payload) as a sight keyed by its
    /// entry: `oversized` when the kit refused the task for its length
    /// (reason `oversized: …`, `max_task_bytes`), else `malformed`.
    static func deadSight(agent: String, id: String, fields: [(String, String)]) -> Sight? {
        let f = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        guard let publisher = f["publisher"], !publisher.isEmpty, !systemUsers.contains(publisher) else { return nil }
        let reason = String((f["reason"] ?? "").utf8.prefix(WatchmanLimits.detailBytes - 64)) ?? ""
        return Sight(kind: reason.hasPrefix("oversized") ? "oversized" : "malformed", user: publisher, detail: "task to \(agent) dead-lettered: \(reason)",
                     key: "dead:\(agent):\(id)", at: Int64(id.prefix { $0 != "-" }) ?? 0)
    }

    /// science's `topics {window}` result as `rate` sights: each
    /// publisher's messages summed over every topic, one sight for a
    /// publisher (not a system agent's user) above `maxRate` messages/s over
    /// the span science counted, from its `since` (the first bucket's start)
    /// to now (the window when there is no `since`), keyed by user and the
    /// window's start (one a window).
    static func rateSights(_ result: JSON, maxRate: Int, windowSeconds: Int, nowMillis: Int64) -> [Sight] {
        var sums: [String: Int64] = [:]
        for t in result["topics"]?.array ?? [] {
            for p in t["publishers"]?.array ?? [] {
                guard let user = p["publisher"]?.string, let n = p["messages"]?.int, n > 0 else { continue }
                sums[user, default: 0] &+= n
            }
        }
        let windowMillis = Int64(windowSeconds) * 1000
        var span = windowMillis
        var since: Int64?
        if let s = result["since"]?.int, s >= 0, s < nowMillis {
            span = max(1000, nowMillis - s)
            since = s
        }
        // n / (span / 1000) > maxRate, on integers (n and span are bounded: no overflow).
        func over(_ n: Int64) -> Bool {
            let (a, o1) = n.multipliedReportingOverflow(by: 1000), (b, o2) = Int64(maxRate).multipliedReportingOverflow(by: span)
            return o1 || (!o2 && a > b)
        }
        return sums.filter { over($0.value) && !systemUsers.contains($0.key) }.sorted { $0.key < $1.key }.map { user, n in
            Sight(kind: "rate", user: user, detail: "\(n) messages in \(span / 1000) s, over \(maxRate)/s",
                  key: "rate:\(user):\(nowMillis / windowMillis)", at: nil, since: since)
        }
    }

    /// What the observer looks at, and how (system.watchman and the wiring).
    struct Watch {
        var intervalMillis: Int
        var windowMillis: Int64
        var maxPublishRate: Int
        /// Expiries of an agent (AGENTS's `expired`) that make one `ack_wait` sight.
        var ackWaitAfter: Int
        /// The agents wired (discovery's directory); nil when unknown (run
        /// by hand): then an agent runs as `agent:<id>`, and the system agents are `SystemAgents.ids`.
        var directory: [DeclaredAgent]?
    }

    /// AGENTS's reply as `ack_wait` sights: for each external agent that is
    /// not a system agent and has a user, one sight of its user for each
    /// multiple of `every` its `expired` count reached since `seen` (the
    /// multiple at the last look, by agent, in this run of the kernel; 0
    /// for an agent not in it), at most
    /// `WatchmanLimits.ackWaitSightsPerLook`, the latest. The key names the
    /// agent, the kernel's run and the multiple k
    /// (`ack_wait:<agent>:<run_id>:<k>`): a restarted watchman makes the same
    /// keys for the same expiries (no new violation), and a restarted
    /// kernel, whose counts start again from 0, has another `run_id`.
    static func ackWaitSights(_ agents: RESPValue, runID: String, every: Int, directory: [DeclaredAgent]?,
                              seen: inout [String: Int]) -> [Sight] {
        let every = max(1, every)
        let declared = Dictionary((directory ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [Sight] = []
        for record in KernelView([.agents: agents]).records(.agents) ?? [] {
            var f: [String: String] = [:]
            for (k, v) in record { if let v { f[k] = v } }
            guard let id = f["id"], let expired = f["expired"].flatMap({ Int($0) }), expired >= 0 else { continue }
            let user: String
            if directory != nil {
                guard let d = declared[id], !d.system, d.kind == "external", !d.user.isEmpty else { continue }
                user = d.user
            } else {
                guard !SystemAgents.ids.contains(id) else { continue }
                user = "agent:" + id
            }
            let k = expired / every
            let first = max((seen[id] ?? 0) + 1, k - WatchmanLimits.ackWaitSightsPerLook + 1)
            seen[id] = k
            guard k >= first else { continue }
            for j in first...k {
                let key = "ack_wait:\(id):\(runID):\(j)"
                guard key.utf8.count <= WatchmanLimits.keyBytes, user.utf8.count <= WatchmanLimits.keyBytes else { continue }
                let (n, overflow) = j.multipliedReportingOverflow(by: every)
                out.append(Sight(kind: "ack_wait", user: user,
                                 detail: "\(overflow ? expired : n) tasks of agent \(id) held past ack_wait since the kernel started"
                                     + " (a violation every \(every))",
                                 key: key, at: nil))
            }
        }
        return out
    }

    /// INFO users' `publish_pauses` as `rate` sights: the times the kernel
    /// paused a user's publishers at the user's own `publish_rate` or
    /// `publish_bytes` (Protocol/PROTOCOL.md section 4.2). `seen` holds each
    /// user's count at the last look in this run of the kernel; nil, the first
    /// look of a run: the counts are taken as they are, and make no sight
    /// (pauses before watchman first looked are not seen again as new).
    /// A user (not a system agent's) whose count grew since is one sight,
    /// timed by its task (no `at`), keyed `limit:<user>:<run_id>:<now ÷
    /// window>`: one violation a window however long it stays over.
    static func limitSights(_ info: RESPValue, runID: String, nowMillis: Int64, windowMillis: Int64,
                            seen: inout [String: Int64]?) -> [Sight] {
        var counts: [String: Int64] = [:]
        for (field, value) in KernelView([.info("users"): info]).info(.info("users")) ?? [:] where field.hasPrefix("user_") {
            guard let user = infoUserName(String(field.dropFirst(5))) else { continue }
            for pair in value.split(separator: ",") where pair.hasPrefix("publish_pauses=") {
                if let n = Int64(pair.dropFirst(15)), n >= 0 { counts[user] = n }
            }
        }
        guard let before = seen else {
            seen = counts
            return []
        }
        seen = counts
        let period = max(1, windowMillis)
        return counts.filter { $0.value > (before[$0.key] ?? 0) && !systemUsers.contains($0.key) }.sorted { $0.key < $1.key }
            .compactMap { user, n in
                let key = "limit:\(user):\(runID):\(nowMillis / period)"
                guard key.utf8.count <= WatchmanLimits.keyBytes else { return nil }
                return Sight(kind: "rate", user: user,
                             detail: "publishers paused \(n - (before[user] ?? 0)) times at the user's own publish_rate or publish_bytes"
                                 + " since the last look (\(n) since the kernel started)",
                             key: key, at: nil)
            }
    }

    /// A user's name as INFO users writes it after `user_` (a byte other
    /// than a letter, digit, `-`, `.` or `@` as `%XX`); nil when malformed.
    static func infoUserName(_ text: String) -> String? {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let b = bytes.popFirst() {
            guard b == UInt8(ascii: "%") else {
                out.append(b)
                continue
            }
            guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            bytes = bytes.dropFirst(2)
        }
        return out.isEmpty ? nil : String(bytes: out, encoding: .utf8)
    }

    /// INFO server's `run_id`; nil when the reply has none.
    static func runID(_ info: RESPValue) -> String? {
        KernelView([.info("server"): info]).info(.info("server"))?["run_id"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Publishers over the rate, as science counted them in the ledger
    /// (recorded topics only); none when science does not answer.
    static func rateSights(_ asker: AgentRequester?, maxRate: Int, nowMillis: Int64) -> [Sight]? {
        guard let asker else { return nil }
        var out: [Sight] = []
        var after: String?
        for _ in 0..<WatchmanLimits.ratePages {
            var args: [String: JSON] = ["window": .int(Int64(WatchmanLimits.rateWindowSeconds))]
            if let after { args["after"] = .string(after) }
            guard case .ok(let r)? = try? asker.request(agent: "science", action: "topics", args: args,
                                                        timeout: WatchmanLimits.scienceTimeout) else { return out.isEmpty ? nil : out }
            out += rateSights(r, maxRate: maxRate, windowSeconds: WatchmanLimits.rateWindowSeconds, nowMillis: nowMillis)
            guard let next = r["next"]?.string else { break }
            after = next
        }
        // A publisher over the limit on two pages is one sight (one key).
        var seen: Set<String> = []
        return out.filter { seen.insert($0.key).inserted }
    }

    /// Until `stop()`: every `intervalMillis`, science's publish rates,
    /// ACL LOG's licence refusals, the new dead letters of every system
    /// agent, AGENTS's `expired` counts and INFO users' pauses at users' own
    /// publish limits, each sight published once as
    /// `observe` (at start, dead letters from one window back: the keys
    /// make what was recorded before no new violation); a user's rate
    /// sight at most once a rate window (a minute), so that one burst,
    /// counted by science for a minute, is one violation.
    static func observer(_ settings: AgentSettings, _ watch: Watch, unrecorded: Unrecorded = Unrecorded(),
                         stop: @Sendable @escaping () -> Bool = { false }) {
        var published: Set<String> = []
        var cursors: [String: String] = [:]
        // The multiple of ack_wait_after each agent's `expired` was at, at the last look, in run `seenRun`.
        var seen: [String: Int] = [:]
        var seenRun: String?
        // Each user's publish_pauses at the last look in run `seenRun` (nil before the first).
        var pauses: [String: Int64]?
        // When each user's last rate sight was published (ms).
        var lastRate: [String: Int64] = [:]
        // A burst stays in science's counts for the window and up to a bucket
        // more: a user's next rate sight comes once the counts start after
        // its last one (science's `since`), so it counts none of the messages
        // sighted; without a `since`, two windows after it.
        let rateSpacingMillis = Int64(WatchmanLimits.rateWindowSeconds) * 2000
        func wall() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
        let start = wall() - watch.windowMillis
        for id in SystemAgents.ids { cursors["dead." + id] = "\(max(0, start))-0" }
        while !stop() {
            do throws(AgentKitError) {
                let c = try settings.connect()
                defer { c.close() }
                _ = try Auditor.call(c, ["CLIENT", "PUBLISHER", "ON"])
                // The counts AGENTS gives are this run's: a restarted kernel
                // closes this connection, and the next one reads its run_id.
                let run = runID(try Auditor.call(c, ["INFO", "server"]))
                if run == nil { say("INFO server has no run_id: tasks held past ack_wait are not watched") }
                if run != seenRun { (seenRun, seen, pauses) = (run, [:], nil) }
                let asker = try? AgentRequester(settings: settings)
                var askScienceAt: Int64 = 0
                while !stop() {
                    var sights: [Sight] = []
                    if wall() >= askScienceAt {
                        // science not answering (disabled, or starting) is asked again a while later, not at every look.
                        if let r = rateSights(asker, maxRate: watch.maxPublishRate, nowMillis: wall()) { sights = r } else {
                            askScienceAt = wall() + Int64(WatchmanLimits.scienceRetrySeconds) * 1000
                        }
                    }
                    sights += licenceSights(try Auditor.call(c, ["ACL", "LOG", "128"]), nowMillis: wall(), windowMillis: watch.windowMillis)
                    for id in SystemAgents.ids {
                        let stream = "dead." + id
                        let reply = try Auditor.call(c, ["XREAD", "COUNT", "1000", "STREAMS", stream, cursors[stream] ?? "0-0"])
                        for (entry, fields) in Auditor.entries(reply) {
                            cursors[stream] = entry
                            if let s = deadSight(agent: id, id: entry, fields: fields) { sights.append(s) }
                        }
                    }
                    if let run {
                        sights += ackWaitSights(try Auditor.call(c, ["AGENTS"]), runID: run, every: watch.ackWaitAfter,
                                                directory: watch.directory, seen: &seen)
                        sights += limitSights(try Auditor.call(c, ["INFO", "users"]), runID: run, nowMillis: wall(),
                                              windowMillis: watch.windowMillis, seen: &pauses)
                    }
                    for s in sights where !published.contains(s.key) {
                        let now = wall()
                        if s.kind == "rate", let last = lastRate[s.user] {
                            if s.since.map({ $0 <= last }) ?? (now < last + rateSpacingMillis) { continue }
                        }
                        _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, s.task.text])
                        published.insert(s.key)
                        unrecorded.published(s, nowMillis: now, uptime: Double(DispatchTime.now().uptimeNanoseconds) / 1e9)
                        if s.kind == "rate" { lastRate[s.user] = now }
                    }
                    usleep(useconds_t(watch.intervalMillis) * 1000)
                }
            } catch {
                say("observing: \(error); retrying")
            }
            if !stop() { usleep(500_000) }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("watchman: " + line + "\n").utf8))
    }
}
