import Foundation
import Testing

/// Every integer argument of every command, given the values that break
/// naive arithmetic, gets an answer and leaves the server up. The list of
/// integer arguments comes from the server's own COMMAND DOCS (the command
/// table): a command or argument added there without a case here fails the
/// test, so a new number cannot be forgotten.
@Suite struct ExtremeValueTests {
    static let config = """
        agents:
          - id: worker
            subscribes: ["w"]
        """

    /// 0, ±1, the 64-bit bounds and one past them, 2^64, 10^20, the first
    /// millisecond count whose nanoseconds overflow, and what is not a
    /// decimal integer at all.
    static let values = ["0", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                         "-9223372036854775809", "18446744073709551616", "100000000000000000000", "9223372036855",
                         "abc", "", "+1", "1.5", "0x10", "-0", "007"]

    /// Where each integer argument goes. `{}` is the value, `{n}` a number
    /// unique to the case; `then` are commands that use what was stored.
    struct Case {
        var command: String
        var argument: String
        var template: String
        var then: [String] = []
        var asAgent = false
    }

    static let cases: [Case] = [
        Case(command: "hello", argument: "protover", template: "HELLO {}"),
        Case(command: "select", argument: "index", template: "SELECT {}"),
        Case(command: "client|list", argument: "client-id", template: "CLIENT LIST ID {}"),
        Case(command: "client|kill", argument: "client-id", template: "CLIENT KILL ID {} SKIPME yes"),
        Case(command: "xrange", argument: "count", template: "XRANGE t - + COUNT {}"),
        Case(command: "xadd", argument: "count", template: "XADD trimmed MAXLEN ~ 1 LIMIT {} * f v", then: ["XLEN trimmed"]),
        Case(command: "xsetid", argument: "entries-added", template: "XSETID nokey 1-1 ENTRIESADDED {}"),
        Case(command: "xtrim", argument: "count", template: "XTRIM trimmed MAXLEN ~ 0 LIMIT {}", then: ["XLEN trimmed"]),
        Case(command: "xrevrange", argument: "count", template: "XREVRANGE t + - COUNT {}"),
        Case(command: "xread", argument: "count", template: "XREAD COUNT {} STREAMS t 0"),
        Case(command: "xread", argument: "milliseconds", template: "XREAD BLOCK {} STREAMS t $"),
        Case(command: "xreadgroup", argument: "count", template: "XREADGROUP GROUP g c COUNT {} STREAMS t 0"),
        Case(command: "xreadgroup", argument: "milliseconds", template: "XREADGROUP GROUP g c BLOCK {} STREAMS t >"),
        Case(command: "xgroup|create", argument: "entries-read", template: "XGROUP CREATE t g{n} $ ENTRIESREAD {}",
             then: ["XADD t * f v", "XREADGROUP GROUP g{n} c STREAMS t >", "XINFO GROUPS t"]),
        Case(command: "xgroup|setid", argument: "entries-read", template: "XGROUP SETID t g 1-2 ENTRIESREAD {}",
             then: ["XINFO GROUPS t", "XADD t * f v", "XREADGROUP GROUP g c COUNT 1 STREAMS t >", "XINFO GROUPS t"]),
        Case(command: "xpending", argument: "min-idle-time", template: "XPENDING t g IDLE {} - + 10"),
        Case(command: "xpending", argument: "count", template: "XPENDING t g - + {}"),
        Case(command: "xclaim", argument: "min-idle-time", template: "XCLAIM t g c {} 1-1"),
        Case(command: "xclaim", argument: "ms", template: "XCLAIM t g c 0 1-1 IDLE {}",
             then: ["XPENDING t g - + 10", "XINFO CONSUMERS t g"]),
        Case(command: "xclaim", argument: "unix-time-milliseconds", template: "XCLAIM t g c 0 1-1 TIME {}",
             then: ["XPENDING t g - + 10", "XAUTOCLAIM t g c 0 0"]),
        Case(command: "xclaim", argument: "count", template: "XCLAIM t g c 0 1-1 RETRYCOUNT {}",
             then: ["XCLAIM t g c 0 1-1", "XAUTOCLAIM t g c 0 0", "XPENDING t g - + 10"]),
        Case(command: "xautoclaim", argument: "min-idle-time", template: "XAUTOCLAIM t g c {} 0"),
        Case(command: "xautoclaim", argument: "count", template: "XAUTOCLAIM t g c 0 0 COUNT {}"),
        Case(command: "nack", argument: "delay-ms", template: "NACK w {task} {}", then: ["AGENTS"], asAgent: true),
        Case(command: "acl|log", argument: "count", template: "ACL LOG {}"),
        Case(command: "acl|genpass", argument: "bits", template: "ACL GENPASS {}"),
        Case(command: "ledger|scan", argument: "count", template: "LEDGER SCAN 0 COUNT {}"),
        Case(command: "scan", argument: "cursor", template: "SCAN {}", then: ["XADD t * f v", "SCAN 0"]),
        Case(command: "scan", argument: "count", template: "SCAN 0 COUNT {}", then: ["XADD t * f v", "SCAN 0"]),
        Case(command: "memory|usage", argument: "count", template: "MEMORY USAGE t SAMPLES {}"),
        Case(command: "slowlog|get", argument: "count", template: "SLOWLOG GET {}"),
    ]

