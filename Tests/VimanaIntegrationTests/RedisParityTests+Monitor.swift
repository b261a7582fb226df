import Foundation
import Testing
import VimanaTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// MONITOR, CLIENT REPLY, CLIENT KILL and CLIENT NO-EVICT (issue 14 §4)
/// against redis-server 7.0.15: the same bytes to both servers, every
/// connection's bytes compared, with a monitor's timestamps and the
/// connections' ports (and CLIENT IDs) replaced by names.
///
/// CLIENT REPLY OFF takes the replies a PING sentinel would need, so these
/// cases are run with a monitor of their own as the clock: each step ends
/// with `ECHO sync-<n>` on its connection, the step is over when the
/// monitor shows that ECHO ran (MONITOR shows commands whose replies were
/// dropped), and a fence (a command on the monitor that is not fed to
/// monitors, CLIENT KILL of no one, waited for) makes sure the loop pass
/// that wrote the step's replies has ended: then every connection's bytes
/// are read without waiting.
@Suite(.serialized) struct RedisParityMonitorTests {
    /// A connection, its bytes (`{addrK}`, `{idK}` and `{portS}` stand for
    /// connection K's address and CLIENT ID and the server's port), and
    /// the monitor line that ends the step instead of the sync ECHO (for a
    /// step that closes its connection, `"QUIT"`, or leaves it where an ECHO
    /// is refused or would be skipped), "" for a step that ends when the
    /// server closes its connection, or nil.
    typealias Step = (Int, String, String?)

