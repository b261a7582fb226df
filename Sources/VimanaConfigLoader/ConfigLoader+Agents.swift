import VimanaConfig

/// The `agents:` section of phoenix.yaml (see `AgentConfig` and Protocol/AGENTS.md §1).
///
/// Each entry is named `agents[index]` in messages, so that an entry whose id
/// is missing or wrong can still be pointed at.
extension Schema {
    static let agentKeys = [
        "id", "name", "description", "kind", "enabled", "subscribes", "publishes", "ack_wait", "max_deliver",
        "prefetch", "start", "required", "user", "capabilities", "command", "env", "restart", "max_restarts",
    ]
    /// Keys that describe a process the kernel supervises: meaningless for an agent that runs inside it.
    static let externalOnlyKeys = ["command", "env", "restart", "max_restarts"]

    /// - Parameter users: the names declared under `users:`; an agent's `user`
    ///   must be one of them or `default`.
    func agents(_ node: YAMLNode, users: Set<String>) throws(ConfigError) -> [AgentConfig] {
        if node.isNull { return [] }
        guard case .sequence(let items) = node.content else {
            throw mismatch(node, "agents", "a sequence of agent mappings (- id: …)")
        }
        var agents: [AgentConfig] = []
        // Where each id was first declared, for the duplicate message.
        var seen: [String: (line: Int, column: Int)] = [:]
        for (index, item) in items.enumerated() {
            let (agent, idNode) = try agent(item, "agents[\(index)]", users: users)
            if let first = seen[agent.id] {
                throw fail(idNode, "agents[\(index)].id: duplicate agent id '\(agent.id)'"
                               + " (first at line \(first.line), column \(first.column))")
            }
            seen[agent.id] = (idNode.line, idNode.column)
            agents.append(agent)
        }
        return agents
    }

    // MARK: - One entry

    /// The entry and its `id` value (for the duplicate check).
    private func agent(_ node: YAMLNode, _ name: String, users: Set<String>) throws(ConfigError) -> (AgentConfig, YAMLNode) {
        guard case .mapping(let entries) = node.content else {
            throw mismatch(node, name, "a mapping with keys \(Self.agentKeys.joined(separator: ", "))")
        }
        let s = try section(node, name, keys: Self.agentKeys)

        guard let idNode = s["id"] else { throw fail(node, "\(name): missing required key 'id'") }
        let id = try agentID(idNode, "\(name).id")
        guard let subscribesNode = s["subscribes"] else {
            throw fail(node, "\(name): missing required key 'subscribes'")
        }
        var a = AgentConfig(id: id, subscribes: try patterns(subscribesNode, "\(name).subscribes"))
        a.line = node.line
        a.column = node.column

        if let n = s["name"] {
            let expected = "a non-empty string"
            if let text = try scalar(n, "\(name).name", expected) {
                guard !text.isEmpty else { throw mismatch(n, "\(name).name", expected) }
                a.name = text
            }
        }
        if let n = s["description"], let text = try scalar(n, "\(name).description", "a string") { a.description = text }
        if let n = s["kind"], let v: AgentConfig.Kind = try choice(n, "\(name).kind") { a.kind = v }
        if let n = s["enabled"], let v = try boolean(n, "\(name).enabled") { a.enabled = v }
        if let n = s["publishes"] { a.publishes = try strings(n, "\(name).publishes") }
        if let n = s["ack_wait"], let v = try milliseconds(n, "\(name).ack_wait", ConfigLimits.ackWaitMillis) {
            a.ackWaitMillis = v
        }
        if let n = s["max_deliver"], let v = try integer(n, "\(name).max_deliver", ConfigLimits.maxDeliver) {
            a.maxDeliver = v
        }
        if let n = s["prefetch"], let v = try integer(n, "\(name).prefetch", ConfigLimits.prefetch) { a.prefetch = v }
        if let n = s["start"], let v: AgentConfig.Start = try choice(n, "\(name).start") { a.start = v }
        if let n = s["required"], let v = try boolean(n, "\(name).required") { a.required = v }
        if let n = s["user"] {
            let expected = "the name of a user declared under users: (or default)"
            if let text = try scalar(n, "\(name).user", expected) {
                guard text == Self.defaultUser || users.contains(text) else {
                    throw fail(n, "\(name).user: unknown user \(n.summary) (declare it under users:)")
                }
                a.user = text
            }
        }

        if let n = s["capabilities"] { a.capabilities = try capabilities(n, "\(name).capabilities") }

        if a.kind == .builtin {
            guard AgentConfig.builtinIDs.contains(id) else {
                let known = AgentConfig.builtinIDs.sorted().joined(separator: ", ")
                throw fail(idNode, "unknown built-in agent '\(id)' (built-ins: \(known))")
            }
            // In file order, so that the first such key is the one reported.
            if let entry = entries.first(where: { Self.externalOnlyKeys.contains($0.key) }) {
                throw ConfigError(path: path, line: entry.line, column: entry.column,
                                  message: "\(name).\(entry.key): not allowed on a built-in agent"
                                      + " (it runs inside the kernel; only external agents are started as processes)")
            }
        }
        if let n = s["command"] { a.command = try command(n, "\(name).command") }
        if let n = s["env"] { a.env = try environment(n, "\(name).env") }
        if let n = s["restart"], let v: RestartPolicy = try choice(n, "\(name).restart") {
            a.restart = v
        }
        if let n = s["max_restarts"], let v = try integer(n, "\(name).max_restarts", ConfigLimits.maxRestarts) {
            a.maxRestarts = v
        }
        return (a, idNode)
    }

