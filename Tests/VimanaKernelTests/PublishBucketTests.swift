import Testing
@testable import VimanaKernel
import VimanaConfig

/// The per-user publish allowance (UserAccount.swift): a token bucket per
/// quantity, one second's burst, charges that run into debt, and the wait
/// until a tenth of the burst is back.
@Suite struct PublishBucketTests {
    static let second: Int64 = 1_000_000_000

    /// Within a nanosecond (the rates are kept per ns in floating point).
    static func near(_ a: Int64, _ b: Int64) -> Bool { abs(a - b) <= 1 }

    @Test func noLimitsNoBucket() {
        #expect(PublishBucket(messagesPerSecond: nil, bytesPerSecond: nil, nowNanos: 0) == nil)
        #expect(PublishBucket(messagesPerSecond: 0, bytesPerSecond: nil, nowNanos: 0) == nil)
    }

    @Test func aBurstOfOneSecondThenDebt() throws {
        var b = try #require(PublishBucket(messagesPerSecond: 500, bytesPerSecond: nil, nowNanos: 0))
        var debts = 0
        for _ in 0..<500 where b.charge(payload: 1_000_000, nowNanos: 0) { debts += 1 }
        #expect(debts == 0, "the burst is 500 messages, whatever their size")
        let short = b.resumeDelay(nowNanos: 0)
        #expect(Self.near(short, Self.second / 10), "already short of a tenth of the burst: \(short)")
        let owes = b.charge(payload: 1, nowNanos: 0)
        #expect(owes, "the 501st owes a token")
        // 1 owed + 50 to get back: 51 tokens at 500/s.
        let wait = b.resumeDelay(nowNanos: 0)
        #expect(Self.near(wait, 102_000_000), "\(wait)")
        let after = b.resumeDelay(nowNanos: 102_000_001)
        #expect(after == 0)
        // Refilled no further than the burst, however long it waits.
        let later = b.resumeDelay(nowNanos: 1000 * Self.second)
        #expect(later == 0 && b.tokens.messages == 500)
    }

    @Test func bytesAloneAndAMessageLargerThanTheBurst() throws {
        var b = try #require(PublishBucket(messagesPerSecond: nil, bytesPerSecond: 1000, nowNanos: 0))
        // Never refused: it runs, and the debt is waited out (5000 + 100 bytes at 1000/s).
        let owes = b.charge(payload: 6000, nowNanos: 0)
        let wait = b.resumeDelay(nowNanos: 0)
        #expect(owes && Self.near(wait, 5_100_000_000), "\(wait)")
        #expect(b.tokens.messages == 0, "messages are not counted without publish_rate")
    }

    @Test func theSlowerQuantityDecides() throws {
        var b = try #require(PublishBucket(messagesPerSecond: 10, bytesPerSecond: 100, nowNanos: 0))
        let first = b.charge(payload: 50, nowNanos: 0)
        let second = b.charge(payload: 60, nowNanos: 0)
        #expect(!first && second, "110 bytes of 100")
        // Bytes: 10 owed + 10 = 20 at 100/s = 0.2 s; messages have 8 of 10 left.
        let wait = b.resumeDelay(nowNanos: 0)
        #expect(Self.near(wait, 200_000_000), "\(wait)")
    }

    /// The largest rates and payloads the loader accepts, and a clock that
    /// jumps to the end of time or back: no trap, a bounded wait.
    @Test func extremesStayInRange() throws {
        var b = try #require(PublishBucket(messagesPerSecond: 100_000_000, bytesPerSecond: 16 << 30, nowNanos: Int64.min))
        let owes = b.charge(payload: Int.max, nowNanos: Int64.max)
        let wait = b.resumeDelay(nowNanos: Int64.max)
        #expect(owes && wait == KernelConstants.maxPublishPauseNanos)
        var slow = try #require(PublishBucket(messagesPerSecond: 1, bytesPerSecond: 1, nowNanos: 0))
        let slowOwes = slow.charge(payload: Int.max, nowNanos: 0)
        let slowWait = slow.resumeDelay(nowNanos: 0)
        let older = slow.resumeDelay(nowNanos: -5)
        #expect(slowOwes && slowWait == KernelConstants.maxPublishPauseNanos)
        #expect(older == KernelConstants.maxPublishPauseNanos, "an older reading adds nothing")
    }

    @Test func accountCountsAndRefuses() {
        var limits = UserLimits()
        limits.connections = 2
        let a = UserAccount(name: "alice", limits: limits, nowNanos: 0)
        #expect(a.meter == nil)
        #expect(a.admits()); a.enter()
        #expect(a.admits()); a.enter()
        #expect(!a.admits())
        #expect(a.refused == 1 && a.connections == 2)
        a.leave()
        #expect(a.admits() && a.connections == 1)
        a.leave(); a.leave()
        #expect(a.connections == 0, "never below zero")
    }

    @Test func infoNamesAreEscaped() {
        #expect(Kernel.infoName("default") == "default")
        #expect(Kernel.infoName("agent:echo") == "agent%3Aecho")
        #expect(Kernel.infoName("a,b=c_d.e-f@g") == "a%2Cb%3Dc%5Fd.e-f@g")
        #expect(Kernel.infoName("é") == "%C3%A9")
        #expect(String(format3: 1.5) == "1.500" && String(format3: 0.0123) == "0.012" && String(format3: 2.0999) == "2.100")
    }
}
