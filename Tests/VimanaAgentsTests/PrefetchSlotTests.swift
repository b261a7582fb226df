import Testing
import VimanaConfig
import VimanaLedger
@testable import VimanaAgents

/// Prefetch slots follow the pending list: whatever moves a task away from
/// an instance frees its slot exactly once.
@Suite struct PrefetchSlotTests {
    func agent(prefetch: Int = 2, ackWait: Int = 1000) -> (AgentRuntime, ConsumerGroup) {
        var config = AgentConfig(id: "w", subscribes: ["t"])
        config.prefetch = prefetch
        config.ackWaitMillis = ackWait
        let a = AgentRuntime(config: config)
        let g = ConsumerGroup(topic: Array("t".utf8), name: Array("w".utf8), lastDelivered: .zero)
        a.attach(g)
        a.join(fd: 10, consumer: Array("A".utf8))
        a.join(fd: 11, consumer: Array("B".utf8))
        return (a, g)
    }

    func id(_ n: UInt64) -> StreamID { StreamID(ms: n, seq: 0) }

    func inFlight(_ a: AgentRuntime) -> [Int] { a.instances.map(\.inFlight) }

    @Test func answersClaimsAndGiveBacksEachFreeTheSlotOnce() throws {
        let (a, g) = agent()
        let A = try #require(g.consumer(Array("A".utf8), nowMillis: 1))
        let B = try #require(g.consumer(Array("B".utf8), nowMillis: 1))
        let reader = try #require(g.consumer(Array("redis-reader".utf8), nowMillis: 1))
        g.deliver(id(1), to: A, nowMillis: 1)
        g.deliver(id(2), to: A, nowMillis: 1)
        #expect(inFlight(a) == [2, 0])
        #expect(a.instanceWithRoom() == 1)
        g.ack(id(1))
        #expect(inFlight(a) == [1, 0])
        g.setEligible(id(2), atMillis: 5)  // NACK, or ack_wait over
        #expect(inFlight(a) == [0, 0])
        g.ack(id(2))  // a late ACK of a task given back: its slot is already free
        #expect(inFlight(a) == [0, 0])
        g.deliver(id(3), to: B, nowMillis: 2)
        g.deliver(id(3), to: reader, nowMillis: 3)  // XCLAIM by a Redis client (no slot)
        #expect(inFlight(a) == [0, 0])
        g.deliver(id(4), to: B, nowMillis: 4)
        g.deliver(id(5), to: B, nowMillis: 4)
        #expect(inFlight(a) == [0, 2])
        g.deleteConsumer(Array("B".utf8))  // XGROUP DELCONSUMER
        #expect(inFlight(a) == [0, 0])
        g.deliver(id(6), to: A, nowMillis: 5)
        a.detach(topic: g.topic)  // XGROUP DESTROY
        #expect(inFlight(a) == [0, 0])
        g.ack(id(6))
        #expect(inFlight(a) == [0, 0], "a detached group no longer counts")
    }

    @Test func aTaskComingBackAvoidsItsLastInstanceWhenAnotherHasRoom() throws {
        let (a, g) = agent(prefetch: 1)
        let A = try #require(g.consumer(Array("A".utf8), nowMillis: 1))
        #expect(a.instanceWithRoom(avoiding: Array("A".utf8)) == 1)
        g.deliver(id(1), to: try #require(g.consumer(Array("B".utf8), nowMillis: 1)), nowMillis: 1)
        #expect(a.instanceWithRoom(avoiding: Array("A".utf8)) == 0, "only A has room: A")
        g.deliver(id(2), to: A, nowMillis: 1)
        #expect(a.instanceWithRoom(avoiding: Array("A".utf8)) == nil)
    }

    /// ack_wait runs on the monotonic clock; PROGRESS (touch) restarts it,
    /// and the timer of the first delivery no longer counts.
    @Test func anExpiredDeliveryComesOutOnceAndProgressRestartsTheClock() throws {
        let (a, g) = agent(ackWait: 1000)
        let A = try #require(g.consumer(Array("A".utf8), nowMillis: 1))
        let start = AgentRuntime.monotonicMillis()
        g.deliver(id(1), to: A, nowMillis: 100)
        #expect(a.nextExpired(now: start - 1) == nil)
        g.touch(id(1), nowMillis: 200)
        let late = AgentRuntime.monotonicMillis() + 1000
        let expired = try #require(a.nextExpired(now: late))
        #expect(expired.1.id == id(1) && expired.1.deliveredAtMillis == 200)
        #expect(a.nextExpired(now: late) == nil, "the first delivery's timer is stale")
        #expect(a.hasDue(now: late) == false)
        // Given back: due now, once; after redelivery its give-back timer is stale.
        g.setEligible(id(1), atMillis: 1)
        #expect(inFlight(a) == [0, 0])
        let back = try #require(a.nextGivenBack(now: AgentRuntime.monotonicMillis()))
        #expect(back.1.id == id(1))
        g.setEligible(id(1), atMillis: 2)
        g.deliver(id(1), to: A, nowMillis: 300)
        #expect(a.nextGivenBack(now: .max) == nil)
        #expect(inFlight(a) == [1, 0])
    }
}
