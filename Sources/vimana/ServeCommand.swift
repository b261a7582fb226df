import VimanaCore
import VimanaConfig
import VimanaConfigLoader
import VimanaKernel
import VimanaEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// `vimana serve`: load and validate the configuration, apply flag
/// overrides, bind, serve until SIGINT/SIGTERM.
enum ServeCommand {
    /// What a key is when neither the file nor a flag sets it.
    static let defaults = Configuration()

    static let usage = """
    Usage: vimana serve [options]
    Serve the bus until SIGINT or SIGTERM. SIGHUP reloads the configuration file:
    the settings that can change while serving change, the log names the others
    (they need a restart); an invalid file changes nothing. Flags override the file,
    at start and on every reload.
      --config FILE       phoenix.yaml to load (default: the built-in default configuration)
      --bind ADDR         IPv4 address to listen on (kernel.bind; default \(defaults.kernel.bind))
      --port PORT         RESP port (kernel.port; default \(defaults.kernel.port); 0 picks a free port)
      --http-port PORT    /health /ready /metrics port (kernel.http_port; default \(defaults.kernel.httpPort); off or -1 disables)
      --log-level LEVEL   debug, info, warn or error (logging.level; default \(defaults.logging.level.name))
      --log-format FMT    text or json (logging.format; default \(defaults.logging.format.rawValue))
      --ledger-dir DIR    ledger directory (ledger.dir; default \(defaults.ledger.dir))
      --fsync POLICY      always, everysec or no (ledger.fsync; default \(defaults.ledger.fsync.rawValue))
      --no-ledger         record nothing (ledger.enabled: false); refused when agents are declared;
                          the system agents are then not started (their state is their events)
      --no-system-agents  start no system agent (system.enabled: false): the kernel alone
      --dry-run           print the effective configuration and exit
      -h, --help          this text
    Exit status: 0 after a clean shutdown, 1 when it cannot start (a port in use),
    2 for a bad flag or configuration, or a ledger directory another server holds.
    """

    /// The file (if any), then the flags over it, and the system agents'
    /// wiring: what the server starts with, and what SIGHUP reloads.
    static func effectiveConfiguration(_ values: [String: String], _ flags: Set<String>)
        throws(ConfigError) -> (Configuration, [AgentConfig]) {
        var config = Configuration()
        if let path = values["config"] { config = try ConfigLoader.load(path: path) }
        for name in Configuration.valuedFlagNames {
            if let value = values[name] { try config.apply(flag: name, value: value) }
        }
        if flags.contains("no-ledger") { try config.disableLedger() }
        if flags.contains("no-system-agents") { config.disableSystemAgents() }
        return (config, try config.systemAgents(executable: CLI.executablePath))
    }

    static func run(_ args: [String]) -> Int32 {
        if CLI.wantsHelp(args) {
            printOut(usage)
            return 0
        }
        let f: FlagReader
        do throws(UsageError) {
            f = try FlagReader(args, valued: Set(["config"] + Configuration.valuedFlagNames), bare: ["dry-run", "no-ledger", "no-system-agents"])
            guard f.positional.isEmpty else { throw UsageError("serve takes no arguments, got '\(f.positional[0])'") }
        } catch {
            return CLI.usageError(error.message)
        }
        let dryRun = f.flags.contains("dry-run")
        var config: Configuration
        var system: [AgentConfig]
        do throws(ConfigError) {
            (config, system) = try effectiveConfiguration(f.values, f.flags)
        } catch {
            printErr(error.description)
            return 2
        }
        if dryRun {
            for warning in config.warnings { printErr(warning.description) }
            let file = config.render()
            config.agents += system
            printOut(file + config.wiringDescription())
            return 0
        }
        config.agents += system
        Log.shared.configure(level: config.logging.level, format: config.logging.format)
        if config.system.enabled && !config.ledger.enabled {
            Log.shared.info("system agents not started: the ledger is disabled",
                            ["by": .string(config.flags["ledger.enabled"] ?? "ledger.enabled: false")])
        }
        for w in config.warnings {
            Log.shared.warn("configuration warning", ["at": .string("\(w.path):\(w.line):\(w.column)"),
                                                      "warning": .string(w.message)])
        }
        let kernel: Kernel
        do throws(SystemError) {
            kernel = try Kernel(config: config)
        } catch {
            Log.shared.error("cannot start", ["error": .string(error.description)])
            return 1
        }
        if f.values["config"] != nil {
            let values = f.values, flags = f.flags
            kernel.reloadConfiguration = {
                do throws(ConfigError) {
                    var (config, system) = try effectiveConfiguration(values, flags)
                    config.agents += system
                    return .loaded(config)
                } catch {
                    return .failed(error.description)
                }
            }
        }
        do throws(KernelStartError) {
            try kernel.start()
        } catch {
            Log.shared.error("cannot start", ["error": .string(error.description)])
            // 2, like a usage error: nothing failed, the directory belongs to a running server.
            return error.reason == .directoryInUse ? 2 : 1
        }
        return kernel.run()
    }
}
