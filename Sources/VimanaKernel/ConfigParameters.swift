import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// The settings that change while the server runs (CONFIG SET, SIGHUP),
/// as one value: a change is made on a copy, checked whole, then applied
/// at once (`Kernel.apply`), so that a CONFIG SET of several parameters
/// takes all or none, as Redis's.
struct LiveSettings: Equatable {
    var limits: Limits
    /// `client-output-buffer-limit`'s `slave` class: Vimana has no replicas,
    /// so it limits nothing; kept so that CONFIG GET echoes what was set,
    /// from Redis's default (`slave 256mb 64mb 60`).
    var replicaOutput = OutputLimit(hard: 256 << 20, soft: 64 << 20, seconds: 60)
    var logLevel: LogLevel
    var logFormat: LogFormat
    var protectedMode: Bool
    var keyspaceEvents: KeyspaceEvents = []
    var retentionMaxAgeSeconds: Int
    var retentionMaxBytes: Int

    init(_ config: Configuration) {
        limits = config.kernel.limits
        logLevel = config.logging.level
        logFormat = config.logging.format
        protectedMode = config.kernel.protectedMode
        retentionMaxAgeSeconds = config.ledger.retentionMaxAgeSeconds
        retentionMaxBytes = config.ledger.retentionMaxBytes
    }
}

/// One class of `client-output-buffer-limit`.
struct OutputLimit: Equatable {
    var hard: Int, soft: Int, seconds: Int
}

/// A CONFIG SET (or a reload) in the making: the settings as they will be,
/// and what else to do once every parameter is accepted (parameters that
/// live outside `LiveSettings`, as the slow log's).
struct ConfigChange {
    var settings: LiveSettings
    var kernelWork: [(Kernel) -> Void] = []
}

/// One CONFIG parameter: its names, how CONFIG GET reads it, how CONFIG SET
/// checks and stages a value (nil: it cannot change while the server runs),
/// and which phoenix.yaml keys it stands for (SIGHUP applies them through
/// `set`, with the value `fromFile` makes of the reloaded file).
struct ConfigParameter: Sendable {
    let name: String
    var aliases: [String] = []
    let get: @Sendable (Kernel) -> String
    /// Checks `value` and stages it in the change; the reason when refused
    /// (Redis's text, after `CONFIG SET failed (possibly related to argument '…') - `).
    var set: (@Sendable (inout ConfigChange, String, Kernel) -> String?)? = nil
    /// Why `set` is nil, in Redis's words unless ours must say more.
    var refusal = ConfigParameter.immutable
    /// The phoenix.yaml keys whose value this parameter is.
    var keys: [String] = []
    /// This parameter's value, as CONFIG SET takes it, in a loaded configuration.
    var fromFile: (@Sendable (Configuration) -> String)? = nil
    /// Never logged (its old and new values are shown as `(hidden)`).
    var sensitive = false

    static let immutable = "can't set immutable config"

    /// This parameter read from phoenix.yaml's `key` too (SIGHUP's reload).
    func file(_ key: String, _ value: @escaping @Sendable (Configuration) -> String) -> ConfigParameter {
        var p = self
        p.keys = [key]
        p.fromFile = value
        return p
    }

    /// An integer parameter held by the kernel outside `LiveSettings` (the
    /// slow log's, the latency monitor's): Redis's parsing and range error,
    /// then `apply` once every parameter of the CONFIG SET is accepted.
    /// One line in `Kernel.configTable` adds one.
    static func integer(_ name: String, _ range: ClosedRange<Int>, get: @escaping @Sendable (Kernel) -> Int,
                        apply: @escaping @Sendable (Kernel, Int) -> Void) -> ConfigParameter {
        ConfigParameter(name: name, get: { String(get($0)) }, set: { change, value, _ in
            switch ConfigValue.integer(value, range) {
            case .failure(let reason): return reason.text
            case .success(let n):
                change.kernelWork.append { apply($0, n) }
                return nil
            }
        })
    }
}

/// CONFIG SET's value parsers, with Redis 7.0's error texts (config.c).
enum ConfigValue {
    struct Refusal: Error { let text: String }

    static func outOfRange(_ range: ClosedRange<Int>) -> Refusal {
        Refusal(text: "argument must be between \(range.lowerBound) and \(range.upperBound) inclusive")
    }

