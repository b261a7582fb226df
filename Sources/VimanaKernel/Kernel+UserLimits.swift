import VimanaCore
import VimanaEventLoop
import VimanaACL

/// Per-user limits (phoenix.yaml `users[].limits`, UserAccount.swift): how
/// many connections may act as a user at once, and how fast they may
/// publish together. A publisher over its rate is not refused and loses
/// nothing: its connection is not read from until the allowance is back,
/// as the ledger's backpressure pauses publishers (`ClientFlags.notRead`),
/// so it slows to the rate while everyone else is served as before.
extension Kernel {
    // MARK: - Connections

    /// Whether `c` may act as the user of `account`: always when it does
    /// already, else when the user is under its `connections` limit (a
    /// refusal is counted). Asked by `actAs` only.
    func mayActAs(_ c: UnsafeMutablePointer<ClientState>, _ account: UserAccount) -> Bool {
        c.pointee.info.account === account || account.admits()
    }

    /// The reply to an AUTH or HELLO AUTH refused at the user's
    /// `connections` limit, and to the commands of a connection over
    /// `default`'s (`'default'`).
    static func userConnectionLimitError(_ name: String) -> String {
        "ERR max number of connections reached for user '\(name)'"
    }

    /// A new connection, or one RESET, that cannot act as `default` (at its
    /// `connections` limit; the refusal was counted): it is kept, acting as
    /// no user (`overUserLimit`), so that it may still AUTH as its own user
    /// (an agent's, an admin's). It keeps `default`'s name and rules for
    /// what shows them (CLIENT LIST, ACL LOG), counts in no account and is
    /// not authenticated.
    /// It has `noUserGraceNanos` to get a user, then it is closed: the
    /// limit bounds what anonymous peers hold.
    func actAsNoUser(_ c: UnsafeMutablePointer<ClientState>) {
        applyRules(c, users.defaultUser)
        if let account = c.pointee.info.account { leaveAccount(c, account) }
        c.pointee.flags.remove(.authenticated)
        if !c.pointee.flags.contains(.overUserLimit) && c.pointee.closeDeadline == 0 {
            c.pointee.closeDeadline = s.pointee.nowNanos + KernelConstants.noUserGraceNanos
            s.pointee.timedClients.insert(c.pointee.fd)
        }
        c.pointee.flags.insert(.overUserLimit)
    }

    /// A connection acting as no user (`overUserLimit`) about to run a
    /// command that needs a user: it acts as `default` if the user has room
    /// now, as a new connection would. Not counted as a refusal when it
    /// has none: it was counted once, when accepted or RESET.
    func admitAsDefault(_ c: UnsafeMutablePointer<ClientState>) -> Bool {
        users.defaultAccount.hasRoom && actAsDefault(c)
    }

    /// Moves `c`'s count to `account` (from the one it counted in, if any):
    /// called by `actAs` only, once the limit let it.
    func enterAccount(_ c: UnsafeMutablePointer<ClientState>, _ account: UserAccount) {
        let info = c.pointee.info
        if info.account === account { return }
        if let old = info.account { leaveAccount(c, old) }
        account.enter()
        info.account = account
        if c.pointee.flags.contains(.overUserLimit) {
            // A user at last: the grace deadline of `actAsNoUser` is lifted.
            c.pointee.flags.remove(.overUserLimit)
            if !c.pointee.flags.contains(.lingering) && c.pointee.closeDeadline != 0 {
                c.pointee.closeDeadline = 0
                s.pointee.timedClients.remove(c.pointee.fd)
            }
        }
        c.pointee.meter = account.meter
        if account.meter != nil { c.pointee.flags.insert(.publishLimited) } else { c.pointee.flags.remove(.publishLimited) }
    }

