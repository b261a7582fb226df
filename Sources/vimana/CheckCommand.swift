import VimanaConfig
import VimanaConfigLoader
import VimanaKernel

/// `vimana check CONFIG`: validate without serving; print the effective configuration and the agents' wiring.
enum CheckCommand {
    static let usage = """
    Usage: vimana check CONFIG
    Validate a phoenix.yaml and print the effective configuration (every key, defaults
    filled in) and how the kernel will wire its agents. Exit status: 0 valid,
    2 invalid, with `file:line:column: message` on stderr (where warnings about
    a valid file go too: `file:line:column: warning: message`).
    """

    static func run(_ args: [String]) -> Int32 {
        if CLI.wantsHelp(args) {
            printOut(usage)
            return 0
        }
        guard args.count == 1, !args[0].hasPrefix("-") else {
            return CLI.usageError("usage: vimana check CONFIG")
        }
        do throws(ConfigError) {
            var config = try ConfigLoader.load(path: args[0])
            let file = config.render()
            // The system agents as `vimana serve` would wire them.
            config.agents += try config.systemAgents(executable: CLI.executablePath)
            // What `vimana serve` would refuse to start with, beyond the file itself.
            let problems = Kernel.configurationProblems(config)
            guard problems.isEmpty else {
                for problem in problems { printErr("\(args[0]): \(problem)") }
                return 2
            }
            let userProblems = Kernel.userProblems(config)
            guard userProblems.isEmpty else {
                for problem in userProblems { printErr(problem) }
                return 2
            }
            for warning in config.warnings { printErr(warning.description) }
            printOut(file + config.wiringDescription())
            return 0
        } catch {
            printErr(error.description)
            return 2
        }
    }
}
