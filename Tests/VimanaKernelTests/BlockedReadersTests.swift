import Testing
@testable import VimanaKernel

@Suite struct BlockedReadersTests {
    func wake(_ r: inout BlockedReaders, _ topic: String) {
        Array(topic.utf8).withUnsafeBytes { r.wake($0) }
    }

    @Test func wokenReadersComeOnceInTheOrderTheyBlocked() {
        var r = BlockedReaders()
        let a = Array("a".utf8), b = Array("b".utf8)
        r.add(5, topics: [a], deadline: 0)
        r.add(3, topics: [a, b], deadline: 0)
        r.add(9, topics: [b], deadline: 0)
        r.add(4, topics: [a], deadline: 0)
        r.remove(4)
        #expect(r.count == 3)
        wake(&r, "b")
        wake(&r, "a")
        wake(&r, "a")
        wake(&r, "nobody")
        let ready = r.takeReady()
        #expect(ready == [3, 9, 5])
        let none = r.takeReady()
        #expect(none == [])
        // Served and blocked again: listed once, at the end of its queue.
        r.remove(5)
        r.add(5, topics: [a], deadline: 0)
        wake(&r, "a")
        let again = r.takeReady()
        #expect(again == [3, 5])
        for fd: Int32 in [3, 5, 9] { r.remove(fd) }
        #expect(r.isEmpty && r.nextDeadline == 0)
    }

    @Test func deadlinesComeOffEarliestFirstAndRemovedOnesNever() {
        var r = BlockedReaders()
        let t = Array("t".utf8)
        for fd: Int32 in 1...200 { r.add(fd, topics: [t], deadline: 1_000 - Int64(fd)) }
        r.add(500, topics: [t], deadline: 0)
        for fd: Int32 in 1...150 where fd % 2 == 0 { r.remove(fd) }
        #expect(r.nextDeadline <= 800)
        let expired = r.takeExpired(now: 900)
        var wanted: [Int32] = []
        for fd: Int32 in (100...200).reversed() where fd > 150 || fd % 2 == 1 { wanted.append(fd) }
        #expect(expired == wanted)
        #expect(r.count == 201 - 75)
        let more = r.takeExpired(now: 900)
        #expect(more.isEmpty)
    }
}
