import Foundation
import Testing

/// When the ledger writer falls behind, publishers to recorded topics are
/// paused (not dropped) while everyone else is served.
@Suite struct BackpressureTests {
    @Test func publishersPauseAndNothingIsLost() throws {
        // A slow writer: the strongest compression of incompressible data, a small pending limit.
        let server = try ServerProcess(config: """
            ledger:
              max_pending: 1MiB
              compression_level: 9
            """, logLevel: "info")
        let publisher = try RawClient(port: server.port, timeout: 30)
        let bystander = try RawClient(port: server.port)
        var rng = SystemRandomNumberGenerator()
        let count = 4000
        var batch = ""
        for i in 0..<count {
            let payload = String((0..<2000).map { _ in Character(Unicode.Scalar(UInt8.random(in: 33...126, using: &rng))) })
            batch += RawClient.command(["PUBLISH", "firehose", "\(i):" + payload])
        }
        let bytes = Array(batch.utf8)
        let fd = publisher.fd
        let sender = Thread {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                off += n
            }
        }
        sender.start()
        // While the publisher is paused, another client is answered at once.
        var stalledSeen = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            bystander.send("INFO ledger\r\n")
            let info = bystander.readReplies()
            if info.contains("ledger_stalls:") && !info.contains("ledger_stalls:0\r\n") { stalledSeen = true; break }
        }
        #expect(stalledSeen, "the writer never fell behind the 1 MiB limit")
        let started = Date()
        bystander.send("PING\r\n")
        #expect(bystander.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(Date().timeIntervalSince(started) < 1)
        // Every publish is answered and recorded.
        let replies = publisher.read(count: count * 4)
        #expect(replies.count == count * 4)
        #expect(server.waitForLog("publishers resumed", timeout: 30))
        bystander.send("XLEN firehose\r\n")
        #expect(bystander.read(matching: ":\(count)\r\n") == ":\(count)\r\n")
    }
}
