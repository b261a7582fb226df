import Foundation
import Testing
import VimanaAgentKit
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// An appeal through the real court, civic and kernel: a suspended user
/// appeals on the one topic left to it, a judge grants mercy, the court
/// has civic reinstate it, and the kernel lets it publish again.
@Suite struct SupremeCourtWireTests {
    @Test func aSuspendedAgentAppealsIsGrantedMercyAndPublishesAgain() throws {
        let server = try ServerProcess(config: """
            users:
              - name: alice
                password_hashes: ["cefd4bcd86ca3d6d9d1064593870b4cd4fdb3fef0136b1c43684cb7f58a29036"]
                permissions: ["+@all", "-@admin", "allkeys", "allchannels"]
            """, logLevel: "info", systemAgents: true)
        #expect(server.waitForLog("as agent civic", timeout: 30) && server.waitForLog("as agent supreme_court", timeout: 30))
        let admin = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test"))
        let alice = try AgentRequester(settings: AgentSettings(port: server.port, agentID: "test", user: "alice", password: "alice-pw"))
        #expect(try admin.request(agent: "civic", action: "register", args: ["agent": "billing", "user": "alice"], timeout: 10)
                .isOK)
        #expect(try admin.request(agent: "civic", action: "suspend",
                                     args: ["agent": "billing", "reason": "flooding", "authority": ["operator": true]], timeout: 10).isOK)
        let raw = try RawClient(port: server.port)
        raw.send(command: "AUTH", "alice", "alice-pw")
        #expect(raw.readReplies() == "+OK\r\n")
        func publish() -> String { raw.send(command: "PUBLISH", "news", "x"); return raw.readReplies() }
        func until(_ want: String) -> String {
            let deadline = Date().addingTimeInterval(20)
            var last = publish()
            while last != want && Date() < deadline { usleep(50_000); last = publish() }
            return last
        }
        #expect(until("-NOPERM user 'alice' is suspended (flooding): it may publish only to tasks.supreme_court\r\n").hasPrefix("-NOPERM"))

        // Alice's appeal goes to the court: the kernel lets her publish there.
        let filed = try alice.request(agent: "supreme_court", action: "file_appeal", args: ["reason": "a bug in my loop, fixed"], timeout: 10)
        guard case .ok(let appeal) = filed else { Issue.record("file_appeal: \(filed)"); return }
        #expect(appeal["appeal"] == "a-1" && appeal["agent"] == "billing" && appeal["licence"] == "suspended")
        #expect(try admin.request(agent: "supreme_court", action: "review", args: ["appeal": "a-1"], timeout: 10)
                .okResult?["eligible"] == true)
        #expect(try admin.request(agent: "supreme_court", action: "issue_verdict", args: ["appeal": "a-1", "verdict": "mercy_granted"],
                                     timeout: 10).isOK)
        // The court enacts it by itself: civic reinstates, the kernel learns it.
        #expect(until(":0\r\n") == ":0\r\n")
        let deadline = Date().addingTimeInterval(20)
        var enacted: JSON?
        while Date() < deadline {
            enacted = try admin.request(agent: "supreme_court", action: "get_appeal", args: ["appeal": "a-1"], timeout: 10)
                .okResult?["enacted"]
            if enacted == true { break }
            usleep(50_000)
        }
        #expect(enacted == true)
        #expect(try admin.request(agent: "civic", action: "check_license", args: ["agent": "billing"], timeout: 10)
                .okResult?["state"] == "active")
    }
}

extension AgentReply {
    var isOK: Bool { if case .ok = self { true } else { false } }
    var okResult: JSON? { if case .ok(let r) = self { r } else { nil } }
}
