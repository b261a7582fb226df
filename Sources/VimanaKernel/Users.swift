import VimanaCore
import VimanaACL
import VimanaConfig

/// The kernel's users (Redis 7.0's ACL): the table every connection's user
/// comes from, the catalogue of commands the rules name, and the log of
/// denials (ACL LOG). The one owner of the table: users are created,
/// changed and deleted only here, whole (a rule list that fails changes
/// nothing). Cold state: dispatch reads the copy each connection holds
/// (`ClientState.allowedCommands`, `ClientInfo.user`), never this.
final class Users {
    /// Every command and subcommand with Redis's categories, built once
    /// from the command table (ids: `Command.rawValue`, then subcommands).
    let catalogue: ACLCatalogue
    /// By name. `default` is always here (ACL DELUSER refuses it).
    private(set) var byName: [String: ACLUser]
    /// The recent denials, newest first.
    private(set) var log: [ACLLogEntry] = []
    /// The licences that are not active (Licenses.swift): a user's goes
    /// with the user.
    var licenses = Licenses()
    /// The supervised agents' start secrets (AgentIdentity.swift).
    let agentSecrets = AgentSecrets()
    /// Each user's account (UserAccount.swift): its limits and counters.
    /// One per user of `byName`, made on first use and dropped only when
    /// the user's deletion is final: the one count of the connections
    /// acting as the name.
    private(set) var accounts: [String: UserAccount] = [:]
    /// `users[].limits` by name: a user's limits belong to its name, so a
    /// user deleted and made again by ACL SETUSER has them again.
    private let limitsByName: [String: UserLimits]
    /// The ids of the `@admin` commands (`isAdmin`), found once.
    private(set) lazy var adminCommandIDs: [Int] = Self.adminCommandIDs(catalogue)

    static let defaultName = "default"

    /// Builds the table from phoenix.yaml's `users:` and `kernel.password`.
    /// A rule the model refuses leaves that user out; `problems` reports it
    /// (and the kernel does not start).
    init(config: Configuration) {
        catalogue = Self.makeCatalogue()
        var table: [String: ACLUser] = [:]
        _ = Self.build(config, catalogue, into: &table)
        if table[Self.defaultName] == nil { table[Self.defaultName] = Self.unrestrictedDefault(catalogue) }
        byName = table
        limitsByName = Dictionary(config.users.map { ($0.name, $0.limits) }, uniquingKeysWith: { first, _ in first })
        for name in table.keys { _ = account(name) }
    }

    /// The account of the user `name` (made on first use: a user made by
    /// ACL SETUSER gets its own then).
    func account(_ name: String) -> UserAccount {
        if let a = accounts[name] { return a }
        let a = UserAccount(name: name, limits: limitsByName[name] ?? UserLimits(), nowNanos: Clock.monotonicNanos())
        accounts[name] = a
        return a
    }

    /// The users' problems, each as `file:line:column: message` (what
    /// `vimana check` prints and `vimana serve` refuses to start with).
    static func problems(_ config: Configuration) -> [String] {
        var table: [String: ACLUser] = [:]
        return build(config, makeCatalogue(), into: &table)
    }

    // MARK: - Building

    /// Redis's `default` user with no password: `on nopass ~* &* +@all`.
    static func unrestrictedDefault(_ catalogue: ACLCatalogue = makeCatalogue()) -> ACLUser {
        ACLUser.unrestricted(name: defaultName, catalogue: catalogue)
    }

    /// The catalogue the rules read: each command of the table in id order,
    /// its categories without `@`, with its subcommands.
    static func makeCatalogue() -> ACLCatalogue {
        func entry(_ spec: CommandSpec) -> ACLCatalogue.Entry {
            ACLCatalogue.Entry(name: spec.name, categories: spec.categories.map { String($0.drop { $0 == "@" }) })
        }
        return ACLCatalogue(commands: CommandTable.entries.map { (entry($0.spec), $0.spec.subcommands.map(entry)) })
    }

