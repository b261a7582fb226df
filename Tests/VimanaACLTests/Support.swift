@testable import VimanaACL

/// Vimana's commands with Redis 7.0.15's categories (from COMMAND INFO of a
/// real redis-server), plus Redis's ACL container, which the kernel adds;
/// `agent` stands for a Vimana-only command. Used by the unit tests; the
/// parity tests take the categories from the running redis-server instead.
enum TestCatalogue {
    static let slowConnection = ["slow", "connection"]
    static let configSub = ["admin", "slow", "dangerous"]

    static let commands: [(command: ACLCatalogue.Entry, subcommands: [ACLCatalogue.Entry])] = [
        (e("ping", ["fast", "connection"]), []),
        (e("select", ["fast", "connection"]), []),
        (e("client", ["slow"]), [e("client|id", slowConnection), e("client|setname", slowConnection),
                                  e("client|kill", ["admin", "slow", "dangerous", "connection"])]),
        (e("config", ["slow"]), [e("config|get", configSub), e("config|set", configSub), e("config|help", ["slow"])]),
        (e("publish", ["pubsub", "fast"]), []),
        (e("subscribe", ["pubsub", "slow"]), []),
        (e("psubscribe", ["pubsub", "slow"]), []),
        (e("pubsub", ["slow"]), [e("pubsub|channels", ["pubsub", "slow"]), e("pubsub|numsub", ["pubsub", "slow"]),
                                  e("pubsub|help", ["slow"])]),
        (e("xadd", ["write", "stream", "fast"]), []),
        (e("xread", ["read", "stream", "slow", "blocking"]), []),
        (e("xlen", ["read", "stream", "fast"]), []),
        (e("agent", ["@slow"]), []),
    ]

    static func e(_ name: String, _ categories: [String]) -> ACLCatalogue.Entry {
        ACLCatalogue.Entry(name: name, categories: categories)
    }

    static let catalogue = ACLCatalogue(commands: commands)

    static func id(_ name: String) -> Int {
        catalogue.lookup(Array(name.utf8)) ?? -1
    }

    /// A new user after the rules (each a separate SETUSER argument).
    static func user(_ rules: String...) throws -> ACLUser { try user(rules) }

    static func user(_ rules: [String]) throws -> ACLUser {
        var user = ACLUser(name: "u", catalogue: catalogue)
        try user.apply(rules: rules.map { Array($0.utf8) }, catalogue: catalogue)
        return user
    }

    /// The error text of ACL SETUSER u <rules> (after `ERR `), or nil.
    static func error(_ rules: String...) -> String? {
        var user = ACLUser(name: "u", catalogue: catalogue)
        do {
            try user.apply(rules: rules.map { Array($0.utf8) }, catalogue: catalogue)
            return nil
        } catch {
            return error.message
        }
    }
}

extension ACLUser {
    func allows(_ name: String) -> Bool { allows(TestCatalogue.id(name)) }
    func channel(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { allowsChannel($0) } }
    func channelPattern(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { allowsChannelPattern($0) } }
    func key(_ s: String, _ access: ACLKeyAccess = .readWrite) -> Bool {
        Array(s.utf8).withUnsafeBytes { allowsKey($0, access: access) }
    }
    var line: String { describe(catalogue: TestCatalogue.catalogue) }
}
