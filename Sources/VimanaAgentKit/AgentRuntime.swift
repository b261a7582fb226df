import Foundation
import Synchronization
import VimanaClient
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// Runs an `AgentLogic` against a kernel, over TCP and RESP only: connect and
/// authenticate, rebuild the state from `events.<id>`, AGENT JOIN, then for
/// each pushed task: longer than `settings.maxTaskBytes`: dead-lettered
/// (`oversized: …`) unparsed; parse it (malformed: dead-lettered with the reason),
/// WATCH `events.<id>` and fold what other instances appended since, skip
/// it when its request was applied before (the stored reply is sent
/// again), else run `handle` and append the events in one MULTI/EXEC (a
/// null EXEC: another instance appended first; fold and decide again),
/// publish the reply to `reply_to`, ACK (WATCH with the fold's first read,
/// and the messages, reply and ACK of an applied task, each in one write).
/// PROGRESS goes out every
/// `settings.progressInterval` while the reads and `handle` run. A lost connection is
/// retried with backoff; the state is rebuilt on each connect. The kernel
/// reads a task needs (`AgentLogic.reads`) are sent after the fold, just
/// before `handle` (inside the WATCH, which reads do not disturb): on the
/// same connection, or on the side connection when they may be slow
/// (`AgentSideReader`). Instances
/// of one agent share its state through `events.<id>`.
///
/// Promises: an acknowledged task's events are in `events.<id>` (the EXEC
/// was answered before the ACK was sent); a task redelivered after a crash
/// anywhere before its ACK has the effect of one.
public final class AgentRuntime<Logic: AgentLogic> {
    public let settings: AgentSettings
    /// The state and the applied requests, as of the last task.
    public private(set) var book: AgentBook<Logic>
    /// Called when a task's events have been appended, before its reply and ACK.
    public var afterAppend: ((AgentRequest) -> Void)?
    /// `control.stop()` asks the runtime to return: after the task in hand,
    /// or when its connection next ends, or at once during a read on the
    /// side connection, the task given back (a read on the task connection
    /// is not cut short; `main` exits the process at once when no task is
    /// in hand).
    public let control = AgentControl()
    private var connection: RESPConnection?
    /// Tasks pushed while the runtime waited for a command's reply.
    private var queued: [[RESPValue]] = []
    /// The ID of the last entry of `events.<id>` folded into `book` ("-": none).
    private var folded = "-"
    /// Entries of `events.<id>` that were no events of this agent.
    private var otherEntries = 0
    /// When the kernel last heard that the task in hand is alive: its
    /// delivery, or the last PROGRESS.
    private var lastBeat = DispatchTime.now()
    /// The connection asks go out on (`AgentLogic.asks`), made at the first.
    private var requester: AgentRequester?
    /// Whether the logic takes snapshots (`AgentLogic.snapshot(of:)`).
    private let takesSnapshots: Bool
    /// The last snapshot's size, and when it was taken (or, with none, when the agent started).
    private var snapshotBytes = 0
    private var snapshotTaken = Date()
    /// Bytes of the agent's own entries folded since the last snapshot.
    private var sinceSnapshot = 0
    /// Whether the warning that a partial task holds snapshots back was logged.
    private var partialNoted = false
    /// The connection slow reads go out on (`KernelRead.mayBeSlow`), made at the first.
    private lazy var side = AgentSideReader(settings: settings)

    public init(logic: Logic, settings: AgentSettings) {
        self.settings = settings
        book = AgentBook(logic: logic)
        takesSnapshots = logic.snapshot(of: logic.initialState) != nil
    }

    // MARK: - Running

    /// Serves tasks until `control.stop()` (returns) or until the kernel
    /// refuses the agent or the process that started it is gone (throws).
    public func run() throws(AgentKitError) {
        let parent = getppid()
        var delay = AgentKitLimits.backoffFirst
        while !control.stopping {
            var joined = false
            do {
                try serve(joined: &joined)
                return
            } catch {
                if case .refused = error { throw error }
                if case .settings = error { throw error }
                if case .orphaned = error { throw error }
                if control.stopping { return }
                if joined { delay = AgentKitLimits.backoffFirst }
                note("connection to \(settings.host):\(settings.port) lost or refused (\(error)); reconnecting")
            }
            if getppid() != parent { throw .orphaned }
            usleep(UInt32(delay * 1_000_000))
            delay = min(delay * 2, AgentKitLimits.backoffMax)
        }
    }

