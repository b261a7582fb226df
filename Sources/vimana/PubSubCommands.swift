import VimanaClient

/// `vimana pub TOPIC MESSAGE` and `vimana sub PATTERN…`: a Redis-free way to
/// use the bus from a shell.
enum PubSubCommands {
    static func pub(_ args: [String]) -> Int32 {
        let f: FlagReader
        let port: Int
        do throws(UsageError) {
            f = try FlagReader(args, valued: ["host", "port"], bare: [])
            port = try f.int("port", range: 1...65535) ?? 7379
        } catch {
            return CLI.usageError(error.message)
        }
        guard f.positional.count == 2 else {
            return CLI.usageError("usage: vimana pub [--host H] [--port P] TOPIC MESSAGE")
        }
        do throws(ClientError) {
            let receivers = try PubSubCLI.publish(host: f.values["host"] ?? "127.0.0.1", port: port,
                                                  topic: f.positional[0], message: f.positional[1])
            printOut("\(receivers)")
            return 0
        } catch {
            printErr("vimana pub: \(error.description)")
            return 1
        }
    }

    static func sub(_ args: [String]) -> Int32 {
        let f: FlagReader
        let port: Int
        do throws(UsageError) {
            f = try FlagReader(args, valued: ["host", "port"], bare: ["json"])
            port = try f.int("port", range: 1...65535) ?? 7379
        } catch {
            return CLI.usageError(error.message)
        }
        guard !f.positional.isEmpty else {
            return CLI.usageError("usage: vimana sub [--host H] [--port P] [--json] PATTERN...")
        }
        do throws(ClientError) {
            try PubSubCLI.subscribe(host: f.values["host"] ?? "127.0.0.1", port: port, patterns: f.positional,
                                    json: f.flags.contains("json")) { line in printOut(line) }
            return 0
        } catch {
            printErr("vimana sub: \(error.description)")
            return 1
        }
    }
}
