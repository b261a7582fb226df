import VimanaCore
import VimanaRESP
import VimanaConfig

/// CONFIG's subcommands, as in the table (`config|get` …).
enum ConfigSubcommand: String, Keyword {
    case get, set, rewrite, help, resetstat
}

/// What a reload of phoenix.yaml gives the kernel: the configuration as
/// `vimana serve` would start with it (the file, then the same flags), or
/// why it could not be loaded (`path:line:column: message`).
public enum ConfigReload: Sendable {
    case loaded(Configuration)
    case failed(String)
}

/// CONFIG GET, CONFIG SET, and SIGHUP's reload of phoenix.yaml: all three
/// over `configTable` (ConfigParameters.swift).
extension Kernel {
    // MARK: - CONFIG

    func configCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .config, args, as: ConfigSubcommand.self) else { return }
        switch sub {
        case .get: configGet(c, args)
        case .set: configSet(c, args)
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
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Refused: phoenix.yaml is the configuration's source of truth.",
                "HELP",
                "    Prints this help.",
            ])
        }
    }

    /// CONFIG GET pattern…: each parameter once, in the table's order; an
    /// exact name is echoed as the client spelled it (Redis).
    private func configGet(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var found: [(String, String)] = []
        var seen: Set<String> = []
        for i in 2..<args.count {
            let pattern = args.string(i)
            let literal = Glob.isLiteral(Array(pattern.utf8))
            for p in Self.configTable where !seen.contains(p.name) {
                let byAlias = literal && p.aliases.contains(pattern.lowercased())
                guard byAlias || Glob.matches(pattern, p.name, ignoringCase: true) else { continue }
                seen.insert(p.name)
                found.append((literal ? pattern : p.name, p.get(self)))
            }
        }
        c.pointee.output.tail.writeMapHeader(found.count, resp3: c.pointee.flags.contains(.resp3))
        for (name, value) in found {
            c.pointee.output.tail.writeBulk(string: name)
            c.pointee.output.tail.writeBulk(string: value)
        }
    }

    /// CONFIG SET parameter value [parameter value …], as Redis 7.0's
    /// configSetCommand: every name is looked up first (the first unknown,
    /// immutable or repeated one is the error), then every value is checked
    /// in order on a copy of the settings, then the change as a whole; only
    /// when all pass is anything applied.
    private func configSet(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard args.count % 2 == 0 else { c.pointee.output.tail.writeError(ErrorReply.syntax); return }
        var chosen: [(ConfigParameter, String)] = []
        for i in stride(from: 2, to: args.count, by: 2) {
            let name = args.string(i)
            guard let p = Self.configParameter(name) else {
                c.pointee.output.tail.writeError("ERR Unknown option or number of arguments for CONFIG SET - '\(name)'")
                return
            }
            if p.set == nil { return refuseConfig(c, name, p.refusal) }
            if chosen.contains(where: { $0.0.name == p.name }) { return refuseConfig(c, name, "duplicate parameter") }
            chosen.append((p, args.string(i + 1)))
        }
        var change = ConfigChange(settings: s.pointee.settings)
        for (p, value) in chosen {
            // As Redis: from here the canonical name, not the client's spelling.
            if let set = p.set, let reason = set(&change, value, self) { return refuseConfig(c, p.name, reason) }
        }
        if let problem = configProblem(change.settings, s.pointee.settings) {
            return refuseConfig(c, problem.argument, problem.reason)
        }
        commitConfig(change, parameters: chosen.map(\.0), by: "CONFIG SET by user '\(c.pointee.info.user.name)'")
        c.pointee.output.tail.append("+OK\r\n")
    }

    private func refuseConfig(_ c: UnsafeMutablePointer<ClientState>, _ name: String, _ reason: String) {
        c.pointee.output.tail.writeError("ERR CONFIG SET failed (possibly related to argument '\(name)') - \(reason)")
    }

    /// Applies an accepted change and logs each parameter whose value it
    /// changed (name, old and new value; a sensitive one's never). Returns
    /// the names of those parameters.
    @discardableResult
    func commitConfig(_ change: ConfigChange, parameters: [ConfigParameter], by source: String) -> [String] {
        let before = parameters.map { $0.get(self) }
        apply(change)
        var changed: [String] = []
        for (p, old) in zip(parameters, before) {
            let new = p.get(self)
            guard new != old else { continue }
            changed.append(p.name)
            log.info("config changed", ["parameter": .string(p.name), "old": .string(p.sensitive ? "(hidden)" : old),
                                        "new": .string(p.sensitive ? "(hidden)" : new), "by": .string(source)])
        }
        // Last, so that a change to a quieter level is itself logged.
        log.set(level: change.settings.logLevel)
        return changed
    }

    /// Makes the staged settings the server's: every reader of a setting
    /// reads it from `s.pointee.settings` at use, except the parsers'
    /// limits (each connection holds its own copy) and what lives in
    /// another object (the log's format, the ledger), which are set here;
    /// the log's level is set by `commitConfig`, after its lines.
    private func apply(_ change: ConfigChange) {
        let old = s.pointee.settings, new = change.settings
        s.pointee.setSettings(new)
        if new.limits.maxPayload != old.limits.maxPayload || new.limits.maxInline != old.limits.maxInline {
            // A bulk already announced keeps the limit it was read under.
            forEachClient { c in
                c.pointee.parser.maxBulk = new.limits.maxPayload
                c.pointee.parser.maxInline = new.limits.maxInline
            }
        }
        if new.limits.maxClients > old.limits.maxClients { raiseFileLimit() }
        if new.logFormat != old.logFormat { log.set(format: new.logFormat) }
        if new.retentionMaxAgeSeconds != old.retentionMaxAgeSeconds || new.retentionMaxBytes != old.retentionMaxBytes {
            ledger?.setRetention(maxAgeSeconds: new.retentionMaxAgeSeconds, maxBytes: new.retentionMaxBytes)
        }
        for work in change.kernelWork { work(self) }
    }

    // MARK: - SIGHUP

    /// SIGHUP: loads phoenix.yaml again (`reloadConfiguration`, set by
    /// `vimana serve`); if it is invalid, logs where and changes nothing;
    /// else sets every parameter of `configTable` that stands for a key of
    /// the file to the file's value, through CONFIG SET's checks (all or
    /// none), logs each change, and names every other key that changed
    /// since start as needing a restart.
    func reloadConfig() {
        guard let reloadConfiguration else {
            log.warn("signal ignored", ["signal": "SIGHUP",
                                        "reason": "no configuration file to reload (started without --config)"])
            return
        }
        let new: Configuration
        switch reloadConfiguration() {
        case .failed(let error):
            log.error("configuration reload failed", ["error": .string(error), "effect": "nothing changed"])
            return
        case .loaded(let loaded):
            new = loaded
        }
        var change = ConfigChange(settings: s.pointee.settings)
        var live: Set<String> = []
        var touched: [ConfigParameter] = []
        for p in Self.configTable {
            guard let set = p.set, let fromFile = p.fromFile else { continue }
            live.formUnion(p.keys)
            let value = fromFile(new)
            guard value != p.get(self) else { continue }
            if let reason = set(&change, value, self) {
                log.error("configuration reload refused", ["parameter": .string(p.name), "reason": .string(reason),
                                                           "effect": "nothing changed"])
                return
            }
            touched.append(p)
        }
        if let problem = configProblem(change.settings, s.pointee.settings) {
            log.error("configuration reload refused", ["parameter": .string(problem.argument),
                                                       "reason": .string(problem.reason), "effect": "nothing changed"])
            return
        }
        let changed = commitConfig(change, parameters: touched, by: "SIGHUP")
        let restart = new.changedKeys(from: config).filter { !live.contains($0) }
        for key in restart {
            log.warn("configuration change needs a restart", ["key": .string(key), "file": .string(new.source)])
        }
        log.info("configuration reloaded", ["file": .string(new.source), "changed": .string(changed.joined(separator: " ")),
                                            "needs_restart": .string(restart.joined(separator: " "))])
    }
}
