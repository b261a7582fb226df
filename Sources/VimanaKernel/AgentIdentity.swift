import VimanaCore
import VimanaRESP
import VimanaACL
import VimanaConfig
import VimanaAgents

// Agents have identities (Protocol/AGENTS.md §9): each declared external
// agent runs as a user, only that user (or an admin) may join it or touch
// its consumer groups, and a supervised agent gets its credentials in its
// environment.

// MARK: - The users made for agents

extension Users {
    /// The user the kernel makes for each external agent declared without
    /// `user:` (`AgentConfig.runsAs`, `agent:<id>`): on, no password of its
    /// own (a supervised agent authenticates with its start secret,
    /// `AgentSecrets`), and the permissions its `subscribes` and `publishes`
    /// imply. Built-in agents have no connection and so no user.
    static func agentUsers(_ config: Configuration, _ catalogue: ACLCatalogue) -> ([ACLUser], [String]) {
        var made: [ACLUser] = []
        var problems: [String] = []
        for agent in config.agents where agent.kind == .external && agent.user == nil {
            var user = ACLUser(name: agent.runsAs, catalogue: catalogue)
            do throws(ACLRuleError) {
                for rule in agentRules(agent) { try user.apply(Array(rule.utf8), catalogue: catalogue) }
                made.append(user)
            } catch {
                let at = agent.line > 0 ? "\(config.source):\(agent.line):\(agent.column)" : config.source
                problems.append("\(at): agents: \(agent.id): its user \(agent.runsAs) cannot be made: \(error.message)")
            }
        }
        return (made, problems)
    }

    /// The rules of an agent's made user, in order: the commands an agent
    /// uses (the agent protocol, PUBLISH and SUBSCRIBE, the stream commands
    /// on its topics and its group, the connection's own commands), nothing
    /// admin; its topics as keys and channels: `subscribes` and
    /// `publishes`, or every topic when `publishes` is absent (it may
    /// publish anywhere). A system agent's `systemRules` replace all but the
    /// first three.
    static func agentRules(_ agent: AgentConfig) -> [String] {
        if let own = agent.systemRules { return ["on", "resetchannels", "-@all"] + own }
        var rules = ["on", "resetchannels", "-@all"] + (agentCommands + agent.systemCommands).map { "+" + $0 }
        if let publishes = agent.publishes {
            var patterns: [String] = []
            for p in agent.subscribes + publishes where !patterns.contains(p) { patterns.append(p) }
            rules += patterns.map { "~" + $0 } + patterns.map { "&" + $0 }
        } else {
            rules += ["allkeys", "allchannels"]
        }
        return rules
    }

    /// The commands of an agent's made user (Protocol/AGENTS.md §9).
    static let agentCommands = [
        "ping", "echo", "hello", "auth", "quit", "reset",
        "client|id", "client|getname", "client|setname", "client|setinfo", "client|info", "client|publisher",
        "agent|join", "agent|leave", "ack", "nack", "progress",
        "publish", "subscribe", "unsubscribe",
        "xadd", "xread", "xrange", "xrevrange", "xlen",
        "xreadgroup", "xack", "xclaim", "xautoclaim", "xpending", "xgroup|create", "xgroup|createconsumer",
        "watch", "unwatch", "multi", "exec", "discard",
    ]

    /// An admin: a user allowed every command of the `@admin` category.
    /// It may join any agent and use any agent's groups. Asked when a
    /// connection takes a user (`Kernel.actAs`), not per request.
    func isAdmin(_ user: ACLUser) -> Bool {
        !adminCommandIDs.isEmpty && adminCommandIDs.allSatisfy(user.allows)
    }

    /// Whether `user`, the current value of its name, is an admin: for
    /// `default`, the cached answer (every accepted connection asks).
    func isAdminUser(_ user: ACLUser) -> Bool {
        user.name == Self.defaultName ? defaultIsAdmin : isAdmin(user)
    }

    /// The ids of the commands and subcommands in `@admin`.
    static func adminCommandIDs(_ catalogue: ACLCatalogue) -> [Int] {
        catalogue.entries.indices.filter { id in
            !catalogue.isContainer(id) && catalogue.entries[id].categories.contains { $0 == "admin" || $0 == "@admin" }
        }
    }
}

// MARK: - Start secrets

/// The secret each supervised agent authenticates with: random, made at
/// each start of the kernel, kept only as its SHA-256 digest in memory
/// beside its user's passwords (not among them: ACL LIST and GETUSER do not
/// show it, nothing records it, `resetpass` does not remove it; `off` and
/// ACL DELUSER lock the agent out as any user). The plain secret exists
/// only in the agent's environment (`VIMANA_PASSWORD`).
final class AgentSecrets {
    /// Digests by user name: several agents may run as one declared user.
    private var digests: [String: [[UInt8]]] = [:]