    /// Fills `table` with the configured users; returns the problems.
    private static func build(_ config: Configuration, _ catalogue: ACLCatalogue, into table: inout [String: ACLUser]) -> [String] {
        var problems: [String] = []
        func located(_ line: Int, _ column: Int, _ message: String) -> String {
            line > 0 ? "\(config.source):\(line):\(column): \(message)" : "\(config.source): \(message)"
        }
        for (index, entry) in config.users.enumerated() {
            var user = ACLUser(name: entry.name, catalogue: catalogue)
            // Built-in rules: the loader's promises make them valid.
            var rules: [UserConfig.Rule] = [UserConfig.Rule(entry.enabled ? "on" : "off", line: entry.line, column: entry.column)]
            rules += entry.passwordHashes.map { UserConfig.Rule("#" + $0, line: entry.line, column: entry.column) }
            if entry.nopass { rules.append(UserConfig.Rule("nopass", line: entry.line, column: entry.column)) }
            // A declared `default` without credentials takes kernel.password
            // (the loader refuses both set at once).
            if entry.name == defaultName, entry.passwordHashes.isEmpty, !entry.nopass, let password = config.kernel.password {
                rules.append(UserConfig.Rule(">" + password, line: entry.line, column: entry.column))
            }
            var refused = false
            for (k, rule) in (rules + entry.rules).enumerated() {
                do throws(ACLRuleError) {
                    try user.apply(Array(rule.text.utf8), catalogue: catalogue)
                } catch {
                    // The loader's name for the key; a password never appears.
                    let key = k < rules.count ? "users[\(index)]" : "users[\(index)].permissions[\(k - rules.count)]"
                    let shown = rule.text.hasPrefix(">") || rule.text.hasPrefix("<") ? String(rule.text.prefix(1)) + "…" : rule.text
                    problems.append(located(rule.line, rule.column, "\(key): '\(shown)': \(error.message)"))
                    refused = true
                    break
                }
            }
            if !refused { table[entry.name] = user }
        }
        if !config.users.contains(where: { $0.name == defaultName }) {
            // As Redis's requirepass: the default user, with that password.
            var user = unrestrictedDefault(catalogue)
            if let password = config.kernel.password {
                do throws(ACLRuleError) {
                    try user.apply(Array("resetpass".utf8), catalogue: catalogue)
                    try user.apply([UInt8(ascii: ">")] + Array(password.utf8), catalogue: catalogue)
                } catch {
                    problems.append(located(0, 0, "kernel.password: refused as the default user's password: \(error.message)"))
                }
            }
            table[defaultName] = user
        }
        // The agents' own users (AgentIdentity.swift): no declared name can be theirs.
        let (agentUsers, agentProblems) = agentUsers(config, catalogue)
        for user in agentUsers { table[user.name] = user }
        return problems + agentProblems
    }

    // MARK: - The table

    /// What dispatch tests for `user`: its top-level bits.
    func commandBits(_ user: ACLUser) -> CommandBits {
        if user == defaultUser { return defaultBits }
        return CommandBits(words: user.allowedTopLevel(catalogue: catalogue))
    }

    /// The `default` user, and its bits: every new connection's (cached,
    /// so that accepting does not rebuild them).
    private(set) lazy var defaultUser: ACLUser = byName[Self.defaultName] ?? Self.unrestrictedDefault(catalogue)
    private lazy var defaultBits = CommandBits(words: defaultUser.allowedTopLevel(catalogue: catalogue))

    /// The `default` user's account (never deleted): every new connection's.
    private(set) lazy var defaultAccount = account(Self.defaultName)

    /// What new connections hold: one handle for them all.
    private(set) lazy var defaultHandle = UserHandle(defaultUser)

    /// Forgets the cached default after a change of it.
    private func changed(_ name: String) {
        guard name == Self.defaultName, let user = byName[name] else { return }
        defaultUser = user
        defaultHandle = UserHandle(user)
        defaultBits = CommandBits(words: user.allowedTopLevel(catalogue: catalogue))
        defaultIsAdmin = isAdmin(user)
    }

    /// Whether `default` is an admin (AgentIdentity.swift), cached as its
    /// bits are, so that accepting a connection does not ask the rules.
    private(set) lazy var defaultIsAdmin: Bool = isAdmin(defaultUser)

