import VimanaCore
import VimanaACL
import VimanaLedger

/// The users' journal: every ACL SETUSER and ACL DELUSER that changed the
/// table, and every LICENSE SET (Licenses.swift), recorded in the ledger's internal topic `_vimana.acl` and applied
/// again, in order, on top of phoenix.yaml's users at the next start
/// (Protocol/LEDGER.md §1, docs/OPERATIONS.md "Users changed at runtime").
///
/// Promises: a record never holds a password: `>pass` is recorded as
/// `#<sha256>` and `<pass` as `!<sha256>` (`storable`), which the model
/// applies exactly as the plain ones. A record that cannot be applied at a
/// start (a rule the model now refuses, a user phoenix.yaml no longer
/// declares, a record not written by the server) is logged with its
/// sequence and skipped; the start goes on.
///
/// A record: `op` (`setuser`, `deluser` or `license`), `user`, then for
/// `setuser` `new` (`1` when the SETUSER created the user, else `0`) and
/// one `rule` field per rule, in order, for `license` the fields of
/// `Licenses.fields`; a snapshot's copy of a record ends with a
/// `snapshot` field naming its `snapshot-begin`.
final class UserJournal {
    let ledger: Ledger
    let log = Log.shared
    /// The records the next start needs, oldest first: every change since
    /// each user's latest deletion (a DELUSER makes its user's earlier
    /// records moot). Written again whole after each seal (`snapshotDue`),
    /// so that retention, which retires whole old segments, never takes a
    /// change the users still carry.
    private(set) var live: [[LedgerRecord.Field]] = []
    /// Set when the ledger seals a segment: the next pass copies `live`
    /// into the new one (`writeSnapshot`).
    var snapshotDue = false

    /// The internal topic. `_vimana.` topics are never recorded for clients
    /// (`Ledger.internalTopicPrefix`), so only the server writes here.
    static let topic: [UInt8] = Ledger.internalTopicPrefix + Array("acl".utf8)
    /// Records read at a time at a start: a bound on what is held at once.
    static let replayChunk = 1_000

    init(ledger: Ledger) {
        self.ledger = ledger
    }

    // MARK: - Recording

    /// `rule` as it may be written to disk: a plain password (`>pass`,
    /// `<pass`) becomes its digest (`#hex`, `!hex`); every other rule is kept.
    static func storable(_ rule: [UInt8]) -> [UInt8] {
        guard let first = rule.first, first == UInt8(ascii: ">") || first == UInt8(ascii: "<") else { return rule }
        let marker = first == UInt8(ascii: ">") ? UInt8(ascii: "#") : UInt8(ascii: "!")
        return [marker] + Array(SHA256.hexDigest(rule.dropFirst()).utf8)
    }

    /// Records an accepted ACL SETUSER; returns the record's sequence (the
    /// reply waits until the ledger confirms it), nil when it was refused.
    func recordSetUser(_ name: String, rules: [[UInt8]], created: Bool, nowMillis: Int64) -> UInt64? {
        var fields = [Self.field("op", "setuser"), Self.field("user", name), Self.field("new", created ? "1" : "0")]
        fields += rules.map { LedgerRecord.Field(name: Array("rule".utf8), value: Self.storable($0)) }
        return record(fields, nowMillis: nowMillis)
    }

    /// Records a LICENSE SET (`Licenses.fields`).
    func recordLicense(_ name: String, state: LicenseState, reason: String?, by: String, sinceMillis: Int64) -> UInt64? {
        record(Licenses.fields(user: name, state: state, reason: reason, by: by, sinceMillis: sinceMillis), nowMillis: sinceMillis)
    }

    /// Records the deletion of one user by ACL DELUSER.
    func recordDelUser(_ name: String, nowMillis: Int64) -> UInt64? {
        record([Self.field("op", "deluser"), Self.field("user", name)], nowMillis: nowMillis)
    }

    /// The first field named `name`.
    static func value(_ fields: [LedgerRecord.Field], _ name: String) -> [UInt8]? {
        fields.first { $0.name.elementsEqual(name.utf8) }?.value
    }

    private static func field(_ name: String, _ value: String) -> LedgerRecord.Field {
        LedgerRecord.Field(name: Array(name.utf8), value: Array(value.utf8))
    }

    /// Appends a change and keeps it in `live`.
    private func record(_ fields: [LedgerRecord.Field], nowMillis: Int64) -> UInt64? {
        guard let sequence = append(fields, nowMillis: nowMillis)?.sequence else { return nil }
        keep(fields)
        return sequence
    }

