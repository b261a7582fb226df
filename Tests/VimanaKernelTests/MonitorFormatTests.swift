import Testing
import VimanaCore
@testable import VimanaKernel

/// MONITOR's feed line as Redis 7.0.15 writes it (`sdscatrepr` quoting, the
/// timestamp's six digits), which arguments it redacts, and which commands
/// it never shows (Kernel+Monitor.swift).
@Suite struct MonitorFormatTests {
    func line(_ args: [String], seconds: Int = 1733333333, micros: Int = 5, redacted: Set<Int> = []) -> String {
        let words = args.map { Array($0.utf8) }
        var b = ByteBuffer(capacity: 64)
        defer { b.release() }
        let storage = words.map { w -> UnsafeMutableBufferPointer<UInt8> in
            let p = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(w.count, 1))
            _ = p.initialize(from: w)
            return p
        }
        defer { storage.forEach { $0.deallocate() } }
        Kernel.writeMonitorLine(&b, seconds: seconds, microseconds: micros, address: "127.0.0.1:5555", count: words.count,
                                redacted: { redacted.contains($0) },
                                argument: { UnsafeBufferPointer(rebasing: storage[$0][0..<words[$0].count]) })
        return String(decoding: b.unreadBytes, as: UTF8.self)
    }

    @Test func lineIsTimestampAddressAndQuotedArguments() {
        #expect(line(["PUBLISH", "a", "b"]) == "+1733333333.000005 [0 127.0.0.1:5555] \"PUBLISH\" \"a\" \"b\"\r\n")
        #expect(line(["PING"], micros: 999_999) == "+1733333333.999999 [0 127.0.0.1:5555] \"PING\"\r\n")
        #expect(line(["ECHO", ""]) == "+1733333333.000005 [0 127.0.0.1:5555] \"ECHO\" \"\"\r\n")
        #expect(line(["AUTH", "u", "p"], redacted: [1, 2])
                == "+1733333333.000005 [0 127.0.0.1:5555] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n")
    }

    @Test func argumentsAreQuotedAsSdscatrepr() {
        let text = line(["x", "a\\b\"c\n\r\t\u{7}\u{8} ~\u{0}\u{1f}\u{7f}é"])
        #expect(text.hasSuffix(#""x" "a\\b\"c\n\r\t\a\b ~\x00\x1f\x7f\xc3\xa9""# + "\r\n"), "\(text)")
    }

    func redacted(_ args: [String]) -> [Int] {
        let command: Command = args[0].lowercased() == "auth" ? .auth : .hello
        return Kernel.redactedArguments(command, args.map { Array($0.utf8) }).sorted()
    }

    @Test func authIsRedactedWhole() {
        #expect(redacted(["AUTH", "secret"]) == [1])
        #expect(redacted(["AUTH", "user", "secret"]) == [1, 2])
        // Redis 7.0.15 shows these in clear (its syntax check comes first).
        #expect(redacted(["AUTH", "a", "b", "c"]) == [1, 2, 3])
    }

    @Test func helloRedactsTheCredentialsAfterAuth() {
        #expect(redacted(["HELLO"]) == [])
        #expect(redacted(["HELLO", "3"]) == [])
        #expect(redacted(["HELLO", "3", "AUTH", "u", "p"]) == [3, 4])
        #expect(redacted(["HELLO", "3", "auth", "u", "p", "SETNAME", "n"]) == [3, 4])
        #expect(redacted(["HELLO", "3", "SETNAME", "auth", "AUTH", "u", "p"]) == [5, 6])
        #expect(redacted(["HELLO", "3", "SETNAME", "n", "AUTH", "u", "p", "BAD"]) == [5, 6])
        // Malformed, where Redis 7.0.15 shows them: all after an AUTH go.
        #expect(redacted(["HELLO", "x", "AUTH", "u", "p"]) == [3, 4])
        #expect(redacted(["HELLO", "3", "AUTH", "u"]) == [3])
        #expect(redacted(["HELLO", "3", "BAD", "AUTH", "u", "p"]) == [4, 5])
        #expect(redacted(["HELLO", "3", "SETNAME"]) == [])
    }

    @Test func adminCommandsAndUnresolvedSubcommandsAreHidden() {
        let client = CommandTable.spec(.client).subcommands
        let index = { (name: String) in client.firstIndex { $0.name == name } ?? -1 }
        #expect(Kernel.hiddenFromMonitors(.monitor, subcommand: -1))
        #expect(Kernel.hiddenFromMonitors(.shutdown, subcommand: -1))
        #expect(!Kernel.hiddenFromMonitors(.publish, subcommand: -1))
        #expect(!Kernel.hiddenFromMonitors(.auth, subcommand: -1))
        #expect(Kernel.hiddenFromMonitors(.client, subcommand: index("client|list")))
        #expect(Kernel.hiddenFromMonitors(.client, subcommand: index("client|kill")))
        #expect(Kernel.hiddenFromMonitors(.client, subcommand: index("client|no-evict")))
        #expect(!Kernel.hiddenFromMonitors(.client, subcommand: index("client|id")))
        #expect(!Kernel.hiddenFromMonitors(.client, subcommand: index("client|reply")))
        #expect(Kernel.hiddenFromMonitors(.client, subcommand: -1))
    }
}
