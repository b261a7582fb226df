import VimanaConfig
import VimanaSystemAgents

/// `vimana agent <id>`: runs a system agent in this process (the kernel
/// starts each as `vimana agent <id>`; Protocol/AGENTS.md §11).
enum AgentCommand {
    static let usage = """
    Usage: vimana agent ID
    Run the system agent ID against a kernel, until SIGTERM or SIGINT. The kernel starts
    each enabled system agent this way itself (phoenix.yaml's system: section); by hand,
    give it the kernel and its credentials in its environment: VIMANA_ADDR (host:port,
    default 127.0.0.1:\(KernelConfig().port)), VIMANA_USER and VIMANA_PASSWORD (Protocol/AGENTS.md §6, §9).
    System agents: \(SystemAgents.ids.joined(separator: ", ")).
    Exit status: 0 when stopped, 2 for an unknown ID or when the kernel refuses the agent,
    1 when the kernel that started it is gone.
    """

    static func run(_ args: [String]) -> Int32 {
        if CLI.wantsHelp(args) {
            printOut(usage)
            return 0
        }
        guard args.count == 1, !args[0].hasPrefix("-") else {
            return CLI.usageError("usage: vimana agent ID (system agents: \(SystemAgents.ids.joined(separator: ", ")))")
        }
        guard let id = SystemAgentID(rawValue: args[0]) else {
            return CLI.usageError("unknown system agent '\(args[0])' (system agents: \(SystemAgents.ids.joined(separator: ", ")))")
        }
        SystemAgents.run(id)
    }
}
