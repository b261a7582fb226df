import VimanaCore
import VimanaRESP

/// LICENSE SET|GET|LIST, and the refusal of a restricted user's publishes
/// (Protocol/PROTOCOL.md §6, "Licences"). The state is `Licenses`, held by
/// `Users`; a change is journaled with the users' (UserJournal) and takes
/// effect on the user's open connections at its next command.
extension Kernel {
    func licenseCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .license, args, as: LicenseSubcommand.self) else { return }
        let resp3 = c.pointee.flags.contains(.resp3)
        switch sub {
        case .set:
            licenseSet(c, args)
        case .get:
            let name = args.string(2)
            guard users.byName[name] != nil else {
                c.pointee.output.tail.writeError(ErrorReply.userNotFound(String(name.prefix(128))))
                return
            }
            writeLicense(&c.pointee.output.tail, user: nil, users.licenses[name], resp3: resp3)
        case .list:
            let restricted = users.licenses.sorted
            c.pointee.output.tail.writeArrayHeader(restricted.count)
            for (user, license) in restricted { writeLicense(&c.pointee.output.tail, user: user, license, resp3: resp3) }
        }
    }

    /// LICENSE GET's map (`state`, `reason`, `by`, `since`; nulls for
    /// `active`), LICENSE LIST's with `user` first.
    private func writeLicense(_ b: inout ByteBuffer, user: String?, _ license: License?, resp3: Bool) {
        b.writeMapHeader(user == nil ? 4 : 5, resp3: resp3)
        if let user { b.writeBulk("user"); b.writeBulk(string: user) }
        b.writeBulk("state"); b.writeBulk(string: (license?.state ?? .active).rawValue)
        b.writeBulk("reason")
        if let license { b.writeBulk(string: license.reason) } else { b.writeNull(resp3: resp3) }
        b.writeBulk("by")
        if let license { b.writeBulk(string: license.by) } else { b.writeNull(resp3: resp3) }
        b.writeBulk("since")
        if let license { b.writeInteger(Int(license.sinceMillis)) } else { b.writeNull(resp3: resp3) }
    }

    /// LICENSE SET user ACTIVE|SUSPENDED|REVOKED [reason]: checked whole,
    /// recorded, then in force; +OK once the record is durable, as ACL
    /// SETUSER's. ACTIVE removes the record (a reason given is journaled only).
    private func licenseSet(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let name = args.string(2)
        guard users.byName[name] != nil else {
            c.pointee.output.tail.writeError(ErrorReply.userNotFound(String(name.prefix(128))))
            return
        }
        guard let state = args.keyword(3, as: LicenseState.self) else {
            c.pointee.output.tail.writeError(ErrorReply.badLicenseState(String(args.string(3).prefix(128))))
            return
        }
        var reason: String?
        if args.count == 5 {
            guard Licenses.isReason(args.buffer(4)) else {
                c.pointee.output.tail.writeError(ErrorReply.badLicenseReason)
                return
            }
            reason = args.string(4)
        } else if state != .active {
            c.pointee.output.tail.writeError(ErrorReply.licenseNeedsReason)
            return
        }
        if let error = ledger?.writeError {
            c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error))
            return
        }
        let by = c.pointee.info.user.name
        let since = s.pointee.nowMillis
        var sequence: UInt64?
        if let userJournal {
            guard let recorded = userJournal.recordLicense(name, state: state, reason: reason, by: by, sinceMillis: since) else {
                c.pointee.output.tail.writeError(ErrorReply.licenseNotRecorded)
                return
            }
            sequence = recorded
        }
        users.licenses.set(name, reason.map { License(state: state, reason: $0, by: by, sinceMillis: since) })
        licenseChanged(name)
        log.info("licence set", ["user": .string(name), "state": .string(state.rawValue), "by": .string(by)])
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.append("+OK\r\n")
        if let sequence { holdReply(c, untilConfirmed: sequence, replyStart: replyStart) }
    }

    /// The connections acting as `name` take its licence at once: their
    /// rules again, with the publishing bits masked (`applyRules`).
    func licenseChanged(_ name: String) {
        guard let user = users.byName[name] else { return }
        let account = users.account(name)
        forEachClient { other in
            guard other.pointee.info.account === account else { return }
            applyRules(other, user)
        }
    }

    // MARK: - Enforcement

    /// The refusal of a publish by a user whose licence is not active, to
    /// any topic but the court's; nil when the command is not a publish,
    /// the user's licence is active, or the topic is the court's. Reached
    /// only by commands the fast test did not clear (`permitted`,
    /// `permittedAtExec`): a restricted user's connections have the
    /// publishing bits cleared.
    func licenseRefusal(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) -> String? {
        guard !users.licenses.isEmpty, Licenses.publishingCommands.contains(command), args.count > 1 else { return nil }
        let name = c.pointee.info.user.name
        guard let license = users.licenses[name], !args.buffer(1).elementsEqual(Licenses.courtTopic.utf8) else { return nil }
        // CLIENT LIST's `cmd=` in the log's client-info names the refused command, as for the rules' refusals.
        c.pointee.lastCommand = command.rawValue
        c.pointee.lastSubcommand = -1
        logACL(c, .license, object: String(decoding: args.buffer(1), as: UTF8.self), username: name)
        return ErrorReply.licenseRefusal(user: name, license.state, reason: license.reason)
    }
}