    /// A plain integer, as Redis's string2ll (no sign but `-`, no spaces,
    /// no leading zeros), within `range`.
    static func integer(_ text: String, _ range: ClosedRange<Int>) -> Result<Int, Refusal> {
        var text = text
        guard let n = text.withUTF8({ b in b.baseAddress.flatMap { Decimal.parse($0, b.count) } }) else {
            return .failure(Refusal(text: "argument couldn't be parsed into an integer"))
        }
        return range.contains(n) ? .success(n) : .failure(outOfRange(range))
    }

    /// A size, as Redis's memtoull: digits and an optional unit (`b`, `k`
    /// 1000, `kb` 1024, `m`, `mb`, `g`, `gb`, any case), within `range`.
    static func memory(_ text: String, _ range: ClosedRange<Int>) -> Result<Int, Refusal> {
        guard let n = memtoull(text) else { return .failure(Refusal(text: "argument must be a memory value")) }
        return n <= UInt64(Int.max) && range.contains(Int(n)) ? .success(Int(n)) : .failure(outOfRange(range))
    }

    /// Redis's memtoull; nil where it reports an error. Saturates where C
    /// would wrap, so that a huge value is out of range rather than small.
    static func memtoull(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        let digits = bytes.prefix { $0 >= 48 && $0 <= 57 }
        let unit = String(decoding: bytes[digits.count...], as: UTF8.self).lowercased()
        let multiplier: UInt64
        switch unit {
        case "", "b": multiplier = 1
        case "k": multiplier = 1000
        case "kb": multiplier = 1024
        case "m": multiplier = 1000 * 1000
        case "mb": multiplier = 1024 * 1024
        case "g": multiplier = 1000 * 1000 * 1000
        case "gb": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        // As strtoull over the digits: none is 0; more than 20 is refused (Redis's buffer).
        guard digits.count < 128 else { return nil }
        var value: UInt64 = 0
        for d in digits {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d - 48))
            if o1 || o2 { return UInt64.max }
            value = a
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? UInt64.max : product
    }

    /// Redis's yes/no.
    static func boolean(_ text: String) -> Result<Bool, Refusal> {
        switch text.lowercased() {
        case "yes": .success(true)
        case "no": .success(false)
        default: .failure(Refusal(text: "argument must be 'yes' or 'no'"))
        }
    }

    /// One of `names` (any case), as Redis's enum configs.
    static func oneOf<T>(_ text: String, _ names: [(String, T)]) -> Result<T, Refusal> {
        let lower = text.lowercased()
        if let hit = names.first(where: { $0.0 == lower }) { return .success(hit.1) }
        return .failure(Refusal(text: "argument(s) must be one of the following: " + names.map(\.0).joined(separator: ", ")))
    }
}

// MARK: - The table

