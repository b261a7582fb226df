import Testing
import VimanaCore
import VimanaLedger
@testable import VimanaAgents

/// The journal's records are a file format (Protocol/AGENTS.md §2): IDs as
/// `ms-seq` in decimal, lists separated by one space, counts in decimal with
/// a `-` sign. Pinned byte for byte, so a change of writer cannot change
/// what older and newer versions read.
@Suite(.serialized) struct JournalFormatTests {
    @Test func aRecordIsWrittenAsTheDocumentedText() throws {
        let bench = try AgentsBench([])
        defer { bench.close() }
        let journal = try #require(bench.agents.journal)
        let written = journal.append(JournalRecord(
            op: "pending", topic: Array("t".utf8), group: Array("g".utf8), consumer: Array("c".utf8),
            id: StreamID(ms: .max, seq: .max), countName: "entries-read", count: .min,
            ids: [.zero, StreamID(ms: 1_700_000_000_000, seq: 42), StreamID(ms: 9, seq: 10)], counts: [2, 0, -3]))
        let id = try #require(written)
        bench.ledger.commit()
        let record = try #require(bench.ledger.range(topic: GroupStore.journalTopic, from: id, to: id, count: 1).first)
        let fields = record.fields.map { "\(String(decoding: $0.name, as: UTF8.self))=\(String(decoding: $0.value, as: UTF8.self))" }
        #expect(fields == ["op=pending", "topic=t", "group=g", "consumer=c", "id=18446744073709551615-18446744073709551615",
                           "entries-read=-9223372036854775808", "ids=0-0 1700000000000-42 9-10", "counts=2 0 0"])
    }
}
