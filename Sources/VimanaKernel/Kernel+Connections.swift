import VimanaCore
import VimanaRESP
import VimanaEventLoop
import VimanaLedger
import VimanaBus
#if canImport(Glibc)
import Glibc
#endif

/// Accepting, reading, flushing and closing connections.
extension Kernel {
    // MARK: - Accept

    func acceptClients(http: Bool) {
        let listener = http ? httpListener : respListener
        for _ in 0..<KernelConstants.acceptBatch {
            let fd = Socket.accept(listener)
            if fd < 0 {
                let e = errno
                if e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED {
                    acceptFailed(listener, http: http, error: e)
                }
                return
            }
            if !http && s.pointee.clientCount >= s.pointee.limits.maxClients {
                let text: StaticString = "-ERR max number of clients reached\r\n"
                _ = write(fd, text.utf8Start, text.utf8CodeUnitCount)
                Socket.close(fd)
                s.pointee.metrics.connectionsRejected += 1
                log.debug("connection rejected", ["reason": "max_clients"])
                continue
            }
            // After max_clients, as in Redis (acceptCommonHandler, then clientAcceptHandler).
            if !http && refusedByProtectedMode(fd) { continue }
            if http && s.pointee.httpCount >= KernelConstants.maxHTTPConnections && !evictHTTPConnection() {
                Socket.close(fd)  // every slot is being closed already in this pass
                continue
            }
            do throws(SystemError) {
                try loop.poller.add(fd, Poller.readable)
            } catch {
                log.warn("epoll registration failed", ["error": .string(error.description)])
                Socket.close(fd)
                continue
            }
            addClient(fd, http: http)
        }
    }

    /// accept failed for a reason other than an empty queue: most often no
    /// descriptor is left (EMFILE). The pending connection stays in the
    /// backlog and the level-triggered listener would be reported again at
    /// once, so it leaves the poll set until `acceptBackoffNanos` pass or a
    /// client closes (`resumeAccepting`); the clients being served go on.
    private func acceptFailed(_ listener: Int32, http: Bool, error e: Int32) {
        let state = s
        state.pointee.metrics.acceptErrors += 1
        let now = Clock.monotonicNanos()
        if !state.pointee.pausedListeners.contains(listener) {
            loop.poller.remove(listener)
            state.pointee.pausedListeners.append(listener)
        }
        state.pointee.acceptResumeAt = now + KernelConstants.acceptBackoffNanos
        if now - state.pointee.lastAcceptErrorLog >= KernelConstants.acceptErrorLogIntervalNanos {
            log.warn("accept failed", ["error": .string(String(cString: strerror(e))),
                                       "listener": .string(http ? "http" : "resp"),
                                       "suppressed": .int(state.pointee.acceptErrorsSuppressed),
                                       "connections": .int(state.pointee.clientCount + state.pointee.httpCount),
                                       "retry_ms": .int(Int(KernelConstants.acceptBackoffNanos / 1_000_000))])
            state.pointee.lastAcceptErrorLog = now
            state.pointee.acceptErrorsSuppressed = 0
        } else {
            state.pointee.acceptErrorsSuppressed += 1
        }
    }

    /// Polls the listeners paused by `acceptFailed` again.
    func resumeAccepting() {
        let state = s
        for listener in state.pointee.pausedListeners where listener == respListener || listener == httpListener {
            do throws(SystemError) {
                try loop.poller.add(listener, Poller.readable)
            } catch {
                log.warn("epoll registration failed", ["error": .string(error.description)])
            }
        }
        state.pointee.pausedListeners.removeAll()
    }

    /// Makes room for a new HTTP connection at the cap by closing one that
    /// holds a slot: one whose reply is written (lingering) if any, else the
    /// oldest still waiting for its request head; one whose reply is still
    /// queued is left to finish. Idle connections then cannot lock health
    /// checks out even within the head timeout. False when none can go.
    private func evictHTTPConnection() -> Bool {
        var victim: UnsafeMutablePointer<ClientState>?
        var victimRank = Int.max
        for fd in s.pointee.timedClients {
            guard let c = s.pointee.client(fd), c.pointee.flags.contains(.http),
                  !c.pointee.flags.contains(.closing) else { continue }
            let rank = c.pointee.flags.contains(.lingering) ? 0 : c.pointee.flags.contains(.closeAfterReply) ? 2 : 1
            if rank == 2 { continue }
            if rank < victimRank || (rank == victimRank && c.pointee.info.createdMillis < (victim?.pointee.info.createdMillis ?? 0)) {
                victim = c
                victimRank = rank
            }
        }
        guard let victim else { return false }
        markClose(victim, reason: "evicted at the HTTP connection cap")
        return true
    }

