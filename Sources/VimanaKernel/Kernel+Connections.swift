import VimanaCore
import VimanaRESP
import VimanaEventLoop
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// Accepting, reading, flushing and closing connections.
extension Kernel {
    // MARK: - Accept

    func acceptClients(http: Bool) {
        let listener = http ? httpListener : respListener
        // Accept a bounded batch per event so a connection storm cannot starve clients.
        for _ in 0..<64 {
            let fd = Socket.accept(listener)
            if fd < 0 {
                let e = errno
                if e != EAGAIN && e != EWOULDBLOCK && e != EINTR {
                    log.warn("accept failed", ["error": .string(String(cString: strerror(e)))])
                }
                return
            }
            if !http && s.pointee.clientCount >= config.kernel.limits.maxClients {
                let text: StaticString = "-ERR max number of clients reached\r\n"
                _ = write(fd, text.utf8Start, text.utf8CodeUnitCount)
                Socket.close(fd)
                s.pointee.metrics.connectionsRejected += 1
                log.debug("connection rejected", ["reason": "max_clients"])
                continue
            }
            if http && s.pointee.httpCount >= 64 {
                Socket.close(fd)  // observability must not become an fd sink
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

    private func addClient(_ fd: Int32, http: Bool) {
        let state = s
        state.pointee.ensureTable(fd)
        if Int(fd) >= infos.count { infos.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - infos.count + 1024)) }
        let limits = state.pointee.limits
        let c = UnsafeMutablePointer<ClientState>.allocate(capacity: 1)
        let id = state.pointee.nextClientID
        state.pointee.nextClientID += 1
        var flags: ClientFlags = config.kernel.password == nil ? [.authenticated] : []
        if http { flags.insert(.http) }
        c.initialize(to: ClientState(
            fd: fd, id: id, flags: flags,
            input: ByteBuffer(capacity: KernelConstants.initialInputBuffer),
            parser: RequestParser(maxBulk: limits.maxPayload, maxInline: limits.maxInline),
            output: OutputQueue(capacity: KernelConstants.initialOutputBuffer),
            channelCount: 0, patternCount: 0, softLimitSince: 0,
            createdMillis: state.pointee.nowMillis, lastActiveMillis: state.pointee.nowMillis,
            lastCommand: -1, lastSubcommand: -1, readSize: KernelConstants.readChunk))
        state.pointee.clients[Int(fd)] = c
        infos[Int(fd)] = ClientInfo(address: Socket.address(fd, remote: true), localAddress: Socket.address(fd, remote: false))
        if http {
            state.pointee.httpCount += 1
        } else {
            state.pointee.clientCount += 1
            state.pointee.metrics.connectionsAccepted += 1
            if log.enabled(.debug) {
                log.debug("client connected", ["id": .int(id), "addr": .string(infos[Int(fd)]?.address ?? "")])
            }
        }
    }

    // MARK: - Read and execute

    func readClient(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.closeAfterReply) {
            // Nothing more will be executed; drop what arrives.
            var sink = [UInt8](repeating: 0, count: 512)
            let n = read(c.pointee.fd, &sink, 512)
            if n == 0 { markClose(c, reason: "eof") }
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
                if !c.pointee.flags.contains(.authenticated) && buffered > s.pointee.limits.queryBufferBeforeAuth {
                    s.pointee.metrics.queryBufferDisconnects += 1
                    log.warn("client closed: query buffer limit before AUTH",
                             ["id": .int(c.pointee.id), "bytes": .int(buffered)])
                    markClose(c, reason: "query buffer limit before auth")
                } else if buffered > KernelConstants.queryBufferLimit(s.pointee.limits) {
                    s.pointee.metrics.queryBufferDisconnects += 1
                    log.warn("client closed: query buffer limit", ["id": .int(c.pointee.id), "bytes": .int(buffered)])
                    markClose(c, reason: "query buffer limit")
                } else if buffered == 0 {
                    c.pointee.input.shrinkIfEmpty(above: KernelConstants.idleBufferLimit,
                                                  to: KernelConstants.initialInputBuffer)
                }
                markPending(c)
                return
            case .error(let e):
                s.pointee.metrics.protocolErrors += 1
                c.pointee.output.tail.writeError(e.replyText)
                c.pointee.flags.insert(.closeAfterReply)
                log.debug("protocol error", ["id": .int(c.pointee.id), "error": .string(e.message)])
            }
        }
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
        if c.pointee.flags.contains(.awaitingLedger) {
            limit = min(limit, releasableBytes(c))
            if limit == 0 { return }
        }
        let (outcome, written) = c.pointee.output.write(to: c.pointee.fd, maxBytes: limit)
        c.pointee.flushedBytes &+= written
        s.pointee.metrics.netOutputBytes &+= written
        switch outcome {
        case .drained:
            if c.pointee.flags.contains(.closeAfterReply) {
                markClose(c, reason: "close after reply")
                return
            }
            if c.pointee.flags.contains(.watchingWritable) {
                c.pointee.flags.remove(.watchingWritable)
                loop.poller.modify(c.pointee.fd, Poller.readable)
            }
            c.pointee.softLimitSince = 0
            c.pointee.output.tail.shrinkIfEmpty(above: KernelConstants.idleBufferLimit,
                                                to: KernelConstants.initialOutputBuffer)
        case .pending:
            // Held back for the ledger, not by a full socket: the release
            // queues a flush; watching for writability would only spin.
            if c.pointee.flags.contains(.awaitingLedger) && releasableBytes(c) == 0 {
                if c.pointee.flags.contains(.watchingWritable) {
                    c.pointee.flags.remove(.watchingWritable)
                    loop.poller.modify(c.pointee.fd, Poller.readable)
                }
                return
            }
            if !c.pointee.flags.contains(.watchingWritable) {
                c.pointee.flags.insert(.watchingWritable)
                let mask = s.pointee.shuttingDown || c.pointee.flags.contains(.closeAfterReply)
                    ? Poller.writable : Poller.readable | Poller.writable
                loop.poller.modify(c.pointee.fd, mask)
            }
        case .failed(let e):
            markClose(c, reason: String(cString: strerror(e)))
        }
    }

    // MARK: - Close

    /// Marks the client for closing at the end of this loop pass. Until then
    /// it receives nothing and its events are ignored; its fd stays open, so
    /// the number cannot be reused by an accept in the same batch.
    func markClose(_ c: UnsafeMutablePointer<ClientState>, reason: String) {
        if c.pointee.flags.contains(.closing) { return }
        c.pointee.flags.insert(.closing)
        infos[Int(c.pointee.fd)]?.closeReason = reason
        s.pointee.closing.append(c.pointee.fd)
    }

    /// Frees everything a client holds and closes its socket.
    func freeClient(_ fd: Int32) {
        guard let c = s.pointee.client(fd) else { return }
        if ledger != nil { forgetLedgerState(fd) }
        if infos[Int(fd)]?.agent != nil { leaveAgent(fd) }
        discardTransaction(c)
        let info = infos[Int(fd)]
        if let info {
            for channel in info.channels { _ = s.pointee.channels.remove(fd, channel) }
            for pattern in info.patterns { _ = s.pointee.patterns.remove(fd, pattern) }
        }
        if c.pointee.flags.contains(.http) {
            s.pointee.httpCount -= 1
        } else {
            s.pointee.clientCount -= 1
            if log.enabled(.debug) {
                log.debug("client closed", ["id": .int(c.pointee.id), "addr": .string(info?.address ?? ""),
                                            "reason": .string(info?.closeReason ?? "")])
            }
        }
        Socket.close(fd)
        c.pointee.input.release()
        c.pointee.parser.release()
        c.pointee.output.release()
        c.deinitialize(count: 1)
        c.deallocate()
        s.pointee.clients[Int(fd)] = nil
        infos[Int(fd)] = nil
    }

    // MARK: - Slow subscribers

    /// Applies the pubsub output limits after bytes were queued for `c`.
    /// Returns false when the client was cut off.
    @inline(__always)
    func checkOutputLimit(_ c: UnsafeMutablePointer<ClientState>) {
        let pending = c.pointee.output.pendingBytes
        let limits = s.pointee.limits
        if pending <= limits.pubsubOutputSoft || limits.pubsubOutputSoft == 0 {
            if limits.pubsubOutputHard == 0 || pending <= limits.pubsubOutputHard {
                if limits.pubsubOutputSoft != 0 { c.pointee.softLimitSince = 0 }
                return
            }
        }
        if limits.pubsubOutputHard != 0 && pending > limits.pubsubOutputHard {
            disconnectSlow(c, pending: pending, limit: "hard")
            return
        }
        if c.pointee.softLimitSince == 0 {
            c.pointee.softLimitSince = s.pointee.nowNanos
        } else if s.pointee.nowNanos - c.pointee.softLimitSince > Int64(limits.pubsubOutputSoftSeconds) * 1_000_000_000 {
            disconnectSlow(c, pending: pending, limit: "soft")
        }
    }

    /// The soft limit is also checked by the timer, for subscribers that stay
    /// over it while nothing new is published.
    func checkSoftLimits() {
        guard s.pointee.limits.pubsubOutputSoft > 0 else { return }
        forEachClient { c in
            if c.pointee.softLimitSince != 0 { checkOutputLimit(c) }
        }
    }

    private func disconnectSlow(_ c: UnsafeMutablePointer<ClientState>, pending: Int, limit: String) {
        s.pointee.metrics.slowSubscriberDisconnects += 1
        log.warn("slow subscriber disconnected", [
            "id": .int(c.pointee.id), "addr": .string(infos[Int(c.pointee.fd)]?.address ?? ""),
            "pending_bytes": .int(pending), "limit": .string(limit),
        ])
        c.pointee.output.discardAll()
        markClose(c, reason: "output buffer limit (\(limit))")
    }
}
