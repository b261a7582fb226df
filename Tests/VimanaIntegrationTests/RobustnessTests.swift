import Foundation
import Testing

/// Malformed input, slow readers, limits and shutdown: the server stays up
/// and other clients are unaffected.
@Suite struct RobustnessTests {
    @Test(arguments: [
        ("*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        ("*1\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        ("*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"),
        ("ECHO \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
        ("PING\r\n*1\r\n$2000000\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length (2000000 > max_payload 1048576)\r\n"),
    ])
    func protocolErrorRepliesThenCloses(input: String, reply: String) throws {
        let server = try ServerProcess()
        let bystander = try RawClient(port: server.port)
        let c = try RawClient(port: server.port)
        c.send(input + "PING\r\n")
        #expect(c.read(matching: reply) == reply)
        #expect(c.isClosedByPeer())
        bystander.send("PING\r\n")
        #expect(bystander.read(matching: "+PONG\r\n") == "+PONG\r\n")
    }

    @Test func inlineLineOverTheLimitIsAProtocolError() throws {
        let server = try ServerProcess()
        let c = try RawClient(port: server.port)
        c.send(String(repeating: "a", count: 70_000))
        let reply = "-ERR Protocol error: too big inline request\r\n"
        #expect(c.read(matching: reply) == reply)
        #expect(c.isClosedByPeer())
    }

    @Test func randomGarbageNeverCrashesTheServer() throws {
        let server = try ServerProcess(logLevel: "info")
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("*$\r\n0123456789-abc \"'\\x".utf8)
        for _ in 0..<200 {
            let c = try RawClient(port: server.port, timeout: 1)
            let n = Int.random(in: 1...400, using: &rng)
            let garbage = (0..<n).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            c.send(garbage)
        }
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(server.process.isRunning)
    }

    @Test func sigtermExitsCleanlyWithALogLine() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("SUBSCRIBE a\r\n")
        _ = c.readReplies()
        // Timed to the exit, not to the end of its log: the log's pipe can be
        // held open a while longer by a server another test starts at that
        // moment (it inherits the descriptor).
        let started = Date()
        kill(server.process.processIdentifier, SIGTERM)
        while server.process.isRunning && Date().timeIntervalSince(started) < 5 { usleep(10_000) }
        #expect(Date().timeIntervalSince(started) < 5)
        let status = server.terminate(signal: 0, timeout: 5)
        #expect(status == 0)
        #expect(server.log.contains("\"event\":\"shutdown requested\""))
        #expect(server.log.contains("\"reason\":\"SIGTERM\""))
        #expect(server.log.contains("\"event\":\"shutdown complete\""))
        #expect(c.isClosedByPeer(timeout: 1))
    }

    @Test func sigintAlsoExitsZero() throws {
        let server = try ServerProcess(logLevel: "info")
        #expect(server.terminate(signal: SIGINT) == 0)
    }

    @Test func bindFailureIsReportedAndExitsNonZero() throws {
        let first = try ServerProcess(logLevel: "info")
        let r = try runVimana(["serve", "--port", String(first.port), "--http-port", "-1"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bind"))
        #expect(r.stderr.contains("Address already in use"))
    }

    @Test func usageErrorsAreOneLineAndExitTwo() throws {
        for args in [["nosuch"], ["serve", "--port", "x"], ["serve", "--bogus"], ["serve", "--port"], ["check"]] {
            let r = try runVimana(args)
            #expect(r.status == 2, "\(args)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        let help = try runVimana(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("vimana serve"))
        let version = try runVimana(["--version"])
        #expect(version.stdout.hasPrefix("vimana "))
    }
}
