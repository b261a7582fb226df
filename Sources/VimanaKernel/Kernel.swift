import VimanaCore
import VimanaRESP
import VimanaBus
import VimanaConfig
import VimanaEventLoop
import VimanaLedger
import VimanaFederation
import VimanaAgents
#if canImport(Glibc)
import Glibc
#endif

/// The Vimana kernel: a RESP pub/sub server on one epoll thread, with the
/// HTTP observability endpoints on the same loop.
///
/// Promises: every client is served by the loop thread only; a client that
/// misbehaves (malformed input, a slow reader) is disconnected without
/// affecting others; `run()` returns 0 after SIGINT/SIGTERM once output has
/// been flushed (or the grace period has passed).
public final class Kernel: EventLoopHandler {
    let config: Configuration
    let loop: EventLoop
    let s: UnsafeMutablePointer<KernelState>
    let log = Log.shared
    var respListener: Int32 = -1
    var httpListener: Int32 = -1
    /// The ledger (nil when `ledger.enabled` is false).
    let ledger: Ledger?
    /// XREAD and XREADGROUP BLOCK clients, and the topics woken this pass.
    var blockedReaders = BlockedReaders()
    /// While a removal serves the readers woken before it (`serveReadersBeforeRemoval`):
    /// the clients it unblocks, whose pipelined commands run at the pass's end,
    /// not inside the removal's command.
    var unblockedInRemoval: [Int32] = []
    var servingBeforeRemoval = false
    /// Clients whose LEDGER SEAL waits for the seal (`ledgerSealed`).
    var sealWaiters: [(fd: Int32, id: Int)] = []
    /// Federation through a Redis Cluster (nil without `federation:`; Kernel+Federation.swift).
    var federation: Federation?
    /// Problems operators' agents reported for /health (HEALTH).
    var healthReports = HealthReports()
    /// The agents, every consumer group and their journal (VimanaAgents):
    /// reached only through its API; it reaches the kernel as its `AgentHost`
    /// (lazy: it holds the kernel, which exists only once `init` is done).
    lazy var agents = Agents(configs: config.agents, ledger: ledger, host: self)
    /// The users (ACL), their catalogue and ACL LOG.
    let users: Users
    /// Users whose publishers are paused at their publish limit (Kernel+UserLimits.swift).
    var pausedAccounts: [UserAccount] = []
    /// Connections whose pause ended because they left the paused user
    /// (fd and client id), resumed by `resumePublishers` as a pause that ends by itself.
    var releasedPublishers: [(fd: Int32, id: Int)] = []
    /// Where ACL SETUSER and DELUSER are recorded (nil without a ledger).
    let userJournal: UserJournal?
    /// The processes of agents that declare a `command`, and their output pipes.
    let agentProcesses: AgentProcesses
    /// Loads phoenix.yaml again, as `vimana serve` did at start (SIGHUP);
    /// nil when the server was started without a file.
    public var reloadConfiguration: (@Sendable () -> ConfigReload)?
    /// The ports actually bound (useful when configured as 0).
    public private(set) var port = 0
    public private(set) var httpPort = -1

    public init(config: Configuration, watchSignals: Bool = true) throws(SystemError) {
        self.config = config
        loop = try EventLoop(watchSignals: watchSignals)
        s = .allocate(capacity: 1)
        s.initialize(to: KernelState(settings: LiveSettings(config)))
        s.pointee.setStatsSettings(slowlogLogSlowerThan: config.kernel.slowlogLogSlowerThan, slowlogMaxLen: config.kernel.slowlogMaxLen,
                                   latencyMonitorThreshold: config.kernel.latencyMonitorThreshold)
        ledger = Self.makeLedger(config.ledger)
        users = Users(config: config)
        userJournal = ledger.map { UserJournal(ledger: $0) }
        agentProcesses = AgentProcesses(loop: loop, log: log)
        raiseFileLimit()
    }

    deinit {
        // Connections are all closed by the time `run` returns; free what is left.
        for fd in 0..<Int32(s.pointee.connections.size) where s.pointee.client(fd) != nil { freeClient(fd) }
        s.pointee.channels.release()
        s.pointee.patterns.release()
        s.pointee.shardChannels.release()
        s.pointee.watches.release()
        s.deinitialize(count: 1)  // the connection table, the command index, the scratch buffer
        s.deallocate()
    }

