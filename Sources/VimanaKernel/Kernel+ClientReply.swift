import VimanaCore
import VimanaRESP

/// CLIENT REPLY ON|OFF|SKIP's values.
enum ReplyMode: String, Keyword {
    case on, off, skip
}

/// CLIENT REPLY and CLIENT NO-EVICT, as Redis 7.0.15 runs them.
///
/// OFF drops every reply from then on, SKIP the replies of the next
/// command, errors included; ON ends either and answers +OK. Pub/sub frames
/// (messages, and the (un)subscribe confirmations, in RESP2 as in RESP3)
/// are pushes and still go out, as Redis's CLIENT_PUSHING lets them; a
/// monitor's feed is a reply and does not.
///
/// Replies are written as always and taken back: `replyMark` is where the
/// dropped output begins (in the output stream, as `flushedBytes` counts);
/// after each command of such a connection, and before each flush, the
/// output past it is dropped; a push first drops what precedes it, then
/// moves the mark past itself. While no connection is in these states
/// (nor monitors), a command costs the one test of `afterCallWork` in `call`.
extension Kernel {
    // MARK: - Commands

    /// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP reply nothing; SKIP while OFF
    /// does nothing; a bad value is a syntax error (dropped while OFF).
    func clientReply(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        switch args.keyword(2, as: ReplyMode.self) {
        case .on:
            if !c.pointee.flags.isDisjoint(with: .repliesDropped) { dropSuppressedReplies(c) }
            setReplyFlags(c) { $0.remove([.replyOff, .replySkip]) }
            c.pointee.output.tail.append("+OK\r\n")
        case .off:
            if c.pointee.flags.isDisjoint(with: .repliesDropped) { c.pointee.replyMark = outputPosition(c) }
            setReplyFlags(c) { $0.insert(.replyOff) }
        case .skip:
            if !c.pointee.flags.contains(.replyOff) { setReplyFlags(c) { $0.insert(.replySkipNext) } }
        case nil:
            c.pointee.output.tail.writeError(ErrorReply.syntax)
        }
    }

    /// CLIENT NO-EVICT ON|OFF: +OK, and CLIENT LIST's `e` flag while on.
    /// Vimana evicts no clients for memory, so the setting changes nothing else.
    func clientNoEvict(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        switch args.keyword(2, as: OnOff.self) {
        case .on: c.pointee.flags.insert(.noEvict)
        case .off: c.pointee.flags.remove(.noEvict)
        case nil:
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        c.pointee.output.tail.append("+OK\r\n")
    }

    // MARK: - Dropping replies

    /// Where the next byte queued for `c` sits in its output stream.
    @inline(__always)
    func outputPosition(_ c: UnsafeMutablePointer<ClientState>) -> Int {
        c.pointee.flushedBytes &+ c.pointee.output.pendingBytes
    }

    /// Takes back what was queued for `c` since `replyMark`.
    func dropSuppressedReplies(_ c: UnsafeMutablePointer<ClientState>) {
        let excess = outputPosition(c) &- c.pointee.replyMark
        if excess > 0 { c.pointee.output.dropLast(excess) }
        c.pointee.replyMark = outputPosition(c)
    }

    /// After a command of a connection in one of CLIENT REPLY's states (run
    /// by `call`, or refused, or queued), as Redis's resetClient: its
    /// dropped replies go, a SKIP ends, and a SKIP just asked for starts. A command whose reply comes later (a blocked
    /// or background read) finishes when that reply is written (`unblock`,
    /// `resume`), as Redis resets a blocked client only once it is served.
    @inline(never)
    func finishReplyControl(_ c: UnsafeMutablePointer<ClientState>) {
        if !c.pointee.flags.isDisjoint(with: [.blocked, .reading]) { return }
        if !c.pointee.flags.isDisjoint(with: .repliesDropped) { dropSuppressedReplies(c) }
        let skipNext = c.pointee.flags.contains(.replySkipNext)
        setReplyFlags(c) { flags in
            flags.remove([.replySkip, .replySkipNext])
            if skipNext { flags.insert(.replySkip) }
        }
        if skipNext { c.pointee.replyMark = outputPosition(c) }
    }

    /// Changes `c`'s CLIENT REPLY flags, keeping the count of connections
    /// in any of those states (`repliesControlled`) true: every change of
    /// them goes through here.
    func setReplyFlags(_ c: UnsafeMutablePointer<ClientState>, _ change: (inout ClientFlags) -> Void) {
        let before = !c.pointee.flags.isDisjoint(with: .replyControlled)
        change(&c.pointee.flags)
        let after = !c.pointee.flags.isDisjoint(with: .replyControlled)
        if before != after {
            s.pointee.repliesControlled += after ? 1 : -1
            countAfterCall()
        }
    }

    /// Before a pub/sub frame is queued for `c` while its replies are
    /// dropped: the replies before the frame go first.
    @inline(never)
    func beginPush(_ c: UnsafeMutablePointer<ClientState>) {
        dropSuppressedReplies(c)
    }

    /// After the frame: it stays, replies after it are dropped.
    @inline(__always)
    func endPush(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.replyMark = outputPosition(c)
    }
}
