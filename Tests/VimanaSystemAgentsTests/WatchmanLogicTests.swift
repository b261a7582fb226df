import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// watchman's rules over its events: one violation per observation key,
/// observe and enforce by its own user alone, the policy's threshold and
/// window edges, a suspension enforced once and civic's refusal recorded.
@Suite struct WatchmanLogicTests {
    let logic = WatchmanLogic(suspendAfter: 3, windowMillis: 60_000, civicTimeout: 1)
    static let me = "agent:watchman"

    struct Watch {
        var book: AgentBook<WatchmanLogic>
        var n = 0
        init(_ logic: WatchmanLogic) { book = AgentBook(logic: logic) }

        @discardableResult
        mutating func run(_ action: String, _ args: [String: JSON] = [:], by caller: String = WatchmanLogicTests.me, at millis: Int64 = 1_000_000,
                          answers: [AgentAsk: AgentAnswer] = [:]) -> AgentReply? {
            n += 1
            let request = AgentRequest(action: action, id: .string("r\(n)"), args: args, entryID: "\(millis)-\(n)")
            let step = book.step(request, caller: caller, kernel: KernelView([:], answers: answers))
            for (i, e) in step.append.enumerated() { book.replay(e.fields, id: "\(millis)-\(100 + n)-\(i)") }
            return AgentReply(json: JSON.parse(step.reply) ?? .null)
        }
    }

    func ok(_ r: AgentReply?) -> JSON? { if case .ok(let j)? = r { return j }; return nil }
    func code(_ r: AgentReply?) -> String? { if case .error(let c, _)? = r { return c }; return nil }

    var registered: AgentAnswer {
        .reply(.ok(["agent": "flooder", "user": "mallory", "state": "active", "reason": "", "balance": 10, "licensed": 1]))
    }

    func observe(_ w: inout Watch, key: String, at: Int64? = nil, now: Int64 = 1_000_000, user: String = "mallory",
                 answer: AgentAnswer? = nil, kind: String = "malformed") -> AgentReply? {
        var args: [String: JSON] = ["kind": .string(kind), "user": .string(user), "detail": "bad task", "key": .string(key)]
        if let at { args["at"] = .int(at) }
        return w.run("observe", args, at: now, answers: [logic.licenceAsk(user): answer ?? registered])
    }

