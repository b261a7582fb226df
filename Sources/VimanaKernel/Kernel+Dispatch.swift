import VimanaCore
import VimanaRESP

/// Command lookup, the checks Redis makes before running a command, and the
/// call of its handler: all read from the command table (CommandTable+Entries.swift).
extension Kernel {
    @inline(__always)
    func execute(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let record = s.pointee.commands.lookup(args.pointer(0), args.length(0)) else {
            replyUnknownCommand(c, args)
            return
        }
        let command = record.pointee.command
        if !record.pointee.accepts(args.count) {
            reject(c, command, ErrorReply.wrongArity(CommandTable.spec(command).name))
            return
        }
        // One test for the two rare states, not yet authenticated and inside
        // MULTI, so that the common path pays one compare for both.
        if c.pointee.flags.rawValue & ClientFlags.authenticatedOrMulti.rawValue != ClientFlags.authenticated.rawValue {
            executeRare(c, command, args)
            return
        }
        if refusedByUser(c, record, args) { return }
        if refusedWhileSubscribed(c, command, args) { return }
        call(c, record, args, topLevel: true)
    }

    /// The user's rules (Kernel+ACL.swift), after NOAUTH and before the
    /// subscribed context, as Redis's processCommand: on the common path
    /// one bit test (the command allowed whole) and one flag test (its keys
    /// or channels granted whole by `allkeys`/`allchannels`); for a user
    /// whose root selector decides alone, its arguments against the
    /// compiled patterns. A refusal here is decided again by `permitted`.
    @inline(__always)
    func refusedByUser(_ c: UnsafeMutablePointer<ClientState>, _ record: UnsafeMutablePointer<CommandDispatch.Record>,
                       _ args: Arguments) -> Bool {
        let command = record.pointee.command
        if c.pointee.allowedCommands.contains(command) {
            if record.pointee.aclNeeds & ~c.pointee.flags.rawValue == 0 { return false }
            if c.pointee.flags.contains(.rootDecides) && argumentsAllowed(c, record, args) { return false }
        }
        return !permitted(c, command, args)
    }

    /// `execute` for a connection not yet authenticated or inside MULTI:
    /// the same checks in Redis's order, then the command is run or queued.
    @inline(never)
    func executeRare(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) {
        if !c.pointee.flags.contains(.authenticated) && !s.pointee.commands.record(command).pointee.rules.contains(.allowedBeforeAuth) {
            // Acting as no user, over `default`'s limit: as `default` now if it has room.
            if c.pointee.flags.contains(.overUserLimit) && !admitAsDefault(c) {
                reject(c, command, Self.userConnectionLimitError(Users.defaultName))
                return
            }
            if !c.pointee.flags.contains(.authenticated) {
                reject(c, command, ErrorReply.noAuth)
                return
            }
        }
        if refusedByUser(c, s.pointee.commands.record(command), args) { return }
        if refusedWhileSubscribed(c, command, args) { return }
        if c.pointee.flags.contains(.multi) && !s.pointee.commands.record(command).pointee.rules.contains(.runsInsideMulti) {
            if s.pointee.commands.record(command).pointee.rules.contains(.notInMulti) {
                reject(c, command, ErrorReply.notInTransaction)
                return
            }
            queueInTransaction(c, command, args)
            return
        }
        call(c, s.pointee.commands.record(command), args, topLevel: true)
    }

    /// RESP2's subscribed state allows only the (P|S)(UN)SUBSCRIBE family,
    /// PING, QUIT and RESET: replies Redis's error and returns true for others.
    @inline(__always)
    func refusedWhileSubscribed(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> Bool {
        guard c.pointee.isSubscribed && !c.pointee.flags.contains(.resp3) && !s.pointee.commands.record(command).pointee.rules.contains(.allowedWhileSubscribed) else {
            return false
        }
        reject(c, command, ErrorReply.notAllowedWhileSubscribed(fullName(command, args)))
        return true
    }

    /// Between MULTI and EXEC: a command that passed the checks above is
    /// queued once its subcommand is checked too (out of line: the hot
    /// path only tests the flag).
    @inline(never)
    func queueInTransaction(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) {
        // CLIENT LIST's `cmd=` names the command just queued, as Redis's.
        c.pointee.lastCommand = command.rawValue
        c.pointee.lastSubcommand = -1
        if subcommandQueueable(c, command, args) {
            queueCommand(c, command, args)
        } else {
            flagTransaction(c)
        }
        endRefused(c)
    }

    /// Runs a checked command (directly, or queued, from EXEC: not
    /// `topLevel`, its CLIENT REPLY state moves on after the EXEC), and
    /// counts it as Redis's call() does (Kernel+Stats.swift): one clock
    /// reading, its time since the previous reading (the end of the
    /// previous command, or the loop's wake-up), and on the common path
    /// two adds in the flat counters. A slow, failed, refused or blocked
    /// call goes to `accountCall`.
    @inline(__always)
    func call(_ c: UnsafeMutablePointer<ClientState>, _ record: UnsafeMutablePointer<CommandDispatch.Record>, _ args: Arguments,
              topLevel: Bool) {
        let command = record.pointee.command
        c.pointee.lastCommand = command.rawValue
        c.pointee.lastSubcommand = -1
        let mark = c.pointee.flushedBytes &+ c.pointee.output.pendingBytes
        record.pointee.handler(self, c, args)
        let now = Clock.monotonicNanos()
        let elapsed = now &- s.pointee.clockMark
        s.pointee.clockMark = now
        // EXEC's queued commands leave their own subcommand behind: only a container's counts.
        let slot = s.pointee.stats.slot(command.rawValue, c.pointee.lastSubcommand)
        if elapsed < s.pointee.slowCallNanos && !c.pointee.flags.contains(.blocked) && !replyIsError(c, mark) {
            s.pointee.stats.slots[slot].calls &+= 1
            s.pointee.stats.slots[slot].nanos &+= elapsed
        } else {
            accountCall(c, command, slot, args, elapsed: elapsed, mark: mark)
        }
        // After it ran, as Redis 7.0's call() feeds monitors and its
        // resetClient moves CLIENT REPLY SKIP on: one predictable test while
        // nobody monitors and no connection turned its replies off.
        if s.pointee.afterCallWork != 0 { afterCall(c, command, args, topLevel: topLevel) }
    }

    @inline(never)
    func afterCall(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments, topLevel: Bool) {
        if s.pointee.monitoring { feedMonitors(c, command, args) }
        if topLevel && !c.pointee.flags.isDisjoint(with: .replyControlled) { finishReplyControl(c) }
    }

    /// After a command refused before it ran (or queued by MULTI): a
    /// CLIENT REPLY SKIP moves on, as after one that ran.
    @inline(__always)
    func endRefused(_ c: UnsafeMutablePointer<ClientState>) {
        if !c.pointee.flags.isDisjoint(with: .replyControlled) { finishReplyControl(c) }
    }

    /// A command refused before it runs: its error, and inside MULTI the
    /// transaction is marked to fail (Redis's rejectCommand). EXEC itself is
    /// refused with EXECABORT and the transaction discarded.
    /// Counted as Redis counts it: the command's (or with `subcommand`,
    /// the subcommand's) rejected call, and the error reply.
    @inline(never)
    func reject(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ error: String, subcommand: Int = -1) {
        s.pointee.stats.slots[s.pointee.stats.slot(command.rawValue, subcommand)].rejected &+= 1
        // EXEC refused answers EXECABORT in place of the error: that is the one counted.
        countError(command == .exec ? ErrorReply.execAbort(error) : error)
        flagTransaction(c)
        if command == .exec {
            refuseExec(c, error)
        } else {
            c.pointee.output.tail.writeError(error)
        }
        endRefused(c)
    }

    /// Marks the open transaction, if any, to answer EXECABORT.
    @inline(__always)
    func flagTransaction(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.multi) { c.pointee.flags.insert(.dirtyExec) }
    }

