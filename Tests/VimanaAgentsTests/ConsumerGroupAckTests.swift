import Testing
import VimanaLedger
@testable import VimanaAgents

@Suite struct ConsumerGroupAckTests {
    @Test func ackingManyRemovesEachPendingOnceAndKeepsTheRestInOrder() {
        let g = ConsumerGroup(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: .zero)
        let a = g.consumer(Array("a".utf8), nowMillis: 0) ?? -1
        let b = g.consumer(Array("b".utf8), nowMillis: 0) ?? -1
        for i in 1...100 { g.deliver(StreamID(ms: UInt64(i), seq: 0), to: i % 2 == 0 ? a : b, nowMillis: 0) }
        // Unsorted, with duplicates and IDs that are not pending.
        let ids = [50, 3, 50, 200, 1, 100, 2, 99].map { StreamID(ms: UInt64($0), seq: 0) }
        let acked = g.ack(ids)
        #expect(acked == [1, 2, 3, 50, 99, 100].map { StreamID(ms: UInt64($0), seq: 0) })
        #expect(g.pending.map(\.id.ms) == (4...98).filter { $0 != 50 }.map { UInt64($0) })
        #expect(g.consumers[a].pending == 47 && g.consumers[b].pending == 47)
        #expect(g.ack(ids).isEmpty)
        #expect(g.ack([StreamID(ms: 4, seq: 0)]) == [StreamID(ms: 4, seq: 0)])
    }

    @Test func consumersAreFoundByNameAndADeletedOneIsMadeAnew() {
        let g = ConsumerGroup(topic: Array("t".utf8), name: Array("g".utf8), lastDelivered: .zero)
        let first = g.consumer(Array("x".utf8), nowMillis: 0)
        #expect(g.consumer(Array("x".utf8), nowMillis: 0, create: false) == first)
        #expect(g.deleteConsumer(Array("x".utf8)) == 0)
        #expect(g.consumer(Array("x".utf8), nowMillis: 0, create: false) == nil)
        let again = g.consumer(Array("x".utf8), nowMillis: 0)
        #expect(again != first && again == 1)
        #expect(g.liveConsumers.count == 1)
    }
}
