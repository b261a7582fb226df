import Testing
import VimanaCore
import VimanaConfig
@testable import VimanaSupervisor
#if canImport(Glibc)
import Glibc
#endif

/// A supervisor driven the way the kernel's loop drives it: poll() on its
/// output fds, `readOutput` on the readable ones, `tick` at least every 20 ms.
final class Harness {
    let supervisor: Supervisor
    var lines: [(agent: String, stream: String, line: String)] = []

    init() {
        let log = Log()
        log.configure(level: .warn, format: .text)
        supervisor = Supervisor(log: log)
        supervisor.onLine = { [unowned self] agent, stream, line in lines.append((agent, stream, line)) }
    }

    deinit { supervisor.stopAll(grace: 0.5) }

    func add(_ id: String, _ command: [String], restart: RestartPolicy = .never, maxRestarts: Int = 5,
             environment: [String: String] = [:]) {
        supervisor.add(id: id, command: command, environment: environment, restart: restart, maxRestarts: maxRestarts)
    }

    func start() { supervisor.startAll(nowNanos: Clock.monotonicNanos()) }

    /// Turns the loop until `done` (checked after every tick) or `seconds` pass.
    @discardableResult
    func run(seconds: Double, until done: () -> Bool = { false }) -> Bool {
        let deadline = Clock.monotonicNanos() + Int64(seconds * 1e9)
        while Clock.monotonicNanos() < deadline {
            var fds = supervisor.outputFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if fds.isEmpty { usleep(20_000) } else { _ = poll(&fds, nfds_t(fds.count), 20) }
            for p in fds where p.revents != 0 { supervisor.readOutput(fd: p.fd) }
            supervisor.tick(nowNanos: Clock.monotonicNanos())
            if done() { return true }
        }
        return false
    }

    func status(_ id: String) -> ChildStatus? { supervisor.status(id) }

    func lines(of agent: String) -> [String] { lines.filter { $0.agent == agent }.map(\.line) }
}

/// Seconds since an earlier `Clock.monotonicNanos()` reading.
func seconds(since start: Int64) -> Double { Double(Clock.monotonicNanos() - start) / 1e9 }

@Suite struct SupervisorTests {
    /// A descriptor the server holds without close-on-exec (inherited from
    /// its own parent, say) is not passed on to an agent.
    @Test func childrenGetOnlyStdinStdoutAndStderr() throws {
        let devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(devnull >= 0)
        let inherited = fcntl(devnull, F_DUPFD, 300)  // F_DUPFD: no close-on-exec
        close(devnull)
        try #require(inherited >= 300)
        defer { close(inherited) }
        let h = Harness()
        h.add("fds", ["sh", "-c", "if [ -e /proc/$$/fd/\(inherited) ]; then echo open; else echo closed; fi; [ -e /proc/$$/fd/2 ] && echo stderr"])
        h.start()
        h.run(seconds: 10) { h.status("fds")?.state == .stopped }
        #expect(h.lines(of: "fds") == ["closed", "stderr"])
    }

    /// One tick can close a child's pipes and open another's on the same
    /// numbers (b restarts the moment a is reaped): the loop learns of b's
    /// pipes from `takeOpenedOutputFDs`, not from a comparison of sets of
    /// numbers, which saw nothing new and left them unwatched, so b's output
    /// was never read and b blocked once its pipe was full.
    @Test func pipesOpenedOnNumbersClosedInTheSameTickAreReported() throws {
        let h = Harness()
        h.add("a", ["sh", "-c", "sleep 1"])
        h.add("b", ["sh", "-c", "exit 3"], restart: .always)
        let t0 = Clock.monotonicNanos()
        h.supervisor.startAll(nowNanos: t0)
        #expect(h.supervisor.takeOpenedOutputFDs().count == 4)
        // b exits at once and waits in backoff: the clock given stays at t0.
        var waited = 0
        while h.status("b")?.state != .backoff && waited < 1000 {
            h.supervisor.tick(nowNanos: t0)
            usleep(10_000)
            waited += 1
        }
        try #require(h.status("b")?.state == .backoff)
        #expect(h.supervisor.takeOpenedOutputFDs().isEmpty)
        // a exits; not reaped until the next tick.
        let pid = try #require(h.status("a")?.pid)
        waited = 0
        while !Self.isZombie(pid) && waited < 1000 {
            usleep(10_000)
            waited += 1
        }
        try #require(Self.isZombie(pid))
        // One tick reaps a (closing its pipes) and then restarts b.
        h.supervisor.tick(nowNanos: t0 + 10_000_000_000)
        #expect(h.status("a")?.state == .stopped)
        #expect(h.status("b")?.restarts == 1)
        let opened = h.supervisor.takeOpenedOutputFDs()
        #expect(opened.count == 2)
        #expect(Set(opened) == h.supervisor.outputFDs)
    }

