import VimanaRESP

/// Every command the kernel understands, in one table: the name, Redis's
/// arity convention (n: exactly n arguments including the name; -n: at least
/// n), whether RESP2 subscribers may send it, and the documentation that
/// COMMAND DOCS / COMMAND INFO return.
enum Command: Int, CaseIterable {
    case ping, echo, quit, reset, hello, auth, select, client, command, info, config
    case publish, subscribe, unsubscribe, psubscribe, punsubscribe, pubsub
    case xadd, xlen, xrange, xrevrange, xread, xinfo, xtrim, xdel
    case agent, ack, nack, progress, agents
}

/// One command's or subcommand's metadata.
struct CommandSpec {
    let name: String
    let arity: Int
    let flags: [String]
    let categories: [String]
    let summary: String
    let since: String
    let group: String
    let complexity: String
    /// Argument docs as (name, type, optional, multiple).
    let arguments: [(String, String, Bool, Bool)]
    var subcommands: [CommandSpec] = []
}

enum CommandTable {
    static let specs: [CommandSpec] = Command.allCases.map(spec)

    /// Commands a RESP2 client may send while subscribed, as Redis 7.
    static func allowedWhileSubscribed(_ c: Command) -> Bool {
        switch c {
        case .ping, .quit, .reset, .subscribe, .unsubscribe, .psubscribe, .punsubscribe: true
        default: false
        }
    }

    /// Commands a client may send before authenticating (Redis's `no_auth` flag).
    static func allowedBeforeAuth(_ c: Command) -> Bool {
        switch c {
        case .auth, .hello, .quit, .reset: true
        default: false
        }
    }

    // MARK: - Lookup by name, without building a String

