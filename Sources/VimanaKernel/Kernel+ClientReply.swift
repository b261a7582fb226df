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
/// moves the mark past itself. A connection in none of these states pays
/// one flag test per command (`processInput`).
extension Kernel {
    // MARK: - Commands

    /// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP reply nothing; SKIP while OFF
    /// does nothing; a bad value is a syntax error (dropped while OFF).
    func clientReply(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        switch args.keyword(2, as: ReplyMode.self) {
        case .on:
            if !c.pointee.flags.isDisjoint(with: .repliesDropped) { dropSuppressedReplies(c) }
            c.pointee.flags.remove([.replyOff, .replySkip])
            c.pointee.output.tail.append("+OK\r\n")
        case .off:
            if c.pointee.flags.isDisjoint(with: .repliesDropped) { c.pointee.replyMark = outputPosition(c) }
            c.pointee.flags.insert(.replyOff)
        case .skip:
            if !c.pointee.flags.contains(.replyOff) { c.pointee.flags.insert(.replySkipNext) }
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

    /// After a command of a connection in one of CLIENT REPLY's states, as
    /// Redis's resetClient: its dropped replies go, a SKIP ends, and a SKIP
    /// just asked for starts. A command whose reply comes later (a blocked
    /// or background read) finishes when that reply is written (`unblock`,
    /// `resume`), as Redis resets a blocked client only once it is served.
    @inline(never)
    func finishReplyControl(_ c: UnsafeMutablePointer<ClientState>) {
        if !c.pointee.flags.isDisjoint(with: [.blocked, .reading]) { return }
        if !c.pointee.flags.isDisjoint(with: .repliesDropped) { dropSuppressedReplies(c) }
        c.pointee.flags.remove(.replySkip)
        if c.pointee.flags.contains(.replySkipNext) {
            c.pointee.flags.remove(.replySkipNext)
            c.pointee.flags.insert(.replySkip)
            c.pointee.replyMark = outputPosition(c)
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
