import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The command line as a newcomer meets it: `vimana pub` and `vimana sub`
/// against the real server, every command's help, flags and the errors that
/// name them, signals, and `make install`.
@Suite struct CLITests {
    @Test func subPrintsWhatPubPublishes() throws {
        let server = try ServerProcess(logLevel: "info")
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: ServerProcess.binaryPath)
        sub.arguments = ["sub", "--port", String(server.port), "--json", "tasks.*", "plain"]
        let out = Pipe()
        let received = OutputCollector()
        out.fileHandleForReading.readabilityHandler = { received.append($0.availableData) }
        sub.standardOutput = out
        sub.standardError = FileHandle.nullDevice
        try sub.run()
        defer {
            // SIGKILL: the test runner's children inherit a blocked SIGTERM.
            kill(sub.processIdentifier, SIGKILL)
            sub.waitUntilExit()
            out.fileHandleForReading.readabilityHandler = nil
        }
        // Wait until both subscriptions are registered on the server.
        let probe = try RawClient(port: server.port)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            probe.send("PUBSUB NUMPAT\r\nPUBSUB NUMSUB plain\r\n")
            if probe.readAvailable(quiet: 0.1).hasPrefix(":1\r\n*2\r\n$5\r\nplain\r\n:1") { break }
        }
        let pub1 = try runVimana(["pub", "--port", String(server.port), "tasks.civic", "hello world"])
        #expect(pub1.status == 0)
        #expect(pub1.stdout == "1\n")
        let pub2 = try runVimana(["pub", "--port", String(server.port), "plain", "x"])
        #expect(pub2.stdout == "1\n")
        let until = Date().addingTimeInterval(5)
        while Date() < until && received.text.split(separator: "\n").count < 2 { usleep(10_000) }
        let lines = received.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\"topic\":\"tasks.civic\"") == true)
        #expect(lines.first?.contains("\"pattern\":\"tasks.*\"") == true)
        #expect(lines.first?.contains("\"payload\":\"hello world\"") == true)
        #expect(lines.last?.contains("\"topic\":\"plain\"") == true)
    }

    @Test func pubToAStoppedServerSaysWhyAndExitsOne() throws {
        let port = try freePort()
        let r = try runVimana(["pub", "--port", String(port), "t", "m"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("127.0.0.1:\(port)"))
    }

    // MARK: - Signals

    /// SIGHUP neither stops the server nor passes unseen: it is logged, and the server carries on.
    @Test func sighupIsLoggedAndTheServerCarriesOn() throws {
        let server = try ServerProcess(logLevel: "info")
        kill(server.process.processIdentifier, SIGHUP)
        #expect(server.waitForLog(#""event":"signal ignored","signal":"SIGHUP""#), "log:\n\(server.log)")
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(!server.log.contains("shutdown requested"))
        #expect(server.terminate() == 0)
    }
}

/// Collects a child's output from the pipe's handler thread.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
