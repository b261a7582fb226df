import Foundation
import VimanaAgentKit
import VimanaConfig

// envoy: playbooks run step by step (docs/SYSTEM-AGENTS.md, "envoy").
// `run_playbook` appends `started`; every step is one `step {run, at}`
// task, published to tasks.envoy by envoy's own follower thread
// (SystemAgents+Envoy.swift) for each run not finished, and appends the
// step's outcome (`step_done`, `waiting`, `emitted`, `finished`). A run's
// position is folded from those events alone, so a restart of envoy or of
// the kernel goes on at the step after the last one recorded.

/// One run of a playbook, as envoy's events built it.
public struct EnvoyRun: Sendable, Equatable, Codable {
    public var run: String
    public var playbook: String
    /// The run's args, as JSON text.
    public var args: String
    /// `phases`, `on_success`, `on_failure`, or `end` (a failure in on_failure: the run is over).
    public var section = "phases"
    public var index = 0
    /// Step id → its recorded result (JSON text).
    public var results: [String: String] = [:]
    /// Step id → whether it succeeded.
    public var ok: [String: Bool] = [:]
    /// The step whose failure sent the run to on_failure.
    public var failedStep: String?
    /// A recorded wait at position `waitingAt`: until this time (ms since 1970).
    public var waitingAt: String?
    public var waitingUntil: Int64?
    /// The asks of a poll made so far at `waitingAt`.
    public var attempts = 0
    public var outcome: String?
    public var startedAt: String

    public init(run: String, playbook: String, args: String, startedAt: String) {
        self.run = run
        self.playbook = playbook
        self.args = args
        self.startedAt = startedAt
    }
}

public struct EnvoyState: Sendable, Equatable, Codable {
    public var runs: [String: EnvoyRun] = [:]
    public var started = 0
    public var finished = 0

    public init() {}

    /// Runs not finished, by id.
    public var open: [EnvoyRun] { runs.values.filter { $0.outcome == nil }.sorted { $0.run < $1.run } }
}

/// Where a run is: a step of a section, or done with an outcome.
public enum EnvoyPosition: Equatable, Sendable {
    case step(section: String, index: Int, PlaybookStep)
    case done(String)

    /// The position as `step`'s `at` argument: `<section>:<index>`, or `done`.
    public var key: String {
        switch self {
        case .step(let s, let i, _): "\(s):\(i)"
        case .done: "done"
        }
    }
}

public struct EnvoyLogic: AgentLogic {
    public let playbooks: [String: Playbook]
    /// envoy's own user: only its `step` tasks are taken (nil: none is, as herald's announce).
    public let stepper: String?

