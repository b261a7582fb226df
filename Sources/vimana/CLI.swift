import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Subcommand dispatch and the shared usage text.
enum CLI {
    static let version = "0.1.0"

    static let usage = """
    vimana \(version): a message-bus microkernel speaking Redis's RESP protocol

    Usage:
      vimana serve [--config FILE] [--bind ADDR] [--port PORT] [--http-port PORT|off]
                   [--log-level debug|info|warn|error] [--log-format text|json]
                   [--ledger-dir DIR] [--fsync always|everysec|no] [--no-ledger] [--no-system-agents] [--dry-run]
      vimana check CONFIG                 validate a phoenix.yaml and print the effective configuration
      vimana agent ID                     run a system agent (the kernel starts them itself; vimana agent --help)
      vimana pub [--host H] [--port P] TOPIC MESSAGE
      vimana sub [--host H] [--port P] [--json] PATTERN...
      vimana bench [options]              load generator for any RESP server (vimana bench --help)
      vimana ledger stats|verify|dump|tail|backup|repair DIR ...   read, back up (or repair) a ledger directory without a server (vimana ledger --help)
      vimana --help | --version

    With no --config, serve uses the built-in default (\(ServeCommand.defaults.kernel.bind):\(ServeCommand.defaults.kernel.port), HTTP on \(ServeCommand.defaults.kernel.httpPort)).
    Every command takes -h or --help (or: vimana help COMMAND).
    """

    static func run(_ args: [String]) -> Int32 {
        guard let first = args.first else {
            printErr(usage)
            return 2
        }
        let rest = Array(args.dropFirst())
        switch first {
        case "serve": return ServeCommand.run(rest)
        case "check": return CheckCommand.run(rest)
        case "agent": return AgentCommand.run(rest)
        case "pub": return PubSubCommands.pub(rest)
        case "sub": return PubSubCommands.sub(rest)
        case "bench": return BenchCommand.run(rest)
        case "ledger": return LedgerCommand.run(rest)
        case "help" where !rest.isEmpty:
            return run([rest[0], "--help"])
        case "--help", "-h", "help":
            printOut(usage)
            return 0
        case "--version", "-v", "version":
            printOut("vimana \(version)")
            return 0
        default:
            return usageError("unknown command '\(first)' (try: vimana --help)")
        }
    }

    /// True when `args` ask for a command's usage (`-h` or `--help` anywhere):
    /// the command prints it on stdout and exits 0 without doing anything else.
    static func wantsHelp(_ args: [String]) -> Bool {
        args.contains { $0 == "-h" || $0 == "--help" }
    }

    /// One clear line on stderr, exit status 2.
    static func usageError(_ message: String) -> Int32 {
        printErr("vimana: \(message)")
        return 2
    }
}

func printOut(_ text: String) { writeAll(1, text.hasSuffix("\n") ? text : text + "\n") }
func printErr(_ text: String) { writeAll(2, text.hasSuffix("\n") ? text : text + "\n") }

func writeAll(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { b in
        guard let base = b.baseAddress else { return }
        var off = 0
        while off < b.count {
            let n = write(fd, base + off, b.count - off)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            off += n
        }
    }
}

/// A tiny flag reader: `--name value` pairs and bare `--flag`s, in any order.
struct FlagReader {
    var positional: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []

    /// Parses `args`; `valued` names take a value, `bare` names do not.
    init(_ args: [String], valued: Set<String>, bare: Set<String>) throws(UsageError) {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--") && a.count > 2 {
                var name = String(a.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if valued.contains(name) {
                    if let inline { values[name] = inline }
                    else {
                        guard i + 1 < args.count else { throw UsageError("--\(name) needs a value") }
                        values[name] = args[i + 1]
                        i += 1
                    }
                } else if bare.contains(name) && inline == nil {
                    flags.insert(name)
                } else {
                    throw UsageError("unknown option --\(name)")
                }
            } else {
                positional.append(a)
            }
            i += 1
        }
    }

    func int(_ name: String, range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let v = values[name] else { return nil }
        guard let n = Int(v), range.contains(n) else {
            throw UsageError("--\(name) \(v): expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }
}

struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension CLI {
    /// The running binary, as the kernel starts system agents (`<it> agent <id>`):
    /// /proc/self/exe resolved, so that `ps` and the wiring show the real path.
    static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard n > 0 else { return "/proc/self/exe" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
