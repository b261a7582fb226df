import Foundation
import Testing
import VimanaTestSupport

/// SIGHUP reloads phoenix.yaml (issue 14 §4): what can change while the
/// server runs changes, through CONFIG SET's table (CONFIG GET and the
/// server's behaviour show it); every other key changed since start is
/// named in the log as needing a restart; an invalid file is reported at
/// its line and column and changes nothing. Flags still override the file.
@Suite struct ConfigReloadTests {
    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "vimana-reload-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func get(_ c: RawClient, _ name: String) -> String {
        c.send("CONFIG GET \(name)\r\n")
        return c.readReplies()
    }

    @Test func sighupAppliesWhatCanChangeAndNamesWhatNeedsARestart() throws {
        let path = try Self.file("kernel:\n  limits:\n    max_clients: 50\nledger:\n  fsync: everysec\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServerProcess(arguments: ["--config", path], logLevel: "info")
        let pid = server.process.processIdentifier
        let admin = try RawClient(port: server.port)
        #expect(Self.get(admin, "maxclients") == "*2\r\n$10\r\nmaxclients\r\n$2\r\n50\r\n")

        try "kernel:\n  limits:\n    max_clients: 2\nledger:\n  fsync: always\n  retention:\n    max_age: 24h\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(server.waitForLog(#""event":"configuration reloaded","file":"\#(path)","changed":"maxclients ledger-retention-max-age","needs_restart":"ledger.fsync""#),
                "log:\n\(server.log)")
        #expect(server.log.contains(#""event":"config changed","parameter":"maxclients","old":"50","new":"2","by":"SIGHUP""#))
        #expect(server.log.contains(#""event":"configuration change needs a restart","key":"ledger.fsync""#))
        // The port comes from a flag, at start and at the reload: not a change.
        #expect(!server.log.contains(#""key":"kernel.port""#))
        #expect(Self.get(admin, "maxclients") == "*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n")
        #expect(Self.get(admin, "ledger-retention-max-age") == "*2\r\n$24\r\nledger-retention-max-age\r\n$5\r\n86400\r\n")
        // And in behaviour: the second connection is the last one admitted.
        let second = try RawClient(port: server.port)
        second.send("PING\r\n")
        #expect(second.readReplies() == "+PONG\r\n")
        let third = try RawClient(port: server.port)
        #expect(third.readReplies() == "-ERR max number of clients reached\r\n")

        // An invalid file: reported where, and nothing changes.
        try "kernel:\n  limits:\n    max_clients: many\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(server.waitForLog(#""event":"configuration reload failed","error":"\#(path):3:18: "#), "log:\n\(server.log)")
        #expect(Self.get(admin, "maxclients") == "*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n")
        admin.send("PING\r\n")
        #expect(admin.readReplies() == "+PONG\r\n")
        #expect(!server.log.contains("shutdown requested"))
        #expect(server.terminate() == 0)
    }

    /// A `federation:` section added (or changed) while the server runs is
    /// not applied: the reload names it as needing a restart, without its
    /// values (the password least of all), and the kernel carries on alone.
    @Test func aFederationChangeNeedsARestart() throws {
        let path = try Self.file("kernel:\n  limits:\n    max_clients: 50\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServerProcess(arguments: ["--config", path], logLevel: "info")
        try """
            kernel:
              limits:
                max_clients: 50
            federation:
              node: kernel-a
              cluster: ["127.0.0.1:1"]
              password: s3cret-federation
              topics: ["orders.*"]

            """.write(toFile: path, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(server.waitForLog(#""event":"configuration reloaded","file":"\#(path)","changed":"","needs_restart":"federation""#),
                "log:\n\(server.log)")
        #expect(server.log.contains(#""event":"configuration change needs a restart","key":"federation""#))
        #expect(!server.log.contains("s3cret"))
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.readReplies() == "+PONG\r\n")
        #expect(server.terminate() == 0)
    }

    /// A valid file whose live values CONFIG SET would refuse (more clients
    /// than the descriptor limit allows) changes nothing, not even the
    /// values that alone would pass.
    @Test func aReloadIsAllOrNothing() throws {
        let path = try Self.file("kernel:\n  limits:\n    max_clients: 50\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServerProcess(arguments: ["--config", path], logLevel: "info", fileLimit: 1000)
        let admin = try RawClient(port: server.port)
        try "kernel:\n  limits:\n    max_clients: 5000\nledger:\n  retention:\n    max_age: 24h\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        #expect(server.waitForLog(#""event":"configuration reload refused","parameter":"maxclients","reason":"The operating system is not able to handle the specified number of clients, try with 936","effect":"nothing changed""#),
                "log:\n\(server.log)")
        #expect(Self.get(admin, "maxclients") == "*2\r\n$10\r\nmaxclients\r\n$2\r\n50\r\n")
        #expect(Self.get(admin, "ledger-retention-max-age") == "*2\r\n$24\r\nledger-retention-max-age\r\n$1\r\n0\r\n")
    }
}
