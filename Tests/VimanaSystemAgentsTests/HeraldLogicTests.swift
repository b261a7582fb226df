import Testing
import VimanaAgentKit
@testable import VimanaSystemAgents

/// herald's rules over events and civic's answers, without a server: a bad
/// broadcast asks civic nothing (nothing charged); a charged one is an
/// event and a message to broadcast.<channel>; civic's refusals pass
/// through; announcements are herald's own, once per source entry.
@Suite struct HeraldLogicTests {
    static func logic(cost: Int64 = 1, maxLength: Int = 64, forbidden: [String] = ["(?i)\\bspam\\b"],
                      maxPayload: Int = 1 << 20) -> HeraldLogic {
        var bad = ""
        let patterns = ForbiddenPatterns(forbidden, bad: &bad)
        return HeraldLogic(broadcastCost: cost, maxLength: maxLength, forbidden: patterns!, maxPayload: maxPayload,
                           announcer: "agent:herald")
    }

    static func publish(_ args: [String: JSON], id: JSON = "b1") -> AgentRequest {
        AgentRequest(action: "publish", id: id, args: args, entryID: "1700000000000-3")
    }

    /// civic's answer to the one ask herald makes for `request`.
    static func answered(_ logic: HeraldLogic, _ request: AgentRequest, caller: String, _ answer: AgentAnswer) -> AgentOutcome {
        let asks = logic.asks(for: request, caller: caller, state: HeraldState())
        return logic.handle(request, caller: caller, state: HeraldState(), kernel: KernelView([:], answers: Dictionary(uniqueKeysWithValues: asks.map { ($0, answer) })))
    }

    static let charged: AgentAnswer = .reply(.ok(["agent": "weather", "user": "u1", "state": "active", "balance": 99, "charged": 1]))

