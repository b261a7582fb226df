import VimanaCore
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// MONITOR, as Redis 7.0.15 runs it: a monitoring connection receives, as a
/// status line, every command any connection ran since, after it ran
/// (`+1733333333.123456 [0 127.0.0.1:5555] "PUBLISH" "a" "b"`). Commands
/// refused before running (unknown, arity, NOAUTH, ACL, the subscribed
/// context, queued in MULTI) are not shown; queued commands are shown when
/// EXEC runs them, before the EXEC. Admin commands (MONITOR, CLIENT LIST,
/// CONFIG, ACL SETUSER, …) are never shown, nor AUTH's and HELLO AUTH's
/// username and password (`"(redacted)"`).
///
/// The cost while nobody monitors is the one test of `afterCallWork` in
/// `call` (shared with CLIENT REPLY).
extension Kernel {
    // MARK: - Commands

    /// MONITOR: +OK, then the feed. Inside EXEC Redis refuses it (the
    /// transaction expects one reply per command); a second MONITOR is
    /// ignored without a reply, as Redis's.
    func monitorCommand(_ c: UnsafeMutablePointer<ClientState>) {
        if c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeError(ErrorReply.monitorInTransaction)
            return
        }
        if c.pointee.flags.contains(.monitor) { return }
        c.pointee.flags.insert(.monitor)
        s.pointee.monitors.append(c.pointee.fd)
        s.pointee.monitoring = true
        countAfterCall()
        c.pointee.output.tail.append("+OK\r\n")
    }

    /// Leaves MONITOR mode (RESET, or the connection closing).
    func stopMonitoring(_ c: UnsafeMutablePointer<ClientState>) {
        guard c.pointee.flags.contains(.monitor) else { return }
        c.pointee.flags.remove(.monitor)
        let fd = c.pointee.fd
        s.pointee.monitors.removeAll { $0 == fd }
        s.pointee.monitoring = !s.pointee.monitors.isEmpty
        countAfterCall()
    }

    /// `afterCallWork` from the monitors and the connections in a CLIENT
    /// REPLY state: its one writer.
    func countAfterCall() {
        s.pointee.afterCallWork = s.pointee.monitors.count + s.pointee.repliesControlled
    }

    // MARK: - The feed

    /// Shows the command `c` just ran to every monitor (`afterCall`, only
    /// while `monitoring`). A monitor whose replies are off (CLIENT REPLY OFF or
    /// SKIP) gets nothing, as in Redis, where the feed is a reply.
    @inline(never)
    func feedMonitors(_ c: UnsafeMutablePointer<ClientState>, _ command: Command, _ args: Arguments) {
        if Self.hiddenFromMonitors(command, subcommand: c.pointee.lastSubcommand) { return }
        var now = timeval()
        gettimeofday(&now, nil)
        var line = ByteBuffer(capacity: 64 + c.pointee.info.address.utf8.count + args.count * 8)
        defer { line.release() }
        let redacted: Set<Int> = command == .auth || command == .hello
            ? Self.redactedArguments(command, (0..<args.count).map { args.bytes($0) }) : []
        Self.writeMonitorLine(&line, seconds: Int(now.tv_sec), microseconds: Int(now.tv_usec),
                              address: c.pointee.info.address, count: args.count,
                              redacted: { redacted.contains($0) }, argument: { args.buffer($0) })
        for fd in s.pointee.monitors {
            guard let m = s.pointee.client(fd),
                  m.pointee.flags.isDisjoint(with: [.closing, .closeAfterReply, .replyOff, .replySkip]) else { continue }
            m.pointee.output.tail.append(line.readPointer, line.readableBytes)
            markPending(m)
            checkOutputLimit(m)
        }
    }

    /// Whether Redis keeps the command from monitors: any with the `admin`
    /// flag, judged by the subcommand for a container. A container whose
    /// subcommand was not found, or had the wrong arity, was refused before
    /// it ran (`subcommand` sets `lastSubcommand` only once both passed).
    static func hiddenFromMonitors(_ command: Command, subcommand: Int) -> Bool {
        let hidden = monitorHidden[command.rawValue]
        if hidden.subcommands.isEmpty { return hidden.command }
        return subcommand < 0 || subcommand >= hidden.subcommands.count || hidden.subcommands[subcommand]
    }

    /// Per command, from the table's flags: hidden whole, hidden per subcommand.
    private static let monitorHidden: [(command: Bool, subcommands: [Bool])] = CommandTable.entries.map { entry in
        (entry.spec.flags.contains("admin"), entry.spec.subcommands.map { $0.flags.contains("admin") })
    }

    /// Which arguments a monitor sees as `"(redacted)"`: AUTH's every
    /// argument; HELLO's username and password after AUTH. Redis 7.0.15
    /// redacts only once its own parse of the command reached them, so a
    /// malformed AUTH or HELLO (`AUTH a b c`, `HELLO x AUTH u p`, `HELLO 3
    /// AUTH u`) shows them in clear there; here every argument after an
    /// AUTH that HELLO's parse cannot account for is redacted too.
    static func redactedArguments(_ command: Command, _ words: [[UInt8]]) -> Set<Int> {
        switch command {
        case .auth:
            return Set(1..<max(1, words.count))
        case .hello:
            func isWord(_ i: Int, _ word: String) -> Bool {
                words[i].count == word.utf8.count && zip(words[i], word.utf8).allSatisfy { $0 | 0x20 == $1 }
            }
            var redacted = Set<Int>()
            var j = 2
            while j < words.count {
                let more = words.count - 1 - j
                if isWord(j, "auth") && more >= 2 {
                    redacted.insert(j + 1)
                    redacted.insert(j + 2)
                    j += 3
                } else if isWord(j, "setname") && more >= 1 {
                    j += 2
                } else {
                    if let k = (j..<words.count).first(where: { isWord($0, "auth") }), k + 1 < words.count {
                        redacted.formUnion((k + 1)..<words.count)
                    }
                    break
                }
            }
            return redacted
        default:
            return []
        }
    }

    /// One feed line: `+<seconds>.<microseconds, six digits> [0 <address>]`
    /// and each argument quoted as Redis's `sdscatrepr` (a `redacted` one as
    /// `"(redacted)"`), space-separated, CRLF.
    static func writeMonitorLine(_ b: inout ByteBuffer, seconds: Int, microseconds: Int, address: String, count: Int,
                                 redacted: (Int) -> Bool, argument: (Int) -> UnsafeBufferPointer<UInt8>) {
        b.append("+")
        b.appendDecimal(seconds)
        b.append(byte: UInt8(ascii: "."))
        let micros = min(max(microseconds, 0), 999_999)
        var divisor = 100_000
        while divisor > 0 {
            b.append(byte: UInt8(ascii: "0") + UInt8(micros / divisor % 10))
            divisor /= 10
        }
        b.append(" [0 ")
        b.append(string: address)
        b.append("] ")
        for i in 0..<count {
            if i > 0 { b.append(byte: UInt8(ascii: " ")) }
            if redacted(i) { b.append("\"(redacted)\"") } else { appendRepr(&b, argument(i)) }
        }
        b.appendCRLF()
    }

    /// `bytes` quoted as Redis's `sdscatrepr`: `\\`, `\"`, `\n`, `\r`, `\t`,
    /// `\a`, `\b` escaped, other bytes outside printable ASCII as `\xhh`.
    static func appendRepr(_ b: inout ByteBuffer, _ bytes: UnsafeBufferPointer<UInt8>) {
        let hex: StaticString = "0123456789abcdef"
        b.append(byte: UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""):
                b.append(byte: UInt8(ascii: "\\"))
                b.append(byte: byte)
            case 0x0A: b.append("\\n")
            case 0x0D: b.append("\\r")
            case 0x09: b.append("\\t")
            case 0x07: b.append("\\a")
            case 0x08: b.append("\\b")
            case 0x20...0x7E: b.append(byte: byte)
            default:
                b.append("\\x")
                b.append(byte: hex.utf8Start[Int(byte >> 4)])
                b.append(byte: hex.utf8Start[Int(byte & 0x0F)])
            }
        }
        b.append(byte: UInt8(ascii: "\""))
    }
}