    /// Binds the listeners, then opens the ledger and wires the agents.
    /// Separate from `run` so that a failure is reported before the process
    /// claims to be serving.
    ///
    /// Binding comes first so that a server that cannot start (its port
    /// taken) leaves the ledger directory as it found it: not created, not
    /// truncated, no index rewritten. Connections that arrive during recovery
    /// wait in the listen backlog until `run`.
    public func start() throws(KernelStartError) {
        if let problem = Self.configurationProblems(config).first { throw KernelStartError(problem) }
        if let problem = Self.userProblems(config).first { throw KernelStartError(problem) }
        do throws(KernelStartError) {
            try bindListeners()
        } catch {
            closeListeners()
            throw error
        }
        do throws(KernelStartError) {
            try openLedger()
            restoreUsers()
            prepareFederatedAgents()
            agents.setUp()
            watchSealsForUserJournal()
            try startFederation()
        } catch {
            ledger?.close()
            closeListeners()
            throw error
        }
        s.pointee.ready = true
        log.info("listening", ["bind": .string(config.kernel.bind), "port": .int(port), "http_port": .int(httpPort),
                               "max_clients": .int(s.pointee.limits.maxClients), "config": .string(config.source)])
        warnAboutExposure()
        // A wildcard bind is reached on loopback by the agents started here.
        let host = config.kernel.bind == "0.0.0.0" ? "127.0.0.1" : config.kernel.bind
        agentProcesses.start(agents.all.map(\.config), address: "\(host):\(port)", maxPayload: config.kernel.limits.maxPayload,
                             retention: config.ledger.retentionMaxAgeSeconds > 0 || config.ledger.retentionMaxBytes > 0,
                             credentials: agentCredentials)
    }

    /// Each error names the listener (RESP or HTTP) and the key or flag that set its port.
    private func bindListeners() throws(KernelStartError) {
        let k = config.kernel
        func listen(_ what: String, _ key: String, _ port: Int) throws(KernelStartError) -> (fd: Int32, port: Int) {
            do throws(SystemError) {
                let (fd, bound) = try Socket.listen(host: k.bind, port: port)
                do throws(SystemError) { try loop.poller.add(fd, Poller.readable) } catch {
                    Socket.close(fd)
                    throw error
                }
                return (fd, bound)
            } catch {
                let source = config.flags[key] ?? "\(key) in \(config.source)"
                throw KernelStartError("cannot listen on the \(what) port (\(source)): \(error)")
            }
        }
        if k.httpPort >= 0 {
            (httpListener, httpPort) = try listen("HTTP", "kernel.http_port", k.httpPort)
        }
        (respListener, port) = try listen("RESP", "kernel.port", k.port)
    }

    private func closeListeners() {
        if respListener >= 0 { Socket.close(respListener); respListener = -1 }
        if httpListener >= 0 { Socket.close(httpListener); httpListener = -1 }
    }

    /// Serves until SIGINT/SIGTERM; returns the process exit status.
    public func run() -> Int32 {
        refreshClock()
        loop.run(self)
        agentProcesses.stop()  // SupervisorLimits.stopGraceSeconds (AGENTS.md §6)
        federation?.stop()
        if let ledger {
            agents.willCloseLedger()
            ledger.close()
            agents.didCloseLedger()
            log.info("ledger closed", ["next_sequence": .int(Int(clamping: ledger.nextSequence)),
                                       "durable_sequence": .int(Int(clamping: ledger.durableSequence))])
        }
        log.info("shutdown complete", ["uptime_seconds": .int(Int(uptimeSeconds))])
        return 0
    }

    /// Runs `work` on the loop thread (for other threads: ledger, agents).
    public func execute(_ work: @escaping @Sendable () -> Void) { loop.waker.execute(work) }

    var uptimeSeconds: Int64 { (Clock.wallMillis() - s.pointee.startMillis) / 1000 }

    @inline(__always) func refreshClock() {
        s.pointee.nowNanos = Clock.monotonicNanos()
        s.pointee.nowMillis = Clock.wallMillis()
        // Commands run from here (served blocked reads, resumed publishers)
        // count their time from this reading, not from the pass's wake-up.
        s.pointee.clockMark = s.pointee.nowNanos
    }

    // MARK: - Event loop callbacks

    public func handle(fd: Int32, events: UInt32) {
        if fd == respListener { acceptClients(http: false); return }
        if fd == httpListener { acceptClients(http: true); return }
        // Re-check the table: the fd may have been closed earlier in this batch.
        guard let c = s.pointee.client(fd), !c.pointee.flags.contains(.closing) else {
            _ = agentProcesses.handleReadable(fd)
            return
        }
        if events & (Poller.readable | Poller.errorOrHangup) != 0 {
            if c.pointee.flags.contains(.http) { readHTTP(c) } else { readClient(c) }
        }
        if events & Poller.writable != 0, !c.pointee.flags.contains(.closing) {
            flush(c)
        }
    }