    /// Gives a new connection its slot: the one place a connection is created.
    private func addClient(_ fd: Int32, http: Bool) {
        let state = s
        let id = state.pointee.nextClientID
        state.pointee.nextClientID += 1
        var flags: ClientFlags = []
        if http { flags.insert(.http) }
        let info = ClientInfo(address: Socket.address(fd, remote: true), localAddress: Socket.address(fd, remote: false),
                              createdMillis: state.pointee.nowMillis, user: users.defaultUser)
        let limits = state.pointee.limits
        let c = state.pointee.connections.insert(ClientState(
            fd: fd, id: id, flags: flags, maxPayload: limits.maxPayload, maxInline: limits.maxInline,
            info: info, nowMillis: state.pointee.nowMillis))
        // Every connection starts as `default`; beyond its `connections`
        // limit it is kept, acting as no user, so that it may AUTH as another.
        if !actAsDefault(c) {
            actAsNoUser(c)
            log.debug("connection over its user's limit", ["id": .int(id), "user": "default"])
        }
        if http {
            state.pointee.httpCount += 1
            c.pointee.closeDeadline = state.pointee.nowNanos + KernelConstants.httpRequestHeadTimeoutNanos
            state.pointee.timedClients.insert(fd)
        } else {
            state.pointee.clientCount += 1
            state.pointee.metrics.connectionsAccepted += 1
            if log.enabled(.debug) {
                log.debug("client connected", ["id": .int(id), "addr": .string(info.address)])
            }
        }
    }

    // MARK: - Read and execute