    @Test func aBroadcastIsChargedByCivicThenAnEventAndAMessage() {
        let logic = Self.logic()
        let request = Self.publish(["channel": "weather", "content": "rain at noon"])
        let asks = logic.asks(for: request, caller: "u1", state: HeraldState())
        #expect(asks == [AgentAsk(agent: "civic", action: "charge", args: ["user": "u1", "amount": 1, "reason": "broadcast weather"],
                                  timeout: HeraldLimits.civicTimeout, user: "agent:civic")])
        let outcome = Self.answered(logic, request, caller: "u1", Self.charged)
        #expect(outcome.reply == .ok(["author": "weather", "balance": 99, "channel": "weather", "charged": 1, "id": "1700000000000-3"]))
        #expect(outcome.events == [AgentEvent("broadcast", ["channel": "weather", "author": "weather", "bytes": "12", "id": "1700000000000-3"])])
        #expect(outcome.messages == [AgentMessage(topic: "broadcast.weather",
            message: #"{"author":"weather","channel":"weather","content":"rain at noon","id":"1700000000000-3"}"#)])
        // The state counts it.
        var state = HeraldState()
        for e in outcome.events { logic.apply(e, to: &state) }
        #expect(state.broadcasts == 1)
    }

    @Test func aBadBroadcastAsksNothingAndSaysWhy() {
        let logic = Self.logic()
        let cases: [([String: JSON], String, String)] = [
            (["channel": "", "content": "x"], "bad_argument", "channel must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '-'"),
            (["channel": "a b", "content": "x"], "bad_argument", "channel must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '-'"),
            (["channel": .string(String(repeating: "c", count: 65)), "content": "x"], "bad_argument",
             "channel must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '-'"),
            (["channel": "announcements", "content": "x"], "forbidden", "broadcast.announcements is herald's own: its announcements"),
            (["channel": "announcements.x", "content": "x"], "forbidden", "broadcast.announcements.x is herald's own: its announcements"),
            (["channel": "w", "content": ""], "bad_argument", "content must be a non-empty string"),
            (["channel": "w", "content": 5], "bad_argument", "content must be a non-empty string"),
            (["channel": "w", "content": .string(String(repeating: "x", count: 65))], "too_long",
             "content is 65 bytes, over system.herald.max_length (64)"),
            (["channel": "w", "content": "buy SPAM now"], "forbidden_content",
             #"content matches the forbidden pattern '(?i)\bspam\b' (system.herald.forbidden)"#),
            (["channel": "w", "content": "x", "to": "y"], "bad_argument", "unknown argument 'to' (channel, content)"),
        ]
        for (args, code, message) in cases {
            let request = Self.publish(args)
            #expect(logic.asks(for: request, caller: "u1", state: HeraldState()).isEmpty, "\(args): civic asked")
            let outcome = logic.handle(request, caller: "u1", state: HeraldState(), kernel: KernelView())
            #expect(outcome == .error(code, message), "\(args)")
        }
        // "spammer" is not the word spam: allowed.
        #expect(logic.asks(for: Self.publish(["channel": "w", "content": "spammer"]), caller: "u1", state: HeraldState()).count == 1)
        // A content whose message would not fit the kernel's max_payload is refused before the charge.
        let small = Self.logic(maxLength: 4096, maxPayload: 1000)
        let long = Self.publish(["channel": "w", "content": .string(String(repeating: "\u{1}", count: 100))])
        #expect(small.asks(for: long, caller: "u1", state: HeraldState()).isEmpty)
        #expect(small.handle(long, caller: "u1", state: HeraldState(), kernel: KernelView())
                == .error("too_long", "content is 602 bytes as JSON, too long for a message under the kernel's max_payload (1000)"))
    }

    @Test func civicsRefusalsPassThroughAndSilenceIsUnavailable() {
        let logic = Self.logic()
        let request = Self.publish(["channel": "w", "content": "hello"])
        let refusals: [(AgentAnswer, String, String)] = [
            (.reply(.error(code: "not_licensed", message: "agent 'x' is suspended (flood)")), "not_licensed", "civic: agent 'x' is suspended (flood)"),
            (.reply(.error(code: "insufficient_credits", message: "balance 0, cost 1")), "insufficient_credits", "civic: balance 0, cost 1"),
            (.reply(.error(code: "not_found", message: "no agent of user 'u1'")), "not_registered", "civic: no agent of user 'u1'"),
            (.timeout(seconds: 5), "unavailable", "civic did not answer charge within 5.0 s; nothing was broadcast"),
            (.failed("NOPERM"), "unavailable", "civic could not be asked to charge: NOPERM; nothing was broadcast"),
            (.reply(.ok(["balance": 3])), "unavailable", #"civic's charge answered no agent: {"balance":3}"#),
        ]
        for (answer, code, message) in refusals {
            let outcome = Self.answered(logic, request, caller: "u1", answer)
            #expect(outcome == .error(code, message))
            #expect(outcome.events.isEmpty && outcome.messages.isEmpty)
        }
        // Not asked at all (no view): unavailable, nothing broadcast.
        #expect(logic.handle(request, caller: "u1", state: HeraldState(), kernel: KernelView())
                == .error("unavailable", "civic was not asked to charge; nothing was broadcast"))
    }

    @Test func aCostOfZeroStillAsksCivicForTheLicence() {
        let logic = Self.logic(cost: 0)
        let request = Self.publish(["channel": "w", "content": "free"])
        #expect(logic.asks(for: request, caller: "u1", state: HeraldState()).first?.args["amount"] == 0)
        #expect(Self.answered(logic, request, caller: "u1", Self.charged).messages.count == 1)
    }

    static func announce(_ entry: String, source: String = "events.discovery", id: JSON = "a1") -> AgentRequest {
        AgentRequest(action: "announce", id: id,
                     args: ["source": .string(source), "entry": .string(entry), "kind": "agent_joined",
                            "event": ["type": "joined", "agent": "billing", "status": "running", "instances": "1"]],
                     entryID: "1700000000005-0")
    }

    @Test func anAnnouncementIsHeraldsOwnAndMadeOncePerEntry() {
        let logic = Self.logic()
        var state = HeraldState()
        let first = logic.handle(Self.announce("5-1"), caller: "agent:herald", state: state)
        #expect(first.events == [AgentEvent("announced", ["source": "events.discovery", "entry": "5-1", "kind": "agent_joined"])])
        #expect(first.messages == [AgentMessage(topic: "broadcast.announcements", message:
            #"{"entry":"5-1","event":{"agent":"billing","instances":"1","status":"running","type":"joined"},"id":"1700000000005-0","kind":"agent_joined","source":"events.discovery"}"#)])
        for e in first.events { logic.apply(e, to: &state) }
        #expect(state.cursors == ["events.discovery": "5-1"] && state.announcements == 1)
        // The same entry, or an earlier one, again (the watcher reconnected before the first was applied): nothing more.
        for entry in ["5-1", "5-0", "4-9"] {
            let again = logic.handle(Self.announce(entry, id: "a2"), caller: "agent:herald", state: state)
            #expect(again.events.isEmpty && again.messages.isEmpty && again.reply == .ok(["announced": false, "source": "events.discovery", "entry": .string(entry)]))
        }
        // A later one, and another source's, are announced; 10-0 comes after 9-9 as numbers, not as text.
        #expect(logic.handle(Self.announce("10-0"), caller: "agent:herald", state: state).events.count == 1)
        #expect(logic.handle(Self.announce("1-0", source: "events.civic"), caller: "agent:herald", state: state).events.count == 1)
        // Anyone else: forbidden. A herald without credentials takes none.
        #expect(logic.handle(Self.announce("6-0"), caller: "default", state: state)
                == .error("forbidden", "only herald's own watcher may announce (user 'default' may not)"))
        var bad = ""
        let anonymous = HeraldLogic(forbidden: ForbiddenPatterns([], bad: &bad)!, announcer: nil)
        #expect(anonymous.handle(Self.announce("6-0"), caller: "default", state: state).events.isEmpty)
        // Not an announced stream, not a stream ID.
        #expect(logic.handle(Self.announce("6-0", source: "events.oracle"), caller: "agent:herald", state: state).reply
                == .error(code: "bad_argument", message: "announce takes source (an announced stream), entry (a stream ID), kind and event (an object)"))
        #expect(logic.handle(Self.announce("six"), caller: "agent:herald", state: state).events.isEmpty)
    }

    @Test func whichEventsAreAnnounced() {
        #expect(HeraldLogic.kind(source: "events.civic", type: "registered", fields: [:]) == "registered")
        // The licence every registration starts with is part of the registration.
        #expect(HeraldLogic.kind(source: "events.civic", type: "licence", fields: ["state": "active", "authority": #"{"registration":true}"#]) == nil)
        #expect(HeraldLogic.kind(source: "events.civic", type: "licence", fields: ["state": "suspended", "authority": #"{"operator":true}"#]) == "suspended")
        #expect(HeraldLogic.kind(source: "events.civic", type: "licence", fields: ["state": "revoked", "authority": #"{"proposal":"p-1"}"#]) == "revoked")
        #expect(HeraldLogic.kind(source: "events.civic", type: "licence", fields: ["state": "active", "authority": #"{"appeal":"a-1"}"#]) == "reinstated")
        #expect(HeraldLogic.kind(source: "events.civic", type: "charged", fields: [:]) == nil)
        #expect(HeraldLogic.kind(source: "events.forum", type: "opened", fields: [:]) == "proposal_opened")
        #expect(HeraldLogic.kind(source: "events.forum", type: "decided", fields: [:]) == "proposal_decided")
        #expect(HeraldLogic.kind(source: "events.forum", type: "voted", fields: [:]) == nil)
        #expect(HeraldLogic.kind(source: "events.discovery", type: "joined", fields: [:]) == "agent_joined")
        #expect(HeraldLogic.kind(source: "events.supreme_court", type: "verdict", fields: [:]) == "verdict")
        #expect(HeraldLogic.kind(source: "events.supreme_court", type: "filed", fields: [:]) == nil)
        #expect(HeraldLogic.kind(source: "events.discovery", type: "failed", fields: [:]) == "agent_failed")
        #expect(HeraldLogic.kind(source: "events.discovery", type: "left", fields: [:]) == nil)
    }

    @Test func aSnapshotOfTheStateReadsBack() throws {
        let logic = Self.logic()
        var state = HeraldState()
        logic.apply(AgentEvent("announced", ["source": "events.civic", "entry": "7-2", "kind": "registered"]), to: &state)
        logic.apply(AgentEvent("broadcast", ["channel": "w", "author": "a", "bytes": "1", "id": "1-0"]), to: &state)
        let text = try #require(logic.snapshot(of: state))
        #expect(logic.state(fromSnapshot: text) == state)
    }
}
