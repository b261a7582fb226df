/// SLOWLOG's entries, as Redis 7.0's slowlog.c keeps them: the commands
/// that took at least `slowlog-log-slower-than` microseconds, newest first,
/// at most `slowlog-max-len` of them.
///
/// Promises: an entry's arguments are cut as Redis cuts them (at most 32,
/// the last saying how many more; a string over 128 bytes keeps its first
/// 128 and says how many more bytes); ids count from 0 and are never
/// reused, not even after SLOWLOG RESET; the log is trimmed to its length
/// on every attempt to add, logged or not (so a shorter `slowlog-max-len`
/// takes effect at the next command, as in Redis).
struct SlowLog {
    struct Entry {
        let id: Int
        /// Unix time, seconds.
        let time: Int64
        let micros: Int64
        let arguments: [[UInt8]]
        let peer: String
        let name: [UInt8]
    }

    /// Oldest first, from `start` on (the ones before it are dropped).
    private var entries: [Entry] = []
    private var start = 0
    private var nextID = 0

    var count: Int { entries.count - start }

    /// What replaces a secret argument in the log (Redis's shared.redacted).
    static let redacted = Array("(redacted)".utf8)

    /// Adds an entry when `micros` reaches `threshold` (≥ 0; a negative
    /// threshold logs nothing and trims nothing, as Redis), then trims to `maxLength`.
    mutating func push(micros: Int64, threshold: Int, maxLength: Int, time: Int64,
                       arguments: [[UInt8]], peer: String, name: [UInt8]) {
        guard threshold >= 0 else { return }
        if micros >= Int64(threshold) {
            entries.append(Entry(id: nextID, time: time, micros: micros, arguments: Self.trimmed(arguments),
                                 peer: peer, name: name))
            nextID &+= 1
        }
        if count > maxLength { start += count - maxLength }
        if start > 0 && start >= entries.count / 2 {
            entries.removeFirst(start)
            start = 0
        }
    }

    /// The newest `limit` entries, newest first.
    func newest(_ limit: Int) -> [Entry] {
        let n = min(max(limit, 0), count)
        return (0..<n).map { entries[entries.count - 1 - $0] }
    }

    /// SLOWLOG RESET: no entries; ids carry on.
    mutating func reset() {
        entries = []
        start = 0
    }

    /// Redis's slowlogCreateEntry: at most `maxArguments`, the last one
    /// standing for the rest; strings longer than `maxString` cut.
    static func trimmed(_ arguments: [[UInt8]]) -> [[UInt8]] {
        let kept = min(arguments.count, KernelConstants.slowlogMaxArguments)
        return (0..<kept).map { j in
            if kept != arguments.count && j == kept - 1 {
                return Array("... (\(arguments.count - kept + 1) more arguments)".utf8)
            }
            let a = arguments[j]
            guard a.count > KernelConstants.slowlogMaxString else { return a }
            return Array(a.prefix(KernelConstants.slowlogMaxString)) + Array("... (\(a.count - KernelConstants.slowlogMaxString) more bytes)".utf8)
        }
    }
}
