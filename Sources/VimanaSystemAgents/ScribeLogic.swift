import VimanaAgentKit
import VimanaCore

// scribe: writes Markdown from live state (docs/SYSTEM-AGENTS.md): AGENTS.md
// from the wiring (`declared`, what discovery gets), the kernel's AGENTS
// and the system agents' actions; CITYMAP.md from the wiring and what
// science observed in the ledger, asked over the bus (`AgentLogic.asks`).
// Each document written is an event `written`, so a repeated request is
// answered from its stored reply and nothing is written twice.

/// scribe's limits, each with its reason.
public enum ScribeLimits {
    /// citymap's `window` when absent (seconds): science's own default.
    public static let windowDefault = 3600
    /// Its largest: a week, beyond what a map of who talks to whom is for.
    public static let windowMax = 7 * 86_400
    /// The largest document carried in a reply (a larger one is only in its
    /// file: `markdown` is null). The reply is published and stored in an
    /// event, so it is also kept under the kernel's `max_payload` (beyond
    /// which the kernel closes the connection): `ScribeLogic.fitted`.
    public static let markdownInReplyBytes = 256 << 10
    /// What a `written` event holds besides the reply (its type, document,
    /// path, size, digest, the request id and the caller), from above: a
    /// reply is kept this far under `max_payload`.
    public static let eventBytes = 8 << 10
}

/// What scribe wrote last, rebuilt from `events.scribe`.
public struct ScribeState: Sendable, Equatable, Codable {
    public struct Written: Sendable, Equatable, Codable {
        public var path: String
        public var bytes: Int
        public var sha256: String
    }
    /// The last write of each document, by its name.
    public var documents: [String: Written] = [:]
    /// Documents written since the first event.
    public var writes = 0

    public init() {}
}

/// Writes a document; `ScribeFiles` on disk, a dictionary in unit tests.
public protocol DocumentSink: Sendable {
    /// Replaces the document `name` of the output directory with `bytes`
    /// (whole or not at all) and returns its path, or the reason it could not.
    func write(_ name: String, _ bytes: [UInt8]) -> Result<String, DocumentSinkError>
}

public struct DocumentSinkError: Error, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

public struct ScribeLogic: AgentLogic {
    /// The agents the configuration declares (`VIMANA_SCRIBE_AGENTS`, as discovery's).
    public let declared: [DeclaredAgent]
    /// The actions of each system agent, by id (`SystemAgents.actions`).
    public let actions: [String: [String]]
    public let sink: any DocumentSink
    /// Seconds citymap waits for science.
    public let scienceTimeout: Double

    /// The kernel's `max_payload`: a reply (stored whole in the task's last
    /// event too) is kept under it, leaving documents out while it would not fit.
    public let maxPayload: Int

    public init(declared: [DeclaredAgent], actions: [String: [String]], sink: any DocumentSink, scienceTimeout: Double,
                maxPayload: Int = AgentSettings(agentID: "scribe").maxPayload) {
        self.declared = declared
        self.actions = actions
        self.sink = sink
        self.scienceTimeout = scienceTimeout
        self.maxPayload = maxPayload
    }

    /// Its actions, as a caller sends them.
    public static let actions = ["agents_md", "citymap", "write_all"]
    /// The agent citymap asks for the topics observed in the ledger.
    public static let science = "science"
    public static let agentsDocument = "AGENTS.md"
    public static let citymapDocument = "CITYMAP.md"

    public var initialState: ScribeState { ScribeState() }

    public func apply(_ event: AgentEvent, to state: inout ScribeState) {
        guard event.type == "written", let name = event.data["document"], let path = event.data["path"] else { return }
        state.documents[name] = .init(path: path, bytes: Int(event.data["bytes"] ?? "") ?? 0, sha256: event.data["sha256"] ?? "")
        state.writes += 1
    }