    /// The whole life of an agent process: settings from the environment
    /// (Protocol/AGENTS.md §6, §9), SIGTERM and SIGINT obeyed after the task
    /// in hand, exit status 0 when stopped, 2 when the kernel refuses it, 1
    /// when its parent is gone. `afterAppend` (a test's hook) becomes the
    /// runtime's `afterAppend`.
    public static func main(logic: Logic, agentID: String, afterAppend: ((AgentRequest) -> Void)? = nil) -> Never {
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: agentID) } catch {
            note("\(error)")
            exit(2)
        }
        let runtime = AgentRuntime(logic: logic, settings: settings)
        runtime.afterAppend = afterAppend
        let control = runtime.control
        let sources = [SIGTERM, SIGINT].map { signo in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler { @Sendable in if control.stop() { exit(0) } }
            source.resume()
            return source
        }
        do {
            try runtime.run()
        } catch {
            note("\(error)")
            if case .orphaned = error { exit(1) }
            exit(2)
        }
        withExtendedLifetime(sources) {}
        exit(0)
    }

    private func serve(joined: inout Bool) throws(AgentKitError) {
        let c = try settings.connect()
        connection = c
        queued = []
        defer {
            c.close()
            connection = nil
        }
        if case .error(let m) = try call(["CLIENT", "PUBLISHER", "ON"]) { throw .refused("CLIENT PUBLISHER ON: \(m)") }
        let skipped = try rebuild()
        if case .error(let m) = try call(["AGENT", "JOIN", settings.agentID]) {
            throw .refused("cannot join as agent '\(settings.agentID)': \(m)")
        }
        joined = true
        note("joined \(settings.host):\(settings.port) as agent \(settings.agentID) (state from \(book.eventCount) events"
             + (skipped > 0 ? ", \(skipped) entries of other publishers ignored)" : ")"))
        while !control.stopping {
            let push = try nextPush()
            guard push.count >= 5, push[0].bytes == Array("task".utf8),
                  let topic = push[1].bytes, let entry = push[2].bytes, let payload = push[4].bytes else { continue }
            let deliveries = push[3].integer ?? 0
            let publisher = push.count > 5 ? push[5].bytes.map { String(decoding: $0, as: UTF8.self) } ?? "" : ""
            guard control.begin() else { return }
            defer { control.end() }
            try task(topic: topic, entry: entry, deliveries: deliveries, payload: payload, publisher: publisher)
        }
    }

    // MARK: - State

    /// Folds `events.<id>` into a fresh book, page by page, from the latest
    /// snapshot when there is one; entries another user appended are not
    /// the agent's events and are skipped (counted).
    private func rebuild() throws(AgentKitError) -> Int {
        let started = DispatchTime.now()
        book = AgentBook(logic: book.logic)
        folded = "-"
        otherEntries = 0
        sinceSnapshot = 0
        var fromSnapshot = 0
        if takesSnapshots, let loaded = try AgentSnapshots.load(logic: book.logic, settings: settings, call: call) {
            book = loaded.book
            folded = loaded.upto
            snapshotBytes = loaded.bytes
            snapshotTaken = Date(timeIntervalSince1970: Double(loaded.millis) / 1000)
            fromSnapshot = book.eventCount
        }
        try catchUp()
        let ms = Double(DispatchTime.now().uptimeNanoseconds &- started.uptimeNanoseconds) / 1e6
        note("rebuilt in \(Int(ms.rounded())) ms: " + (fromSnapshot > 0 ? "a snapshot of \(fromSnapshot) events (\(snapshotBytes) bytes), then " : "")
             + "\(book.eventCount - fromSnapshot) events (\(sinceSnapshot) bytes) folded")
        try snapshotIfDue()
        return otherEntries
    }

    /// Takes a snapshot when the events folded since the last one come to
    /// `snapshotMinBytes` or the last one's size, or the last one is older
    /// than `snapshotMaxAgeSeconds`: between tasks, never inside one.
    private func snapshotIfDue() throws(AgentKitError) {
        guard takesSnapshots, book.eventCount > 0 else { return }
        let grown = sinceSnapshot >= max(AgentKitLimits.snapshotMinBytes, snapshotBytes)
        let old = -snapshotTaken.timeIntervalSinceNow >= AgentKitLimits.snapshotMaxAgeSeconds
            && (sinceSnapshot > 0 || settings.ledgerRetention)
        if book.hasPartialTask {
            // A task whose last event never came (a writer that crashed, a
            // dead letter): no snapshot can carry it. Said once per start.
            if (grown || old) && !partialNoted {
                partialNoted = true
                note("warning: no snapshot while a task's events are partly in \(settings.eventsTopic); every start folds from the last one")
            }
            return
        }
        guard grown || old, let text = book.snapshot() else { return }
        let written = try AgentSnapshots.write(text, upto: folded, logicVersion: book.logic.snapshotVersion, settings: settings, call: call)
        // Refused (no right to snapshots.<id>): tried again after as much growth, or an hour.
        snapshotBytes = written ?? max(snapshotBytes, sinceSnapshot)
        snapshotTaken = Date()
        sinceSnapshot = 0
        if let written { note("snapshot of \(book.eventCount) events (\(written) bytes) on \(settings.snapshotsTopic) up to \(folded)") }
    }

    /// The XRANGE of the next page of `events.<id>` past `folded`.
    private var catchUpPage: [String] {
        ["XRANGE", settings.eventsTopic, folded == "-" ? "-" : "(" + folded, "+", "COUNT", String(max(1, settings.replayPage))]
    }

    /// Folds the entries of `events.<id>` past `folded` (the last entry ID
    /// read): those another instance of the agent appended since. `first`:
    /// the reply of `catchUpPage` sent already (with the task's WATCH).
    private func catchUp(first: RESPValue? = nil) throws(AgentKitError) {
        let page = max(1, settings.replayPage)
        var given = first
        while true {
            let reply: RESPValue
            if let g = given { reply = g; given = nil } else { reply = try call(catchUpPage) }
            if case .error(let m) = reply { throw .refused("cannot read \(settings.eventsTopic): \(m)") }
            guard let entries = reply.elements else { throw .unexpected("XRANGE answered \(reply)") }
            for e in entries {
                guard let pair = e.elements, pair.count == 2, let id = pair[0].bytes else {
                    throw .unexpected("XRANGE entry \(e)")
                }
                var fields = StreamEntry.pairs(pair[1])
                folded = String(decoding: id, as: UTF8.self)
                // With PUBLISHER ON the kernel's `_publisher` is always the last pair.
                guard fields.last?.0 == "_publisher", fields.removeLast().1 == settings.identity else {
                    otherEntries += 1
                    continue
                }
                if book.replay(fields, id: folded) {
                    for (name, value) in fields { sinceSnapshot += name.utf8.count + value.utf8.count }
                } else {
                    otherEntries += 1
                }
            }
            if entries.count < page { break }
        }
    }

    // MARK: - One task

    private func task(topic: [UInt8], entry: [UInt8], deliveries: Int, payload: [UInt8], publisher: String) throws(AgentKitError) {
        lastBeat = .now()
        let entryText = String(decoding: entry, as: UTF8.self)
        let head = "task \(String(decoding: topic, as: UTF8.self)) \(entryText) delivery=\(deliveries) publisher=\(publisher)"
        // Longer than max_task_bytes: dead-lettered by its length alone,
        // before any parse (its reply_to is never read: no reply).
        if let reason = AgentTaskParser.oversized(bytes: payload.count, limit: settings.maxTaskBytes) {
            note("\(head) dead-lettered: \(reason)")
            let written = try deadLetter(topic, entry, deliveries, reason: reason, publisher, payload, head)
            if written { try acknowledge(topic, entry, head) } else { try giveBack(topic, entry) }
            return
        }
        let request: AgentRequest
        switch AgentTaskParser.parse(payload, entryID: entryText) {
        case .failure(let malformed):
            note("\(head) dead-lettered: \(malformed.reason)")
            // The caller is told once: after the dead letter is written, or
            // at the first delivery when it cannot be (the task is then
            // given back until the kernel dead-letters it).
            let written = try deadLetter(topic, entry, deliveries, reason: malformed.reason, publisher, payload, head)
            if let replyTo = malformed.replyTo, written || deliveries <= 1 {
                let reply = AgentReply.error(code: AgentErrorCode.malformed, message: malformed.reason).json(id: malformed.id).text
                _ = try call([Array("PUBLISH".utf8), Array(replyTo.utf8), Array(reply.utf8)])
            }
            if written { try acknowledge(topic, entry, head) } else { try giveBack(topic, entry) }
            return
        case .success(let r):
            request = r
        }
        // Optimistic concurrency with the agent's other instances: WATCH the
        // event topic, fold what they appended, decide, and append the task's
        // events in one MULTI/EXEC; a null EXEC means another instance
        // appended meanwhile: decide again against the new state.
        var step: AgentStep?
        for _ in 0..<AgentKitLimits.appendAttempts {
            // WATCH and the first page of the catch-up in one write, one round trip.
            let watched = try pipeline([["WATCH", settings.eventsTopic], catchUpPage].map { $0.map { Array($0.utf8) } })
            if case .error(let m) = watched[0] {
                note("\(head): WATCH \(settings.eventsTopic) refused (\(m)); given back")
                return try giveBack(topic, entry)
            }
            try catchUp(first: watched[1])
            let view = try read(book.reads(request, caller: publisher), asks: book.asks(request, caller: publisher),
                                caller: publisher, request: request.id.text,
                                topic: topic, entry: entry)
            var s = try decide(request, publisher: publisher, kernel: view, topic: topic, entry: entry)
            if s.deadLetter == nil, let reason = oversize(s) {
                s = AgentStep(append: [], reply: AgentOutcome.error(AgentErrorCode.internalError, reason).reply.json(id: request.id).text,
                              duplicate: false, deadLetter: reason)
            }
            if let reason = s.deadLetter {
                _ = try call(["UNWATCH"])
                note("\(head) action=\(request.action) id=\(request.id.text) dead-lettered: \(reason)")
                let written = try deadLetter(topic, entry, deliveries, reason: reason, publisher, payload, head)
                if let replyTo = request.replyTo, written || deliveries <= 1 { _ = try call(["PUBLISH", replyTo, s.reply]) }
                if written { try acknowledge(topic, entry, head) } else { try giveBack(topic, entry) }
                return
            }
            if s.append.isEmpty {
                _ = try call(["UNWATCH"])
                step = s
                break
            }
            if case .error(let m) = try call(["MULTI"]) {
                note("\(head): MULTI refused (\(m)); given back")
                _ = try call(["UNWATCH"])
                return try giveBack(topic, entry)
            }
            // Inside MULTI each XADD is only queued: they and the EXEC go in
            // one write, one round trip (the replies are +QUEUED…, then EXEC's).
            let replies = try pipeline((s.append.map { e in ["XADD", settings.eventsTopic, "*"] + e.fields.flatMap { [$0.0, $0.1] } }
                                        + [["EXEC"]]).map { $0.map { Array($0.utf8) } })
            let answer = replies.last ?? .null
            if case .null = answer { continue }  // another instance appended: again
            guard let results = answer.elements else {
                note("\(head): cannot append to \(settings.eventsTopic) (\(answer)); given back")
                return try giveBack(topic, entry)
            }
            if let failed = results.first(where: { if case .error = $0 { true } else { false } }) {
                try catchUp()  // what did go in, from the stream itself
                note("\(head): cannot append to \(settings.eventsTopic) (\(failed)); given back")
                return try giveBack(topic, entry)
            }
            // The WATCH held: nothing came between the last fold and these
            // entries, so they are folded as written, with the IDs EXEC
            // answered, without reading them back (a round trip a task).
            for (e, r) in zip(s.append, results) {
                guard let id = r.bytes.map({ String(decoding: $0, as: UTF8.self) }) else { throw .unexpected("EXEC answered \(answer)") }
                folded = id
                if book.replay(e.fields, id: id) {
                    for (name, value) in e.fields { sinceSnapshot += name.utf8.count + value.utf8.count }
                }
            }
            step = s
            break
        }
        guard var step else {
            note("\(head): \(AgentKitLimits.appendAttempts) attempts to append lost to other instances; given back")
            return try giveBack(topic, entry)
        }
        if !step.append.isEmpty { afterAppend?(request) }
        if step.duplicate && step.reply.isEmpty {
            let stored = try storedReply(request, caller: publisher, at: step.appliedAt ?? "")
            step.reply = stored.reply
            step.messages = stored.messages
            // Stored under a larger max_payload: not sent as it is.
            if let reason = oversize(step) {
                step.reply = AgentReply.error(code: AgentErrorCode.internalError, message: reason).json(id: request.id).text
                step.messages = []
            }
        }
        // The task's messages (stored with its events), again for a duplicate
        // only when it is a redelivery (the same task: a crash may have come
        // between its EXEC and its messages), never for the caller sending
        // the request again as a new task (a paid broadcast is not a free one twice).
        if step.duplicate && deliveries <= 1 { step.messages = [] }
        // The messages, the reply and the ACK in one write, one round trip.
        // Once the task is in the events (appended now or before), it is
        // acknowledged whatever the reply's fate: giving it back would only
        // have the kernel dead-letter an applied task. A task that appended
        // nothing is acknowledged only once its reply went out.
        let applied = step.duplicate || !step.append.isEmpty
        var commands = step.messages.map { m in [Array("PUBLISH".utf8), Array(m.topic.utf8), Array(m.message.utf8)] }
        if let replyTo = request.replyTo { commands.append([Array("PUBLISH".utf8), Array(replyTo.utf8), Array(step.reply.utf8)]) }
        if applied { commands.append([Array("ACK".utf8), topic, entry]) }
        var replies = try pipeline(commands)
        let acked = applied ? replies.removeLast() : nil
        let replied = request.replyTo != nil ? replies.removeLast() : nil
        for (m, r) in zip(step.messages, replies) {
            if case .error(let e) = r {
                note("warning: \(head) action=\(request.action) id=\(request.id.text): applied, but its message to \(m.topic) was refused (\(e))")
            }
        }
        if let replyTo = request.replyTo, case .error(let m)? = replied {
            guard applied else {
                note("\(head): reply to \(replyTo) refused (\(m)); given back")
                return try giveBack(topic, entry)
            }
            note("warning: \(head) action=\(request.action) id=\(request.id.text): applied, but its reply to \(replyTo) was refused (\(m))")
        }
        note("\(head) action=\(request.action) id=\(request.id.text)\(step.duplicate ? " duplicate" : "") events=\(step.append.count)")
        if let acked {
            if acked.integer != 1 { note("\(head): ACK answered \(acked): the task was no longer this instance's") }
        } else {
            try acknowledge(topic, entry, head)
        }
        try snapshotIfDue()
    }

    /// The kernel's replies to `reads`, each sent as a command (an error
    /// reply is the read's answer, for `handle` to judge), with PROGRESS
    /// between them when one is due: many reads may outlast `ack_wait`. A
    /// read that may be slow (`KernelRead.mayBeSlow`: LEDGER, a blocking
    /// XREAD, a long XRANGE) goes out on the side connection while this
    /// thread sends PROGRESS every `progressInterval` until it is answered
    /// (the kernel would run no PROGRESS on a connection waiting for such a
    /// read); the others on the task connection, which costs no thread hop.
    /// Asked to stop meanwhile, the runtime gives the task back and throws
    /// `.stopped` without waiting for the read: a task that reads has no
    /// events appended by this delivery yet (reads come before the EXEC,
    /// and none for a request already applied).
    private func read(_ reads: [KernelRead], asks: [AgentAsk], caller: String, request: String,
                      topic: [UInt8], entry: [UInt8]) throws(AgentKitError) -> KernelView {
        var replies: [KernelRead: RESPValue] = [:]
        for r in reads where replies[r] == nil {
            if secondsSinceBeat >= progressInterval { try progress(topic, entry) }
            if r.changesConnection {
                replies[r] = .error(r.refusedText)
                continue
            }
            if let caller = r.asIf {
                let check = try call(["ACL", "DRYRUN", caller] + r.arguments)
                guard case .simpleString("OK") = check else {
                    replies[r] = KernelRead.refusal(check)
                    continue
                }
            }
            guard r.mayBeSlow else {
                replies[r] = try call(r.arguments)
                continue
            }
            let stopped = "task \(String(decoding: topic, as: UTF8.self)) \(String(decoding: entry, as: UTF8.self)) given back: "
                + "asked to stop while it read (\(r.arguments.prefix(2).joined(separator: " ")))"
            if control.stopping {
                try giveBack(topic, entry)
                note(stopped)
                throw .stopped(stopped)
            }
            let pending = side.start(r.arguments.map { Array($0.utf8) })
            while true {
                let beat = max(0, progressInterval - secondsSinceBeat)
                if let reply = pending.wait(seconds: min(beat, AgentKitLimits.stopPoll)) {
                    replies[r] = reply
                    break
                }
                if control.stopping {
                    side.abandon()
                    try giveBack(topic, entry)
                    note(stopped)
                    throw .stopped(stopped)
                }
                if secondsSinceBeat >= progressInterval {
                    do throws(AgentKitError) { try progress(topic, entry) } catch {
                        side.abandon()
                        throw error
                    }
                }
            }
        }
        return KernelView(replies, answers: try ask(asks, caller: caller, request: request, topic: topic, entry: entry))
    }

    /// The answers to `asks`: each published at once from the requester's
    /// own connection (made at the first ask, subscribed to its reply
    /// topic) under the id `AgentAsk.requestID` derives from the task in
    /// hand, then replies from each ask's `user` awaited until each ask's
    /// deadline, with PROGRESS for the task in hand whenever one is due. A
    /// failure of the requester's connection never ends the task
    /// connection's: the requester is made again on the same reply topic
    /// and every ask still awaited is sent again under its id (the asked
    /// agent applies an id once), at most `askReconnects` times per call;
    /// beyond, or when it cannot be made, those asks are `.lost` (sent,
    /// perhaps) and the ones not yet sent `.failed`.
    private func ask(_ asks: [AgentAsk], caller: String, request: String, topic: [UInt8],
                     entry: [UInt8]) throws(AgentKitError) -> [AgentAsk: AgentAnswer] {
        let outer = String(decoding: topic, as: UTF8.self), entryID = String(decoding: entry, as: UTF8.self)
        var answers: [AgentAsk: AgentAnswer] = [:]
        /// Sent, or perhaps sent (the connection failed during the PUBLISH),
        /// and awaited; by the id as JSON, as `receive` keys replies.
        var pending: [(id: JSON, ask: AgentAsk, deadline: DispatchTime)] = []
        var reconnects = 0
        /// After `failure` of the requester's connection: a new one, with
        /// every pending ask sent again; when that cannot be done, the
        /// pending asks are `.lost` and the requester dropped.
        func recover(_ failure: AgentKitError) {
            var why = failure
            while reconnects < AgentKitLimits.askReconnects, let r = requester {
                reconnects += 1
                do throws(AgentKitError) {
                    try r.reconnect()
                    for p in pending {
                        do throws(AgentKitError) {
                            try r.send(topic: p.ask.topic, action: p.ask.action, args: p.ask.args, id: p.id)
                        } catch {
                            guard case .refused(let m) = error else { throw error }
                            answers[p.ask] = .lost(m)  // the first PUBLISH may have gone
                            pending.removeAll { $0.id == p.id }
                        }
                    }
                    note("task \(outer) \(entryID): the requester's connection failed (\(failure)); made again, "
                         + "\(pending.count) asks sent again")
                    return
                } catch {
                    why = error
                }
            }
            dropRequester()
            for p in pending { answers[p.ask] = .lost(why.description) }
            pending = []
        }
        for a in asks where answers[a] == nil && !pending.contains(where: { $0.ask == a }) {
            if secondsSinceBeat >= progressInterval { try progress(topic, entry) }
            do throws(AgentKitError) {
                try AgentRequester.check(timeout: a.timeout)
                if requester == nil { requester = try AgentRequester(settings: settings) }
            } catch {
                answers[a] = .failed(error.description)
                continue
            }
            guard let r = requester else { continue }
            let id = JSON.string(a.requestID(asker: settings.agentID, topic: outer, caller: caller, request: request))
            // An ask that differs from a pending one only by its timeout is that request: one PUBLISH.
            if !pending.contains(where: { $0.id == id }) {
                do throws(AgentKitError) {
                    try r.send(topic: a.topic, action: a.action, args: a.args, id: id)
                } catch {
                    guard case .client = error else {
                        answers[a] = .failed(error.description)  // refused: nothing published
                        continue
                    }
                    pending.append((id, a, .now() + a.timeout))
                    recover(error)
                    continue
                }
            }
            pending.append((id, a, .now() + a.timeout))
        }
        while !pending.isEmpty {
            // Asked again under the same ids at the next delivery: a stop need not wait for a day-long ask.
            if control.stopping {
                try giveBack(topic, entry)
                throw .stopped("task \(String(decoding: topic, as: UTF8.self)) \(String(decoding: entry, as: UTF8.self)) given back: "
                               + "asked to stop while its asks were awaited")
            }
            let now = DispatchTime.now()
            for p in pending where p.deadline <= now { answers[p.ask] = .timeout(seconds: p.ask.timeout) }
            pending.removeAll { $0.deadline <= now }
            guard !pending.isEmpty, let r = requester else { break }
            if secondsSinceBeat >= progressInterval { try progress(topic, entry) }
            let nearest = pending.map(\.deadline.uptimeNanoseconds).min() ?? now.uptimeNanoseconds
            let untilDeadline = nearest > now.uptimeNanoseconds ? Double(nearest - now.uptimeNanoseconds) / 1e9 : 0
            let wait = max(AgentKitLimits.shortestRead, min(untilDeadline, progressInterval - secondsSinceBeat))
            var awaited: [String: String] = [:]
            for p in pending { awaited[p.id.text] = p.ask.user }
            do throws(AgentKitError) {
                let replies = try r.receive(awaited, within: wait)
                for p in pending { if let reply = replies[p.id.text] { answers[p.ask] = .reply(reply) } }
                pending.removeAll { replies[$0.id.text] != nil }
            } catch {
                guard case .client = error else {
                    // A message from the asked agent's user that is no reply: nothing more will come.
                    for p in pending { answers[p.ask] = .lost(error.description) }
                    pending = []
                    break
                }
                recover(error)
            }
        }
        return answers
    }

    private func dropRequester() {
        requester?.close()
        requester = nil
    }

    /// A duplicate's reply and messages, read from the `reply` and
    /// `messages` fields of its last event (entry `at` of `events.<id>`)
    /// when they are no longer in memory; when that entry is gone too
    /// (retention), an error reply `duplicate` that says the request was
    /// applied, and no message.
    private func storedReply(_ request: AgentRequest, caller: String, at: String) throws(AgentKitError) -> StoredReply {
        if !at.isEmpty, case .array(let items) = try call(["XRANGE", settings.eventsTopic, at, at]),
           let entry = items.first?.elements, entry.count == 2,
           // Only that request's entry, by the agent's own user (an ID can
           // name another entry after the events were retired and restored).
           let stored = StoredReply.read(StreamEntry.pairs(entry[1]), id: request.id, caller: caller, identity: settings.identity) {
            return stored
        }
        return StoredReply(reply: AgentReply.error(code: AgentErrorCode.duplicate,
                                message: "request \(request.id.text) was applied (at \(at.isEmpty ? "an entry no longer known" : at)),"
                                    + " and its reply is no longer in \(settings.eventsTopic)").json(id: request.id).text)
    }

    /// Why `step` cannot be sent: its reply, one of its messages (or its
    /// topic) or a field of one of its events is longer than the kernel's
    /// `max_payload` (a bulk the kernel closes the connection for, so the
    /// task would come back again and again), or an event is longer than
    /// twice it (the least a command may be: `client-query-buffer-limit`);
    /// nil when it fits.
    func oversize(_ step: AgentStep) -> String? {
        let limit = settings.maxPayload
        if step.reply.utf8.count > limit {
            return "the reply is \(step.reply.utf8.count) bytes, over the kernel's max_payload (\(limit))"
        }
        for m in step.messages where m.message.utf8.count > limit || m.topic.utf8.count > limit {
            let (what, n) = m.message.utf8.count > limit ? ("a message", m.message.utf8.count) : ("a message's topic", m.topic.utf8.count)
            return "\(what) (to \(m.topic.prefix(64))) is \(n) bytes, over the kernel's max_payload (\(limit))"
        }
        for e in step.append {
            if let (name, value) = e.fields.first(where: { $0.1.utf8.count > limit }) {
                return "the field \(name) of an event (type \(e.fields.first?.1 ?? "")) is \(value.utf8.count) bytes, over the kernel's max_payload (\(limit))"
            }
            let n = e.fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
            if n > 2 * limit { return "an event (type \(e.fields.first?.1 ?? "")) is \(n) bytes, over twice the kernel's max_payload (\(limit))" }
        }
        return nil
    }

    /// `book.step` on a worker thread, with PROGRESS while it runs.
    private func decide(_ request: AgentRequest, publisher: String, kernel: KernelView,
                        topic: [UInt8], entry: [UInt8]) throws(AgentKitError) -> AgentStep {
        let book = self.book
        let result = StepResult()
        DispatchQueue.global().async { result.set(book.step(request, caller: publisher, kernel: kernel)) }
        while true {
            if let step = result.wait(seconds: max(0, progressInterval - secondsSinceBeat)) { return step }
            try progress(topic, entry)
        }
    }

    /// How often the task in hand is said to be alive (a third of
    /// `ack_wait`, or the default when the setting is out of range).
    private var progressInterval: Double {
        settings.progressInterval >= AgentKitLimits.shortestRead && settings.progressInterval <= AgentKitLimits.longestWait
            ? settings.progressInterval : AgentKitLimits.progressInterval
    }

    private var secondsSinceBeat: Double {
        let now = DispatchTime.now().uptimeNanoseconds, then = lastBeat.uptimeNanoseconds
        return now > then ? Double(now - then) / 1e9 : 0
    }

    private func progress(_ topic: [UInt8], _ entry: [UInt8]) throws(AgentKitError) {
        _ = try call([Array("PROGRESS".utf8), topic, entry])
        lastBeat = .now()
    }

    /// Appends the task to `dead.<id>` with the reason: false when the
    /// agent may not append there.
    private func deadLetter(_ topic: [UInt8], _ entry: [UInt8], _ deliveries: Int, reason: String, _ publisher: String,
                            _ payload: [UInt8], _ head: String) throws(AgentKitError) -> Bool {
        let fields: [(String, [UInt8])] = [
            ("topic", topic), ("id", entry), ("deliveries", Array(String(deliveries).utf8)),
            ("reason", Array(reason.utf8)), ("publisher", Array(publisher.utf8)), ("payload", payload),
        ]
        var dead: [[UInt8]] = [Array("XADD".utf8), Array(settings.deadTopic.utf8), Array("*".utf8)]
        for (name, value) in fields { dead += [Array(name.utf8), value] }
        if case .error(let m) = try call(dead) {
            note("\(head): cannot append to \(settings.deadTopic) (\(m)); given back")
            return false
        }
        return true
    }

    private func acknowledge(_ topic: [UInt8], _ entry: [UInt8], _ head: String) throws(AgentKitError) {
        let r = try call([Array("ACK".utf8), topic, entry])
        if r.integer != 1 { note("\(head): ACK answered \(r): the task was no longer this instance's") }
    }

    private func giveBack(_ topic: [UInt8], _ entry: [UInt8]) throws(AgentKitError) {
        _ = try call([Array("NACK".utf8), topic, entry, Array(String(AgentKitLimits.retryDelayMillis).utf8)])
    }

    // MARK: - Connection

    private func call(_ args: [String]) throws(AgentKitError) -> RESPValue {
        try call(args.map { Array($0.utf8) })
    }

    /// Sends commands in one go and returns their replies, in order; tasks
    /// pushed meanwhile are queued.
    private func pipeline(_ commands: [[[UInt8]]]) throws(AgentKitError) -> [RESPValue] {
        guard let c = connection else { throw .unexpected("not connected") }
        var bytes: [UInt8] = []
        for args in commands {
            bytes += Array("*\(args.count)\r\n".utf8)
            for b in args { bytes += Array("$\(b.count)\r\n".utf8) + b + [13, 10] }
        }
        do {
            try c.write(bytes)
            var out: [RESPValue] = []
            while out.count < commands.count {
                let v = try c.readValue()
                if case .push(let p) = v { queued.append(p) } else { out.append(v) }
            }
            return out
        } catch { throw .client(error) }
    }

    /// Sends a command and returns its reply; tasks pushed meanwhile are queued.
    private func call(_ args: [[UInt8]]) throws(AgentKitError) -> RESPValue {
        guard let c = connection else { throw .unexpected("not connected") }
        do {
            try c.send(args)
            while true {
                let v = try c.readValue()
                if case .push(let p) = v { queued.append(p) } else { return v }
            }
        } catch { throw .client(error) }
    }

    /// The next pushed task. An agent that takes snapshots wakes every
    /// `snapshotTickSeconds` meanwhile to fold what other instances (or its
    /// own other connections) appended and take a snapshot when one is due.
    private func nextPush() throws(AgentKitError) -> [RESPValue] {
        while true {
            if !queued.isEmpty { return queued.removeFirst() }
            guard let c = connection else { throw .unexpected("not connected") }
            if takesSnapshots { c.setReadTimeout(AgentKitLimits.snapshotTickSeconds) }
            let v: RESPValue
            do {
                v = try c.readValue()
                c.setReadTimeout(nil)
            } catch {
                c.setReadTimeout(nil)
                guard case .readTimeout = error else { throw .client(error) }
                if control.stopping { throw .stopped("asked to stop while waiting for a task") }
                try catchUp()
                try snapshotIfDue()
                continue
            }
            if case .push(let p) = v { return p }
        }
    }
}

/// Whether an agent is in a task and whether it was asked to stop: shared
/// with a signal handler.
public final class AgentControl: Sendable {
    private let flags = Mutex((busy: false, stopping: false))

    /// Asks the runtime to stop; true when it is between tasks (the caller may exit now).
    @discardableResult
    public func stop() -> Bool {
        flags.withLock { f in
            f.stopping = true
            return !f.busy
        }
    }

    public var stopping: Bool { flags.withLock { $0.stopping } }

    func begin() -> Bool {
        flags.withLock { f in
            if f.stopping { return false }
            f.busy = true
            return true
        }
    }

    func end() { flags.withLock { $0.busy = false } }
}

/// A step computed on another thread.
final class StepResult: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var step: AgentStep?

    func set(_ s: AgentStep) {
        step = s
        done.signal()
    }

    /// The step, or nil when it is not ready within `seconds`.
    func wait(seconds: Double) -> AgentStep? {
        done.wait(timeout: .now() + seconds) == .success ? step : nil
    }
}

func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
