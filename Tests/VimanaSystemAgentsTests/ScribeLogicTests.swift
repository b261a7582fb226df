import Foundation
import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// scribe's logic as a function: the wiring, the kernel's AGENTS and
/// science's answer to Markdown, documents into memory, events and a reply.
@Suite struct ScribeLogicTests {
    final class MemorySink: DocumentSink, @unchecked Sendable {
        let lock = NSLock()
        var files: [String: [UInt8]] = [:]
        var writes = 0
        var failing: String?
        func write(_ name: String, _ bytes: [UInt8]) -> Result<String, DocumentSinkError> {
            lock.lock()
            defer { lock.unlock() }
            if let failing { return .failure(DocumentSinkError(failing)) }
            writes += 1
            files[name] = bytes
            return .success("/out/" + name)
        }
    }

    let sink = MemorySink()

    static let wiring = [
        DeclaredAgent(id: "scribe", description: "writes docs", subscribes: ["tasks.scribe"], capabilities: ["documents"], system: true),
        DeclaredAgent(id: "billing", description: "bills | orders\nfast", subscribes: ["tasks.billing"], publishes: ["billing.*"],
                      user: "default", capabilities: ["invoice"]),
        DeclaredAgent(id: "science", subscribes: ["tasks.science"], system: true),
    ]

    func logic(_ wiring: [DeclaredAgent] = Self.wiring) -> ScribeLogic {
        ScribeLogic(declared: wiring, actions: ["scribe": ScribeLogic.actions, "science": ["topics"]], sink: sink, scienceTimeout: 2)
    }

    static func record(_ id: String, _ status: String, _ instances: Int) -> RESPValue {
        .map([(.bulkString(Array("id".utf8)), .bulkString(Array(id.utf8))),
              (.bulkString(Array("status".utf8)), .bulkString(Array(status.utf8))),
              (.bulkString(Array("instances".utf8)), .integer(instances))])
    }

    static let agents = RESPValue.array([record("billing", "idle", 0), record("scribe", "running", 1), record("science", "running", 1)])

    static let science: JSON = ["window": 3600, "topics": [
        ["topic": "billing.out", "messages": 5, "bytes": 500,
         "publishers": [["publisher": "default", "messages": 3], ["publisher": "agent:x", "messages": 2]]],
        ["topic": "tasks.billing", "messages": 2, "bytes": 80, "publishers": [["publisher": "default", "messages": 2]]],
    ]]

    func request(_ action: String, _ args: [String: JSON] = [:], id: JSON = 1) -> AgentRequest {
        AgentRequest(action: action, id: id, replyTo: "r", args: args, entryID: "1700000000000-0")
    }

    /// Runs a task with the kernel answering AGENTS and science answering `answer`.
    func run(_ logic: ScribeLogic, _ r: AgentRequest, science answer: AgentAnswer? = .reply(.ok(Self.science))) -> AgentOutcome {
        var replies: [KernelRead: RESPValue] = [:]
        for read in logic.reads(for: r, caller: "default", state: ScribeState()) {
            replies[read] = read == .agents ? Self.agents : .simpleString("OK")  // the caller's ACL DRYRUN: allowed
        }
        var answers: [AgentAsk: AgentAnswer] = [:]
        for ask in logic.asks(for: r, caller: "default", state: ScribeState()) { answers[ask] = answer }
        return logic.handle(r, caller: "default", state: ScribeState(), kernel: KernelView(replies, answers: answers))
    }

    static let agentsMarkdown = """
        # Agents

        3 agents are declared: 2 system agents and 1 other. Status and instances are the kernel's (AGENTS) when this was written.

        | agent | kind | status | instances | user | subscribes | publishes | capabilities | actions |
        |---|---|---|---|---|---|---|---|---|
        | `billing` | external | idle | 0 | `default` | `tasks.billing` | `billing.*` | invoice | — |
        | `science` | system | running | 1 | `agent:science` | `tasks.science` | any topic | — | `topics` |
        | `scribe` | system | running | 1 | `agent:scribe` | `tasks.scribe` | any topic | documents | `agents_md`, `citymap`, `write_all` |

        ## Descriptions

        - **billing**: bills \\| orders fast
        - **science**: no description.
        - **scribe**: writes docs

        """

