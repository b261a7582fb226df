import Foundation
import Testing
import VimanaConfig
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// What the journal writes, a start reads back: groups, consumers, pending
/// entries with their delivery counts and NACK delays, through the records
/// of each change and through snapshots, and the pointer file that finds
/// the latest durable snapshot.
@Suite(.serialized) struct JournalRoundTripTests {
    let topic = Array("jobs".utf8), name = Array("g".utf8)

    /// A group's state as a comparable value.
    func state(_ g: ConsumerGroup?) -> String {
        guard let g else { return "none" }
        let consumers = g.consumers.filter { !$0.deleted }.map { "\(String(decoding: $0.name, as: UTF8.self)):\($0.pending)" }
        let pending = g.pending.map { "\($0.id)@\(String(decoding: g.consumerName($0.consumer), as: UTF8.self))x\($0.deliveries)+\($0.eligibleAtMillis)" }
        return "last=\(g.lastDelivered) read=\(g.entriesRead) consumers=\(consumers) pending=\(pending)"
    }

    /// Changes of every kind the journal records, made through the store.
    func makeChanges(_ bench: AgentsBench) throws -> [StreamID] {
        let ids = (0..<6).map { bench.publish("jobs", "m\($0)") }
        let store = bench.agents.groups
        let g = try #require(store.create(topic: topic, name: name, lastDelivered: .zero, entriesRead: 0))
        _ = store.create(topic: topic, name: Array("gone".utf8), lastDelivered: .zero)
        _ = store.destroy(topic: topic, name: Array("gone".utf8))
        let alice = store.consumer(g, Array("alice".utf8), nowMillis: 1)
        let bob = store.consumer(g, Array("bob".utf8), nowMillis: 1)
        for id in ids.prefix(4) { store.deliver(g, id, to: alice, nowMillis: 2) }
        store.deliver(g, ids[4], to: bob, nowMillis: 3)
        store.deliver(g, ids[1], to: bob, nowMillis: 4)  // a redelivery: count 2, moved to bob
        store.ack(g, ids[0])
        store.ack(g, [ids[2], ids[5]])
        store.giveBack(g, ids[3], atMillis: Int64.max)
        store.advance(g, to: ids[5])
        _ = store.consumer(g, Array("carol".utf8), nowMillis: 5)
        store.deleteConsumer(g, Array("carol".utf8))
        return ids
    }

    @Test func everyChangeReplaysToTheSameGroups() throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        _ = try makeChanges(bench)
        bench.pass()
        let before = state(bench.agents.groups.group(topic, name))
        #expect(before.contains("x2"), "the redelivery is counted")
        // Replay every journal record into an empty store.
        let records = bench.ledger.range(topic: GroupStore.journalTopic, from: .zero, to: .max, count: 1000)
        let store = GroupStore()
        store.replay(records, nowMillis: 0)
        #expect(state(store.group(topic, name)) == before)
        #expect(store.group(topic, Array("gone".utf8)) == nil)
    }

    @Test func aRestartFromASnapshotRebuildsTheSameGroups() throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        _ = try makeChanges(bench)
        bench.pass()
        let before = state(bench.agents.groups.group(topic, name))
        try bench.restart()
        #expect(state(bench.agents.groups.group(topic, name)) == before)
        // The clean stop wrote a snapshot and, once durable, pointed at it.
        let journal = try #require(bench.agents.journal)
        let pointed = try #require(FileIO.readSmallFile(journal.pointerPath))
        let begin = try #require(journal.searchSnapshot())
        #expect(pointed == begin.description + "\n")
        #expect(journal.latestSnapshot() == begin)
        // Changes after the snapshot are replayed on top of it.
        let g = try #require(bench.agents.groups.group(topic, name))
        bench.agents.groups.ack(g, g.pending.map(\.id))
        bench.pass()
        let after = state(g)
        #expect(after.contains("pending=[]"))
        try bench.restart()
        #expect(state(bench.agents.groups.group(topic, name)) == after)
    }

    @Test func aSnapshotIsFoundWithoutItsPointerFile() throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        _ = try makeChanges(bench)
        bench.pass()
        let before = state(bench.agents.groups.group(topic, name))
        try bench.restart()
        let journal = try #require(bench.agents.journal)
        try FileManager.default.removeItem(atPath: journal.pointerPath)
        let begin = try #require(journal.searchSnapshot())
        #expect(journal.latestSnapshot() == begin)
        try bench.restart()
        #expect(state(bench.agents.groups.group(topic, name)) == before)
    }

    @Test func aPointerNamingNoSnapshotIsPassedOver() throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        _ = try makeChanges(bench)
        bench.pass()
        try bench.restart()
        let journal = try #require(bench.agents.journal)
        let begin = try #require(journal.searchSnapshot())
        for text in ["1-0\n", "garbage", "", "18446744073709551616-0\n"] {
            #expect(FileIO.writeSmallFile(journal.pointerPath, text))
            #expect(journal.latestSnapshot() == begin, "'\(text)'")
        }
    }

    /// The pointer file is ours: only `ms-seq` as written and one newline
    /// are trusted. Two snapshots, the pointer naming the older one: read
    /// as written it is used; any other spelling of the same ID (which a
    /// Redis-style reader would accept) is passed over for the search, which
    /// finds the newer one. The first four spellings, and CR LF, the lenient
    /// reader refuses too.
    @Test(arguments: ["12-3x\n", "-1-0\n", "99999999999999999999-0\n", "1-2-3\n",
                      " {}\n", "+{}\n", "{}", "{}\n\n", "{}\njunk", "{}\u{0}junk\n", "{}\r\n", "0{}\n",
                      "{ms}- {seq}\n", "{ms}-+{seq}\n"])
    func aPointerNotAsWrittenIsPassedOver(_ template: String) throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        _ = try makeChanges(bench)
        bench.pass()
        try bench.restart()
        let journal = try #require(bench.agents.journal)
        let older = try #require(journal.searchSnapshot())
        let g = try #require(bench.agents.groups.group(topic, name))
        bench.agents.groups.ack(g, g.pending.map(\.id))
        bench.pass()
        try bench.restart()
        let current = try #require(bench.agents.journal)
        let newer = try #require(current.searchSnapshot())
        #expect(older < newer)
        #expect(FileIO.writeSmallFile(current.pointerPath, older.description + "\n"))
        #expect(current.latestSnapshot() == older, "a pointer as written is used")
        let text = template.replacingOccurrences(of: "{}", with: older.description)
            .replacingOccurrences(of: "{ms}", with: "\(older.ms)").replacingOccurrences(of: "{seq}", with: "\(older.seq)")
        #expect(FileIO.writeSmallFile(current.pointerPath, text))
        #expect(current.latestSnapshot() == newer, "'\(text.debugDescription)'")
    }

    @Test(arguments: [StreamID.zero, StreamID(ms: 1, seq: 0), StreamID(ms: 1_700_000_000_000, seq: 42),
                      StreamID(ms: UInt64.max, seq: UInt64.max)])
    func idsAreWrittenAsTheParserReadsThem(_ id: StreamID) {
        var buffer = [UInt8](repeating: 0, count: 41)
        let n = buffer.withUnsafeMutableBufferPointer { b in b.baseAddress.map { id.write(to: $0) } ?? 0 }
        #expect(String(decoding: buffer[..<n], as: UTF8.self) == id.description)
        #expect(StreamID.parse(bytes: buffer[..<n]) == id)
        #expect(GroupStore.parseIDs(Array("\(id) \(id)".utf8)) == [id, id])
    }
}
