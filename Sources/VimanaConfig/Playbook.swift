/// envoy's playbooks (docs/SYSTEM-AGENTS.md, "envoy"): one per file of
/// `system.envoy.playbooks`, read by `PlaybookLoader` (VimanaConfigLoader)
/// when the configuration loads and again by envoy at its start.
public struct Playbook: Sendable, Equatable {
    public var name: String
    public var description: String
    public var args: [PlaybookArg]
    public var phases: [PlaybookPhase]
    public var onSuccess: [PlaybookStep]
    public var onFailure: [PlaybookStep]
    /// The file it was read from.
    public var file: String

    public init(name: String, description: String = "", args: [PlaybookArg] = [], phases: [PlaybookPhase] = [],
                onSuccess: [PlaybookStep] = [], onFailure: [PlaybookStep] = [], file: String = "") {
        self.name = name
        self.description = description
        self.args = args
        self.phases = phases
        self.onSuccess = onSuccess
        self.onFailure = onFailure
        self.file = file
    }

    /// The steps of every phase, in order.
    public var steps: [PlaybookStep] { phases.flatMap(\.steps) }

    /// Limits of a playbook, each with its reason: a run's state is held in
    /// memory and every step is one task and one event or two.
    public static let nameBytes = 64
    public static let maxSteps = 256
    public static let maxArgs = 64
    /// A call's timeout and a wait: a millisecond to a day.
    public static let durationRange = 1...86_400_000
    /// A poll's tries.
    public static let triesRange = 1...10_000
    /// envoy's own event types: an `emit` appends `emitted` with its type inside.
    public static let reservedTypes: Set<String> = ["started", "step_done", "waiting", "emitted", "finished"]
}

public struct PlaybookArg: Sendable, Equatable {
    public var name: String
    public var required: Bool

    public init(name: String, required: Bool) {
        self.name = name
        self.required = required
    }
}

public struct PlaybookPhase: Sendable, Equatable {
    public var name: String
    public var steps: [PlaybookStep]

    public init(name: String, steps: [PlaybookStep]) {
        self.name = name
        self.steps = steps
    }
}

/// A value written in a playbook: a plain scalar `true`/`false` is a
/// boolean, `~`/`null` null, an integer an integer; any other scalar (and
/// every quoted one) a string. Strings may hold `${…}` references.
public indirect enum PlaybookValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case list([PlaybookValue])
    case map([String: PlaybookValue])
}

/// `path` of a reply's result (dot-separated keys, or array indexes)
/// equals one of `values`.
public struct PlaybookCondition: Sendable, Equatable {
    public var path: String
    public var values: [PlaybookValue]

    public init(path: String, values: [PlaybookValue]) {
        self.path = path
        self.values = values
    }
}

public struct PlaybookStep: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Ask `agent` and wait at most `timeoutMillis` for its reply; with
        /// `until`, ask again every `everyMillis` (a `waiting` between) until
        /// the reply's result meets it, at most `tries` times.
        case call(agent: String, action: String, args: [String: PlaybookValue], timeoutMillis: Int,
                  until: PlaybookCondition?, everyMillis: Int, tries: Int)
        /// The result of the earlier step `step` meets `condition`.
        case check(step: String, condition: PlaybookCondition)
        /// Append `emitted {type, fields}` to envoy's events.
        case emit(type: String, fields: [String: PlaybookValue])
        /// Wait `millis` (recorded, so a restart waits only what is left).
        case wait(millis: Int)
    }

    /// Its id: given (`id:`), or `<section>.<n>` (phases: `<phase>.<n>`, 1-based).
    public var id: String
    public var kind: Kind

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }
}

/// A `${…}` reference in a playbook's string.
public enum PlaybookReference: Sendable, Equatable {
    case run
    case arg(String)
    /// `${steps.<id>.result}` (path empty) or `${steps.<id>.result.<path>}`.
    case step(String, path: String)
    case bad(String)

    public init(_ inner: String) {
        if inner == "run" { self = .run; return }
        let parts = inner.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, parts[0] == "args", !parts[1].isEmpty { self = .arg(parts[1]); return }
        if parts.count >= 3, parts[0] == "steps", !parts[1].isEmpty, parts[2] == "result" {
            self = .step(parts[1], path: parts.count == 4 ? parts[3] : "")
            if parts.count == 4, parts[3].isEmpty { self = .bad(inner) }
            return
        }
        self = .bad(inner)
    }

    /// The pieces of `text`: literal text and references, in order; nil
    /// when a `${` is not closed or is empty.
    public static func split(_ text: String) -> [(literal: String, reference: PlaybookReference?)]? {
        var out: [(String, PlaybookReference?)] = []
        let c = Array(text)
        var literal = ""
        var i = 0
        while i < c.count {
            if c[i] == "$", i + 1 < c.count, c[i + 1] == "{" {
                guard let close = c[(i + 2)...].firstIndex(of: "}"), close > i + 2 else { return nil }
                if !literal.isEmpty { out.append((literal, nil)) }
                literal = ""
                out.append(("", PlaybookReference(String(c[(i + 2)..<close]))))
                i = close + 1
            } else {
                literal.append(c[i])
                i += 1
            }
        }
        if !literal.isEmpty { out.append((literal, nil)) }
        return out
    }

    public static func all(in text: String) -> [PlaybookReference]? {
        split(text).map { $0.compactMap(\.reference) }
    }
}
