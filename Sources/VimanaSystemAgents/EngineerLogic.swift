import Foundation
import VimanaAgentKit
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

// engineer: the operators' hands on the supervised agents (docs/SYSTEM-AGENTS.md).
// `list`, `start`, `stop` and `restart` are the kernel's AGENT PS, START,
// STOP and RESTART, allowed to engineer's user alone and sent by the kit
// before `handle` (KernelRead.command) once `reads` has found the caller
// among the operators; `scaffold` writes a starter agent and its
// phoenix.yaml snippet into engineer's directory, never over a file.

/// engineer's limits, each with its reason.
public enum EngineerLimits {
    /// `scaffold`'s `path`: a relative directory a person types.
    public static let pathBytes = 256
}

/// engineer keeps no state of its own beyond the kit's applied requests:
/// the processes' states are the kernel's, the files are on disk.
public struct EngineerState: Sendable, Equatable, Codable {}

public struct EngineerLogic: AgentLogic {
    /// The users that may ask it anything (`system.engineer.operators`).
    public let operators: Set<String>
    /// Where `scaffold` writes (absolute).
    public let directory: String
    /// Its own id: it neither stops nor restarts itself.
    public let agentID: String

    public init(operators: [String], directory: String, agentID: String = "engineer") {
        self.operators = Set(operators)
        self.directory = directory
        self.agentID = agentID
    }

    /// Its actions, as a caller sends them (scribe lists them in AGENTS.md).
    public static let actions = ["list", "start", "stop", "restart", "scaffold"]
    /// `scaffold`'s languages, with the extension and interpreter of each.
    public static let languages: [(name: String, ext: String, run: String?)] = [
        ("python", "py", "python3"), ("bash", "sh", "bash"), ("node", "js", "node"), ("swift", "swift", nil),
    ]

    public var initialState: EngineerState { EngineerState() }

    public func apply(_ event: AgentEvent, to state: inout EngineerState) {}