    static func citymapMarkdown(_ observed: String, seen: Bool) -> String {
        """
        # City map

        Who subscribes to and publishes on each topic: the wiring (the agents declared and the system agents) and what the ledger recorded. Observed: \(observed)

        ## Topics

        | topic | subscribers | may publish | published by | messages | bytes |
        |---|---|---|---|---|---|
        | `billing.*` | — | `billing` | — | — | — |

        """ + (seen ? "| `billing.out` | — | `billing` | `default` (3), `agent:x` (2) | 5 | 500 |\n" : "") + """
        | `tasks.billing` | `billing` | — | \(seen ? "`default` (2) | 2 | 80" : "— | — | —") |
        | `tasks.science` | `science` | — | — | — | — |
        | `tasks.scribe` | `scribe` | — | — | — | — |

        May publish on any topic (declared without `publishes`): `science`, `scribe`.

        ## Agents

        | agent | user | subscribes | publishes |
        |---|---|---|---|
        | `billing` | `default` | `tasks.billing` | `billing.*` |
        | `science` | `agent:science` | `tasks.science` | any topic |
        | `scribe` | `agent:scribe` | `tasks.scribe` | any topic |

        """
    }

    @Test func agentsMarkdownIsTheGoldenDocumentAndIsWrittenWithItsEvent() {
        let l = logic()
        let r = request("agents_md")
        #expect(l.reads(for: r, caller: "default", state: ScribeState()) == [.agents])
        #expect(l.asks(for: r, caller: "default", state: ScribeState()).isEmpty)
        let out = run(l, r)
        let bytes = Array(Self.agentsMarkdown.utf8)
        let sha = SHA256Hex.of(bytes)
        #expect(out == .ok(["document": "AGENTS.md", "path": "/out/AGENTS.md", "bytes": .int(Int64(bytes.count)),
                            "sha256": .string(sha), "markdown": .string(Self.agentsMarkdown)],
                           events: [AgentEvent("written", ["document": "AGENTS.md", "path": "/out/AGENTS.md",
                                                           "bytes": String(bytes.count), "sha256": sha])]))
        #expect(sink.files["AGENTS.md"] == bytes)
        var state = ScribeState()
        for e in out.events { l.apply(e, to: &state) }
        #expect(state.documents["AGENTS.md"] == .init(path: "/out/AGENTS.md", bytes: bytes.count, sha256: sha) && state.writes == 1)
        // Deterministic: the wiring in another order gives the same bytes.
        let again = run(logic(Self.wiring.reversed()), request("agents_md", id: 2))
        #expect(again.reply == out.reply)
    }

    /// docs/SYSTEM-AGENTS.md shows the golden AGENTS.md as it is.
    @Test func theDocumentShowsTheGoldenAgentsMarkdown() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/SYSTEM-AGENTS.md"), encoding: .utf8)
        #expect(document.contains("```markdown\n" + Self.agentsMarkdown + "```\n"))
    }

    @Test func citymapIsTheGoldenDocumentWithWhatScienceObserved() {
        let l = logic()
        let r = request("citymap", ["window": 3600])
        #expect(l.reads(for: r, caller: "default", state: ScribeState()) == [CallerRights.scan("default")])
        #expect(l.asks(for: r, caller: "default", state: ScribeState())
                == [AgentAsk(agent: "science", action: "topics", args: ["window": 3600], timeout: 2)])
        // The reply is taken from the user the wiring says science runs as.
        var own = Self.wiring
        own[2].user = "sci-bot"
        #expect(logic(own).asks(for: r, caller: "default", state: ScribeState()).map(\.user) == ["sci-bot"])
        let out = run(l, r)
        let text = Self.citymapMarkdown("science counted the ledger's last 3600 s.", seen: true)
        guard case .ok(let result) = out.reply else { Issue.record("\(out.reply)"); return }
        #expect(result["markdown"]?.string == text, "\(result["markdown"]?.string ?? "")")
        #expect(result["observed"] == true && result["science"] == "science counted the ledger's last 3600 s.")
        #expect(out.events.map(\.type) == ["written"] && sink.files["CITYMAP.md"] == Array(text.utf8))
    }

    @Test func citymapWithoutScienceSaysSoAndShowsTheWiring() {
        let timedOut = run(logic(), request("citymap"), science: .timeout(seconds: 2))
        let note = "science did not answer within 2 s: the map shows the wiring only."
        guard case .ok(let r) = timedOut.reply else { Issue.record("\(timedOut.reply)"); return }
        #expect(r["markdown"]?.string == Self.citymapMarkdown(note, seen: false), "\(r["markdown"]?.string ?? "")")
        #expect(r["observed"] == false && r["science"] == .string(note))
        #expect(timedOut.events.count == 1)
        // Not wired: nothing is asked, and the document says why.
        let alone = logic(Self.wiring.filter { $0.id != "science" })
        #expect(alone.asks(for: request("citymap"), caller: "default", state: ScribeState()).isEmpty)
        guard case .ok(let r2) = run(alone, request("citymap")).reply else { Issue.record("no reply"); return }
        #expect(r2["science"] == "science is not wired in this city: the map shows the wiring only.")
        // Disabled: nothing is asked either.
        var off = Self.wiring
        off[2].enabled = false
        #expect(logic(off).asks(for: request("citymap"), caller: "default", state: ScribeState()).isEmpty)
        // An error reply, and a result that is not the contract's.
        guard case .ok(let r3) = run(logic(), request("citymap"), science: .reply(.error(code: "forbidden", message: "no"))).reply,
              case .ok(let r4) = run(logic(), request("citymap"), science: .reply(.ok(["topics": "many"]))).reply else {
            Issue.record("no reply"); return
        }
        #expect(r3["science"] == "science answered the error forbidden (no): the map shows the wiring only.")
        #expect(r4["science"] == "science's answer is not the documented topics result: the map shows the wiring only.")
        // A caller who may not see every topic's metadata (LEDGER SCAN) gets the wiring only, whatever science said.
        let mallory = request("citymap")
        var answers: [AgentAsk: AgentAnswer] = [:]
        for ask in logic().asks(for: mallory, caller: "mallory", state: ScribeState()) { answers[ask] = .reply(.ok(Self.science)) }
        let denied: RESPValue = .bulkString(Array("User mallory has no permissions to run the 'ledger|scan' command".utf8))
        let out = logic().handle(mallory, caller: "mallory", state: ScribeState(),
                                 kernel: KernelView([CallerRights.scan("mallory"): denied], answers: answers))
        guard case .ok(let r5) = out.reply, let text = r5["markdown"]?.string else { Issue.record("\(out.reply)"); return }
        let why = "mallory may not see every topic: User mallory has no permissions to run the 'ledger|scan' command: the map shows the wiring only."
        #expect(r5["observed"] == false && r5["science"] == .string(why))
        // science's counts (billing.out's 5 messages by default and agent:x) are not in it.
        #expect(text.contains("the map shows the wiring only") && !text.contains("agent:x"), "\(text)")
        // Not asked at all, and asked with the answer lost, are told apart.
        guard case .ok(let r7) = run(logic(), request("citymap"), science: .failed("refused")).reply,
              case .ok(let r6) = run(logic(), request("citymap"), science: .lost("connection closed")).reply else {
            Issue.record("no reply"); return
        }
        #expect(r7["science"] == "science could not be asked (refused): the map shows the wiring only.")
        #expect(r6["science"] == "science's answer was lost (connection closed): the map shows the wiring only.")
    }

    @Test func writeAllWritesBothAndRecordsTwoEvents() {
        let out = run(logic(), request("write_all"))
        guard case .ok(let r) = out.reply, case .array(let docs)? = r["documents"] else { Issue.record("\(out.reply)"); return }
        #expect(docs.compactMap { $0["document"]?.string } == ["AGENTS.md", "CITYMAP.md"])
        #expect(out.events.map { $0.data["document"] } == ["AGENTS.md", "CITYMAP.md"] && sink.writes == 2)
    }

    /// A city whose map outgrows a reply: the file has it, the reply says where.
    @Test func aDocumentTooLargeForAReplyIsOnlyInItsFile() {
        let city = (0..<150).map { i in
            DeclaredAgent(id: "agent-\(1000 + i)", subscribes: ["tasks.agent-\(1000 + i)", "orders.*"], publishes: ["orders.agent-\(1000 + i)"])
        }
        let out = run(logic(city), request("write_all"))
        guard case .ok(let r) = out.reply, case .array(let docs)? = r["documents"], docs.count == 2 else { Issue.record("\(out.reply)"); return }
        let map = sink.files["CITYMAP.md"] ?? []
        #expect(map.count > ScribeLimits.markdownInReplyBytes && docs[1]["markdown"] == .null && docs[1]["bytes"] == .int(Int64(map.count)))
        #expect(docs[0]["markdown"]?.string?.utf8.count == sink.files["AGENTS.md"]?.count)
    }

    /// AGENTS refused or unanswered: the document says so, and every status is unknown.
    @Test func withoutTheKernelsAgentsEveryStatusIsUnknown() {
        let r = request("agents_md")
        let out = logic().handle(r, caller: "default", state: ScribeState(),
                                 kernel: KernelView([.agents: .error("NOPERM this user has no permissions to run the 'agents' command")]))
        guard case .ok(let result) = out.reply, let text = result["markdown"]?.string else { Issue.record("\(out.reply)"); return }
        #expect(text.contains("others. The kernel's AGENTS did not answer (NOPERM this user has no permissions to run the 'agents' command):"
                              + " every status is unknown.\n") || text.contains("other. The kernel's AGENTS did not answer (NOPERM"), "\(text)")
        #expect(text.contains("| `scribe` | system | unknown | 0 |") && !text.contains("running"), "\(text)")
    }

    @Test func tableCellsAreEscaped() {
        #expect(ScribeMarkdown.code("a|b`c") == "``a\\|b`c``")
        #expect(ScribeMarkdown.code("`x") == "`` `x ``")
        #expect(ScribeMarkdown.code("two\nlines") == "`two lines`")
        #expect(ScribeMarkdown.text("a*b\n#c|d") == "a\\*b \\#c\\|d")
        let odd = DeclaredAgent(id: "odd", description: "x|y\r\nz", subscribes: ["t|1", "t`2"], user: "u\nv")
        let text = ScribeMarkdown.agents([odd], live: .success([:]), actions: [:])
        let row = text.split(separator: "\n").first { $0.hasPrefix("| `odd`") }.map(String.init)
        #expect(row == "| `odd` | external | unknown | 0 | `u v` | ``t`2``, `t\\|1` | any topic | — | — |", "\(text)")
        #expect(text.hasSuffix("- **odd**: x\\|y  z\n"))
    }

    @Test func badArgumentsAndUnknownActionsAreErrorReplies() {
        #expect(run(logic(), request("citymap", ["window": 0])).reply
                == .error(code: "bad_argument", message: "window must be an integer number of seconds from 1 to 604800"))
        #expect(run(logic(), request("agents_md", ["window": 5])).reply
                == .error(code: "bad_argument", message: "unknown argument 'window' (none taken)"))
        #expect(run(logic(), request("draw")).reply
                == .error(code: "unknown_action", message: "unknown action 'draw' (agents_md, citymap, write_all)"))
        sink.failing = "No space left on device"
        let full = run(logic(), request("agents_md"))
        #expect(full == .error("write_failed", "cannot write AGENTS.md: No space left on device"))
    }

    /// A request id applied once: its redelivery, even after a restart (the
    /// book rebuilt from the events), is answered from the stored reply and
    /// writes nothing.
    @Test func aRepeatedRequestIsAnsweredFromTheEventsAndNotWrittenAgain() {
        var book = AgentBook(logic: logic())
        let r = request("agents_md", id: "doc-1")
        let kernel = KernelView([.agents: Self.agents])
        let first = book.step(r, caller: "default", kernel: kernel)
        #expect(first.append.count == 1 && !first.duplicate && sink.writes == 1)
        var rebuilt = AgentBook(logic: logic())
        for e in first.append { rebuilt.replay(e.fields) }
        #expect(rebuilt.state.documents["AGENTS.md"]?.path == "/out/AGENTS.md")
        #expect(rebuilt.reads(r, caller: "default").isEmpty && rebuilt.asks(r, caller: "default").isEmpty)
        let again = rebuilt.step(r, caller: "default", kernel: kernel)
        #expect(again.duplicate && again.append.isEmpty && again.reply == first.reply && sink.writes == 1)
        book = rebuilt
        #expect(book.state.writes == 1)
    }
}

