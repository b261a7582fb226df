import Testing
@testable import VimanaAgentKit
import VimanaRESP

/// A logic whose tasks append as many events as `args.n` says: enough to
/// see partial tasks, duplicates and reserved names.
struct Tally: AgentLogic {
    var initialState: [String] { [] }
    func apply(_ event: AgentEvent, to state: inout [String]) { state.append(event.type + (event.data["v"] ?? "")) }
    func handle(_ request: AgentRequest, caller: String, state: [String]) -> AgentOutcome {
        if request.action == "bad" { return .ok(nil, events: [AgentEvent("x", ["request": "forged"])]) }
        let n = Int(request.args["n"]?.int ?? 1)
        return .ok(.int(Int64(state.count + n)), events: (0..<n).map { AgentEvent("e", ["v": String($0)]) })
    }
}

@Suite struct AgentBookTests {
    func apply(_ book: inout AgentBook<Tally>, _ step: AgentStep) {
        for e in step.append { book.replay(e.fields) }
    }

    @Test func entriesCarryTheRequestTheCallerAndOnTheLastTheReply() {
        let book = AgentBook(logic: Tally())
        let step = book.step(AgentRequest(action: "a", id: "q", args: ["n": 2]), caller: "alice")
        #expect(step.append == [
            AgentEntry(fields: [("type", "e"), ("v", "0"), ("request", #""q""#), ("caller", "alice")]),
            AgentEntry(fields: [("type", "e"), ("v", "1"), ("request", #""q""#), ("caller", "alice"),
                                ("reply", #"{"id":"q","ok":true,"result":2}"#)]),
        ])
        #expect(!step.duplicate && step.reply == #"{"id":"q","ok":true,"result":2}"#)
    }

    @Test func anAppliedRequestIsADuplicateForItsCallerOnly() {
        var book = AgentBook(logic: Tally())
        let request = AgentRequest(action: "a", id: 7)
        let first = book.step(request, caller: "alice")
        apply(&book, first)
        #expect(book.state == ["e0"])
        let again = book.step(request, caller: "alice")
        #expect(again.duplicate && again.append.isEmpty && again.reply == first.reply)
        // Another caller's request 7 is another request.
        let other = book.step(request, caller: "bob")
        #expect(!other.duplicate && other.append.count == 1)
    }

    @Test func aPartialTaskIsFoldedOnlyWhenCompleteAndRedeliveryAppendsTheRest() {
        var book = AgentBook(logic: Tally())
        let request = AgentRequest(action: "a", id: "p", args: ["n": 3])
        let full = book.step(request, caller: "c")
        // A crash after the first XADD: the rebuilt book has not applied the task.
        book.replay(full.append[0].fields)
        #expect(book.state.isEmpty && book.replies.held == 0)
        let redelivered = book.step(request, caller: "c")
        #expect(Array(redelivered.append) == Array(full.append.dropFirst()) && !redelivered.duplicate)
        apply(&book, redelivered)
        #expect(book.state == ["e0", "e1", "e2"] && book.eventCount == 3)
        #expect(book.step(request, caller: "c").duplicate)
    }

    /// A partial task whose appended events are not those `handle` makes
    /// now is not completed with the rest: an `internal` error, dead-lettered.
    @Test func aPartialTaskThatHandleNoLongerMakesIsDeadLettered() {
        var book = AgentBook(logic: Tally())
        book.replay([("type", "e"), ("v", "9"), ("request", #""p""#), ("caller", "c")])
        let step = book.step(AgentRequest(action: "a", id: "p", args: ["n": 3]), caller: "c")
        #expect(step.append.isEmpty && !step.duplicate)
        #expect(step.reply.contains(#""code":"internal""#), "\(step.reply)")
        #expect(step.deadLetter == #"the events of request "p" already appended differ from those handle makes now"#)
        #expect(book.state.isEmpty)
    }

    /// Request ids are compared by value: an entry another writer made with
    /// other escapes (`"\u0061/b"` for `"a/b"`, `7` for 7) is the same request.
    @Test func requestIDsAreComparedByValue() {
        var book = AgentBook(logic: Tally())
        book.replay([("type", "e"), ("v", "0"), ("request", #""\u0061\/b""#), ("caller", "c"),
                     ("reply", #"{"id":"a/b","ok":true,"result":1}"#)])
        book.replay([("type", "e"), ("v", "0"), ("request", " 7"), ("caller", "c"), ("reply", #"{"id":7,"ok":true,"result":2}"#)])
        #expect(book.step(AgentRequest(action: "a", id: "a/b"), caller: "c").duplicate)
        #expect(book.step(AgentRequest(action: "a", id: 7), caller: "c").duplicate)
        #expect(!book.step(AgentRequest(action: "a", id: "7"), caller: "c").duplicate)
    }

    @Test func rebuildingFromTheEntriesGivesTheSameBook() {
        var live = AgentBook(logic: Tally())
        var entries: [AgentEntry] = []
        for (i, n) in [1, 2, 1].enumerated() {
            let step = live.step(AgentRequest(action: "a", id: .int(Int64(i)), args: ["n": .int(Int64(n))]), caller: "u")
            entries += step.append
            apply(&live, step)
        }
        var rebuilt = AgentBook(logic: Tally())
        for e in entries {
            let folded = rebuilt.replay(e.fields)
            #expect(folded)
        }
        #expect(rebuilt.state == live.state && rebuilt.replies.entries.map(\.value) == live.replies.entries.map(\.value) && rebuilt.eventCount == 4)
        // An entry without `type` is no event.
        let folded = rebuilt.replay([("name", "x")])
        #expect(!folded)
    }

    @Test func anEventWithAReservedFieldIsAnInternalErrorAndAppendsNothing() {
        let step = AgentBook(logic: Tally()).step(AgentRequest(action: "bad", id: "b"), caller: "c")
        #expect(step.append.isEmpty)
        #expect(step.reply.contains(#""code":"internal""#))
    }
}

@Suite struct AgentTaskParserTests {
    @Test func aTaskOverMaxTaskBytesIsOversizedByItsLengthAlone() throws {
        #expect(AgentTaskParser.oversized(bytes: 100, limit: 100) == nil)
        #expect(AgentTaskParser.oversized(bytes: 101, limit: 100) == "oversized: the task is 101 bytes, over the agent's max_task_bytes (100)")
        #expect(AgentTaskParser.oversized(bytes: 1 << 20, limit: nil) == nil)
        #expect(try AgentSettings.fromEnvironment(["VIMANA_MAX_TASK_BYTES": "4096"], agentID: "a").maxTaskBytes == 4096)
        #expect(try AgentSettings.fromEnvironment([:], agentID: "a").maxTaskBytes == nil)
        #expect(throws: AgentKitError.self) { try AgentSettings.fromEnvironment(["VIMANA_MAX_TASK_BYTES": "0"], agentID: "a") }
    }

    func reason(_ text: String) -> String? {
        if case .failure(let m) = AgentTaskParser.parse(Array(text.utf8), entryID: "1-0") { return m.reason }
        return nil
    }

    @Test func aWellFormedTaskIsRead() throws {
        let r = try AgentTaskParser.parse(Array(#"{"action":"add","id":9,"reply_to":"r.x","args":{"name":"a"}}"#.utf8),
                                          entryID: "1700000000123-4").get()
        #expect(r == AgentRequest(action: "add", id: 9, replyTo: "r.x", args: ["name": "a"], entryID: "1700000000123-4"))
        #expect(r.entryMillis == 1_700_000_000_123)
        // reply_to and args are optional.
        #expect((try? AgentTaskParser.parse(Array(#"{"action":"get","id":"x"}"#.utf8), entryID: "1-0").get())?.args == [:])
    }

    @Test func malformedTasksSayWhy() {
        #expect(reason("not json") == "malformed task: the payload is not a JSON object")
        #expect(reason("[1,2]") == "malformed task: the payload is not a JSON object")
        #expect(reason(#"{"action":"a","id":1,"reply_to":5}"#) == "malformed task: reply_to must be a non-empty string (a topic)")
        #expect(reason(#"{"action":"a","id":""}"#) == "malformed task: id must be a non-empty string or an integer")
        #expect(reason(#"{"action":"a","id":1.5}"#) == "malformed task: id must be a non-empty string or an integer")
        #expect(reason(#"{"id":1}"#) == "malformed task: action must be a non-empty string")
        #expect(reason(#"{"action":"a","id":1,"args":[1]}"#) == "malformed task: args must be a JSON object")
        // A reply there would be an entry the agent appends for the caller: no reply at all.
        let own = "malformed task: reply_to must not be a topic in tasks.*, events.*, dead.* or _vimana.*"
        for topic in ["tasks.billing", "events.billing", "dead.billing", "_vimana.groups", "events."] {
            #expect(reason(#"{"action":"a","id":1,"reply_to":"\#(topic)"}"#) == own, "\(topic)")
            if case .failure(let m) = AgentTaskParser.parse(Array(#"{"action":"a","id":1,"reply_to":"\#(topic)"}"#.utf8), entryID: "1-0") {
                #expect(m.replyTo == nil && m.id == .null)
            }
        }
        for topic in ["r.tasks.x", "eventsx", "task.billing", "replies.dead.1"] {
            #expect(reason(#"{"action":"a","id":1,"reply_to":"\#(topic)"}"#) == nil, "\(topic)")
        }
        // Where it can, the runtime also replies: the id and reply_to are kept.
        if case .failure(let m) = AgentTaskParser.parse(Array(#"{"id":"k","reply_to":"r"}"#.utf8), entryID: "1-0") {
            #expect(m.id == "k" && m.replyTo == "r")
        } else {
            Issue.record("a task without action was accepted")
        }
    }
}

@Suite struct AgentKitValueTests {
    @Test func jsonKeepsIntegersAndSortsKeys() {
        #expect(JSON.parse(#"{"b":1,"a":[true,null,2.5,"x/y"]}"#)?.text == #"{"a":[true,null,2.5,"x/y"],"b":1}"#)
        #expect(JSON.parse("9223372036854775807") == .int(Int64.max))
        #expect(AgentReply.error(code: "c", message: "m").json(id: 3).text == #"{"error":{"code":"c","message":"m"},"id":3,"ok":false}"#)
        #expect(AgentReply(json: JSON.parse(#"{"id":1,"ok":true,"result":{"v":2}}"#)!) == .ok(["v": 2]))
        #expect(AgentReply(json: ["id": 1]) == nil)
    }

    @Test func settingsComeFromTheSupervisorsEnvironment() throws {
        let s = try AgentSettings.fromEnvironment(["VIMANA_ADDR": "10.0.0.1:7400", "VIMANA_AGENT_ID": "civic",
                                                   "VIMANA_USER": "agent:civic", "VIMANA_PASSWORD": "pw"], agentID: "x")
        #expect(s.host == "10.0.0.1" && s.port == 7400 && s.agentID == "civic" && s.identity == "agent:civic")
        #expect(s.eventsTopic == "events.civic" && s.deadTopic == "dead.civic" && s.tasksTopic == "tasks.civic")
        #expect(s.progressInterval == 10)
        #expect(try AgentSettings.fromEnvironment(["VIMANA_ACK_WAIT_MS": "300"], agentID: "x").progressInterval == 0.1)
        for bad in ["0", "-5", "1.5", "x", "99999999999999999999"] {
            #expect(throws: AgentKitError.self, "\(bad)") { try AgentSettings.fromEnvironment(["VIMANA_ACK_WAIT_MS": bad], agentID: "x") }
        }
        let bare = try AgentSettings.fromEnvironment([:], agentID: "x")
        #expect(bare.host == "127.0.0.1" && bare.port == 7379 && bare.agentID == "x" && bare.identity == "default")
        for addr in ["7379", "host:0", "host:65536", "host:x", ":7379", "host:99999999999999999999"] {
            #expect(throws: AgentKitError.self, "\(addr)") { try AgentSettings.fromEnvironment(["VIMANA_ADDR": addr], agentID: "x") }
        }
    }
}

/// A logic that reads the kernel: `XLEN` of the topic named in its args,
/// answered from the view; an event when asked to record the length.
struct Reader: AgentLogic {
    var initialState: Int { 0 }
    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }
    func reads(for request: AgentRequest, caller: String, state: Int) -> [KernelRead] {
        [.xlen(request.args["topic"]?.string ?? "t")]
    }
    func handle(_ request: AgentRequest, caller: String, state: Int, kernel: KernelView) -> AgentOutcome {
        guard case .integer(let n)? = kernel.reply(.xlen(request.args["topic"]?.string ?? "t")) else {
            return .error("unavailable", "no XLEN")
        }
        return .ok(.int(Int64(n)), events: request.action == "record" ? [AgentEvent("len", ["n": String(n)])] : [])
    }
}

@Suite struct KernelReadTests {
    @Test func aLogicThatReadsGetsTheRepliesItNamedAndAPlainLogicNamesNone() {
        let book = AgentBook(logic: Reader())
        let ask = AgentRequest(action: "ask", id: 1, args: ["topic": "orders"])
        #expect(book.reads(ask, caller: "alice").map(\.arguments) == [["XLEN", "orders"]])
        #expect(book.step(ask, caller: "alice", kernel: KernelView([.xlen("orders"): .integer(7)])).reply
                == #"{"id":1,"ok":true,"result":7}"#)
        // Without the replies (a plain `handle`): the logic's own error, not a guess.
        #expect(book.step(ask, caller: "alice").reply == #"{"error":{"code":"unavailable","message":"no XLEN"},"id":1,"ok":false}"#)
        // A logic that reads nothing is asked nothing and handled as before.
        #expect(AgentBook(logic: Tally()).reads(ask, caller: "alice").isEmpty)
    }

    @Test func aQueryIsReadAgainOnRedeliveryButAnAppliedTaskIsNot() {
        var book = AgentBook(logic: Reader())
        let record = AgentRequest(action: "record", id: 2, args: ["topic": "orders"])
        let step = book.step(record, caller: "alice", kernel: KernelView([.xlen("orders"): .integer(3)]))
        for e in step.append { book.replay(e.fields) }
        // Applied: no reads, the stored reply again, though the kernel moved on.
        #expect(book.reads(record, caller: "alice").isEmpty)
        let again = book.step(record, caller: "alice", kernel: KernelView([.xlen("orders"): .integer(9)]))
        #expect(again.duplicate && again.reply == #"{"id":2,"ok":true,"result":3}"#)
        // A query appends nothing, so its redelivery reads and answers afresh.
        let ask = AgentRequest(action: "ask", id: 3, args: ["topic": "orders"])
        #expect(book.step(ask, caller: "alice", kernel: KernelView([.xlen("orders"): .integer(3)])).append.isEmpty)
        #expect(book.reads(ask, caller: "alice").count == 1)
        #expect(book.step(ask, caller: "alice", kernel: KernelView([.xlen("orders"): .integer(9)])).reply
                == #"{"id":3,"ok":true,"result":9}"#)
    }

    /// A command that would change the agent's own connection is never
    /// sent; the others (an operator's command included) are.
    @Test func commandsThatWouldChangeTheAgentsConnectionAreNotSent() {
        for args in [["RESET"], ["hello", "2"], ["UNWATCH"], ["exec"], ["Subscribe", "x"], ["CLIENT", "PUBLISHER", "OFF"],
                     ["AGENT", "LEAVE"], ["agent", "join", "x"], ["AUTH", "u", "p"], []] {
            let r = KernelRead.command(args)
            #expect(r.changesConnection, "\(args)")
        }
        #expect(KernelRead.command(["RESET"]).refusedText
                == "ERR the agent kit does not send 'RESET' as a read: it would change the agent's connection")
        for args in [["AGENT", "RESTART", "billing"], ["XLEN", "s"], ["INFO"], ["ACL", "DRYRUN", "u", "PING"]] {
            #expect(!KernelRead.command(args).changesConnection, "\(args)")
        }
        #expect(!KernelRead.agents.changesConnection && !KernelRead.info().changesConnection)
    }

    @Test func theViewDecodesInfoRecordsAndEntries() {
        let view = KernelView([
            .info(): .verbatim(format: "txt", text: Array("# Server\r\nvimana_version:0.1.0\r\nuptime_in_seconds:5\r\n\r\n# Ledger\r\nledger_status:ok\r\n".utf8)),
            .agents: .array([.map([(.bulkString(Array("id".utf8)), .bulkString(Array("a".utf8))),
                                   (.bulkString(Array("instances".utf8)), .integer(2))])]),
            .xrange("s", count: 10): .array([.array([.bulkString(Array("1-0".utf8)),
                                                     .array([.bulkString(Array("type".utf8)), .bulkString(Array("x".utf8)),
                                                             .bulkString(Array("_publisher".utf8)), .bulkString(Array("bob".utf8))])])]),
            .xlen("s"): .error("NOPERM no"),
        ])
        #expect(view.info(.info()) == ["vimana_version": "0.1.0", "uptime_in_seconds": "5", "ledger_status": "ok"])
        #expect(view.records(.agents)?.map { r in r.map { "\($0.0)=\($0.1 ?? "nil")" } } == [["id=a", "instances=2"]])
        let e = view.entries(.xrange("s", count: 10))
        #expect(e == [StreamEntry(id: "1-0", fields: [("type", "x"), ("_publisher", "bob")])])
        #expect(e?.first?.publisher == "bob" && e?.first?["type"] == "x")
        #expect(view.error(.xlen("s")) == "NOPERM no" && view.entries(.xlen("s")) == nil)
        #expect(view.reply(.agents) != nil && view.reply(.xlen("t")) == nil)
    }

    /// A command sent for a caller is another read than the same command
    /// sent for the agent itself; a caller DRYRUN refuses gets -NOPERM with
    /// DRYRUN's text, and DRYRUN's own error as it is.
    @Test func aCommandAsACallerIsItsOwnReadAndARefusalIsNoPerm() {
        let seal = KernelRead.command(["LEDGER", "SEAL"], asIf: "alice")
        #expect(seal != .command(["LEDGER", "SEAL"]) && seal != .command(["LEDGER", "SEAL"], asIf: "bob"))
        #expect(seal.asIf == "alice" && seal.arguments == ["LEDGER", "SEAL"] && KernelRead.command(["X"]).asIf == nil)
        #expect(KernelRead.refusal(.bulkString(Array("This user has no permissions to run the 'ledger|seal' command".utf8)))
                == .error("NOPERM This user has no permissions to run the 'ledger|seal' command"))
        #expect(KernelRead.refusal(.error("ERR User 'x' not found")) == .error("ERR User 'x' not found"))
    }
}

/// The duplicate window and snapshots (Protocol/AGENTS.md §10).
@Suite struct AgentBookSnapshotTests {
    /// Applies a request as the runtime would: its entries replayed with entry IDs.
    func applied(_ book: inout AgentBook<Tally>, _ id: JSON, caller: String = "c", n: Int64 = 1) -> AgentStep {
        let step = book.step(AgentRequest(action: "a", id: id, args: ["n": .int(n)]), caller: caller)
        // Entry IDs from the count of events folded before the task and the
        // entry's place in it: a task of two folded after 2 events is "3-0", "3-1".
        let first = book.eventCount + 1
        for (k, e) in step.append.enumerated() { book.replay(e.fields, id: "\(first)-\(k)") }
        return step
    }

    @Test func theOldestRequestsLeaveTheWindowInTheOrderTheyWereApplied() {
        var book = AgentBook(logic: Tally(), appliedKept: 3)
        for i in 1...5 { _ = applied(&book, .int(Int64(i))) }
        #expect(book.window.held == 3)
        // 1 and 2 were forgotten: applied again; 3 to 5 are duplicates.
        #expect(!book.step(AgentRequest(action: "a", id: 1), caller: "c").duplicate)
        #expect(!book.step(AgentRequest(action: "a", id: 2), caller: "c").duplicate)
        for i in 3...5 { #expect(book.step(AgentRequest(action: "a", id: .int(Int64(i))), caller: "c").duplicate) }
        // The state is not the window: every event is still folded.
        #expect(book.state.count == 5 && book.eventCount == 5)
    }

    @Test func aDuplicateWhoseReplyLeftMemoryIsStillOneAndSaysWhereItsReplyIs() {
        // Each key and reply is 32 bytes ("c\n1" and its reply): 70 bytes hold two in memory.
        var book = AgentBook(logic: Tally(), repliesBytes: 70)
        for i in 1...4 { _ = applied(&book, .int(Int64(i))) }
        #expect(book.replies.held == 2 && book.repliesBytes <= 70)
        let recent = book.step(AgentRequest(action: "a", id: 4), caller: "c")
        #expect(recent.duplicate && recent.reply == #"{"id":4,"ok":true,"result":4}"# && recent.appliedAt == "4-0")
        let old = book.step(AgentRequest(action: "a", id: 1), caller: "c")
        #expect(old.duplicate && old.reply.isEmpty && old.appliedAt == "1-0" && old.append.isEmpty)
        var tiny = AgentBook(logic: Tally(), repliesBytes: 1)
        _ = applied(&tiny, "only")
        #expect(tiny.step(AgentRequest(action: "a", id: "only"), caller: "c").reply == #"{"id":"only","ok":true,"result":1}"#)
    }

    @Test func aSnapshotRestoresTheStateTheCountAndTheWindowInOrder() throws {
        var book = AgentBook(logic: Tally(), appliedKept: 3)
        for i in 1...4 { _ = applied(&book, .int(Int64(i)), n: 2) }
        let text = try #require(book.snapshot())
        let header = try #require(text.split(separator: "\n", maxSplits: 1).first)
        #expect(header == #"{"events":8,"logic":1,"v":2,"window":[["c\n2","3-1"],["c\n3","5-1"],["c\n4","7-1"]]}"#)
        var why = ""
        var restored = try #require(AgentBook(logic: Tally(), snapshot: text, why: &why, appliedKept: 3))
        #expect(restored.state == book.state && restored.eventCount == 8 && restored.window.entries.map(\.value) == book.window.entries.map(\.value))
        // A duplicate after a restore: its reply is read from its entry.
        let dup = restored.step(AgentRequest(action: "a", id: 4, args: ["n": 2]), caller: "c")
        #expect(dup.duplicate && dup.reply.isEmpty && dup.appliedAt == "7-1")
        // The order came back too: the next request pushes out 2, as in the original.
        _ = applied(&restored, 5)
        _ = applied(&book, 5)
        #expect(restored.window.entries.map(\.key) == book.window.entries.map(\.key) && restored.window.held == 3)
        #expect(!restored.step(AgentRequest(action: "a", id: 2), caller: "c").duplicate)
    }

    @Test func aWindowKeyIsTakenByTheValueOfItsID() throws {
        // Another writer's snapshot may write an id with other escapes: "a\/b" is "a/b".
        let text = #"{"events":1,"logic":1,"v":2,"window":[["c\n\"a\\/b\"","1-0"]]}"# + "\n" + #"["e0"]"#
        var why = ""
        let book = try #require(AgentBook(logic: Tally(), snapshot: text, why: &why), "\(why)")
        #expect(book.step(AgentRequest(action: "a", id: "a/b"), caller: "c").duplicate)
        #expect(book.state == ["e0"] && book.eventCount == 1)
    }

    /// Two ids that Swift's String equality calls equal (canonical
    /// equivalence) are two requests: keys are compared by their bytes.
    @Test func idsThatDifferOnlyInUnicodeNormalisationAreTwoRequests() {
        var book = AgentBook(logic: Tally())
        _ = applied(&book, "caf\u{E9}")
        let other = book.step(AgentRequest(action: "a", id: "cafe\u{301}"), caller: "c")
        #expect(!other.duplicate && other.append.count == 1)
        #expect(book.step(AgentRequest(action: "a", id: "caf\u{E9}"), caller: "c").duplicate)
    }

    @Test func noSnapshotWhileATaskIsHalfFoldedAndNoneOfAnotherVersionIsTaken() throws {
        var book = AgentBook(logic: Tally())
        let step = book.step(AgentRequest(action: "a", id: "p", args: ["n": 2]), caller: "c")
        book.replay(step.append[0].fields, id: "1-0")
        #expect(book.hasPartialTask && book.snapshot() == nil)
        book.replay(step.append[1].fields, id: "2-0")
        let text = try #require(book.snapshot())
        var why = ""
        #expect(AgentBook(logic: Tally(), snapshot: text.replacingOccurrences(of: #""v":2"#, with: #""v":1"#), why: &why) == nil)
        #expect(why == "format 1, this kit writes 2")
        #expect(AgentBook(logic: Tally(), snapshot: text.replacingOccurrences(of: #""logic":1"#, with: #""logic":7"#), why: &why) == nil)
        #expect(why == "a state of the logic's version 7, this one is 1")
        #expect(AgentBook(logic: Tally(), snapshot: "not a snapshot", why: &why) == nil && why == "no header line")
    }

    @Test func aLogicWithoutSnapshotsTakesNone() {
        struct Plain: AgentLogic {
            struct S: Sendable {}
            var initialState: S { S() }
            func apply(_ event: AgentEvent, to state: inout S) {}
            func handle(_ request: AgentRequest, caller: String, state: S) -> AgentOutcome { .ok(nil) }
        }
        #expect(AgentBook(logic: Plain()).snapshot() == nil)
    }

    @Test func aCodableStateKeepsItsNumbersExactly() throws {
        struct Big: AgentLogic {
            var initialState: [UInt64] { [] }
            func apply(_ event: AgentEvent, to state: inout [UInt64]) { state.append(UInt64(event.data["v"] ?? "") ?? 0) }
            func handle(_ request: AgentRequest, caller: String, state: [UInt64]) -> AgentOutcome { .ok(nil) }
        }
        let state: [UInt64] = [UInt64.max, UInt64.max - 1, 9_223_372_036_854_775_808]
        let text = try #require(Big().snapshot(of: state))
        #expect(Big().state(fromSnapshot: text) == state)
    }

    @Test func canonicalIDsAreTheParsedTextWithoutParsingWhatAlreadyIs() {
        for raw in ["7", "-12", "0", "123456789012345678", #""abc""#, #""a b/c""#, #""""#,
                    "007", "-0", "1234567890123456789", "99999999999999999999", #""a\/b""#, #""é""#, #""\u0041""#,
                    #""tab\there""#, "1.5", "true", "not json", #""x"#, "[1]"] {
            #expect(JSON.canonical(raw) == (JSON.parse(raw)?.text ?? raw), "\(raw)")
        }
    }

    /// Parts fit the kernel's max_payload (a bulk over it closes the
    /// connection: the agent would never get past its snapshot).
    @Test func partsAreShortEnoughForASmallMaxPayload() throws {
        final class Calls: @unchecked Sendable { var sent: [[[UInt8]]] = [] }
        let calls = Calls()
        var settings = AgentSettings(agentID: "t")
        settings.maxPayload = 4096
        let text = String(repeating: "x", count: 20_000)
        let written = try AgentSnapshots.write(text, upto: "1-0", logicVersion: 1, settings: settings) { (args: [[UInt8]]) throws(AgentKitError) -> RESPValue in
            calls.sent.append(args)
            return .bulkString(Array("\(calls.sent.count)-0".utf8))
        }
        #expect(written == 20_000)
        let parts = calls.sent.filter { $0.count > 4 && $0[4] == Array("part".utf8) }
        #expect(parts.count == 6 && parts.allSatisfy { $0.last!.count <= 4096 - 256 && $0.reduce(0) { $0 + $1.count } <= 4096 })
        let commit = try #require(calls.sent.last)
        #expect(commit[4] == Array("snapshot".utf8) && String(decoding: commit[8], as: UTF8.self) == "6"
                && commit.suffix(4).map { String(decoding: $0, as: UTF8.self) } == ["v", "2", "logic", "1"])
    }

    @Test func partsAreCutBetweenUTF8SequencesAndJoinBackWhole() {
        let text = Array(("ab" + String(repeating: "é€😀", count: 50)).utf8)
        for limit in [4, 5, 6, 7, 64] {
            let parts = AgentSnapshots.cut(text, at: limit)
            #expect(parts.allSatisfy { $0.count <= limit && !$0.isEmpty })
            #expect(parts.flatMap { Array(text[$0]) } == text)
            // Each part is valid UTF-8 on its own.
            #expect(parts.allSatisfy { String(validating: text[$0], as: UTF8.self) != nil })
        }
        #expect(AgentSnapshots.cut([], at: 10) == [0..<0])
    }
}

/// A reply or an event the kernel would close the connection for is not
/// sent: the task is dead-lettered with the reason (Protocol/AGENTS.md §10).
@Suite struct AgentOversizeTests {
    @Test func aReplyOrAFieldOverMaxPayloadOrAnEventOverTwiceItIsRefused() {
        var settings = AgentSettings(agentID: "t")
        settings.maxPayload = 100
        let runtime = AgentRuntime(logic: Tally(), settings: settings)
        let small = AgentEntry(fields: [("type", "e"), ("v", String(repeating: "x", count: 90))])
        #expect(runtime.oversize(AgentStep(append: [small, small], reply: String(repeating: "r", count: 100), duplicate: false)) == nil)
        #expect(runtime.oversize(AgentStep(append: [], reply: String(repeating: "r", count: 101), duplicate: false))
                == "the reply is 101 bytes, over the kernel's max_payload (100)")
        let wide = AgentEntry(fields: [("type", "e"), ("v", String(repeating: "x", count: 101))])
        #expect(runtime.oversize(AgentStep(append: [wide], reply: "{}", duplicate: false))
                == "the field v of an event (type e) is 101 bytes, over the kernel's max_payload (100)")
        let long = AgentEntry(fields: [("type", "e"), ("a", String(repeating: "x", count: 100)), ("b", String(repeating: "x", count: 100))])
        #expect(runtime.oversize(AgentStep(append: [long], reply: "{}", duplicate: false))
                == "an event (type e) is 207 bytes, over twice the kernel's max_payload (100)")
    }

    @Test func maxPayloadComesFromTheEnvironmentWithinItsRange() throws {
        #expect(try AgentSettings.fromEnvironment(["VIMANA_MAX_PAYLOAD": "4096"], agentID: "a").maxPayload == 4096)
        #expect(try AgentSettings.fromEnvironment([:], agentID: "a").maxPayload == 1 << 20)
        for bad in ["0", "-1", "1k", String(Int64.max)] {
            #expect(throws: AgentKitError.self) { try AgentSettings.fromEnvironment(["VIMANA_MAX_PAYLOAD": bad], agentID: "a") }
        }
    }
}

/// A logic whose `say` task appends one event and publishes `args.to`'s
/// messages; `refuse` answers an error;
/// `loose` makes messages without an event; `n` events come first.
struct Herald: AgentLogic {
    var initialState: Int { 0 }
    func apply(_ event: AgentEvent, to state: inout Int) { state += 1 }
    func handle(_ request: AgentRequest, caller: String, state: Int) -> AgentOutcome {
        let messages = (request.args["to"]?.array ?? []).compactMap(\.string).map { AgentMessage(topic: $0, message: "m\(state)") }
        switch request.action {
        case "say":
            let n = Int(request.args["n"]?.int ?? 1)
            return .ok(.int(Int64(state)), events: (0..<n).map { AgentEvent("said", ["n": String($0)]) }, messages: messages)
        case "refuse":
            return .error("no", "refused")
        default:
            return .ok(nil, messages: messages)
        }
    }
}

/// A task's messages (Protocol/AGENTS.md §10, "Messages"): stored on its
/// last event beside the reply, given again for a duplicate from memory,
/// from a rebuilt book and from the entry itself; a task without messages
/// is written as before; messages without events, or to a kit-refused
/// topic, are an internal error with nothing appended.
@Suite struct AgentMessageTests {
    @Test func messagesAreStoredOnTheLastEventAfterTheReply() {
        let book = AgentBook(logic: Herald())
        let step = book.step(AgentRequest(action: "say", id: "s", args: ["n": 2, "to": ["broadcast.a", "tasks.b"]]), caller: "u")
        let reply = #"{"id":"s","ok":true,"result":0}"#
        #expect(step.append == [
            AgentEntry(fields: [("type", "said"), ("n", "0"), ("request", #""s""#), ("caller", "u")]),
            AgentEntry(fields: [("type", "said"), ("n", "1"), ("request", #""s""#), ("caller", "u"), ("reply", reply),
                                ("messages", #"[{"message":"m0","topic":"broadcast.a"},{"message":"m0","topic":"tasks.b"}]"#)]),
        ])
        #expect(step.messages == [AgentMessage(topic: "broadcast.a", message: "m0"), AgentMessage(topic: "tasks.b", message: "m0")])
        // Without messages: the entry and the step are as they always were.
        let plain = book.step(AgentRequest(action: "say", id: "p"), caller: "u")
        #expect(plain.append == [AgentEntry(fields: [("type", "said"), ("n", "0"), ("request", #""p""#), ("caller", "u"),
                                                     ("reply", #"{"id":"p","ok":true,"result":0}"#)])])
        #expect(plain.messages.isEmpty)
    }

    @Test func aDuplicateGivesItsMessagesAgainLiveAndRebuilt() {
        var live = AgentBook(logic: Herald())
        let request = AgentRequest(action: "say", id: 1, args: ["n": 2, "to": ["broadcast.x"]])
        let first = live.step(request, caller: "u")
        for e in first.append { live.replay(e.fields, id: "5-\(e.fields[1].1)") }
        let again = live.step(request, caller: "u")
        #expect(again.duplicate && again.append.isEmpty && again.reply == first.reply && again.messages == first.messages)
        #expect(again.appliedAt == "5-1")
        // A book rebuilt from the entries (a restart after a crash past the EXEC) gives them too.
        var rebuilt = AgentBook(logic: Herald())
        for e in first.append { rebuilt.replay(e.fields, id: "5-\(e.fields[1].1)") }
        let redelivered = rebuilt.step(request, caller: "u")
        #expect(redelivered.duplicate && redelivered.messages == [AgentMessage(topic: "broadcast.x", message: "m0")])
        #expect(rebuilt.replies.entries.map(\.value) == live.replies.entries.map(\.value))
        // The messages count in the replies' bytes.
        #expect(rebuilt.repliesBytes == AgentBook<Herald>.key(caller: "u", id: "1").utf8.count + first.reply.utf8.count
                + "broadcast.x".utf8.count + "m0".utf8.count)
        // Another caller's request 1 is another request, published anew.
        #expect(!rebuilt.step(request, caller: "v").duplicate)
    }

    /// A reply no longer in memory is read back from its entry, with its messages.
    @Test func theStoredReplyAndMessagesAreReadFromTheirEntry() {
        let fields = [("type", "said"), ("request", "1"), ("caller", "u"), ("reply", #"{"id":1,"ok":true,"result":0}"#),
                      ("messages", #"[{"message":"hi","topic":"broadcast.x"}]"#), ("_publisher", "agent:h")]
        #expect(StoredReply.read(fields, id: 1, caller: "u", identity: "agent:h")
                == StoredReply(reply: #"{"id":1,"ok":true,"result":0}"#, messages: [AgentMessage(topic: "broadcast.x", message: "hi")]))
        // Another request's, another caller's, another publisher's: not this request's answer.
        #expect(StoredReply.read(fields, id: "1", caller: "u", identity: "agent:h") == nil)
        #expect(StoredReply.read(fields, id: 1, caller: "v", identity: "agent:h") == nil)
        #expect(StoredReply.read(fields, id: 1, caller: "u", identity: "mallory") == nil)
        // A `messages` field that is no array of {topic, message} publishes nothing.
        var odd = fields
        odd[4].1 = #"[{"topic":"broadcast.x"}]"#
        #expect(StoredReply.read(odd, id: 1, caller: "u", identity: "agent:h")?.messages == [])
    }

    @Test func messagesWithoutEventsOrToTheKitsNamespacesAreAnInternalError() {
        let book = AgentBook(logic: Herald())
        let loose = book.step(AgentRequest(action: "loose", id: 1, args: ["to": ["broadcast.x"]]), caller: "u")
        #expect(loose.append.isEmpty && loose.messages.isEmpty)
        #expect(loose.reply == #"{"error":{"code":"internal","message":"the agent made messages without an event to store them in"},"id":1,"ok":false}"#)
        for topic in ["events.x", "dead.x", "_vimana.x", ""] {
            let step = book.step(AgentRequest(action: "say", id: 2, args: ["to": ["broadcast.ok", .string(topic)]]), caller: "u")
            #expect(step.append.isEmpty && step.messages.isEmpty && step.reply.contains(#""code":"internal""#), "\(topic): \(step.reply)")
        }
        // `messages` is the kit's field name: an event may not use it.
        #expect(AgentEvent.reservedFields.contains("messages"))
        // A refusal publishes nothing and appends nothing.
        let refused = book.step(AgentRequest(action: "refuse", id: 3, args: ["to": ["broadcast.x"]]), caller: "u")
        #expect(refused.append.isEmpty && refused.messages.isEmpty && refused.reply.contains(#""code":"no""#))
        // tasks.* is allowed (a task to another agent, applied once by its id).
        #expect(book.step(AgentRequest(action: "say", id: 4, args: ["to": ["tasks.other"]]), caller: "u").messages.count == 1)
    }

    @Test func aMessageOrItsTopicOverMaxPayloadIsRefused() {
        var settings = AgentSettings(agentID: "t")
        settings.maxPayload = 100
        let runtime = AgentRuntime(logic: Herald(), settings: settings)
        let fits = AgentMessage(topic: "b", message: String(repeating: "m", count: 100))
        #expect(runtime.oversize(AgentStep(append: [], reply: "{}", duplicate: false, messages: [fits])) == nil)
        let big = AgentMessage(topic: "b", message: String(repeating: "m", count: 101))
        #expect(runtime.oversize(AgentStep(append: [], reply: "{}", duplicate: false, messages: [fits, big]))
                == "a message (to b) is 101 bytes, over the kernel's max_payload (100)")
        let wide = AgentMessage(topic: String(repeating: "t", count: 101), message: "m")
        #expect(runtime.oversize(AgentStep(append: [], reply: "{}", duplicate: false, messages: [wide]))?
                .hasPrefix("a message's topic (to ttt") == true)
    }
}
