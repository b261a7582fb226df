import VimanaCore
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif
import VimanaBus
import VimanaConfig

/// COMMAND's subcommands, as in the table (`command|count` …).
enum CommandSubcommand: String, Keyword {
    case count, docs, info, list, help
}

/// COMMAND LIST's one option.
enum CommandListOption: String, Keyword {
    case filterby
}

/// COMMAND LIST FILTERBY's filters.
enum CommandListFilter: String, Keyword {
    case pattern, aclcat, module
}

/// CONFIG's subcommands, as in the table (`config|get` …).
enum ConfigSubcommand: String, Keyword {
    case get, set, rewrite, help, resetstat
}

/// COMMAND, CONFIG: what clients and tools ask of the server itself.
extension Kernel {
    // MARK: - COMMAND

    func commandCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let resp3 = c.pointee.flags.contains(.resp3)
        if args.count == 1 {
            c.pointee.output.tail.writeArrayHeader(CommandTable.entries.count)
            for entry in CommandTable.entries { writeCommandInfo(&c.pointee.output.tail, entry.spec, resp3: resp3) }
            return
        }
        guard let sub = subcommand(c, .command, args, as: CommandSubcommand.self) else { return }
        switch sub {
        case .count:
            c.pointee.output.tail.writeInteger(CommandTable.entries.count)
        case .info:
            let names = args.count > 2 ? (2..<args.count).map { args.string($0) } : CommandTable.entries.map(\.spec.name)
            c.pointee.output.tail.writeArrayHeader(names.count)
            for name in names {
                if let spec = findSpec(name) { writeCommandInfo(&c.pointee.output.tail, spec, resp3: resp3) }
                else { c.pointee.output.tail.writeNull(resp3: resp3) }
            }
        case .docs:
            let specs = args.count > 2 ? (2..<args.count).compactMap { findSpec(args.string($0)) } : CommandTable.entries.map(\.spec)
            c.pointee.output.tail.writeMapHeader(specs.count, resp3: resp3)
            for spec in specs {
                c.pointee.output.tail.writeBulk(string: spec.name)
                writeCommandDocs(&c.pointee.output.tail, spec, resp3: resp3)
            }
        case .list:
            // Redis lists subcommands too, as `container|sub`.
            let all = CommandTable.entries.flatMap { [$0.spec] + $0.spec.subcommands }
            var names = all.map(\.name)
            if args.count == 5 && args.keyword(2, as: CommandListOption.self) == .filterby {
                let value = args.string(4)
                switch args.keyword(3, as: CommandListFilter.self) {
                case .pattern: names = names.filter { Glob.matches(value, $0, ignoringCase: true) }
                case .aclcat: names = all.filter { $0.categories.contains("@" + value.lowercased()) }.map(\.name)
                case .module: names = []
                case nil:
                    c.pointee.output.tail.writeError(ErrorReply.syntax)
                    return
                }
            } else if args.count != 2 {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            c.pointee.output.tail.writeArrayHeader(names.count)
            for n in names { c.pointee.output.tail.writeBulk(string: n) }
        case .help:
            replyHelp(c, [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all commands.",
                "COUNT",
                "    Return the total number of commands in this server.",
                "LIST",
                "    Return a list of all commands in this server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "HELP",
                "    Print this help.",
            ])
        }
    }

    /// A top-level command or `container|sub` by name, case-insensitively.
    private func findSpec(_ name: String) -> CommandSpec? {
        let lower = name.lowercased()
        for spec in CommandTable.entries.map(\.spec) {
            if spec.name == lower { return spec }
            if let sub = spec.subcommands.first(where: { $0.name == lower }) { return sub }
        }
        return nil
    }

    /// The 10-element COMMAND INFO entry of Redis 7.
    private func writeCommandInfo(_ b: inout ByteBuffer, _ spec: CommandSpec, resp3: Bool) {
        b.writeArrayHeader(10)
        b.writeBulk(string: spec.name)
        b.writeInteger(spec.arity)
        b.writeSetHeader(spec.flags.count, resp3: resp3)
        for f in spec.flags { b.writeSimple(string: f) }
        b.writeInteger(0)
        b.writeInteger(0)
        b.writeInteger(0)
        b.writeSetHeader(spec.categories.count, resp3: resp3)
        for cat in spec.categories { b.writeSimple(string: cat) }
        b.writeSetHeader(0, resp3: resp3)  // tips
        b.writeSetHeader(0, resp3: resp3)  // key specs: none, pub/sub commands take no keys
        // Redis replies an empty set when there are no subcommands, else an array.
        if spec.subcommands.isEmpty {
            b.writeSetHeader(0, resp3: resp3)
        } else {
            b.writeArrayHeader(spec.subcommands.count)
            for sub in spec.subcommands { writeCommandInfo(&b, sub, resp3: resp3) }
        }
    }