    public func beforeSleep() {
        refreshClock()
        if s.pointee.publishResumeAt != 0 && s.pointee.nowNanos >= s.pointee.publishResumeAt { resumePublishers() }
        if let ledger {
            if !unblockedInRemoval.isEmpty { resumeUnblockedInRemoval() }
            if blockedReaders.hasReady { serveBlockedReaders() }
            if blockedReaders.nextDeadline != 0 { expireBlockedReaders(now: s.pointee.nowNanos) }
            if !agents.isEmpty { agents.pump() }
            if let userJournal, userJournal.snapshotDue { userJournal.writeSnapshot(nowMillis: s.pointee.nowMillis) }
            agents.endPass()
            if s.pointee.ledgerGate.hasPassEndHolds { resolvePassEndHolds(ledger) }
            ledger.commit(urgent: s.pointee.ledgerGate.takeUrgency())
            // An inline write's events can resume paused publishers, whose
            // commands append anew (an ACK among them holds its reply for a
            // journal record the next pass writes): another pass commits them.
            if ledger.hasUncommitted || s.pointee.ledgerGate.hasPassEndHolds { loop.waker.wake() }
        }
        let state = s
        if !state.pointee.pendingWrites.isEmpty {
            // In the order clients were read. A client is queued when its
            // first command runs (processInput), so a publisher is written
            // before the subscribers its messages went to and can send the
            // next batch while they are being written.
            var i = 0
            while i < state.pointee.pendingWrites.count {
                let fd = state.pointee.pendingWrites[i]
                i += 1
                guard let c = state.pointee.client(fd) else { continue }
                c.pointee.flags.remove(.pendingWrite)
                if !c.pointee.flags.contains(.closing) { flush(c) }
            }
            state.pointee.pendingWrites.removeAll(keepingCapacity: true)
        }
        if !state.pointee.closing.isEmpty {
            let list = state.pointee.closing
            state.pointee.closing.removeAll(keepingCapacity: true)
            for fd in list { freeClient(fd) }
        }
        if state.pointee.shuttingDown && state.pointee.clientCount + state.pointee.httpCount == 0 {
            loop.stop()
        }
    }

    public func tick(nowNanos: Int64) {
        refreshClock()
        if s.pointee.shuttingDown && nowNanos >= s.pointee.shutdownDeadline {
            forEachClient { c in markClose(c, reason: "shutdown") }
            beforeSleep()
            loop.stop()
            return
        }
        checkSoftLimits()
        sampleInstantaneousMetrics()
        expireTimedClients(now: nowNanos)
        ledger?.enforceRetention(nowMicros: Clock.wallMicros())
        agents.tick()
        if !s.pointee.shuttingDown { agentProcesses.tick(nowNanos: Clock.monotonicNanos()) }
    }

    public func nextDeadline() -> Int64 {
        let read = blockedReaders.nextDeadline, publish = s.pointee.publishResumeAt
        return read == 0 || (publish != 0 && publish < read) ? publish : read
    }

    public func signalReceived(_ signal: Int32) {
        guard signal != SIGHUP else {
            // SIGHUP never stops the server (a closed terminal must not take
            // the bus down): it reloads phoenix.yaml (Kernel+Config.swift).
            reloadConfig()
            return
        }
        beginShutdown(reason: SignalWatcher.name(signal))
    }

    /// Stops accepting, lets pending output drain, then closes everything.
    func beginShutdown(reason: String) {
        guard !s.pointee.shuttingDown else { return }
        log.info("shutdown requested", ["reason": .string(reason), "clients": .int(s.pointee.clientCount)])
        s.pointee.shuttingDown = true
        s.pointee.ready = false
        s.pointee.shutdownDeadline = Clock.monotonicNanos() + KernelConstants.shutdownGraceNanos
        closeListeners()
        forEachClient { c in
            if c.pointee.output.isEmpty {
                markClose(c, reason: "shutdown")
            } else {
                // Stop reading; keep writing until drained or the deadline.
                c.pointee.flags.insert([.closeAfterReply, .watchingWritable])
                loop.poller.modify(c.pointee.fd, Poller.writable)
            }
        }
    }

    func forEachClient(_ body: (UnsafeMutablePointer<ClientState>) -> Void) {
        var fd = 0
        while fd < s.pointee.connections.size {
            if let c = s.pointee.connections.client(known: Int32(truncatingIfNeeded: fd)),
               !c.pointee.flags.contains(.closing) { body(c) }
            fd += 1
        }
    }

    /// The cold half of the connection on `fd`, or nil when none is open.
    @inline(__always)
    func clientInfo(_ fd: Int32) -> ClientInfo? { s.pointee.client(fd)?.pointee.info }

    // MARK: - Limits

    /// Raises the descriptor limit to serve `maxclients` (at start and when
    /// CONFIG SET raises it); a warning when the hard limit is lower.
    func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let maxClients = s.pointee.limits.maxClients
        let wanted = rlim_t(maxClients + KernelConstants.reservedDescriptors)
        if limit.rlim_cur >= wanted { return }
        let target = min(wanted, limit.rlim_max)
        limit.rlim_cur = target
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 || target < wanted {
            log.warn("file descriptor limit below max_clients",
                     ["limit": .int(Int(target)), "max_clients": .int(maxClients)])
        }
    }
}