extension Kernel {
    /// Every CONFIG parameter, in CONFIG GET's order: Redis's names where
    /// Redis has the setting (tools like redis-benchmark ask for `save` and
    /// `appendonly`), Vimana's own otherwise. CONFIG GET, CONFIG SET and
    /// SIGHUP's reload all read this one table.
    static let configTable: [ConfigParameter] = [
        ConfigParameter(name: "bind", get: { $0.config.kernel.bind }, keys: ["kernel.bind"]),
        ConfigParameter(name: "port", get: { String($0.port) }, keys: ["kernel.port"]),
        ConfigParameter(name: "http-port", get: { String($0.httpPort) }, keys: ["kernel.http_port"]),
        ConfigParameter(
            name: "maxclients", get: { String($0.s.pointee.limits.maxClients) },
            set: { change, value, _ in
                Kernel.setInteger(value, Limits.maxClientsRange) { change.settings.limits.maxClients = $0 }
            },
            keys: ["kernel.limits.max_clients"], fromFile: { String($0.kernel.limits.maxClients) }),
        ConfigParameter(
            name: "proto-max-bulk-len", get: { String($0.s.pointee.limits.maxPayload) },
            set: { change, value, _ in
                Kernel.setMemory(value, Limits.maxPayloadRange) { change.settings.limits.maxPayload = $0 }
            },
            keys: ["kernel.limits.max_payload"], fromFile: { String($0.kernel.limits.maxPayload) }),
        ConfigParameter(
            name: "proto-inline-max-size", get: { String($0.s.pointee.limits.maxInline) },
            set: { change, value, _ in
                Kernel.setMemory(value, Limits.maxInlineRange) { change.settings.limits.maxInline = $0 }
            },
            keys: ["kernel.limits.max_inline"], fromFile: { String($0.kernel.limits.maxInline) }),
        ConfigParameter(
            name: "client-query-buffer-limit", get: { String($0.s.pointee.limits.queryBuffer) },
            set: { change, value, _ in
                Kernel.setMemory(value, Limits.queryBufferRange) { change.settings.limits.queryBuffer = $0 }
            },
            keys: ["kernel.limits.query_buffer"], fromFile: { String($0.kernel.limits.queryBuffer) }),
        ConfigParameter(
            name: "query-buffer-before-auth", get: { String($0.s.pointee.limits.queryBufferBeforeAuth) },
            set: { change, value, _ in
                Kernel.setMemory(value, Limits.queryBufferBeforeAuthRange) { change.settings.limits.queryBufferBeforeAuth = $0 }
            },
            keys: ["kernel.limits.query_buffer_before_auth"], fromFile: { String($0.kernel.limits.queryBufferBeforeAuth) }),
        ConfigParameter(
            name: "client-output-buffer-limit", get: { Kernel.outputLimitsText($0.s.pointee.settings) },
            set: { change, value, _ in Kernel.setOutputLimits(value, &change.settings) },
            keys: ["kernel.limits.pubsub_output.hard", "kernel.limits.pubsub_output.soft",
                   "kernel.limits.pubsub_output.soft_seconds", "kernel.limits.normal_output.hard",
                   "kernel.limits.normal_output.soft", "kernel.limits.normal_output.soft_seconds"],
            fromFile: { config in
                let l = config.kernel.limits
                return "normal \(l.normalOutputHard) \(l.normalOutputSoft) \(l.normalOutputSoftSeconds) "
                    + "pubsub \(l.pubsubOutputHard) \(l.pubsubOutputSoft) \(l.pubsubOutputSoftSeconds)"
            }),
        // The default user's password is a user's, and users are phoenix.yaml's
        // and ACL SETUSER's (which the ledger records): a second way in
        // that neither records would be a password nobody can audit.
        ConfigParameter(name: "requirepass", get: { $0.config.kernel.password == nil ? "" : "(set; not shown)" },
                        refusal: "the default user's password is set by kernel.password or users: in phoenix.yaml, "
                            + "or by ACL SETUSER default (recorded in the ledger); CONFIG SET would bypass both",
                        keys: ["kernel.password"], sensitive: true),
        ConfigParameter(
            name: "protected-mode", get: { $0.s.pointee.settings.protectedMode ? "yes" : "no" },
            set: { change, value, _ in
                switch ConfigValue.boolean(value) {
                case .failure(let r): return r.text
                case .success(let b): change.settings.protectedMode = b; return nil
                }
            },
            keys: ["kernel.protected_mode"], fromFile: { $0.kernel.protectedMode ? "yes" : "no" }),
        ConfigParameter(name: "save", get: { _ in "" }),
        ConfigParameter(name: "appendonly", get: { _ in "no" }),
        ConfigParameter(name: "databases", get: { _ in "1" }),
        // Vimana closes no idle client: 0, Redis's default, is the one value.
        ConfigParameter(name: "timeout", get: { _ in "0" }, set: { _, value, _ in
            switch ConfigValue.integer(value, 0...Int(Int32.max)) {
            case .failure(let r): return r.text
            case .success(let n): return n == 0 ? nil : "Vimana closes no idle client: timeout is always 0"
            }
        }),
        ConfigParameter(
            name: "loglevel", get: { $0.s.pointee.settings.logLevel.name },
            set: { change, value, _ in
                switch ConfigValue.oneOf(value, Kernel.logLevelNames) {
                case .failure(let r): return r.text
                case .success(let level): change.settings.logLevel = level; return nil
                }
            },
            keys: ["logging.level"], fromFile: { $0.logging.level.name }),
        ConfigParameter(
            name: "log-format", get: { $0.s.pointee.settings.logFormat.rawValue },
            set: { change, value, _ in
                switch ConfigValue.oneOf(value, [("text", LogFormat.text), ("json", LogFormat.json)]) {
                case .failure(let r): return r.text
                case .success(let format): change.settings.logFormat = format; return nil
                }
            },
            keys: ["logging.format"], fromFile: { $0.logging.format.rawValue }),
        ConfigParameter(
            name: "notify-keyspace-events", get: { $0.s.pointee.settings.keyspaceEvents.text },
            set: { change, value, _ in
                guard let events = KeyspaceEvents(parsing: value) else {
                    return "Invalid event class character. Use '\(KeyspaceEvents.letters)'."
                }
                change.settings.keyspaceEvents = events
                return nil
            }),
        ConfigParameter(
            name: "ledger-retention-max-age", get: { String($0.s.pointee.settings.retentionMaxAgeSeconds) },
            set: { change, value, kernel in
                guard kernel.ledger != nil else { return Kernel.ledgerOff }
                return Kernel.setInteger(value, LedgerConfig.retentionSecondsRange) { change.settings.retentionMaxAgeSeconds = $0 }
            },
            keys: ["ledger.retention.max_age"], fromFile: { String($0.ledger.retentionMaxAgeSeconds) }),
        ConfigParameter(
            name: "ledger-retention-max-bytes", get: { String($0.s.pointee.settings.retentionMaxBytes) },
            set: { change, value, kernel in
                guard kernel.ledger != nil else { return Kernel.ledgerOff }
                return Kernel.setMemory(value, 0...Int.max) { change.settings.retentionMaxBytes = $0 }
            },
            keys: ["ledger.retention.max_bytes"], fromFile: { String($0.ledger.retentionMaxBytes) }),
        .integer("slowlog-log-slower-than", -1...Int.max, get: { $0.s.pointee.slowlogLogSlowerThan },
                 apply: { k, n in try? k.setSlowlogLogSlowerThan(n) })
            .file("kernel.slowlog_log_slower_than") { String($0.kernel.slowlogLogSlowerThan) },
        .integer("slowlog-max-len", 0...Int.max, get: { $0.s.pointee.slowlogMaxLen }, apply: { k, n in try? k.setSlowlogMaxLen(n) })
            .file("kernel.slowlog_max_len") { String($0.kernel.slowlogMaxLen) },
        .integer("latency-monitor-threshold", 0...Int.max, get: { $0.s.pointee.latencyMonitorThreshold },
                 apply: { k, n in try? k.setLatencyMonitorThreshold(n) })
            .file("kernel.latency_monitor_threshold") { String($0.kernel.latencyMonitorThreshold) },
    ]

