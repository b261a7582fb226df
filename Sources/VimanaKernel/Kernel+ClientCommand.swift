import VimanaCore
import VimanaRESP

/// CLIENT's subcommands, as in the table (`client|id` …).
enum ClientSubcommand: String, Keyword {
    case id, getname, setname, setinfo, list, info, kill, reply, publisher, help
    case noEvict = "no-evict"
}

/// CLIENT LIST and KILL TYPE: Redis's client types (only normal and pubsub
/// connections exist here).
enum ClientType: String, Keyword {
    case normal, pubsub, master, replica, slave
}

/// CLIENT LIST's and CLIENT KILL's filters (LIST takes TYPE and ID only,
/// as Redis 7.0).
enum ClientFilter: String, Keyword {
    case id, addr, laddr, type, user, skipme
}

enum YesOrNo: String, Keyword {
    case yes, no
}

/// CLIENT SETINFO's attributes (Redis 7.2).
enum ClientAttribute: String, Keyword {
    case libName = "lib-name", libVersion = "lib-ver"
}

/// CLIENT ID | GETNAME | SETNAME | SETINFO | LIST | INFO | KILL | PUBLISHER | HELP.
extension Kernel {
    func clientCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .client, args, as: ClientSubcommand.self), let info = clientInfo(c.pointee.fd) else { return }
        let resp3 = c.pointee.flags.contains(.resp3)
        switch sub {
        case .id:
            c.pointee.output.tail.writeInteger(c.pointee.id)
        case .getname:
            if info.name.isEmpty { c.pointee.output.tail.writeNull(resp3: resp3) }
            else { c.pointee.output.tail.writeBulk(bytes: info.name) }
        case .setname:
            let name = args.bytes(2)
            guard Self.validClientName(name) else {
                c.pointee.output.tail.writeError(ErrorReply.invalidClientName)
                return
            }
            info.name = name
            if name.isEmpty { c.pointee.flags.remove(.named) } else { c.pointee.flags.insert(.named) }
            c.pointee.output.tail.append("+OK\r\n")
        case .setinfo:
            // As Redis 7.2: LIB-NAME and LIB-VER, shown by CLIENT LIST.
            let value = args.bytes(3)
            guard let attribute = args.keyword(2, as: ClientAttribute.self) else {
                c.pointee.output.tail.writeError(ErrorReply.unrecognizedOption(args.string(2)))
                return
            }
            guard Self.validClientName(value) else {
                c.pointee.output.tail.writeError(ErrorReply.invalidLibraryInfo(attribute.rawValue))
                return
            }
            switch attribute {
            case .libName: info.libraryName = value
            case .libVersion: info.libraryVersion = value
            }
            c.pointee.output.tail.append("+OK\r\n")
        case .list:
            clientList(c, args)
        case .info:
            c.pointee.output.tail.writeVerbatim(describeClient(c, caller: c), resp3: resp3)
        case .kill:
            clientKill(c, args)
        case .reply:
            clientReply(c, args)
        case .noEvict:
            clientNoEvict(c, args)
        case .publisher:
            clientPublisher(c, args)
        case .help:
            replyHelp(c, [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|PUBSUB)",
                "      Return clients of specified type.",
                "    * ID <client-id> [<client-id> ...]",
                "      Return clients of specified IDs only.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Set client meta attributes.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "PUBLISHER (ON|OFF)",
                "    Control whether stream entries in replies end with a _publisher field",
                "    naming the user who published or appended them, and pub/sub messages",
                "    with one more element naming that user.",
                "HELP",
                "    Print this help.",
            ])
        }
    }

    /// CLIENT LIST [TYPE normal|pubsub | ID id ...]: one filter, as Redis 7.0.
    private func clientList(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var type: ClientType?
        var ids: Set<Int>?
        let filter = args.count >= 4 ? args.keyword(2, as: ClientFilter.self) : nil
        if filter == .type && args.count == 4 {
            guard let t = args.keyword(3, as: ClientType.self) else {
                c.pointee.output.tail.writeError(ErrorReply.unknownClientType(args.string(3)))
                return
            }
            type = t
        } else if filter == .id {
            var set = Set<Int>()
            for i in 3..<args.count {
                guard let id = args.integer(i) else {
                    c.pointee.output.tail.writeError(ErrorReply.invalidClientID)
                    return
                }
                set.insert(id)
            }
            ids = set
        } else if args.count != 2 {
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        var text = ""
        forEachClient { other in
            if other.pointee.flags.contains(.http) { return }
            if let ids, !ids.contains(other.pointee.id) { return }
            if let type, !Self.isOfType(other, type) { return }
            text += describeClient(other, caller: c)
        }
        c.pointee.output.tail.writeVerbatim(text, resp3: c.pointee.flags.contains(.resp3))
    }

    /// CLIENT LIST's `flags=`: the letters Redis 7.0 would show for this
    /// state, in its order (P subscribed, x in MULTI, d a watched topic
    /// changed), or N for none.
    static func clientFlags(_ c: borrowing ClientState) -> String {
        var flags = ""
        if c.flags.contains(.monitor) { flags += "O" }
        if c.isSubscribed { flags += "P" }
        if c.flags.contains(.multi) { flags += "x" }
        if c.flags.contains(.blocked) { flags += "b" }
        if c.flags.contains(.dirtyCAS) { flags += "d" }
        if c.flags.contains(.noEvict) { flags += "e" }
        return flags.isEmpty ? "N" : flags
    }

    /// One CLIENT LIST line, with Redis 7.2's fields (ending in `\n`).
    /// `caller`: the client running the command.
    func describeClient(_ c: UnsafeMutablePointer<ClientState>, caller: UnsafeMutablePointer<ClientState>) -> String {
        let info = clientInfo(c.pointee.fd)
        let now = s.pointee.nowMillis
        let flags = Self.clientFlags(c.pointee)
        var command = "NULL"
        if c.pointee.lastCommand >= 0 {
            let spec = CommandTable.entries[c.pointee.lastCommand].spec
            command = c.pointee.lastSubcommand >= 0 ? spec.subcommands[c.pointee.lastSubcommand].name : spec.name
        }
        var events = "r"
        if c.pointee.flags.contains(.watchingWritable) { events += "w" }
        let name = String(decoding: info?.name ?? [], as: UTF8.self)
        // Redis trims the query buffer after the commands of a read ran: the
        // caller's own line counts the command being run (and any before it
        // in the same read), the others what is still unparsed.
        let qbuf = c == caller ? max(0, c.pointee.input.writeIndex - c.pointee.queryStart) : c.pointee.input.readableBytes
        let omem = c.pointee.output.pendingBytes
        let totalMemory = c.pointee.input.capacity + c.pointee.output.tail.capacity + c.pointee.output.queuedBytes
        return "id=\(c.pointee.id) addr=\(info?.address ?? "") laddr=\(info?.localAddress ?? "") fd=\(c.pointee.fd) "
            + "name=\(name) age=\((now - c.pointee.info.createdMillis) / 1000) idle=\((now - c.pointee.lastActiveMillis) / 1000) "
            + "flags=\(flags) db=0 sub=\(c.pointee.channelCount) psub=\(c.pointee.patternCount) ssub=\(c.pointee.shardChannelCount) "
            + "multi=\(c.pointee.flags.contains(.multi) ? info?.transaction.commands.count ?? 0 : -1) "
            + "qbuf=\(qbuf) qbuf-free=\(c.pointee.input.capacity - qbuf) argv-mem=0 "
            + "multi-mem=\(info?.transaction.bytes ?? 0) "
            + "rbs=\(c.pointee.input.capacity) rbp=\(c.pointee.input.capacity) obl=\(c.pointee.output.tail.readableBytes) "
            + "oll=0 omem=\(omem) tot-mem=\(totalMemory) events=\(events) cmd=\(command) user=\(c.pointee.info.user.name) redir=-1 "
            + "resp=\(c.pointee.flags.contains(.resp3) ? 3 : 2) "
            + "lib-name=\(String(decoding: info?.libraryName ?? [], as: UTF8.self)) "
            + "lib-ver=\(String(decoding: info?.libraryVersion ?? [], as: UTF8.self))\n"
    }

    /// CLIENT KILL ip:port (old form: +OK or an error) and the filter form
    /// (ID, ADDR, LADDR, TYPE, USER, SKIPME, all of which must match;
    /// replies the number killed; SKIPME is yes unless given).
    private func clientKill(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.count == 3 {
            let addr = args.string(2)
            var victim: UnsafeMutablePointer<ClientState>?
            forEachClient { other in
                if !other.pointee.flags.contains(.http) && clientInfo(other.pointee.fd)?.address == addr { victim = other }
            }
            guard let victim else {
                c.pointee.output.tail.writeError(ErrorReply.noSuchClient)
                return
            }
            c.pointee.output.tail.append("+OK\r\n")
            kill(victim, by: c)
            return
        }
        var id: Int?
        var addr: String?
        var laddr: String?
        var type: ClientType?
        var user: String?
        var skipMe = true
        var i = 2
        while i < args.count {
            guard i + 1 < args.count else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            let value = args.string(i + 1)
            switch args.keyword(i, as: ClientFilter.self) {
            case .id:
                guard let v = args.integer(i + 1), v > 0 else {
                    c.pointee.output.tail.writeError(ErrorReply.clientIDNotPositive)
                    return
                }
                id = v
            case .addr:
                addr = value
            case .laddr:
                laddr = value
            case .type:
                guard let t = args.keyword(i + 1, as: ClientType.self) else {
                    c.pointee.output.tail.writeError(ErrorReply.unknownClientType(value))
                    return
                }
                type = t
            case .user:
                guard users.byName[value] != nil else {
                    c.pointee.output.tail.writeError(ErrorReply.noSuchUser(value))
                    return
                }
                user = value
            case .skipme:
                guard let yes = args.keyword(i + 1, as: YesOrNo.self) else {
                    c.pointee.output.tail.writeError(ErrorReply.syntax)
                    return
                }
                skipMe = yes == .yes
            case nil:
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            i += 2
        }
        var victims: [UnsafeMutablePointer<ClientState>] = []
        forEachClient { other in
            if other.pointee.flags.contains(.http) { return }
            if let id, other.pointee.id != id { return }
            let info = clientInfo(other.pointee.fd)
            if let addr, info?.address != addr { return }
            if let laddr, info?.localAddress != laddr { return }
            if let type, !Self.isOfType(other, type) { return }
            if let user, other.pointee.info.user.name != user { return }
            if skipMe && other == c { return }
            victims.append(other)
        }
        c.pointee.output.tail.writeInteger(victims.count)
        for v in victims { kill(v, by: c) }
    }

    /// A connection is `pubsub` while subscribed, `normal` otherwise; never a
    /// master, replica or slave.
    private static func isOfType(_ c: UnsafeMutablePointer<ClientState>, _ type: ClientType) -> Bool {
        switch type {
        case .pubsub: c.pointee.isSubscribed
        case .normal: !c.pointee.isSubscribed
        case .master, .replica, .slave: false
        }
    }

    /// Closes `victim`; killing yourself closes after this reply, as Redis does.
    private func kill(_ victim: UnsafeMutablePointer<ClientState>, by c: UnsafeMutablePointer<ClientState>) {
        if victim == c {
            c.pointee.flags.insert(.closeAfterReply)
        } else {
            markClose(victim, reason: "killed by client \(c.pointee.id)")
        }
    }
}
