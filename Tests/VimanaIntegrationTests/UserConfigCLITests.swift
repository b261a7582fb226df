import Foundation
import Testing

/// A plain password in `users:` is accepted, warned about at start by
/// `vimana check` and `vimana serve`, and shown by neither.
@Suite struct UserConfigCLITests {
    static let plain = "s3cret-Plain-9x"
    static let digest = "938a494abf4fd461360c3175df2547e268c6fbdf8cd63adb34c9a1ac2760863d"
    static let yaml = "users:\n  - name: alice\n    password: \(plain)\n"
    static let warning = "users[0].password: user 'alice' has a plain password in the configuration file;"
        + " use password_hashes (its SHA-256, as `echo -n PASSWORD | sha256sum` prints it) or password_file"

    @Test func checkPrintsThePlainPasswordWarning() throws {
        let path = try temporaryFile(Self.yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try runVimana(["check", path])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stderr == "\(path):3:15: warning: \(Self.warning)\n")
        #expect(check.stdout.contains("  - name: alice\n") && check.stdout.contains("    # password_hashes: 1 (not shown)\n"))
        for text in [check.stdout, check.stderr] {
            #expect(!text.contains(Self.plain) && !text.contains(Self.digest))
        }
        let dry = try runVimana(["serve", "--config", path, "--dry-run"])
        #expect(dry.status == 0 && dry.stderr == check.stderr && dry.stdout == check.stdout)
    }

    @Test func serveLogsThePlainPasswordWarningAtStart() throws {
        let server = try ServerProcess(config: Self.yaml, logLevel: "info")
        // Logged before `listening`, which ServerProcess waited for.
        #expect(server.log.contains(#""level":"warn","event":"configuration warning","at":""#), "log:\n\(server.log)")
        #expect(server.log.contains(#":3:15","warning":"\#(Self.warning)"#), "log:\n\(server.log)")
        #expect(!server.log.contains(Self.plain) && !server.log.contains(Self.digest))
        #expect(server.terminate() == 0)
    }
}