    /// `client|list` style name for errors, as Redis's `fullname`.
    func fullName(_ command: Command, _ args: Arguments) -> String {
        let spec = CommandTable.spec(command)
        if !spec.subcommands.isEmpty, args.count > 1, let (_, sub) = CommandTable.subcommand(of: command, args, 1) {
            return sub.name
        }
        return spec.name
    }

    /// Redis 7's text: `unknown command 'x', with args beginning with: 'a' 'b' `
    /// (each argument quoted, the list cut at 128 bytes).
    /// Inside MULTI it also fails the transaction.
    /// A Redis command of another key type gets its own answer first (ForeignCommands.swift).
    @inline(never)
    func replyUnknownCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        defer { endRefused(c) }
        if answerForeignCommand(c, args) { return }
        flagTransaction(c)
        var listed = ""
        var i = 1
        while i < args.count && listed.utf8.count < 128 {
            let room = 128 - listed.utf8.count
            let bytes = Array(args.buffer(i).prefix(room))
            listed += "'\(String(decoding: bytes, as: UTF8.self))' "
            i += 1
        }
        let error = ErrorReply.unknownCommand(String(args.string(0).prefix(128)), argumentsQuoted: listed)
        countError(error)
        c.pointee.output.tail.writeError(error)
    }

    /// The reply for a subcommand of `command` that does not exist: Redis's,
    /// or for AGENT and LEDGER (which have no HELP) their usage. The one place it is
    /// chosen, run or queued in MULTI.
    func replyUnknownSubcommand(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) {
        let name = String(args.string(1).prefix(128))
        c.pointee.output.tail.writeError(command == .agent ? ErrorReply.unknownAgentSubcommand(name)
            : command == .ledger ? ErrorReply.unknownLedgerSubcommand(name)
            : command == .health ? ErrorReply.unknownHealthSubcommand(name)
            : command == .license ? ErrorReply.unknownLicenseSubcommand(name)
            : ErrorReply.unknownSubcommand(name, container: CommandTable.spec(command).name.uppercased()))
    }

    /// Looks up the subcommand in argument 1 and checks its arity; replies
    /// the error and returns nil when either fails.
    func subcommand(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> String? {
        guard let (index, spec) = CommandTable.subcommand(of: command, args, 1) else {
            s.pointee.stats.subcommandRefusal = CommandStats.unknownSubcommand
            replyUnknownSubcommand(c, command, args)
            return nil
        }
        if !CommandTable.arityOK(spec, args.count) {
            s.pointee.stats.subcommandRefusal = s.pointee.stats.slot(command.rawValue, index)
            c.pointee.output.tail.writeError(ErrorReply.wrongArity(spec.name))
            return nil
        }
        c.pointee.lastSubcommand = index
        return String(spec.name.split(separator: "|").last ?? "")
    }

    /// `subcommand` as the container's `Keyword` enum, whose raw values are
    /// the table's names after `|` (CommandTableTests checks they agree).
    func subcommand<S: Keyword>(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments,
                                as _: S.Type) -> S? {
        guard let name = subcommand(c, command, args) else { return nil }
        guard let sub = S(rawValue: name) else {
            replyUnknownSubcommand(c, command, args)
            return nil
        }
        return sub
    }

    /// Writes a HELP reply: one status line per entry, as Redis does.
    func replyHelp(_ c: UnsafeMutablePointer<ClientState>, _ lines: [String]) {
        c.pointee.output.tail.writeArrayHeader(lines.count)
        for line in lines { c.pointee.output.tail.writeSimple(string: line) }
    }
}
