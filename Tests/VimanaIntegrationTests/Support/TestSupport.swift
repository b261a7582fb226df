// The server runner, the raw client and the reply readers live in the
// VimanaTestSupport target, shared by every test target that talks to a real
// server. Re-exported here once, so each test file of this target sees them
// without an import of its own.
@_exported import VimanaTestSupport
import Foundation
import Testing

/// Expects `group` on `topic` to have nothing pending within 10 s (agents
/// acknowledge asynchronously): XPENDING's summary starts `*4 :0`.
func expectNothingPending(_ server: ServerProcess, topic: String, group: String) throws {
    let q = try RawClient(port: server.port)
    let deadline = Date().addingTimeInterval(10)
    var pending = ""
    while Date() < deadline {
        q.send("XPENDING \(topic) \(group)\r\n")
        pending = q.readReplies()
        if pending.hasPrefix("*4\r\n:0\r\n") { break }
    }
    #expect(pending.hasPrefix("*4\r\n:0\r\n"), "pending: \(visible(pending))")
}