    static let cases: [(String, [Step])] = [
        ("monitor shows what ran, quoted as sdscatrepr", [
            (0, "MONITOR\r\n", nil),
            (1, "PING\r\n" + RawClient.command(["ECHO", "a\n\"\\\u{1}\u{ff} é\t\r\u{7}\u{8}\u{7f}~"]) + "PUBLISH ch m\r\nECHO \"\"\r\n", nil),
            (1, "NOSUCH a\r\nPUBLISH a\r\nCLIENT NOSUCH\r\nCLIENT ID x\r\nXLEN\r\nCLIENT GETNAME\r\nCLIENT SETNAME n\r\nXLEN s\r\n", nil),
            // Admin commands are never shown.
            (1, "CLIENT KILL ID 99999\r\nCLIENT NO-EVICT on\r\nMONITOR\r\n", nil),
            (1, "ECHO monitor-too\r\n", nil),
            (0, "PING\r\nMONITOR\r\nECHO own\r\n", nil),
            (2, "QUIT\r\n", "\"QUIT\""),
        ]),
        ("auth and hello auth are redacted", [
            (0, "MONITOR\r\n", nil),
            (1, "AUTH secret\r\nAUTH someone secret\r\nHELLO 2 AUTH default secret\r\nHELLO 2 AUTH default secret SETNAME n\r\n", nil),
            (1, "HELLO 2 SETNAME n AUTH someone secret\r\nHELLO 2\r\nAUTH\r\n", nil),
        ]),
        ("transactions as redis feeds them", [
            (0, "MONITOR\r\n", nil),
            (1, "MULTI\r\nPUBLISH x y\r\nPING\r\nCLIENT KILL ID 99999\r\nEXEC\r\n", nil),
            (1, "EXEC\r\nDISCARD\r\nMULTI\r\nPUBLISH\r\nEXEC\r\nMULTI\r\nPING\r\nDISCARD\r\n", nil),
            (1, "MULTI\r\nMONITOR\r\nECHO x\r\nEXEC\r\nPING\r\n", nil),
            (0, "MULTI\r\nMONITOR\r\nEXEC\r\n", nil),
        ]),
        ("a monitor runs commands, reset ends it", [
            (0, "MONITOR\r\n", nil),
            (0, "SUBSCRIBE x\r\nPING\r\n", "\"PING\""),
            (1, "PUBLISH x m\r\n", nil),
            (0, "UNSUBSCRIBE\r\nRESET\r\n", nil),
            (1, "PING\r\nPUBLISH x m\r\n", nil),
            (0, "MONITOR\r\nQUIT\r\n", "\"QUIT\""),
            (1, "PING\r\n", nil),
        ]),
        ("refused commands are not shown", [
            (0, "MONITOR\r\n", nil),
            (1, "ACL SETUSER mon-limited on >pw +@all -publish ~* &*\r\nAUTH mon-limited pw\r\nPUBLISH a b\r\nXLEN s\r\n", nil),
            (2, "SUBSCRIBE c\r\nECHO refused\r\nXLEN s\r\nUNSUBSCRIBE\r\n", nil),
            (2, "MULTI\r\nXLEN\r\nNOSUCH\r\nEXEC\r\n", nil),
            (1, "AUTH default x\r\nACL DELUSER mon-limited\r\n", nil),
        ]),
        ("client reply on, off and skip", [
            (0, "CLIENT REPLY\r\nCLIENT REPLY MAYBE\r\nCLIENT REPLY ON x\r\nCLIENT REPLY ON\r\nCLIENT REPLY OFF\r\n", nil),
            (0, "PING\r\nNOSUCH\r\nCLIENT REPLY MAYBE\r\nPUBLISH\r\n", nil),
            (0, "CLIENT REPLY ON\r\nPING\r\nCLIENT REPLY SKIP\r\nPING\r\nPING\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nECHO a\r\nECHO b\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nECHO b\r\n", nil),
            (0, "CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nECHO a\r\nECHO b\r\nCLIENT REPLY ON\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\nNOSUCH\r\nECHO b\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\n", "\"CLIENT\" \"REPLY\" \"SKIP\""),
            (0, "PING\r\n", nil),
        ]),
        ("client reply inside multi", [
            (0, "MULTI\r\nCLIENT REPLY OFF\r\nEXEC\r\nPING\r\nCLIENT REPLY ON\r\n", nil),
            (0, "MULTI\r\nCLIENT REPLY SKIP\r\nPING\r\nEXEC\r\nPING\r\nPING\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\nMULTI\r\nPING\r\nEXEC\r\n", nil),
        ]),
        ("pub/sub frames pass client reply off and skip", [
            (0, "CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPSUBSCRIBE p*\r\nPING\r\n", "\"PING\""),
            (1, "PUBLISH ch m1\r\nPUBLISH px m2\r\n", nil),
            // RESP2's subscribed context refuses CLIENT: still off.
            (0, "CLIENT REPLY ON\r\nPING\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nCLIENT REPLY ON\r\n", nil),
            (0, "CLIENT REPLY OFF\r\nSUBSCRIBE a b\r\nUNSUBSCRIBE a\r\nPING\r\nUNSUBSCRIBE\r\nCLIENT REPLY ON\r\n", nil),
            (0, "HELLO 3\r\n", nil),
            (0, "CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPUBLISH ch self\r\nPING\r\n", nil),
            (1, "PUBLISH ch m3\r\n", nil),
            (0, "CLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\n", "\"CLIENT\" \"REPLY\" \"SKIP\""),
            (1, "PUBLISH ch m4\r\n", nil),
            (0, "PING\r\nPING\r\n", nil),
            (0, "CLIENT REPLY OFF\r\nRESET\r\nPING\r\nCLIENT REPLY SKIP\r\nRESET\r\nPING\r\n", nil),
        ]),
        ("a monitor's feed is a reply to client reply", [
            (0, "MONITOR\r\nCLIENT REPLY OFF\r\n", nil),
            (1, "PING\r\n", nil),
            (0, "CLIENT REPLY ON\r\n", nil),
            (0, "CLIENT REPLY SKIP\r\n", "\"CLIENT\" \"REPLY\" \"SKIP\""),
            (1, "ECHO unseen\r\n", nil),
            (0, "PING\r\n", nil),
            (1, "ECHO seen\r\n", nil),
        ]),
        ("client kill filters", [
            (0, "CLIENT KILL 1.2.3.4:5\r\nCLIENT KILL ID\r\nCLIENT KILL ID 0\r\nCLIENT KILL ID -1\r\nCLIENT KILL ID abc\r\n"
                + "CLIENT KILL ID 99999999999999999999\r\nCLIENT KILL ID 99999\r\nCLIENT KILL USER nosuch\r\n", nil),
            (0, "CLIENT KILL USER default SKIPME maybe\r\nCLIENT KILL TYPE bogus\r\nCLIENT KILL TYPE master\r\n"
                + "CLIENT KILL TYPE replica\r\nCLIENT KILL TYPE slave\r\nCLIENT KILL FOO bar\r\nCLIENT KILL ADDR 1.2.3.4:5\r\n"
                + "CLIENT KILL LADDR 1.2.3.4:5\r\nCLIENT KILL ADDR 1.2.3.4:5 ID\r\nCLIENT KILL SKIPME YES ID 1\r\n"
                + "CLIENT KILL USER nosuch ID abc\r\nCLIENT KILL ID abc USER nosuch\r\nCLIENT KILL USER\r\n", nil),
            (0, "ACL SETUSER mon-kill on >pw +@all ~* &*\r\n", nil), (3, "PING\r\n", nil), (4, "PING\r\n", nil),
            (1, "AUTH mon-kill pw\r\n", nil), (2, "AUTH mon-kill pw\r\nSUBSCRIBE x\r\n", "\"SUBSCRIBE\" \"x\""),
            (0, "CLIENT KILL USER mon-kill TYPE normal ADDR {addr2}\r\nCLIENT KILL USER mon-kill TYPE pubsub ID {id1}\r\n"
                + "CLIENT KILL USER mon-kill TYPE pubsub LADDR 127.0.0.1:{portS}\r\n", nil),
            (1, "PING\r\n", nil),
            (0, "CLIENT KILL {addr1}\r\nCLIENT KILL {addr1}\r\nCLIENT KILL USER default ID {id3}\r\n", nil),
            (0, "CLIENT KILL USER default\r\nCLIENT KILL ID {id0}\r\nCLIENT KILL ID {id0} SKIPME no\r\n", ""),
        ]),
        ("client no-evict", [
            (0, "CLIENT NO-EVICT\r\nCLIENT NO-EVICT on\r\nCLIENT NO-EVICT OFF\r\nCLIENT NO-EVICT maybe\r\nCLIENT NO-EVICT on x\r\n", nil),
            (0, "CLIENT REPLY OFF\r\nCLIENT NO-EVICT on\r\nCLIENT REPLY ON\r\n", nil),
        ]),
    ]

