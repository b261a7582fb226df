import VimanaCore

/// ACL LIST and ACL GETUSER: Redis 7.0.15 does not keep the rules as typed;
/// it recomputes a description from the command bits. This is our own
/// rendering of that computation (acl.c's ACLDescribeSelectorCommandRules):
///
/// 1. `+@all` when the user may run commands added later (only `+@all` /
///    `allcommands` grants that), else `-@all`; a scratch copy of the bits
///    ("what is left to explain") starts as the user's.
/// 2. Repeatedly, among the categories not yet used, in ACL CAT's order,
///    take the one whose commands agree with what is left more often than
///    they differ (for `-@all`: allowed > blocked), with the fewest
///    differences, ties going to the most agreements; emit `+@cat` (or
///    `-@cat` after `+@all`) and take its commands out of what is left.
/// 3. Walk the commands (each top-level command, then its subcommands) and
///    emit `+cmd` / `-cmd` where the rules so far still differ from the
///    user, then the `+cmd|arg` first arguments of a blocked command.
///
/// Same bits, same catalogue, same text as Redis. The catalogue is ours,
/// not Redis's: the counts of step 2 run over Vimana's commands, so where a
/// category holds Redis commands that Vimana lacks, Redis may choose other
/// categories than we do. The descriptions agree whenever every category
/// the user's bits touch has the same members in both servers, or the
/// differences cannot change a choice. For example `-@all +@stream -xadd`
/// is listed so by Redis, but Vimana's `@read` holds only stream commands,
/// all allowed, so here it reads `-@all +@read +@write -xadd +xinfo|help
/// +xgroup|help`: the same permissions in other words (ACLDescribeTests checks
/// that a description always rebuilds the same bits). Step 3 walks our catalogue's order
/// where Redis walks its command hash table, so several single-command
/// differences may be listed in another order than Redis's.
extension ACLUser {
    /// ACL LIST's line, Redis 7.0.15's text: `user alice on #… ~foo* resetchannels &bar -@all +@pubsub`.
    public func describe(catalogue: ACLCatalogue) -> String {
        var parts = ["user", name]
        parts.append(contentsOf: flagNames)
        parts.append(contentsOf: passwordHexDigests.map { "#" + $0 })
        var line = parts.joined(separator: " ") + " " + root.describe(catalogue: catalogue)
        for selector in selectors { line += " (" + selector.describe(catalogue: catalogue) + ")" }
        return line
    }

    /// ACL GETUSER's `commands` value: `-@all +@pubsub -publish` (root selector).
    public func describeCommands(catalogue: ACLCatalogue) -> String {
        root.describeCommands(catalogue: catalogue)
    }

    /// ACL GETUSER's `flags`, in Redis's order: `on` or `off`, then
    /// `nopass`, `skip-sanitize-payload`, `sanitize-payload` when set.
    /// (Redis 7.0 has no `allkeys`/`allchannels` flags: those show as `~*` / `&*`.)
    public var flagNames: [String] {
        var flags = [enabled ? "on" : "off"]
        if nopass { flags.append("nopass") }
        switch sanitizePayload {
        case .unset: break
        case .skip: flags.append("skip-sanitize-payload")
        case .sanitize: flags.append("sanitize-payload")
        }
        return flags
    }

    /// ACL GETUSER's `passwords`: each digest as 64 lower-case hex digits.
    public var passwordHexDigests: [String] { passwordHashes.map { SHA256.hex($0) } }

    /// Everything ACL GETUSER replies, as Redis 7.0.15 orders it: `flags`,
    /// `passwords`, the root selector's `commands`, `keys`, `channels`,
    /// then `selectors` (each a map of `commands`, `keys`, `channels`).
    public func getUser(catalogue: ACLCatalogue) -> ACLUserDescription {
        ACLUserDescription(flags: flagNames, passwords: passwordHexDigests,
                           root: root.getUserFields(catalogue: catalogue),
                           selectors: selectors.map { $0.getUserFields(catalogue: catalogue) })
    }
}

