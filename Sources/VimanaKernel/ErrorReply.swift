import VimanaAgents

/// Redis's error replies, word for word as redis-server 7.0.15 sends them
/// (RedisParityTests compare them), each named once, and the agent
/// protocol's (Protocol/AGENTS.md §3), and the ledger's refusal that three
/// commands share. Vimana's other errors (the ledger, streams' own limits)
/// are written where they are raised; every error, of either kind, is listed
/// in Protocol/PROTOCOL.md §8.
enum ErrorReply {
    // MARK: - Dispatch

    /// Redis's text: the name and the first arguments, each quoted, cut at 128 bytes.
    static func unknownCommand(_ name: String, argumentsQuoted: String) -> String {
        "ERR unknown command '\(name)', with args beginning with: \(argumentsQuoted)"
    }

    static func wrongArity(_ name: String) -> String {
        "ERR wrong number of arguments for '\(name)' command"
    }

    static func unknownSubcommand(_ word: String, container: String) -> String {
        "ERR unknown subcommand '\(word)'. Try \(container) HELP."
    }

    /// A subcommand whose extra arguments Redis checks in its handler (PUBSUB CHANNELS).
    static func unknownSubcommandOrArity(_ word: String, container: String) -> String {
        "ERR unknown subcommand or wrong number of arguments for '\(word)'. Try \(container) HELP."
    }

    /// SLOWLOG GET's count below -1 or not a number (Redis's text for both).
    static let slowlogCount = "ERR count should be greater than or equal to -1"

    /// LATENCY GRAPH of an event without samples.
    static func noLatencySamples(_ event: String) -> String {
        "ERR No samples available for event '\(event)'"
    }

    static let noAuth = "NOAUTH Authentication required."

    /// Redis 7.0.15's -NOPERM for a command refused by the user's rules.
    static func noPermission(_ denial: ACLRefusal) -> String {
        switch denial {
        case .command(let name): "NOPERM this user has no permissions to run the '\(name)' command"
        case .key: "NOPERM this user has no permissions to access one of the keys used as arguments"
        case .channel: "NOPERM this user has no permissions to access one of the channels used as arguments"
        }
    }

    /// A queued command the rules refuse at EXEC (they changed since it was queued).
    static func noPermissionAtExec(_ denial: ACLRefusal) -> String {
        let reason = switch denial {
        case .command: "no permission to execute the command or subcommand"
        case .key: "no permission to touch the specified keys"
        case .channel: "no permission to access one of the channels used as arguments"
        }
        return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. "
            + "This command is no longer allowed for the following reason: \(reason)"
    }

    /// Sent, as Redis sends it, to a client refused by protected mode
    /// (Kernel+Exposure.swift) before the connection is closed. Its advice
    /// is Redis's; for Vimana, PROTOCOL.md §4.2 says what to set instead.
    static let protectedModeDenied: StaticString = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

    /// A `no_multi` command (SHUTDOWN) between MULTI and EXEC.
    static let notInTransaction = "ERR Command not allowed inside a transaction"
    /// SHUTDOWN ABORT: a shutdown, once begun, reads no more commands.
    static let noShutdown = "ERR No shutdown in progress."

