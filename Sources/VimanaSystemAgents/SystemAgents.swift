import Foundation
import VimanaAgentKit
import VimanaClient
import VimanaConfig
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// The system agents that exist in code, by id: what `vimana agent <id>`
/// runs (Protocol/AGENTS.md §11). Each runs its whole life and exits.
public enum SystemAgents {
    public static let ids = SystemAgentID.allCases.map(\.rawValue)

    /// Runs agent `id` with the settings of its environment; never returns.
    public static func run(_ id: SystemAgentID) -> Never {
        switch id {
        case .discovery: Discovery.main()
        case .oracle: Oracle.main()
        case .archivist: Archivist.main()
        case .engineer: Engineer.main()
        case .science: Science.main()
        case .auditor: Auditor.main()
        case .scribe: Scribe.main()
        case .civic: Civic.main()
        case .supremeCourt: SupremeCourt.main()
        case .forum: Forum.main()
        case .herald: Herald.main()
        case .envoy: Envoy.main()
        case .watchman: Watchman.main()
        }
    }

    /// What each system agent answers, from its logic (scribe lists them in AGENTS.md).
    public static func actions(_ id: SystemAgentID) -> [String] {
        switch id {
        case .discovery: DiscoveryLogic.actions
        case .oracle: OracleLogic.actions
        case .archivist: ArchivistLogic.actions
        case .engineer: EngineerLogic.actions
        case .science: ScienceLogic.actions
        case .auditor: AuditorLogic.actions
        case .scribe: ScribeLogic.actions
        case .civic: CivicLogic.actions
        case .supremeCourt: SupremeCourtLogic.actions
        case .forum: ForumLogic.actions
        case .herald: HeraldLogic.actions
        case .envoy: EnvoyLogic.actions
        case .watchman: WatchmanLogic.actions
        }
    }

    /// `actions` of every system agent, by id.
    public static var allActions: [String: [String]] {
        Dictionary(uniqueKeysWithValues: SystemAgentID.allCases.map { ($0.rawValue, actions($0)) })
    }
}

/// scribe's process: the kit's runtime for `ScribeLogic`, with the wiring
/// (`VIMANA_SCRIBE_AGENTS`, discovery's directory), the output directory
/// (`VIMANA_SCRIBE_DIR`), science's timeout (`VIMANA_SCRIBE_SCIENCE_TIMEOUT_MS`)
/// and the kernel's `max_payload` (`VIMANA_MAX_PAYLOAD`, its replies' bound).
enum Scribe {
    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        var declared: [DeclaredAgent] = []
        if let text = env["VIMANA_SCRIBE_AGENTS"] {
            guard let parsed = DeclaredAgent.parse(text) else {
                FileHandle.standardError.write(Data("scribe: VIMANA_SCRIBE_AGENTS is not a JSON array of agents\n".utf8))
                exit(2)
            }
            declared = parsed
        }
        let defaults = ScribeConfig()
        let dir = env["VIMANA_SCRIBE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaults.outputDir
        let range = ScribeConfig.scienceTimeoutMillisRange
        let ms = env["VIMANA_SCRIBE_SCIENCE_TIMEOUT_MS"].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) }
            ?? defaults.scienceTimeoutMillis
        // Bad settings stop the runtime below (status 2); the default stands until then.
        let maxPayload = (try? AgentSettings.fromEnvironment(env, agentID: "scribe"))?.maxPayload ?? AgentSettings(agentID: "scribe").maxPayload
        AgentRuntime.main(logic: ScribeLogic(declared: declared, actions: SystemAgents.allActions,
                                             sink: ScribeFiles(directory: dir), scienceTimeout: Double(ms) / 1000,
                                             maxPayload: maxPayload),
                          agentID: "scribe")
    }
}

