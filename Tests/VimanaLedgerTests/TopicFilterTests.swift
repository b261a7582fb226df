import Testing
@testable import VimanaLedger

/// `ledger.record` / `ledger.exclude`, and the internal topics no
/// configuration records for clients.
@Suite struct TopicFilterTests {
    static func records(_ filter: TopicFilter, _ topic: String) -> Bool {
        let bytes = Array(topic.utf8)
        return bytes.withUnsafeBytes { filter.records($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, bytes.count) }
    }

    static func filter(exclude: [String], record: [String] = ["*"]) -> TopicFilter {
        TopicFilter(record: record.map { Array($0.utf8) }, exclude: exclude.map { Array($0.utf8) },
                    reserved: Ledger.internalTopicPrefix)
    }

    @Test func internalTopicsAreNeverRecordedForClients() {
        for exclude in [[], ["_*"], ["*"], ["_vimana.*"], ["tmp.*"], ["_v?mana.*"], ["_vim*"]] {
            let f = Self.filter(exclude: exclude)
            for topic in ["_vimana.acl", "_vimana.groups", "_vimana."] {
                #expect(!Self.records(f, topic), "exclude \(exclude), topic \(topic)")
            }
        }
        let f = Self.filter(exclude: [], record: ["_*"])
        #expect(!Self.records(f, "_vimana.acl"))
        #expect(Self.records(f, "_vimana"))
        #expect(Self.records(f, "_other"))
        #expect(Self.records(Self.filter(exclude: ["tmp.*"]), "jobs"))
        #expect(!Self.records(Self.filter(exclude: ["tmp.*"]), "tmp.1"))
    }
}