    /// The COMMAND DOCS map of one command.
    private func writeCommandDocs(_ b: inout ByteBuffer, _ spec: CommandSpec, resp3: Bool) {
        var pairs = 4
        if !spec.arguments.isEmpty { pairs += 1 }
        if !spec.subcommands.isEmpty { pairs += 1 }
        b.writeMapHeader(pairs, resp3: resp3)
        b.writeBulk("summary"); b.writeBulk(string: spec.summary)
        b.writeBulk("since"); b.writeBulk(string: spec.since)
        b.writeBulk("group"); b.writeBulk(string: spec.group)
        b.writeBulk("complexity"); b.writeBulk(string: spec.complexity)
        if !spec.arguments.isEmpty {
            b.writeBulk("arguments")
            b.writeArrayHeader(spec.arguments.count)
            for arg in spec.argumentDocs {
                var flags: [String] = []
                if arg.optional { flags.append("optional") }
                if arg.multiple { flags.append("multiple") }
                b.writeMapHeader(2 + (arg.token == nil ? 0 : 1) + (flags.isEmpty ? 0 : 1), resp3: resp3)
                b.writeBulk("name"); b.writeBulk(string: arg.name)
                b.writeBulk("type"); b.writeBulk(string: arg.type)
                if let token = arg.token { b.writeBulk("token"); b.writeBulk(string: token) }
                if !flags.isEmpty {
                    b.writeBulk("flags")
                    b.writeSetHeader(flags.count, resp3: resp3)
                    for f in flags { b.writeSimple(string: f) }
                }
            }
        }
        if !spec.subcommands.isEmpty {
            b.writeBulk("subcommands")
            b.writeMapHeader(spec.subcommands.count, resp3: resp3)
            for sub in spec.subcommands {
                b.writeBulk(string: sub.name)
                writeCommandDocs(&b, sub, resp3: resp3)
            }
        }
    }

    // MARK: - CONFIG

    /// The read-only configuration view: Redis's names where Redis has the
    /// setting (so tools like redis-benchmark find `save` and `appendonly`),
    /// Vimana's own otherwise.
    var configParameters: [(String, String)] {
        let k = config.kernel
        let l = k.limits
        return [
            ("bind", k.bind),
            ("port", String(port)),
            ("http-port", String(httpPort)),
            ("maxclients", String(l.maxClients)),
            ("proto-max-bulk-len", String(l.maxPayload)),
            ("proto-inline-max-size", String(l.maxInline)),
            ("client-query-buffer-limit", String(l.queryBuffer)),
            ("query-buffer-before-auth", String(l.queryBufferBeforeAuth)),
            ("client-output-buffer-limit",
             "normal \(l.normalOutputHard) \(l.normalOutputSoft) \(l.normalOutputSoftSeconds) slave 0 0 0 pubsub \(l.pubsubOutputHard) \(l.pubsubOutputSoft) \(l.pubsubOutputSoftSeconds)"),
            ("requirepass", k.password == nil ? "" : "(set; not shown)"),
            ("protected-mode", k.protectedMode ? "yes" : "no"),
            ("save", ""),
            ("appendonly", "no"),
            ("databases", "1"),
            ("timeout", "0"),
            ("loglevel", config.logging.level.name),
            ("log-format", config.logging.format.rawValue),
            ("slowlog-max-len", String(s.pointee.slowlogMaxLen)),
            ("slowlog-log-slower-than", String(s.pointee.slowlogLogSlowerThan)),
            ("latency-monitor-threshold", String(s.pointee.latencyMonitorThreshold)),
        ]
    }

    func configCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .config, args, as: ConfigSubcommand.self) else { return }
        switch sub {
        case .get:
            var found: [(String, String)] = []
            for i in 2..<args.count {
                let pattern = args.string(i)
                let literal = Glob.isLiteral(Array(pattern.utf8))
                for (name, value) in configParameters
                where Glob.matches(pattern, name, ignoringCase: true) && !found.contains(where: { $0.0.lowercased() == name }) {
                    // As Redis: an exact name is echoed as the client spelled it.
                    found.append((literal ? pattern : name, value))
                }
            }
            c.pointee.output.tail.writeMapHeader(found.count, resp3: c.pointee.flags.contains(.resp3))
            for (name, value) in found {
                c.pointee.output.tail.writeBulk(string: name)
                c.pointee.output.tail.writeBulk(string: value)
            }
        case .set:
            c.pointee.output.tail.writeError(
                "ERR CONFIG SET is not supported: the configuration is read-only (edit phoenix.yaml and restart)")
        case .resetstat:
            resetStats()
            c.pointee.output.tail.writeSimple("OK")
        case .rewrite:
            c.pointee.output.tail.writeError(
                "ERR CONFIG REWRITE is not supported: phoenix.yaml is the configuration's source of truth (edit it and restart)")
        case .help:
            replyHelp(c, [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Refused: the configuration is read-only; edit phoenix.yaml and restart.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Refused: phoenix.yaml is the configuration's source of truth.",
                "HELP",
                "    Prints this help.",
            ])
        }
    }

    // MARK: - SHUTDOWN

    /// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: as SIGTERM (listeners
    /// closed, output drained, the ledger's pending writes written and
    /// synced, the agents stopped), and the connection closes without a
    /// reply, as Redis's. Every option is Redis's and checked as Redis
    /// checks them; none changes what is done: the ledger holds every
    /// acknowledged write already, and there is nothing to save. ABORT
    /// finds no shutdown in progress: once one begins no command is read.
    func shutdownCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var save = false, nosave = false, others = false, abort = false
        for i in 1..<args.count {
            switch args.string(i).lowercased() {
            case "nosave": nosave = true
            case "save": save = true
            case "now", "force": others = true
            case "abort": abort = true
            default:
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
        }
        if (abort && (save || nosave || others)) || (save && nosave) {
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        if abort {
            c.pointee.output.tail.writeError(ErrorReply.noShutdown)
            return
        }
        beginShutdown(reason: "SHUTDOWN by user '\(c.pointee.info.user.name)'")
    }

    // MARK: - TIME

    /// TIME: the wall clock as two bulk strings, seconds and microseconds, as Redis.
    func timeCommand(_ c: UnsafeMutablePointer<ClientState>) {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        c.pointee.output.tail.writeArrayHeader(2)
        c.pointee.output.tail.writeBulk(string: String(t.tv_sec))
        c.pointee.output.tail.writeBulk(string: String(t.tv_nsec / 1000))
    }
}
