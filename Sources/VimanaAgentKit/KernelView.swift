import VimanaRESP

// MARK: - User API: reading the kernel before handle

/// A read-only kernel command whose reply a task needs: what
/// `AgentLogic.reads` names and the runtime sends (Protocol/AGENTS.md §10).
/// Reads change nothing; `command` is the one way to name a command that
/// does. The kernel checks each against the agent's user.
public struct KernelRead: Sendable, Hashable, CustomStringConvertible {
    /// The command and its arguments, as sent.
    public let arguments: [String]
    /// The user the command is sent for (`command(_:asIf:)`); nil: the agent's own.
    public let asIf: String?

    private init(_ arguments: [String], asIf: String? = nil) {
        self.arguments = arguments
        self.asIf = asIf
    }

    /// `INFO [section ...]` (no section: the default sections).
    public static func info(_ sections: String...) -> KernelRead { KernelRead(["INFO"] + sections) }
    /// `AGENTS`: every declared agent with its status and counters.
    public static let agents = KernelRead(["AGENTS"])
    /// `XRANGE topic start end COUNT count`, oldest first.
    public static func xrange(_ topic: String, from start: String = "-", to end: String = "+", count: Int) -> KernelRead {
        KernelRead(["XRANGE", topic, start, end, "COUNT", String(max(1, count))])
    }
    /// `XREVRANGE topic end start COUNT count`, newest first.
    public static func xrevrange(_ topic: String, from end: String = "+", to start: String = "-", count: Int) -> KernelRead {
        KernelRead(["XREVRANGE", topic, end, start, "COUNT", String(max(1, count))])
    }
    /// `XLEN topic`.
    public static func xlen(_ topic: String) -> KernelRead { KernelRead(["XLEN", topic]) }
    /// `ACL DRYRUN user command [arg ...]`: whether `user` may run the
    /// command (`+OK`, else the kernel's reason as a bulk string); nothing
    /// runs. How an agent answering for a caller checks the caller's rights
    /// rather than its own (the agent's user needs `+acl|dryrun`).
    public static func aclDryRun(_ user: String, _ command: [String]) -> KernelRead {
        KernelRead(["ACL", "DRYRUN", user] + command)
    }

    /// A command that changes the kernel, for an operator's agent whose
    /// actions are kernel commands allowed to its user alone (`AGENT
    /// RESTART <id>`, `LEDGER SEAL`…): sent like a read, in order, before
    /// `handle`, which sees its reply. It is sent at every delivery of a
    /// task not yet applied, so at least once: name it only once `reads`
    /// has decided the caller may (it sees the caller and the state), and
    /// prefer commands whose repetition is harmless. It must not write
    /// `events.<agent-id>` (the WATCH would fail the task's EXEC).
    public static func command(_ arguments: [String]) -> KernelRead { KernelRead(arguments) }

    /// `command` sent only if `caller` may run it itself: the runtime first
    /// asks `ACL DRYRUN <caller> <arguments…>`, and sends the command when
    /// the answer is `+OK`; otherwise the command's reply in the view is an
    /// error, `-NOPERM <DRYRUN's text>` (or DRYRUN's own error, `-ERR User
    /// '<caller>' not found`). So an agent whose user holds a command allowed
    /// to it alone lends it to no one the kernel would refuse it to. The
    /// agent's user needs `ACL DRYRUN` (`+acl|dryrun`).
    public static func command(_ arguments: [String], asIf caller: String) -> KernelRead { KernelRead(arguments, asIf: caller) }

    /// Commands that would change the agent's own connection (its user,
    /// protocol, transaction, WATCH, subscriptions, instance): the runtime
    /// never sends them as a read; `handle` sees `refusedText` instead.
    static let connectionCommands: Set<String> = ["AUTH", "HELLO", "RESET", "QUIT", "SELECT", "CLIENT", "MULTI", "EXEC",
                                                  "DISCARD", "WATCH", "UNWATCH", "SUBSCRIBE", "UNSUBSCRIBE",
                                                  "PSUBSCRIBE", "PUNSUBSCRIBE"]