    /// `c` stops counting in `account` (it closes, or acts as another user):
    /// what it published is added to the account's totals, and a pause it
    /// was in no longer lists it. Another user's allowance is not this
    /// one's debt: a paused connection that stays open is released at the
    /// end of the pass by `resumePublishers`, the path of a pause that ends
    /// by itself, so the commands it sent meanwhile run (not here: `c` may
    /// be running a command, EXEC's AUTH, whose caller goes on reading it).
    func leaveAccount(_ c: UnsafeMutablePointer<ClientState>, _ account: UserAccount) {
        account.messages &+= c.pointee.published
        account.bytes &+= c.pointee.publishedBytes
        c.pointee.published = 0
        c.pointee.publishedBytes = 0
        if c.pointee.flags.contains(.throttled) {
            account.paused.removeAll { $0 == c.pointee.fd }
            if c.pointee.flags.contains(.closing) {
                c.pointee.flags.remove(.throttled)
            } else {
                releasedPublishers.append((c.pointee.fd, c.pointee.id))
                armPublishResume()
            }
        }
        account.leave()
        c.pointee.meter = nil
        c.pointee.flags.remove(.publishLimited)
        c.pointee.info.account = nil
    }

    // MARK: - Publish rate

    /// A PUBLISH or XADD of `payload` bytes by a connection whose user has
    /// a publish limit (`publishLimited`): takes it from the user's
    /// allowance, and pauses the connection when a debt is owed, or while
    /// the user's publishers are paused already (so that one connection
    /// cannot run ahead of the others).
    @inline(never)
    func chargePublish(_ c: UnsafeMutablePointer<ClientState>, payload: Int) {
        guard let m = c.pointee.meter else { return }
        c.pointee.published &+= 1
        c.pointee.publishedBytes &+= payload
        let now = s.pointee.nowNanos
        let inDebt = m.pointee.bucket.charge(payload: payload, nowNanos: now)
        if inDebt || m.pointee.resumeAt != 0 { pausePublisher(c, m, inDebt: inDebt, nowNanos: now) }
    }

    /// `chargePublish`'s rare half: starts the user's pause when its debt
    /// is new, and pauses `c`.
    @inline(never)
    private func pausePublisher(_ c: UnsafeMutablePointer<ClientState>, _ m: UnsafeMutablePointer<PublishMeter>,
                                inDebt: Bool, nowNanos now: Int64) {
        guard let account = c.pointee.info.account else { return }
        if inDebt && m.pointee.resumeAt == 0 {
            let delay = max(1, m.pointee.bucket.resumeDelay(nowNanos: now))
            account.beginPause(nowNanos: now, resumeAt: now &+ delay)
            pausedAccounts.append(account)
            armPublishResume()
            if now &- account.lastPauseLog >= KernelConstants.publishPauseLogIntervalNanos {
                account.lastPauseLog = now
                log.info("publisher paused: user over its publish limit",
                         ["user": .string(account.name), "publish_rate": .int(account.limits.publishRate ?? 0),
                          "publish_bytes": .int(account.limits.publishBytes ?? 0), "pauses_so_far": .int(account.pauses)])
            }
        }
        if m.pointee.resumeAt != 0 && !c.pointee.flags.contains(.throttled) {
            c.pointee.flags.insert(.throttled)
            account.paused.append(c.pointee.fd)
            loop.poller.modify(c.pointee.fd, readInterest(c))
        }
    }

    /// The poll mask `c` should have: input unless something pauses its
    /// reading (`ClientFlags.notRead`), or it is to close once its output is
    /// written (`closeAfterReply`, and every connection while shutting
    /// down); output while it watches for it. The one rule every re-arm
    /// follows, so that resuming for one reason cannot undo another.
    @inline(__always)
    func readInterest(_ c: UnsafeMutablePointer<ClientState>) -> UInt32 {
        let read = c.pointee.flags.isDisjoint(with: ClientFlags.notRead.union(.closeAfterReply)) && !s.pointee.shuttingDown
            ? Poller.readable : 0
        return c.pointee.flags.contains(.watchingWritable) ? read | Poller.writable : read
    }

    /// Sets the loop's wake-up for the earliest paused user (0: none), or
    /// now while connections wait to be released.
    private func armPublishResume() {
        var earliest: Int64 = releasedPublishers.isEmpty ? 0 : max(1, s.pointee.nowNanos)
        for a in pausedAccounts where earliest == 0 || a.resumeAt < earliest { earliest = a.resumeAt }
        s.pointee.publishResumeAt = earliest
    }

