import Foundation
import Synchronization
import Testing
import VimanaConfig
import VimanaCore
@testable import VimanaLedger

/// Format version 3 (Protocol/LEDGER.md §3): every record says where it was
/// first published, here (no origin) or on another kernel of a federation
/// (its node id and the record's sequence there, Protocol/FEDERATION.md §4);
/// every reader reads frames of versions 1, 2 and 3, one by one.
@Suite(.serialized) struct OriginTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func record(_ sequence: UInt64, topic: String = "orders", payload: String, publisher: String = "",
                origin: [UInt8] = [], originSequence: UInt64 = 0) -> LedgerRecord {
        LedgerRecord(sequence: sequence, id: StreamID(ms: 1000 + sequence, seq: 0), timestampMicros: Int64(sequence) * 1000,
                     clientID: origin.isEmpty ? 7 : 0, topic: bytes(topic), clientName: origin.isEmpty ? bytes("web") : [],
                     publisher: bytes(publisher), origin: origin, originSequence: originSequence,
                     fields: [.init(name: bytes("payload"), value: bytes(payload))])
    }

    /// Records with and without an origin, on two topics; one origin not UTF-8.
    func sample(first: UInt64 = 1) -> [LedgerRecord] {
        [record(first, payload: "local", publisher: "alice"),
         record(first + 1, payload: "remote", publisher: "bob", origin: bytes("node-b"), originSequence: 42),
         record(first + 2, topic: "events", payload: "elsewhere", origin: bytes("node-c"), originSequence: 7),
         record(first + 3, payload: "odd", origin: [0x6E, 0xFF, 0x00], originSequence: UInt64.max),
         record(first + 4, topic: "events", payload: "mine", publisher: "carol")]
    }

    func encode(_ records: [LedgerRecord], layout: RecordLayout = .current) -> [UInt8] {
        var b = ByteBuffer(capacity: 64)
        defer { b.release() }
        for r in records { RecordCodec.append(r, to: &b, layout: layout) }
        return Array(UnsafeRawBufferPointer(start: b.readPointer, count: b.readableBytes))
    }

    func decode(_ raw: [UInt8], count: Int, first: UInt64, layout: RecordLayout, only: [UInt8]? = nil) throws -> [LedgerRecord] {
        try raw.withUnsafeBytes { r in
            try RecordCodec.decode(r.baseAddress!, r.count, count: count, firstSequence: first, layout: layout, only: only)
        }
    }

    // MARK: - Records

    @Test func versionThreeRecordsRoundTripWithAndWithoutAnOrigin() throws {
        #expect(RecordLayout.current == .v3 && FrameHeader.version == 3)
        let records = sample()
        let raw = encode(records)
        #expect(try decode(raw, count: 5, first: 1, layout: .v3) == records)
        // A read of one topic passes over the others' origins on their lengths.
        #expect(try decode(raw, count: 5, first: 1, layout: .v3, only: bytes("orders")) == records.filter { $0.topic == bytes("orders") })
        #expect(try decode(raw, count: 5, first: 1, layout: .v3, only: bytes("events")).map(\.origin) == [bytes("node-c"), []])

        // The exact bytes of LEDGER.md §3, written by hand: after the
        // publisher, the origin's length and bytes, then its sequence.
        func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian, Array.init) }
        func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        var body = u64(2) + u64(1002) + u64(0) + u64(2000) + u64(0)
        body += u32(6) + bytes("orders") + u32(0) + u32(3) + bytes("bob")
        body += u32(6) + bytes("node-b") + u64(42)
        body += u32(1) + u32(7) + bytes("payload") + u32(6) + bytes("remote")
        #expect(body.count == 68 + 6 + 0 + 3 + 6 + (8 + 7 + 6))
        #expect(encode([records[1]]) == u32(body.count) + body)
        // A local record: an empty origin and sequence 0, twelve bytes more than version 2.
        #expect(encode([records[0]]).count == encode([records[0]], layout: .v2).count + 12)

        // The older layouts have no room for the origin: read back without it.
        let v2 = try decode(encode(records, layout: .v2), count: 5, first: 1, layout: .v2)
        #expect(v2.map(\.origin).allSatisfy(\.isEmpty) && v2.map(\.originSequence).allSatisfy { $0 == 0 })
        #expect(v2.map(\.publisher) == records.map(\.publisher))
        // A frame's version says the layout: read in another, the records do not parse.
        #expect(throws: RecordCodec.DecodeError.self) { try decode(raw, count: 5, first: 1, layout: .v2) }
        #expect(throws: RecordCodec.DecodeError.self) { try decode(encode(records, layout: .v2), count: 5, first: 1, layout: .v3) }

        // Through a frame: the header says version 3.
        let encoder = try FrameEncoder(level: 6)
        let frame = try raw.withUnsafeBytes { r in
            Array(try encoder.encode(records: r.baseAddress!, length: r.count, count: 5, firstSequence: 1))
        }
        let header = try frame.withUnsafeBytes { try FrameHeader.decode($0.baseAddress!).get() }
        #expect(header.layout == .v3)
        let decoded = try frame.withUnsafeBytes { f in
            try FrameDecoder().records(header, data: f.baseAddress! + FrameHeader.size)
        }
        #expect(decoded == records)
    }

    /// Compaction empties a removed record (LEDGER.md §9): it keeps its
    /// header, its origin and origin sequence included, and loses its fields.
    @Test func emptyingARemovedRecordKeepsItsOrigin() throws {
        let records = sample()
        var b = ByteBuffer(capacity: 64)
        defer { b.release() }
        for r in records { RecordCodec.append(r, to: &b) }
        var cuts = RemovalCuts()
        cuts.byTopic[bytes("orders")] = (floor: 2, deleted: [4])
        #expect(cuts.empty(&b, from: 0, count: 5, layout: .v3))
        let back = try RecordCodec.decode(b.readPointer, b.readableBytes, count: 5, firstSequence: 1, layout: .v3)
        var want = records
        want[0].fields = []
        want[3].fields = []
        #expect(back == want)
        #expect(back[3].origin == [0x6E, 0xFF, 0x00] && back[3].originSequence == UInt64.max)
    }

    // MARK: - Every reader

    /// One segment with frames of versions 1, 2 and 3 (with and without an
    /// origin), as a ledger written by older servers and then this one holds:
    /// the offline reader, the verifier, a backup, the server's own reads
    /// and the Python reader each read every frame by its own version.
    @Test func aSegmentOfVersionOneTwoAndThreeFramesIsReadByEveryReader() throws {
        let dir = temporaryDirectory()
        let encoder = try FrameEncoder(level: 6)
        func frame(_ raw: [UInt8], count: Int, first: UInt64, layout: RecordLayout) throws -> [UInt8] {
            try raw.withUnsafeBytes { r in
                Array(try encoder.encode(records: r.baseAddress!, length: r.count, count: count, firstSequence: first, layout: layout))
            }
        }
        let v1 = (1...2).flatMap { LedgerLifecycleTests.versionOneRecord(sequence: $0, ms: 900 + $0, topic: "orders", payload: "v1 \($0)") }
        let v2 = [record(3, payload: "v2", publisher: "alice"), record(4, topic: "events", payload: "v2 too", publisher: "bob")]
        let v3 = sample(first: 5)
        var segment = try frame(v1, count: 2, first: 1, layout: .v1)
        segment += try frame(encode(v2, layout: .v2), count: 2, first: 3, layout: .v2)
        segment += try frame(encode(v3), count: 5, first: 5, layout: .v3)
        _ = FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(1), contents: Data(segment))
        #expect(try LedgerLifecycleTests.frameVersions(dir + "/" + LedgerDirectory.segmentName(1)) == [1, 2, 3])
        let want = (try decode(v1, count: 2, first: 1, layout: .v1)) + v2 + v3

        func offline(_ directory: String) throws -> [LedgerRecord] {
            let reader = try OfflineReader(directory: directory)
            try reader.refresh()
            var got: [LedgerRecord] = []
            guard case .end = reader.read({ got += $0 }) else { Issue.record("\(directory): not read to its end"); return got }
            return got
        }
        #expect(try offline(dir) == want)
        #expect(try offline(dir).map(\.originSequence) == [0, 0, 0, 0, 0, 42, 7, UInt64.max, 0])
        let verified = try OfflineVerifier.verify(directory: dir)
        #expect(verified.errors.isEmpty && verified.records == 9, "\(verified.findings)")

        // A backup copies the frames as they are.
        let copy = temporaryDirectory() + "/backup"
        let backup = try OfflineBackup.backup(directory: dir, to: copy, pointerFiles: [])
        #expect(backup.verification.errors.isEmpty)
        #expect(try offline(copy) == want)

        // The server reads them (a start, a read of each topic) and appends version 3 after them.
        let loop = TestLoop()
        var config = LedgerConfig(dir: dir)
        config.fsync = .always
        let ledger = Ledger(config: config)
        #expect(try ledger.open(notify: loop.notify).records == 9)
        let orders = ledger.range(topic: bytes("orders"), from: .zero, to: .max, count: 100)
        #expect(orders == want.filter { $0.topic == bytes("orders") })
        #expect(ledger.range(topic: bytes("events"), from: .zero, to: .max, count: 100) == want.filter { $0.topic == bytes("events") })
        ledger.publish("orders", "new", now: 5000)
        ledger.commit()
        #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        ledger.close()
        #expect(try LedgerLifecycleTests.frameVersions(dir + "/" + LedgerDirectory.segmentName(1)) == [1, 2, 3, 3])

        // The Python reader, written from LEDGER.md alone.
        let rows = try Self.pythonDump(dir)
        #expect(rows.count == 10)
        #expect(rows.map { $0["origin"] as? String } == [nil, nil, nil, nil, nil, "node-b", "node-c", "n\u{FFFD}\u{0}", nil, nil])
        #expect(rows.map { ($0["origin_seq"] as? NSNumber)?.uint64Value } == [nil, nil, nil, nil, nil, 42, 7, UInt64.max, nil, nil])
        #expect(rows.map { $0["publisher"] as? String } == [nil, nil, "alice", "bob", "alice", "bob", nil, nil, "carol", "tester"])
    }

    /// `vimana ledger repair` keeps the frames after a damaged stretch byte
    /// for byte, in a segment of their own: their records keep their origin.
    @Test func repairKeepsTheOriginOfTheFramesItKeeps() throws {
        let dir = temporaryDirectory()
        let encoder = try FrameEncoder(level: 6)
        func frame(_ records: [LedgerRecord], layout: RecordLayout = .current) throws -> [UInt8] {
            try encode(records, layout: layout).withUnsafeBytes { r in
                Array(try encoder.encode(records: r.baseAddress!, length: r.count, count: records.count,
                                         firstSequence: records[0].sequence, layout: layout))
            }
        }
        let records = sample()
        // A sealed segment: a version 2 frame, garbage, a version 3 frame with origins; then the active one.
        let sealed = try frame([records[0]], layout: .v2) + Array(repeating: 0xAB, count: 100) + frame(Array(records[1...3]))
        _ = FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(1), contents: Data(sealed))
        _ = FileManager.default.createFile(atPath: dir + "/" + LedgerDirectory.segmentName(5), contents: Data(try frame([records[4]])))
        #expect(try !OfflineVerifier.verify(directory: dir).errors.isEmpty)
        let outcome = try OfflineRepair.repair(directory: dir)
        #expect(outcome.repaired == 1, "\(outcome.lines)")
        #expect(try OfflineVerifier.verify(directory: dir).errors.isEmpty)
        let reader = try OfflineReader(directory: dir)
        try reader.refresh()
        var got: [LedgerRecord] = []
        _ = reader.read { got += $0 }
        #expect(got == records)
        #expect(got[1].origin == bytes("node-b") && got[1].originSequence == 42)
    }

    // MARK: - Federated records

    /// A record appended as received from another kernel keeps its origin
    /// and origin sequence through a restart (recovery reads it back from
    /// the file) and through compaction (which rewrites its frame).
    @Test func aFederatedRecordSurvivesARestartAndCompactionWithItsOrigin() throws {
        let dir = temporaryDirectory()
        let loop = TestLoop()
        func open(segmentBytes: Int? = nil) throws -> Ledger {
            var config = LedgerConfig(dir: dir)
            config.fsync = .always
            if let segmentBytes { config.segmentBytes = segmentBytes }
            let ledger = Ledger(config: config, tailBytes: 0)
            _ = try ledger.open(notify: loop.notify)
            return ledger
        }
        func federated(_ ledger: Ledger, _ payload: String, origin: String, sequence: UInt64) {
            let topic = bytes("orders"), value = bytes(payload), node = bytes(origin), user = bytes("bob")
            topic.withUnsafeBytes { t in
                value.withUnsafeBytes { v in
                    node.withUnsafeBytes { o in
                        user.withUnsafeBytes { u in
                            _ = ledger.append(topic: t, id: .auto, client: .federated(origin: o, originSequence: sequence, user: u),
                                              nowMillis: 2000 + sequence, nowMicros: Int64(2000 + sequence) * 1000) {
                                $0.add(name: "payload", value: v)
                            }
                        }
                    }
                }
            }
        }
        var ledger = try open()
        // Frames of their own (a commit each), stored, so that compaction has something to merge.
        for k in 0..<6 {
            if k % 2 == 0 {
                ledger.publish("orders", "local order \(k), local order, local order", now: 2000 + UInt64(k))
            } else {
                federated(ledger, "remote order \(k), remote order, remote order", origin: "node-b", sequence: 100 + UInt64(k))
            }
            ledger.commit()
            #expect(loop.pump { ledger.durableSequence == ledger.nextSequence })
        }
        func check(_ ledger: Ledger, _ when: String) {
            let orders = ledger.range(topic: bytes("orders"), from: .zero, to: .max, count: 100)
            #expect(orders.map(\.origin) == (0..<6).map { $0 % 2 == 0 ? [] : bytes("node-b") }, "\(when)")
            #expect(orders.map(\.originSequence) == [0, 101, 0, 103, 0, 105], "\(when)")
            #expect(orders.map(\.publisher) == (0..<6).map { bytes($0 % 2 == 0 ? "tester" : "bob") }, "\(when)")
            #expect(orders.map(\.clientID) == [7, 0, 7, 0, 7, 0] && orders[1].clientName.isEmpty, "\(when)")
        }
        check(ledger, "as appended")
        ledger.close()

        ledger = try open()
        check(ledger, "after a restart")
        // A scan of the ledger's records (LEDGER SCAN's, for a reader in the server) tells the origin too;
        // its entries go to `encode` on the reader thread.
        let scanned = Mutex<[ScanEntry]?>(nil)
        let now = ledger.scan(from: 1, count: 100, encode: { result in
            scanned.withLock { $0 = result.entries }
            return ByteBuffer(capacity: 16)
        }) { _, reply in reply?.release() }
        if let now { scanned.withLock { $0 = now.entries } }
        #expect(loop.pump { scanned.withLock { $0 != nil } })
        let entries = scanned.withLock { $0 } ?? []
        #expect(entries.map(\.origin) == (0..<6).map { $0 % 2 == 0 ? [] : bytes("node-b") })
        #expect(entries.map(\.originSequence) == [0, 101, 0, 103, 0, 105])
        // A read on the reader thread (XRANGE's from the files) hands them over whole.
        let read = Mutex<[LedgerRecord]>([])
        var readResult: BackgroundReadResult?
        #expect(ledger.readInBackground(topic: bytes("orders"), from: .zero, to: .max, count: 100, reverse: false,
                                        visit: { r in read.withLock { $0.append(r) }; return true }) { readResult = $0 })
        #expect(loop.pump { readResult != nil })
        #expect(read.withLock { $0 } == ledger.range(topic: bytes("orders"), from: .zero, to: .max, count: 100))
        #expect(read.withLock { $0.map(\.originSequence) } == [0, 101, 0, 103, 0, 105])
        ledger.close()
        let path = dir + "/" + LedgerDirectory.segmentName(1)
        #expect(try LedgerLifecycleTests.frameVersions(path) == Array(repeating: 3, count: 6))

        // Reopened with a small segment_bytes: the next append seals the segment, and compaction rewrites it.
        ledger = try open(segmentBytes: 1)
        ledger.publish("events", "sealing", now: 3000)
        ledger.commit()
        #expect(loop.pump { ledger.segmentCount == 2 && ledger.segments[0].index.compacted })
        #expect(try LedgerLifecycleTests.frameVersions(path) == [3])
        check(ledger, "after compaction")
        ledger.close()

        // The Python reader prints the origin.
        let rows = try Self.pythonDump(dir)
        #expect(rows.map { $0["origin"] as? String } == [nil, "node-b", nil, "node-b", nil, "node-b", nil])
        #expect(rows.map { ($0["origin_seq"] as? NSNumber)?.intValue } == [nil, 101, nil, 103, nil, 105, nil])
        let text = try Self.python(["dump", dir])
        #expect(text.split(separator: "\n")[1].hasSuffix(" orders @node-b:101 payload=\"remote order 1, remote order, remote order\""), "\(text)")
    }

    // MARK: - The Python reader

    /// `vimana_ledger.py ARGS`: its stdout; fails the test on another exit status than 0.
    static func python(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("tools/ledger/vimana_ledger.py").path] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(String(decoding: problem, as: UTF8.self))")
        return String(decoding: data, as: UTF8.self)
    }

    /// `vimana_ledger.py dump --json DIR`, one object per record.
    static func pythonDump(_ dir: String) throws -> [[String: Any]] {
        try python(["dump", "--json", dir]).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}