    /// A new secret for `user`: `KernelConstants.agentSecretBytes` random
    /// bytes from the system's secure generator, as lower-case hex.
    func issue(for user: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<KernelConstants.agentSecretBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secret = SHA256.hex(bytes)
        digests[user, default: []].append(SHA256.digest(Array(secret.utf8)))
        return secret
    }

    /// Forgets the secrets of a deleted user: a user of the same name made
    /// later is another user, and the old agent's secret must not open it.
    func revoke(_ user: String) {
        digests[user] = nil
    }

    /// True when `password` is a secret issued for `user`; compared in a
    /// time that does not depend on where the digests differ.
    func accepts(_ user: String, password: [UInt8]) -> Bool {
        guard let stored = digests[user] else { return false }
        return ACLUser.digest(of: password, isOneOf: stored)
    }
}

// MARK: - Who may act as an agent

extension Kernel {
    /// The credentials laid over a supervised agent's environment: its
    /// user's name and a start secret issued for it.
    func agentCredentials(_ agent: AgentConfig) -> [String: String] {
        ["VIMANA_USER": agent.runsAs, "VIMANA_PASSWORD": users.agentSecrets.issue(for: agent.runsAs)]
    }

    /// True when the connection's user is an admin (`ClientFlags.admin`,
    /// set with the user by `actAs`) or the agent's.
    func mayActAs(_ c: UnsafeMutablePointer<ClientState>, _ a: AgentRuntime) -> Bool {
        c.pointee.flags.contains(.admin) || c.pointee.info.user.name == a.user
    }

    /// AGENT JOIN's check: replies -NOPERM and returns false when the
    /// connection's user may not join agent `id` (an unknown id is the
    /// join's own error).
    func mayJoin(_ c: UnsafeMutablePointer<ClientState>, agentID id: String) -> Bool {
        guard let a = agents.agent(id: id), !mayActAs(c, a) else { return true }
        refuseAgent(c, a, ErrorReply.mayNotJoinAgent(a.id), command: "agent|join")
        return false
    }

    /// After its user changed (`userChanged`): an agent instance whose user
    /// may no longer act as its agent (an admin no more) leaves it at once,
    /// its unacknowledged tasks given back for redelivery as when an
    /// instance's connection closes, and the connection is closed after
    /// the join's -NOPERM (Protocol/AGENTS.md §9; the connection that ran
    /// the change gets its reply instead).
    func recheckAgentInstance(_ c: UnsafeMutablePointer<ClientState>, changedBy caller: UnsafeMutablePointer<ClientState>) {
        guard c.pointee.flags.contains(.agentInstance), let a = agents.agent(fd: c.pointee.fd), !mayActAs(c, a) else { return }
        agents.leave(fd: c.pointee.fd)
        c.pointee.flags.remove(.agentInstance)
        logAgentRefusal(c, a, command: "agent|join")
        if c != caller { c.pointee.output.tail.writeError(ErrorReply.mayNotJoinAgent(a.id)) }
        c.pointee.flags.insert(.closeAfterReply)
        markPending(c)
    }

    /// XREADGROUP, XACK, XCLAIM, XAUTOCLAIM and XGROUP's changes: when
    /// argument `i` (a group name) names an agent's groups (its id) and the
    /// connection's user is neither the agent's nor an admin, replies
    /// -NOPERM and returns true. Any topic: no one else may make or use a
    /// group of that name.
    func refusedAgentGroup(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, group i: Int, command: String) -> Bool {
        guard !agents.isEmpty, i < args.count else { return false }
        let name = args.buffer(i)
        guard let a = agents.all.first(where: { $0.groupName.elementsEqual(name) }), !mayActAs(c, a) else { return false }
        refuseAgent(c, a, ErrorReply.mayNotUseAgentGroup(a.id), command: command)
        return true
    }

    /// Replies the refusal, and records it in ACL LOG (reason `agent`, the
    /// agent's id as the object) and the log.
    private func refuseAgent(_ c: UnsafeMutablePointer<ClientState>, _ a: AgentRuntime, _ error: String, command: String) {
        logAgentRefusal(c, a, command: command)
        c.pointee.output.tail.writeError(error)
    }

    /// Records a refusal to act as `a` in ACL LOG and the log.
    func logAgentRefusal(_ c: UnsafeMutablePointer<ClientState>, _ a: AgentRuntime, command: String) {
        logACL(c, .agent, object: a.id, username: c.pointee.info.user.name)
        log.warn("agent access refused", ["agent": .string(a.id), "user": .string(c.pointee.info.user.name),
                                          "client": .int(c.pointee.id), "command": .string(command)])
    }
}
