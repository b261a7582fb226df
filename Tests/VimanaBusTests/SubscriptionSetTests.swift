import Testing
@testable import VimanaBus

@Suite struct SubscriptionSetTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func keepsSubscriptionOrderThroughRemovalsAndCompaction() {
        var set = SubscriptionSet()
        for i in 0..<1000 { let added = set.insert(bytes("c\(i)")); #expect(added) }
        let again = set.insert(bytes("c5"))
        #expect(!again)
        // Removing most of them compacts the storage; the order of the rest holds.
        for i in 0..<1000 where i % 10 != 3 { let removed = set.remove(bytes("c\(i)")); #expect(removed) }
        let gone = set.remove(bytes("c0"))
        #expect(!gone)
        #expect(set.count == 100)
        #expect(set.elements == (0..<1000).filter { $0 % 10 == 3 }.map { bytes("c\($0)") })
        #expect(Array(set) == set.elements)
        #expect(set.contains(bytes("c13")) && !set.contains(bytes("c14")))
        // A name removed and added again goes to the end.
        let moved = set.remove(bytes("c3")) && set.insert(bytes("c3"))
        #expect(moved)
        #expect(set.elements.last == bytes("c3"))
        let all = set.removeAll()
        #expect(all.count == 100)
        #expect(set.isEmpty && set.elements.isEmpty)
    }
}

@Suite struct PatternTableIndexTests {
    @Test func removalKeepsEveryOtherPatternFindable() {
        var t = PatternTable()
        defer { t.release() }
        let patterns = (0..<500).map { Array("p:\($0):*".utf8) }
        for p in patterns { let added = t.insert(7, p); #expect(added) }
        // Each removal moves the last entry into the hole: its index must follow.
        for (i, p) in patterns.enumerated() where i % 3 == 0 { let removed = t.remove(7, p); #expect(removed) }
        for (i, p) in patterns.enumerated() {
            #expect(t.subscriberCount(p) == (i % 3 == 0 ? 0 : 1))
            let added = t.insert(8, p)
            #expect(added)
        }
        for (i, p) in patterns.enumerated() { #expect(t.subscriberCount(p) == (i % 3 == 0 ? 1 : 2)) }
        #expect(t.count == 500)
    }
}