    public func handle(_ request: AgentRequest, caller: String, state: ScribeState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    // MARK: - Reads and asks, then answers

    /// AGENTS for AGENTS.md; for CITYMAP.md, whether the caller may see
    /// every topic's metadata (what LEDGER SCAN needs, as science asks of
    /// scribe): the map shows what science counted only to such a caller.
    public func reads(for request: AgentRequest, caller: String, state: ScribeState) -> [KernelRead] {
        guard (try? arguments(request)) != nil else { return [] }
        switch request.action {
        case "agents_md": return [.agents]
        case "citymap": return [CallerRights.scan(caller)]
        default: return [.agents, CallerRights.scan(caller)]
        }
    }

    public func asks(for request: AgentRequest, caller: String, state: ScribeState) -> [AgentAsk] {
        guard request.action != "agents_md", let window = try? arguments(request), scienceWired == true else { return [] }
        return [scienceAsk(window)]
    }

    /// true: science is declared and enabled; false: declared, disabled; nil: not declared.
    var scienceWired: Bool? { declared.first { $0.id == Self.science }.map(\.enabled) }

    /// science's `topics`, whose reply is taken only from the user the
    /// wiring says science runs as (`agent:science` for the system agent).
    func scienceAsk(_ window: Int) -> AgentAsk {
        AgentAsk(agent: Self.science, action: "topics", args: ["window": .int(Int64(window))], timeout: scienceTimeout,
                 user: declared.first { $0.id == Self.science }?.user)
    }

    /// The action's arguments checked: citymap's window (seconds), 0 for agents_md.
    func arguments(_ request: AgentRequest) throws(Refusal) -> Int {
        switch request.action {
        case "agents_md":
            try Arguments.only([], request.args)
            return 0
        case "citymap", "write_all":
            try Arguments.only(["window"], request.args)
            guard let v = request.args["window"] else { return ScribeLimits.windowDefault }
            guard let n = v.int, n >= 1, n <= Int64(ScribeLimits.windowMax) else {
                throw Refusal(AgentErrorCode.badArgument, "window must be an integer number of seconds from 1 to \(ScribeLimits.windowMax)")
            }
            return Int(n)
        default:
            throw Refusal(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: ScribeState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            let window = try arguments(request)
            var results: [JSON] = []
            var events: [AgentEvent] = []
            if request.action != "citymap" {
                let text = ScribeMarkdown.agents(declared, live: live(kernel), actions: actions)
                let (r, e) = try write(Self.agentsDocument, text, [:])
                results.append(r)
                events.append(e)
            }
            if request.action != "agents_md" {
                let observation = observed(window, kernel, caller: caller)
                let text = ScribeMarkdown.citymap(declared, observation)
                let (r, e) = try write(Self.citymapDocument, text, ["observed": .bool(observation.topics != nil),
                                                                     "science": .string(observation.note)])
                results.append(r)
                events.append(e)
            }
            return .ok(fitted(results, action: request.action, id: request.id), events: events)
        } catch {
            return .error(error.code, error.message)
        }
    }

    /// The result, with the markdown of the largest documents left out
    /// (null: it is in the file) until the reply fits `maxPayload` with
    /// `ScribeLimits.eventBytes` and the request id to spare for the rest of its event.
    func fitted(_ results: [JSON], action: String, id: JSON) -> JSON {
        var docs = results
        func whole() -> JSON { action == "write_all" ? ["documents": .array(docs)] : docs[0] }
        // The event repeats the request id in its `request` field.
        let budget = maxPayload - ScribeLimits.eventBytes - id.text.utf8.count
        while AgentReply.ok(whole()).json(id: id).text.utf8.count > budget {
            let carrying = docs.indices.filter { docs[$0]["markdown"]?.string != nil }
            guard let i = carrying.max(by: { (docs[$0]["bytes"]?.int ?? 0) < (docs[$1]["bytes"]?.int ?? 0) }),
                  case .object(var o) = docs[i] else { break }
            o["markdown"] = .null
            docs[i] = .object(o)
        }
        return whole()
    }

    /// Writes one document: its result and its event.
    func write(_ name: String, _ text: String, _ extra: [String: JSON]) throws(Refusal) -> (JSON, AgentEvent) {
        let bytes = Array(text.utf8)
        let path: String
        switch sink.write(name, bytes) {
        case .success(let p): path = p
        case .failure(let e): throw Refusal("write_failed", "cannot write \(name): \(e.reason)")
        }
        let digest = SHA256.hexDigest(bytes)
        var o: [String: JSON] = ["document": .string(name), "path": .string(path), "bytes": .int(Int64(bytes.count)),
                                 "sha256": .string(digest),
                                 "markdown": bytes.count <= ScribeLimits.markdownInReplyBytes ? .string(text) : .null]
        for (k, v) in extra { o[k] = v }
        return (.object(o), AgentEvent("written", ["document": name, "path": path, "bytes": String(bytes.count), "sha256": digest]))
    }

    // MARK: - Live state

    /// AGENTS's status and instances by agent id, or why there are none (the kernel's error text).
    func live(_ kernel: KernelView) -> ScribeMarkdown.Live {
        guard let records = kernel.records(.agents) else {
            return .failure(ScribeMarkdown.Unanswered(reason: kernel.error(.agents) ?? "no answer"))
        }
        var out: [String: (status: String, instances: String)] = [:]
        for r in records {
            var f: [String: String] = [:]
            for (k, v) in r { if let v { f[k] = v } }
            if let id = f["id"] { out[id] = (f["status"] ?? "unknown", f["instances"] ?? "0") }
        }
        return .success(out)
    }

    /// What science answered about the window, or why there is nothing.
    func observed(_ window: Int, _ kernel: KernelView, caller: String) -> ScribeObservation {
        let wiringOnly = ": the map shows the wiring only."
        switch scienceWired {
        case nil: return ScribeObservation(note: "science is not wired in this city" + wiringOnly)
        case false?: return ScribeObservation(note: "science is disabled" + wiringOnly)
        case true?: break
        }
        if let r = CallerRights.refusal(kernel, CallerRights.scan(caller), "\(caller) may not see every topic") {
            return ScribeObservation(note: Self.clip(r.message) + wiringOnly)
        }
        switch kernel.answer(scienceAsk(window)) {
        case nil:
            return ScribeObservation(note: "science was not asked" + wiringOnly)
        case .timeout(let s)?:
            return ScribeObservation(note: "science did not answer within \(ScribeMarkdown.seconds(s)) s" + wiringOnly)
        case .failed(let m)?:
            return ScribeObservation(note: "science could not be asked (\(Self.clip(m)))" + wiringOnly)
        case .lost(let m)?:
            return ScribeObservation(note: "science's answer was lost (\(Self.clip(m)))" + wiringOnly)
        case .reply(.error(let code, let message))?:
            return ScribeObservation(note: "science answered the error \(Self.clip(code)) (\(Self.clip(message)))" + wiringOnly)
        case .reply(.ok(let result))?:
            guard let topics = ScribeObservation.topics(result) else {
                return ScribeObservation(note: "science's answer is not the documented topics result" + wiringOnly)
            }
            return ScribeObservation(window: Int(result["window"]?.int ?? Int64(window)), topics: topics,
                                     note: "science counted the ledger's last \(result["window"]?.int ?? Int64(window)) s.")
        }
    }
}

/// What science observed: per topic, messages, bytes and publishers; nil
/// topics when it did not answer (`note` says why).
public struct ScribeObservation: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var topic: String
        public var messages: Int64
        public var bytes: Int64
        public var publishers: [(publisher: String, messages: Int64)]

        public static func == (a: Topic, b: Topic) -> Bool {
            a.topic == b.topic && a.messages == b.messages && a.bytes == b.bytes
                && a.publishers.map(\.publisher) == b.publishers.map(\.publisher) && a.publishers.map(\.messages) == b.publishers.map(\.messages)
        }
    }
    public var window: Int = 0
    public var topics: [Topic]?
    public var note: String

