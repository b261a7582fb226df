import Testing
@testable import VimanaAgentKit

/// An ask's request id, and which replies the requester takes: without a server.
@Suite struct AgentAskTests {
    let ask = AgentAsk(agent: "science", action: "topics", args: ["window": 3600], timeout: 2)

    /// The id Protocol/AGENTS.md §10 specifies, computed here by Python's
    /// hashlib from the same length-prefixed parts: a stranger's
    /// implementation gets the same id.
    @Test func theRequestIDIsTheDocumentedDigest() {
        #expect(ask.user == "agent:science")
        #expect(ask.requestID(asker: "scribe", topic: "tasks.scribe", caller: "default", request: "1")
                == "6577227246a93b944e7a3f0256c5ee0e")
    }

    /// The same on every delivery and send, and for every task repeating the
    /// request; another for another request, caller or asker; the timeout,
    /// which the asked agent never sees, is not part of it; length prefixes
    /// keep two splits of one string apart.
    @Test func theRequestIDFollowsFromTheTaskAndTheAskAlone() {
        func id(_ a: AgentAsk, asker: String = "scribe", topic: String = "tasks.scribe", caller: String = "alice",
                entry: String = "1") -> String {
            a.requestID(asker: asker, topic: topic, caller: caller, request: entry)
        }
        let base = id(ask)
        #expect(base == id(ask))
        #expect(base.count == 32 && base.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(base == id(AgentAsk(agent: "science", action: "topics", args: ["window": 3600], timeout: 9)))
        let others = [
            id(ask, asker: "oracle"), id(ask, topic: "tasks.other"), id(ask, entry: "2"), id(ask, caller: "bob"),
            id(AgentAsk(agent: "sciencf", action: "topics", args: ["window": 3600], timeout: 2)),
            id(AgentAsk(agent: "science", action: "topic", args: ["window": 3600], timeout: 2)),
            id(AgentAsk(agent: "science", action: "topics", args: ["window": 3601], timeout: 2)),
            id(AgentAsk(agent: "science", action: "topics", args: ["window": 3600], timeout: 2, user: "sci-bot")),
            id(ask, asker: "scribetasks.", topic: "scribe"),
        ]
        #expect(Set(others + [base]).count == others.count + 1, "\(others)")
    }

    /// Only the awaited user's reply is taken; the same id from anyone else
    /// is a forgery, reported; other ids are left out; a message from the
    /// right user that is no reply is reported as malformed.
    @Test func theRequesterTakesARepliesOnlyFromTheAskedAgentsUser() {
        let id = JSON.string("abc")
        let forged: JSON = ["id": id, "ok": true, "result": "forged"]
        let real: JSON = ["id": id, "ok": true, "result": "real"]
        let stale: JSON = ["id": "old", "ok": true, "result": 1]
        let sorted = AgentRequester.replies(in: [(forged, "mallory"), (stale, "agent:science"), (real, "agent:science")],
                                            awaited: [id.text: "agent:science"])
        #expect(sorted.found == [id.text: .ok("real")])
        #expect(sorted.forged.map { "\($0.id) \($0.publisher)" } == ["\"abc\" mallory"])
        #expect(sorted.malformed == nil)
        // Only the forgery came: nothing is found.
        #expect(AgentRequester.replies(in: [(forged, "mallory")], awaited: [id.text: "agent:science"]).found.isEmpty)
        let odd: JSON = ["id": id, "what": 1]
        #expect(AgentRequester.replies(in: [(odd, "agent:science")], awaited: [id.text: "agent:science"]).malformed == odd)
        #expect(AgentRequester.replies(in: [(odd, "mallory")], awaited: [id.text: "agent:science"]).malformed == nil)
    }
}
