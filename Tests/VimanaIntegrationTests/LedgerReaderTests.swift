import Foundation
import Testing

/// Protocol/LEDGER.md is enough to read the ledger: the standard-library
/// Python reader in tools/ledger decodes what the server wrote, and its
/// records are exactly what the server itself returns.
@Suite struct LedgerReaderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func pythonReaderDecodesWhatTheServerWrote() throws {
        let server = try ServerProcess(logLevel: "info")
        let c = try RawClient(port: server.port)
        c.send("CLIENT SETNAME writer\r\n")
        _ = c.read(count: 5)
        var commands = ""
        for i in 0..<200 {
            commands += RawClient.command(["XADD", "orders", "*", "item", "pen-\(i)", "qty", "\(i)"])
            commands += RawClient.command(["PUBLISH", "events.audit", "{\"n\":\(i),\"bin\":\"\u{1}\"}"])
        }
        commands += RawClient.command(["XADD", "binary", "7-7", "k", "a\r\nb\u{0}c"])
        c.send(commands)
        _ = c.readReplies(2 * 200 + 1)
        // What the server returns for each topic.
        var served: [String] = []
        for topic in ["orders", "events.audit", "binary"] {
            c.send(RawClient.command(["XRANGE", topic, "-", "+"]))
            served.append(c.readReplies())
        }
        #expect(server.terminate() == 0)

        let reader = Self.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", reader, "dump", "--json", server.ledgerDirectory]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 401)
        var byTopic: [String: [(String, [(String, String)])]] = [:]
        var sequences: [Int] = []
        for line in lines {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let topic = try #require(obj["topic"] as? String)
            let id = try #require(obj["id"] as? String)
            sequences.append(try #require(obj["seq"] as? Int))
            #expect(obj["client_name"] as? String == "writer")
            var fields: [(String, String)] = []
            if let map = obj["fields"] as? [String: String] {
                // JSON objects do not keep order: XADD's order is item, qty.
                for key in ["payload", "item", "qty", "k"] { if let v = map[key] { fields.append((key, v)) } }
            }
            byTopic[topic, default: []].append((id, fields))
        }
        #expect(sequences == Array(1...401))
        // Re-encode the reader's records as XRANGE replies and compare with the server's bytes.
        for (k, topic) in ["orders", "events.audit", "binary"].enumerated() {
            let entries = byTopic[topic] ?? []
            var reply = "*\(entries.count)\r\n"
            for (id, fields) in entries {
                reply += "*2\r\n$\(id.utf8.count)\r\n\(id)\r\n*\(fields.count * 2)\r\n"
                for (name, value) in fields {
                    reply += "$\(name.utf8.count)\r\n\(name)\r\n$\(value.utf8.count)\r\n\(value)\r\n"
                }
            }
            #expect(reply == served[k], "\(topic)")
        }
    }