    @Test(arguments: cases.map(\.0))
    func sameBytesAsRedis(name: String) throws {
        let steps = try #require(Self.cases.first { $0.0 == name }).1
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try Self.run(steps, port: redis.port)
        let actual = try Self.run(steps, port: vimana.port)
        #expect(actual == expected, "\(name)\nredis:  \(expected.map(visible))\nvimana: \(actual.map(visible))")
        // The cases prove something only if the monitor saw them.
        #expect(expected.contains { $0.hasPrefix("[monitor]") })
    }

    /// CLIENT LIST's flags for a monitor (`O`), a connection with NO-EVICT
    /// on (`e`), both after RESET, and the TYPE a monitor counts as: the
    /// lines differ in fields Redis 7.0 lacks, so only `flags=` and the
    /// count of each TYPE's lines are compared.
    @Test func clientListFlagsAsRedis() throws {
        func flags(port: Int) throws -> [String] {
            let monitor = try RawClient(port: port)
            let other = try RawClient(port: port)
            monitor.send("MONITOR\r\n")
            guard monitor.read(matching: "+OK\r\n") == "+OK\r\n" else { throw TestFailure("MONITOR refused") }
            other.send("CLIENT NO-EVICT on\r\n")
            _ = other.readReplies()
            var seen: [String] = []
            for command in ["CLIENT INFO", "CLIENT LIST", "CLIENT LIST TYPE normal", "CLIENT LIST TYPE pubsub"] {
                other.send(command + "\r\n")
                let text = other.readReplies()
                let found = text.split(separator: "\n").compactMap { line in
                    line.split(separator: " ").first { $0.hasPrefix("flags=") }.map(String.init)
                }
                seen.append(command + ": " + found.joined(separator: ","))
            }
            // The monitor was fed CLIENT INFO: its RESET's reply comes after that.
            monitor.send("RESET\r\n")
            _ = try Self.readMonitor(monitor, until: "+RESET\r\n")
            other.send("RESET\r\nCLIENT LIST\r\n")
            let afterReset = other.readReplies(2)
            seen.append("after RESET: " + afterReset.split(separator: "\n").compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("flags=") }.map(String.init)
            }.joined(separator: ","))
            return seen
        }
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try flags(port: redis.port)
        let actual = try flags(port: vimana.port)
        #expect(actual == expected, "redis: \(expected)\nvimana: \(actual)")
        #expect(expected.contains("CLIENT LIST: flags=O,flags=e"), "\(expected)")
    }

    /// A read that blocks under CLIENT REPLY SKIP or OFF: its reply, when
    /// an XADD serves it, is the one dropped (Redis resets a blocked client
    /// once it is served), and the command after it replies.
    @Test func clientReplyAndABlockedRead() throws {
        func transcript(port: Int) throws -> [String] {
            let reader = try RawClient(port: port)
            let writer = try RawClient(port: port)
            func waitBlocked() throws {
                let deadline = Date().addingTimeInterval(RawClient.replyTimeout)
                while true {
                    writer.send("INFO clients\r\n")
                    if writer.readReplies().contains("blocked_clients:1\r\n") { return }
                    guard Date() < deadline else { throw TestFailure("the XREAD never blocked") }
                }
            }
            var seen: [String] = []
            reader.send("CLIENT REPLY SKIP\r\nXREAD BLOCK 0 STREAMS bs $\r\nPING\r\n")
            try waitBlocked()
            writer.send("XADD bs 5-1 f v\r\n")
            seen.append(writer.readReplies())
            seen.append(try Self.readMonitor(reader, until: "+PONG\r\n"))
            reader.send("CLIENT REPLY OFF\r\nXREAD BLOCK 0 STREAMS bs $\r\nCLIENT REPLY ON\r\nPING\r\n")
            try waitBlocked()
            writer.send("XADD bs 6-1 f v\r\n")
            seen.append(writer.readReplies())
            seen.append(try Self.readMonitor(reader, until: "+PONG\r\n"))
            return seen
        }
        let redis = try RedisProcess()
        let vimana = try ServerProcess(logLevel: "info")
        let expected = try transcript(port: redis.port)
        let actual = try transcript(port: vimana.port)
        #expect(actual == expected, "redis: \(expected.map(visible))\nvimana: \(actual.map(visible))")
        #expect(expected == ["$3\r\n5-1\r\n", "+PONG\r\n", "$3\r\n6-1\r\n", "+OK\r\n+PONG\r\n"])
    }

    // MARK: - The runner

    /// Runs `steps`; returns per step what each connection received
    /// (`[k] …`, the clock monitor's as `[monitor] …`), then which
    /// connections the server closed.
    static func run(_ steps: [Step], port: Int) throws -> [String] {
        let count = (steps.map(\.0).max() ?? 0) + 1
        let clients = try (0..<count).map { _ in try RawClient(port: port) }
        var names: [(String, String)] = []
        // IDs are named only where a case uses them: a small one could be any argument.
        let namesIDs = steps.contains { $0.1.contains("{id") }
        var substitutions: [(String, String)] = [("{portS}", String(port))]
        for (k, c) in clients.enumerated() {
            c.send("CLIENT ID\r\n")
            let reply = c.readReplies()
            guard reply.hasPrefix(":"), let id = Int(reply.dropFirst().prefix { $0.isNumber }) else {
                throw TestFailure("CLIENT ID: \(visible(reply))")
            }
            let address = "127.0.0.1:\(localPort(c.fd))"
            substitutions += [("{addr\(k)}", address), ("{id\(k)}", String(id))]
            names.append((address, "{addr\(k)}"))
            if namesIDs { names.append(("\"\(id)\"", "\"{id\(k)}\"")) }
        }
        // The clock acts as a user of its own, so CLIENT KILL USER default spares it.
        let clock = try RawClient(port: port)
        names.append(("127.0.0.1:\(localPort(clock.fd))", "{clock}"))
        clock.send("ACL SETUSER parity-clock on nopass +@all ~* &*\r\nAUTH parity-clock x\r\nMONITOR\r\n")
        let ready = clock.readReplies(3)
        guard ready == "+OK\r\n+OK\r\n+OK\r\n" else { throw TestFailure("clock: \(visible(ready))") }
        var closed = Set<Int>()
        var transcript: [String] = []
        var monitorText = ""
        func normalized(_ text: String) -> String {
            // HELLO's server name, and every HELLO's id (normalize names the first).
            var out = RedisParityTests.normalize(text)
            out = out.replacingOccurrences(of: "\\$2\r\nid\r\n:[0-9]+\r\n", with: "\\$2\r\nid\r\n:ID\r\n", options: .regularExpression)
            out = out.replacingOccurrences(of: #"\+[0-9]{10}\.[0-9]{6} \[0 "#, with: "+T [0 ", options: .regularExpression)
            for (from, to) in names { out = out.replacingOccurrences(of: from, with: to) }
            return out
        }
        for (n, (k, template, awaited)) in steps.enumerated() {
            var bytes = template
            var line = awaited ?? "\"ECHO\" \"sync-\(n)\""
            for (from, to) in substitutions {
                bytes = bytes.replacingOccurrences(of: from, with: to)
                line = line.replacingOccurrences(of: from, with: to)
            }
            if awaited == nil { bytes += "ECHO sync-\(n)\r\n" }
            clients[k].send(bytes)
            if awaited == "" {
                let text = clients[k].readToEnd()
                guard drain(clients[k]).1 else { throw TestFailure("step \(n): connection \(k) not closed") }
                transcript.append("[\(k)] step \(n): " + normalized(text))
                closed.insert(k)
            } else {
                monitorText += try readMonitor(clock, until: line + "\r\n")
            }
            clock.send("CLIENT KILL ID 999999999\r\n")
            _ = try readMonitor(clock, until: ":0\r\n")
            transcript.append("[monitor] " + normalized(monitorText))
            monitorText = ""
            for (i, c) in clients.enumerated() where !closed.contains(i) {
                let (text, eof) = drain(c)
                if !text.isEmpty { transcript.append("[\(i)] step \(n): " + normalized(text)) }
                if eof { closed.insert(i) }
            }
        }
        for i in closed.sorted() { transcript.append("[\(i)] closed") }
        return transcript
    }

    /// Reads the monitor until `suffix` has arrived; returns what came.
    static func readMonitor(_ clock: RawClient, until suffix: String) throws -> String {
        var text = ""
        let deadline = Date().addingTimeInterval(RawClient.replyTimeout)
        while !text.hasSuffix(suffix) {
            guard Date() < deadline else { throw TestFailure("monitor never showed \(visible(suffix)): \(visible(text))") }
            let chunk = clock.read(count: 1)
            if chunk.isEmpty { continue }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return text
    }

    /// What has arrived on `c`, without waiting, and whether it ended.
    static func drain(_ c: RawClient) -> (String, Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(c.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { out += buffer[0..<n]; continue }
            let eof = n == 0 || (n < 0 && errno == ECONNRESET)
            return (String(decoding: out, as: UTF8.self), eof)
        }
    }

    static func localPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
