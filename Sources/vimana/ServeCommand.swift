import VimanaCore
import VimanaConfig
import VimanaKernel
import VimanaEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// `vimana serve`: load and validate the configuration, apply flag
/// overrides, bind, serve until SIGINT/SIGTERM.
enum ServeCommand {
    static func run(_ args: [String]) -> Int32 {
        var config: Configuration
        var dryRun = false
        do throws(UsageError) {
            let f = try FlagReader(args, valued: ["config", "bind", "port", "http-port", "log-level", "log-format",
                                                     "ledger-dir", "fsync"],
                                   bare: ["dry-run", "no-ledger"])
            guard f.positional.isEmpty else { throw UsageError("serve takes no arguments, got '\(f.positional[0])'") }
            dryRun = f.flags.contains("dry-run")
            let noLedger = f.flags.contains("no-ledger")
            if let path = f.values["config"] {
                do throws(ConfigError) {
                    config = try ConfigLoader.load(path: path)
                } catch {
                    printErr(error.description)
                    return 2
                }
            } else {
                config = Configuration()
            }
            if let bind = f.values["bind"] {
                guard isIPv4Address(bind) else { throw UsageError("--bind expects an IPv4 address, got '\(bind)'") }
                config.kernel.bind = bind == "localhost" ? "127.0.0.1" : bind
            }
            if let port = try f.int("port", range: 0...65535) { config.kernel.port = port }
            if let port = try f.int("http-port", range: -1...65535) { config.kernel.httpPort = port }
            if noLedger { config.ledger.enabled = false }
            if let dir = f.values["ledger-dir"] {
                guard !dir.isEmpty else { throw UsageError("--ledger-dir needs a directory") }
                config.ledger.dir = dir
            }
            if let policy = f.values["fsync"] {
                guard let p = FsyncPolicy(rawValue: policy) else { throw UsageError("--fsync expects always, everysec or no") }
                config.ledger.fsync = p
            }
            if let level = f.values["log-level"] {
                guard let l = LogLevel(name: level) else { throw UsageError("--log-level expects debug, info, warn or error") }
                config.logging.level = l
            }
            if let format = f.values["log-format"] {
                guard let fmt = LogFormat(rawValue: format) else { throw UsageError("--log-format expects text or json") }
                config.logging.format = fmt
            }
        } catch {
            return CLI.usageError(error.message)
        }
        if dryRun {
            printOut(config.render() + config.wiringDescription())
            return 0
        }
        Log.shared.configure(level: config.logging.level, format: config.logging.format)
        let kernel: Kernel
        do throws(SystemError) {
            kernel = try Kernel(config: config)
        } catch {
            Log.shared.error("cannot start", ["error": .string(error.description)])
            return 1
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

/// True for a dotted-quad IPv4 address or `localhost`.
func isIPv4Address(_ text: String) -> Bool {
    if text == "localhost" { return true }
    var addr = in_addr()
    return inet_pton(AF_INET, text, &addr) == 1
}
