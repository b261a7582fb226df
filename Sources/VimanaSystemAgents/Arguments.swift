import VimanaAgentKit

// What the system agents' actions share: an error reply as a thrown value,
// and the checks of arguments every one of them makes the same way.

/// An error reply a system agent gives: its code and message.
struct Refusal: Error, Equatable {
    var code: String
    var message: String
    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// The argument checks the system agents share.
enum Arguments {
    /// An agent id, as the configuration takes it (`[a-z0-9][a-z0-9_.-]*`).
    static let agentIDBytes = 64

    /// Refuses an argument not among `names` (`bad_argument`).
    static func only(_ names: [String], _ args: [String: JSON]) throws(Refusal) {
        if let k = args.keys.sorted().first(where: { !names.contains($0) }) {
            throw Refusal(AgentErrorCode.badArgument, "unknown argument '\(k)'"
                            + (names.isEmpty ? " (none taken)" : " (\(names.joined(separator: ", ")))"))
        }
    }

    /// `agent`: an agent id as the configuration takes it.
    static func agentID(_ args: [String: JSON]) throws(Refusal) -> String {
        let bad = Refusal(AgentErrorCode.badArgument, "agent must be an agent id: 1 to \(agentIDBytes)"
                          + " characters from a-z, 0-9, '_', '.', '-', starting with a letter or digit")
        guard let id = args["agent"]?.string, let first = id.utf8.first, id.utf8.count <= agentIDBytes else { throw bad }
        func lowerOrDigit(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard lowerOrDigit(first), id.utf8.allSatisfy({ lowerOrDigit($0) || $0 == 95 || $0 == 46 || $0 == 45 }) else { throw bad }
        return id
    }
}

/// A caller's rights, asked of the kernel with `ACL DRYRUN` (the agent
/// answers for its caller, not for itself: Protocol/AGENTS.md §10).
enum CallerRights {
    /// `ACL DRYRUN caller XRANGE topic - +`: whether the caller may read `topic`.
    static func read(_ caller: String, _ topic: String) -> KernelRead { .aclDryRun(caller, ["XRANGE", topic, "-", "+"]) }

    /// `ACL DRYRUN caller LEDGER SCAN $`: whether the caller may see every record's metadata.
    static func scan(_ caller: String) -> KernelRead { .aclDryRun(caller, ["LEDGER", "SCAN", "$"]) }

    /// nil when the dry run `read` answered `+OK`; else `forbidden` with
    /// `what` and the kernel's reason, or `unavailable` when the kernel
    /// refused ACL DRYRUN itself or gave no answer.
    static func refusal(_ kernel: KernelView, _ read: KernelRead, _ what: String) -> Refusal? {
        switch kernel.reply(read) {
        case .simpleString("OK")?:
            return nil
        case .bulkString(let b)?, .verbatim(_, let b)?:
            return Refusal(AgentErrorCode.forbidden, "\(what): \(String(decoding: b, as: UTF8.self))")
        case .error(let m)?:
            return Refusal("unavailable", "the kernel refused ACL DRYRUN: \(m)")
        default:
            return Refusal("unavailable", "no answer to ACL DRYRUN from the kernel")
        }
    }
}