    // MARK: - Value kinds

    /// `capabilities`: words a client finds the agent by (discovery): a
    /// sequence of distinct non-empty strings of at most
    /// `ConfigLimits.capabilityLength` bytes, at most `ConfigLimits.capabilities` of them.
    private func capabilities(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String] {
        let expected = "a sequence of at most \(ConfigLimits.capabilities) distinct non-empty strings"
            + " of at most \(ConfigLimits.capabilityLength) bytes"
        if node.isNull { return [] }
        guard case .sequence = node.content, let values = try strings(node, key) else { throw mismatch(node, key, expected) }
        guard values.count <= ConfigLimits.capabilities, Set(values).count == values.count,
              values.allSatisfy({ !$0.isEmpty && $0.utf8.count <= ConfigLimits.capabilityLength }) else {
            throw mismatch(node, key, expected)
        }
        return values
    }

    /// `[a-z0-9][a-z0-9_.-]*`, at most `ConfigLimits.agentIDLength` bytes: safe as a group name,
    /// inside a topic name (`dead.<id>`) and in a log line without quoting.
    private func agentID(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String {
        let expected = "an id of 1 to \(ConfigLimits.agentIDLength) characters from a-z, 0-9, '_', '.', '-',"
            + " starting with a letter or digit"
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            throw mismatch(node, key, expected, note: node.isNull ? " (null)" : "")
        }
        let bytes = Array(text.utf8)
        let lowerOrDigit: (UInt8) -> Bool = { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
        guard let first = bytes.first, lowerOrDigit(first), bytes.count <= ConfigLimits.agentIDLength,
              bytes.allSatisfy({ lowerOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                  || $0 == UInt8(ascii: "-") }) else {
            throw mismatch(node, key, expected)
        }
        return text
    }

    /// `subscribes`: like `strings`, but required and never empty (an agent that subscribes
    /// to nothing would never be fed).
    private func patterns(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String] {
        let expected = "a non-empty string or a non-empty sequence of non-empty strings"
        if node.isNull { throw mismatch(node, key, expected, note: " (null)") }
        if case .sequence(let items) = node.content, items.isEmpty { throw mismatch(node, key, expected) }
        guard let values = try strings(node, key) else { throw mismatch(node, key, expected) }
        return values
    }

    /// An argv: a sequence of strings, or one string split on spaces. The program
    /// (first item) must be non-empty; no item may hold a NUL byte (execve cannot pass it).
    /// Null keeps the default: no command.
    private func command(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String]? {
        let expected = "a command line or a sequence of strings, starting with a non-empty program name"
        if node.isNull { return nil }
        var argv: [String] = []
        switch node.content {
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                guard case .scalar(let text, _) = item.content, !item.isNull, !text.utf8.contains(0) else {
                    throw mismatch(item, "\(key)[\(index)]", "a string without NUL bytes",
                                   note: item.isNull ? " (null)" : "")
                }
                argv.append(text)
            }
        case .scalar(let text, _):
            guard !text.utf8.contains(0) else { throw mismatch(node, key, expected) }
            argv = text.split(separator: " ").map(String.init)
        case .mapping:
            throw mismatch(node, key, expected)
        }
        guard let program = argv.first, !program.isEmpty else { throw mismatch(node, key, expected) }
        return argv
    }

    /// Environment variables: names without `=` or NUL (execve's format), values without NUL.
    private func environment(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String: String] {
        if node.isNull { return [:] }
        guard case .mapping(let entries) = node.content else {
            throw mismatch(node, key, "a mapping of variable names to strings")
        }
        var env: [String: String] = [:]
        for entry in entries {
            guard !entry.key.isEmpty, !entry.key.utf8.contains(where: { $0 == UInt8(ascii: "=") || $0 == 0 }) else {
                let shown = YAMLNode(content: .scalar(entry.key, plain: false), line: entry.line, column: entry.column)
                throw ConfigError(path: path, line: entry.line, column: entry.column,
                                  message: "\(key): expected a variable name without '=' or NUL bytes, got \(shown.summary)")
            }
            let item = "\(key).\(entry.key)"
            guard case .scalar(let text, _) = entry.value.content, !entry.value.isNull, !text.utf8.contains(0) else {
                throw mismatch(entry.value, item, "a string without NUL bytes (quote it: \"\" for empty)",
                               note: entry.value.isNull ? " (null)" : "")
            }
            env[entry.key] = text
        }
        return env
    }

    /// A duration (see `Units.parseDuration`) in milliseconds within `range`.
    func milliseconds(_ node: YAMLNode, _ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        let expected = "a duration from \(Units.formatMilliseconds(range.lowerBound))"
            + " to \(Units.formatMilliseconds(range.upperBound)) (like 500ms, 30s, 2m or 1h)"
        guard let text = try scalar(node, key, expected) else { return nil }
        let duration: Duration
        do {
            duration = try Units.parseDuration(text)
        } catch .overflow {
            throw mismatch(node, key, expected, note: " (too large)")
        } catch {
            throw mismatch(node, key, expected)
        }
        let (seconds, attoseconds) = duration.components
        // parseDuration yields whole milliseconds that fit in an Int, so this cannot overflow.
        let millis = Int(seconds) * 1_000 + Int(attoseconds / 1_000_000_000_000_000)
        guard range.contains(millis) else { throw mismatch(node, key, expected) }
        return millis
    }
}
