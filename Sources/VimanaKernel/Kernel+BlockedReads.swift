import VimanaCore
import VimanaRESP
import VimanaLedger

/// XREAD and XREADGROUP BLOCK: blocking a client on topics, waking it when
/// an entry arrives, serving it in the pass, and timing it out
/// (`BlockedReaders` keeps who waits on what).
extension Kernel {
    /// Wakes the XREAD and XREADGROUP BLOCK clients waiting on `topic`:
    /// they are served once, before this pass's flush.
    func wakeReaders(_ topic: UnsafeRawBufferPointer) {
        guard !blockedReaders.isEmpty else { return }
        blockedReaders.wake(topic)
    }

    /// Serves the readers woken in this pass, oldest first on each topic.
    /// A reader with nothing new for it (another consumer of its group took
    /// the entry) costs a lookup or two: it stays blocked.
    func serveBlockedReaders() {
        for fd in blockedReaders.takeReady() {
            guard let c = s.pointee.client(fd), c.pointee.flags.contains(.blocked),
                  let read = clientInfo(fd)?.blockedRead else { continue }
            let mark = c.pointee.flushedBytes &+ c.pointee.output.pendingBytes
            if let refusal = read.refusal {
                c.pointee.output.tail.writeError(refusal)
                accountServedRead(c, replyNanos: 0, mark: mark)
                unblock(c)
                continue
            }
            let started = Clock.monotonicNanos()
            let replied = read.group.map { replyGroupRead(c, $0, blocked: true) } ?? replyRead(c, read, blocking: true)
            if replied {
                accountServedRead(c, replyNanos: Clock.monotonicNanos() - started, mark: mark)
                unblock(c)
            }
        }
    }

    func expireBlockedReaders(now: Int64) {
        for fd in blockedReaders.takeExpired(now: now) {
            guard let c = s.pointee.client(fd), c.pointee.flags.contains(.blocked) else { continue }
            c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            // Redis 7.0 counts nothing more for a timeout: the call was counted when it blocked.
            clientInfo(fd)?.blockedCall = nil
            unblock(c)
        }
    }

    /// Blocks `c` until an entry arrives or `timeoutMillis` (≥ 0; 0: no
    /// deadline) passes. Any timeout a client may give is accepted, as Redis
    /// 7.0 does: one too far away for the deadline to be counted in
    /// nanoseconds (about 292 years) saturates, and so never comes.
    /// Inside EXEC nothing blocks: the read answers as if it had timed out
    /// (Redis's CLIENT_DENY_BLOCKING in a transaction).
    func block(_ c: UnsafeMutablePointer<ClientState>, _ read: BlockedRead, timeoutMillis: Int) {
        if c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        c.pointee.flags.insert(.blocked)
        c.pointee.blockDeadline = timeoutMillis == 0 ? 0
            : s.pointee.nowNanos.addingSaturating(Int64(timeoutMillis).multipliedSaturating(by: 1_000_000))
        clientInfo(c.pointee.fd)?.blockedRead = read
        blockedReaders.add(c.pointee.fd, topics: read.topics, deadline: c.pointee.blockDeadline)
    }

    func unblock(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.flags.remove(.blocked)
        let fd = c.pointee.fd
        blockedReaders.remove(fd)
        clientInfo(fd)?.blockedRead = nil
        if !c.pointee.flags.isDisjoint(with: .replyControlled) { finishReplyControl(c) }
        markPending(c)
        if servingBeforeRemoval { unblockedInRemoval.append(fd) } else { processInput(c) }
    }

    /// Before XDEL, XTRIM, XADD's trimming, DEL, UNLINK and FLUSHALL change a
    /// topic: the readers woken in this pass (by an XADD before it) are
    /// served, as Redis serves blocked clients after each command, so a
    /// removal pipelined after an XADD does not take its entry from them.
    /// Inside EXEC nothing is served (Redis serves after the transaction).
    func serveReadersBeforeRemoval(_ c: UnsafeMutablePointer<ClientState>) {
        guard blockedReaders.hasReady, !c.pointee.flags.contains(.multi), !servingBeforeRemoval else { return }
        servingBeforeRemoval = true
        serveBlockedReaders()
        servingBeforeRemoval = false
    }