/// forum's process: the kit's runtime for `ForumLogic`, configured by
/// `system.forum` (`VIMANA_FORUM_COST`, `_PERIOD_S`, `_THRESHOLD_PPM`,
/// `_QUORUM_PPM`) and the wiring (`VIMANA_FORUM_AGENTS`), and a timer
/// thread on its own connection that follows events.forum (forum's own
/// entries only) and publishes `close` when an open proposal's deadline has
/// passed and `execute` for an approved proposal not yet executed, each
/// again every `ForumLimits.republishSeconds` while the events do not show
/// it done: a restart of forum or of the kernel loses no close and no execution.
enum Forum {
    /// The longest XREAD BLOCK of the timer: re-armed after.
    static let blockMillis = 5000
    /// Entries folded per XREAD (catching up with the stream).
    static let readCount = 1000

    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "forum") } catch {
            say("\(error)")
            exit(2)
        }
        var config = ForumConfig()
        func clamped(_ name: String, _ range: ClosedRange<Int>) -> Int? {
            env[name].flatMap { Int($0) }.map { min(max($0, range.lowerBound), range.upperBound) }
        }
        let costs = ForumConfig.proposalCostRange
        if let v = env["VIMANA_FORUM_COST"].flatMap({ Int64($0) }) { config.proposalCost = min(max(v, costs.lowerBound), costs.upperBound) }
        if let v = clamped("VIMANA_FORUM_PERIOD_S", ForumConfig.votingPeriodSecondsRange) { config.votingPeriodSeconds = v }
        if let v = clamped("VIMANA_FORUM_THRESHOLD_PPM", ForumConfig.thresholdMillionthsRange) { config.thresholdMillionths = v }
        if let v = clamped("VIMANA_FORUM_QUORUM_PPM", ForumConfig.quorumMillionthsRange) { config.quorumMillionths = v }
        var declared: [DeclaredAgent]?
        if let text = env["VIMANA_FORUM_AGENTS"] {
            guard let parsed = DeclaredAgent.parse(text) else {
                say("VIMANA_FORUM_AGENTS is not a JSON array of agents")
                exit(2)
            }
            declared = parsed
        }
        // Without credentials its connections are `default`'s, which any
        // client may be: a close or an execute could not be told from a forgery.
        var own: String?
        let folding = ForumLogic(config: config, declared: declared, forumUser: nil)  // the timer only folds events with it
        if settings.password != nil {
            own = settings.identity
            Thread { timer(settings, logic: folding) }.start()
        } else {
            say("no VIMANA_PASSWORD: no deadline closes a proposal and none is executed; the kernel gives its system agents credentials")
        }
        AgentRuntime.main(logic: ForumLogic(config: config, declared: declared, forumUser: own), agentID: settings.agentID)
    }

    /// Until `stop()` (forever in the process): connect, follow events.forum
    /// (only entries forum's own user appended), and publish to tasks.forum
    /// what `ForumState.due` names, each task id again only after
    /// `republish` seconds. A lost connection is retried; a new one folds
    /// the stream from its start and publishes what is due at once.
    static func timer(_ settings: AgentSettings, logic: ForumLogic, republish: Double = ForumLimits.republishSeconds,
                      stop: @Sendable () -> Bool = { false }) {
        func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        func wall() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
        while !stop() {
            do throws(AgentKitError) {
                let c = try settings.connect()
                defer { c.close() }
                _ = try Auditor.call(c, ["CLIENT", "PUBLISHER", "ON"])
                // As the runtime rebuilds it: from the latest snapshot (ledger
                // retention may have retired the events behind it), then the events after.
                var book = AgentBook(logic: logic)
                var last = "0-0"
                let call: AgentSnapshots.Call = { (args: [[UInt8]]) throws(AgentKitError) -> RESPValue in
                    do throws(ClientError) { return try c.call(args) } catch { throw AgentKitError.client(error) }
                }
                if let loaded = try AgentSnapshots.load(logic: logic, settings: settings, call: call) {
                    book = loaded.book
                    last = loaded.upto
                }
                var sent: [String: Double] = [:]  // task id → when it was last published
                var wait = 1
                while !stop() {
                    let reply = try Auditor.call(c, ["XREAD", "COUNT", String(readCount), "BLOCK", String(wait),
                                                     "STREAMS", settings.eventsTopic, last])
                    var folded = 0
                    for (id, read) in Auditor.entries(reply) {
                        last = id
                        folded += 1
                        guard let fields = Auditor.ownFields(read, identity: settings.identity) else { continue }
                        book.replay(fields, id: id)
                    }
                    let state = book.state
                    if folded >= readCount { wait = 1; continue }  // still catching up
                    let now = wall(), tick = monotonic()
                    var soonest = Double(blockMillis) / 1000
                    let due = state.due(now: now).map { (id: "\($0.action)-\($0.proposal)", $0.action, $0.proposal) }
                    // Done (its event is in): forgotten, so the map holds only what is due.
                    let dueIDs = Set(due.map(\.id))
                    sent = sent.filter { dueIDs.contains($0.key) }
                    for (id, action, proposal) in due {
                        if let at = sent[id], tick - at < republish {
                            soonest = min(soonest, republish - (tick - at))
                            continue
                        }
                        let task: JSON = ["action": .string(action), "id": .string(id), "args": ["proposal": .string(proposal)]]
                        _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text])
                        sent[id] = tick
                        soonest = min(soonest, republish)
                    }
                    if let next = state.nextDeadline(after: now) { soonest = min(soonest, Double(next - now) / 1000) }
                    wait = max(1, min(blockMillis, Int((soonest * 1000).rounded(.up))))
                }
            } catch {
                say("timer: \(error); retrying")
            }
            if !stop() { usleep(500_000) }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("forum: " + line + "\n").utf8))
    }
}