    /// loglevel's values: Redis's four, then Vimana's own names (what CONFIG
    /// GET shows, since `error` has no Redis name).
    static let logLevelNames: [(String, LogLevel)] = [
        ("debug", .debug), ("verbose", .debug), ("notice", .info), ("warning", .warn),
        ("info", .info), ("warn", .warn), ("error", .error),
    ]

    static let ledgerOff = "the ledger is disabled (ledger.enabled: false): there is nothing to retain"

    private static func setInteger(_ value: String, _ range: ClosedRange<Int>, _ store: (Int) -> Void) -> String? {
        switch ConfigValue.integer(value, range) {
        case .failure(let r): return r.text
        case .success(let n): store(n); return nil
        }
    }

    private static func setMemory(_ value: String, _ range: ClosedRange<Int>, _ store: (Int) -> Void) -> String? {
        switch ConfigValue.memory(value, range) {
        case .failure(let r): return r.text
        case .success(let n): store(n); return nil
        }
    }

    /// CONFIG GET's `client-output-buffer-limit`: Redis's three classes.
    static func outputLimitsText(_ s: LiveSettings) -> String {
        let l = s.limits, r = s.replicaOutput
        return "normal \(l.normalOutputHard) \(l.normalOutputSoft) \(l.normalOutputSoftSeconds) "
            + "slave \(r.hard) \(r.soft) \(r.seconds) "
            + "pubsub \(l.pubsubOutputHard) \(l.pubsubOutputSoft) \(l.pubsubOutputSoftSeconds)"
    }