    static func notAllowedWhileSubscribed(_ fullName: String) -> String {
        "ERR Can't execute '\(fullName)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    }

    // MARK: - Arguments

    static let syntax = "ERR syntax error"
    static let notInteger = "ERR value is not an integer or out of range"
    static let timeoutNotInteger = "ERR timeout is not an integer or out of range"
    static let timeoutNegative = "ERR timeout is negative"

    // MARK: - Transactions

    static let nestedMulti = "ERR MULTI calls can not be nested"
    /// SSUBSCRIBE run by EXEC: Redis 7.0's text (a transaction's client is
    /// one that may not block, and SSUBSCRIBE checks that; SUBSCRIBE does not).
    static let shardSubscribeInTransaction = "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client"
    static let execWithoutMulti = "ERR EXEC without MULTI"
    static let discardWithoutMulti = "ERR DISCARD without MULTI"
    static let watchInsideMulti = "ERR WATCH inside MULTI is not allowed"
    static let execAbortAfterErrors = "EXECABORT Transaction discarded because of previous errors."

    /// An EXEC refused before it runs: the refusal's text without its `ERR `
    /// code (Redis's execCommandAbort), other codes kept (`NOAUTH …`).
    static func execAbort(_ refusal: String) -> String {
        let reason = refusal.hasPrefix("ERR ") ? String(refusal.dropFirst(4)) : refusal
        return "EXECABORT Transaction discarded because of: \(reason)"
    }

    // MARK: - Connections

    static let protocolVersionNotInteger = "ERR Protocol version is not an integer or out of range"
    static let unsupportedProtocol = "NOPROTO unsupported protocol version"
    static let helloBeforeAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    static let authWithoutPassword = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    static let wrongPass = "WRONGPASS invalid username-password pair or user is disabled."
    static let notInt32 = "ERR value is out of range, value must between -2147483648 and 2147483647"
    static let dbIndexOutOfRange = "ERR DB index is out of range"
    static let invalidClientID = "ERR Invalid client ID"
    static let noSuchClient = "ERR No such client"

    // MARK: - ACL

    static let defaultUserUndeletable = "ERR The 'default' user cannot be removed"
    static let userNameWithSpaces = "ERR Usernames can't contain spaces or null characters"
    /// ACL SETUSER of an `agent:` name the kernel did not make: that prefix
    /// is the declared agents' own (Protocol/AGENTS.md §9), so that a user
    /// made at run time cannot become a later agent's identity.
    static let agentUserNotMade = "ERR user names beginning with 'agent:' are made by the kernel for the agents declared in phoenix.yaml"
    static let noACLFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."
    static let genpassBits = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"

    static func unknownCategory(_ name: String) -> String { "ERR Unknown category '\(name)'" }

    static func helloOptionSyntax(_ option: String) -> String {
        "ERR Syntax error in HELLO option '\(option)'"
    }

    /// CLIENT SETINFO's attribute other than LIB-NAME, LIB-VER.
    static func unrecognizedOption(_ option: String) -> String {
        "ERR Unrecognized option '\(option)'"
    }

    /// `attribute`: lib-name or lib-ver.
    static func invalidLibraryInfo(_ attribute: String) -> String {
        "ERR \(attribute) cannot contain spaces, newlines or special characters."
    }

    static let invalidClientName = "ERR Client names cannot contain spaces, newlines or special characters."
    static let clientIDNotPositive = "ERR client-id should be greater than 0"
    /// MONITOR inside EXEC (Redis: a client that expects one reply per command).
    static let monitorInTransaction = "ERR MONITOR isn't allowed for DENY BLOCKING client"

    /// CLIENT KILL USER of a user that does not exist.
    static func noSuchUser(_ name: String) -> String { "ERR No such user '\(name)'" }

    static func unknownClientType(_ type: String) -> String {
        "ERR Unknown client type '\(type)'"
    }

    // MARK: - Streams

    static let invalidStreamID = "ERR Invalid stream ID specified as stream command argument"
    static let noSuchKey = "ERR no such key"
    static let invalidStartID = "ERR invalid start ID for the interval"
    static let invalidEndID = "ERR invalid end ID for the interval"
    /// XREAD given `>`.
    static let newIDOutsideGroup =
        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
    /// XREADGROUP given `$`.
    static let lastIDInGroup =
        "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
    /// XREAD and XREADGROUP alike: Redis 7.0 names XREAD and `$` in both.
    static let unbalancedXRead = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
    static let groupOutsideXReadGroup = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
    static let noAckOutsideXReadGroup = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
    static let missingGroup = "ERR Missing GROUP option for XREADGROUP"

    // MARK: - Keys

    static let wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
    /// SCAN's cursor is not what strtoul reads whole (Redis's text).
    static let invalidCursor = "ERR invalid cursor"
    /// OBJECT FREQ of a key: Redis's text under its default maxmemory-policy;
    /// Vimana has no LFU policy at all.
    static let lfuNotSelected = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    /// OBJECT IDLETIME of a topic: reads leave no trace on a topic.
    static let idleTimeNotTracked = "ERR OBJECT IDLETIME is not supported: vimana does not record when a topic was last read"

    /// A Redis command for another key type (ForeignCommands.swift):
    /// `name` lower case, `kind` its type (`string`, `hash`, `sorted set` …).
    static func onlyStreams(_ name: String, kind: String) -> String {
        "ERR vimana keeps only streams (topics): '\(name)' is a \(kind) command; a topic is written with XADD or PUBLISH and read with XRANGE, XREAD or XREADGROUP"
    }

    // MARK: - Consumer groups

    static let busyGroup = "BUSYGROUP Consumer Group name already exists"
    static let xgroupNeedsKey = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
    static let entriesReadRange = "ERR value for ENTRIESREAD must be positive or -1"
    static let autoclaimCount = "ERR COUNT must be > 0"

    /// XPENDING, XCLAIM, XAUTOCLAIM; XREADGROUP adds `in`: "XREADGROUP with GROUP option".
    static func noSuchKeyOrGroup(_ key: String, group: String, in command: String? = nil) -> String {
        "NOGROUP No such key '\(key)' or consumer group '\(group)'" + (command.map { " in \($0)" } ?? "")
    }

    /// XGROUP SETID, CREATECONSUMER, DELCONSUMER and XINFO CONSUMERS.
    static func noSuchGroup(_ group: String, key: String) -> String {
        "NOGROUP No such consumer group '\(group)' for key name '\(key)'"
    }

    /// `what`: `min-idle-time`, `RETRYCOUNT option`, `IDLE option`, `TIME option`.
    static func invalidArgument(_ what: String, of command: String) -> String {
        "ERR Invalid \(what) argument for \(command)"
    }

    static func unrecognizedXClaimOption(_ option: String) -> String {
        "ERR Unrecognized XCLAIM option '\(option)'"
    }

    // MARK: - Ledger (Vimana's own: Protocol/PROTOCOL.md §8)

    /// LEDGER has no HELP: the usage is the hint.
    static func unknownLedgerSubcommand(_ word: String) -> String {
        "ERR unknown subcommand '\(word)'. Try LEDGER SEAL, RETAIN, ARCHIVES, VERIFY <segment>, RESTORE <segment>, SCAN <cursor> [COUNT n] or CHECK."
    }

    /// LEDGER SCAN's cursor is not a sequence number (nor `$`).
    static let badScanCursor = "ERR invalid LEDGER SCAN cursor (a sequence number from 0, or $)"

    /// LEDGER SCAN's cursor lies past every sequence the ledger has given.
    static func scanCursorBeyondEnd(_ cursor: Int, _ next: UInt64) -> String {
        "ERR LEDGER SCAN cursor \(cursor) is beyond the ledger's end (next sequence \(next))"
    }

    static func scanCountRange(_ max: Int) -> String { "ERR LEDGER SCAN COUNT must be from 1 to \(max)" }

    /// A frame could not be read and nothing before it was: the same call again reads past it.
    static func scanUnreadable(_ problem: String) -> String {
        "ERR LEDGER SCAN could not read the ledger (try again): \(problem)"
    }

    /// LEDGER's subcommands that answer later (all but RETAIN) inside MULTI.
    static func ledgerInTransaction(_ sub: String) -> String {
        "ERR LEDGER \(sub) cannot run inside MULTI (its reply comes once the disk work is done)"
    }

    // MARK: - Health reports (Vimana's own: Protocol/PROTOCOL.md §6)

    /// HEALTH has no HELP: the usage is the hint.
    static func unknownHealthSubcommand(_ word: String) -> String {
        "ERR unknown subcommand '\(word)'. Try HEALTH REPORT <source> <problem> or HEALTH CLEAR <source>."
    }

    static func badHealthSource(_ source: String) -> String {
        "ERR invalid health source '\(source)' (1 to \(HealthReports.sourceBytes) characters from a-z, 0-9, '_', '.', '-')"
    }

    static let badHealthProblem = "ERR a health problem is 1 to \(HealthReports.problemBytes) bytes"

    static let tooManyHealthSources = "ERR too many health sources (\(HealthReports.maxSources)): clear one first"

    // MARK: - Licences (Vimana's own: Protocol/PROTOCOL.md §6)

    /// LICENSE has no HELP: the usage is the hint.
    static func unknownLicenseSubcommand(_ word: String) -> String {
        "ERR unknown subcommand '\(word)'. Try LICENSE SET <user> ACTIVE|SUSPENDED|REVOKED [reason], LICENSE GET <user> or LICENSE LIST."
    }

    /// LICENSE SET, GET of a user that does not exist; ACL DRYRUN's (Redis's text).
    static func userNotFound(_ name: String) -> String { "ERR User '\(name)' not found" }

    static func badLicenseState(_ word: String) -> String {
        "ERR invalid licence state '\(word)' (ACTIVE, SUSPENDED or REVOKED)"
    }

    static let licenseNeedsReason = "ERR a SUSPENDED or REVOKED licence needs a reason"

    static let badLicenseReason = "ERR a licence reason is 1 to \(Licenses.reasonBytes) bytes of UTF-8 text without control characters"

    static let licenseNotRecorded = "ERR the ledger refused the licence change (it would not survive a restart); nothing was changed"

    /// A publish by a user whose licence is suspended or revoked, to a
    /// topic other than the court's: the one text, at once or at EXEC.
    static func licenseRefusal(user: String, _ state: LicenseState, reason: String) -> String {
        "NOPERM user '\(user)' is \(state.rawValue) (\(reason)): it may publish only to \(Licenses.courtTopic)"
    }

    // MARK: - Agents (Vimana's own: Protocol/AGENTS.md §3)

    /// AGENT has no HELP: the usage is the hint.
    static func unknownAgentSubcommand(_ word: String) -> String {
        "ERR unknown subcommand '\(word)'. Try AGENT JOIN <agent-id>, AGENT LEAVE, AGENT PS, AGENT START <agent-id>, AGENT STOP <agent-id> or AGENT RESTART <agent-id>."
    }

    /// AGENT STOP|START|RESTART of an agent whose process the kernel does
    /// not run: built in, disabled, or without `command`.
    static func notSupervised(_ id: String) -> String {
        "ERR agent '\(id)' has no process the kernel supervises (built in, disabled, or without command)"
    }

    /// AGENT STOP of a system agent: its absence would be silent.
    static func systemAgentNotStopped(_ id: String) -> String {
        "ERR agent '\(id)' is a system agent: it may be restarted, not stopped (set system.\(id).enabled: false)"
    }

    static func processAlreadyRunning(_ id: String) -> String { "ERR agent '\(id)' is already running" }
    static func processAlreadyStopped(_ id: String) -> String { "ERR agent '\(id)' is already stopped" }
    static func processStopping(_ id: String) -> String {
        "ERR agent '\(id)' is stopping: start it once it has exited (AGENT PS)"
    }

    static func joinRefused(_ refusal: JoinRefusal, agent id: String) -> String {
        switch refusal {
        case .unknownAgent: "ERR unknown agent '\(id)' (declare it under agents: in phoenix.yaml)"
        case .disabled: "ERR agent '\(id)' is disabled"
        case .builtIn: "ERR agent '\(id)' is built in"
        case .alreadyInstance: "ERR this connection is already an agent instance (AGENT LEAVE first)"
        }
    }

    static let notAgentInstance = "ERR this connection is not an agent instance"

    /// AGENT JOIN by a user that is neither the agent's nor an admin
    /// (Protocol/AGENTS.md §9), in the words of Redis's -NOPERM.
    static func mayNotJoinAgent(_ id: String) -> String {
        "NOPERM this user has no permissions to join agent '\(id)'"
    }

    /// XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, XGROUP on a group named by an
    /// agent's id, by a user that is neither the agent's nor an admin.
    static func mayNotUseAgentGroup(_ id: String) -> String {
        "NOPERM this user has no permissions to use the consumer groups of agent '\(id)'"
    }
    static let nackDelay = "ERR NACK delay must be an integer from 0 to \(KernelConstants.maxNackDelayMillis) (milliseconds)"

    /// `refusal`: `AgentRuntime.publishRefusal`'s text (also a built-in's failure).
    static func agentMayNotPublish(_ id: String, refusal: String) -> String {
        "ERR agent '\(id)' \(refusal)"
    }
}