    /// "command argument" for every argument COMMAND DOCS types `integer`,
    /// subcommands as `container|sub`.
    static func integerArguments(_ docs: RESP) -> Set<String> {
        func pairs(_ v: RESP) -> [(String, RESP)] {
            guard case .array(let a) = v else { return [] }
            return stride(from: 0, to: a.count - 1, by: 2).compactMap { i in
                guard case .bulk(let k) = a[i] else { return nil }
                return (k, a[i + 1])
            }
        }
        var found = Set<String>()
        func walk(_ name: String, _ doc: RESP) {
            for (key, value) in pairs(doc) {
                if key == "arguments", case .array(let args) = value {
                    for arg in args {
                        let fields = Dictionary(pairs(arg), uniquingKeysWith: { a, _ in a })
                        if fields["type"] == .bulk("integer"), case .bulk(let argName)? = fields["name"] {
                            found.insert("\(name) \(argName)")
                        }
                    }
                } else if key == "subcommands" {
                    for (sub, subDoc) in pairs(value) { walk(sub, subDoc) }
                }
            }
        }
        for (name, doc) in pairs(docs) { walk(name, doc) }
        return found
    }

    @Test func everyIntegerArgumentOfEveryCommandSurvivesExtremeValues() throws {
        let server = try ServerProcess(config: Self.config, logLevel: "info")
        let control = try RawClient(port: server.port)
        let reader = RESPReader(control)
        control.send("COMMAND DOCS\r\n")
        let docs = try #require(reader.next())
        let documented = Self.integerArguments(docs)
        let covered = Set(Self.cases.map { "\($0.command) \($0.argument)" })
        let missing = documented.subtracting(covered).sorted(), stale = covered.subtracting(documented).sorted()
        #expect(documented == covered, "integer arguments without a case: \(missing); cases for no documented argument: \(stale)")
        #expect(documented.count >= 20, "COMMAND DOCS lists its integers: \(documented.sorted())")

        control.send("XADD t 1-1 f v\r\nXADD t 1-2 f v\r\nXGROUP CREATE t g 0\r\nXREADGROUP GROUP g c STREAMS t >\r\n")
        for _ in 0..<4 { _ = reader.next() }

        var n = 0
        for c in Self.cases {
            for value in Self.values {
                n += 1
                let answered = try run(c, value: value, n: n, server: server, control: control, controlReader: reader)
                #expect(answered, "no answer to \(c.template) with '\(value)'")
                #expect(server.process.isRunning, "crashed on \(c.template) with '\(value)': \(server.log.suffix(3000))")
                if !server.process.isRunning { return }
            }
        }
        let c = try RawClient(port: server.port)
        c.send("PING\r\n")
        #expect(c.read(matching: "+PONG\r\n") == "+PONG\r\n")
        #expect(server.process.isRunning)
    }

    /// Runs one case on a new connection; true once it answered (a command
    /// that blocks is woken by entries added on the control connection).
    func run(_ c: Case, value: String, n: Int, server: ServerProcess, control: RawClient,
             controlReader: RESPReader) throws -> Bool {
        let client = try RawClient(port: server.port)
        let r = RESPReader(client)
        var task = ""
        if c.asAgent {
            client.send("AGENT JOIN worker\r\n")
            guard r.next() == .simple("OK") else { return false }
            control.send("XADD w * n \(n)\r\n")
            _ = controlReader.next()
            guard let t = r.next(where: { $0.task != nil })?.task else { return false }
            task = t.id
        }
        func words(_ template: String) -> [String] {
            template.split(separator: " ").map { word in
                word == "{}" ? value : String(word).replacingOccurrences(of: "{n}", with: "\(n)")
                    .replacingOccurrences(of: "{task}", with: task)
            }
        }
        var bytes = RawClient.command(words(c.template))
        for t in c.then { bytes += RawClient.command(words(t)) }
        client.send(bytes + "PING\r\n")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            while let v = r.next(timeout: 0.3) {
                if v == .simple("PONG") { return true }
            }
            // Blocked (XREAD[GROUP] BLOCK), as INFO says: an entry wakes it.
            control.send("INFO clients\r\n")
            guard case .bulk(let info)? = controlReader.next(timeout: 10) else { return false }
            if !info.contains("blocked_clients:0\r\n") {
                control.send("XADD t * wake \(n)\r\n")
                _ = controlReader.next()
            }
        }
        return false
    }
}