/// The SHA-256 the tests expect, computed apart from scribe's code path.
enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try? p.run()
        input.fileHandleForWriting.write(Data(bytes))
        try? input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

}

/// scribe's files on disk and its note's bound.
@Suite struct ScribeFilesTests {
    /// The files on disk: the document whole, no temporary file left, a
    /// file or link already at any name untouched but the document's; a name
    /// with a slash or a directory that cannot be made is an error, not a write.
    @Test func scribeFilesReplaceADocumentAndLeaveNothingElse() throws {
        let dir = NSTemporaryDirectory() + "vimana-scribefiles-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = ScribeFiles(directory: dir)
        #expect(try files.write("AGENTS.md", Array("one".utf8)).get() == dir + "/AGENTS.md")
        #expect(try files.write("AGENTS.md", Array("two".utf8)).get() == dir + "/AGENTS.md")
        #expect(FileManager.default.contents(atPath: dir + "/AGENTS.md") == Data("two".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["AGENTS.md"])
        // A link planted where the old fixed temporary name was is never followed.
        let victim = dir + "/victim"
        FileManager.default.createFile(atPath: victim, contents: Data("keep".utf8))
        try FileManager.default.createSymbolicLink(atPath: dir + "/.CITYMAP.md.tmp", withDestinationPath: victim)
        #expect(try files.write("CITYMAP.md", Array("map".utf8)).get() == dir + "/CITYMAP.md")
        #expect(FileManager.default.contents(atPath: victim) == Data("keep".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == [".CITYMAP.md.tmp", "AGENTS.md", "CITYMAP.md", "victim"])
        guard case .failure = files.write("../x.md", [1]) else { Issue.record("a name with a slash was written"); return }
        guard case .failure(let e) = ScribeFiles(directory: victim + "/sub").write("AGENTS.md", [1]) else {
            Issue.record("a directory under a file was made"); return
        }
        #expect("\(e)".contains("cannot make"), "\(e)")
    }