    public init(playbooks: [Playbook], stepper: String?) {
        self.playbooks = Dictionary(playbooks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.stepper = stepper
    }

    public static let actions = ["run_playbook", "status", "list_playbooks", "step"]
    /// Runs kept in the state at most; a `run_playbook` beyond them is refused
    /// while as many are not finished.
    public static let maxOpenRuns = 1000
    /// A recorded result or emitted field beyond this is cut (a reply may be large).
    public static let resultBytes = 16_384

    public var initialState: EnvoyState { EnvoyState() }

    // MARK: - Folding

    public func apply(_ event: AgentEvent, to state: inout EnvoyState) {
        let d = event.data
        switch event.type {
        case "started":
            guard let run = d["run"], let playbook = d["playbook"] else { return }
            state.runs[run] = EnvoyRun(run: run, playbook: playbook, args: d["args"] ?? "{}", startedAt: d["at"] ?? "")
            state.started += 1
        case "step_done":
            guard let id = d["run"], var r = state.runs[id], let step = d["step"] else { return }
            let ok = d["ok"] == "true"
            r.results[step] = d["result"] ?? "null"
            r.ok[step] = ok
            r.waitingAt = nil
            r.waitingUntil = nil
            r.attempts = 0
            if ok {
                r.index += 1
            } else if r.section == "on_failure" {
                r.section = "end"
                r.index = 0
            } else {
                if r.failedStep == nil { r.failedStep = step }
                r.section = "on_failure"
                r.index = 0
            }
            state.runs[id] = r
        case "waiting":
            guard let id = d["run"], var r = state.runs[id], let until = d["until"].flatMap(Int64.init) else { return }
            r.waitingAt = d["at"]
            r.waitingUntil = until
            r.attempts = d["attempt"].flatMap(Int.init) ?? 0
            state.runs[id] = r
        case "finished":
            guard let id = d["run"], var r = state.runs[id], r.outcome == nil else { return }
            r.outcome = d["outcome"] ?? "failure"
            state.runs[id] = r
            state.finished += 1
        default:
            break
        }
    }

    /// Where `run` is now: its next step, the section's end moving on.
    public func position(_ run: EnvoyRun) -> EnvoyPosition {
        if let o = run.outcome { return .done(o) }
        guard let book = playbooks[run.playbook] else { return .done("failure") }
        var section = run.section
        var index = run.index
        while true {
            switch section {
            case "phases":
                let steps = book.steps
                if index < steps.count { return .step(section: section, index: index, steps[index]) }
                section = "on_success"
                index = 0
            case "on_success":
                if index < book.onSuccess.count { return .step(section: section, index: index, book.onSuccess[index]) }
                return .done(run.failedStep == nil ? "success" : "failure")
            case "on_failure":
                if index < book.onFailure.count { return .step(section: section, index: index, book.onFailure[index]) }
                return .done("failure")
            default:
                return .done("failure")
            }
        }
    }

    // MARK: - Substitution

    /// `value` with its `${…}` replaced from the run's args and recorded
    /// results. A string that is exactly one reference becomes the value
    /// itself (a number stays a number); inside a longer string a value is
    /// its text (a string as is, anything else as JSON).
    static func substitute(_ value: PlaybookValue, run: EnvoyRun) throws(Refusal) -> JSON {
        switch value {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .list(let l):
            var out: [JSON] = []
            for v in l { out.append(try substitute(v, run: run)) }
            return .array(out)
        case .map(let m):
            var out: [String: JSON] = [:]
            for (k, v) in m { out[k] = try substitute(v, run: run) }
            return .object(out)
        case .string(let text):
            guard let pieces = PlaybookReference.split(text) else { throw Refusal("bad_reference", "an unclosed ${ in '\(text)'") }
            if pieces.count == 1, let r = pieces[0].reference { return try resolve(r, run: run) }
            var s = ""
            for p in pieces {
                if let r = p.reference {
                    let v = try resolve(r, run: run)
                    s += v.string ?? v.text
                } else {
                    s += p.literal
                }
            }
            return .string(s)
        }
    }

    static func resolve(_ r: PlaybookReference, run: EnvoyRun) throws(Refusal) -> JSON {
        switch r {
        case .run: return .string(run.run)
        case .arg(let a):
            guard let v = JSON.parse(run.args)?[a] else { throw Refusal("bad_reference", "${args.\(a)}: the run has no arg '\(a)'") }
            return v
        case .step(let s, let path):
            guard let text = run.results[s], let result = JSON.parse(text) else {
                throw Refusal("bad_reference", "${steps.\(s).result}: step '\(s)' has no recorded result")
            }
            guard let v = lookup(result, path) else {
                throw Refusal("bad_reference", "${steps.\(s).result.\(path)}: no such path in \(text.prefix(200))")
            }
            return v
        case .bad(let t):
            throw Refusal("bad_reference", "${\(t)} is not a reference")
        }
    }

    /// The value at `path` (dot-separated keys; an array's index) in `json`; "" is `json` itself.
    public static func lookup(_ json: JSON, _ path: String) -> JSON? {
        if path.isEmpty { return json }
        var v = json
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch v {
            case .object(let o): guard let n = o[String(part)] else { return nil }; v = n
            case .array(let a): guard let i = Int(part), a.indices.contains(i) else { return nil }; v = a[i]
            default: return nil
            }
        }
        return v
    }

    /// Whether `result` meets `condition` (its values compared as JSON, after substitution).
    static func meets(_ result: JSON, _ condition: PlaybookCondition, run: EnvoyRun) throws(Refusal) -> Bool {
        guard let v = lookup(result, condition.path) else { return false }
        for want in condition.values where try substitute(want, run: run) == v { return true }
        return false
    }

    static func cut(_ json: JSON) -> String {
        let t = json.text
        return t.utf8.count <= resultBytes ? t : JSON.object(["truncated": .string(String(t.prefix(resultBytes / 2)))]).text
    }

    // MARK: - Asking

    /// The call a `step` task makes: the run's current step when it is a
    /// call, due (no wait recorded still running), its args resolved.
    func call(_ request: AgentRequest, state: EnvoyState) -> AgentAsk? {
        guard request.action == "step", let id = request.args["run"]?.string, let run = state.runs[id],
              let at = request.args["at"]?.string else { return nil }
        let pos = position(run)
        guard pos.key == at, case .step(_, _, let step) = pos,
              case .call(let agent, let action, let args, let timeout, _, _, _) = step.kind else { return nil }
        if run.waitingAt == at, let until = run.waitingUntil, request.entryMillis < until { return nil }
        guard case .object(let resolved)? = try? Self.substitute(.map(args), run: run) else { return nil }
        return AgentAsk(agent: agent, action: action, args: resolved, timeout: Double(timeout) / 1000)
    }

    public func asks(for request: AgentRequest, caller: String, state: EnvoyState) -> [AgentAsk] {
        guard let stepper, caller == stepper, let ask = call(request, state: state) else { return [] }
        return [ask]
    }

