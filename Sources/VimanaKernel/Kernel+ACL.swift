import VimanaCore
import VimanaRESP
import VimanaACL
import VimanaConfig
import VimanaLedger

/// Every connection acts as a user: what it may run, which keys (topics
/// used as streams) and channels it may name, checked before a command runs
/// (and again at EXEC), with Redis 7.0.15's -NOPERM replies and ACL LOG.
///
/// The hot path pays one bit test and one flag test (`execute`): a command
/// whose bit is set in `ClientState.allowedCommands`, run by a user with
/// `allkeys` (and admin) or `allchannels` as it needs, never comes here.
extension Kernel {
    /// The users' problems (`users:` rules the ACL model refuses), each
    /// located as `file:line:column: message`: with `configurationProblems`,
    /// what `vimana check` prints (these as they are) and `start` refuses.
    public static func userProblems(_ config: Configuration) -> [String] {
        Users.problems(config)
    }

    // MARK: - Acting as a user

    /// Makes the connection act as `user` if the user's `connections`
    /// limit lets it (`mayActAs`): its rules (`applyRules`) and the account
    /// it counts in. False, and nothing changed, at the limit. The one way
    /// into an account: no connection counts in one without this check.
    func actAs(_ c: UnsafeMutablePointer<ClientState>, _ user: ACLUser) -> Bool {
        if c.pointee.flags.contains(.http) {
            applyRules(c, user)
            return true
        }
        let account = user.name == Users.defaultName ? users.defaultAccount : users.account(user.name)
        guard mayActAs(c, account) else { return false }
        applyRules(c, user)
        enterAccount(c, account)
        return true
    }

    /// The rules of `user` on a connection acting as it: the copy its
    /// checks read, the bits dispatch tests, its compiled patterns, the
    /// flags. The one place they are set (`actAs`, and `userChanged` for
    /// the connections of a changed user, whose account stays).
    /// `allKeys` is set only for an admin: another user's keys are checked
    /// for internal topics (`mayName`).
    func applyRules(_ c: UnsafeMutablePointer<ClientState>, _ user: ACLUser) {
        let handle = user == users.defaultUser ? users.defaultHandle : UserHandle(user)
        c.pointee.info.userHandle = handle
        c.pointee.keyPatterns = handle.keys.list
        c.pointee.channelPatterns = handle.channels.list
        // A licence not active clears the publishing bits: those commands then take the full check.
        c.pointee.allowedCommands = users.commandBits(user) & users.licenses.commandMask(user.name)
        let admin = users.isAdminUser(user)
        if user.allKeys && admin { c.pointee.flags.insert(.allKeys) } else { c.pointee.flags.remove(.allKeys) }
        if user.allChannels { c.pointee.flags.insert(.allChannels) } else { c.pointee.flags.remove(.allChannels) }
        if user.rootDecidesAlone { c.pointee.flags.insert(.rootDecides) } else { c.pointee.flags.remove(.rootDecides) }
        if admin { c.pointee.flags.insert(.admin) } else { c.pointee.flags.remove(.admin) }
    }

    /// A command the user's bits allow, of a user whose root selector
    /// decides alone: its keys or channels against the root's compiled
    /// patterns (`ClientState.keyPatterns`, `channelPatterns`), without
    /// looking the command up again. False sends it to `permitted`, which
    /// decides again with the model and replies the refusal.
    @inline(never)
    func argumentsAllowed(_ c: UnsafeMutablePointer<ClientState>, _ record: UnsafeMutablePointer<CommandDispatch.Record>,
                          _ args: Arguments) -> Bool {
        // PUBLISH's one channel (a user restricted to channel patterns pays this per message).
        let i = record.pointee.channelArgument
        if i != 0 { return i >= args.count || c.pointee.channelPatterns.matches(args.pointer(i), args.length(i)) }
        return otherArgumentsAllowed(c, record.pointee.access, args)
    }

    /// `argumentsAllowed` for every other access: each key (with the
    /// internal-topic rule) or channel, PSUBSCRIBE's patterns literally.
    @inline(never)
    func otherArgumentsAllowed(_ c: UnsafeMutablePointer<ClientState>, _ access: ArgumentAccess, _ args: Arguments) -> Bool {
        // A container's record has none: its subcommand's access is the full check's to find.
        if access == .none { return false }
        let keyAccess = access.keyAccess.bits
        let admin = c.pointee.flags.contains(.admin)
        var allowed = true
        Self.forEachArgument(access, args) { i in
            allowed = switch access {
            case .none: true
            case .key, .keys, .streams:
                Self.mayName(args.pointer(i), args.length(i), admin: admin)
                    && c.pointee.keyPatterns.matches(args.pointer(i), args.length(i), access: keyAccess)
            case .channel, .channels: c.pointee.channelPatterns.matches(args.pointer(i), args.length(i))
            case .patterns: c.pointee.info.userHandle.user.allowsChannelPattern(UnsafeRawBufferPointer(args.buffer(i)))
            }
            return allowed
        }
        return allowed
    }