    public init(window: Int = 0, topics: [Topic]? = nil, note: String) {
        self.window = window
        self.topics = topics
        self.note = note
    }

    /// science's `topics` result (`{"window", "topics": [{"topic", "messages", "bytes", "publishers":
    /// [{"publisher", "messages"}]}]}`); nil when it is not that.
    static func topics(_ result: JSON) -> [Topic]? {
        guard let w = result["window"]?.int, w >= 0, case .array(let items)? = result["topics"] else { return nil }
        var out: [Topic] = []
        for item in items {
            guard let name = item["topic"]?.string, let m = item["messages"]?.int, m >= 0, let b = item["bytes"]?.int, b >= 0,
                  case .array(let ps)? = item["publishers"] else { return nil }
            var publishers: [(publisher: String, messages: Int64)] = []
            for p in ps {
                guard let who = p["publisher"]?.string, let n = p["messages"]?.int, n >= 0 else { return nil }
                publishers.append((who, n))
            }
            out.append(Topic(topic: name, messages: m, bytes: b, publishers: publishers))
        }
        return out
    }
}

extension ScribeLogic {
    /// What science said, cut to `noteTextBytes` on a character boundary:
    /// its text goes into CITYMAP's first paragraph and into the reply, which
    /// a long answer must not push past the kernel's `max_payload`.
    static func clip(_ text: String) -> String {
        guard text.utf8.count > noteTextBytes else { return text }
        var out = ""
        for ch in text {
            if out.utf8.count + ch.utf8.count > noteTextBytes { break }
            out.append(ch)
        }
        return out + "…"
    }

    /// 200 bytes: a sentence of science's, enough to say what went wrong.
    static let noteTextBytes = 200
}
