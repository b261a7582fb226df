import VimanaRESP
import VimanaACL

/// The command table: one entry per command, with everything COMMAND,
/// COMMAND INFO, COMMAND DOCS, the arity check and dispatch know of it.
/// Flags, summaries and argument docs are Redis 7.0.15's where Redis has
/// the command.
extension CommandTable {
    /// The entry of each command. Adding a command: a case in `Command`,
    /// its entry here (the switch is exhaustive), its handler (docs/HACKING.md).
    static func entry(_ c: Command) -> CommandEntry {
        let conn = ["@fast", "@connection"]
        switch c {
        case .xadd, .xlen, .xrange, .xrevrange, .xread, .xinfo, .xtrim, .xdel, .xsetid:
            return streamEntry(c)
        case .agent, .ack, .nack, .progress, .agents:
            return agentEntry(c)
        case .xgroup, .xreadgroup, .xack, .xpending, .xclaim, .xautoclaim:
            return groupEntry(c)
        case .multi, .exec, .discard, .watch, .unwatch:
            return transactionEntry(c)
        case .acl:
            return aclEntry()
        case .ledger:
            return ledgerEntry()
        case .health:
            return healthEntry()
        case .license:
            return licenseEntry()
        case .exists, .type, .keys, .scan, .dbsize, .randomkey, .touch, .object, .memory, .del, .unlink, .flushall, .flushdb:
            return keyEntry(c)
        case .ping:
            return CommandEntry(name: "ping", arity: -1, flags: ["fast"], rules: [.allowedWhileSubscribed], categories: conn,
                                summary: "Ping the server", since: "1.0.0", group: "connection", complexity: "O(1)",
                                arguments: [("message", "string", true, false)]) { k, c, a in k.pingCommand(c, a) }
        case .echo:
            return CommandEntry(name: "echo", arity: 2, flags: ["fast"], categories: conn,
                                summary: "Echo the given string", since: "1.0.0", group: "connection", complexity: "O(1)",
                                arguments: [("message", "string", false, false)]) { _, c, a in c.pointee.output.tail.writeBulk(a.pointer(1), a.length(1)) }
        case .quit:
            return CommandEntry(name: "quit", arity: -1, flags: ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"],
                                rules: [.allowedWhileSubscribed, .runsInsideMulti], categories: conn, summary: "Close the connection", since: "1.0.0", group: "connection",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.quitCommand(c) }
        case .reset:
            return CommandEntry(name: "reset", arity: 1, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                                rules: [.allowedWhileSubscribed, .runsInsideMulti], categories: conn, summary: "Reset the connection", since: "6.2.0", group: "connection",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.resetCommand(c) }
        case .hello:
            return CommandEntry(name: "hello", arity: -1, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                                categories: conn, summary: "Handshake with the server", since: "6.0.0", group: "connection",
                                complexity: "O(1)",
                                arguments: [("protover", "integer", true, false), ("auth-username-password", "string", true, false),
                                           ("setname-clientname", "string", true, false)]) { k, c, a in k.helloCommand(c, a) }
        case .auth:
            return CommandEntry(name: "auth", arity: -2, flags: ["noscript", "loading", "stale", "fast", "no_auth"],
                                categories: conn, summary: "Authenticate to the server", since: "1.0.0", group: "connection",
                                complexity: "O(N) where N is the number of passwords defined for the user",
                                arguments: [("username", "string", true, false), ("password", "string", false, false)]) { k, c, a in k.authCommand(c, a) }
        case .select:
            return CommandEntry(name: "select", arity: 2, flags: ["loading", "stale", "fast"], categories: conn,
                                summary: "Change the selected database for the current connection (only 0 exists)",
                                since: "1.0.0", group: "connection", complexity: "O(1)",
                                arguments: [("index", "integer", false, false)]) { k, c, a in k.selectCommand(c, a) }
        case .client:
            var s = CommandEntry(name: "client", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for client connection commands", since: "2.4.0",
                                 group: "connection", complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.clientCommand(c, a) }
            let sub = ["noscript", "loading", "stale"]
            let slowConn = ["@slow", "@connection"]
            let admin = ["@admin", "@slow", "@dangerous", "@connection"]
            s.spec.subcommands = [
                CommandSpec(name: "client|id", arity: 2, flags: sub, categories: slowConn, summary: "Returns the client ID for the current connection", since: "5.0.0", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|getname", arity: 2, flags: sub, categories: slowConn, summary: "Get the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|setname", arity: 3, flags: sub, categories: slowConn, summary: "Set the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)", arguments: [("connection-name", "string", false, false)]),
                CommandSpec(name: "client|setinfo", arity: 4, flags: sub, categories: slowConn, summary: "Set client or connection specific info", since: "7.2.0", group: "connection", complexity: "O(1)", arguments: [("lib-name|lib-ver", "string", false, false), ("value", "string", false, false)]),
                CommandSpec(name: "client|list", arity: -2, flags: ["admin"] + sub, categories: admin, summary: "Get the list of client connections", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections", arguments: [("TYPE normal|pubsub", "string", true, false), ("ID client-id", "integer", true, true)]),
                CommandSpec(name: "client|info", arity: 2, flags: sub, categories: slowConn, summary: "Returns information about the current client connection.", since: "6.2.0", group: "connection", complexity: "O(1)", arguments: []),
                CommandSpec(name: "client|kill", arity: -3, flags: ["admin"] + sub, categories: admin, summary: "Kill the connection of a client", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections", arguments: [("ip:port", "string", true, false), ("ID client-id", "integer", true, false), ("TYPE normal|master|slave|replica|pubsub", "string", true, false), ("USER username", "string", true, false), ("ADDR ip:port", "string", true, false), ("LADDR ip:port", "string", true, false), ("SKIPME yes|no", "string", true, false)]),
                CommandSpec(name: "client|reply", arity: 3, flags: sub, categories: slowConn, summary: "Instruct the server whether to reply to commands", since: "3.2.0", group: "connection", complexity: "O(1)", arguments: [("on|off|skip", "string", false, false)]),
                CommandSpec(name: "client|no-evict", arity: 3, flags: ["admin"] + sub, categories: admin, summary: "Set client eviction mode for the current connection (accepted; Vimana evicts no clients)", since: "7.0.0", group: "connection", complexity: "O(1)", arguments: [("on|off", "string", false, false)]),
                CommandSpec(name: "client|publisher", arity: 3, flags: sub, categories: slowConn, summary: "Controls whether stream entries in replies carry their publisher (Vimana)", since: "7.0.0", group: "connection", complexity: "O(1)", arguments: [("on|off", "string", false, false)]),
                CommandSpec(name: "client|help", arity: 2, flags: ["loading", "stale"], categories: slowConn, summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "connection", complexity: "O(1)", arguments: []),
            ]
            return s
        case .command:
            var s = CommandEntry(name: "command", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@connection"],
                                 summary: "Get array of Redis command details", since: "2.8.13", group: "server",
                                 complexity: "O(N) where N is the total number of commands", arguments: []) { k, c, a in k.commandCommand(c, a) }
            let f = ["loading", "stale"]
            let cat = ["@slow", "@connection"]
            s.spec.subcommands = [
                CommandSpec(name: "command|count", arity: 2, flags: f, categories: cat, summary: "Get total number of commands", since: "2.8.13", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "command|docs", arity: -2, flags: f, categories: cat, summary: "Get array of specific command documentation", since: "7.0.0", group: "server", complexity: "O(N) where N is the number of commands to look up", arguments: [("command-name", "string", true, true)]),
                CommandSpec(name: "command|info", arity: -2, flags: f, categories: cat, summary: "Get array of specific command details, or all when no argument is given.", since: "2.8.13", group: "server", complexity: "O(N) where N is the number of commands to look up", arguments: [("command-name", "string", true, true)]),
                CommandSpec(name: "command|list", arity: -2, flags: f, categories: cat, summary: "Get an array of command names", since: "7.0.0", group: "server", complexity: "O(N) where N is the total number of commands", arguments: [("filterby", "string", true, false)]),
                CommandSpec(name: "command|help", arity: 2, flags: f, categories: cat, summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)", arguments: []),
            ]
            return s
        case .info:
            return CommandEntry(name: "info", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@dangerous"],
                                summary: "Get information and statistics about the server", since: "1.0.0", group: "server",
                                complexity: "O(1)", arguments: [("section", "string", true, true)]) { k, c, a in k.infoCommand(c, a) }
        case .config:
            var s = CommandEntry(name: "config", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for server configuration commands", since: "2.0.0", group: "server",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.configCommand(c, a) }
            let f = ["admin", "noscript"]
            let cat = ["@admin", "@slow", "@dangerous"]
            s.spec.subcommands = [
                CommandSpec(name: "config|get", arity: -3, flags: f, categories: cat, summary: "Get the values of configuration parameters", since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided", arguments: [("parameter", "string", false, true)]),
                CommandSpec(name: "config|set", arity: -4, flags: f, categories: cat, summary: "Set configuration parameters to the given values", since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided", arguments: [("parameter", "string", false, true)]),
                CommandSpec(name: "config|rewrite", arity: 2, flags: f, categories: cat, summary: "Refused: phoenix.yaml is the configuration's source of truth", since: "2.8.0", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "config|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "config|resetstat", arity: 2, flags: ["admin", "noscript", "loading", "stale"], categories: cat, summary: "Reset the stats returned by INFO", since: "2.0.0", group: "server", complexity: "O(1)", arguments: []),
            ]
            return s
        case .shutdown:
            return CommandEntry(name: "shutdown", arity: -1, flags: ["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"],
                                categories: ["@admin", "@slow", "@dangerous"],
                                summary: "Synchronously save the dataset to disk and then shut down the server", since: "1.0.0",
                                group: "server", complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
                                arguments: [("NOSAVE nosave", "pure-token", true, false), ("SAVE save", "pure-token", true, false),
                                            ("NOW now", "pure-token", true, false), ("FORCE force", "pure-token", true, false),
                                            ("ABORT abort", "pure-token", true, false)]) { k, c, a in
                k.shutdownCommand(c, a)
            }
        case .monitor:
            return CommandEntry(name: "monitor", arity: 1, flags: ["admin", "noscript", "loading", "stale"],
                                categories: ["@admin", "@slow", "@dangerous"],
                                summary: "Listen for all requests received by the server in real time", since: "1.0.0",
                                group: "server", complexity: "", arguments: []) { k, c, _ in k.monitorCommand(c) }
        case .slowlog:
            var s = CommandEntry(name: "slowlog", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for slow log commands", since: "2.2.12", group: "server",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.slowlogCommand(c, a) }
            let f = ["admin", "loading", "stale"]
            let cat = ["@admin", "@slow", "@dangerous"]
            s.spec.subcommands = [
                CommandSpec(name: "slowlog|get", arity: -2, flags: f, categories: cat, summary: "Get the slow log's entries", since: "2.2.12", group: "server", complexity: "O(N) where N is the number of entries returned", arguments: [("count", "integer", true, false)]),
                CommandSpec(name: "slowlog|len", arity: 2, flags: f, categories: cat, summary: "Get the slow log's length", since: "2.2.12", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "slowlog|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands", since: "6.2.0", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "slowlog|reset", arity: 2, flags: f, categories: cat, summary: "Clear all entries from the slow log", since: "2.2.12", group: "server", complexity: "O(N) where N is the number of entries in the slowlog", arguments: []),
            ]
            return s
        case .latency:
            var s = CommandEntry(name: "latency", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for latency diagnostics commands", since: "2.8.13", group: "server",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.latencyCommand(c, a) }
            let f = ["admin", "noscript", "loading", "stale"]
            let cat = ["@admin", "@slow", "@dangerous"]
            s.spec.subcommands = [
                CommandSpec(name: "latency|graph", arity: 3, flags: f, categories: cat, summary: "Return a latency graph for the event.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: [("event", "string", false, false)]),
                CommandSpec(name: "latency|latest", arity: 2, flags: f, categories: cat, summary: "Return the latest latency samples for all events.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "latency|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "latency|history", arity: 3, flags: f, categories: cat, summary: "Return timestamp-latency samples for the event.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: [("event", "string", false, false)]),
                CommandSpec(name: "latency|doctor", arity: 2, flags: f, categories: cat, summary: "Return a human readable latency analysis report.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: []),
                CommandSpec(name: "latency|reset", arity: -2, flags: f, categories: cat, summary: "Reset latency data for one or more events.", since: "2.8.13", group: "server", complexity: "O(1)", arguments: [("event", "string", true, true)]),
            ]
            return s
        case .time:
            return CommandEntry(name: "time", arity: 1, flags: ["loading", "stale", "fast"], categories: ["@fast"],
                                summary: "Return the current server time", since: "2.6.0", group: "server", complexity: "O(1)",
                                arguments: []) { k, c, _ in k.timeCommand(c) }
        case .publish:
            return CommandEntry(name: "publish", arity: 3, flags: ["pubsub", "loading", "stale", "fast", "may_replicate"],
                                categories: ["@pubsub", "@fast"], summary: "Post a message to a channel", since: "2.0.0",
                                group: "pubsub", complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
                                arguments: [("channel", "string", false, false), ("message", "string", false, false)],
                                access: .channel(1)) { k, c, a in k.publishCommand(c, a) }
        case .subscribe:
            return CommandEntry(name: "subscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Listen for messages published to the given channels",
                                since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of channels to subscribe to.",
                                arguments: [("channel", "string", false, true)], access: .channels(from: 1)) { k, c, a in k.subscribeCommand(c, a) }
        case .unsubscribe:
            return CommandEntry(name: "unsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Stop listening for messages posted to the given channels",
                                since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of clients already subscribed to a channel.",
                                arguments: [("channel", "string", true, true)]) { k, c, a in k.unsubscribeCommand(c, a) }
        case .psubscribe:
            return CommandEntry(name: "psubscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Listen for messages published to channels matching the given patterns",
                                since: "2.0.0", group: "pubsub", complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
                                arguments: [("pattern", "pattern", false, true)], access: .patterns(from: 1)) { k, c, a in k.psubscribeCommand(c, a) }
        case .punsubscribe:
            return CommandEntry(name: "punsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Stop listening for messages posted to channels matching the given patterns",
                                since: "2.0.0", group: "pubsub", complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
                                arguments: [("pattern", "pattern", true, true)]) { k, c, a in k.punsubscribeCommand(c, a) }
        case .spublish:
            return CommandEntry(name: "spublish", arity: 3, flags: ["pubsub", "loading", "stale", "fast"],
                                categories: ["@pubsub", "@fast"], summary: "Post a message to a shard channel", since: "7.0.0",
                                group: "pubsub", complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
                                arguments: [("shardchannel", "string", false, false), ("message", "string", false, false)],
                                access: .channel(1)) { k, c, a in k.spublishCommand(c, a) }
        case .ssubscribe:
            return CommandEntry(name: "ssubscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Listen for messages published to the given shard channels",
                                since: "7.0.0", group: "pubsub", complexity: "O(N) where N is the number of shard channels to subscribe to.",
                                arguments: [("shardchannel", "string", false, true)], access: .channels(from: 1)) { k, c, a in k.ssubscribeCommand(c, a) }
        case .sunsubscribe:
            return CommandEntry(name: "sunsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"],
                                rules: [.allowedWhileSubscribed], categories: ["@pubsub", "@slow"], summary: "Stop listening for messages posted to the given shard channels",
                                since: "7.0.0", group: "pubsub", complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
                                arguments: [("shardchannel", "string", true, true)]) { k, c, a in k.sunsubscribeCommand(c, a) }
        case .pubsub:
            var s = CommandEntry(name: "pubsub", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for Pub/Sub commands", since: "2.8.0", group: "pubsub",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.pubsubCommand(c, a) }
            let f = ["pubsub", "loading", "stale"]
            s.spec.subcommands = [
                CommandSpec(name: "pubsub|channels", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "List active channels", since: "2.8.0", group: "pubsub", complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", arguments: [("pattern", "pattern", true, false)]),
                CommandSpec(name: "pubsub|numsub", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "Get the count of subscribers for channels", since: "2.8.0", group: "pubsub", complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels", arguments: [("channel", "string", true, true)]),
                CommandSpec(name: "pubsub|shardchannels", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "List active shard channels", since: "7.0.0", group: "pubsub", complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", arguments: [("pattern", "pattern", true, false)]),
                CommandSpec(name: "pubsub|shardnumsub", arity: -2, flags: f, categories: ["@pubsub", "@slow"], summary: "Get the count of subscribers for shard channels", since: "7.0.0", group: "pubsub", complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", arguments: [("shardchannel", "string", true, true)]),
                CommandSpec(name: "pubsub|numpat", arity: 2, flags: f, categories: ["@pubsub", "@slow"], summary: "Get the count of unique patterns pattern subscriptions", since: "2.8.0", group: "pubsub", complexity: "O(1)", arguments: []),
                CommandSpec(name: "pubsub|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"], summary: "Show helpful text about the different subcommands", since: "6.2.0", group: "pubsub", complexity: "O(1)", arguments: []),
            ]
            return s
        }
    }

    static func streamEntry(_ c: Command) -> CommandEntry {
        let write = ["write", "denyoom", "fast"]
        let readonly = ["readonly"]
        let cat = ["@write", "@stream", "@fast"]
        let readCat = ["@read", "@stream", "@slow"]
        switch c {
        case .xadd:
            return CommandEntry(name: "xadd", arity: -5, flags: write, categories: cat,
                                summary: "Appends a new entry to a stream (the topic's ledger)", since: "5.0.0", group: "stream",
                                complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
                                arguments: [("key", "key", false, false), ("NOMKSTREAM nomkstream", "pure-token", true, false),
                                            ("strategy", "string", true, false), ("threshold", "string", true, false),
                                            ("LIMIT count", "integer", true, false),
                                            ("id", "string", false, false), ("field-value", "string", false, true)],
                                access: .key(1, .write)) { k, c, a in k.xaddCommand(c, a) }
        case .xlen:
            return CommandEntry(name: "xlen", arity: 2, flags: readonly + ["fast"], categories: ["@read", "@stream", "@fast"],
                                summary: "Return the number of entries in a stream", since: "5.0.0", group: "stream",
                                complexity: "O(1)", arguments: [("key", "key", false, false)], access: .key(1, .none)) { k, c, a in k.xlenCommand(c, a) }
        case .xrange, .xrevrange:
            let name = c == .xrange ? "xrange" : "xrevrange"
            let handler: CommandHandler = c == .xrange ? { k, client, a in k.xrangeCommand(client, a, reverse: false) }
                : { k, client, a in k.xrangeCommand(client, a, reverse: true) }
            return CommandEntry(name: name, arity: -4, flags: readonly, categories: readCat,
                                summary: c == .xrange ? "Return a range of elements in a stream, with IDs matching the specified IDs interval"
                                   : "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
                                since: "5.0.0", group: "stream",
                                complexity: "O(N) with N being the number of elements being returned.",
                                arguments: [("key", "key", false, false), (c == .xrange ? "start" : "end", "string", false, false),
                                           (c == .xrange ? "end" : "start", "string", false, false), ("COUNT count", "integer", true, false)],
                                access: .key(1, .read), handler: handler)
        case .xread:
            return CommandEntry(name: "xread", arity: -4, flags: readonly + ["blocking"], categories: ["@read", "@stream", "@slow", "@blocking"],
                                summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
                                since: "5.0.0", group: "stream", complexity: "For each stream mentioned: O(N) with N being the number of elements being returned.",
                                arguments: [("COUNT count", "integer", true, false), ("BLOCK milliseconds", "integer", true, false),
                                           ("STREAMS key", "key", false, true), ("id", "string", false, true)],
                                access: .streams(searchFrom: 1, .read)) { k, c, a in k.xreadCommand(c, a) }
        case .xinfo:
            var s = CommandEntry(name: "xinfo", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for stream introspection commands", since: "5.0.0", group: "stream",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.xinfoCommand(c, a) }
            s.spec.subcommands = [
                CommandSpec(name: "xinfo|stream", arity: -3, flags: readonly, categories: readCat,
                            summary: "Get information about a stream", since: "5.0.0", group: "stream", complexity: "O(1)",
                            arguments: [("key", "key", false, false)], access: .key(2, .read)),
                CommandSpec(name: "xinfo|groups", arity: 3, flags: readonly, categories: readCat,
                            summary: "List the consumer groups of a stream", since: "5.0.0", group: "stream", complexity: "O(1)",
                            arguments: [("key", "key", false, false)], access: .key(2, .read)),
                CommandSpec(name: "xinfo|consumers", arity: 4, flags: readonly, categories: readCat,
                            summary: "List the consumers in a consumer group", since: "5.0.0", group: "stream", complexity: "O(1)",
                            arguments: [("key", "key", false, false), ("group", "string", false, false)], access: .key(2, .read)),
                CommandSpec(name: "xinfo|help", arity: 2, flags: ["loading", "stale"], categories: ["@stream", "@slow"],
                            summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "stream",
                            complexity: "O(1)", arguments: []),
            ]
            return s
        case .xsetid:
            return CommandEntry(name: "xsetid", arity: -3, flags: ["write", "denyoom", "fast"], categories: ["@write", "@stream", "@fast"],
                                summary: "An internal command for replicating stream values", since: "5.0.0", group: "stream",
                                complexity: "O(1)",
                                arguments: [("key", "key", false, false), ("last-id", "string", false, false),
                                            ("ENTRIESADDED entries-added", "integer", true, false),
                                            ("MAXDELETEDID max-deleted-id", "string", true, false)],
                                access: .key(1, .write)) { k, c, a in k.xsetidCommand(c, a) }
        case .xtrim:
            return CommandEntry(name: "xtrim", arity: -4, flags: ["write"], categories: ["@write", "@stream", "@slow"],
                                summary: "Deletes messages from the beginning of a stream.", since: "5.0.0",
                                group: "stream", complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
                                arguments: [("key", "key", false, false), ("strategy", "string", false, false),
                                            ("threshold", "string", false, false), ("LIMIT count", "integer", true, false)],
                                access: .key(1, .write)) { k, c, a in k.xtrimCommand(c, a) }
        default:
            return CommandEntry(name: "xdel", arity: -3, flags: ["write", "fast"], categories: ["@write", "@stream", "@fast"],
                                summary: "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", since: "5.0.0",
                                group: "stream", complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
                                arguments: [("key", "key", false, false), ("id", "string", false, true)],
                                access: .key(1, .write)) { k, c, a in k.xdelCommand(c, a) }
        }
    }

    static func groupEntry(_ c: Command) -> CommandEntry {
        let write = ["write"]
        let cat = ["@write", "@stream", "@slow"]
        // Every one names its stream: XGROUP's subcommands after the subcommand, the others first.
        // Categories as Redis 7.0.15's: XACK, XCLAIM, XAUTOCLAIM are @fast, XREADGROUP @blocking.
        func spec(_ name: String, _ arity: Int, _ summary: String, _ args: [(String, String, Bool, Bool)] = [],
                  access: ArgumentAccess? = nil) -> CommandSpec {
            let categories = switch name {
            case "xack", "xclaim", "xautoclaim": ["@write", "@stream", "@fast"]
            case "xreadgroup": ["@write", "@stream", "@slow", "@blocking"]
            default: cat
            }
            return CommandSpec(name: name, arity: arity, flags: write, categories: categories, summary: summary, since: "5.0.0",
                        group: "stream", complexity: "O(log N)", arguments: args,
                        access: access ?? (name.hasPrefix("xgroup|") ? .key(2, .write) : .key(1, .write)))
        }
        switch c {
        case .xgroup:
            var s = CommandEntry(name: "xgroup", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for consumer groups commands", since: "5.0.0", group: "stream",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.xgroupCommand(c, a) }
            s.spec.subcommands = [
                spec("xgroup|create", -5, "Create a consumer group.", [("key", "key", false, false), ("group", "string", false, false), ("id", "string", false, false),
                                                                      ("MKSTREAM mkstream", "pure-token", true, false), ("ENTRIESREAD entries-read", "integer", true, false)]),
                spec("xgroup|createconsumer", 5, "Create a consumer in a consumer group.", [("key", "key", false, false), ("group", "string", false, false), ("consumer", "string", false, false)]),
                spec("xgroup|delconsumer", 5, "Delete a consumer from a consumer group.", [("key", "key", false, false), ("group", "string", false, false), ("consumer", "string", false, false)]),
                spec("xgroup|destroy", 4, "Destroy a consumer group.", [("key", "key", false, false), ("group", "string", false, false)]),
                spec("xgroup|setid", -5, "Set a consumer group to an arbitrary last delivered ID value.",
                     [("key", "key", false, false), ("group", "string", false, false), ("id", "string", false, false), ("ENTRIESREAD entries-read", "integer", true, false)]),
                CommandSpec(name: "xgroup|help", arity: 2, flags: ["loading", "stale"], categories: ["@stream", "@slow"],
                            summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "stream",
                            complexity: "O(1)", arguments: []),
            ]
            return s
        case .xreadgroup:
            return CommandEntry(spec("xreadgroup", -7, "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
                        [("GROUP group", "string", false, false), ("consumer", "string", false, false), ("COUNT count", "integer", true, false),
                         ("BLOCK milliseconds", "integer", true, false), ("NOACK noack", "pure-token", true, false),
                         ("STREAMS key", "key", false, true), ("id", "string", false, true)],
                        access: .streams(searchFrom: 4, .read))) { k, c, a in k.xreadgroupCommand(c, a) }
        case .xack:
            return CommandEntry(spec("xack", -4, "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group.",
                        [("key", "key", false, false), ("group", "string", false, false), ("id", "string", false, true)])) { k, c, a in k.xackCommand(c, a) }
        case .xpending:
            return CommandEntry(name: "xpending", arity: -3, flags: ["readonly"], categories: ["@read", "@stream", "@slow"],
                                summary: "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
                                since: "5.0.0", group: "stream", complexity: "O(N)",
                                arguments: [("key", "key", false, false), ("group", "string", false, false), ("IDLE min-idle-time", "integer", true, false),
                                           ("start", "string", true, false), ("end", "string", true, false), ("count", "integer", true, false),
                                           ("consumer", "string", true, false)], access: .key(1, .read)) { k, c, a in k.xpendingCommand(c, a) }
        case .xclaim:
            return CommandEntry(spec("xclaim", -6, "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
                        [("key", "key", false, false), ("group", "string", false, false), ("consumer", "string", false, false),
                         ("min-idle-time", "integer", false, false), ("id", "string", false, true), ("IDLE ms", "integer", true, false),
                         ("TIME unix-time-milliseconds", "integer", true, false), ("RETRYCOUNT count", "integer", true, false),
                         ("FORCE force", "pure-token", true, false), ("JUSTID justid", "pure-token", true, false), ("LASTID lastid", "string", true, false)])) { k, c, a in k.xclaimCommand(c, a) }
        default:
            return CommandEntry(spec("xautoclaim", -6, "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
                        [("key", "key", false, false), ("group", "string", false, false), ("consumer", "string", false, false),
                         ("min-idle-time", "integer", false, false), ("start", "string", false, false), ("COUNT count", "integer", true, false),
                         ("JUSTID justid", "pure-token", true, false)])) { k, c, a in k.xautoclaimCommand(c, a) }
        }
    }

    /// Redis 7.0.15's entries, word for word.
    static func transactionEntry(_ c: Command) -> CommandEntry {
        let quick = ["noscript", "loading", "stale", "fast", "allow_busy"]
        let cat = ["@fast", "@transaction"]
        switch c {
        case .multi:
            return CommandEntry(name: "multi", arity: 1, flags: quick, rules: [.runsInsideMulti], categories: cat,
                                summary: "Mark the start of a transaction block", since: "1.2.0", group: "transactions",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.multiCommand(c) }
        case .exec:
            return CommandEntry(name: "exec", arity: 1, flags: ["noscript", "loading", "stale", "skip_slowlog"],
                                rules: [.runsInsideMulti], categories: ["@slow", "@transaction"], summary: "Execute all commands issued after MULTI",
                                since: "1.2.0", group: "transactions", complexity: "Depends on commands in the transaction",
                                arguments: []) { k, c, _ in k.execCommand(c) }
        case .discard:
            return CommandEntry(name: "discard", arity: 1, flags: quick, rules: [.runsInsideMulti], categories: cat,
                                summary: "Discard all commands issued after MULTI", since: "2.0.0", group: "transactions",
                                complexity: "O(N), when N is the number of queued commands", arguments: []) { k, c, _ in k.discardCommand(c) }
        case .watch:
            return CommandEntry(name: "watch", arity: -2, flags: quick, rules: [.runsInsideMulti], categories: cat,
                                summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
                                since: "2.2.0", group: "transactions", complexity: "O(1) for every key.",
                                arguments: [("key", "key", false, true)], access: .keys(from: 1, .none)) { k, c, a in k.watchCommand(c, a) }
        default:
            return CommandEntry(name: "unwatch", arity: 1, flags: quick, categories: cat,
                                summary: "Forget about all watched keys", since: "2.2.0", group: "transactions",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.unwatchCommand(c) }
        }
    }

    /// Vimana's own commands, in Redis's categories (Protocol/AGENTS.md §3
    /// says why): a task is a stream entry of a consumer group, so ACK, NACK
    /// and PROGRESS are XACK's kin (`@write @stream @fast`) and name their
    /// topic as a key; joining and leaving are `@stream @slow`; AGENTS
    /// reads, as XINFO does (`@read @stream @slow`).
    static func agentEntry(_ c: Command) -> CommandEntry {
        let cat = ["@write", "@stream", "@fast"]
        switch c {
        case .agent:
            var s = CommandEntry(name: "agent", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "Agent instances and processes: JOIN, LEAVE, PS, START, STOP, RESTART", since: "0.1.0", group: "agent",
                                 complexity: "O(1)", arguments: []) { k, c, a in k.agentCommand(c, a) }
            s.spec.subcommands = [
                CommandSpec(name: "agent|join", arity: 3, flags: [], categories: ["@stream", "@slow"],
                            summary: "Make this connection an instance of a declared external agent", since: "0.1.0",
                            group: "agent", complexity: "O(1)", arguments: [("agent-id", "string", false, false)]),
                CommandSpec(name: "agent|leave", arity: 2, flags: [], categories: ["@stream", "@slow"],
                            summary: "Stop being an agent instance; held tasks are redelivered", since: "0.1.0",
                            group: "agent", complexity: "O(N) for N held tasks", arguments: []),
                CommandSpec(name: "agent|ps", arity: 2, flags: ["admin"], categories: ["@admin", "@slow", "@dangerous"],
                            summary: "List the supervised agents' processes with their state", since: "0.1.0",
                            group: "agent", complexity: "O(N) for N supervised agents", arguments: []),
                CommandSpec(name: "agent|start", arity: 3, flags: ["admin"], categories: ["@admin", "@slow", "@dangerous"],
                            summary: "Start a stopped or failed supervised agent's process", since: "0.1.0",
                            group: "agent", complexity: "O(1)", arguments: [("agent-id", "string", false, false)]),
                CommandSpec(name: "agent|stop", arity: 3, flags: ["admin"], categories: ["@admin", "@slow", "@dangerous"],
                            summary: "Stop a supervised agent's process until it is started", since: "0.1.0",
                            group: "agent", complexity: "O(1)", arguments: [("agent-id", "string", false, false)]),
                CommandSpec(name: "agent|restart", arity: 3, flags: ["admin"], categories: ["@admin", "@slow", "@dangerous"],
                            summary: "Restart a supervised agent's process", since: "0.1.0",
                            group: "agent", complexity: "O(1)", arguments: [("agent-id", "string", false, false)]),
            ]
            return s
        case .ack:
            return CommandEntry(name: "ack", arity: 3, flags: ["fast"], categories: cat, summary: "Acknowledge a task",
                                since: "0.1.0", group: "agent", complexity: "O(log N)",
                                arguments: [("topic", "string", false, false), ("id", "string", false, false)], access: .key(1, .write)) { k, c, a in k.ackCommand(c, a) }
        case .nack:
            var s = CommandEntry(name: "nack", arity: -3, flags: ["fast"], categories: cat,
                                 summary: "Give a task back for redelivery, optionally after a delay", since: "0.1.0",
                                 group: "agent", complexity: "O(log N)",
                                 arguments: [("topic", "string", false, false), ("id", "string", false, false),
                                            ("delay-ms", "integer", true, false)], access: .key(1, .write)) { k, c, a in k.nackCommand(c, a) }
            s.spec.maxArguments = 4
            return s
        case .progress:
            return CommandEntry(name: "progress", arity: 3, flags: ["fast"], categories: cat,
                                summary: "Restart a held task's ack_wait clock", since: "0.1.0", group: "agent",
                                complexity: "O(log N)", arguments: [("topic", "string", false, false), ("id", "string", false, false)],
                                access: .key(1, .write)) { k, c, a in k.progressCommand(c, a) }
        default:
            return CommandEntry(name: "agents", arity: 1, flags: [], categories: ["@read", "@stream", "@slow"],
                                summary: "List declared agents with status and counters", since: "0.1.0", group: "agent",
                                complexity: "O(N) for N agents", arguments: []) { k, c, _ in k.agentsCommand(c) }
        }
    }
}

extension CommandTable {
    /// ACL: Redis 7.0.15's entry, word for word (COMMAND DOCS acl).
    static func aclEntry() -> CommandEntry {
        let f = ["admin", "noscript"]
        let admin = ["@admin", "@slow", "@dangerous"]
        let open = ["noscript", "loading", "stale"]
        func sub(_ name: String, _ arity: Int, _ flags: [String], _ categories: [String], _ summary: String,
                 _ complexity: String, _ arguments: [(String, String, Bool, Bool)] = [], since: String = "6.0.0") -> CommandSpec {
            CommandSpec(name: "acl|" + name, arity: arity, flags: flags, categories: categories, summary: summary,
                        since: since, group: "server", complexity: complexity, arguments: arguments)
        }
        var s = CommandEntry(name: "acl", arity: -2, flags: [], categories: ["@slow"],
                             summary: "A container for Access List Control commands ", since: "6.0.0", group: "server",
                             complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.aclCommand(c, a) }
        s.spec.subcommands = [
            sub("cat", -2, open, ["@slow"], "List the ACL categories or the commands inside a category",
                "O(1) since the categories and commands are a fixed set.", [("categoryname", "string", true, false)]),
            sub("deluser", -3, f, admin, "Remove the specified ACL users and the associated rules",
                "O(1) amortized time considering the typical user.", [("username", "string", false, true)]),
            sub("dryrun", -4, f, admin, "Returns whether the user can execute the given command without executing the command.",
                "O(1).", [("username", "string", false, false), ("command", "string", false, false), ("arg", "string", true, true)],
                since: "7.0.0"),
            sub("genpass", -2, open, ["@slow"], "Generate a pseudorandom secure password to use for ACL users", "O(1)",
                [("bits", "integer", true, false)]),
            sub("getuser", 3, f, admin, "Get the rules for a specific ACL user",
                "O(N). Where N is the number of password, command and pattern rules that the user has.", [("username", "string", false, false)]),
            sub("list", 2, f, admin, "List the current ACL rules in ACL config file format", "O(N). Where N is the number of configured users."),
            sub("load", 2, f, admin, "Reload the ACLs from the configured ACL file", "O(N). Where N is the number of configured users."),
            sub("log", -2, f, admin, "List latest events denied because of ACLs in place", "O(N) with N being the number of entries shown.",
                [("count", "integer", true, false), ("RESET reset", "pure-token", true, false)]),
            sub("save", 2, f, admin, "Save the current ACL rules in the configured ACL file", "O(N). Where N is the number of configured users."),
            sub("setuser", -3, f, admin, "Modify or create the rules for a specific ACL user", "O(N). Where N is the number of rules provided.",
                [("username", "string", false, false), ("rule", "string", true, true)]),
            sub("users", 2, f, admin, "List the username of all the configured ACL rules", "O(N). Where N is the number of configured users."),
            sub("whoami", 2, open, ["@slow"], "Return the name of the user associated to the current connection", "O(1)"),
            sub("help", 2, ["loading", "stale"], ["@slow"], "Show helpful text about the different subcommands", "O(1)"),
        ]
        return s
    }
}

extension CommandTable {
    /// LEDGER: Vimana's own container for the ledger's housekeeping
    /// (Protocol/LEDGER.md §7). Every subcommand is an operator's
    /// (`@admin @slow @dangerous`, as ACL's that change things): an admin
    /// has them, and a user granted them (archivist's).
    static func ledgerEntry() -> CommandEntry {
        let f = ["admin", "noscript"]
        let admin = ["@admin", "@slow", "@dangerous"]
        func sub(_ name: String, _ arity: Int, _ summary: String, _ complexity: String,
                 _ arguments: [(String, String, Bool, Bool)] = []) -> CommandSpec {
            CommandSpec(name: "ledger|" + name, arity: arity, flags: f, categories: admin, summary: summary,
                        since: "0.1.0", group: "server", complexity: complexity, arguments: arguments)
        }
        var scan = sub("scan", -3, "Every record's metadata (topic, ID, publisher, size, time) from a cursor, in sequence order",
                       "O(N) for N records returned", [("cursor", "string", false, false), ("count", "integer", true, false)])
        scan.maxArguments = 5
        var s = CommandEntry(name: "ledger", arity: -2, flags: [], categories: ["@slow"],
                             summary: "A container for the ledger's housekeeping commands", since: "0.1.0", group: "server",
                             complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.ledgerCommand(c, a) }
        s.spec.subcommands = [
            sub("seal", 2, "Seal the active segment now and reply its name", "O(1)"),
            sub("retain", 2, "Apply retention now and reply the segments it retires", "O(N) for N segments"),
            sub("archives", 2, "List the archived segments", "O(N) for N archived segments"),
            sub("verify", 3, "Check every frame of an archived segment", "O(N) for N bytes of the segment",
                [("segment", "string", false, false)]),
            sub("restore", 3, "Copy an archived segment where the offline tools read it", "O(N) for N bytes of the segment",
                [("segment", "string", false, false)]),
            scan,
            sub("check", 2, "Check every frame of the ledger's segments as far as written", "O(N) for N bytes of the ledger"),
        ]
        return s
    }

    static func healthEntry() -> CommandEntry {
        let f = ["admin", "noscript"]
        let admin = ["@admin", "@slow", "@dangerous"]
        var s = CommandEntry(name: "health", arity: -2, flags: [], categories: ["@slow"],
                             summary: "A container for the problems an operator's agent reports to /health", since: "0.1.0",
                             group: "server", complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.healthCommand(c, a) }
        s.spec.subcommands = [
            CommandSpec(name: "health|report", arity: 4, flags: f, categories: admin,
                        summary: "Set a source's problem, shown by /health as degraded", since: "0.1.0", group: "server",
                        complexity: "O(1)", arguments: [("source", "string", false, false), ("problem", "string", false, false)]),
            CommandSpec(name: "health|clear", arity: 3, flags: f, categories: admin,
                        summary: "Clear a source's problem", since: "0.1.0", group: "server",
                        complexity: "O(1)", arguments: [("source", "string", false, false)]),
        ]
        return s
    }

    /// LICENSE: Vimana's own container for the users' licences (issue 13,
    /// civic). Every subcommand is `@admin @slow @dangerous`, as ACL
    /// GETUSER and SETUSER: an admin has them, another user only when
    /// granted them (`+license|set`: civic's user).
    static func licenseEntry() -> CommandEntry {
        let f = ["admin", "noscript"]
        let admin = ["@admin", "@slow", "@dangerous"]
        var set = CommandSpec(name: "license|set", arity: -4, flags: f, categories: admin,
                              summary: "Set a user's licence: a suspended or revoked user may publish only to tasks.supreme_court",
                              since: "0.1.0", group: "server", complexity: "O(N) for N connections",
                              arguments: [("username", "string", false, false), ("state", "string", false, false),
                                          ("reason", "string", true, false)])
        set.maxArguments = 5
        var s = CommandEntry(name: "license", arity: -2, flags: [], categories: ["@slow"],
                             summary: "A container for the users' licences", since: "0.1.0", group: "server",
                             complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.licenseCommand(c, a) }
        s.spec.subcommands = [
            set,
            CommandSpec(name: "license|get", arity: 3, flags: f, categories: admin,
                        summary: "Get a user's licence", since: "0.1.0", group: "server",
                        complexity: "O(1)", arguments: [("username", "string", false, false)]),
            CommandSpec(name: "license|list", arity: 2, flags: f, categories: admin,
                        summary: "List the licences that are not active", since: "0.1.0", group: "server",
                        complexity: "O(N) for N users with such a licence", arguments: []),
        ]
        return s
    }
}
