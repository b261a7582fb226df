import VimanaConfig

extension Configuration {
    /// How the kernel will wire the declared agents, as YAML comment lines after
    /// a first line `# wiring`: one line per agent in file order, saying what it
    /// subscribes to, its delivery settings and, for an external agent with a
    /// `command`, how it is supervised. A disabled agent is listed as not wired;
    /// `# no agents` when none is declared. Printed after `render()` by
    /// `vimana check` and `vimana serve --dry-run`.
    ///
    /// Promises: every line starts with `# ` and nothing in the configuration
    /// can break one (see `oneLine`), so the output of `render()` followed by
    /// this still loads to the same configuration.
    public func wiringDescription() -> String {
        let lines = agents.isEmpty ? ["# no agents"] : agents.map(Self.wiringLine)
        return (["# wiring"] + lines).joined(separator: "\n") + "\n"
    }

    /// `# agent civic (external, enabled): subscribes …; ack_wait …; command …`.
    private static func wiringLine(_ a: AgentConfig) -> String {
        let head = "# agent \(a.id) (\(a.kind.rawValue), "
        guard a.enabled else { return head + "disabled: not wired)" }
        var delivery = "ack_wait \(Units.formatMilliseconds(a.ackWaitMillis)), max_deliver \(a.maxDeliver),"
            + " prefetch \(a.prefetch), start \(a.start.rawValue)"
        if a.required { delivery += ", required" }
        var parts = ["subscribes \(a.subscribes.joined(separator: ", "))", delivery]
        if let user = a.user { parts.append("user \(user)") }
        if a.kind == .external {
            if let command = a.command {
                parts.append("command \(command.map(shellWord).joined(separator: " ")),"
                             + " restart \(a.restart.rawValue), max_restarts \(a.maxRestarts)")
            } else {
                parts.append("no command: instances connect with AGENT JOIN \(a.id)")
            }
        }
        return oneLine(head + "enabled): " + parts.joined(separator: "; "))
    }

    /// An argv item as a reader would retype it: as is, or double-quoted when
    /// it is empty or holds a space, a tab or a quote.
    static func shellWord(_ word: String) -> String {
        guard word.isEmpty || word.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" }) else { return word }
        return "\"" + word.map { $0 == "\"" ? "\\\"" : String($0) }.joined() + "\""
    }
}