    public func handle(_ request: AgentRequest, caller: String, state: EngineerState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    /// The kernel command an action is, when the caller may and the arguments hold.
    func command(_ request: AgentRequest, caller: String) -> KernelRead? {
        guard operators.contains(caller) else { return nil }
        switch request.action {
        case "list":
            guard (try? Arguments.only([], request.args)) != nil else { return nil }
            return .command(["AGENT", "PS"])
        case "start", "stop", "restart":
            guard case .success(let agent) = target(request) else { return nil }
            return .command(["AGENT", request.action.uppercased(), agent])
        default:
            return nil
        }
    }

    public func reads(for request: AgentRequest, caller: String, state: EngineerState) -> [KernelRead] {
        command(request, caller: caller).map { [$0] } ?? []
    }

    public func handle(_ request: AgentRequest, caller: String, state: EngineerState, kernel: KernelView) -> AgentOutcome {
        guard operators.contains(caller) else {
            return .error(AgentErrorCode.forbidden, "user '\(caller)' may not ask engineer: it is not one of system.engineer.operators")
        }
        do throws(Refusal) {
            switch request.action {
            case "list":
                try Arguments.only([], request.args)
                return .ok(try list(kernel))
            case "start", "stop", "restart":
                let agent = try target(request).get()
                return try control(request.action, agent, kernel)
            case "scaffold":
                return try scaffold(try scaffoldArguments(request.args).get())
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    // MARK: - list, start, stop, restart

    func target(_ request: AgentRequest) -> Result<String, Refusal> {
        Result { () throws(Refusal) in
            try Arguments.only(["agent"], request.args)
            let agent = try Arguments.agentID(request.args)
            guard agent != agentID else {
                // Its own process would die before it could reply, and the
                // task, redelivered, would do it again.
                throw Refusal(AgentErrorCode.forbidden, "engineer does not \(request.action) itself: "
                                    + "an admin's AGENT \(request.action.uppercased()) \(agentID) does")
            }
            return agent
        }
    }

    func list(_ kernel: KernelView) throws(Refusal) -> JSON {
        let read = KernelRead.command(["AGENT", "PS"])
        if let m = kernel.error(read) { throw Self.kernelRefusal(m) }
        guard let rows = kernel.records(read) else { throw Refusal(AgentErrorCode.internalError, "the kernel did not answer AGENT PS") }
        return ["agents": .array(rows.map { row in
            var o: [String: JSON] = [:]
            for (k, v) in row {
                switch k {
                case "pid", "started_at", "restarts": o[k] = v.flatMap { Int64($0) }.map(JSON.int) ?? .null
                default: o[k] = v.map(JSON.string) ?? .null
                }
            }
            return .object(o)
        })]
    }

    /// The event each action appends when the kernel did it.
    static let eventTypes = ["start": "started", "stop": "stopped", "restart": "restarted"]

    func control(_ action: String, _ agent: String, _ kernel: KernelView) throws(Refusal) -> AgentOutcome {
        let read = KernelRead.command(["AGENT", action.uppercased(), agent])
        let done = Self.eventTypes[action] ?? action
        switch kernel.reply(read) {
        case .simpleString("OK")?:
            return .ok(["agent": .string(agent), "done": .string(done), "changed": true],
                       events: [AgentEvent(done, ["agent": agent])])
        case .error(let m)?:
            // Already as asked (also a task redelivered after it was done): no change, no event.
            if (action == "start" && m.hasSuffix("is already running")) || (action == "stop" && m.hasSuffix("is already stopped")) {
                return .ok(["agent": .string(agent), "done": .string(done), "changed": false])
            }
            throw Self.kernelRefusal(m)
        default:
            throw Refusal(AgentErrorCode.internalError, "the kernel did not answer AGENT \(action.uppercased()) \(agent)")
        }
    }

    /// A kernel's error reply as engineer's: `not_found` for an unknown
    /// agent, `refused` with the kernel's text otherwise.
    static func kernelRefusal(_ m: String) -> Refusal {
        let text = m.hasPrefix("ERR ") ? String(m.dropFirst(4)) : m
        return Refusal(text.hasPrefix("unknown agent") ? "not_found" : "refused", text)
    }

    // MARK: - scaffold

    struct ScaffoldArguments: Equatable {
        var language: String
        var agent: String
        /// Relative to `directory`; the agent's id when absent.
        var path: String
    }

    func scaffoldArguments(_ args: [String: JSON]) -> Result<ScaffoldArguments, Refusal> {
        Result { () throws(Refusal) in
            try Arguments.only(["language", "agent", "path"], args)
            let names = Self.languages.map(\.name)
            guard let language = args["language"]?.string, names.contains(language) else {
                throw Refusal(AgentErrorCode.badArgument, "language must be one of \(names.joined(separator: ", "))")
            }
            let agent = try Arguments.agentID(args)
            var path = agent
            if let p = args["path"] {
                let bad = Refusal(AgentErrorCode.badArgument, "path must be a relative directory of 1 to \(EngineerLimits.pathBytes)"
                                        + " bytes inside engineer's directory: no leading '/', no '.' or '..' part, no NUL")
                guard let text = p.string, !text.isEmpty, text.utf8.count <= EngineerLimits.pathBytes, !text.hasPrefix("/"),
                      !text.utf8.contains(0),
                      text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
                else { throw bad }
                path = text
            }
            return ScaffoldArguments(language: language, agent: agent, path: path)
        }
    }

    /// The files a scaffold writes: the agent's source and its snippet, by absolute path.
    func files(_ a: ScaffoldArguments) -> [(path: String, text: String, executable: Bool)] {
        let lang = Self.languages.first { $0.name == a.language } ?? Self.languages[0]
        let dir = directory + "/" + a.path
        let source = dir + "/" + a.agent + "." + lang.ext
        let template = ScaffoldTemplates.texts[a.language] ?? ""
        return [(source, template, lang.run != nil), (dir + "/phoenix.yaml", snippet(a, source: source, run: lang.run), false)]
    }

    /// The agent's phoenix.yaml entry, to paste under `agents:`.
    func snippet(_ a: ScaffoldArguments, source: String, run: String?) -> String {
        let from = ScaffoldTemplates.sources[a.language] ?? ""
        var lines = [
            "# Agent '\(a.agent)', written by engineer's scaffold (\(a.language), from \(from)).",
            "# Paste the entry under agents: in phoenix.yaml; the kernel starts it with",
            "# VIMANA_ADDR, VIMANA_AGENT_ID, VIMANA_USER and VIMANA_PASSWORD (Protocol/AGENTS.md §6).",
        ]
        let command: String
        if let run {
            command = "[\(Self.quoted(run)), \(Self.quoted(source))]"
        } else {
            let binary = String(source.dropLast(".swift".count))
            lines += [
                "# Build it first as an executable that depends on VimanaAgentKit (Protocol/AGENTS.md §10),",
                "# named \(binary); it answers the example counter's actions until you change them.",
            ]
            command = "[\(Self.quoted(binary))]"
        }
        lines += [
            "agents:",
            "  - id: \(a.agent)",
            "    subscribes: [\(Self.quoted("tasks." + a.agent))]",
            "    command: \(command)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar (JSON's escapes are YAML's).
    static func quoted(_ s: String) -> String { JSON.string(s).text }

    /// Writes the files none of which exists; one that exists with other
    /// bytes refuses the whole scaffold (nothing is written). One that
    /// exists with the same bytes is a redelivered task's: left as it is.
    func scaffold(_ a: ScaffoldArguments) throws(Refusal) -> AgentOutcome {
        let files = files(a)
        var missing: [(path: String, text: String, executable: Bool)] = []
        for f in files {
            switch Self.existing(f.path) {
            case nil: missing.append(f)
            case let bytes? where bytes == Array(f.text.utf8): continue
            case _?: throw Refusal("exists", "\(f.path) exists: engineer never overwrites a file (choose another path)")
            }
        }
        if !missing.isEmpty {
            do { try FileManager.default.createDirectory(atPath: directory + "/" + a.path, withIntermediateDirectories: true) } catch {
                throw Refusal("io", "cannot create \(directory)/\(a.path): \(error.localizedDescription)")
            }
        }
        for f in missing { try Self.create(f.path, f.text, executable: f.executable) }
        // Relative to engineer's directory: the same reply wherever it is.
        let paths = files.map { String($0.path.dropFirst(directory.count + 1)) }
        return .ok(["agent": .string(a.agent), "language": .string(a.language), "files": .array(paths.map(JSON.string))],
                   events: [AgentEvent("scaffolded", ["agent": a.agent, "language": a.language, "files": JSON.array(paths.map(JSON.string)).text])])
    }

    /// The file's bytes; nil when nothing is at `path`.
    static func existing(_ path: String) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return FileManager.default.contents(atPath: path).map { Array($0) } ?? []
    }

    /// Creates `path` with `O_EXCL` (never over a file made meanwhile) and writes `text`.
    static func create(_ path: String, _ text: String, executable: Bool) throws(Refusal) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST { throw Refusal("exists", "\(path) exists: engineer never overwrites a file (choose another path)") }
            throw Refusal("io", "cannot create \(path): \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                unlink(path)
                throw Refusal("io", "cannot write \(path): \(String(cString: strerror(e)))")
            }
            done += n
        }
    }
}