/// ACL GETUSER's reply, to be rendered by the kernel (a map in RESP3, a flat array in RESP2).
public struct ACLUserDescription: Sendable, Equatable {
    /// One selector's `commands`, `keys` and `channels` values.
    public struct Selector: Sendable, Equatable {
        /// `-@all +@pubsub -publish`.
        public let commands: String
        /// `~*`, or the patterns separated by spaces (`~foo %R~bar`), or empty.
        public let keys: String
        /// `&*`, or the patterns separated by spaces (`&a &b`), or empty.
        public let channels: String
    }
    public let flags: [String]
    public let passwords: [String]
    public let root: Selector
    public let selectors: [Selector]
}

extension ACLSelector {
    /// ACL GETUSER's three values for this selector.
    func getUserFields(catalogue: ACLCatalogue) -> ACLUserDescription.Selector {
        let keys = allKeys ? "~*" : keyPatterns.map(\.described).joined(separator: " ")
        let channels = allChannels ? "&*"
            : channelPatterns.map { "&" + String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        return .init(commands: describeCommands(catalogue: catalogue), keys: keys, channels: channels)
    }

    /// ACL LIST's text for one selector: keys, channels, commands.
    func describe(catalogue: ACLCatalogue) -> String {
        var parts: [String] = []
        if allKeys {
            parts.append("~*")
        } else {
            parts.append(contentsOf: keyPatterns.map(\.described))
        }
        if allChannels {
            parts.append("&*")
        } else {
            parts.append("resetchannels")
            parts.append(contentsOf: channelPatterns.map { "&" + String(decoding: $0, as: UTF8.self) })
        }
        parts.append(describeCommands(catalogue: catalogue))
        return parts.joined(separator: " ")
    }

    /// The command rules that rebuild this selector's bits (see ACLUser's describe).
    func describeCommands(catalogue: ACLCatalogue) -> String {
        let additive = !futureCommands
        var rules = [additive ? "-@all" : "+@all"]
        var fake = ACLSelector(catalogue: catalogue)
        fake.setAll(!additive, catalogue)
        var left = self
        var used = [Bool](repeating: false, count: ACLCatalogue.categories.count)
        while true {
            var best: Int? = nil
            var fewestDifferences = Int.max, mostAgreements = 0
            for bit in ACLCatalogue.categories.indices where !used[bit] {
                let (on, off) = left.count(category: bit, catalogue)
                let differences = additive ? off : on
                let agreements = additive ? on : off
                if agreements > differences
                    && (differences < fewestDifferences || (differences == fewestDifferences && agreements > mostAgreements)) {
                    best = bit
                    fewestDifferences = differences
                    mostAgreements = agreements
                }
            }
            guard let bit = best else { break }
            fake.change(category: bit, additive, catalogue)
            left.change(category: bit, !additive, catalogue)
            rules.append((additive ? "+@" : "-@") + ACLCatalogue.categories[bit])
            used[bit] = true
        }
        for id in 0..<catalogue.topLevelCount {
            fake.describeDifference(id, self, &rules, catalogue)
            for sub in catalogue.subcommands[id] { fake.describeDifference(sub, self, &rules, catalogue) }
            if !allows(id), let arguments = firstArguments[id] {
                for argument in arguments {
                    rules.append("+" + catalogue.entries[id].name + "|" + String(decoding: argument, as: UTF8.self))
                }
            }
        }
        return rules.joined(separator: " ")
    }

    /// Emits `+name` / `-name` when this (the rules so far) differs from `user` on `id`, and applies it.
    private mutating func describeDifference(_ id: Int, _ user: ACLSelector, _ rules: inout [String],
                                             _ catalogue: ACLCatalogue) {
        let wanted = user.allows(id)
        guard allows(id) != wanted else { return }
        rules.append((wanted ? "+" : "-") + catalogue.entries[id].name)
        change(id, wanted, catalogue)
    }

    /// How many commands of the category are allowed and blocked.
    private func count(category bit: Int, _ catalogue: ACLCatalogue) -> (on: Int, off: Int) {
        let mask: UInt32 = 1 << UInt32(bit)
        var on = 0, off = 0
        catalogue.forEachInWalkOrder { id in
            guard catalogue.categoryMask[id] & mask != 0 else { return }
            if allows(id) { on += 1 } else { off += 1 }
        }
        return (on, off)
    }
}
