import VimanaLedger

/// A user's licence (Protocol/PROTOCOL.md §6, "Licences"): `active` unless
/// an operator or civic's user set it otherwise with LICENSE SET. A user
/// whose licence is suspended or revoked may publish (PUBLISH, XADD, SPUBLISH) only
/// to `Licenses.courtTopic`; everything else it may do is its ACL rules'.
enum LicenseState: String, Keyword {
    case active, suspended, revoked
}

/// A licence other than `active`: why, who set it, since when.
struct License: Equatable {
    let state: LicenseState
    /// Checked by `Licenses.reasonProblem`: 1 to `reasonBytes` of UTF-8 text
    /// without control characters (it is shown in an error reply's line).
    let reason: String
    /// The user whose connection ran the LICENSE SET.
    let by: String
    /// Wall clock, milliseconds since 1970, when it was set.
    let sinceMillis: Int64
}

/// The licences not `active`, by user name: the one owner of that state
/// (held by `Users`, so that a deleted user's goes with it). No record is
/// `active`: a user without one pays nothing on the publish path, because
/// the kernel enforces a licence by clearing the publishing commands' bits
/// (`commandMask`) on the restricted user's connections, which sends those
/// commands to the full check (Kernel+Licenses.swift).
struct Licenses {
    /// The only topic a suspended or revoked user may publish to: where it
    /// files its appeal (issue 13, supreme_court).
    static let courtTopic = "tasks.supreme_court"
    /// A sentence, not a file: it is repeated in every refusal.
    static let reasonBytes = 512
    /// The commands that publish or append to a topic, whose first argument
    /// is that topic (PUBLISH's channel, XADD's key, SPUBLISH's shard channel).
    static let publishingCommands: [Command] = [.publish, .xadd, .spublish]

    private(set) var byUser: [String: License] = [:]

    var isEmpty: Bool { byUser.isEmpty }

    subscript(user: String) -> License? { byUser[user] }

    /// Sets `user`'s licence; nil (or an `active` one) removes its record.
    mutating func set(_ user: String, _ license: License?) {
        if let license, license.state != .active { byUser[user] = license } else { byUser[user] = nil }
    }

    /// The bits of `ClientState.allowedCommands` a connection of `user`
    /// keeps: all of them, or all but the publishing commands' when its
    /// licence is not active.
    func commandMask(_ user: String) -> CommandBits {
        guard !byUser.isEmpty, byUser[user] != nil else { return .all }
        return ~Self.publishingBits
    }

    static let publishingBits = CommandBits(publishingCommands)

    /// The restricted users, by name in bytes' order (LICENSE LIST).
    var sorted: [(user: String, license: License)] {
        byUser.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value) }
    }

    /// Whether `reason` may be a licence's reason: 1 to `reasonBytes`
    /// bytes of valid UTF-8 without a control character (below 0x20, or
    /// 0x7F), so that it fits on an error reply's line.
    static func isReason(_ reason: some Collection<UInt8>) -> Bool {
        !reason.isEmpty && reason.count <= reasonBytes
            && !reason.contains(where: { $0 < 0x20 || $0 == 0x7F })
            && String(validating: reason, as: UTF8.self) != nil
    }

    // MARK: - The journal's record (Protocol/LEDGER.md §1, UserJournal)

    /// The record of a LICENSE SET in the users' journal: `op` `license`,
    /// `user`, `state`, then `reason` when one was given, `by`, `since`.
    static func fields(user: String, state: LicenseState, reason: String?, by: String,
                       sinceMillis: Int64) -> [LedgerRecord.Field] {
        func field(_ name: String, _ value: String) -> LedgerRecord.Field {
            LedgerRecord.Field(name: Array(name.utf8), value: Array(value.utf8))
        }
        var fields = [field("op", "license"), field("user", user), field("state", state.rawValue)]
        if let reason { fields.append(field("reason", reason)) }
        fields += [field("by", by), field("since", String(sinceMillis))]
        return fields
    }

    /// A `license` record's user and licence (nil: `active`), or why it is
    /// not one the server writes (checked as LICENSE SET checks them).
    static func parse(_ fields: [LedgerRecord.Field]) -> Result<(user: String, license: License?), LicenseRecordError> {
        var user: String?, state: LicenseState?, reason: String?, by: String?, since: Int64?
        for f in fields {
            let value = String(decoding: f.value, as: UTF8.self)
            switch String(decoding: f.name, as: UTF8.self) {
            case "op": guard value == "license" else { return .failure(.init("not a license record")) }
            case "user": user = value
            case "state":
                guard let s = LicenseState(rawValue: value) else { return .failure(.init("unknown state '\(value)'")) }
                state = s
            case "reason":
                guard isReason(f.value) else { return .failure(.init("invalid reason")) }
                reason = value
            case "by": by = value
            case "since":
                // Decimal digits only, range-checked: a damaged value is refused, not trapped on.
                guard !f.value.isEmpty, f.value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(value) else {
                    return .failure(.init("invalid since '\(value)'"))
                }
                since = n
            default: return .failure(.init("unknown field '\(String(decoding: f.name, as: UTF8.self))'"))
            }
        }
        guard let user, !user.isEmpty, let state, let by, let since else {
            return .failure(.init("a license record needs user, state, by and since"))
        }
        if state == .active { return .success((user, nil)) }
        guard let reason else { return .failure(.init("a \(state.rawValue) licence needs a reason")) }
        return .success((user, License(state: state, reason: reason, by: by, sinceMillis: since)))
    }
}

/// Why a journal record is not a licence the server wrote.
struct LicenseRecordError: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// LICENSE's subcommands, as in the table (`license|set` …).
enum LicenseSubcommand: String, Keyword {
    case set, get, list
}