    /// The pipelined commands of the clients `serveReadersBeforeRemoval` unblocked.
    func resumeUnblockedInRemoval() {
        let fds = unblockedInRemoval
        unblockedInRemoval = []
        for fd in fds {
            guard let c = s.pointee.client(fd), !c.pointee.flags.contains(.closing),
                  !c.pointee.flags.contains(.blocked) else { continue }
            processInput(c)
        }
    }

    /// After its user changed (`userChanged`): ends `c`'s blocked read
    /// when the command would now be refused, with the -NOPERM it would
    /// get (logged in ACL LOG as it would be), in the next pass, before
    /// anything else is served to it. Checked in the command's order: the
    /// user's rules (internal topics among them: `mayName`), an agent's group.
    func recheckBlockedRead(_ c: UnsafeMutablePointer<ClientState>) {
        guard c.pointee.flags.contains(.blocked), let info = clientInfo(c.pointee.fd),
              let read = info.blockedRead, read.refusal == nil, let first = read.topics.first else { return }
        var refusal: String?
        read.asCommand { command, args in
            if let (denial, _) = aclDenial(c.pointee.info.user, command, args) {
                logDenial(c, denial)
                refusal = ErrorReply.noPermission(denial)
            }
        }
        if refusal == nil, let group = read.group?.group, let a = agents.agent(named: group), !mayActAs(c, a) {
            logAgentRefusal(c, a, command: "xreadgroup")
            refusal = ErrorReply.mayNotUseAgentGroup(a.id)
        }
        guard let refusal else { return }
        info.blockedRead?.refusal = refusal
        first.withUnsafeBytes { blockedReaders.wake($0) }
    }

    /// A topic was deleted (DEL, UNLINK, FLUSHALL): XREADGROUP readers
    /// blocked on it end with Redis 7.0's error, in the next pass; XREAD
    /// readers wait on, as in Redis.
    func topicDeleted(_ topic: [UInt8]) {
        guard !blockedReaders.isEmpty else { return }
        var woken = false
        for fd in blockedReaders.fds {
            guard let info = clientInfo(fd), let read = info.blockedRead, read.group != nil, read.refusal == nil,
                  read.topics.contains(topic) else { continue }
            info.blockedRead?.refusal = "UNBLOCKED the stream key no longer exists"
            woken = true
        }
        if woken { topic.withUnsafeBytes { blockedReaders.wake($0) } }
    }

    /// Forgets a closing client's blocked read.
    func forgetBlockedRead(_ fd: Int32) {
        blockedReaders.remove(fd)
    }
}

/// What a blocked XREAD is waiting for.
struct BlockedRead {
    var topics: [[UInt8]]
    var after: [StreamID]
    var count: Int
    /// Per topic, the ledger sequence of the entry with the ID in `after`
    /// when known (else 0): the read skips what lies before it.
    var afterSequence: [UInt64] = []
    /// Set for an XREADGROUP.
    var group: GroupRead? = nil
    /// Set when the user's rules changed so that the read is refused now:
    /// the error it ends with (`recheckBlockedRead`).
    var refusal: String? = nil

    /// The command as the ACL check reads it (what a blocked read had
    /// to name: its command, BLOCK, its group, its topics), for `body`.
    func asCommand(_ body: (Command, Arguments) -> Void) {
        var words: [[UInt8]] = []
        if let group {
            words = [Array("XREADGROUP".utf8), Array("GROUP".utf8), group.group, group.consumer]
        } else {
            words = [Array("XREAD".utf8)]
        }
        words += [Array("BLOCK".utf8), Array("0".utf8), Array("STREAMS".utf8)] + topics
        words += Array(repeating: Array((group == nil ? "$" : ">").utf8), count: topics.count)
        let command: Command = group == nil ? .xread : .xreadgroup
        QueuedCommand(command, words: words).withArguments { body(command, $0) }
    }
}