    /// Redis's updateClientOutputBufferLimit: groups of `class hard soft
    /// seconds`; only the classes named change. `soft_seconds` beyond
    /// Vimana's range is refused as Redis refuses a negative one.
    private static func setOutputLimits(_ value: String, _ s: inout LiveSettings) -> String? {
        let words = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard words.count % 4 == 0 else { return "Wrong number of arguments in buffer limit configuration." }
        var staged = s
        var i = 0
        while i < words.count {
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            let classes = ["normal", "slave", "replica", "pubsub"]
            let name = words[i].lowercased()
            guard classes.contains(name) else { return "Invalid client class specified in buffer limit configuration." }
            guard let hard = ConfigValue.memtoull(words[i + 1]), let soft = ConfigValue.memtoull(words[i + 2]),
                  hard <= UInt64(Int.max), soft <= UInt64(Int.max),
                  case .success(let seconds) = ConfigValue.integer(words[i + 3], Limits.outputSoftSecondsRange) else { return bad }
            let limit = OutputLimit(hard: Int(hard), soft: Int(soft), seconds: seconds)
            switch name {
            case "normal":
                staged.limits.normalOutputHard = limit.hard
                staged.limits.normalOutputSoft = limit.soft
                staged.limits.normalOutputSoftSeconds = limit.seconds
            case "pubsub":
                staged.limits.pubsubOutputHard = limit.hard
                staged.limits.pubsubOutputSoft = limit.soft
                staged.limits.pubsubOutputSoftSeconds = limit.seconds
            default:
                staged.replicaOutput = limit
            }
            i += 4
        }
        s = staged
        return nil
    }

    /// The table's parameter named `name` (or one of its aliases), any case.
    static func configParameter(_ name: String) -> ConfigParameter? {
        let lower = name.lowercased()
        return configTable.first { $0.name == lower || $0.aliases.contains(lower) }
    }

    /// What a change as a whole must satisfy, beyond each value's own
    /// range: the argument to name and the reason, or nil.
    func configProblem(_ new: LiveSettings, _ old: LiveSettings) -> (argument: String, reason: String)? {
        let minimum = Limits.minimumQueryBuffer(maxPayload: new.limits.maxPayload)
        if new.limits.queryBuffer < minimum {
            let argument = new.limits.maxPayload != old.limits.maxPayload ? "proto-max-bulk-len" : "client-query-buffer-limit"
            return (argument, "client-query-buffer-limit must be at least 2 × proto-max-bulk-len + 65536 (\(minimum)), "
                    + "so that a maximal argument fits")
        }
        if let told = agentProcesses.told {
            // Supervised agents keep what they were told at start.
            if new.limits.maxPayload < told.maxPayload && new.limits.maxPayload < old.limits.maxPayload {
                return ("proto-max-bulk-len", "the supervised agents were started with max_payload \(told.maxPayload) "
                        + "(VIMANA_MAX_PAYLOAD) and may send that much: a lower value needs a restart")
            }
            let retains = new.retentionMaxAgeSeconds > 0 || new.retentionMaxBytes > 0
            let retained = old.retentionMaxAgeSeconds > 0 || old.retentionMaxBytes > 0
            if retains && !retained && !told.retention {
                let argument = new.retentionMaxAgeSeconds > 0 ? "ledger-retention-max-age" : "ledger-retention-max-bytes"
                return (argument, "the supervised agents were started without retention (VIMANA_LEDGER_RETENTION=0) "
                        + "and keep no young snapshot of their events: turning retention on needs a restart")
            }
        }
        if new.limits.maxClients > old.limits.maxClients, let most = Self.clientsTheSystemAllows(), new.limits.maxClients > most {
            // Redis's updateMaxclients, whose advice is the most the descriptor limit allows.
            return ("maxclients", "The operating system is not able to handle the specified number of clients, try with \(most)")
        }
        return nil
    }

    /// The most clients the process's hard descriptor limit lets it serve
    /// (beside the descriptors it keeps for itself); nil when unlimited or unknown.
    static func clientsTheSystemAllows() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_max != rlim_t.max else { return nil }
        return max(1, Int(clamping: limit.rlim_max) - KernelConstants.reservedDescriptors)
    }
}