    /// Whether sending this would change the agent's connection (AGENT JOIN
    /// and LEAVE too: the runtime's instance is the connection's).
    var changesConnection: Bool {
        guard let name = arguments.first?.uppercased() else { return true }
        if Self.connectionCommands.contains(name) { return true }
        return name == "AGENT" && arguments.count > 1 && ["JOIN", "LEAVE"].contains(arguments[1].uppercased())
    }

    /// Whether the kernel may take long to answer it, so the runtime sends
    /// it on its side connection (`AgentSideReader`) and goes on sending
    /// PROGRESS on the task connection meanwhile: the kernel runs no further
    /// command on a connection until such a read is answered. Every LEDGER
    /// subcommand (disk work on the ledger's maintenance or reader thread,
    /// or a wait for the writer), XREAD and XREADGROUP with BLOCK, and XRANGE
    /// or XREVRANGE of more than `AgentKitLimits.sideReadEntries` entries
    /// (or without COUNT). Every other read is sent on the task connection,
    /// which costs no thread hop.
    var mayBeSlow: Bool {
        guard let name = arguments.first?.uppercased() else { return false }
        switch name {
        case "LEDGER":
            return true
        case "XREAD", "XREADGROUP":
            // Blocking, or reading without a small COUNT (the kernel reads those on its reader thread too).
            if arguments.contains(where: { $0.uppercased() == "BLOCK" }) { return true }
            guard let c = arguments.firstIndex(where: { $0.uppercased() == "COUNT" }), c + 1 < arguments.count,
                  let n = Int(arguments[c + 1]) else { return true }
            return n > AgentKitLimits.sideReadEntries
        case "XINFO":
            return true
        case "XRANGE", "XREVRANGE":
            guard arguments.count == 6, arguments[4].uppercased() == "COUNT", let n = Int(arguments[5]) else { return true }
            return n > AgentKitLimits.sideReadEntries
        default:
            return false
        }
    }

    /// What `handle` sees for a read the runtime does not send.
    var refusedText: String {
        "ERR the agent kit does not send '\(arguments.first ?? "")' as a read: it would change the agent's connection"
    }

    public var description: String { arguments.joined(separator: " ") }

    /// The reply a read gets when its caller may not run it (`asIf`):
    /// `NOPERM` and DRYRUN's text.
    public static func refusal(_ dryRun: RESPValue) -> RESPValue {
        if case .error = dryRun { return dryRun }
        return .error("NOPERM " + (dryRun.bytes.map { String(decoding: $0, as: UTF8.self) } ?? "refused"))
    }
}

/// The kernel's replies to the reads a task named, as the runtime received
/// them just before `handle` (a snapshot: the kernel may have moved on).
public struct KernelView: Sendable {
    private var replies: [KernelRead: RESPValue]
    private var answers: [AgentAsk: AgentAnswer]

    /// A view with these replies and answers (a test's, or none: every read
    /// and every ask is missing).
    public init(_ replies: [KernelRead: RESPValue] = [:], answers: [AgentAsk: AgentAnswer] = [:]) {
        self.replies = replies
        self.answers = answers
    }

    /// What came of `ask` (`AgentLogic.asks`); nil when it was not asked.
    public func answer(_ ask: AgentAsk) -> AgentAnswer? { answers[ask] }

    /// The raw reply to `read`; nil when it was not read.
    public func reply(_ read: KernelRead) -> RESPValue? { replies[read] }

    /// The kernel's error text when it refused `read` (`-NOPERM …`); nil otherwise.
    public func error(_ read: KernelRead) -> String? {
        if case .error(let m)? = replies[read] { return m }
        return nil
    }