    /// The rule for internal topics (`_vimana.…`: the group and user
    /// journals, Protocol/PROTOCOL.md §4.2), part of every key check: only
    /// an admin (a user allowed every `@admin` command, ACL SETUSER among
    /// them) may name one as a key, whatever its key patterns; to any other
    /// user it is a key it may not access. Channels are not keys: the
    /// journals are never published, so a subscriber there receives nothing.
    @inline(__always)
    static func mayName(_ key: UnsafePointer<UInt8>, _ length: Int, admin: Bool) -> Bool {
        let prefix = Ledger.internalTopicPrefix
        guard !admin, length >= prefix.count, key[0] == prefix[0] else { return true }
        return !UnsafeBufferPointer(start: key, count: prefix.count).elementsEqual(prefix)
    }

    /// Back to `default`, authenticated only if it needs no password and is
    /// on (a new connection, RESET: Redis's clientSetDefaultAuth). False,
    /// and nothing changed, at `default`'s `connections` limit.
    @discardableResult
    func actAsDefault(_ c: UnsafeMutablePointer<ClientState>) -> Bool {
        guard actAs(c, users.defaultUser) else { return false }
        if users.defaultAuthenticates { c.pointee.flags.insert(.authenticated) } else { c.pointee.flags.remove(.authenticated) }
        return true
    }

    // MARK: - The check