    /// The loop reached `publishResumeAt`: each user whose time has come
    /// and whose allowance is back has its connections read again, and the
    /// commands they sent meanwhile run (which may pause them again); a
    /// user still short (another of its connections published since) waits
    /// on. Connections released from a pause by leaving its user
    /// (`leaveAccount`) resume the same way, unless they act meanwhile as a
    /// user whose publishers are paused: they wait with those.
    func resumePublishers() {
        let now = s.pointee.nowNanos
        if !releasedPublishers.isEmpty {
            let released = releasedPublishers
            releasedPublishers.removeAll()
            for (fd, id) in released {
                guard let c = s.pointee.client(fd), c.pointee.id == id, c.pointee.flags.contains(.throttled) else { continue }
                if let account = c.pointee.info.account, account.resumeAt != 0 {
                    account.paused.append(fd)
                    continue
                }
                resumeThrottled(c)
            }
        }
        let due = pausedAccounts.filter { $0.resumeAt <= now }
        pausedAccounts.removeAll { $0.resumeAt <= now }
        for account in due {
            if let m = account.meter {
                let delay = m.pointee.bucket.resumeDelay(nowNanos: now)
                if delay > 0 {
                    account.resumeAt = now &+ delay
                    pausedAccounts.append(account)
                    continue
                }
            }
            for fd in account.endPause(nowNanos: now) {
                guard let c = s.pointee.client(fd), c.pointee.flags.contains(.throttled), c.pointee.info.account === account else {
                    continue
                }
                resumeThrottled(c)
            }
        }
        armPublishResume()
    }

    /// Ends `c`'s publish pause: it is read again and the commands it sent
    /// meanwhile run (which may pause it again). From the loop's pass end only.
    private func resumeThrottled(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.flags.remove(.throttled)
        if c.pointee.flags.contains(.closing) { return }
        loop.poller.modify(c.pointee.fd, readInterest(c))
        processInput(c)
    }
}

// MARK: - Figures

/// One user's figures for INFO `users` and /metrics `vimana_user_…`.
struct UserFigures {
    let name: String
    let connections: Int
    let refused: Int
    let pauses: Int
    let pausedSeconds: Double
    /// What it published: counted for users with a publish limit only (nil
    /// for the others), so that no other PUBLISH pays for the count.
    let messages: Int?
    let bytes: Int?
    /// Its licence when not active (INFO only: LICENSE GET has the rest).
    let license: LicenseState?
}

extension Kernel {
    /// Every user's figures, in ACL USERS' order: the account's totals plus
    /// what its open connections published (one walk over the connections).
    func userFigures() -> [UserFigures] {
        var live: [ObjectIdentifier: (messages: Int, bytes: Int)] = [:]
        // Closing connections too: theirs join the account only when they are freed.
        var fd: Int32 = 0
        while Int(fd) < s.pointee.connections.size {
            if let c = s.pointee.connections.client(known: fd), let a = c.pointee.info.account {
                let sum = live[ObjectIdentifier(a), default: (0, 0)]
                live[ObjectIdentifier(a)] = (sum.messages &+ c.pointee.published, sum.bytes &+ c.pointee.publishedBytes)
            }
            fd &+= 1
        }
        let now = Clock.monotonicNanos()
        return users.names.map { name in
            let a = users.account(name)
            let open = live[ObjectIdentifier(a), default: (0, 0)]
            let counted = a.meter != nil
            return UserFigures(name: name, connections: a.connections, refused: a.refused, pauses: a.pauses,
                               pausedSeconds: a.pausedSeconds(nowNanos: now),
                               messages: counted ? a.messages &+ open.messages : nil,
                               bytes: counted ? a.bytes &+ open.bytes : nil, license: users.licenses[name]?.state)
        }
    }

    /// A user name as an INFO field: bytes other than letters, digits and
    /// `-` `.` `@` written `%XX` (`_` too), so that `:` (INFO's separator,
    /// and in `agent:<id>`), `,` and `=` cannot be misread.
    static func infoName(_ name: String) -> String {
        var out = ""
        for b in name.utf8 {
            let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "@")
            if plain {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}

extension String {
    /// A non-negative number with three decimals, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int(Swift.min(Swift.max(0, value) * 1000, Double(Int.max / 2)).rounded())
        let frac = thousandths % 1000
        self = "\(thousandths / 1000)." + String(repeating: "0", count: frac < 10 ? 2 : frac < 100 ? 1 : 0) + "\(frac)"
    }
}