    @Test func onlyWatchmansOwnUserObservesAndTheSameKeyIsOneViolation() {
        var w = Watch(logic)
        let args: [String: JSON] = ["kind": "malformed", "user": "mallory", "detail": "x", "key": "dead:civic:1-0"]
        #expect(code(w.run("observe", args, by: "mallory", answers: [logic.licenceAsk("mallory"): registered])) == "forbidden")
        #expect(logic.asks(for: AgentRequest(action: "observe", id: 1, args: args), caller: "mallory", state: w.book.state).isEmpty)
        #expect(w.book.state.violations.isEmpty)
        let first = ok(observe(&w, key: "dead:civic:1-0"))
        #expect(first?["violation"] == "v-1" && first?["agent"] == "flooder" && first?["decision"]?["action"] == "warn")
        #expect(logic.asks(for: AgentRequest(action: "observe", id: 1, args: args), caller: Self.me, state: w.book.state).isEmpty,
                "a key already recorded asks civic nothing")
        #expect(ok(observe(&w, key: "dead:civic:1-0"))?["violation"] == "v-1")
        #expect(w.book.state.violations.count == 1 && w.book.state.decisions.count == 1)
        #expect(code(w.run("observe", ["kind": "flood", "user": "mallory", "detail": "x", "key": "k"])) == "bad_argument")
        #expect(code(w.run("observe", ["kind": "rate", "user": "mallory", "detail": "x", "key": "k", "at": 2_000_000])) == "bad_argument",
                "an observation is not from after its task")
        let skewed = ok(w.run("observe", ["kind": "rate", "user": "mallory", "detail": "x", "key": "skew", "at": 1_000_900],
                              answers: [logic.licenceAsk("mallory"): registered]))
        #expect(skewed?["at"] == .int(1_000_000), "a clock a little ahead: taken as the task's time (\(String(describing: skewed)))")
    }

    @Test func warnsBelowTheThresholdSuspendsAtItAndCountsAgainAfterASuspension() {
        var w = Watch(logic)
        #expect(ok(observe(&w, key: "a"))?["decision"]?["action"] == "warn")
        #expect(ok(observe(&w, key: "b"))?["decision"]?["action"] == "warn")
        let third = ok(observe(&w, key: "c"))?["decision"]
        #expect(third?["action"] == "suspend" && third?["decision"] == "d-3" && third?["agent"] == "flooder")
        #expect(w.book.state.unenforced.map(\.decision) == ["d-3"])
        // After a suspension the count starts again: the next is a warning.
        #expect(ok(observe(&w, key: "d", now: 1_000_001))?["decision"]?["action"] == "warn")
        // One seen late, from before the suspension: recorded, answered by that suspension already.
        let late = ok(observe(&w, key: "e", at: 999_000, now: 1_000_002))
        #expect(late?["violation"] == "v-5" && late?["decision"] == nil, "\(String(describing: late))")
    }

    /// Publishes refused for the licence happen under a suspension in
    /// force: each is a violation (an offence for the court) warned, never a
    /// step towards another suspension: seen after a reinstatement, it
    /// would suspend again for what the mercy forgave.
    @Test func aPublishRefusedWhileSuspendedIsWarnedAndNeverSuspends() {
        var w = Watch(logic)
        for key in ["r1", "r2", "r3", "r4"] {
            let v = ok(observe(&w, key: key, kind: "refused_while_suspended"))
            #expect(v?["decision"]?["action"] == "warn", "\(key): \(String(describing: v))")
        }
        #expect(w.book.state.violations.count == 4 && w.book.state.unenforced.isEmpty)
        #expect(ok(observe(&w, key: "m1"))?["decision"]?["action"] == "warn", "the refused ones are not counted")
        #expect(ok(observe(&w, key: "m2"))?["decision"]?["action"] == "warn")
        #expect(ok(observe(&w, key: "m3"))?["decision"]?["action"] == "suspend")
    }

    @Test func onlyViolationsInsideTheWindowCount() {
        var w = Watch(logic)
        let now: Int64 = 1_000_000
        // One exactly a window before now is outside (the window is (now - window, now]): recorded, no decision.
        let old = ok(observe(&w, key: "old", at: now - 60_000, now: now))
        #expect(old?["violation"] == "v-1" && old?["decision"] == nil)
        _ = observe(&w, key: "in1", at: now - 59_999, now: now)
        #expect(ok(observe(&w, key: "in2", now: now))?["decision"]?["action"] == "warn", "two in the window, not three")
        #expect(ok(observe(&w, key: "in3", now: now))?["decision"]?["action"] == "suspend")
    }

    @Test func aUserWithNoRegisteredAgentIsRecordedWithNoDecisionAndCivicUnavailableRecordsNothing() {
        var w = Watch(logic)
        let stranger = ok(observe(&w, key: "s", user: "eve", answer: .reply(.error(code: "not_found", message: "no agent"))))
        #expect(stranger?["agent"] == "" && stranger?["decision"] == nil && w.book.state.decisions.isEmpty)
        #expect(code(observe(&w, key: "t", answer: .timeout(seconds: 1))) == "unavailable")
        #expect(w.book.state.byKey["t"] == nil)
    }

    @Test func aSuspensionIsEnforcedOnceByWatchmanAndCivicsRefusalIsRecorded() {
        var w = Watch(logic)
        for k in ["a", "b", "c"] { _ = observe(&w, key: k) }
        let d = try? logic.decision(["decision": "d-3"], w.book.state)
        guard let d else { Issue.record("no suspend decision"); return }
        let ask = logic.suspendAsk(d)
        #expect(ask.args["authority"] == ["decision": "d-3"] && ask.action == "suspend" && ask.agent == "civic")
        #expect(code(w.run("enforce", ["decision": "d-3"], by: "mallory", answers: [ask: .reply(.ok([:]))])) == "forbidden")
        #expect(code(w.run("enforce", ["decision": "d-1"])) == "not_needed", "a warning is not enforced")
        #expect(code(w.run("enforce", ["decision": "d-3"], answers: [ask: .timeout(seconds: 1)])) == "unavailable")
        #expect(w.book.state.unenforced.count == 1, "a timeout is tried again")
        let refused = ok(w.run("enforce", ["decision": "d-3"], answers: [ask: .reply(.error(code: "unauthorized", message: "no"))]))
        #expect(refused?["enforced"] == false && w.book.state.unenforced.isEmpty)
        #expect(w.book.state.decisions["d-3"]?.result?.contains("unauthorized") == true)
        // Enforced once: a second enforce asks civic nothing and appends nothing.
        #expect(logic.asks(for: AgentRequest(action: "enforce", id: 1, args: ["decision": "d-3"]), caller: Self.me, state: w.book.state).isEmpty)
        #expect(ok(w.run("enforce", ["decision": "d-3"]))?["enforced"] == false)
    }

    @Test func reportListsAnAgentsViolationsAndDecisionsToAnyone() {
        var w = Watch(logic)
        _ = observe(&w, key: "a")
        _ = observe(&w, key: "s", user: "eve", answer: .reply(.error(code: "not_found", message: "no agent")))
        let r = ok(w.run("report", ["agent": "flooder"], by: "anyone"))
        #expect(r?["violations"]?.array?.count == 1 && r?["decisions"]?.array?.count == 1)
        #expect(ok(w.run("report", by: "anyone"))?["violations"]?.array?.count == 2)
        #expect(ok(w.run("status", by: "anyone"))?["violations"] == 2)
    }

    @Test func theObserverReadsLicenceRefusalsFromACLLogAndDeadLettersOfOtherUsers() {
        func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
        let log: RESPValue = .array([
            .map([(bulk("count"), .integer(2)), (bulk("reason"), bulk("license")), (bulk("object"), bulk("jobs")),
                  (bulk("username"), bulk("mallory")), (bulk("age-seconds"), .double(1.5))]),
            .array([bulk("count"), .integer(1), bulk("reason"), bulk("command"), bulk("object"), bulk("config|set"),
                    bulk("username"), bulk("eve"), bulk("age-seconds"), bulk("3")]),
        ])
        let sights = Watchman.licenceSights(log, nowMillis: 10_000, windowMillis: 60_000)
        #expect(sights == [Watchman.Sight(kind: "refused_while_suspended", user: "mallory",
                                          detail: "publish to jobs refused for its licence (ACL LOG count 2)", key: "license:mallory:0", at: 8500)])
        // Refusals on and on, to other topics too, within one window: one key, one violation.
        let more: RESPValue = .array([
            .map([(bulk("count"), .integer(9)), (bulk("reason"), bulk("license")), (bulk("object"), bulk("other")),
                  (bulk("username"), bulk("mallory")), (bulk("age-seconds"), .double(0.1))]),
        ])
        #expect(Watchman.licenceSights(more, nowMillis: 50_000, windowMillis: 60_000).map(\.key) == ["license:mallory:0"])
        #expect(Watchman.licenceSights(more, nowMillis: 70_000, windowMillis: 60_000).map(\.key) == ["license:mallory:1"], "the next window")
        let dead = Watchman.deadSight(agent: "civic", id: "1700-0", fields: [("topic", "tasks.civic"), ("reason", "malformed task: x"),
                                                                            ("publisher", "mallory")])
        #expect(dead?.key == "dead:civic:1700-0" && dead?.user == "mallory" && dead?.at == 1700 && dead?.kind == "malformed")
        let big = Watchman.deadSight(agent: "civic", id: "1800-0", fields: [("reason", "oversized: the task is 70000 bytes, over the"
                                                                            + " agent's max_task_bytes (65536)"), ("publisher", "mallory")])
        #expect(big?.kind == "oversized" && big?.detail == "task to civic dead-lettered: oversized: the task is 70000 bytes,"
                + " over the agent's max_task_bytes (65536)", "an oversized task is its own kind")
        #expect(Watchman.deadSight(agent: "civic", id: "1-0", fields: [("publisher", "agent:forum")]) == nil,
                "a system agent's own dead letter is no violation")
        #expect(Watchman.deadSight(agent: "civic", id: "1-0", fields: [("publisher", "agent:weather")])?.user == "agent:weather",
                "an external agent's made user is watched as any other")
    }

    /// INFO users' publish_pauses: the first look of a run is the baseline
    /// (no sight); a user whose count grew is one `rate` sight keyed by the
    /// run and the window period; a system agent's user never; names decoded.
    @Test func theObserverMakesARateSightOfAUserPausedAtItsOwnPublishLimit() {
        func info(_ users: [(String, Int)]) -> RESPValue {
            .bulkString(Array(("# Users\r\n" + users.map { "user_\($0.0):connections=1,connections_refused=0,publish_pauses=\($0.1),"
                + "publish_paused_seconds=0.000,messages_published=5,bytes_published=5\r\n" }.joined()).utf8))
        }
        var seen: [String: Int64]?
        #expect(Watchman.limitSights(info([("app", 4), ("bob", 0)]), runID: "r1", nowMillis: 120_000, windowMillis: 60_000,
                                     seen: &seen).isEmpty, "the first look is the baseline")
        #expect(seen == ["app": 4, "bob": 0])
        #expect(Watchman.limitSights(info([("app", 4), ("bob", 0)]), runID: "r1", nowMillis: 121_000, windowMillis: 60_000,
                                     seen: &seen).isEmpty, "no new pause")
        let sights = Watchman.limitSights(info([("app", 9), ("bob", 0), ("agent%3Aforum", 3), ("agent%3Aweather", 2), ("carol", 1)]),
                                          runID: "r1", nowMillis: 122_000, windowMillis: 60_000, seen: &seen)
        #expect(sights.map(\.key) == ["limit:agent:weather:r1:2", "limit:app:r1:2", "limit:carol:r1:2"],
                "a system agent's user is never watched; an external agent's made user and a new user are")
        #expect(sights.allSatisfy { $0.kind == "rate" && $0.at == nil })
        #expect(sights[1].user == "app" && sights[1].detail.hasPrefix("publishers paused 5 times at the user's own publish_rate"))
        #expect(Watchman.infoUserName("a%2Cb%25") == "a,b%" && Watchman.infoUserName("x%2") == nil && Watchman.infoUserName("") == nil)
    }

    /// A sight published and not recorded (its observe found civic down) is
    /// due again after the first wait, then twice as long each time up to
    /// the limit, with its first time as `at`; forgotten once recorded, given
    /// up once older than the window; one key is kept once.
    @Test func anUnrecordedSightIsPublishedAgainWithBackOffUntilRecordedOrTooOld() {
        let u = Watchman.Unrecorded()
        let rate = Watchman.Sight(kind: "rate", user: "mallory", detail: "d", key: "rate:mallory:1", at: nil)
        let dead = Watchman.Sight(kind: "malformed", user: "eve", detail: "d", key: "dead:civic:5-0", at: 5)
        u.published(rate, nowMillis: 1_000, uptime: 100)
        u.published(rate, nowMillis: 2_000, uptime: 101)
        u.published(dead, nowMillis: 1_500, uptime: 100)
        #expect(u.count == 2)
        func due(_ uptime: Double, recorded: Set<String> = [], window: Int64 = 100_000_000) -> (tasks: [JSON], dropped: [String]) {
            u.due(recorded: { recorded.contains($0) }, nowMillis: 1_000 + Int64((uptime - 100) * 1000), uptime: uptime,
                  windowMillis: window, firstWait: 11)
        }
        #expect(due(110.9).tasks.isEmpty, "not before civic's timeout and a second")
        let first = due(111)
        #expect(first.tasks.map { $0["id"] } == ["observe-rate:mallory:1", "observe-dead:civic:5-0"])
        #expect(first.tasks.first?["args"]?["at"] == 1_000, "a sight of now keeps the time it was first seen")
        #expect(first.tasks.last?["args"]?["at"] == 5)
        #expect(due(121.9).tasks.isEmpty && due(122).tasks.count == 2, "again after 11 s")
        #expect(due(143.9).tasks.isEmpty && due(144).tasks.count == 2, "then 22 s")
        var t = 144.0, waits: [Double] = []
        for _ in 0..<8 {
            var next = t + 1
            while due(next).tasks.isEmpty { next += 1 }
            waits.append(next - t)
            t = next
        }
        #expect(waits == [44, 88, 176, 300, 300, 300, 300, 300], "doubling up to 5 minutes: \(waits)")
        let recorded = due(t + 300, recorded: ["rate:mallory:1"])
        #expect(recorded.tasks.map { $0["id"] } == ["observe-dead:civic:5-0"] && u.count == 1)
        let old = due(t + 301, window: 600_000)
        #expect(old.dropped == ["dead:civic:5-0"] && old.tasks.isEmpty && u.count == 0, "older than the window: given up")
    }

    /// A publisher's messages are summed over every topic science lists;
    /// only one above the rate over the window is a sight, one per window,
    /// and a system agent's user is never one (an external agent's made
    /// user, `agent:weather`, is).
    @Test func theObserverSumsEachPublishersMessagesAcrossTopicsAgainstTheRate() {
        let topics: JSON = [
            ["topic": "a", "messages": 80, "bytes": 1, "publishers": [["publisher": "mallory", "messages": 40], ["publisher": "bob", "messages": 40]]],
            ["topic": "b", "messages": 100, "bytes": 1, "publishers": [["publisher": "mallory", "messages": 21], ["publisher": "agent:science", "messages": 79]]],
            ["topic": "c", "messages": 61, "bytes": 1, "publishers": [["publisher": "agent:weather", "messages": 61]]],
        ]
        let result: JSON = ["window": 60, "topics": topics]
        let sights = Watchman.rateSights(result, maxRate: 1, windowSeconds: 60, nowMillis: 120_500)
        #expect(sights == [Watchman.Sight(kind: "rate", user: "agent:weather", detail: "61 messages in 60 s, over 1/s", key: "rate:agent:weather:2", at: nil),
                           Watchman.Sight(kind: "rate", user: "mallory", detail: "61 messages in 60 s, over 1/s", key: "rate:mallory:2", at: nil)])
        #expect(Watchman.rateSights(result, maxRate: 1, windowSeconds: 61, nowMillis: 120_500).isEmpty, "exactly at the limit is not over it")
        // With science's `since`, the rate is over the span it counted: 61 in 60.5 s is over 1/s, in 120.5 s it is not.
        var counted: JSON = ["window": 60, "since": 60_000, "topics": topics]
        #expect(Watchman.rateSights(counted, maxRate: 1, windowSeconds: 60, nowMillis: 120_500).map(\.detail)
                == ["61 messages in 60 s, over 1/s", "61 messages in 60 s, over 1/s"])
        #expect(Watchman.rateSights(counted, maxRate: 1, windowSeconds: 60, nowMillis: 120_500).first?.since == 60_000)
        counted = ["window": 60, "since": 0, "topics": topics]
        #expect(Watchman.rateSights(counted, maxRate: 1, windowSeconds: 60, nowMillis: 120_500).isEmpty,
                "a burst counted over a window and a bucket is a lower rate")
    }

    /// AGENTS's `expired` counts as `ack_wait` sights: one per external,
    /// non-system agent with a user for each multiple of `every` its count
    /// reached since the last look (at most 16 a look, the latest), keyed
    /// by the agent, the kernel's run and the multiple, in RESP2 and RESP3 alike.
    @Test func theObserverMakesAnAckWaitSightEachMultipleOfAnAgentsExpiredCount() {
        func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
        func flat(_ id: String, _ expired: Int) -> RESPValue {
            .array([bulk("id"), bulk(id), bulk("status"), bulk("running"), bulk("delivered"), .integer(9),
                    bulk("expired"), .integer(expired), bulk("restarts"), .integer(0)])
        }
        func agents(weather: Int, clerk: Int = 3) -> RESPValue {
            .array([flat("weather", weather), flat("tides", 2), flat("civic", 30), flat("echo", 12), flat("ghost", 5),
                    .map([(bulk("id"), bulk("clerk")), (bulk("expired"), .integer(clerk))])])
        }
        let directory = [
            DeclaredAgent(id: "weather", subscribes: ["tasks.weather"], user: "app"),
            DeclaredAgent(id: "tides", subscribes: ["tasks.tides"]),
            DeclaredAgent(id: "civic", subscribes: ["tasks.civic"], system: true),
            DeclaredAgent(id: "echo", kind: "builtin", subscribes: ["tasks.echo"], user: ""),
            DeclaredAgent(id: "clerk", subscribes: ["tasks.clerk"], user: "clerk-bot"),
        ]
        func detail(_ n: Int, _ agent: String, every: Int = 3) -> String {
            "\(n) tasks of agent \(agent) held past ack_wait since the kernel started (a violation every \(every))"
        }
        var seen: [String: Int] = [:]
        let first = Watchman.ackWaitSights(agents(weather: 7), runID: "r1", every: 3, directory: directory, seen: &seen)
        #expect(first == [
            Watchman.Sight(kind: "ack_wait", user: "app", detail: detail(3, "weather"), key: "ack_wait:weather:r1:1", at: nil),
            Watchman.Sight(kind: "ack_wait", user: "app", detail: detail(6, "weather"), key: "ack_wait:weather:r1:2", at: nil),
            Watchman.Sight(kind: "ack_wait", user: "clerk-bot", detail: detail(3, "clerk"), key: "ack_wait:clerk:r1:1", at: nil),
        ], "tides is below 3; civic is a system agent, echo a built-in, ghost not wired")
        #expect(first[0].task["args"]?["at"] == nil && first[0].task["args"]?["key"] == "ack_wait:weather:r1:1",
                "timed by its task: watchman's clock may be ahead of the kernel's")
        #expect(Watchman.ackWaitSights(agents(weather: 8), runID: "r1", every: 3, directory: directory, seen: &seen).isEmpty,
                "no new multiple")
        let later = Watchman.ackWaitSights(agents(weather: 16), runID: "r1", every: 3, directory: directory, seen: &seen)
        #expect(later.map(\.key) == ["ack_wait:weather:r1:3", "ack_wait:weather:r1:4", "ack_wait:weather:r1:5"], "each multiple passed since")
        #expect(later.map(\.detail) == [detail(9, "weather"), detail(12, "weather"), detail(15, "weather")])
        let burst = Watchman.ackWaitSights(agents(weather: 1000), runID: "r1", every: 3, directory: directory, seen: &seen)
        #expect(burst.count == WatchmanLimits.ackWaitSightsPerLook && burst.last?.key == "ack_wait:weather:r1:333", "at most 16 a look, the latest")

        // Another run of the kernel: other keys; at every 1, each expiry is one.
        var fresh: [String: Int] = [:]
        #expect(Watchman.ackWaitSights(agents(weather: 3), runID: "r2", every: 1, directory: directory, seen: &fresh).map(\.key)
                == ["ack_wait:weather:r2:1", "ack_wait:weather:r2:2", "ack_wait:weather:r2:3", "ack_wait:tides:r2:1", "ack_wait:tides:r2:2",
                    "ack_wait:clerk:r2:1", "ack_wait:clerk:r2:2", "ack_wait:clerk:r2:3"])
        // Without the wiring (watchman run by hand): the made user, and no system agent.
        var byHand: [String: Int] = [:]
        #expect(Watchman.ackWaitSights(agents(weather: 7), runID: "r1", every: 3, directory: nil, seen: &byHand).map(\.user)
                == ["agent:weather", "agent:weather", "agent:echo", "agent:echo", "agent:echo", "agent:echo", "agent:ghost", "agent:clerk"])
        #expect(Watchman.runID(bulk("# Server\r\nprocess_id:12\r\nrun_id:abc123\r\ntcp_port:1\r\n")) == "abc123")
        #expect(Watchman.runID(bulk("# Server\r\nprocess_id:12\r\n")) == nil)
    }
}