    /// The full check, for a command the fast test did not clear: replies
    /// -NOPERM and logs the denial when the user may not run it, as Redis's
    /// processCommand (inside MULTI the transaction is marked to fail).
    @inline(never)
    func permitted(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> Bool {
        guard let (denial, subcommand) = aclDenial(c.pointee.info.user, command, args) else {
            // The user's rules allow it; its licence may not (the publishing bits of a restricted user are clear).
            guard let refusal = licenseRefusal(c, command, args) else { return true }
            reject(c, command, refusal)
            return false
        }
        // CLIENT LIST's `cmd=` in the log's client-info names the refused command, as Redis's.
        c.pointee.lastCommand = command.rawValue
        c.pointee.lastSubcommand = subcommand
        logDenial(c, denial)
        reject(c, command, ErrorReply.noPermission(denial), subcommand: subcommand)
        return false
    }

    /// Why `user` may not run this command (and the subcommand's index, or
    /// -1), or nil when it may: Redis 7.0's ACLCheckAllUserCommandPerm
    /// (`ACLUser.check`: every selector, `+cmd|arg` first arguments; on
    /// each, the command, then each key, then each channel). A command
    /// allowed before AUTH is always allowed; an unknown subcommand or a
    /// wrong arity is left to the handler's error, which Redis replies first.
    func aclDenial(_ user: ACLUser, _ command: Command, _ args: Arguments) -> (ACLRefusal, Int)? {
        let entry = CommandTable.entries[command.rawValue]
        if entry.rules.contains(.allowedBeforeAuth) { return nil }
        var spec = entry.spec
        var subIndex = -1
        var id: Int? = command.rawValue
        // A container run alone (COMMAND) is checked as itself, as Redis's.
        if !entry.spec.subcommands.isEmpty && args.count > 1 {
            guard let (index, sub) = CommandTable.subcommand(of: command, args, 1),
                  CommandTable.arityOK(sub, args.count) else { return nil }
            spec = sub
            subIndex = index
            id = users.catalogue.subcommandID(of: command.rawValue, String(spec.name.split(separator: "|").last ?? ""))
        }
        guard let id else { return (.command(spec.name), subIndex) }
        // Redis's first arguments (`+select|0`) are those of top-level commands only.
        let first = subIndex < 0 && args.count > 1 ? UnsafeRawBufferPointer(args.buffer(1)) : nil
        let access = spec.access
        let keyAccess = access.keyAccess
        let admin = users.isAdminUser(user)
        let denial = user.check(id, firstArgument: first) { selector in
            var refused: ACLDenial?
            Self.forEachArgument(access, args) { i in
                let argument = UnsafeRawBufferPointer(args.buffer(i))
                let allowed = switch access {
                case .none: true
                case .key, .keys, .streams:
                    Self.mayName(args.pointer(i), args.length(i), admin: admin) && selector.allowsKey(argument, access: keyAccess)
                case .channel, .channels: selector.allowsChannel(argument)
                case .patterns: selector.allowsChannelPattern(argument)
                }
                if !allowed { refused = ACLDenial(access.grantedBy == .allKeys ? .key : .channel, argument: i) }
                return allowed
            }
            return refused
        }
        guard let denial else { return nil }
        switch denial.reason {
        case .command: return (.command(spec.name), subIndex)
        case .key: return (.key(args.bytes(denial.argument)), subIndex)
        case .channel: return (.channel(args.bytes(denial.argument)), subIndex)
        }
    }

    /// Calls `body` with the index of each argument `access` names, in
    /// order, until it returns false.
    static func forEachArgument(_ access: ArgumentAccess, _ args: Arguments, _ body: (Int) -> Bool) {
        var first = 0
        var end = 0
        switch access {
        case .none:
            return
        case .key(let i, _), .channel(let i):
            first = i
            end = min(i + 1, args.count)
        case .keys(let from, _), .channels(let from), .patterns(let from):
            first = from
            end = args.count
        case .streams(let searchFrom, _):
            // Redis's key spec: the first STREAMS from there, then half of what follows.
            var j = searchFrom
            while j < args.count && args.keyword(j, as: XReadOption.self) != .streams { j += 1 }
            guard j < args.count else { return }
            first = j + 1
            end = first + (args.count - first) / 2
        }
        var i = first
        while i < end {
            if !body(i) { return }
            i += 1
        }
    }

    /// A queued command checked again at EXEC, as Redis 7.0's execCommand
    /// does in case the rules changed since it was queued: true when it may
    /// run; otherwise its error is written in its place and logged.
    func permittedAtExec(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> Bool {
        let needs = s.pointee.commands.record(command).pointee.aclNeeds
        if c.pointee.allowedCommands.contains(command) && needs & ~c.pointee.flags.rawValue == 0 { return true }
        guard let (denial, _) = aclDenial(c.pointee.info.user, command, args) else {
            guard let refusal = licenseRefusal(c, command, args) else { return true }
            countError(refusal)
            c.pointee.output.tail.writeError(refusal)
            return false
        }
        logDenial(c, denial)
        countError(ErrorReply.noPermissionAtExec(denial))
        c.pointee.output.tail.writeError(ErrorReply.noPermissionAtExec(denial))
        return false
    }

    // MARK: - ACL LOG

    func logDenial(_ c: UnsafeMutablePointer<ClientState>, _ denial: ACLRefusal) {
        let (reason, object): (ACLLogEntry.Reason, String) = switch denial {
        case .command(let name): (.command, name)
        case .key(let key): (.key, String(decoding: key, as: UTF8.self))
        case .channel(let channel): (.channel, String(decoding: channel, as: UTF8.self))
        }
        logACL(c, reason, object: object, username: c.pointee.info.user.name)
    }

    /// A failed AUTH or HELLO AUTH: `object` is the command's name as sent
    /// upper case (`AUTH`, `HELLO`), the user the one asked for. Never the password.
    func logAuthFailure(_ c: UnsafeMutablePointer<ClientState>, command: String, username: [UInt8]) {
        logACL(c, .auth, object: command, username: String(decoding: username, as: UTF8.self))
    }

    /// Records a denial in ACL LOG and counts it (INFO `acl_access_denied_*`,
    /// where Redis counts: every entry added, grouped or not; Vimana's own
    /// `license` in `license_refused_publishes`, `agent` in ACL LOG only).
    func logACL(_ c: UnsafeMutablePointer<ClientState>, _ reason: ACLLogEntry.Reason, object: String, username: String) {
        switch reason {
        case .auth: s.pointee.metrics.aclDeniedAuth &+= 1
        case .command: s.pointee.metrics.aclDeniedCommand &+= 1
        case .key: s.pointee.metrics.aclDeniedKey &+= 1
        case .channel: s.pointee.metrics.aclDeniedChannel &+= 1
        case .license: s.pointee.metrics.licenseRefusedPublishes &+= 1
        case .agent: break
        }
        var line = describeClient(c, caller: c)
        if line.hasSuffix("\n") { line.removeLast() }
        users.record(ACLLogEntry(reason: reason, context: c.pointee.flags.contains(.multi) ? .multi : .toplevel,
                                 object: object, username: username, millis: s.pointee.nowMillis, clientInfo: line))
    }
}

/// Why a command was refused: Redis's ACL_DENIED_CMD, _KEY, _CHANNEL, with
/// what ACL LOG shows as the object.
enum ACLRefusal: Equatable {
    /// The command's full name (`publish`, `config|set`).
    case command(String)
    case key([UInt8])
    case channel([UInt8])
}
