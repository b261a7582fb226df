import VimanaCore
import VimanaRESP
import VimanaACL
import VimanaLedger

/// Runtime ACL changes kept across restarts (UserJournal), and the
/// internal topics that hold the server's journals kept from ordinary users.
extension Kernel {
    // MARK: - At start

    /// Once the ledger is open: phoenix.yaml's users (already built) get
    /// every recorded change, in order. Without a ledger, says at start
    /// that changes will not outlive the process.
    func restoreUsers() {
        guard let userJournal else {
            log.warn("ACL SETUSER and ACL DELUSER changes are kept in memory only", [
                "reason": .string("the ledger is disabled (\(config.flags["ledger.enabled"] ?? "ledger.enabled: false"))"),
                "hint": .string("users: in \(config.source) is what every start begins with")])
            return
        }
        _ = userJournal.replay(into: users)
    }

    /// After the agents took the ledger's seal callback: a seal also makes
    /// the users' journal copy its changes into the new segment.
    func watchSealsForUserJournal() {
        guard let ledger, let userJournal else { return }
        let previous = ledger.onRolled
        ledger.onRolled = { [unowned userJournal] in
            previous?()
            userJournal.snapshotDue = true
        }
    }

    // MARK: - Recording a change

    /// Records an accepted ACL SETUSER; `previous` is the user before it
    /// (nil: the SETUSER created it). Returns the sequence the reply waits
    /// for (nil without a ledger), or false when the ledger refused the
    /// record: the change is then undone and the error is written.
    func journalSetUser(_ c: UnsafeMutablePointer<ClientState>, _ name: String, rules: [[UInt8]],
                        previous: ACLUser?) -> (ok: Bool, sequence: UInt64?) {
        guard let userJournal else { return (true, nil) }
        if let sequence = userJournal.recordSetUser(name, rules: rules, created: previous == nil, nowMillis: s.pointee.nowMillis) {
            return (true, sequence)
        }
        users.restore(name, previous)
        c.pointee.output.tail.writeError(Self.journalRefusal)
        return (false, nil)
    }

    /// Records the deletion of `name`, before it is made; false when the
    /// ledger refused the record: the user is then not deleted, its account
    /// and connections untouched (the caller replies).
    func journalDelUser(_ name: String) -> (ok: Bool, sequence: UInt64?) {
        guard let userJournal else { return (true, nil) }
        if let sequence = userJournal.recordDelUser(name, nowMillis: s.pointee.nowMillis) { return (true, sequence) }
        return (false, nil)
    }

    /// The ledger cannot be written: the change would not survive a restart.
    static let journalRefusal = "ERR the ledger refused the ACL change (it would not survive a restart); nothing was changed"

    /// ACL DELUSER whose deletion of `name` the ledger refused after it
    /// had recorded `deleted` deletions of the same command.
    static func journalRefusal(at name: String, deleted: Int) -> String {
        "ERR the ledger refused to record the deletion of user '\(name)' (it would not survive a restart);"
            + " the \(deleted) deleted before it stay deleted, it and those after it were not deleted"
    }
}