/// archivist's process: the kit's runtime for `ArchivistLogic`, writing
/// export files in `VIMANA_ARCHIVIST_DIR` (`system.archivist.output_dir`).
enum Archivist {
    static func main() -> Never {
        let dir = ProcessInfo.processInfo.environment["VIMANA_ARCHIVIST_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ArchivistConfig().outputDir
        AgentRuntime.main(logic: ArchivistLogic(sink: ArchivistFiles(directory: dir)), agentID: "archivist")
    }
}

/// oracle's process: the kit's runtime for `OracleLogic`, reading the
/// event streams of every system agent that exists in code.
enum Oracle {
    static func main() -> Never {
        let range = OracleConfig.scanEntriesRange
        let scan = ProcessInfo.processInfo.environment["VIMANA_ORACLE_SCAN"].flatMap(Int.init)
            .map { min(max($0, range.lowerBound), range.upperBound) } ?? OracleConfig().scanEntries
        AgentRuntime.main(logic: OracleLogic(systemAgents: SystemAgents.ids, scan: scan), agentID: "oracle")
    }
}

/// engineer's process: the kit's runtime for `EngineerLogic`, with the
/// operators and the directory the kernel gives (`system.engineer`).
enum Engineer {
    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let defaults = EngineerConfig()
        var operators = defaults.operators
        if let text = env["VIMANA_ENGINEER_OPERATORS"] {
            guard case .array(let items)? = JSON.parse(text), items.allSatisfy({ $0.string != nil }) else {
                FileHandle.standardError.write(Data("engineer: VIMANA_ENGINEER_OPERATORS is not a JSON array of user names\n".utf8))
                exit(2)
            }
            operators = items.compactMap(\.string)
        }
        var dir = env["VIMANA_ENGINEER_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaults.dir
        if !dir.hasPrefix("/") { dir = FileManager.default.currentDirectoryPath + "/" + dir }
        AgentRuntime.main(logic: EngineerLogic(operators: operators, directory: dir), agentID: "engineer")
    }
}

/// discovery's process: the kit's runtime for `DiscoveryLogic`, and an
/// observer thread that asks the kernel AGENTS every poll interval and,
/// when the answer changed, publishes an `observe` task to tasks.discovery
/// (as discovery's own user: only it may).
enum Discovery {
    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "discovery") } catch {
            say("\(error)")
            exit(2)
        }
        let declared: [DeclaredAgent]
        if let text = env["VIMANA_DISCOVERY_AGENTS"] {
            guard let parsed = DeclaredAgent.parse(text) else {
                say("VIMANA_DISCOVERY_AGENTS is not a JSON array of agents")
                exit(2)
            }
            declared = parsed
        } else {
            declared = []
        }
        let range = DiscoveryConfig.pollMillisRange
        let poll = env["VIMANA_DISCOVERY_POLL_MS"].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) }
            ?? DiscoveryConfig().pollMillis
        // Without credentials its connections are `default`'s, which any
        // client may be: an `observe` could not be told from a forgery.
        var observer: String?
        if settings.password != nil {
            observer = settings.identity
            Thread { observe(settings, pollMillis: poll) }.start()
        } else {
            say("no VIMANA_PASSWORD: not observing agents (statuses stay unknown); the kernel gives its system agents credentials")
        }
        AgentRuntime.main(logic: DiscoveryLogic(declared: declared, observer: observer), agentID: settings.agentID)
    }

    /// Forever: connect, then AGENTS every `pollMillis`; a changed answer is
    /// published as an `observe` task. A lost connection is retried.
    static func observe(_ settings: AgentSettings, pollMillis: Int) {
        var sequence = 0
        let run = String(Int(Date().timeIntervalSince1970 * 1000))
        while true {
            var last: String?
            do {
                let c = try settings.connect()
                defer { c.close() }
                while true {
                    let reply: RESPValue
                    do { reply = try c.call(["AGENTS"].map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
                    if case .error(let m) = reply { throw AgentKitError.refused("AGENTS: \(m)") }
                    let agents = snapshot(reply)
                    let text = agents.text
                    if text != last {
                        sequence += 1
                        let task: JSON = ["action": "observe", "id": .string("observe-\(run)-\(sequence)"),
                                          "args": ["agents": agents]]
                        let r: RESPValue
                        do { r = try c.call([Array("PUBLISH".utf8), Array(settings.tasksTopic.utf8), Array(task.text.utf8)]) } catch {
                            throw AgentKitError.client(error)
                        }
                        if case .error(let m) = r { throw AgentKitError.refused("PUBLISH \(settings.tasksTopic): \(m)") }
                        last = text
                    }
                    usleep(UInt32(pollMillis) * 1000)
                }
            } catch {
                say("observer: \(error); retrying")
            }
            usleep(500_000)
        }
    }

    /// `[{id, status, instances}]` from an AGENTS reply (RESP3 maps or RESP2 flat arrays).
    static func snapshot(_ reply: RESPValue) -> JSON {
        var out: [JSON] = []
        for entry in reply.elements ?? [] {
            var flat: [RESPValue] = []
            if case .map(let m) = entry { for (k, v) in m { flat += [k, v] } } else { flat = entry.elements ?? [] }
            var fields: [String: RESPValue] = [:]
            var i = 0
            while i + 1 < flat.count {
                fields[String(decoding: flat[i].bytes ?? [], as: UTF8.self)] = flat[i + 1]
                i += 2
            }
            guard let id = fields["id"]?.bytes, let status = fields["status"]?.bytes else { continue }
            out.append(["id": .string(String(decoding: id, as: UTF8.self)),
                        "status": .string(String(decoding: status, as: UTF8.self)),
                        "instances": .int(Int64(fields["instances"]?.integer ?? 0))])
        }
        return .array(out)
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("discovery: " + line + "\n").utf8))
    }
}

