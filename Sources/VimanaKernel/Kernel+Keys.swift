import VimanaCore
import VimanaRESP
import VimanaLedger

/// Topics as Redis keys: EXISTS, TOUCH, TYPE, KEYS, SCAN, DBSIZE,
/// RANDOMKEY, OBJECT and MEMORY USAGE with Redis 7.0.15's replies. A key is
/// a recorded topic whose stream exists (`StreamState.exists`); every key
/// is a stream. Without a ledger there are none. The server's own topics
/// (`_vimana.…`) are listed by none of KEYS, SCAN, DBSIZE and RANDOMKEY;
/// an admin may still name one (EXISTS, TYPE …), as XRANGE may.
extension Kernel {
    /// Whether argument `i` names a key.
    func isKey(_ args: Arguments, _ i: Int) -> Bool {
        guard let ledger else { return false }
        return ledger.stream(UnsafeRawPointer(args.pointer(i)), args.length(i))?.exists ?? false
    }

    /// EXISTS and TOUCH: how many of the arguments name keys, repeats
    /// counted (TOUCH changes nothing: no access time is kept).
    func existsCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var n = 0
        for i in 1..<args.count where isKey(args, i) { n += 1 }
        c.pointee.output.tail.writeInteger(n)
    }

    func typeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if isKey(args, 1) { c.pointee.output.tail.writeSimple("stream") } else { c.pointee.output.tail.writeSimple("none") }
    }

    /// KEYS: every listed key matching the glob (Redis's), in the order the
    /// ledger first saw them.
    func keysCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var found: [[UInt8]] = []
        if let ledger {
            let pattern = args.buffer(1)
            let all = pattern.count == 1 && pattern[0] == 42  // "*", as Redis
            for i in 0..<ledger.topicNames.count where ledger.isListedKey(at: i) {
                let name = ledger.topicNames[i]
                if all || name.withUnsafeBufferPointer({ Glob.matches(pattern, $0) }) { found.append(name) }
            }
        }
        c.pointee.output.tail.writeArrayHeader(found.count)
        for name in found { c.pointee.output.tail.writeBulk(bytes: name) }
    }

    /// SCAN cursor [MATCH p] [COUNT n] [TYPE t]. The cursor is a position in
    /// the ledger's topics (`Ledger+Keys.swift`), which only grow: a full
    /// iteration returns every key present from its start to its end, each
    /// once. A call looks at COUNT keys (fewer at the end), then MATCH and
    /// TYPE filter them, as Redis's do; the cursor is 0 when none is left.
    func scanCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let cursor = Self.scanCursor(args.buffer(1)) else {
            c.pointee.output.tail.writeError(ErrorReply.invalidCursor)
            return
        }
        var count = KernelConstants.scanDefaultCount
        var pattern: Int?
        var typeArgument: Int?
        var i = 2
        while i < args.count {
            let more = args.count - i
            switch args.keyword(i, as: ScanOption.self) {
            case .count where more >= 2:
                guard let n = args.integer(i + 1) else {
                    c.pointee.output.tail.writeError(ErrorReply.notInteger)
                    return
                }
                guard n >= 1 else {
                    c.pointee.output.tail.writeError(ErrorReply.syntax)
                    return
                }
                count = n
            case .match where more >= 2:
                // "*" matches everything: as Redis, no pattern at all.
                pattern = args.length(i + 1) == 1 && args.pointer(i + 1)[0] == 42 ? nil : i + 1
            case .type where more >= 2:
                typeArgument = i + 1
            default:
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            i += 2
        }
        var found: [[UInt8]] = []
        var next = 0
        if let ledger, cursor < UInt64(ledger.topicNames.count) {
            let total = ledger.topicNames.count
            var position = Int(cursor)
            var seen = 0
            // As Redis's ten buckets per COUNT: topics that are not listed
            // keys cost a look too, so one call is bounded.
            var looks = count.multipliedSaturating(by: KernelConstants.scanLooksPerCount)
            while position < total && seen < count && looks > 0 {
                if ledger.isListedKey(at: position) {
                    seen += 1
                    found.append(ledger.topicNames[position])
                }
                position += 1
                looks -= 1
            }
            // Past trailing topics that are not keys: a cursor with nothing after it is 0.
            while position < total && looks > 0 && !ledger.isListedKey(at: position) {
                position += 1
                looks -= 1
            }
            next = position < total ? position : 0
        }
        if let p = pattern {
            let glob = args.buffer(p)
            found = found.filter { name in name.withUnsafeBufferPointer { Glob.matches(glob, $0) } }
        }
        // Every key is a stream: TYPE keeps them all or none (Redis's strcasecmp; no error for an unknown type).
        if let t = typeArgument, args.keyword(t, as: KeyType.self) != .stream { found = [] }
        c.pointee.output.tail.writeArrayHeader(2)
        c.pointee.output.tail.writeBulk(string: String(next))
        c.pointee.output.tail.writeArrayHeader(found.count)
        for name in found { c.pointee.output.tail.writeBulk(bytes: name) }
    }

    /// SCAN's cursor as Redis reads it (strtoul, base 10, whole): optional
    /// sign (a minus negates, modulo 2^64), digits, nothing else; empty is
    /// 0; a leading space, a stray byte or more than 2^64 - 1 is invalid.
    /// A NUL byte ends the text, as it ends Redis's C string.
    static func scanCursor(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        let end = text.firstIndex(of: 0) ?? text.count
        var i = 0
        var negative = false
        if end > 0, text[0] == 43 || text[0] == 45 {  // + -
            negative = text[0] == 45
            i = 1
            // strtoul reads no number after a lone sign: the sign is the stray byte.
            guard i < end else { return nil }
        }
        var value: UInt64 = 0
        while i < end {
            let d = text[i]
            guard d >= 48 && d <= 57 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d - 48))
            guard !o1 && !o2 else { return nil }
            value = sum
            i += 1
        }
        return negative ? 0 &- value : value
    }

    func dbsizeCommand(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.output.tail.writeInteger(ledger?.listedKeyCount ?? 0)
    }

    /// RANDOMKEY: a listed key, or nil when there is none. A few positions
    /// are tried at random; then the first key from a random position.
    func randomkeyCommand(_ c: UnsafeMutablePointer<ClientState>) {
        let resp3 = c.pointee.flags.contains(.resp3)
        guard let ledger, !ledger.topicNames.isEmpty else {
            c.pointee.output.tail.writeNull(resp3: resp3)
            return
        }
        let total = ledger.topicNames.count
        for _ in 0..<KernelConstants.randomKeyTries {
            let i = Int.random(in: 0..<total)
            if ledger.isListedKey(at: i) {
                c.pointee.output.tail.writeBulk(bytes: ledger.topicNames[i])
                return
            }
        }
        let start = Int.random(in: 0..<total)
        for k in 0..<total where ledger.isListedKey(at: (start + k) % total) {
            c.pointee.output.tail.writeBulk(bytes: ledger.topicNames[(start + k) % total])
            return
        }
        c.pointee.output.tail.writeNull(resp3: resp3)
    }

    /// OBJECT: nil for a key that is not there (every subcommand, as Redis);
    /// a topic's encoding is `stream`, its refcount 1 (Redis's for a
    /// stream); FREQ answers Redis's error (no LFU policy); IDLETIME is
    /// refused (reads leave no trace on a topic).
    func objectCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .object, args, as: ObjectSubcommand.self) else { return }
        if sub == .help {
            replyHelp(c, [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ])
            return
        }
        guard isKey(args, 2) else {
            c.pointee.output.tail.writeNull(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        switch sub {
        case .encoding: c.pointee.output.tail.writeBulk("stream")
        case .refcount: c.pointee.output.tail.writeInteger(1)
        case .freq: c.pointee.output.tail.writeError(ErrorReply.lfuNotSelected)
        case .idletime: c.pointee.output.tail.writeError(ErrorReply.idleTimeNotTracked)
        case .help: break
        }
    }

    /// MEMORY USAGE key [SAMPLES n]: the topic's bytes on disk and in
    /// memory (`Ledger.usage`), nil for no key. SAMPLES is read and checked
    /// as Redis's (before the key is looked up); the figure is exact, so
    /// it changes nothing.
    func memoryCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .memory, args, as: MemorySubcommand.self) else { return }
        if sub == .help {
            replyHelp(c, [
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ])
            return
        }
        var j = 3
        while j < args.count {
            guard args.keyword(j, as: MemoryUsageOption.self) == .samples, j + 1 < args.count else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            guard let samples = args.integer(j + 1) else {
                c.pointee.output.tail.writeError(ErrorReply.notInteger)
                return
            }
            guard samples >= 0 else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            j += 2
        }
        guard let usage = ledger?.usage(of: args.bytes(2)) else {
            c.pointee.output.tail.writeNull(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        c.pointee.output.tail.writeInteger(usage.disk.addingSaturating(usage.memory))
    }
}

/// SCAN's options.
enum ScanOption: String, Keyword {
    case match, count, type
}

/// The one type a key has (SCAN's TYPE, compared as Redis's strcasecmp: ASCII case only).
enum KeyType: String, Keyword {
    case stream
}

/// OBJECT's subcommands, as in the table (`object|encoding` …).
enum ObjectSubcommand: String, Keyword {
    case encoding, freq, idletime, refcount, help
}

/// MEMORY's subcommands, as in the table: USAGE (and HELP) only.
enum MemorySubcommand: String, Keyword {
    case usage, help
}

/// MEMORY USAGE's one option.
enum MemoryUsageOption: String, Keyword {
    case samples
}