    /// Names in Redis's order (its radix tree: bytes ascending).
    var names: [String] { byName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

    /// A connection of a new or RESET client acts as `default`, authenticated
    /// only when that user needs no password and is on (Redis's createClient).
    var defaultAuthenticates: Bool { defaultUser.nopass && defaultUser.enabled }

    /// ACL SETUSER: the rules applied in order to a copy of the user (a new
    /// one if none), which replaces it only when every rule was accepted.
    /// Returns the new user, or the refused rule and why.
    func set(_ name: String, rules: [[UInt8]]) -> Result<ACLUser, ACLSetUserError> {
        var user = byName[name] ?? ACLUser(name: name, catalogue: catalogue)
        do throws(ACLSetUserError) {
            try user.apply(rules: rules, catalogue: catalogue)
        } catch {
            return .failure(error)
        }
        byName[name] = user
        changed(name)
        return .success(user)
    }

    /// ACL DELUSER of one user other than `default`, once its deletion is
    /// recorded and its connections left its account
    /// (`Kernel.userDeleted`): the user, its agents' start secrets, its
    /// licence and its account go. True when it existed.
    func delete(_ name: String) -> Bool {
        guard name != Self.defaultName else { return false }
        agentSecrets.revoke(name)
        licenses.set(name, nil)
        accounts[name] = nil
        return byName.removeValue(forKey: name) != nil
    }

    /// Puts `user` back as `name` (nil: removes it), undoing an ACL SETUSER
    /// the ledger refused to record (UserJournal). The account stays: the
    /// user's connections count in it as before (a user the refused
    /// SETUSER had created has no connection, and no account is kept for it).
    func restore(_ name: String, _ user: ACLUser?) {
        byName[name] = user
        if user == nil { accounts[name] = nil }
        changed(name)
    }

    /// The user `name` if it exists, is on and accepts `password` (or the
    /// start secret of an agent that runs as it).
    func authenticate(_ name: String, password: [UInt8]) -> ACLUser? {
        guard let user = byName[name], user.enabled,
              user.accepts(password: password) || agentSecrets.accepts(name, password: password) else { return nil }
        return user
    }

    // MARK: - ACL LOG

    /// Records a denial as Redis 7.0's addACLLogEntry: one like it (same
    /// reason, context, object and user, within a minute) among the newest
    /// `KernelConstants.aclLogGroupScan` entries is counted again and moved
    /// to the front; the log keeps `KernelConstants.aclLogMaxLength`.
    func record(_ entry: ACLLogEntry) {
        let scan = min(log.count, KernelConstants.aclLogGroupScan)
        for i in 0..<scan {
            let old = log[i]
            if old.reason == entry.reason && old.context == entry.context && old.object == entry.object
                && old.username == entry.username
                && abs(entry.millis &- old.millis) <= KernelConstants.aclLogGroupingMillis {
                var merged = entry
                merged.count = old.count &+ 1
                log.remove(at: i)
                log.insert(merged, at: 0)
                return
            }
        }
        log.insert(entry, at: 0)
        if log.count > KernelConstants.aclLogMaxLength { log.removeLast(log.count - KernelConstants.aclLogMaxLength) }
    }

    func resetLog() { log.removeAll() }
}

/// One ACL LOG entry: Redis 7.0.15's fields.
struct ACLLogEntry {
    /// Redis's four, and Vimana's `agent`: a user acting as an agent it
    /// is not (AGENT JOIN, its groups; Protocol/AGENTS.md §9), and
    /// `license`: a publish its licence refuses (Kernel+Licenses.swift).
    enum Reason: String { case command, key, channel, auth, agent, license }
    enum Context: String { case toplevel, multi }
    var count = 1
    let reason: Reason
    let context: Context
    /// The command (`config|set`), key, channel, or `AUTH` / `HELLO`.
    let object: String
    let username: String
    /// When it last happened (wall clock ms): `age-seconds`.
    let millis: Int64
    /// The client's CLIENT LIST line then.
    let clientInfo: String
}