    func readClient(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.closeAfterReply) {
            discardInput(c)  // nothing more will be executed
            return
        }
        let chunk = c.pointee.readSize
        if c.pointee.input.writableBytes < chunk / 2 {
            let shift = c.pointee.input.readIndex
            if shift > 0 {
                c.pointee.input.compact()
                c.pointee.parser.rebase(by: shift)
            }
            let wanted = c.pointee.parser.bytesWanted(readIndex: 0) - c.pointee.input.readableBytes
            c.pointee.input.reserve(max(chunk, wanted))
        }
        let room = c.pointee.input.writableBytes
        switch Socket.read(c.pointee.fd, into: &c.pointee.input, limit: room) {
        case .bytes(let n):
            // A read that fills the buffer means a pipelining client: read more
            // per pass so each pass delivers bigger batches (fewer writes to
            // subscribers). Back to the small size once it drains.
            if n == room && chunk < KernelConstants.maxReadChunk {
                c.pointee.readSize = chunk * 2
            } else if n < chunk / 4 && chunk > KernelConstants.readChunk {
                c.pointee.readSize = KernelConstants.readChunk
            }
            s.pointee.metrics.netInputBytes &+= n
            c.pointee.lastActiveMillis = s.pointee.nowMillis
            processInput(c)
        case .wouldBlock:
            return
        case .closed:
            markClose(c, reason: "eof")
        case .failed(let e):
            markClose(c, reason: String(cString: strerror(e)))
        }
    }

    /// Runs every complete command in the input buffer.
    @inline(__always)
    func processInput(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.queryStart = c.pointee.input.readIndex
        while c.pointee.flags.isDisjoint(with: .paused) {
            switch c.pointee.parser.next(&c.pointee.input) {
            case .command:
                if !c.pointee.flags.contains(.pendingWrite) {
                    // Queue now, ahead of any subscriber this command delivers to.
                    c.pointee.flags.insert(.pendingWrite)
                    s.pointee.pendingWrites.append(c.pointee.fd)
                }
                let args = c.pointee.parser.arguments(in: c.pointee.input)
                execute(c, args)
            case .needMore:
                let buffered = c.pointee.input.readableBytes
                if buffered == 0 {
                    c.pointee.input.shrinkIfEmpty(above: KernelConstants.idleBufferLimit,
                                                  to: KernelConstants.initialInputBuffer)
                    c.pointee.parser.shrinkArguments()
                } else if !c.pointee.flags.contains(.authenticated) && buffered > s.pointee.limits.queryBufferBeforeAuth {
                    s.pointee.metrics.queryBufferDisconnects += 1
                    log.warn("client closed: query buffer limit before AUTH",
                             ["id": .int(c.pointee.id), "addr": .string(c.pointee.info.address),
                              "bytes": .int(buffered), "limit": .int(s.pointee.limits.queryBufferBeforeAuth)])
                    markClose(c, reason: "query buffer limit before auth")
                } else {
                    // What the unfinished request holds, not what it sent: the
                    // argument table costs 16 bytes per argument however small.
                    let held = c.pointee.input.capacity + c.pointee.parser.argumentTableBytes
                    if held > s.pointee.limits.queryBuffer {
                        s.pointee.metrics.queryBufferDisconnects += 1
                        log.warn("client closed: query buffer limit",
                                 ["id": .int(c.pointee.id), "addr": .string(c.pointee.info.address),
                                  "bytes": .int(held), "arguments": .int(c.pointee.parser.argumentCount),
                                  "limit": .int(s.pointee.limits.queryBuffer)])
                        markClose(c, reason: "query buffer limit")
                    }
                }
                checkReplyLimit(c)
                markPending(c)
                return
            case .error(let e):
                s.pointee.metrics.protocolErrors += 1
                countError(e.replyText)
                c.pointee.output.tail.writeError(e.replyText)
                c.pointee.flags.insert([.closeAfterReply, .lingerAfterReply])
                if case .bulkOverLimit(let length, let limit) = e {
                    s.pointee.metrics.payloadLimitDisconnects += 1
                    log.warn("client closed: payload over max_payload",
                             ["id": .int(c.pointee.id), "addr": .string(c.pointee.info.address),
                              "bytes": .int(length), "limit": .int(limit)])
                } else {
                    log.debug("protocol error", ["id": .int(c.pointee.id), "error": .string(e.message)])
                }
            }
        }
        checkReplyLimit(c)
        markPending(c)
    }

    // MARK: - Write

    /// Queues the client for a flush before the loop sleeps.
    @inline(__always)
    func markPending(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.pendingWrite) { return }
        if c.pointee.output.isEmpty && !c.pointee.flags.contains(.closeAfterReply) { return }
        c.pointee.flags.insert(.pendingWrite)
        s.pointee.pendingWrites.append(c.pointee.fd)
    }

    /// Writes what the socket takes (up to the per-flush cap); watches for
    /// writability only while bytes remain.
    func flush(_ c: UnsafeMutablePointer<ClientState>) {
        // A reply waiting for the ledger goes out, with everything after it,
        // later: only the output before it may be written now.
        var limit = KernelConstants.maxWritePerFlush
        // The two rare states in one test: output held for the ledger, and
        // replies turned off.
        if !c.pointee.flags.isDisjoint(with: ClientFlags.heldOrDropped) {
            // Output queued between commands while replies are off (a late
            // reply) is not sent either (Kernel+ClientReply.swift).
            if !c.pointee.flags.isDisjoint(with: .repliesDropped) { dropSuppressedReplies(c) }
            if c.pointee.flags.contains(.awaitingLedger) {
                limit = min(limit, s.pointee.ledgerGate.releasableBytes(c))
                if limit == 0 { return }
            }
        }
        let (outcome, written) = c.pointee.output.write(to: c.pointee.fd, maxBytes: limit)
        c.pointee.flushedBytes &+= written
        s.pointee.metrics.netOutputBytes &+= written
        switch outcome {
        case .drained:
            if c.pointee.flags.contains(.closeAfterReply) {
                if c.pointee.flags.contains(.lingerAfterReply) && !s.pointee.shuttingDown {
                    if !c.pointee.flags.contains(.lingering) { startLingering(c) }
                } else {
                    markClose(c, reason: "close after reply")
                }
                return
            }
            if c.pointee.flags.contains(.watchingWritable) {
                c.pointee.flags.remove(.watchingWritable)
                loop.poller.modify(c.pointee.fd, readInterest(c))
            }
            c.pointee.softLimitSince = 0
            c.pointee.output.tail.shrinkIfEmpty(above: KernelConstants.idleBufferLimit,
                                                to: KernelConstants.initialOutputBuffer)
        case .pending:
            // Held back for the ledger, not by a full socket: the release
            // queues a flush; watching for writability would only spin.
            if c.pointee.flags.contains(.awaitingLedger) && s.pointee.ledgerGate.releasableBytes(c) == 0 {
                if c.pointee.flags.contains(.watchingWritable) {
                    c.pointee.flags.remove(.watchingWritable)
                    loop.poller.modify(c.pointee.fd, readInterest(c))
                }
                return
            }
            if !c.pointee.flags.contains(.watchingWritable) {
                c.pointee.flags.insert(.watchingWritable)
                loop.poller.modify(c.pointee.fd, readInterest(c))
            }
        case .failed(let e):
            markClose(c, reason: String(cString: strerror(e)))
        }
    }

    // MARK: - Close

    /// After an error reply has been written: shut our side down for writing
    /// (the client reads the reply, then EOF) and discard what the client
    /// still sends until it closes or `lingerNanos` pass. Closing at once,
    /// with its unread input, would send a reset that can destroy the reply
    /// before the client reads it (redis-py then reports a broken pipe).
    private func startLingering(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.flags.insert(.lingering)
        _ = shutdown(c.pointee.fd, Int32(SHUT_WR))
        if c.pointee.flags.contains(.watchingWritable) {
            c.pointee.flags.remove(.watchingWritable)
            loop.poller.modify(c.pointee.fd, Poller.readable)
        }
        c.pointee.closeDeadline = s.pointee.nowNanos + KernelConstants.lingerNanos
        s.pointee.timedClients.insert(c.pointee.fd)
    }

    /// Reads and drops input from a client that will run nothing more.
    func discardInput(_ c: UnsafeMutablePointer<ClientState>) {
        let n = withUnsafeTemporaryAllocation(byteCount: KernelConstants.lingerReadChunk, alignment: 1) { sink in
            read(c.pointee.fd, sink.baseAddress, sink.count)
        }
        if n > 0 {
            s.pointee.metrics.netInputBytes &+= n
        } else if n == 0 {
            markClose(c, reason: "eof")
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            markClose(c, reason: String(cString: strerror(errno)))
        }
    }

    /// Closes the connections whose `closeDeadline` has passed: HTTP
    /// connections that did not send a request head in time, and lingering
    /// ones whose client never closed. Also polls paused listeners again.
    func expireTimedClients(now: Int64) {
        let state = s
        if !state.pointee.pausedListeners.isEmpty && now >= state.pointee.acceptResumeAt { resumeAccepting() }
        guard !state.pointee.timedClients.isEmpty else { return }
        for fd in state.pointee.timedClients {
            guard let c = state.pointee.client(fd), !c.pointee.flags.contains(.closing),
                  c.pointee.closeDeadline > 0, now >= c.pointee.closeDeadline else { continue }
            let reason = c.pointee.flags.contains(.lingering) ? "linger timeout"
                : c.pointee.flags.contains(.overUserLimit) ? "no user: default's connection limit" : "request head timeout"
            if log.enabled(.debug) {
                log.debug("connection timed out", ["id": .int(c.pointee.id), "reason": .string(reason),
                                                  "addr": .string(c.pointee.info.address)])
            }
            markClose(c, reason: reason)
        }
    }

    /// Marks the client for closing at the end of this loop pass. Until then
    /// it receives nothing and its events are ignored; its fd stays open, so
    /// the number cannot be reused by an accept in the same batch.
    ///
    /// Its subscriptions end at once, so that a command served later in
    /// the same pass (PUBSUB NUMPAT, NUMSUB, a PUBLISH's count) no longer
    /// counts it; while `publish` walks the tables they end right after the walk.
    func markClose(_ c: UnsafeMutablePointer<ClientState>, reason: String) {
        if c.pointee.flags.contains(.closing) { return }
        c.pointee.flags.insert(.closing)
        c.pointee.info.closeReason = reason
        s.pointee.closing.append(c.pointee.fd)
        if c.pointee.isSubscribed {
            if s.pointee.delivering { s.pointee.detachLater.append(c.pointee.fd) } else { endSubscriptions(c) }
        }
    }

    /// Removes the client from every channel, pattern and shard channel it
    /// subscribed to.
    func endSubscriptions(_ c: UnsafeMutablePointer<ClientState>) {
        let fd = c.pointee.fd
        let info = c.pointee.info
        for channel in info.channels { _ = s.pointee.channels.remove(fd, channel) }
        for pattern in info.patterns { _ = s.pointee.patterns.remove(fd, pattern) }
        for channel in info.shardChannels { _ = s.pointee.shardChannels.remove(fd, channel) }
        info.channels = SubscriptionSet()
        info.patterns = SubscriptionSet()
        info.shardChannels = SubscriptionSet()
        c.pointee.channelCount = 0
        c.pointee.patternCount = 0
        c.pointee.shardChannelCount = 0
    }

    /// Takes the client out of everything that refers to it, then frees its
    /// slot (which closes the socket): the one place a connection ends.
    func freeClient(_ fd: Int32) {
        guard let c = s.pointee.client(fd) else { return }
        if ledger != nil { forgetBlockedRead(fd) }
        // Always: `Agents` alone knows which connection is an instance (the
        // flag only spares publishes the question).
        agents.connectionClosed(fd: fd)
        discardTransaction(c)
        stopMonitoring(c)
        setReplyFlags(c) { $0.remove(.replyControlled) }
        let info = c.pointee.info
        endSubscriptions(c)
        if c.pointee.closeDeadline != 0 { s.pointee.timedClients.remove(fd) }
        if !s.pointee.overSoftLimit.isEmpty { s.pointee.overSoftLimit.remove(fd) }
        if !c.pointee.flags.isDisjoint(with: [.awaitingLedger, .stalled]) { s.pointee.ledgerGate.forget(c) }
        if let account = info.account { leaveAccount(c, account) }
        if !s.pointee.pausedListeners.isEmpty { resumeAccepting() }  // a descriptor is free again
        if c.pointee.flags.contains(.http) {
            s.pointee.httpCount -= 1
        } else {
            s.pointee.clientCount -= 1
            if log.enabled(.debug) {
                log.debug("client closed", ["id": .int(c.pointee.id), "addr": .string(info.address),
                                            "reason": .string(info.closeReason)])
            }
        }
        s.pointee.connections.remove(fd)
    }

    // MARK: - Output limits

    /// Applies the output limits of `c`'s class after bytes were queued for
    /// it: subscribers `pubsub_output`, every other client `normal_output`
    /// (Redis's client-output-buffer-limit classes). A client over the hard
    /// limit, or over the soft one for its seconds, is disconnected.
    @inline(__always)
    func checkOutputLimit(_ c: UnsafeMutablePointer<ClientState>) {
        let pending = c.pointee.output.pendingBytes
        let limits = s.pointee.limits
        let pubsub = c.pointee.isSubscribed
        let hard = pubsub ? limits.pubsubOutputHard : limits.normalOutputHard
        let soft = pubsub ? limits.pubsubOutputSoft : limits.normalOutputSoft
        if pending <= soft || soft == 0 {
            if hard == 0 || pending <= hard {
                // Also when soft is 0: CONFIG SET may have turned it off
                // while this client was over it.
                c.pointee.softLimitSince = 0
                return
            }
        }
        if hard != 0 && pending > hard {
            disconnectOverLimit(c, pending: pending, limit: "hard")
            return
        }
        let seconds = pubsub ? limits.pubsubOutputSoftSeconds : limits.normalOutputSoftSeconds
        if c.pointee.softLimitSince == 0 {
            enterSoftLimit(c)
        } else if s.pointee.nowNanos - c.pointee.softLimitSince > Int64(seconds) * 1_000_000_000 {
            disconnectOverLimit(c, pending: pending, limit: "soft")
        }
    }

    /// After a client's commands ran: its replies count against its class's
    /// limits. One comparison while under the smallest limit (the hot path).
    @inline(__always)
    func checkReplyLimit(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.output.pendingBytes > s.pointee.outputLimitFloor || c.pointee.softLimitSince != 0 {
            checkOutputLimit(c)
        }
    }

    /// The soft limits are also checked by the timer, for clients that stay
    /// over them while nothing new is queued: only the clients that went
    /// over one (`overSoftLimit`), so the check costs nothing while none did.
    /// Those whose `softLimitSince` was cleared since leave the set here.
    func checkSoftLimits() {
        guard !s.pointee.overSoftLimit.isEmpty else { return }
        // A copy: the walk takes clients out of the set.
        let over = s.pointee.overSoftLimit
        for fd in over {
            guard let c = s.pointee.client(fd), c.pointee.softLimitSince != 0 else {
                s.pointee.overSoftLimit.remove(fd)
                continue
            }
            if !c.pointee.flags.contains(.closing) { checkOutputLimit(c) }
        }
    }

    /// `c`'s pending output went over its class's soft limit now. Clearing
    /// `softLimitSince` (drained, or under the limit again) stays a plain
    /// store on the hot path: the tick drops the client from the set then.
    private func enterSoftLimit(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.softLimitSince = s.pointee.nowNanos
        s.pointee.overSoftLimit.insert(c.pointee.fd)
    }

    private func disconnectOverLimit(_ c: UnsafeMutablePointer<ClientState>, pending: Int, limit: String) {
        let pubsub = c.pointee.isSubscribed
        if pubsub { s.pointee.metrics.slowSubscriberDisconnects += 1 } else { s.pointee.metrics.normalOutputDisconnects += 1 }
        log.warn(pubsub ? "slow subscriber disconnected" : "client disconnected: output buffer limit", [
            "id": .int(c.pointee.id), "addr": .string(c.pointee.info.address),
            "class": .string(pubsub ? "pubsub" : "normal"),
            "pending_bytes": .int(pending), "limit": .string(limit),
        ])
        c.pointee.output.discardAll()
        markClose(c, reason: "output buffer limit (\(limit))")
    }
}
