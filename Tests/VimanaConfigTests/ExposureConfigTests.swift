import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// `kernel.protected_mode`, `kernel.http_token` and `kernel.http_token_file`:
/// read, checked, and the token never echoed or rendered.
@Suite struct ExposureConfigTests {
    static let token = "0123456789abcdef0123456789abcdef"

    @Test func protectedModeIsOnByDefaultAndTakesYesNo() throws {
        #expect(KernelConfig().protectedMode)
        #expect(try loaded("kernel:\n  protected_mode: no\n").kernel.protectedMode == false)
        #expect(try loaded("kernel:\n  protected_mode: yes\n").kernel.protectedMode)
        #expect(loadError("kernel:\n  protected_mode: maybe\n")?.description
                == "phoenix.yaml:2:19: kernel.protected_mode: expected true or false (or yes/no, on/off), got 'maybe'")
    }

    @Test func tokenIsReadAndNeverRendered() throws {
        let config = try loaded("kernel:\n  http_token: \(Self.token)\n")
        #expect(config.kernel.httpToken == Self.token)
        let text = config.render()
        #expect(!text.contains(Self.token))
        #expect(text.contains("\n  # http_token: set (not shown)\n"))
        #expect(!Configuration().render().contains("http_token"))
    }

    @Test func badTokenIsRejectedWithoutEchoingIt() {
        let expected = "kernel.http_token: expected 16 to 512 visible ASCII characters without spaces (openssl rand -hex 32 makes one)"
        for bad in ["short-token", "\"0123456789abcdef 0123456789\"", String(repeating: "x", count: 513)] {
            let error = loadError("kernel:\n  http_token: \(bad)\n")
            #expect(error?.description == "phoenix.yaml:2:15: " + expected, "for \(bad)")
        }
    }

    @Test func tokenFileGivesItsFirstLine() throws {
        let file = TemporaryFile(Array((Self.token + "\n").utf8))
        defer { file.remove() }
        #expect(try loaded("kernel:\n  http_token_file: \(file.path)\n").kernel.httpToken == Self.token)
        let crlf = TemporaryFile(Array((Self.token + "\r\n").utf8))
        defer { crlf.remove() }
        #expect(try loaded("kernel:\n  http_token_file: \(crlf.path)\n").kernel.httpToken == Self.token)
    }

    @Test func tokenFileProblemsNameTheFileNotTheToken() {
        let twoLines = TemporaryFile(Array((Self.token + "\nsecond\n").utf8))
        defer { twoLines.remove() }
        #expect(loadError("kernel:\n  http_token_file: \(twoLines.path)\n")?.description
                == "phoenix.yaml:2:20: kernel.http_token_file: \(twoLines.path) must hold one line of 16 to 512 visible "
                + "ASCII characters without spaces (openssl rand -hex 32 makes one)")
        #expect(loadError("kernel:\n  http_token_file: /nonexistent/token\n")?.description
                == "phoenix.yaml:2:20: kernel.http_token_file: cannot use '/nonexistent/token': No such file or directory")
        let big = TemporaryFile([UInt8](repeating: 0x61, count: (4 << 10) + 1))
        defer { big.remove() }
        #expect(loadError("kernel:\n  http_token_file: \(big.path)\n")?.description
                == "phoenix.yaml:2:20: kernel.http_token_file: cannot use '\(big.path)': larger than 4KiB")
    }

    /// Read as a user's `password_file` is: a relative path is taken against
    /// the configuration file's directory, and a file other users may read
    /// (or its group write) is refused.
    @Test func tokenFileIsReadAsAPasswordFile() throws {
        let dir = UserPasswordTests.Directory()
        defer { dir.remove() }
        dir.write("token", Self.token + "\n")
        let config = try ConfigLoader.load(yaml: "kernel:\n  http_token_file: token\n", path: dir.config)
        #expect(config.kernel.httpToken == Self.token)
        dir.write("open", Self.token + "\n", mode: 0o644)
        dir.write("groupwrite", Self.token + "\n", mode: 0o620)
        for (name, mode) in [("open", "0644"), ("groupwrite", "0620")] {
            var message = ""
            do throws(ConfigError) {
                _ = try ConfigLoader.load(yaml: "kernel:\n  http_token_file: \(name)\n", path: dir.config)
            } catch {
                message = error.description
            }
            #expect(message == "\(dir.config):2:20: kernel.http_token_file: cannot use '\(dir.path)/\(name)': its mode \(mode)"
                    + " lets other users read or change it; chmod 600 (or 640) it")
            #expect(!message.contains(Self.token))
        }
    }

    @Test func tokenAndTokenFileAreExclusive() {
        #expect(loadError("kernel:\n  http_token: \(Self.token)\n  http_token_file: /t\n")?.description
                == "phoenix.yaml:3:20: kernel.http_token_file: set http_token or http_token_file, not both")
    }
}