    /// The reader of Protocol/LEDGER.md §7, run as written by
    /// tools/compat/ledger_example.py (extracted from the document itself):
    /// it reads exactly the records `vimana ledger dump --json` prints for a
    /// ledger the server wrote, and raises its `Damage` at the frame where
    /// `vimana ledger verify` finds damage, for each check a frame, a record
    /// and the list of segments must pass. So §7 breaks this test when it
    /// drifts from the format.
    @Test func ledgerDocumentReaderReadsWhatTheServerWroteAndStopsAtDamage() throws {
        let script = Self.root.appendingPathComponent("tools/compat/ledger_example.py").path
        let run = try CompatibilityTests.runTool(["python3", script, "--vimana", ServerProcess.binaryPath], timeout: 300)
        #expect(run.status == 0 && !run.timedOut, """
            ledger_example.py \(run.timedOut ? "timed out" : "exited with status \(run.status)"); its output:
            \(run.output)
            """)
        #expect(run.output.contains("ledger_example: OK: "), "\(run.output)")
    }

    /// `vimana ledger dump --json` and `vimana_ledger.py dump --json` print
    /// the same objects for the same records, timestamps included (RFC 3339,
    /// UTC, microseconds), so either can feed the same tools.
    @Test func bothReadersPrintTheSameJSONTimestamps() throws {
        let server = try ServerProcess(arguments: ["--fsync", "always"], logLevel: "info")
        let c = try RawClient(port: server.port)
        var commands = ""
        for i in 0..<20 { commands += RawClient.command(["XADD", "orders", "*", "item", "pen-\(i)"]) }
        c.send(commands)
        _ = c.read(count: 20 * 17)
        #expect(server.terminate() == 0)

        let swift = try runVimana(["ledger", "dump", server.ledgerDirectory, "--json"])
        #expect(swift.status == 0, "\(swift.stderr)")
        let python = try CompatibilityTests.runTool(
            ["python3", Self.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path, "dump", "--json",
             server.ledgerDirectory], timeout: 60)
        #expect(python.status == 0, "\(python.output)")
        func objects(_ text: String) throws -> [NSDictionary] {
            try text.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary)
            }
        }
        let fromSwift = try objects(swift.stdout), fromPython = try objects(python.output)
        #expect(fromSwift.count == 20)
        #expect(fromSwift == fromPython)
        // Version 2 records: both print the publisher the kernel recorded.
        #expect(fromPython.allSatisfy { $0["publisher"] as? String == "default" }, "\(fromPython.first ?? [:])")
        let ts = try #require(fromPython.first?["ts"] as? String)
        #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil, "\(ts)")
    }

    /// A segment holding frames of versions 1, 2 and 3 (a ledger begun by
    /// older servers), some version 3 records from other kernels (an
    /// origin, LEDGER.md §3), written by tools/ledger/make_fixture.py from
    /// the document alone: `vimana ledger verify` finds it whole, and
    /// `vimana ledger dump` and `vimana_ledger.py dump` print the same lines,
    /// text and JSON, each record read by its frame's version and an origin
    /// shown only where there is one.
    @Test func bothReadersReadFramesOfEveryVersionAndShowTheOrigin() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vimana-versions-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import sys
            sys.path.insert(0, "tools/ledger")
            import make_fixture as mf
            w = mf.LedgerWriter(sys.argv[1], version=1)
            w.append("orders", [("payload", "old")], client_id=3, client_name="web")
            w.commit()
            w.version = 2
            w.append("orders", [("payload", "newer")], client_id=3, publisher="alice")
            w.commit()
            w.version = 3
            w.append("orders", [("payload", "here")], client_id=4, publisher="bob")
            w.append("orders", [("payload", "there"), ("n", "1")], publisher="carol", origin="node-b", origin_seq=42)
            w.append("events", [("payload", "far")], origin="node c", origin_seq=7)
            w.commit()
            w.seal()
            w.append("orders", [("payload", "last")], publisher="dave", origin="node-b", origin_seq=43)
            w.close()
            """
        let made = try CompatibilityTests.runTool(["python3", "-c", script, dir], timeout: 60)
        #expect(made.status == 0, "\(made.output)")
        let verified = try runVimana(["ledger", "verify", dir])
        #expect(verified.status == 0 && verified.stdout.contains("6 records"), "\(verified.stdout)\(verified.stderr)")

        let reader = Self.root.appendingPathComponent("tools/ledger/vimana_ledger.py").path
        let swiftText = try runVimana(["ledger", "dump", dir])
        let pythonText = try CompatibilityTests.runTool(["python3", reader, "dump", dir], timeout: 60)
        #expect(swiftText.status == 0 && pythonText.status == 0, "\(swiftText.stderr)\(pythonText.output)")
        #expect(swiftText.stdout == pythonText.output)
        #expect(swiftText.stdout.split(separator: "\n").map { $0.split(separator: " ").dropFirst(2).joined(separator: " ") } == [
            "orders payload=old", "orders payload=newer", "orders payload=here", "orders @node-b:42 payload=there n=1",
            "events @\"node c\":7 payload=far", "orders @node-b:43 payload=last",
        ])

        let swiftJSON = try runVimana(["ledger", "dump", dir, "--json"])
        let pythonJSON = try CompatibilityTests.runTool(["python3", reader, "dump", "--json", dir], timeout: 60)
        #expect(swiftJSON.status == 0 && pythonJSON.status == 0, "\(swiftJSON.stderr)\(pythonJSON.output)")
        func objects(_ text: String) throws -> [NSDictionary] {
            try text.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary)
            }
        }
        #expect(try objects(swiftJSON.stdout) == objects(pythonJSON.output))
        let rows = try objects(swiftJSON.stdout)
        #expect(rows.map { $0["publisher"] as? String } == [nil, "alice", "bob", "carol", nil, "dave"])
        #expect(rows.map { $0["origin"] as? String } == [nil, nil, nil, "node-b", "node c", "node-b"])
        #expect(rows.map { $0["origin_seq"] as? Int } == [nil, nil, nil, 42, 7, 43])
        #expect(rows.map { $0["client_name"] as? String } == ["web", nil, nil, nil, nil, nil])
    }
}
