import VimanaClient
import VimanaConfig

/// `vimana pub TOPIC MESSAGE` and `vimana sub PATTERN…`: a Redis-free way to
/// use the bus from a shell.
enum PubSubCommands {
    /// Where a client connects by default: the server's default address.
    static let server = KernelConfig()

    static let pubSynopsis = "vimana pub [--host H] [--port P] TOPIC MESSAGE"
    static let subSynopsis = "vimana sub [--host H] [--port P] [--json] PATTERN..."

    static let pubUsage = """
    Usage: \(pubSynopsis)
    PUBLISH MESSAGE on TOPIC and print the number of subscribers that received it.
      --host H      server address (default \(server.bind))
      --port P      server port (default \(server.port))
      -h, --help    this text
    Exit status: 0 published, 1 the server could not be reached or refused, 2 bad arguments.
    """

    static let subUsage = """
    Usage: \(subSynopsis)
    Subscribe (SUBSCRIBE for names, PSUBSCRIBE for globs with * ? or [) and print
    one line per message, `TOPIC PAYLOAD` with control bytes escaped, until interrupted.
      --host H      server address (default \(server.bind))
      --port P      server port (default \(server.port))
      --json        one JSON object per message instead
      -h, --help    this text
    Exit status: 1 when the server closes the connection or refuses, 2 bad arguments.
    """

    static func pub(_ args: [String]) -> Int32 {
        if CLI.wantsHelp(args) {
            printOut(pubUsage)
            return 0
        }
        let f: FlagReader
        let port: Int
        do throws(UsageError) {
            f = try FlagReader(args, valued: ["host", "port"], bare: [])
            port = try f.int("port", range: 1...65535) ?? server.port
        } catch {
            return CLI.usageError(error.message)
        }
        guard f.positional.count == 2 else {
            return CLI.usageError("usage: \(pubSynopsis)")
        }
        do throws(ClientError) {
            let receivers = try PubSubCLI.publish(host: f.values["host"] ?? server.bind, port: port,
                                                  topic: f.positional[0], message: f.positional[1])
            printOut("\(receivers)")
            return 0
        } catch {
            printErr("vimana pub: \(error.description)")
            return 1
        }
    }

    static func sub(_ args: [String]) -> Int32 {
        if CLI.wantsHelp(args) {
            printOut(subUsage)
            return 0
        }
        let f: FlagReader
        let port: Int
        do throws(UsageError) {
            f = try FlagReader(args, valued: ["host", "port"], bare: ["json"])
            port = try f.int("port", range: 1...65535) ?? server.port
        } catch {
            return CLI.usageError(error.message)
        }
        guard !f.positional.isEmpty else {
            return CLI.usageError("usage: \(subSynopsis)")
        }
        do throws(ClientError) {
            try PubSubCLI.subscribe(host: f.values["host"] ?? server.bind, port: port, patterns: f.positional,
                                    json: f.flags.contains("json")) { line in printOut(line) }
            return 0
        } catch {
            printErr("vimana sub: \(error.description)")
            return 1
        }
    }
}
