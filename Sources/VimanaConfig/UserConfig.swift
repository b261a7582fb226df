// CONTRACT between the helpers of issue 11 (lead's skeleton, branch
// fix12/acl-api): acl-config fills the loader and may add fields; acl-kernel
// builds the users from these values.

/// One entry of phoenix.yaml's `users:` list: a Redis ACL user.
/// Promises (the loader's): `name` is a valid user name (Redis's rule: no
/// `isspace` byte, no NUL; and not empty), unique; `passwordHashes` are 64
/// lower-case hex digits each, without repeats; `nopass` is never set beside
/// a password; each rule has a known shape and holds no space, and none sets
/// credentials or `on`/`off` (those have their keys); no plain password is
/// kept anywhere in the configuration.
///
/// An entry named `default` replaces Redis's built-in default user (which is
/// `on nopass ~* &* +@all`, or with `kernel.password` as its password) and
/// starts, as every entry, from no permissions. When `kernel.password` is
/// set, such an entry has no credentials of its own (the loader refuses
/// both): `kernel.password` is its password.
public struct UserConfig: Sendable, Equatable {
    public var name: String
    /// `on` (true) / `off`.
    public var enabled: Bool = true
    /// SHA-256 digests, 64 lower-case hex each: from `password_hashes`
    /// (Redis's `#<hex>` form), the lines of `password_file`, or a plain
    /// `password` hashed at load (which is warned about).
    public var passwordHashes: [String] = []
    /// `nopass: true`: any password is accepted (Redis's `nopass`).
    public var nopass: Bool = false
    /// The permissions as Redis ACL rules, in file order (`+@pubsub`,
    /// `-@admin`, `+xadd`, `~tasks.*`, `&events.*`, `allchannels` …), each
    /// with its position so that a rule the kernel refuses is reported at
    /// `file:line:column`.
    public var rules: [Rule] = []
    /// Per-user limits (the kernel's UserAccount enforces them).
    public var limits: UserLimits = UserLimits()
    /// Position of the entry in the file (0 when built in).
    public var line: Int = 0
    public var column: Int = 0

    public struct Rule: Sendable, Equatable {
        public var text: String
        public var line: Int
        public var column: Int
        public init(_ text: String, line: Int = 0, column: Int = 0) {
            self.text = text
            self.line = line
            self.column = column
        }

        /// Equality ignores where the rule was in the file (as `AgentConfig`'s).
        public static func == (a: Rule, b: Rule) -> Bool { a.text == b.text }
    }

    public init(name: String) { self.name = name }

    /// Equality ignores where the entry was in the file (as `AgentConfig`'s), so
    /// that a rendered configuration loads back equal.
    public static func == (a: UserConfig, b: UserConfig) -> Bool {
        a.name == b.name && a.enabled == b.enabled && a.passwordHashes == b.passwordHashes && a.nopass == b.nopass
            && a.rules == b.rules && a.limits == b.limits
    }
}

/// A user's `limits:` in phoenix.yaml; nil is no limit (the default).
/// Enforced by the kernel (Kernel+UserLimits.swift; Protocol/PROTOCOL.md §4.2).
public struct UserLimits: Sendable, Equatable {
    /// Connections authenticated as the user at once.
    public var connections: Int? = nil
    /// Messages per second the user's connections may publish or append together.
    public var publishRate: Int? = nil
    /// Payload bytes per second the user's connections may publish or append together.
    public var publishBytes: Int? = nil

    public init() {}
}