    /// The command named by argument 0, case-insensitively, without building
    /// a String: the name's bytes are loaded as one or two words (overlapping
    /// loads for lengths 5-7 and 9-15; byte by byte below 4, never past the
    /// argument), folded to lower case with `| 0x20` in every byte — exact for
    /// names made only of letters — and compared with constants generated from
    /// the names (checked by CommandTableTests).
    @inline(__always)
    static func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Command? {
        let raw = UnsafeRawPointer(p)
        switch n {
        case 3:
            var w: UInt64 = 0
            for i in 0..<3 { w |= UInt64(p[i] | 0x20) << (8 &* UInt64(i)) }
            switch w {
            case 0x6b6361: return .ack
            default: return nil
            }
        case 4:
            let w = UInt64(raw.loadUnaligned(as: UInt32.self)) | 0x2020_2020
            switch w {
            case 0x676e6970: return .ping
            case 0x6f686365: return .echo
            case 0x74697571: return .quit
            case 0x68747561: return .auth
            case 0x6f666e69: return .info
            case 0x64646178: return .xadd
            case 0x6e656c78: return .xlen
            case 0x6c656478: return .xdel
            case 0x6b63616e: return .nack
            default: return nil
            }
        case 5:
            let w = (UInt64(raw.loadUnaligned(as: UInt32.self)) | UInt64(raw.loadUnaligned(fromByteOffset: 1, as: UInt32.self)) << 32)
                | 0x2020_2020_2020_2020
            switch w {
            case 0x7465736565736572: return .reset
            case 0x6f6c6c656c6c6568: return .hello
            case 0x6461657261657278: return .xread
            case 0x6f666e69666e6978: return .xinfo
            case 0x6d69727469727478: return .xtrim
            case 0x746e65676e656761: return .agent
            default: return nil
            }
        case 6:
            let w = (UInt64(raw.loadUnaligned(as: UInt32.self)) | UInt64(raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self)) << 32)
                | 0x2020_2020_2020_2020
            switch w {
            case 0x7463656c656c6573: return .select
            case 0x746e656965696c63: return .client
            case 0x6769666e666e6f63: return .config
            case 0x6275736273627570: return .pubsub
            case 0x65676e616e617278: return .xrange
            case 0x73746e656e656761: return .agents
            default: return nil
            }
        case 7:
            let w = (UInt64(raw.loadUnaligned(as: UInt32.self)) | UInt64(raw.loadUnaligned(fromByteOffset: 3, as: UInt32.self)) << 32)
                | 0x2020_2020_2020_2020
            switch w {
            case 0x646e616d6d6d6f63: return .command
            case 0x6873696c6c627570: return .publish
            default: return nil
            }
        case 8:
            let w = (UInt64(raw.loadUnaligned(as: UInt32.self)) | UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) << 32)
                | 0x2020_2020_2020_2020
            switch w {
            case 0x73736572676f7270: return .progress
            default: return nil
            }
        case 9:
            let w0 = raw.loadUnaligned(as: UInt64.self) | 0x2020_2020_2020_2020
            let w1 = raw.loadUnaligned(fromByteOffset: 1, as: UInt64.self) | 0x2020_2020_2020_2020
            if w0 == 0x6269726373627573 && w1 == 0x6562697263736275 { return .subscribe }
            if w0 == 0x676e617276657278 && w1 == 0x65676e6172766572 { return .xrevrange }
            return nil
        case 10:
            let w0 = raw.loadUnaligned(as: UInt64.self) | 0x2020_2020_2020_2020
            let w1 = raw.loadUnaligned(fromByteOffset: 2, as: UInt64.self) | 0x2020_2020_2020_2020
            if w0 == 0x6972637362757370 && w1 == 0x6562697263736275 { return .psubscribe }
            return nil
        case 11:
            let w0 = raw.loadUnaligned(as: UInt64.self) | 0x2020_2020_2020_2020
            let w1 = raw.loadUnaligned(fromByteOffset: 3, as: UInt64.self) | 0x2020_2020_2020_2020
            if w0 == 0x7263736275736e75 && w1 == 0x6562697263736275 { return .unsubscribe }
            return nil
        case 12:
            let w0 = raw.loadUnaligned(as: UInt64.self) | 0x2020_2020_2020_2020
            let w1 = raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self) | 0x2020_2020_2020_2020
            if w0 == 0x63736275736e7570 && w1 == 0x6562697263736275 { return .punsubscribe }
            return nil
        default:
            return nil
        }
    }

    /// Redis's arity of each command, without touching the spec table.
    @inline(__always)
    static func arity(_ c: Command) -> Int {
        switch c {
        case .ping: -1
        case .echo: 2
        case .quit: -1
        case .reset: 1
        case .hello: -1
        case .auth: -2
        case .select: 2
        case .client: -2
        case .command: -1
        case .info: -1
        case .config: -2
        case .publish: 3
        case .subscribe: -2
        case .unsubscribe: -1
        case .psubscribe: -2
        case .punsubscribe: -1
        case .pubsub: -2
        case .xadd: -5
        case .xlen: 2
        case .xrange: -4
        case .xrevrange: -4
        case .xread: -4
        case .xinfo: -2
        case .xtrim: -4
        case .xdel: -3
        case .agent: -2
        case .ack: 3
        case .nack: -3
        case .progress: 3
        case .agents: 1
        }
    }

    /// Looks up a name given as a String (COMMAND INFO/DOCS arguments).
    static func lookup(name: String) -> Command? {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { lookup($0, b.count) } }
    }

    // MARK: - Metadata

    static func spec(_ c: Command) -> CommandSpec {
        let conn = ["@fast", "@connection"]
        switch c {
        case .xadd, .xlen, .xrange, .xrevrange, .xread, .xinfo, .xtrim, .xdel:
            return streamSpec(c)
        case .agent, .ack, .nack, .progress, .agents:
            return agentSpec(c)
        case .ping:
            return CommandSpec(name: "ping", arity: -1, flags: ["fast"], categories: conn,
                               summary: "Ping the server", since: "1.0.0", group: "connection", complexity: "O(1)",
                               arguments: [("message", "string", true, false)])
        case .echo:
            return CommandSpec(name: "echo", arity: 2, flags: ["fast"], categories: conn,
                               summary: "Echo the given string", since: "1.0.0", group: "connection", complexity: "O(1)",
                               arguments: [("message", "string", false, false)])
        case .quit:
            return CommandSpec(name: "quit", arity: -1, flags: ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"],
                               categories: conn, summary: "Close the connection", since: "1.0.0", group: "connection",
                               complexity: "O(1)", arguments: [])
        case .reset:
            return CommandSpec(name: "reset", arity: 1, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                               categories: conn, summary: "Reset the connection", since: "6.2.0", group: "connection",
                               complexity: "O(1)", arguments: [])
        case .hello:
            return CommandSpec(name: "hello", arity: -1, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                               categories: conn, summary: "Handshake with the server", since: "6.0.0", group: "connection",
                               complexity: "O(1)",
                               arguments: [("protover", "integer", true, false), ("auth-username-password", "string", true, false),
                                           ("setname-clientname", "string", true, false)])
        case .auth:
            return CommandSpec(name: "auth", arity: -2, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                               categories: conn, summary: "Authenticate to the server", since: "1.0.0", group: "connection",
                               complexity: "O(N) where N is the number of passwords defined for the user",
                               arguments: [("username", "string", true, false), ("password", "string", false, false)])
        case .select:
            return CommandSpec(name: "select", arity: 2, flags: ["loading", "stale", "fast"], categories: conn,
                               summary: "Change the selected database for the current connection (only 0 exists)",
                               since: "1.0.0", group: "connection", complexity: "O(1)",
                               arguments: [("index", "integer", false, false)])
        case .client:
            var s = CommandSpec(name: "client", arity: -2, flags: [], categories: ["@slow"],
                                summary: "A container for client connection commands", since: "2.4.0",
                                group: "connection", complexity: "Depends on subcommand.", arguments: [])
            let sub = ["noscript", "loading", "stale"]
            let slowConn = ["@slow", "@connection"]
            let admin = ["@admin", "@slow", "@dangerous", "@connection"]
            s.subcommands = [
                CommandSpec(name: "client|id", arity: 2, flags: sub, categories: slowConn, summary: "Returns the client ID for the current connection", since: "5.0.0", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|getname", arity: 2, flags: sub, categories: slowConn, summary: "Get the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|setname", arity: 3, flags: sub, categories: slowConn, summary: "Set the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)", arguments: [("connection-name", "string", false, false)]),
                CommandSpec(name: "client|setinfo", arity: 4, flags: sub, categories: slowConn, summary: "Set client or connection specific info", since: "7.2.0", group: "connection", complexity: "O(1)", arguments: [("lib-name|lib-ver", "string", false, false), ("value", "string", false, false)]),
                CommandSpec(name: "client|list", arity: -2, flags: ["admin"] + sub, categories: admin, summary: "Get the list of client connections", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections", arguments: [("type-normal|pubsub", "string", true, false), ("id-client-id", "integer", true, true)]),
                CommandSpec(name: "client|info", arity: 2, flags: sub, categories: slowConn, summary: "Returns information about the current client connection.", since: "6.2.0", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|kill", arity: -3, flags: ["admin"] + sub, categories: admin, summary: "Kill the connection of a client", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections", arguments: [("filter-value", "string", false, true)]),
                CommandSpec(name: "client|help", arity: 2, flags: ["loading", "stale"], categories: slowConn, summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "connection", complexity: "O(1)", arguments: []),
            ]
            return s
        case .command:
            var s = CommandSpec(name: "command", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@connection"],
                                summary: "Get array of Redis command details", since: "2.8.13", group: "server",
                                complexity: "O(N) where N is the total number of commands", arguments: [])
            let f = ["loading", "stale"]
            let cat = ["@slow", "@connection"]
            s.subcommands = [
                CommandSpec(name: "command|count", arity: 2, flags: f, categories: cat, summary: "Get total number of commands", since: "2.8.13", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "command|docs", arity: -2, flags: f, categories: cat, summary: "Get array of specific command documentation", since: "7.0.0", group: "server", complexity: "O(N) where N is the number of commands to look up", arguments: [("command-name", "string", true, true)]),
                CommandSpec(name: "command|info", arity: -2, flags: f, categories: cat, summary: "Get array of specific command details, or all when no argument is given.", since: "2.8.13", group: "server", complexity: "O(N) where N is the number of commands to look up", arguments: [("command-name", "string", true, true)]),
                CommandSpec(name: "command|list", arity: -2, flags: f, categories: cat, summary: "Get an array of command names", since: "7.0.0", group: "server", complexity: "O(N) where N is the total number of commands", arguments: [("filterby", "string", true, false)]),
                CommandSpec(name: "command|help", arity: 2, flags: f, categories: cat, summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)", arguments: []),
            ]
            return s
        case .info:
            return CommandSpec(name: "info", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@dangerous"],
                               summary: "Get information and statistics about the server", since: "1.0.0", group: "server",
                               complexity: "O(1)", arguments: [("section", "string", true, true)])
        case .config:
            var s = CommandSpec(name: "config", arity: -2, flags: [], categories: ["@slow"],
                                summary: "A container for server configuration commands", since: "2.0.0", group: "server",
                                complexity: "Depends on subcommand.", arguments: [])
            let f = ["admin", "noscript", "loading", "stale"]
            let cat = ["@admin", "@slow", "@dangerous"]
            s.subcommands = [
                CommandSpec(name: "config|get", arity: -3, flags: f, categories: cat, summary: "Get the values of configuration parameters", since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided", arguments: [("parameter", "string", false, true)]),
                CommandSpec(name: "config|set", arity: -4, flags: f, categories: cat, summary: "Refused: the configuration is read-only (edit phoenix.yaml and restart)", since: "2.0.0", group: "server", complexity: "O(1)", arguments: [("parameter", "string", false, true)]),
                CommandSpec(name: "config|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)", arguments: []),
            ]
            return s
        case .publish:
            return CommandSpec(name: "publish", arity: 3, flags: ["pubsub", "loading", "stale", "fast", "may_replicate"],
                               categories: ["@pubsub", "@fast"], summary: "Post a message to a channel", since: "2.0.0",
                               group: "pubsub", complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
                               arguments: [("channel", "string", false, false), ("message", "string", false, false)])
        case .subscribe:
            return CommandSpec(name: "subscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"],
                               categories: ["@pubsub", "@slow"], summary: "Listen for messages published to the given channels",
                               since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of channels to subscribe to.",
                               arguments: [("channel", "string", false, true)])
        case .unsubscribe:
            return CommandSpec(name: "unsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"],
                               categories: ["@pubsub", "@slow"], summary: "Stop listening for messages posted to the given channels",
                               since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of clients already subscribed to a channel.",
                               arguments: [("channel", "string", true, true)])
        case .psubscribe:
            return CommandSpec(name: "psubscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"],
                               categories: ["@pubsub", "@slow"], summary: "Listen for messages published to channels matching the given patterns",
                               since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
                               arguments: [("pattern", "pattern", false, true)])
        case .punsubscribe:
            return CommandSpec(name: "punsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"],
                               categories: ["@pubsub", "@slow"], summary: "Stop listening for messages posted to channels matching the given patterns",
                               since: "2.0.0", group: "pubsub", complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
                               arguments: [("pattern", "pattern", true, true)])
        case .pubsub:
            var s = CommandSpec(name: "pubsub", arity: -2, flags: [], categories: ["@slow"],
                                summary: "A container for Pub/Sub commands", since: "2.8.0", group: "pubsub",
                                complexity: "Depends on subcommand.", arguments: [])
            let f = ["pubsub", "loading", "stale"]
            s.subcommands = [
                CommandSpec(name: "pubsub|channels", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "List active channels", since: "2.8.0", group: "pubsub", complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", arguments: [("pattern", "pattern", true, false)]),
                CommandSpec(name: "pubsub|numsub", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "Get the count of subscribers for channels", since: "2.8.0", group: "pubsub", complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels", arguments: [("channel", "string", true, true)]),
                CommandSpec(name: "pubsub|numpat", arity: 2, flags: f, categories: ["@pubsub", "@slow"], summary: "Get the count of unique patterns pattern subscriptions", since: "2.8.0", group: "pubsub", complexity: "O(1)", arguments: []),
                CommandSpec(name: "pubsub|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands", since: "6.2.0", group: "pubsub", complexity: "O(1)", arguments: []),
            ]
            return s
        }
    }

    static func streamSpec(_ c: Command) -> CommandSpec {
        let write = ["write", "denyoom", "fast"]
        let readonly = ["readonly"]
        let cat = ["@write", "@stream", "@fast"]
        let readCat = ["@read", "@stream", "@slow"]
        switch c {
        case .xadd:
            return CommandSpec(name: "xadd", arity: -5, flags: write, categories: cat,
                               summary: "Appends a new entry to a stream (the topic's ledger)", since: "5.0.0", group: "stream",
                               complexity: "O(1)", arguments: [("key", "key", false, false), ("nomkstream", "pure-token", true, false),
                                                               ("id", "string", false, false), ("field-value", "string", false, true)])
        case .xlen:
            return CommandSpec(name: "xlen", arity: 2, flags: readonly + ["fast"], categories: ["@read", "@stream", "@fast"],
                               summary: "Return the number of entries in a stream", since: "5.0.0", group: "stream",
                               complexity: "O(1)", arguments: [("key", "key", false, false)])
        case .xrange, .xrevrange:
            let name = c == .xrange ? "xrange" : "xrevrange"
            return CommandSpec(name: name, arity: -4, flags: readonly, categories: readCat,
                               summary: c == .xrange ? "Return a range of elements in a stream, with IDs matching the specified IDs interval"
                                   : "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
                               since: "5.0.0", group: "stream",
                               complexity: "O(N) with N being the number of elements being returned.",
                               arguments: [("key", "key", false, false), (c == .xrange ? "start" : "end", "string", false, false),
                                           (c == .xrange ? "end" : "start", "string", false, false), ("count", "integer", true, false)])
        case .xread:
            return CommandSpec(name: "xread", arity: -4, flags: readonly + ["blocking"], categories: ["@read", "@stream", "@slow", "@blocking"],
                               summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
                               since: "5.0.0", group: "stream", complexity: "For each stream mentioned: O(N) with N being the number of elements being returned.",
                               arguments: [("count", "integer", true, false), ("milliseconds", "integer", true, false),
                                           ("key", "key", false, true), ("id", "string", false, true)])
        case .xinfo:
            var s = CommandSpec(name: "xinfo", arity: -2, flags: [], categories: ["@slow"],
                                summary: "A container for stream introspection commands", since: "5.0.0", group: "stream",
                                complexity: "Depends on subcommand.", arguments: [])
            s.subcommands = [
                CommandSpec(name: "xinfo|stream", arity: -3, flags: readonly, categories: readCat,
                            summary: "Get information about a stream", since: "5.0.0", group: "stream", complexity: "O(1)",
                            arguments: [("key", "key", false, false)]),
                CommandSpec(name: "xinfo|help", arity: 2, flags: ["loading", "stale"], categories: ["@stream", "@slow"],
                            summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "stream",
                            complexity: "O(1)", arguments: []),
            ]
            return s
        case .xtrim:
            return CommandSpec(name: "xtrim", arity: -4, flags: ["write"], categories: ["@write", "@stream", "@slow"],
                               summary: "Refused: the ledger is append-only; retention (ledger.retention) trims it", since: "5.0.0",
                               group: "stream", complexity: "O(1)", arguments: [("key", "key", false, false)])
        default:
            return CommandSpec(name: "xdel", arity: -3, flags: ["write", "fast"], categories: ["@write", "@stream", "@fast"],
                               summary: "Refused: the ledger is append-only; retention (ledger.retention) trims it", since: "5.0.0",
                               group: "stream", complexity: "O(1)", arguments: [("key", "key", false, false), ("id", "string", false, true)])
        }
    }

    static func agentSpec(_ c: Command) -> CommandSpec {
        let cat = ["@agent", "@fast"]
        switch c {
        case .agent:
            var s = CommandSpec(name: "agent", arity: -2, flags: [], categories: ["@agent", "@slow"],
                                summary: "Agent instances: JOIN a declared agent, LEAVE it", since: "0.1.0", group: "agent",
                                complexity: "O(1)", arguments: [])
            s.subcommands = [
                CommandSpec(name: "agent|join", arity: 3, flags: [], categories: cat,
                            summary: "Make this connection an instance of a declared external agent", since: "0.1.0",
                            group: "agent", complexity: "O(1)", arguments: [("agent-id", "string", false, false)]),
                CommandSpec(name: "agent|leave", arity: 2, flags: [], categories: cat,
                            summary: "Stop being an agent instance; held tasks are redelivered", since: "0.1.0",
                            group: "agent", complexity: "O(N) for N held tasks", arguments: []),
            ]
            return s
        case .ack:
            return CommandSpec(name: "ack", arity: 3, flags: ["fast"], categories: cat, summary: "Acknowledge a task",
                               since: "0.1.0", group: "agent", complexity: "O(log N)",
                               arguments: [("topic", "string", false, false), ("id", "string", false, false)])
        case .nack:
            return CommandSpec(name: "nack", arity: -3, flags: ["fast"], categories: cat,
                               summary: "Give a task back for redelivery, optionally after a delay", since: "0.1.0",
                               group: "agent", complexity: "O(log N)",
                               arguments: [("topic", "string", false, false), ("id", "string", false, false),
                                           ("delay-ms", "integer", true, false)])
        case .progress:
            return CommandSpec(name: "progress", arity: 3, flags: ["fast"], categories: cat,
                               summary: "Restart a held task's ack_wait clock", since: "0.1.0", group: "agent",
                               complexity: "O(log N)", arguments: [("topic", "string", false, false), ("id", "string", false, false)])
        default:
            return CommandSpec(name: "agents", arity: 1, flags: [], categories: ["@agent", "@slow"],
                               summary: "List declared agents with status and counters", since: "0.1.0", group: "agent",
                               complexity: "O(N) for N agents", arguments: [])
        }
    }

    /// The subcommand spec named by `word` (case-insensitive), if any.
    static func subcommand(of c: Command, _ args: Arguments, _ i: Int) -> (Int, CommandSpec)? {
        let subs = specs[c.rawValue].subcommands
        let word = args.string(i).lowercased()
        for (k, s) in subs.enumerated() where s.name.split(separator: "|").last.map(String.init) == word {
            return (k, s)
        }
        return nil
    }

    /// Redis's arity rule.
    @inline(__always)
    static func arityOK(_ arity: Int, _ argc: Int) -> Bool {
        arity > 0 ? argc == arity : argc >= -arity
    }
}
