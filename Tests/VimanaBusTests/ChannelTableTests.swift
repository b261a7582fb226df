import Testing
@testable import VimanaBus

@Suite struct ChannelTableTests {
    func subscribers(_ t: ChannelTable, _ name: String) -> [SubscriberID] {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b in
            guard let (ids, n) = t.subscribers(b.baseAddress ?? ChannelTable.emptyKey, b.count) else { return [] }
            return Array(UnsafeBufferPointer(start: ids, count: n)).sorted()
        }
    }

    @Test func insertLookupRemove() {
        var t = ChannelTable()
        defer { t.release() }
        do { let r = t.insert(1, Array("a".utf8)); #expect(r) }
        do { let r = t.insert(1, Array("a".utf8)); #expect(!r) }
        do { let r = t.insert(2, Array("a".utf8)); #expect(r) }
        do { let r = t.insert(3, Array("".utf8)); #expect(r) }
        #expect(subscribers(t, "a") == [1, 2])
        #expect(subscribers(t, "") == [3])
        #expect(subscribers(t, "b") == [])
        do { let r = t.remove(1, Array("a".utf8)); #expect(r) }
        do { let r = t.remove(1, Array("a".utf8)); #expect(!r) }
        do { let r = t.remove(2, Array("a".utf8)); #expect(r) }
        #expect(t.count == 1)
        #expect(subscribers(t, "a") == [])
    }

    @Test func survivesGrowthAndManyDeletions() {
        var t = ChannelTable()
        defer { t.release() }
        let names = (0..<5000).map { "topic.\($0)" }
        for (i, n) in names.enumerated() { do { let r = t.insert(SubscriberID(i % 7), Array(n.utf8)); #expect(r) } }
        #expect(t.count == 5000)
        for (i, n) in names.enumerated() where i % 2 == 0 { do { let r = t.remove(SubscriberID(i % 7), Array(n.utf8)); #expect(r) } }
        #expect(t.count == 2500)
        // Backward-shift deletion must keep every survivor reachable.
        for (i, n) in names.enumerated() {
            #expect(subscribers(t, n) == (i % 2 == 0 ? [] : [SubscriberID(i % 7)]))
        }
        var seen = 0
        t.forEach { _, count in seen += count }
        #expect(seen == 2500)
    }
}

@Suite struct PatternTableTests {
    @Test func matchingPatternsAreReported() {
        var t = PatternTable()
        defer { t.release() }
        do { let r = t.insert(1, Array("tasks.*".utf8)); #expect(r) }
        do { let r = t.insert(2, Array("tasks.*".utf8)); #expect(r) }
        do { let r = t.insert(3, Array("events.*".utf8)); #expect(r) }
        #expect(t.count == 2)
        var hits: [String: [SubscriberID]] = [:]
        let channel = Array("tasks.civic".utf8)
        channel.withUnsafeBufferPointer { b in
            t.forEachMatch(b.baseAddress!, b.count) { p, ids, n in
                hits[String(decoding: p, as: UTF8.self)] = Array(UnsafeBufferPointer(start: ids, count: n)).sorted()
            }
        }
        #expect(hits == ["tasks.*": [1, 2]])
        do { let r = t.remove(1, Array("tasks.*".utf8)); #expect(r) }
        do { let r = t.remove(2, Array("tasks.*".utf8)); #expect(r) }
        #expect(t.count == 1)
    }
}