/// auditor's process: the kit's runtime for `AuditorLogic`, and a watcher
/// thread on its own connection that (1) publishes an `audit` task to
/// tasks.auditor every `VIMANA_AUDITOR_INTERVAL` seconds (as auditor's own
/// user), the next only once the previous one is done (`AuditSchedule`),
/// and (2) follows events.auditor, folding each report as the logic
/// does, and tells the kernel the resulting problem (HEALTH REPORT auditor
/// …, or HEALTH CLEAR auditor when the latest checks are clean). It tells it
/// again on every new connection: a restarted kernel, which holds health
/// reports in memory only, learns the recorded finding again.
enum Auditor {
    /// The longest XREAD BLOCK of the watcher: its wait for the next report
    /// or the next periodic audit, re-armed after; while a due audit waits
    /// for the previous one, AGENTS is asked this often.
    static let blockMillis = 5000
    /// Reports folded per XREAD at start (catching up with the stream).
    static let readCount = 1000

    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "auditor") } catch {
            say("\(error)")
            exit(2)
        }
        let range = AuditorConfig.intervalSecondsRange
        let interval = env["VIMANA_AUDITOR_INTERVAL"].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) }
            ?? AuditorConfig().intervalSeconds
        // civic's operators, for the licence changes made on their authority; absent (auditor run by hand): not checked.
        var operators: [String]?
        if let text = env["VIMANA_CIVIC_OPERATORS"] {
            guard case .array(let items)? = JSON.parse(text), items.allSatisfy({ $0.string != nil }) else {
                say("VIMANA_CIVIC_OPERATORS is not a JSON array of user names")
                exit(2)
            }
            operators = items.compactMap(\.string)
        }
        let logic = AuditorLogic(systemAgents: SystemAgents.ids, scan: AuditorConfig.scanEntries, retention: settings.ledgerRetention,
                                 operators: operators)
        Thread { watch(settings, intervalSeconds: interval, logic: logic) }.start()
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Until `stop()` (forever in the process): connect, then follow
    /// events.auditor and publish an audit every interval, the next once
    /// the previous is done. A lost connection is retried. `waited` (a
    /// test's) is called each time a due audit waits because AGENTS shows
    /// auditor busy.
    static func watch(_ settings: AgentSettings, intervalSeconds: Int, logic: AuditorLogic,
                      stop: @Sendable () -> Bool = { false }, waited: @Sendable () -> Void = {}) {
        var sequence = 0
        let run = String(Int(Date().timeIntervalSince1970 * 1000))
        // Monotonic: a step of the wall clock neither hastens nor holds back an audit.
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        var schedule = AuditSchedule(intervalSeconds: intervalSeconds, now: now())
        while !stop() {
            do throws(AgentKitError) {
                let c = try settings.connect()
                defer { c.close() }
                // Each entry read with the user that appended it: only
                // auditor's own reports count (any user with events.auditor
                // among its keys could otherwise XADD a clean one and clear /health).
                _ = try call(c, ["CLIENT", "PUBLISHER", "ON"])
                var state = logic.initialState
                var last = "0-0"
                var told: String?? = .none  // nothing told on this connection yet
                while !stop() {
                    let wait = schedule.waitMillis(now: now(), longest: blockMillis)
                    let reply = try call(c, ["XREAD", "COUNT", String(readCount), "BLOCK", String(wait),
                                             "STREAMS", settings.eventsTopic, last])
                    var folded = 0
                    for (id, read) in entries(reply) {
                        last = id
                        folded += 1
                        guard let fields = ownFields(read, identity: settings.identity),
                              let type = fields.first(where: { $0.0 == "type" })?.1 else { continue }
                        if type == "report", let request = fields.first(where: { $0.0 == "request" })?.1 {
                            schedule.reported(request: request)
                        }
                        var data: [String: String] = [:]
                        for (k, v) in fields where !AgentEvent.reservedFields.contains(k) { data[k] = v }
                        logic.apply(AgentEvent(type, data), to: &state)
                    }
                    if folded < readCount {
                        let problem = AuditorLogic.healthProblem(state)
                        // Told again after every new report, not only when
                        // the text changed: an operator's HEALTH CLEAR lasts
                        // until auditor's next report, as OPERATIONS.md says.
                        if folded > 0 || told == nil {
                            let command = problem.map { ["HEALTH", "REPORT", "auditor", $0] } ?? ["HEALTH", "CLEAR", "auditor"]
                            // A refusal (a user without HEALTH: auditor run by
                            // hand) is said once; the audits go on.
                            let r: RESPValue
                            do { r = try c.call(command.map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
                            if case .error(let m) = r { say("\(command[0]) \(command[1]): \(m); /health does not show the findings") }
                            told = .some(problem)
                        }
                    }
                    var next = schedule.next(now: now())
                    if next == .askKernel {
                        // Refused (a user without AGENTS) or not listed: the audit waits until it is overdue.
                        let r: RESPValue
                        do { r = try c.call(["AGENTS"].map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
                        if AuditSchedule.isIdle(settings.agentID, KernelView([.agents: r]).records(.agents) ?? []) {
                            schedule.idle()
                            next = .publish
                        } else {
                            waited()
                        }
                    }
                    if next == .publish {
                        sequence += 1
                        let id = "audit-\(run)-\(sequence)"
                        let task: JSON = ["action": "audit", "id": .string(id)]
                        _ = try call(c, ["PUBLISH", settings.tasksTopic, task.text])
                        schedule.published(id: id, now: now())
                    }
                }
            } catch {
                say("watcher: \(error); retrying")
            }
            if !stop() { usleep(500_000) }
        }
    }

    /// An entry's fields without the kernel's `_publisher` (with PUBLISHER ON
    /// always the last pair), or nil when another user appended it.
    static func ownFields(_ fields: [(String, String)], identity: String) -> [(String, String)]? {
        guard let p = fields.last, p.0 == "_publisher", p.1 == identity else { return nil }
        return Array(fields.dropLast())
    }

    static func call(_ c: RESPConnection, _ args: [String]) throws(AgentKitError) -> RESPValue {
        let r: RESPValue
        do { r = try c.call(args.map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
        if case .error(let m) = r { throw AgentKitError.refused("\(args.prefix(2).joined(separator: " ")): \(m)") }
        return r
    }

    /// The entries of an XREAD reply on one stream (RESP3 map or RESP2 array), in order.
    static func entries(_ reply: RESPValue) -> [(String, [(String, String)])] {
        var streams: [RESPValue] = []
        if case .map(let m) = reply { streams = m.map(\.1) } else {
            streams = (reply.elements ?? []).compactMap { $0.elements.flatMap { $0.count == 2 ? $0[1] : nil } }
        }
        var out: [(String, [(String, String)])] = []
        for s in streams {
            for item in s.elements ?? [] {
                guard let pair = item.elements, pair.count == 2, let id = pair[0].bytes else { continue }
                var flat: [RESPValue] = []
                if case .map(let m) = pair[1] { for (k, v) in m { flat += [k, v] } } else { flat = pair[1].elements ?? [] }
                var fields: [(String, String)] = []
                var i = 0
                while i + 1 < flat.count {
                    fields.append((String(decoding: flat[i].bytes ?? [], as: UTF8.self),
                                   String(decoding: flat[i + 1].bytes ?? [], as: UTF8.self)))
                    i += 2
                }
                out.append((String(decoding: id, as: UTF8.self), fields))
            }
        }
        return out
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("auditor: " + line + "\n").utf8))
    }
}

/// herald's process: the kit's runtime for `HeraldLogic`, with its rules
/// from the environment the kernel gives (`VIMANA_HERALD_COST`,
/// `VIMANA_HERALD_MAX_LENGTH`, `VIMANA_HERALD_FORBIDDEN`: `system.herald`),
/// and a watcher thread on its own connection that follows the event
/// streams of civic, forum, discovery and supreme_court and publishes an `announce` task
/// to tasks.herald (as herald's own user: only it may) for each event
/// announced, from where herald's own state says it stopped.
enum Herald {
    /// The longest XREAD BLOCK of the watcher (re-armed after).
    static let blockMillis = 5000
    /// How long the watcher waits for herald's `status` (its cursors) before
    /// trying again: herald answers it after the tasks queued before it.
    static let statusTimeout = 30.0
    /// Entries per XREAD.
    static let readCount = 1000

    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "herald") } catch {
            say("\(error)")
            exit(2)
        }
        let defaults = HeraldConfig()
        var cost = defaults.broadcastCost, maxLength = defaults.maxLength, texts = defaults.forbidden
        if let v = env["VIMANA_HERALD_COST"] {
            guard let n = Int64(v), HeraldConfig.broadcastCostRange.contains(n) else { fail("VIMANA_HERALD_COST is not an integer from 0 to 1000000000000") }
            cost = n
        }
        if let v = env["VIMANA_HERALD_MAX_LENGTH"] {
            guard let n = Int(v), HeraldConfig.maxLengthRange.contains(n) else { fail("VIMANA_HERALD_MAX_LENGTH is not an integer from 1 to 1048576") }
            maxLength = n
        }
        if let v = env["VIMANA_HERALD_FORBIDDEN"] {
            guard case .array(let items)? = JSON.parse(v), items.allSatisfy({ $0.string != nil }) else {
                fail("VIMANA_HERALD_FORBIDDEN is not a JSON array of regular expressions")
            }
            texts = items.compactMap(\.string)
        }
        var bad = ""
        guard let forbidden = ForbiddenPatterns(texts, bad: &bad) else { fail("VIMANA_HERALD_FORBIDDEN: '\(bad)' is not a valid regular expression") }
        // Without credentials its connections are `default`'s, which any
        // client may be: an `announce` could not be told from a forgery.
        var announcer: String?
        if settings.password != nil {
            announcer = settings.identity
            Thread { watch(settings) }.start()
        } else {
            say("no VIMANA_PASSWORD: not announcing (the kernel gives its system agents credentials)")
        }
        AgentRuntime.main(logic: HeraldLogic(broadcastCost: cost, maxLength: maxLength, forbidden: forbidden,
                                             maxPayload: settings.maxPayload, announcer: announcer),
                          agentID: settings.agentID)
    }

    /// Until `stop()` (forever in the process): connect, ask herald's own
    /// `status` where each source was announced up to, then follow the
    /// sources and publish an `announce` for each event announced. A
    /// lost connection is retried; an event published twice meanwhile (its
    /// first `announce` not yet applied) is announced once: herald's logic
    /// passes over an entry at or before its source's last announced one.
    static func watch(_ settings: AgentSettings, stop: @Sendable () -> Bool = { false }) {
        var sequence = 0
        let run = String(Int(Date().timeIntervalSince1970 * 1000))
        let streams = HeraldLogic.sources.map(\.stream)
        while !stop() {
            do throws(AgentKitError) {
                let c = try settings.connect()
                defer { c.close() }
                // Each entry read with its publisher: only each agent's own events count.
                _ = try Auditor.call(c, ["CLIENT", "PUBLISHER", "ON"])
                var cursors = try announced(settings)
                while !stop() {
                    let reply = try Auditor.call(c, ["XREAD", "COUNT", String(readCount), "BLOCK", String(blockMillis), "STREAMS"]
                                                 + streams + streams.map { cursors[$0] ?? "0-0" })
                    // One reply's entries of every stream in the order of their IDs
                    // (their times): a verdict and the reinstatement it caused,
                    // read together, are announced in that order.
                    var read: [(stream: String, id: String, entry: [(String, String)])] = []
                    for (stream, entries) in byStream(reply) { read += entries.map { (stream, $0.0, $0.1) } }
                    func key(_ i: Int) -> (UInt64, UInt64, Int) {
                        let p = read[i].id.split(separator: "-")
                        return (p.first.flatMap { UInt64($0) } ?? 0, p.last.flatMap { UInt64($0) } ?? 0, i)
                    }
                    let order = read.indices.sorted { key($0) < key($1) }
                    for (stream, id, entry) in order.map({ read[$0] }) {
                        guard let user = HeraldLogic.sources.first(where: { $0.stream == stream })?.user else { continue }
                        cursors[stream] = id
                        guard let fields = Auditor.ownFields(entry, identity: user),
                              let type = fields.first(where: { $0.0 == "type" })?.1 else { continue }
                        var data: [String: String] = [:]
                        for (k, v) in fields where !AgentEvent.reservedFields.contains(k) { data[k] = v }
                        guard let kind = HeraldLogic.kind(source: stream, type: type, fields: data) else { continue }
                        sequence += 1
                        var event = data.mapValues(JSON.string)
                        event["type"] = .string(type)
                        let task: JSON = ["action": "announce", "id": .string("announce-\(run)-\(sequence)"),
                                          "args": ["source": .string(stream), "entry": .string(id), "kind": .string(kind),
                                                   "event": .object(event)]]
                        _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text])
                    }
                }
            } catch {
                say("watcher: \(error); retrying")
            }
            if !stop() { usleep(500_000) }
        }
    }

    /// Per source, the last entry announced: herald's `status`, asked of
    /// herald itself (as its own user, whose replies alone are taken). It
    /// is answered after every task queued before it, the `announce` tasks
    /// of a previous connection of the watcher included, and costs the same
    /// however long events.herald grows.
    static func announced(_ settings: AgentSettings) throws(AgentKitError) -> [String: String] {
        let requester = try AgentRequester(settings: settings)
        defer { requester.close() }
        let reply = try requester.request(agent: settings.agentID, action: "status", timeout: statusTimeout, user: settings.identity)
        guard case .ok(let status) = reply, case .object(let cursors)? = status["cursors"] else {
            throw AgentKitError.unexpected("herald's status answered \(reply)")
        }
        return cursors.compactMapValues(\.string)
    }

    /// An XREAD reply's entries by stream (RESP3 map or RESP2 array).
    static func byStream(_ reply: RESPValue) -> [(String, [(String, [(String, String)])])] {
        var pairs: [(RESPValue, RESPValue)] = []
        if case .map(let m) = reply { pairs = m } else {
            pairs = (reply.elements ?? []).compactMap { $0.elements.flatMap { $0.count == 2 ? ($0[0], $0[1]) : nil } }
        }
        return pairs.compactMap { k, v in
            k.bytes.map { (String(decoding: $0, as: UTF8.self), Auditor.entries(.map([(k, v)]))) }
        }
    }

    static func fail(_ line: String) -> Never {
        say(line)
        exit(2)
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("herald: " + line + "\n").utf8))
    }
}
