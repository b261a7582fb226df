#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Severity of a log line. Lifecycle events are `info`; per-connection
/// trouble is `debug` so that a noisy client cannot flood the log.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug = 0, info, warn, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warn: "warn"
        case .error: "error"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }
}

/// How log lines are written: one JSON object per line, or `key=value` text.
public enum LogFormat: String, Sendable {
    case json, text
}

/// A typed field value, so that JSON lines keep numbers as numbers.
public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}

/// The process-wide structured logger, writing whole lines to stderr.
///
/// Promises: one `write(2)` per line under a lock, so lines from different
/// threads never interleave; lines below the configured level cost one
/// atomic load. Payloads and secrets must never be passed as fields at `info`.
public final class Log: Sendable {
    /// The logger every module writes to. Configured once at boot.
    public static let shared = Log()

    private let levelRaw = Atomic<Int>(LogLevel.info.rawValue)
    private let jsonFormat = Atomic<Bool>(false)
    private let writeLock = Mutex<Int32>(2)

    public init() {}

    public func configure(level: LogLevel, format: LogFormat, fd: Int32 = 2) {
        levelRaw.store(level.rawValue, ordering: .relaxed)
        jsonFormat.store(format == .json, ordering: .relaxed)
        writeLock.withLock { $0 = fd }
    }

    /// Changes the level at run time (CONFIG SET loglevel, SIGHUP).
    public func set(level: LogLevel) { levelRaw.store(level.rawValue, ordering: .relaxed) }

    /// Changes the format at run time (CONFIG SET log-format, SIGHUP).
    public func set(format: LogFormat) { jsonFormat.store(format == .json, ordering: .relaxed) }

    @inline(__always)
    public func enabled(_ level: LogLevel) -> Bool {
        level.rawValue >= levelRaw.load(ordering: .relaxed)
    }

    public func debug(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.debug, event, fields) }
    public func info(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.info, event, fields) }
    public func warn(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.warn, event, fields) }
    public func error(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.error, event, fields) }

    public func emit(_ level: LogLevel, _ event: String, _ fields: KeyValuePairs<String, LogValue>) {
        guard enabled(level) else { return }
        let ts = Clock.rfc3339(millis: Clock.wallMillis())
        var line: String
        if jsonFormat.load(ordering: .relaxed) {
            line = "{\"ts\":\"\(ts)\",\"level\":\"\(level.name)\",\"event\":\(Self.jsonString(event))"
            for (key, value) in fields {
                line += ",\(Self.jsonString(key)):"
                switch value {
                case .string(let s): line += Self.jsonString(s)
                case .int(let i): line += String(i)
                case .double(let d): line += d.isFinite ? String(d) : "null"
                case .bool(let b): line += b ? "true" : "false"
                }
            }
            line += "}\n"
        } else {
            line = "\(ts) \(level.name.uppercased()) \(event)"
            for (key, value) in fields {
                line += " \(key)="
                switch value {
                case .string(let s): line += Self.textValue(s)
                case .int(let i): line += String(i)
                case .double(let d): line += String(d)
                case .bool(let b): line += b ? "true" : "false"
                }
            }
            line += "\n"
        }
        writeLock.withLock { fd in
            var bytes = line
            bytes.withUTF8 { buf in
                guard let base = buf.baseAddress else { return }
                var off = 0
                while off < buf.count {
                    let n = write(fd, base + off, buf.count - off)
                    if n < 0 { if errno == EINTR { continue }; return }
                    off += n
                }
            }
        }
    }

    /// A JSON string literal with the mandatory escapes.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    private static func textValue(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        if s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return jsonString(s) }
        return s
    }
}
