import VimanaRESP
import VimanaACL

extension CommandTable {
    /// Topics as keys (Kernel+Keys.swift): Redis 7.0.15's entries, word for
    /// word (COMMAND INFO and COMMAND DOCS of each), their key arguments
    /// with Redis's key-spec access (`RO` alone: a matching `~` pattern of
    /// any kind grants it). KEYS, SCAN, DBSIZE and RANDOMKEY take no key
    /// argument: as in Redis, key patterns do not filter what they list.
    static func keyEntry(_ c: Command) -> CommandEntry {
        let readFast = ["readonly", "fast"]
        let keyspaceFast = ["@keyspace", "@read", "@fast"]
        switch c {
        case .exists:
            return CommandEntry(name: "exists", arity: -2, flags: readFast, categories: keyspaceFast,
                                summary: "Determine if a key exists", since: "1.0.0", group: "generic",
                                complexity: "O(N) where N is the number of keys to check.",
                                arguments: [("key", "key", false, true)], access: .keys(from: 1, .none)) { k, c, a in k.existsCommand(c, a) }
        case .type:
            return CommandEntry(name: "type", arity: 2, flags: readFast, categories: keyspaceFast,
                                summary: "Determine the type stored at key", since: "1.0.0", group: "generic", complexity: "O(1)",
                                arguments: [("key", "key", false, false)], access: .key(1, .none)) { k, c, a in k.typeCommand(c, a) }
        case .keys:
            return CommandEntry(name: "keys", arity: 2, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow", "@dangerous"],
                                summary: "Find all keys matching the given pattern", since: "1.0.0", group: "generic",
                                complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
                                arguments: [("pattern", "pattern", false, false)]) { k, c, a in k.keysCommand(c, a) }
        case .scan:
            return CommandEntry(name: "scan", arity: -2, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow"],
                                summary: "Incrementally iterate the keys space", since: "2.8.0", group: "generic",
                                complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
                                arguments: [("cursor", "integer", false, false), ("MATCH pattern", "pattern", true, false),
                                            ("COUNT count", "integer", true, false), ("TYPE type", "string", true, false)]) { k, c, a in k.scanCommand(c, a) }
        case .dbsize:
            return CommandEntry(name: "dbsize", arity: 1, flags: readFast, categories: keyspaceFast,
                                summary: "Return the number of keys in the selected database", since: "1.0.0", group: "server",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.dbsizeCommand(c) }
        case .randomkey:
            return CommandEntry(name: "randomkey", arity: 1, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow"],
                                summary: "Return a random key from the keyspace", since: "1.0.0", group: "generic",
                                complexity: "O(1)", arguments: []) { k, c, _ in k.randomkeyCommand(c) }
        case .del:
            return CommandEntry(name: "del", arity: -2, flags: ["write"], categories: ["@keyspace", "@write", "@slow"],
                                summary: "Delete a key", since: "1.0.0", group: "generic",
                                complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
                                arguments: [("key", "key", false, true)], access: .keys(from: 1, .write)) { k, c, a in k.delCommand(c, a) }
        case .unlink:
            return CommandEntry(name: "unlink", arity: -2, flags: ["write", "fast"], categories: ["@keyspace", "@write", "@fast"],
                                summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
                                since: "4.0.0", group: "generic",
                                complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
                                arguments: [("key", "key", false, true)], access: .keys(from: 1, .write)) { k, c, a in k.delCommand(c, a) }
        case .flushall, .flushdb:
            let all = c == .flushall
            return CommandEntry(name: all ? "flushall" : "flushdb", arity: -1, flags: ["write"],
                                categories: ["@keyspace", "@write", "@slow", "@dangerous"],
                                summary: all ? "Remove all keys from all databases" : "Remove all keys from the current database",
                                since: "1.0.0", group: "server",
                                complexity: all ? "O(N) where N is the total number of keys in all databases"
                                    : "O(N) where N is the number of keys in the selected database",
                                arguments: [("ASYNC async", "pure-token", true, false), ("SYNC sync", "pure-token", true, false)]) { k, c, a in k.flushCommand(c, a) }
        case .touch:
            return CommandEntry(name: "touch", arity: -2, flags: readFast, categories: keyspaceFast,
                                summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.",
                                since: "3.2.1", group: "generic", complexity: "O(N) where N is the number of keys that will be touched.",
                                arguments: [("key", "key", false, true)], access: .keys(from: 1, .none)) { k, c, a in k.existsCommand(c, a) }
        case .object:
            let read = ["@keyspace", "@read", "@slow"]
            func sub(_ name: String, _ summary: String, since: String = "2.2.3") -> CommandSpec {
                CommandSpec(name: "object|" + name, arity: 3, flags: ["readonly"], categories: read, summary: summary, since: since,
                            group: "generic", complexity: "O(1)", arguments: [("key", "key", false, false)], access: .key(2, .none))
            }
            var s = CommandEntry(name: "object", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for object introspection commands", since: "2.2.3", group: "generic",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.objectCommand(c, a) }
            s.spec.subcommands = [
                sub("freq", "Get the logarithmic access frequency counter of a Redis object", since: "4.0.0"),
                sub("idletime", "Get the time since a Redis object was last accessed"),
                CommandSpec(name: "object|help", arity: 2, flags: ["loading", "stale"], categories: ["@keyspace", "@slow"],
                            summary: "Show helpful text about the different subcommands", since: "6.2.0", group: "generic",
                            complexity: "O(1)", arguments: []),
                sub("encoding", "Inspect the internal encoding of a Redis object"),
                sub("refcount", "Get the number of references to the value of the key"),
            ]
            return s
        default:
            var s = CommandEntry(name: "memory", arity: -2, flags: [], categories: ["@slow"],
                                 summary: "A container for memory diagnostics commands", since: "4.0.0", group: "server",
                                 complexity: "Depends on subcommand.", arguments: []) { k, c, a in k.memoryCommand(c, a) }
            s.spec.subcommands = [
                CommandSpec(name: "memory|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"],
                            summary: "Show helpful text about the different subcommands", since: "4.0.0", group: "server",
                            complexity: "O(1)", arguments: []),
                CommandSpec(name: "memory|usage", arity: -3, flags: ["readonly"], categories: ["@read", "@slow"],
                            summary: "Estimate the memory usage of a key", since: "4.0.0", group: "server",
                            complexity: "O(N) where N is the number of samples.",
                            arguments: [("key", "key", false, false), ("SAMPLES count", "integer", true, false)], access: .key(2, .none)),
            ]
            return s
        }
    }
}