    /// INFO's `key:value` lines as a dictionary (section headers and blank
    /// lines skipped); nil when not read or refused.
    public func info(_ read: KernelRead) -> [String: String]? {
        let bytes: [UInt8]
        switch replies[read] {
        case .bulkString(let b)?: bytes = b
        case .verbatim(_, let b)?: bytes = b
        default: return nil
        }
        var out: [String: String] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            var l = line
            if l.last == UInt8(ascii: "\r") { l = l.dropLast() }
            guard l.first != UInt8(ascii: "#"), let colon = l.firstIndex(of: UInt8(ascii: ":")) else { continue }
            out[String(decoding: l[l.startIndex..<colon], as: UTF8.self)] = String(decoding: l[(colon + 1)...], as: UTF8.self)
        }
        return out
    }

    /// A reply that is an array of records (AGENTS: maps in RESP3, flat
    /// arrays in RESP2), each as its fields in order, values as text
    /// (integers in decimal, null as nil); nil when not read or refused.
    public func records(_ read: KernelRead) -> [[(String, String?)]]? {
        guard case .array(let items)? = replies[read] else { return nil }
        return items.map { item in
            var flat: [RESPValue] = []
            if case .map(let m) = item { for (k, v) in m { flat += [k, v] } } else { flat = item.elements ?? [] }
            var fields: [(String, String?)] = []
            var i = 0
            while i + 1 < flat.count {
                fields.append((Self.text(flat[i]) ?? "", Self.text(flat[i + 1])))
                i += 2
            }
            return fields
        }
    }

    /// The entries of an XRANGE or XREVRANGE reply, in the reply's order;
    /// nil when not read or refused.
    public func entries(_ read: KernelRead) -> [StreamEntry]? {
        guard case .array(let items)? = replies[read] else { return nil }
        var out: [StreamEntry] = []
        for item in items {
            guard let pair = item.elements, pair.count == 2, let id = pair[0].bytes else { continue }
            let fields = StreamEntry.pairs(pair[1])
            out.append(StreamEntry(id: String(decoding: id, as: UTF8.self), fields: fields))
        }
        return out
    }

    static func text(_ v: RESPValue) -> String? {
        switch v {
        case .bulkString(let b), .verbatim(_, let b): String(decoding: b, as: UTF8.self)
        case .simpleString(let s), .bigNumber(let s): s
        case .integer(let n): String(n)
        case .double(let d): String(d)
        case .boolean(let b): b ? "1" : "0"
        default: nil
        }
    }
}

/// One entry of a stream as XRANGE returns it: its ID and its fields in
/// order (with the kernel's `_publisher` last when the connection asked for
/// it, as the kit's does).
public struct StreamEntry: Sendable, Equatable {
    public var id: String
    public var fields: [(String, String)]

    public init(id: String, fields: [(String, String)]) {
        self.id = id
        self.fields = fields
    }

    /// The value of the first field named `name`.
    public subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }

    /// The kernel's `_publisher`: the user that appended the entry.
    public var publisher: String? { fields.last?.0 == "_publisher" ? fields.last?.1 : nil }

    public static func == (a: StreamEntry, b: StreamEntry) -> Bool {
        a.id == b.id && a.fields.map(\.0) == b.fields.map(\.0) && a.fields.map(\.1) == b.fields.map(\.1)
    }

    /// An entry's field/value list (a RESP3 map or a RESP2 flat array) as text pairs.
    static func pairs(_ v: RESPValue) -> [(String, String)] {
        var flat: [RESPValue] = []
        if case .map(let m) = v { for (k, x) in m { flat += [k, x] } } else { flat = v.elements ?? [] }
        var out: [(String, String)] = []
        var i = 0
        while i + 1 < flat.count {
            out.append((String(decoding: flat[i].bytes ?? [], as: UTF8.self), String(decoding: flat[i + 1].bytes ?? [], as: UTF8.self)))
            i += 2
        }
        return out
    }
}