    /// Adds a change to `live`; a deletion drops its user's earlier
    /// records, a licence its user's earlier licence (an `active` one is
    /// not kept: no record is `active`).
    private func keep(_ fields: [LedgerRecord.Field]) {
        let op = Self.value(fields, "op")
        if op == Array("deluser".utf8), let user = Self.value(fields, "user") {
            live.removeAll { Self.value($0, "user") == user }
        }
        if op == Array("license".utf8), let user = Self.value(fields, "user") {
            live.removeAll { Self.value($0, "op") == op && Self.value($0, "user") == user }
            if Self.value(fields, "state") == Array(LicenseState.active.rawValue.utf8) { return }
        }
        live.append(fields)
    }

    private func append(_ fields: [LedgerRecord.Field], nowMillis: Int64) -> (sequence: UInt64, id: StreamID)? {
        let ledger = ledger
        let appended = Self.topic.withUnsafeBytes { t in
            ledger.append(topic: t, id: .auto, client: .kernel(), nowMillis: UInt64(max(nowMillis, 0)),
                          nowMicros: Clock.wallMicros()) { out in
                for f in fields {
                    f.name.withUnsafeBytes { name in f.value.withUnsafeBytes { out.add(name: name, value: $0) } }
                }
            }
        }
        guard case .success(let r) = appended else { return nil }
        return r
    }

    // MARK: - Snapshots

    /// After a seal: writes `live` again, between a `snapshot-begin` and a
    /// `snapshot-end` whose `begin` names the first's ID, each copy marked
    /// with a last field `snapshot` naming it too. A start applies the
    /// latest complete snapshot and what follows it, nothing before, and
    /// ignores the copies of a snapshot it does not start from (one whose
    /// writing a crash cut short: they repeat older changes).
    func writeSnapshot(nowMillis: Int64) {
        snapshotDue = false
        guard !live.isEmpty, ledger.writeError == nil,
              let begin = append([Self.field("op", "snapshot-begin")], nowMillis: nowMillis) else { return }
        let mark = Self.field(Self.snapshotField, begin.id.description)
        for fields in live { _ = append(fields + [mark], nowMillis: nowMillis) }
        _ = append([Self.field("op", "snapshot-end"), Self.field("begin", begin.id.description)], nowMillis: nowMillis)
    }

    /// The field that marks a snapshot's copy of a record.
    static let snapshotField = "snapshot"

    // MARK: - Replay

    /// What a start did with the journal.
    struct ReplayReport: Equatable {
        var applied = 0
        var skipped = 0
        /// Copies in unfinished snapshots, not applied.
        var unfinished = 0
    }

    /// Applies every recorded change to `users` (built from phoenix.yaml),
    /// oldest first, a bounded chunk at a time: nothing but the chunk is
    /// held. From the latest complete snapshot on (the whole journal when
    /// there is none): what a start reads is the changes in force and those
    /// since, however many seals copied them before. A snapshot begun after
    /// it never ended (the server stopped while writing it): its copies
    /// are ignored, with a warning, so that an older change never follows
    /// a newer one.
    func replay(into users: Users) -> ReplayReport {
        var report = ReplayReport()
        guard ledger.stream(Self.topic) != nil else { return report }
        let start = latestSnapshot()
        let startMark = start.map { Array($0.description.utf8) }
        var from = start ?? .zero
        var unfinished: [UInt8]?
        while true {
            let chunk = ledger.range(topic: Self.topic, from: from, to: .max, count: Self.replayChunk)
            for record in chunk {
                let op = Self.value(record.fields, "op")
                if record.clientID == 0 && (op == Array("snapshot-begin".utf8) || op == Array("snapshot-end".utf8)) { continue }
                var fields = record.fields
                if record.clientID == 0, let last = fields.last, last.name.elementsEqual(Self.snapshotField.utf8) {
                    guard last.value == startMark else {
                        report.unfinished += 1
                        if last.value != unfinished {
                            unfinished = last.value
                            log.warn("unfinished ACL snapshot ignored", [
                                "begin": .string(String(decoding: last.value, as: UTF8.self)),
                                "reason": .string("it has no snapshot-end: the server stopped while writing it; its records copy older changes")])
                        }
                        continue
                    }
                    fields.removeLast()
                }
                if let reason = apply(record.clientID, fields, to: users) {
                    report.skipped += 1
                    log.warn("recorded ACL change skipped", ["sequence": .int(Int(clamping: record.sequence)),
                                                             "id": .string(record.id.description), "reason": .string(reason)])
                } else {
                    report.applied += 1
                }
                // Kept as it was, skipped or not: a user declared again later finds its changes.
                if record.clientID == 0 { keep(fields) }
            }
            guard chunk.count == Self.replayChunk, let next = chunk.last?.id.successor else { break }
            from = next
        }
        // The next start reads from a copy written now, not from the one (or the start) this one read from.
        if !live.isEmpty { snapshotDue = true }
        log.info("users restored from the ledger", ["topic": .string(String(decoding: Self.topic, as: UTF8.self)),
                                                    "applied": .int(report.applied), "skipped": .int(report.skipped),
                                                    "unfinished_snapshot_records": .int(report.unfinished),
                                                    "users": .int(users.byName.count)])
        return report
    }

