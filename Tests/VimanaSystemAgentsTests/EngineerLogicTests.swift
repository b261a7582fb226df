import Foundation
import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// engineer's logic as a function: a task, the caller and the kernel's
/// reply to the command `reads` named, to events and a reply; `scaffold`
/// against a temporary directory.
@Suite struct EngineerLogicTests {
    let dir = NSTemporaryDirectory() + "vimana-engineer-\(UUID().uuidString)"
    var logic: EngineerLogic { EngineerLogic(operators: ["default", "ops"], directory: dir) }

    func request(_ action: String, _ args: [String: JSON] = [:]) -> AgentRequest {
        AgentRequest(action: action, id: "r1", args: args)
    }

    func answer(_ r: AgentRequest, caller: String = "ops", _ replies: [KernelRead: RESPValue] = [:]) -> AgentOutcome {
        logic.handle(r, caller: caller, state: EngineerState(), kernel: KernelView(replies))
    }

    func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }

    func code(_ o: AgentOutcome) -> String? {
        if case .error(let c, _) = o.reply { return c }
        return nil
    }

    @Test func onlyOperatorsAreAnsweredAndOnlyTheirTasksReachTheKernel() {
        let r = request("restart", ["agent": "worker"])
        #expect(logic.reads(for: r, caller: "alice", state: EngineerState()) == [], "nothing is sent for a refused caller")
        #expect(answer(r, caller: "alice") == .error(AgentErrorCode.forbidden,
                "user 'alice' may not ask engineer: it is not one of system.engineer.operators"))
        #expect(logic.reads(for: r, caller: "ops", state: EngineerState()) == [.command(["AGENT", "RESTART", "worker"])])
        #expect(logic.reads(for: request("list"), caller: "default", state: EngineerState()) == [.command(["AGENT", "PS"])])
        // A bad argument sends nothing either.
        #expect(logic.reads(for: request("stop", ["agent": "Not An Id"]), caller: "ops", state: EngineerState()) == [])
        #expect(logic.reads(for: request("list", ["x": 1]), caller: "ops", state: EngineerState()) == [])
    }

    @Test func startStopRestartAppendAnEventWhenTheKernelDidIt() {
        for (action, type) in [("start", "started"), ("stop", "stopped"), ("restart", "restarted")] {
            let cmd = KernelRead.command(["AGENT", action.uppercased(), "worker"])
            let done = answer(request(action, ["agent": "worker"]), [cmd: .simpleString("OK")])
            #expect(done == .ok(["agent": "worker", "done": .string(type), "changed": true], events: [AgentEvent(type, ["agent": "worker"])]))
        }
        // Already as asked (a redelivery, or a second ask): no change, no event.
        let again = answer(request("stop", ["agent": "worker"]),
                           [.command(["AGENT", "STOP", "worker"]): .error("ERR agent 'worker' is already stopped")])
        #expect(again == .ok(["agent": "worker", "done": "stopped", "changed": false]))
        let unknown = answer(request("start", ["agent": "nobody"]),
                             [.command(["AGENT", "START", "nobody"]): .error("ERR unknown agent 'nobody' (declare it under agents: in phoenix.yaml)")])
        #expect(unknown == .error("not_found", "unknown agent 'nobody' (declare it under agents: in phoenix.yaml)"))
        let system = answer(request("stop", ["agent": "oracle"]), [.command(["AGENT", "STOP", "oracle"]):
            .error("ERR agent 'oracle' is a system agent: it may be restarted, not stopped (set system.oracle.enabled: false)")])
        #expect(code(system) == "refused")
        #expect(code(answer(request("restart", ["agent": "worker"]))) == AgentErrorCode.internalError, "no reply from the kernel")
        // Never itself: its process would die before replying.
        #expect(logic.reads(for: request("restart", ["agent": "engineer"]), caller: "ops", state: EngineerState()) == [])
        #expect(code(answer(request("stop", ["agent": "engineer"]))) == AgentErrorCode.forbidden)
        #expect(code(answer(request("stop"))) == AgentErrorCode.badArgument)
        #expect(code(answer(request("stop", ["agent": "worker", "now": true]))) == AgentErrorCode.badArgument)
        #expect(code(answer(request("reboot"))) == AgentErrorCode.unknownAction)
    }

    @Test func listIsAgentPSAsJSON() {
        let ps: RESPValue = .array([.map([(bulk("id"), bulk("worker")), (bulk("state"), bulk("running")), (bulk("pid"), .integer(41)),
                                          (bulk("started_at"), .integer(1700000000000)), (bulk("restarts"), .integer(2)),
                                          (bulk("last_exit"), .null)])])
        #expect(answer(request("list"), [.command(["AGENT", "PS"]): ps])
                == .ok(["agents": [["id": "worker", "state": "running", "pid": 41, "started_at": 1700000000000,
                                    "restarts": 2, "last_exit": nil]]]))
        #expect(answer(request("list"), [.command(["AGENT", "PS"]): .error("NOPERM this user has no permissions to run the 'agent|ps' command")])
                == .error("refused", "NOPERM this user has no permissions to run the 'agent|ps' command"))
    }

    @Test func scaffoldWritesTheExampleAndItsSnippetAndNeverOverwrites() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = request("scaffold", ["language": "python", "agent": "greeter"])
        let out = answer(r)
        #expect(out == .ok(["agent": "greeter", "language": "python", "files": ["greeter/greeter.py", "greeter/phoenix.yaml"]],
                           events: [AgentEvent("scaffolded", ["agent": "greeter", "language": "python",
                                                              "files": #"["greeter/greeter.py","greeter/phoenix.yaml"]"#])]))
        let source = try String(contentsOfFile: dir + "/greeter/greeter.py", encoding: .utf8)
        #expect(source == ScaffoldTemplates.texts["python"])
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/greeter/greeter.py")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        let snippet = try String(contentsOfFile: dir + "/greeter/phoenix.yaml", encoding: .utf8)
        #expect(snippet.hasSuffix("agents:\n  - id: greeter\n    subscribes: [\"tasks.greeter\"]\n    command: [\"python3\", \"\(dir)/greeter/greeter.py\"]\n"))
        // The same task again (a redelivery): the same files are there, the same answer.
        #expect(answer(r) == out)
        // A file that differs is never overwritten, and nothing else is written.
        try "mine\n".write(toFile: dir + "/greeter/phoenix.yaml", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: dir + "/greeter/greeter.py")
        #expect(answer(r) == .error("exists", "\(dir)/greeter/phoenix.yaml exists: engineer never overwrites a file (choose another path)"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/greeter/greeter.py"))
        #expect(try String(contentsOfFile: dir + "/greeter/phoenix.yaml", encoding: .utf8) == "mine\n")
        // Another path; each language.
        for (lang, ext) in [("bash", "sh"), ("node", "js"), ("swift", "swift")] {
            let o = answer(request("scaffold", ["language": .string(lang), "agent": "greeter", "path": .string("more/" + lang)]))
            #expect(code(o) == nil, "\(o)")
            #expect(FileManager.default.contents(atPath: "\(dir)/more/\(lang)/greeter.\(ext)").map { Array($0) }
                    == ScaffoldTemplates.texts[lang].map { Array($0.utf8) })
        }
        let swiftSnippet = try String(contentsOfFile: dir + "/more/swift/phoenix.yaml", encoding: .utf8)
        #expect(swiftSnippet.hasSuffix("    command: [\"\(dir)/more/swift/greeter\"]\n"))
        for bad in ["/etc", "../up", "a/../b", "a//b", "./a", ""] {
            #expect(code(answer(request("scaffold", ["language": "python", "agent": "g", "path": .string(bad)]))) == AgentErrorCode.badArgument, "\(bad)")
        }
        #expect(code(answer(request("scaffold", ["language": "cobol", "agent": "g"]))) == AgentErrorCode.badArgument)
        #expect(code(answer(request("scaffold", ["language": "python"]))) == AgentErrorCode.badArgument)
    }

    /// The templates compiled in are the example agents' files, byte for
    /// byte (tools/agents/scaffold_templates.py writes them).
    @Test func templatesAreTheRepositorysExampleAgents() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(Set(ScaffoldTemplates.sources.keys) == Set(EngineerLogic.languages.map(\.name)))
        for (lang, path) in ScaffoldTemplates.sources {
            let file = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            #expect(ScaffoldTemplates.texts[lang] == file, "\(path) changed: run python3 tools/agents/scaffold_templates.py")
        }
    }
}
