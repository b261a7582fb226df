import Testing
import VimanaLedger
@testable import VimanaAgents

/// The timer heap behind ack_wait and NACK delays.
@Suite struct TimerHeapTests {
    let group = ConsumerGroup(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: .zero)

    @Test func timersComeOutInDueOrderThenPushOrder() {
        var heap = TimerHeap()
        let dues: [Int64] = [50, 10, 30, 10, 70, 30, 10]
        for (k, due) in dues.enumerated() {
            heap.push(due: due, group: group, id: StreamID(ms: UInt64(k), seq: 0), stamp: 0) { _ in true }
        }
        #expect(heap.earliest == 10)
        #expect(heap.popDue(now: 9) == nil, "nothing is due before 10")
        var out: [UInt64] = []
        while let t = heap.popDue(now: 100) { out.append(t.id.ms) }
        // Due 10: pushed 1st, 3rd, 6th; due 30: 2nd, 5th; then 50, 70.
        #expect(out == [1, 3, 6, 2, 5, 0, 4])
        #expect(heap.earliest == nil)
    }

    @Test func onlyWhatIsDueComesOut() {
        var heap = TimerHeap()
        for due in [5, 15, 25] as [Int64] {
            heap.push(due: due, group: group, id: StreamID(ms: UInt64(due), seq: 0), stamp: 0) { _ in true }
        }
        #expect(heap.popDue(now: 16)?.due == 5)
        #expect(heap.popDue(now: 16)?.due == 15)
        #expect(heap.popDue(now: 16) == nil)
        #expect(heap.count == 1)
    }

    /// Timers of tasks acknowledged long before they are due do not pile up:
    /// the heap stays within twice what is live (plus the floor).
    @Test func staleTimersAreDroppedAsTheHeapGrows() {
        var heap = TimerHeap()
        var live: Set<UInt64> = []
        var largest = 0
        for k in 0..<100_000 as Range<UInt64> {
            // One task in a thousand is still held; the rest were acknowledged.
            if k % 1000 == 0 { live.insert(k) }
            heap.push(due: Int64(k), group: group, id: StreamID(ms: k, seq: 0), stamp: 0) { live.contains($0.id.ms) }
            largest = max(largest, heap.count)
        }
        #expect(largest <= 2 * (live.count + TimerHeap.compactionFloor), "\(largest) timers for \(live.count) live tasks")
        // Order survives compaction: the live ones come out first to last.
        var out: [UInt64] = []
        while let t = heap.popDue(now: .max) {
            if live.contains(t.id.ms) { out.append(t.id.ms) }
        }
        #expect(out == live.sorted())
    }
}

/// The ordered list of an instance's tasks.
@Suite struct HeldTasksTests {
    let g = ConsumerGroup(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: .zero)
    let h = ConsumerGroup(topic: Array("u".utf8), name: Array("g".utf8), lastDelivered: .zero)

    func ids(_ held: HeldTasks) -> [UInt64] { held.all.map(\.id.ms) }

    @Test func removalsKeepTheOrderOfDeadlines() {
        var held = HeldTasks()
        for n in 1...100 as ClosedRange<UInt64> {
            held.append(HeldTask(group: n % 2 == 0 ? g : h, id: StreamID(ms: n, seq: 0), due: Int64(n)))
        }
        // In order, as most acknowledgements come: the first each time.
        for n in 1...60 as ClosedRange<UInt64> {
            let removed = held.remove(n % 2 == 0 ? g : h, StreamID(ms: n, seq: 0))
            #expect(removed && held.first?.id.ms == n + 1)
        }
        let wrongGroup = held.remove(g, StreamID(ms: 61, seq: 0))
        #expect(!wrongGroup, "61 is in the other group")
        let outOfOrder = held.remove(g, StreamID(ms: 70, seq: 0))
        #expect(outOfOrder)
        held.restart(h, StreamID(ms: 61, seq: 0), due: 1000)  // PROGRESS
        #expect(held.count == 39)
        #expect(ids(held) == Array(62...69) + Array(71...100) + [61])
        held.removeAll(of: h)
        #expect(ids(held) == (62...100).filter { $0 % 2 == 0 && $0 != 70 })
        #expect(held.first?.due == 62)
    }
}