    /// The ID of the `snapshot-begin` named by the journal's last
    /// `snapshot-end` written by the server, when that record is still
    /// there; read backwards from the end a bounded chunk at a time.
    func latestSnapshot() -> StreamID? {
        var to = StreamID.max
        while true {
            let chunk = ledger.range(topic: Self.topic, from: .zero, to: to, count: Self.replayChunk, reverse: true)
            for r in chunk where r.clientID == 0 && Self.value(r.fields, "op") == Array("snapshot-end".utf8) {
                guard let begin = Self.value(r.fields, "begin").flatMap({ StreamID.parse(bytes: $0) }),
                      let first = ledger.range(topic: Self.topic, from: begin, to: begin, count: 1).first,
                      first.clientID == 0, Self.value(first.fields, "op") == Array("snapshot-begin".utf8) else { continue }
                return begin
            }
            guard chunk.count == Self.replayChunk, let previous = chunk.last?.id.predecessor else { return nil }
            to = previous
        }
    }

    /// Applies one record; returns why it was not applied, or nil.
    func apply(_ record: LedgerRecord, to users: Users) -> String? {
        apply(record.clientID, record.fields, to: users)
    }

    /// Applies one record's fields (without a snapshot mark), written by
    /// `clientID`; returns why they were not applied, or nil.
    private func apply(_ clientID: UInt64, _ fields: [LedgerRecord.Field], to users: Users) -> String? {
        // Only the server writes here; anything else (a ledger written while
        // an older version let clients append to `_vimana.` topics) is not a change.
        guard clientID == 0 else { return "not written by the server (client id \(clientID))" }
        if Self.value(fields, "op") == Array("license".utf8) { return applyLicense(fields, to: users) }
        var op: [UInt8]?, name: [UInt8]?, created = false
        var rules: [[UInt8]] = []
        for f in fields {
            switch String(decoding: f.name, as: UTF8.self) {
            case "op": op = f.value
            case "user": name = f.value
            case "new": created = f.value == [UInt8(ascii: "1")]
            case "rule": rules.append(f.value)
            default: return "unknown field '\(String(decoding: f.name, as: UTF8.self))'"
            }
        }
        guard let op, let nameBytes = name, !nameBytes.isEmpty else { return "no op or user field" }
        let user = String(decoding: nameBytes, as: UTF8.self)
        switch String(decoding: op, as: UTF8.self) {
        case "setuser":
            if users.byName[user] == nil && !created {
                return "user '\(user)' is not declared in the configuration any more (the change was to the declared user)"
            }
            if case .failure(let refusal) = users.set(user, rules: rules) {
                return "user '\(user)': \(refusal.message)"
            }
            return nil
        case "deluser":
            if user == Users.defaultName { return "the default user cannot be deleted" }
            // Deleting a user the configuration no longer declares changes nothing, as intended.
            _ = users.delete(user)
            return nil
        default:
            return "unknown op '\(String(decoding: op, as: UTF8.self))'"
        }
    }

    /// Applies a `license` record: the user must exist (declared, or made
    /// by an earlier record).
    private func applyLicense(_ fields: [LedgerRecord.Field], to users: Users) -> String? {
        switch Licenses.parse(fields) {
        case .failure(let error):
            return "license: \(error.message)"
        case .success(let (user, license)):
            guard users.byName[user] != nil else { return "license of user '\(user)', who does not exist" }
            users.licenses.set(user, license)
            return nil
        }
    }
}