    /// True when `pid` has exited and waits to be reaped.
    static func isZombie(_ pid: Int32) -> Bool {
        let fd = open("/proc/\(pid)/stat", O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 512)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0, let paren = bytes[0..<n].lastIndex(of: UInt8(ascii: ")")), paren + 2 < n else { return false }
        return bytes[paren + 2] == UInt8(ascii: "Z")
    }

    @Test func stdoutAndStderrLinesAreCaptured() {
        let h = Harness()
        h.add("echo", ["sh", "-c", "echo hello; echo err >&2"])
        h.start()
        #expect(!h.supervisor.outputFDs.isEmpty)
        h.run(seconds: 5) { h.status("echo")?.state == .stopped }
        #expect(h.lines.contains { $0 == ("echo", "stdout", "hello") })
        #expect(h.lines.contains { $0 == ("echo", "stderr", "err") })
        #expect(h.status("echo")?.lastExit == .exited(0))
        #expect(h.supervisor.outputFDs.isEmpty)
    }

    @Test func onFailureRestartsWithDoublingBackoffThenMarksFailed() {
        let h = Harness()
        h.add("crash", ["sh", "-c", "exit 3"], restart: .onFailure, maxRestarts: 2)
        var starts: [Int64] = []
        var exits: [Int64] = []
        var lastPid: Int32?
        var lastState = ChildState.stopped
        func observe() {
            guard let s = h.status("crash") else { return }
            let now = Clock.monotonicNanos()
            if let pid = s.pid, pid != lastPid { starts.append(now) }
            if lastState == .running && s.state != .running { exits.append(now) }
            lastPid = s.pid
            lastState = s.state
        }
        h.start()
        observe()
        let failed = h.run(seconds: 10) {
            observe()
            return h.status("crash")?.state == .failed
        }
        #expect(failed)
        #expect(starts.count == 3)
        #expect(exits.count == 3)
        if starts.count == 3 && exits.count >= 2 {
            #expect(Double(starts[1] - exits[0]) / 1e9 >= 0.4)
            #expect(Double(starts[2] - exits[1]) / 1e9 >= 0.9)
        }
        #expect(h.status("crash")?.restarts == 2)
        #expect(h.status("crash")?.lastExit == .exited(3))
        // Failed is final.
        h.run(seconds: 0.7)
        #expect(h.status("crash")?.state == .failed)
        #expect(h.status("crash")?.restarts == 2)
    }

    @Test func neverDoesNotRestart() {
        let h = Harness()
        h.add("once", ["sh", "-c", "exit 1"], restart: .never)
        h.start()
        #expect(h.run(seconds: 5) { h.status("once")?.state == .stopped })
        h.run(seconds: 0.8)
        #expect(h.status("once") == ChildStatus(state: .stopped, pid: nil, restarts: 0, lastExit: .exited(1)))
    }

    @Test func onFailureDoesNotRestartAfterCleanExit() {
        let h = Harness()
        h.add("clean", ["true"], restart: .onFailure)
        h.start()
        #expect(h.run(seconds: 5) { h.status("clean")?.state == .stopped })
        h.run(seconds: 0.8)
        #expect(h.status("clean")?.restarts == 0)
    }

    @Test func alwaysRestartsAfterCleanExit() {
        let h = Harness()
        h.add("loop", ["sh", "-c", "echo run"], restart: .always)
        h.start()
        #expect(h.run(seconds: 5) { (h.status("loop")?.restarts ?? 0) >= 1 && h.lines(of: "loop").count >= 2 })
        #expect(h.status("loop")?.lastExit == .exited(0))
    }

    @Test func unspawnableCommandCountsAsFailure() {
        let h = Harness()
        h.add("missing", ["/nonexistent/vimana-agent"], restart: .onFailure, maxRestarts: 1)
        h.start()
        #expect(h.status("missing")?.lastExit == .spawnFailed(errno: ENOENT))
        #expect(h.status("missing")?.state == .backoff)
        #expect(h.run(seconds: 5) { h.status("missing")?.state == .failed })
        #expect(h.status("missing")?.restarts == 1)
        #expect(h.supervisor.outputFDs.isEmpty)
    }

