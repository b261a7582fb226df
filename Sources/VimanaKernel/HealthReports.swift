import VimanaRESP

/// The problems operators' agents report to `/health` (HEALTH REPORT and
/// CLEAR, Protocol/PROTOCOL.md §6): one text per source, held in memory. A
/// kernel restart forgets them; the reporting agent (auditor) reports its
/// latest finding again when it starts and whenever it reconnects.
struct HealthReports {
    /// A source is an agent id or a user name: the configuration's id length.
    static let sourceBytes = 64
    /// One sentence or a short list of findings, not a report: /health stays small.
    static let problemBytes = 1024
    /// More sources than agents that report would be a leak, not a need.
    static let maxSources = 16

    /// Each source's problem.
    private(set) var problems: [String: String] = [:]

    /// Whether `source` is 1 to `sourceBytes` of `[a-z0-9_.-]`.
    static func isSource(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= sourceBytes else { return false }
        return bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 46 || $0 == 45 }
    }

    /// Sets `source`'s problem; false when it is new and `maxSources` are held.
    mutating func report(_ source: String, _ problem: String) -> Bool {
        if problems[source] == nil && problems.count >= Self.maxSources { return false }
        problems[source] = problem
        return true
    }

    /// Clears `source`'s problem; whether it had one.
    mutating func clear(_ source: String) -> Bool { problems.removeValue(forKey: source) != nil }

    /// `<source>: <problem>` for /health's `problems`, by source name.
    var lines: [String] { problems.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" } }
}

/// HEALTH's subcommands, as in the table (`health|report` …).
enum HealthSubcommand: String, Keyword {
    case report, clear
}

extension Kernel {
    /// HEALTH REPORT <source> <problem> | HEALTH CLEAR <source>: an
    /// operator's agent tells /health of a critical finding (degraded, with
    /// the problem listed) and of its end.
    func healthCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .health, args, as: HealthSubcommand.self) else { return }
        guard HealthReports.isSource(args.buffer(2)) else {
            c.pointee.output.tail.writeError(ErrorReply.badHealthSource(String(args.string(2).prefix(128))))
            return
        }
        let source = args.string(2)
        switch sub {
        case .report:
            guard args.length(3) >= 1, args.length(3) <= HealthReports.problemBytes else {
                c.pointee.output.tail.writeError(ErrorReply.badHealthProblem)
                return
            }
            guard healthReports.report(source, args.string(3)) else {
                c.pointee.output.tail.writeError(ErrorReply.tooManyHealthSources)
                return
            }
            log.warn("health problem reported", ["source": .string(source), "bytes": .int(args.length(3))])
            c.pointee.output.tail.writeSimple(string: "OK")
        case .clear:
            let had = healthReports.clear(source)
            if had { log.info("health problem cleared", ["source": .string(source)]) }
            c.pointee.output.tail.writeInteger(had ? 1 : 0)
        }
    }
}
