import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaSupervisor
#if canImport(Glibc)
import Glibc
#endif

/// An operator's stop, start and restart of one child (AGENT STOP|START|RESTART).
@Suite struct SupervisorControlTests {
    func now() -> Int64 { Clock.monotonicNanos() }

    @Test func stopHoldsAChildStoppedWhateverItsPolicyUntilStart() {
        let h = Harness()
        h.add("sleeper", ["sleep", "30"], restart: .always)
        h.start()
        let pid = h.status("sleeper")?.pid
        #expect(h.supervisor.stop("sleeper", nowNanos: now()) == .done)
        #expect(h.status("sleeper")?.stopping == true && h.status("sleeper")?.state == .running, "signalled, not yet reaped")
        #expect(h.supervisor.stop("sleeper", nowNanos: now()) == .alreadyStopped)
        #expect(h.supervisor.start("sleeper", nowNanos: now()) == .stopping)
        #expect(h.run(seconds: 5) { h.status("sleeper")?.state == .stopped })
        #expect(h.status("sleeper") == ChildStatus(state: .stopped, pid: nil, restarts: 0, lastExit: .signaled(SIGTERM)))
        h.run(seconds: 0.8)
        #expect(h.status("sleeper")?.state == .stopped, "restart: always does not bring it back")
        #expect(h.supervisor.start("sleeper", nowNanos: now()) == .done)
        #expect(h.status("sleeper")?.state == .running && h.status("sleeper")?.pid != pid && h.status("sleeper")?.restarts == 1)
        #expect(h.status("sleeper")?.startedAtMillis != nil)
        #expect(h.supervisor.start("sleeper", nowNanos: now()) == .alreadyRunning)
        #expect(h.supervisor.stop("nobody", nowNanos: now()) == .unknown)
    }

    @Test func restartStartsAgainAtOnceAfterTheExitAndAStopCancelsIt() {
        let h = Harness()
        h.add("sleeper", ["sleep", "30"], restart: .never, maxRestarts: 0)
        h.start()
        let first = h.status("sleeper")?.pid
        #expect(h.supervisor.restart("sleeper", nowNanos: now()) == .done)
        #expect(h.run(seconds: 5) { h.status("sleeper")?.pid != nil && h.status("sleeper")?.pid != first })
        #expect(h.status("sleeper")?.restarts == 1 && h.status("sleeper")?.lastExit == .signaled(SIGTERM),
                "outside the policy (never) and max_restarts (0)")
        // A stop after a restart was asked, before the exit: it stays stopped.
        #expect(h.supervisor.restart("sleeper", nowNanos: now()) == .done)
        #expect(h.supervisor.stop("sleeper", nowNanos: now()) == .done)
        #expect(h.run(seconds: 5) { h.status("sleeper")?.state == .stopped })
        h.run(seconds: 0.3)
        #expect(h.status("sleeper")?.state == .stopped && h.status("sleeper")?.restarts == 1)
        // Restart of a stopped child starts it.
        #expect(h.supervisor.restart("sleeper", nowNanos: now()) == .done)
        #expect(h.status("sleeper")?.state == .running)
    }

    /// A restart under way when the kernel shuts down starts nothing.
    @Test func stopAllDuringARestartLeavesNothingRunning() {
        let h = Harness()
        h.add("stubborn", ["sh", "-c", "trap '' TERM; echo ready; exec sleep 30"], restart: .always)
        h.start()
        #expect(h.run(seconds: 5) { h.lines(of: "stubborn").contains("ready") })
        #expect(h.supervisor.restart("stubborn", nowNanos: now()) == .done)
        h.supervisor.stopAll(grace: 0.2)
        #expect(h.status("stubborn")?.state == .stopped && h.status("stubborn")?.pid == nil)
    }

    /// An ignored SIGTERM of an operator's stop becomes SIGKILL after the grace.
    @Test func anIgnoredStopIsKilledAfterTheGrace() {
        let h = Harness()
        h.add("stubborn", ["sh", "-c", "trap '' TERM; echo ready; exec sleep 30"], restart: .always)
        h.start()
        #expect(h.run(seconds: 5) { h.lines(of: "stubborn").contains("ready") })
        let asked = now()
        #expect(h.supervisor.stop("stubborn", nowNanos: asked) == .done)
        #expect(h.run(seconds: SupervisorLimits.stopGraceSeconds + 3) { h.status("stubborn")?.state == .stopped })
        #expect(h.status("stubborn")?.lastExit == .signaled(SIGKILL))
        #expect(seconds(since: asked) >= SupervisorLimits.stopGraceSeconds - 0.1)
    }
}