    // MARK: - Handling

    public func handle(_ request: AgentRequest, caller: String, state: EnvoyState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    public func handle(_ request: AgentRequest, caller: String, state: EnvoyState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "run_playbook": return try start(request, state: state)
            case "step": return try step(request, caller: caller, state: state, kernel: kernel)
            case "status":
                try Arguments.only(["run"], request.args)
                if let id = request.args["run"] {
                    guard let s = id.string, let r = state.runs[s] else { throw Refusal("not_found", "no run \(id.text)") }
                    return .ok(view(r))
                }
                return .ok(["started": .int(Int64(state.started)), "finished": .int(Int64(state.finished)),
                            "running": .array(state.open.map { .string($0.run) })])
            case "list_playbooks":
                try Arguments.only([], request.args)
                let list = playbooks.keys.sorted().compactMap { playbooks[$0] }.map { b -> JSON in
                    ["name": .string(b.name), "description": .string(b.description),
                     "args": .array(b.args.map { ["name": .string($0.name), "required": .bool($0.required)] }),
                     "phases": .array(b.phases.map { .string($0.name) }), "steps": .int(Int64(b.steps.count))]
                }
                return .ok(["playbooks": .array(list)])
            default:
                throw Refusal(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (run_playbook, status, list_playbooks)")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    func view(_ r: EnvoyRun) -> JSON {
        var steps: [String: JSON] = [:]
        for (k, v) in r.results { steps[k] = ["ok": .bool(r.ok[k] ?? false), "result": JSON.parse(v) ?? .string(v)] }
        var o: [String: JSON] = ["run": .string(r.run), "playbook": .string(r.playbook), "args": JSON.parse(r.args) ?? .null,
                                 "at": .string(position(r).key), "steps": .object(steps),
                                 "outcome": r.outcome.map(JSON.string) ?? .null]
        if let f = r.failedStep { o["failed_step"] = .string(f) }
        if let u = r.waitingUntil { o["waiting_until"] = .int(u) }
        return .object(o)
    }

    func start(_ request: AgentRequest, state: EnvoyState) throws(Refusal) -> AgentOutcome {
        try Arguments.only(["name", "args"], request.args)
        guard let name = request.args["name"]?.string, let book = playbooks[name] else {
            throw Refusal("not_found", "no playbook \(request.args["name"]?.text ?? "(name missing)") (\(playbooks.keys.sorted().joined(separator: ", ")))")
        }
        var args: [String: JSON] = [:]
        if let a = request.args["args"], a != .null {
            guard case .object(let o) = a else { throw Refusal(AgentErrorCode.badArgument, "args must be an object") }
            args = o
        }
        for k in args.keys where !book.args.contains(where: { $0.name == k }) {
            throw Refusal(AgentErrorCode.badArgument, "playbook \(name) takes no arg '\(k)' (\(book.args.map(\.name).joined(separator: ", ")))")
        }
        for a in book.args where a.required && args[a.name] == nil {
            throw Refusal(AgentErrorCode.badArgument, "playbook \(name) needs arg '\(a.name)'")
        }
        guard state.open.count < Self.maxOpenRuns else {
            throw Refusal("busy", "\(Self.maxOpenRuns) runs are not finished")
        }
        let run = "run-\(state.started + 1)"
        let text = JSON.object(args).text
        guard text.utf8.count <= Self.resultBytes else { throw Refusal(AgentErrorCode.badArgument, "args are over \(Self.resultBytes) bytes") }
        return .ok(["run": .string(run), "playbook": .string(name)],
                   events: [AgentEvent("started", ["run": run, "playbook": name, "args": text, "at": request.entryID])])
    }

    func step(_ request: AgentRequest, caller: String, state: EnvoyState, kernel: KernelView) throws(Refusal) -> AgentOutcome {
        guard let stepper, caller == stepper else {
            throw Refusal(AgentErrorCode.forbidden, "step is envoy's own (its follower's); user '\(caller)' may not")
        }
        try Arguments.only(["run", "at"], request.args)
        guard let id = request.args["run"]?.string, let run = state.runs[id], let at = request.args["at"]?.string else {
            throw Refusal("not_found", "no run \(request.args["run"]?.text ?? "(missing)")")
        }
        let pos = position(run)
        guard pos.key == at else { return .ok(["run": .string(id), "at": .string(pos.key), "stale": true]) }
        let now = request.entryMillis
        guard case .step(_, _, let step) = pos else {
            // Its last step's `finished` was not appended (a playbook gone at a restart): appended now.
            return finish(run, pos, [], reply: ["run": .string(id), "outcome": .string(outcomeOf(pos))])
        }
        if run.waitingAt == at, let until = run.waitingUntil, now < until {
            return .ok(["run": .string(id), "at": .string(at), "waiting_until": .int(until)])
        }
        func done(_ ok: Bool, _ result: JSON, _ extra: [AgentEvent] = []) -> AgentOutcome {
            let e = AgentEvent("step_done", ["run": id, "at": at, "step": step.id, "ok": ok ? "true" : "false", "result": Self.cut(result)])
            return after(run, events: extra + [e], reply: ["run": .string(id), "step": .string(step.id), "ok": .bool(ok)])
        }
        switch step.kind {
        case .wait(let ms):
            if run.waitingAt == at { return done(true, ["waited_ms": .int(Int64(ms))]) }
            return .ok(["run": .string(id), "at": .string(at), "waiting_until": .int(now + Int64(ms))],
                       events: [AgentEvent("waiting", ["run": id, "at": at, "step": step.id, "until": String(now + Int64(ms))])])
        case .emit(let type, let fields):
            let resolved: JSON
            do throws(Refusal) { resolved = try Self.substitute(.map(fields), run: run) } catch {
                return done(false, ["error": ["code": .string(error.code), "message": .string(error.message)]])
            }
            return done(true, ["type": .string(type), "fields": resolved],
                        [AgentEvent("emitted", ["run": id, "step": step.id, "kind": type, "fields": Self.cut(resolved)])])
        case .check(let other, let condition):
            guard let text = run.results[other], let result = JSON.parse(text) else {
                return done(false, ["error": ["code": "no_result", "message": .string("step \(other) has no recorded result")]])
            }
            let value = Self.lookup(result, condition.path) ?? .null
            let met: Bool
            do throws(Refusal) { met = try Self.meets(result, condition, run: run) } catch {
                return done(false, ["error": ["code": .string(error.code), "message": .string(error.message)]])
            }
            return done(met, ["path": .string(condition.path), "value": value])
        case .call(let agent, let action, let args, _, let until, let every, let tries):
            do throws(Refusal) { _ = try Self.substitute(.map(args), run: run) } catch {
                return done(false, ["error": ["code": .string(error.code), "message": .string(error.message)]])
            }
            guard let ask = call(request, state: state) else {
                return done(false, ["error": ["code": "internal", "message": "the call could not be made"]])
            }
            let result: JSON
            switch kernel.answer(ask) {
            case .reply(.ok(let r))?:
                result = r
            case .reply(.error(let code, let message))?:
                return done(false, ["error": ["code": .string(code), "message": .string(message)], "agent": .string(agent), "action": .string(action)])
            case .timeout(let s)?:
                return done(false, ["error": ["code": "timeout", "message": .string("\(agent) did not answer \(action) within \(s) s")]])
            case .failed(let m)?, .lost(let m)?:
                return done(false, ["error": ["code": "unavailable", "message": .string("\(agent) could not be asked \(action): \(m)")]])
            case nil:
                return done(false, ["error": ["code": "unavailable", "message": .string("\(agent) was not asked \(action)")]])
            }
            guard let until else { return done(true, result) }
            let met: Bool
            do throws(Refusal) { met = try Self.meets(result, until, run: run) } catch {
                return done(false, ["error": ["code": .string(error.code), "message": .string(error.message)]])
            }
            if met { return done(true, result) }
            let attempt = (run.waitingAt == at ? run.attempts : 0) + 1
            if attempt >= tries {
                return done(false, ["error": ["code": "not_reached", "message": .string("\(until.path) not reached after \(tries) tries")],
                                    "last": result])
            }
            return .ok(["run": .string(id), "at": .string(at), "attempt": .int(Int64(attempt)), "waiting_until": .int(now + Int64(every))],
                       events: [AgentEvent("waiting", ["run": id, "at": at, "step": step.id, "until": String(now + Int64(every)),
                                                       "attempt": String(attempt)])])
        }
    }

    func outcomeOf(_ pos: EnvoyPosition) -> String {
        if case .done(let o) = pos { return o }
        return "failure"
    }

    /// `events` and, when they end the run, `finished`.
    func after(_ run: EnvoyRun, events: [AgentEvent], reply: [String: JSON]) -> AgentOutcome {
        var state = EnvoyState()
        state.runs[run.run] = run
        for e in events { apply(e, to: &state) }
        guard let r = state.runs[run.run] else { return .ok(.object(reply), events: events) }
        let pos = position(r)
        if case .done = pos { return finish(r, pos, events, reply: reply) }
        var out = reply
        out["next"] = .string(pos.key)
        return .ok(.object(out), events: events)
    }

    func finish(_ run: EnvoyRun, _ pos: EnvoyPosition, _ events: [AgentEvent], reply: [String: JSON]) -> AgentOutcome {
        let outcome = outcomeOf(pos)
        var out = reply
        out["outcome"] = .string(outcome)
        return .ok(.object(out), events: events + [AgentEvent("finished", ["run": run.run, "outcome": outcome])])
    }
}
