import Foundation
import Testing
import VimanaAgentKit
import VimanaRESP
@testable import VimanaSystemAgents

/// archivist's logic as a function: reads named, then the kernel's replies
/// and the state to events and a reply; export files into memory.
@Suite struct ArchivistLogicTests {
    final class MemorySink: ExportSink, @unchecked Sendable {
        let lock = NSLock()
        var files: [String: [UInt8]] = [:]
        func write(_ name: String, _ bytes: [UInt8]) -> Result<String, ExportSinkError> {
            lock.lock()
            defer { lock.unlock() }
            let path = "/out/" + name
            if let old = files[name] { return old == bytes ? .success(path) : .failure(.exists(path)) }
            files[name] = bytes
            return .success(path)
        }
    }

    let sink = MemorySink()
    var logic: ArchivistLogic { ArchivistLogic(sink: sink) }
    let seg = "00000000000000000001.seg"

    func request(_ action: String, _ args: [String: JSON] = [:]) -> AgentRequest {
        AgentRequest(action: action, id: 1, replyTo: "r", args: args, entryID: "1700000000000-0")
    }

    /// Runs `action` with the kernel answering each read `answer(read)`.
    func run(_ action: String, _ args: [String: JSON] = [:], caller: String = "alice",
             state: ArchivistState = ArchivistState(), _ answer: (KernelRead) -> RESPValue) -> ([KernelRead], AgentOutcome) {
        let r = request(action, args)
        let reads = logic.reads(for: r, caller: caller, state: state)
        var replies: [KernelRead: RESPValue] = [:]
        for read in reads { replies[read] = answer(read) }
        return (reads, logic.handle(r, caller: caller, state: state, kernel: KernelView(replies)))
    }

    @Test func sealNowRunsLedgerSealAsTheCallerAndRecordsTheSegment() {
        let (reads, out) = run("seal_now") { _ in .bulkString(Array(seg.utf8)) }
        #expect(reads == [.command(["LEDGER", "SEAL"], asIf: "alice")])
        #expect(out == .ok(["segment": .string(seg)], events: [AgentEvent("sealed", ["segment": seg])]))
        var state = ArchivistState()
        for e in out.events { logic.apply(e, to: &state) }
        #expect(state.sealed == [seg])
    }

    @Test func theKernelsRefusalsBecomeArchivistsErrorCodes() {
        let (_, refused) = run("seal_now") { _ in .error("NOPERM This user has no permissions to run the 'ledger|seal' command") }
        #expect(refused.events.isEmpty)
        #expect(refused.reply == .error(code: "forbidden", message: "the caller may not run LEDGER SEAL: NOPERM This user has no permissions to run the 'ledger|seal' command"))
        let (_, empty) = run("seal_now") { _ in .error("ERR the active segment is empty: nothing to seal") }
        #expect(empty.reply == .error(code: "empty", message: "the active segment is empty: nothing to seal"))
        let (_, missing) = run("restore", ["segment": .string(seg)]) { _ in .error("ERR no archived segment '\(seg)'") }
        #expect(missing.reply == .error(code: "not_found", message: "no archived segment '\(seg)'") && missing.events.isEmpty)
        let (_, again) = run("restore", ["segment": .string(seg)]) { _ in .error("ERR segment '\(seg)' is already restored") }
        #expect(again.reply == .error(code: "exists", message: "segment '\(seg)' is already restored"))
        let (_, none) = run("list_archives") { _ in .error("ERR the ledger has no archive (set ledger.archive_dir)") }
        #expect(none.reply == .error(code: "no_archive", message: "the ledger has no archive (set ledger.archive_dir)"))
    }