    /// What science said is cut on a character boundary, never past the bound.
    @Test func scienceTextIsClippedInTheNote() {
        let long = String(repeating: "é", count: 500)
        let clipped = ScribeLogic.clip(long)
        #expect(clipped.utf8.count <= ScribeLogic.noteTextBytes + "…".utf8.count && clipped.hasSuffix("…") && clipped.count == 101)
        #expect(ScribeLogic.clip("short") == "short")
    }
}

/// scribe's replies under a small `max_payload`: documents are left out of
/// the reply (they are in their files) until it fits.
@Suite struct ScribeReplyBudgetTests {
    @Test func documentsAreLeftOutLargestFirstUntilTheReplyFits() throws {
        let sink = ScribeLogicTests.MemorySink()
        let city = (0..<40).map { i in DeclaredAgent(id: "agent-\(1000 + i)", subscribes: ["tasks.agent-\(1000 + i)"]) }
        func run(_ maxPayload: Int) -> AgentOutcome {
            let logic = ScribeLogic(declared: city, actions: [:], sink: sink, scienceTimeout: 1, maxPayload: maxPayload)
            let r = AgentRequest(action: "write_all", id: 1, replyTo: "r", entryID: "1700000000000-0")
            var replies: [KernelRead: RESPValue] = [:]
            for read in logic.reads(for: r, caller: "default", state: ScribeState()) { replies[read] = read == .agents ? .array([]) : .simpleString("OK") }
            return logic.handle(r, caller: "default", state: ScribeState(), kernel: KernelView(replies))
        }
        func markdowns(_ o: AgentOutcome) -> [Bool] {
            guard case .ok(let r) = o.reply, case .array(let docs)? = r["documents"] else { return [] }
            return docs.map { $0["markdown"]?.string != nil }
        }
        let roomy = run(1 << 20)
        #expect(markdowns(roomy) == [true, true])
        let agents = sink.files["AGENTS.md"]?.count ?? 0, map = sink.files["CITYMAP.md"]?.count ?? 0
        #expect(agents > 0 && map > 0)
        // Room for the smaller document only: the larger one is left out.
        let room = ScribeLimits.eventBytes + 1 + min(agents, map) + 1500
        let one = run(room)
        #expect(markdowns(one) == (agents > map ? [false, true] : [true, false]), "AGENTS.md \(agents) B, CITYMAP.md \(map) B")
        guard case .ok(let r) = one.reply else { return }
        #expect(AgentReply.ok(r).json(id: 1).text.utf8.count <= room - ScribeLimits.eventBytes - 1)
        // No room at all: both left out; the events are the same.
        #expect(markdowns(run(ScribeLimits.eventBytes + 600)) == [false, false])
        #expect(run(ScribeLimits.eventBytes + 600).events == roomy.events)
    }
}
