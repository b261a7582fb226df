import VimanaCore
import VimanaRESP
import VimanaACL
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// ACL and its subcommands, Redis 7.0.15's replies. A change (SETUSER,
/// DELUSER) takes effect on the user's open connections at once.
extension Kernel {
    func aclCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .acl, args, as: ACLSubcommand.self) else { return }
        let resp3 = c.pointee.flags.contains(.resp3)
        switch sub {
        case .whoami:
            c.pointee.output.tail.writeBulk(string: c.pointee.info.user.name)
        case .users:
            let names = users.names
            c.pointee.output.tail.writeArrayHeader(names.count)
            for name in names { c.pointee.output.tail.writeBulk(string: name) }
        case .list:
            let names = users.names
            c.pointee.output.tail.writeArrayHeader(names.count)
            for name in names {
                c.pointee.output.tail.writeBulk(string: users.byName[name]?.describe(catalogue: users.catalogue) ?? "")
            }
        case .getuser:
            guard let user = users.byName[args.string(2)] else {
                c.pointee.output.tail.writeNull(resp3: resp3)
                return
            }
            writeUser(&c.pointee.output.tail, user, resp3: resp3)
        case .cat:
            aclCat(c, args)
        case .setuser:
            aclSetUser(c, args)
        case .deluser:
            aclDelUser(c, args)
        case .log:
            aclLog(c, args)
        case .dryrun:
            aclDryRun(c, args)
        case .genpass:
            aclGenPass(c, args)
        case .load, .save:
            // As a Redis started without `aclfile`: users live in phoenix.yaml.
            c.pointee.output.tail.writeError(ErrorReply.noACLFile)
        case .help:
            replyHelp(c, Self.aclHelp)
        }
    }

    /// ACL GETUSER's map: Redis 7.0's six fields, the selectors as maps of three.
    private func writeUser(_ b: inout ByteBuffer, _ user: ACLUser, resp3: Bool) {
        let d = user.getUser(catalogue: users.catalogue)
        b.writeMapHeader(6, resp3: resp3)
        b.writeBulk("flags")
        b.writeSetHeader(d.flags.count, resp3: resp3)
        for flag in d.flags { b.writeBulk(string: flag) }
        b.writeBulk("passwords")
        b.writeArrayHeader(d.passwords.count)
        for hash in d.passwords { b.writeBulk(string: hash) }
        func selector(_ s: ACLUserDescription.Selector) {
            b.writeBulk("commands"); b.writeBulk(string: s.commands)
            b.writeBulk("keys"); b.writeBulk(string: s.keys)
            b.writeBulk("channels"); b.writeBulk(string: s.channels)
        }
        selector(d.root)
        b.writeBulk("selectors")
        b.writeArrayHeader(d.selectors.count)
        for s in d.selectors {
            b.writeMapHeader(3, resp3: resp3)
            selector(s)
        }
    }

    private func aclCat(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        switch args.count {
        case 2:
            c.pointee.output.tail.writeArrayHeader(ACLCatalogue.categories.count)
            for name in ACLCatalogue.categories { c.pointee.output.tail.writeBulk(string: name) }
        case 3:
            // Redis matches the category name case-insensitively.
            guard let names = users.catalogue.commands(inCategory: args.string(2).lowercased()) else {
                c.pointee.output.tail.writeError(ErrorReply.unknownCategory(args.string(2)))
                return
            }
            c.pointee.output.tail.writeArrayHeader(names.count)
            for name in names { c.pointee.output.tail.writeBulk(string: name) }
        default:
            c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity(args.string(1), container: "ACL"))
        }
    }

    // MARK: - SETUSER, DELUSER

    /// ACL SETUSER name rule…: every rule applies or none (Redis's staging
    /// user); the changed user then applies to its open connections.
    private func aclSetUser(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let name = args.bytes(2)
        if !ACLUser.isValidName(name) {
            c.pointee.output.tail.writeError(ErrorReply.userNameWithSpaces)
            return
        }
        if name.starts(with: AgentConfig.madeUserPrefix.utf8), users.byName[String(decoding: name, as: UTF8.self)] == nil {
            c.pointee.output.tail.writeError(ErrorReply.agentUserNotMade)
            return
        }
        // A change that could not be recorded would be lost at a restart: refuse it whole.
        if let error = ledger?.writeError {
            c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error))
            return
        }
        let rules = (3..<max(3, args.count)).map { args.bytes($0) }
        let userName = String(decoding: name, as: UTF8.self)
        let previous = users.byName[userName]
        switch users.set(userName, rules: rules) {
        case .failure(let refusal):
            c.pointee.output.tail.writeError("ERR " + refusal.message)
        case .success(let user):
            let (recorded, sequence) = journalSetUser(c, userName, rules: rules, previous: previous)
            guard recorded else { return }
            userChanged(user, by: c)
            let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
            c.pointee.output.tail.append("+OK\r\n")
            // +OK only once the record is durable, as XADD's reply.
            if let sequence { holdReply(c, untilConfirmed: sequence, replyStart: replyStart) }
        }
    }

    /// The user's open connections act as its new rules at once. A channel,
    /// shard channel or pattern they may no longer subscribe to is unsubscribed with the
    /// unsubscribe push a client sees when it unsubscribes itself (where
    /// Redis 7.0 closes the connection); a blocked XREAD or XREADGROUP the
    /// rules now refuse ends with its -NOPERM (Redis 7.0 serves it); an
    /// agent instance whose user may no longer act as its agent leaves.
    /// A user turned `off` keeps its connections, as in Redis: `off`
    /// refuses new AUTHs. The connections are those counted in the user's
    /// account, which they keep (so no limit is passed): not one that only
    /// bears the name (deleted with a former user of it, still closing).
    func userChanged(_ user: ACLUser, by caller: UnsafeMutablePointer<ClientState>) {
        let account = users.account(user.name)
        forEachClient { other in
            guard other.pointee.info.account === account else { return }
            applyRules(other, user)
            recheckBlockedRead(other)
            recheckAgentInstance(other, changedBy: caller)
            guard other.pointee.isSubscribed, !user.allChannels else { return }
            let info = other.pointee.info
            var ended = false
            for namespace in [ChannelNamespace.plain, .shard] {
                for channel in info[keyPath: namespace.subscriptions].elements
                where !channel.withUnsafeBytes({ user.allowsChannel($0) }) {
                    unsubscribe(other, info, namespace, channel: channel, reply: true)
                    ended = true
                }
            }
            for pattern in info.patterns.elements where !pattern.withUnsafeBytes({ user.allowsChannelPattern($0) }) {
                unsubscribe(other, info, pattern: pattern, reply: true)
                ended = true
            }
            if ended {
                log.info("subscriptions ended by an ACL change", ["id": .int(other.pointee.id), "user": .string(user.name)])
                markPending(other)
            }
        }
    }

    /// ACL DELUSER name…: refuses `default` before deleting any (Redis);
    /// the deleted users' connections are closed, the caller's after this
    /// reply. Each deletion is recorded before it is made: one the ledger
    /// refuses to record changes nothing and stops the command there (the
    /// reply is an error that says how many were deleted before it).
    private func aclDelUser(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let names = (2..<args.count).map { args.string($0) }
        if names.contains(Users.defaultName) {
            c.pointee.output.tail.writeError(ErrorReply.defaultUserUndeletable)
            return
        }
        if let error = ledger?.writeError {
            c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error))
            return
        }
        var deleted = 0
        var lastSequence: UInt64?
        for name in names {
            guard users.byName[name] != nil else { continue }
            let (recorded, sequence) = journalDelUser(name)
            guard recorded else {
                // Those deleted already stay deleted (their records are in): say so.
                let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
                c.pointee.output.tail.writeError(deleted == 0 ? Self.journalRefusal : Self.journalRefusal(at: name, deleted: deleted))
                if let lastSequence { holdReply(c, untilConfirmed: lastSequence, replyStart: replyStart) }
                return
            }
            lastSequence = sequence ?? lastSequence
            deleted += 1
            userDeleted(name, by: c)
        }
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeInteger(deleted)
        if let lastSequence { holdReply(c, untilConfirmed: lastSequence, replyStart: replyStart) }
    }

    /// Deletes the user `name` (its deletion recorded): its connections act
    /// as no one from now, so they leave its count at once (closing ones
    /// too) and are closed, the caller's after its reply; then the user
    /// goes, with its account, which no connection holds any more.
    private func userDeleted(_ name: String, by caller: UnsafeMutablePointer<ClientState>) {
        let account = users.account(name)
        var fd: Int32 = 0
        while Int(fd) < s.pointee.connections.size {
            if let other = s.pointee.connections.client(known: fd), other.pointee.info.account === account {
                leaveAccount(other, account)
                if other == caller {
                    caller.pointee.flags.insert(.closeAfterReply)
                } else if !other.pointee.flags.contains(.closing) {
                    markClose(other, reason: "user deleted")
                }
            }
            fd &+= 1
        }
        _ = users.delete(name)
    }

    // MARK: - LOG

    /// ACL LOG [count | RESET]: the newest `count` (10 by default) first.
    private func aclLog(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard args.count <= 3 else {
            c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity(args.string(1), container: "ACL"))
            return
        }
        var count = KernelConstants.aclLogDefaultCount
        if args.count == 3 {
            if args.keyword(2, as: ACLLogOption.self) == .reset {
                users.resetLog()
                c.pointee.output.tail.append("+OK\r\n")
                return
            }
            guard let n = args.integer(2) else {
                c.pointee.output.tail.writeError(ErrorReply.notInteger)
                return
            }
            count = max(0, n)
        }
        let entries = users.log.prefix(count)
        let resp3 = c.pointee.flags.contains(.resp3)
        let now = s.pointee.nowMillis
        c.pointee.output.tail.writeArrayHeader(entries.count)
        for e in entries {
            c.pointee.output.tail.writeMapHeader(7, resp3: resp3)
            c.pointee.output.tail.writeBulk("count"); c.pointee.output.tail.writeInteger(e.count)
            c.pointee.output.tail.writeBulk("reason"); c.pointee.output.tail.writeBulk(string: e.reason.rawValue)
            c.pointee.output.tail.writeBulk("context"); c.pointee.output.tail.writeBulk(string: e.context.rawValue)
            c.pointee.output.tail.writeBulk("object"); c.pointee.output.tail.writeBulk(string: e.object)
            c.pointee.output.tail.writeBulk("username"); c.pointee.output.tail.writeBulk(string: e.username)
            c.pointee.output.tail.writeBulk("age-seconds")
            let age = Self.redisDouble(Double(now &- e.millis) / 1000)
            if resp3 {
                c.pointee.output.tail.append(byte: 44)
                c.pointee.output.tail.append(string: age)
                c.pointee.output.tail.appendCRLF()
            } else {
                c.pointee.output.tail.writeBulk(string: age)
            }
            c.pointee.output.tail.writeBulk("client-info"); c.pointee.output.tail.writeBulk(string: e.clientInfo)
        }
    }

    /// Redis 7.0's addReplyDouble text: `%.17g`.
    static func redisDouble(_ value: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.17g", $0) }
        guard n > 0 else { return "0" }
        return String(decoding: buffer.prefix(min(Int(n), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - DRYRUN, GENPASS

    /// ACL DRYRUN user command [arg…]: +OK, or why the user may not run it
    /// (Redis 7.0's verbose texts, as a bulk string). Nothing runs, nothing is logged.
    private func aclDryRun(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let user = users.byName[args.string(2)] else {
            c.pointee.output.tail.writeError(ErrorReply.userNotFound(args.string(2)))
            return
        }
        let rest = args.dropping(3)
        guard let record = s.pointee.commands.lookup(rest.pointer(0), rest.length(0)) else {
            c.pointee.output.tail.writeError("ERR Command '\(args.string(3))' not found")
            return
        }
        let command = record.pointee.command
        let spec = CommandTable.spec(command)
        var checked = spec
        if !spec.subcommands.isEmpty, rest.count > 1, let (_, sub) = CommandTable.subcommand(of: command, rest, 1) { checked = sub }
        if !CommandTable.arityOK(checked, rest.count) {
            c.pointee.output.tail.writeError(ErrorReply.wrongArity(checked.name))
            return
        }
        guard let (denial, _) = aclDenial(user, command, rest) else {
            c.pointee.output.tail.append("+OK\r\n")
            return
        }
        let text = switch denial {
        case .command(let name): "This user has no permissions to run the '\(name)' command"
        case .key(let key): "This user has no permissions to access the '\(String(decoding: key, as: UTF8.self))' key"
        case .channel(let channel): "This user has no permissions to access the '\(String(decoding: channel, as: UTF8.self))' channel"
        }
        c.pointee.output.tail.writeBulk(string: text)
    }

    /// ACL GENPASS [bits]: that many random bits (256 by default) as hex,
    /// from the system's secure generator.
    private func aclGenPass(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard args.count <= 3 else {
            c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity(args.string(1), container: "ACL"))
            return
        }
        var bits = KernelConstants.genpassDefaultBits
        if args.count == 3 {
            guard let n = args.integer(2) else {
                c.pointee.output.tail.writeError(ErrorReply.notInteger)
                return
            }
            bits = n
        }
        guard bits > 0 && bits <= KernelConstants.genpassMaxBits else {
            c.pointee.output.tail.writeError(ErrorReply.genpassBits)
            return
        }
        var generator = SystemRandomNumberGenerator()
        let chars = (bits + 3) / 4
        let bytes = (0..<(chars + 1) / 2).map { _ in UInt8.random(in: 0...255, using: &generator) }
        c.pointee.output.tail.writeBulk(string: String(SHA256.hex(bytes).prefix(chars)))
    }

    /// Redis 7.0.15's ACL HELP, line for line.
    static let aclHelp = [
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ]
}

/// ACL's subcommands, as in the table (`acl|cat` …).
enum ACLSubcommand: String, Keyword {
    case cat, deluser, dryrun, genpass, getuser, list, load, log, save, setuser, users, whoami, help
}

/// ACL LOG's word.
enum ACLLogOption: String, Keyword {
    case reset
}