    @Test func stopAllTerminatesAChildWithinTheGrace() {
        let h = Harness()
        h.add("sleeper", ["sleep", "30"], restart: .always)
        h.start()
        h.run(seconds: 0.2)
        #expect(h.status("sleeper")?.state == .running)
        let start = Clock.monotonicNanos()
        h.supervisor.stopAll(grace: 3)
        #expect(seconds(since: start) < 2)
        #expect(h.status("sleeper") == ChildStatus(state: .stopped, pid: nil, restarts: 0, lastExit: .signaled(SIGTERM)))
        #expect(h.supervisor.outputFDs.isEmpty)
        h.run(seconds: 0.7)
        #expect(h.status("sleeper")?.state == .stopped)
    }

    @Test func stopAllKillsAChildThatIgnoresSIGTERMAfterTheGrace() {
        let h = Harness()
        // `exec` so the process that ignores TERM is the child itself and
        // SIGKILL leaves no orphaned sleep behind.
        h.add("stubborn", ["sh", "-c", "trap '' TERM; echo ready; exec sleep 30"], restart: .always)
        h.start()
        #expect(h.run(seconds: 5) { h.lines(of: "stubborn").contains("ready") })
        let start = Clock.monotonicNanos()
        h.supervisor.stopAll(grace: 0.5)
        let elapsed = seconds(since: start)
        #expect(elapsed >= 0.5 && elapsed < 2.5)
        #expect(h.status("stubborn")?.lastExit == .signaled(SIGKILL))
        #expect(h.status("stubborn")?.state == .stopped)
    }

    @Test func childDoesNotInheritBlockedOrIgnoredSignals() {
        let h = Harness()
        h.add("term", ["sh", "-c", "kill -TERM $$; sleep 5"])
        h.add("pipe", ["sh", "-c", "kill -PIPE $$; sleep 5"])
        // grep leaves its signal state alone (a shell may unblock signals itself).
        h.add("mask", ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"])
        // Spawn as the kernel does: SIGTERM blocked in this thread, SIGPIPE ignored.
        var blocked = sigset_t()
        var previousMask = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        pthread_sigmask(SIG_BLOCK, &blocked, &previousMask)
        let previousPipe = signal(SIGPIPE, SIG_IGN)
        let start = Clock.monotonicNanos()
        h.start()
        signal(SIGPIPE, previousPipe)
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)

        #expect(h.run(seconds: 4) { h.status("term")?.state == .stopped && h.status("pipe")?.state == .stopped })
        #expect(seconds(since: start) < 2)
        #expect(h.status("term")?.lastExit == .signaled(SIGTERM))
        #expect(h.status("pipe")?.lastExit == .signaled(SIGPIPE))
        #expect(h.run(seconds: 4) { h.status("mask")?.state == .stopped })
        var masks: [String: UInt64] = [:]
        for line in h.lines(of: "mask") {
            let parts = line.split(separator: ":")
            if parts.count == 2 { masks[String(parts[0])] = UInt64(parts[1].trimmingPrefix(while: \.isWhitespace), radix: 16) }
        }
        #expect(masks["SigBlk"] == 0)
        let bit = { (sig: Int32) -> UInt64 in 1 << UInt64(sig - 1) }
        #expect(masks["SigIgn"].map { $0 & (bit(SIGPIPE) | bit(SIGTERM) | bit(SIGINT)) } == 0)
    }

    @Test func environmentIsInheritedAndOverlaid() {
        let h = Harness()
        h.add("env", ["sh", "-c", #"echo "$VIMANA_AGENT_ID|$VIMANA_ADDR|$HOME"; echo "$PATH""#],
              environment: ["VIMANA_AGENT_ID": "env", "VIMANA_ADDR": "127.0.0.1:6380", "HOME": "/overlaid"])
        h.start()
        #expect(h.run(seconds: 5) { h.status("env")?.state == .stopped })
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        #expect(h.lines(of: "env") == ["env|127.0.0.1:6380|/overlaid", path])
    }

    @Test func stdinIsDevNull() {
        let h = Harness()
        h.add("stdin", ["sh", "-c", "if read line; then echo data; else echo eof; fi"])
        h.start()
        #expect(h.run(seconds: 5) { h.status("stdin")?.state == .stopped })
        #expect(h.lines(of: "stdin") == ["eof"])
    }

    @Test func duplicateIDIsRejectedAndCounted() {
        let h = Harness()
        h.add("dup", ["true"])
        h.add("dup", ["false"])
        #expect(h.supervisor.errors == 1)
        #expect(h.status("nope") == nil)
    }
}