    @Test func archiveNowRecordsWhatRetired() {
        let names = ["00000000000000000001.seg", "00000000000000000009.seg"]
        let (reads, out) = run("archive_now") { _ in .array(names.map { .bulkString(Array($0.utf8)) }) }
        #expect(reads == [.command(["LEDGER", "RETAIN"], asIf: "alice")])
        #expect(out == .ok(["segments": .array(names.map(JSON.string))],
                           events: [AgentEvent("archived", ["segments": names.joined(separator: ",")])]))
        var state = ArchivistState()
        for e in out.events { logic.apply(e, to: &state) }
        #expect(state.archived == names)
        let (_, nothing) = run("archive_now") { _ in .array([]) }
        #expect(nothing == .ok(["segments": []]))
    }

    @Test func listAndVerifyAnswerFromMapsInBothProtocols() {
        let record: [RESPValue] = [.bulkString(Array("name".utf8)), .bulkString(Array(seg.utf8)),
                                   .bulkString(Array("bytes".utf8)), .integer(120),
                                   .bulkString(Array("first-sequence".utf8)), .integer(1)]
        let expected: JSON = ["archives": [["name": .string(seg), "bytes": 120, "first_sequence": 1]]]
        let (_, resp2) = run("list_archives") { _ in .array([.array(record)]) }
        #expect(resp2 == .ok(expected))
        let (_, resp3) = run("list_archives") { _ in .array([.map([(record[0], record[1]), (record[2], record[3]), (record[4], record[5])])]) }
        #expect(resp3 == .ok(expected))
        let verified: [RESPValue] = [.bulkString(Array("segment".utf8)), .bulkString(Array(seg.utf8)),
                                     .bulkString(Array("frames".utf8)), .integer(1), .bulkString(Array("records".utf8)), .integer(2),
                                     .bulkString(Array("errors".utf8)), .array([.bulkString(Array("bad crc".utf8))]),
                                     .bulkString(Array("warnings".utf8)), .array([])]
        let (reads, v) = run("verify_archive", ["segment": .string(seg)]) { _ in .array(verified) }
        #expect(reads == [.command(["LEDGER", "VERIFY", seg], asIf: "alice")])
        #expect(v == .ok(["segment": .string(seg), "frames": 1, "records": 2, "errors": ["bad crc"], "warnings": [], "whole": false]))
    }

    @Test func segmentNamesAndArgumentsAreCheckedBeforeAnythingIsSent() {
        for bad: JSON in ["../x", "00000000000000000001.idx", "0000000000000000001.seg", 5, "/00000000000000000001.seg"] {
            let (reads, out) = run("restore", ["segment": bad]) { _ in .simpleString("OK") }
            #expect(reads.isEmpty, "\(bad)")
            #expect(out.reply == .error(code: "bad_argument", message: "segment must be a segment file name: 20 digits and .seg, as list_archives names them"))
        }
        let (reads, extra) = run("seal_now", ["force": true]) { _ in .simpleString("OK") }
        #expect(reads.isEmpty && extra.reply == .error(code: "bad_argument", message: "unknown argument 'force' (none taken)"))
        let (_, unknown) = run("compact") { _ in .null }
        #expect(unknown.reply == .error(code: "unknown_action", message: "unknown action 'compact' (\(ArchivistLogic.actions.joined(separator: ", ")))"))
        for (args, message) in [(["topic": JSON.string("t"), "file": ".hidden"], "file must be a file name"),
                                (["topic": "t", "file": "a/b"], "file must be a file name"),
                                (["topic": "t", "limit": 0], "limit must be an integer from 1 to 10000"),
                                (["from": 1], "topic must be a non-empty string"),
                                (["topic": "t", "from": 9, "to": 3], "from must not be after to")] as [([String: JSON], String)] {
            let (reads, out) = run("export", args) { _ in .null }
            #expect(reads.isEmpty)
            guard case .error(let code, let m) = out.reply else { Issue.record("\(args): \(out)"); continue }
            #expect(code == "bad_argument" && m.hasPrefix(message), "\(args): \(m)")
        }
    }

    func entry(_ id: String, _ fields: [(String, String)]) -> RESPValue {
        .array([.bulkString(Array(id.utf8)), .array(fields.flatMap { [.bulkString(Array($0.0.utf8)), .bulkString(Array($0.1.utf8))] })])
    }

    @Test func exportWritesACompressedFileAndSaysWhereToResume() throws {
        let entries = [entry("5-0", [("payload", "hello"), ("_publisher", "bob")]), entry("6-0", [("a", "1"), ("_publisher", "bob")]),
                       entry("7-0", [("b", "2"), ("_publisher", "bob")])]
        let (reads, out) = run("export", ["topic": "orders", "from": "5-0", "limit": 2]) { read in
            read.arguments[0] == "ACL" ? .simpleString("OK") : .array(entries)
        }
        #expect(reads == [.command(["ACL", "DRYRUN", "alice", "LEDGER", "RESTORE", "00000000000000000001.seg"]),
                          .command(["XRANGE", "orders", "5", "+", "COUNT", "3"], asIf: "alice")])
        let name = "export-1700000000000-0.vxz"
        let bytes = try #require(sink.files[name])
        #expect(out == .ok(["topic": "orders", "path": .string("/out/" + name), "entries": 2, "first": "5-0", "last": "6-0",
                            "next": "7-0", "bytes": .int(Int64(bytes.count))],
                           events: [AgentEvent("exported", ["topic": "orders", "path": "/out/" + name, "entries": "2",
                                                            "first": "5-0", "last": "6-0"])]))
        let text = String(decoding: try #require(Deflate.decompress(bytes)), as: UTF8.self)
        #expect(text == #"{"entries":2,"first":"5-0","format":"vimana-export","last":"6-0","topic":"orders","version":1}"# + "\n"
                + #"{"fields":[["payload","hello"]],"id":"5-0","publisher":"bob"}"# + "\n"
                + #"{"fields":[["a","1"]],"id":"6-0","publisher":"bob"}"# + "\n")
        // Delivered again: the same file, the same answer; another content under that name is refused.
        let (_, again) = run("export", ["topic": "orders", "from": "5-0", "limit": 2]) { read in
            read.arguments[0] == "ACL" ? .simpleString("OK") : .array(entries)
        }
        #expect(again == out)
        let (_, clash) = run("export", ["topic": "orders", "limit": 1]) { read in
            read.arguments[0] == "ACL" ? .simpleString("OK") : .array(entries)
        }
        #expect(clash.reply == .error(code: "exists", message: "/out/\(name) exists with other content: choose another file"))
    }

    @Test func exportIsRefusedToACallerThatMayNotWriteFilesOrReadTheTopic() {
        let (_, files) = run("export", ["topic": "orders"]) { read in
            read.arguments[0] == "ACL" ? .bulkString(Array("This user has no permissions to run the 'ledger|restore' command".utf8)) : .array([])
        }
        #expect(files.reply == .error(code: "forbidden", message: "export writes a file where the server runs: only a caller that may run"
                                      + " LEDGER RESTORE may ask it (This user has no permissions to run the 'ledger|restore' command)"))
        let (_, topic) = run("export", ["topic": "orders"]) { read in
            read.arguments[0] == "ACL" ? .simpleString("OK") : .error("NOPERM this user has no permissions to access one of the keys used as arguments")
        }
        guard case .error(let code, _) = topic.reply else { Issue.record("\(topic)"); return }
        #expect(code == "forbidden" && sink.files.isEmpty)
    }

    @Test func stateIsRebuiltFromItsEvents() {
        var state = ArchivistState()
        for e in [AgentEvent("sealed", ["segment": seg]), AgentEvent("archived", ["segments": "a.seg,b.seg"]),
                  AgentEvent("restored", ["segment": seg, "path": "/r/" + seg]), AgentEvent("exported", ["path": "/out/x"]),
                  AgentEvent("unknown", [:])] {
            logic.apply(e, to: &state)
        }
        var expected = ArchivistState()
        expected.sealed = [seg]
        expected.archived = ["a.seg", "b.seg"]
        expected.restored = [seg: "/r/" + seg]
        expected.exported = ["/out/x"]
        #expect(state == expected)
    }
}
