import Testing
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import VimanaConfig
@testable import VimanaConfigLoader

/// SHA-256 of "password" and of "secret", as `echo -n … | sha256sum` prints them.
let passwordDigest = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
let secretDigest = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

let usersFile = """
    users:
      - name: alice
        enabled: false
        password_hashes:
          - "#5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8"
          - 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
          - "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        permissions: ["+@pubsub", "-@admin", "+xadd", "+config|get", "-config|set", "~tasks.*", "&events.*",
                      "%R~logs.*", "%rw~x", allchannels, AllKeys, resetkeys, resetchannels, allcommands, nocommands]
        limits: {connections: 10, publish_rate: 1000, publish_bytes: 1MiB}
      - name: bob
        nopass: yes
        permissions: "+@all"
      - name: x@y|z"é
    agents:
      - id: a
        subscribes: t
        user: bob
      - id: b
        subscribes: t
        user: default

    """

@Suite struct UserConfigTests {
    // MARK: - Accepted

    @Test func everyKeyIsParsed() throws {
        let config = try loaded(usersFile)
        #expect(config.users.map(\.name) == ["alice", "bob", "x@y|z\"é"])
        let alice = config.users[0]
        #expect(alice.enabled == false)
        // Lower-cased as Redis shows them; a hash given twice is kept once, as Redis does.
        #expect(alice.passwordHashes == [passwordDigest, secretDigest])
        #expect(alice.nopass == false)
        #expect(alice.rules.map(\.text) == ["+@pubsub", "-@admin", "+xadd", "+config|get", "-config|set", "~tasks.*",
                                            "&events.*", "%R~logs.*", "%rw~x", "allchannels", "AllKeys", "resetkeys",
                                            "resetchannels", "allcommands", "nocommands"])
        #expect(alice.limits.connections == 10)
        #expect(alice.limits.publishRate == 1000)
        #expect(alice.limits.publishBytes == 1 << 20)
        let bob = config.users[1]
        #expect(bob.nopass == true)
        #expect(bob.enabled == true)
        #expect(bob.rules.map(\.text) == ["+@all"])
        #expect(config.agents.map(\.user) == ["bob", "default"])
        #expect(config.warnings.isEmpty)
    }

    @Test func omittedKeysKeepTheirDefaults() throws {
        let user = try loaded("users:\n  - name: carol\n").users
        #expect(user == [UserConfig(name: "carol")])
        #expect(user[0].enabled == true && user[0].passwordHashes.isEmpty && !user[0].nopass && user[0].rules.isEmpty)
        #expect(user[0].limits == UserLimits())
        #expect(user[0].limits.connections == nil && user[0].limits.publishRate == nil && user[0].limits.publishBytes == nil)
        let nulls = try loaded("users:\n  - name: carol\n    enabled: ~\n    password_hashes: ~\n    nopass: ~\n"
                               + "    permissions: ~\n    limits: {connections: ~}\n").users
        #expect(nulls == [UserConfig(name: "carol")])
        for text in ["users: []\n", "users:\n", "users: ~\n"] {
            #expect(try loaded(text).users.isEmpty, "for \(text.debugDescription)")
        }
        #expect(try loaded("agents:\n  - id: a\n    subscribes: t\n").agents[0].user == nil)
    }

    @Test func entriesAndRulesKeepTheirPositions() throws {
        let alice = try loaded(usersFile).users[0]
        #expect((alice.line, alice.column) == (2, 5))
        #expect(alice.rules.prefix(2).map { [$0.line, $0.column] } == [[8, 19], [8, 31]])
        #expect(alice.rules.dropFirst(7).prefix(2).map { [$0.line, $0.column] } == [[9, 19], [9, 32]])
        let bob = try loaded(usersFile).users[1]
        #expect(bob.rules.map { [$0.line, $0.column] } == [[13, 18]])
    }

    @Test func theDefaultUserMayBeDeclared() throws {
        let users = try loaded("users:\n  - name: default\n    enabled: off\n    permissions: [\"+@all\"]\n").users
        #expect(users.map(\.name) == ["default"])
        #expect(users[0].enabled == false)
        // Without credentials beside kernel.password: kernel.password stays its password.
        let config = try loaded("kernel:\n  password: s3cret\nusers:\n  - name: default\n    permissions: [\"-@admin\"]\n")
        #expect(config.kernel.password == "s3cret")
        #expect(config.users[0].passwordHashes.isEmpty)
    }

    // MARK: - Refused

    @Test func usersMustBeASequenceOfMappings() {
        #expect(loadError("users: alice\n")?.description
                == "phoenix.yaml:1:8: users: expected a sequence of user mappings (- name: …), got 'alice'")
        #expect(loadError("users:\n  - alice\n")?.description
                == "phoenix.yaml:2:5: users[0]: expected a mapping with keys name, enabled, password_hashes,"
                    + " password_file, password, nopass, permissions, limits, got 'alice'")
        #expect(loadError("users:\n  - enabled: true\n")?.description
                == "phoenix.yaml:2:5: users[0]: missing required key 'name'")
        #expect(loadError("users:\n  - name: a\n    passwd: x\n")?.description
                == "phoenix.yaml:3:5: unknown key 'passwd' in users[0] (expected one of: name, enabled, password_hashes,"
                    + " password_file, password, nopass, permissions, limits)")
    }

    static let nameRule = "a user name: not empty, without spaces or NUL bytes"

    /// Redis 7.0.15: `ACL SETUSER "a b"` → `ERR Usernames can't contain spaces or null characters`
    /// (any of C's isspace); any other byte is taken.
    @Test func aNameFollowsRedisRule() {
        #expect(loadError("users:\n  - name: \"a b\"\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got 'a b'")
        #expect(loadError("users:\n  - name: \"a\\tb\"\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got 'a\tb'")
        #expect(loadError("users:\n  - name: \"a\\0b\"\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got 'a\0b'")
        #expect(loadError("users:\n  - name: \"\"\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got ''")
        #expect(loadError("users:\n  - name: ~\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got '~' (null)")
        #expect(loadError("users:\n  - name: [a]\n")?.description
                == "phoenix.yaml:2:11: users[0].name: expected \(Self.nameRule), got a sequence")
    }

    @Test func aDuplicateNameIsRefused() {
        #expect(loadError("users:\n  - name: a\n  - name: b\n  - name: a\n")?.description
                == "phoenix.yaml:4:11: users[2].name: duplicate user 'a' (first at line 2, column 11)")
    }

    static let hashRule = "a SHA-256 digest: 64 hex digits, optionally after '#' (not shown: it may be a password)"

    @Test func aHashIs64HexDigits() {
        #expect(loadError("users:\n  - name: a\n    password_hashes: [\"#abc\"]\n")?.description
                == "phoenix.yaml:3:23: users[0].password_hashes[0]: expected \(Self.hashRule)")
        let g = String(repeating: "g", count: 64)
        #expect(loadError("users:\n  - name: a\n    password_hashes: \(g)\n")?.description
                == "phoenix.yaml:3:22: users[0].password_hashes: expected \(Self.hashRule)")
        #expect(loadError("users:\n  - name: a\n    password_hashes:\n      - #\(passwordDigest)\n")?.description
                == "phoenix.yaml:4:8: users[0].password_hashes[0]: expected a SHA-256 digest, got nothing"
                    + " (a '#' after a space starts a YAML comment: quote the hash)")
        // A password put where a hash goes is not echoed.
        #expect(loadError("users:\n  - name: a\n    password_hashes: hunter2\n")?.description.contains("hunter2") == false)
    }

    @Test func nopassWithAPasswordIsRefused() {
        #expect(loadError("users:\n  - name: a\n    password_hashes: \(passwordDigest)\n    nopass: true\n")?.description
                == "phoenix.yaml:4:13: users[0].nopass: true accepts any password, but this user also has"
                    + " password_hashes (line 3, column 5); keep one of the two")
        #expect(loadError("users:\n  - name: a\n    password_hashes: \(passwordDigest)\n    nopass: false\n") == nil)
    }

    @Test func theDefaultUsersPasswordHasOneSource() {
        let yaml = "kernel:\n  password: s3cret\nusers:\n  - name: default\n    permissions: [\"+@all\"]\n"
        #expect(loadError(yaml + "    password_hashes: \(passwordDigest)\n")?.description
                == "phoenix.yaml:6:5: users[0].password_hashes: the default user's password is also set by"
                    + " kernel.password (line 2, column 3); keep one of the two")
        #expect(loadError(yaml + "    nopass: true\n")?.description
                == "phoenix.yaml:6:5: users[0].nopass: the default user's password is also set by"
                    + " kernel.password (line 2, column 3); keep one of the two")
        // Another user may have credentials beside kernel.password.
        #expect(loadError("kernel:\n  password: s3cret\nusers:\n  - name: b\n    nopass: true\n") == nil)
    }

    static let shapes = "+command, -command, +command|subcommand, +@category, -@category, ~pattern,"
        + " %R~pattern, %W~pattern, %RW~pattern, &pattern, allkeys, allchannels, allcommands, nocommands,"
        + " resetkeys, resetchannels"

    /// The error for `permissions: [<rule>]` (the rule written as given, so quote it in YAML when needed).
    func ruleError(_ rule: String) -> String? {
        loadError("users:\n  - name: a\n    permissions: [\(rule)]\n")?.description
    }

    @Test func aRuleHasAKnownShape() {
        #expect(ruleError("foo") == "phoenix.yaml:3:19: users[0].permissions[0]: unknown ACL rule 'foo' (expected one of \(Self.shapes))")
        for rule in ["+", "-", "+@", "-@", "+config|", "%~x", "%X~x", "%R", "@pubsub", "*"] {
            #expect(ruleError("\"\(rule)\"") == "phoenix.yaml:3:19: users[0].permissions[0]: unknown ACL rule '\(rule)'"
                        + " (expected one of \(Self.shapes))")
        }
        #expect(ruleError("\"~a b\"") == "phoenix.yaml:3:19: users[0].permissions[0]: a rule holds no spaces, got '~a b';"
                    + " write one rule per item")
        #expect(ruleError("\"+get\\t+set\"") == "phoenix.yaml:3:19: users[0].permissions[0]: a rule holds no spaces,"
                    + " got '+get\t+set'; write one rule per item")
        #expect(ruleError("\"\"") == "phoenix.yaml:3:19: users[0].permissions[0]: expected a Redis ACL rule, got ''")
        #expect(ruleError("~") == "phoenix.yaml:3:19: users[0].permissions[0]: expected a Redis ACL rule, got '~' (null)")
        #expect(loadError("users:\n  - name: a\n    permissions: {a: b}\n")?.description
                == "phoenix.yaml:3:18: users[0].permissions: expected a sequence of Redis ACL rules (\"+@pubsub\","
                    + " \"~tasks.*\", …), got a mapping")
    }

    @Test func aRuleThatSetsTheUsersStateNamesTheKeyToUse() {
        #expect(ruleError("on") == "phoenix.yaml:3:19: users[0].permissions[0]: 'on' does not belong in permissions; use enabled: true")
        #expect(ruleError("OFF") == "phoenix.yaml:3:19: users[0].permissions[0]: 'OFF' does not belong in permissions; use enabled: false")
        #expect(ruleError("nopass") == "phoenix.yaml:3:19: users[0].permissions[0]: 'nopass' does not belong in permissions; use nopass: true")
        #expect(ruleError("reset")
                == "phoenix.yaml:3:19: users[0].permissions[0]: 'reset' does not belong in permissions; use nothing (a user starts with no permissions)")
        #expect(ruleError("resetpass") == "phoenix.yaml:3:19: users[0].permissions[0]: 'resetpass' does not belong in"
                    + " permissions; use the user's password keys (a user has no password unless given one)")
        // A password rule is never echoed, even with a space in it.
        for rule in ["\">hunter2\"", "\"<hunter2\"", "\"#\(passwordDigest)\"", "\"!\(passwordDigest)\"", "\">hunter 2\""] {
            #expect(ruleError(rule) == "phoenix.yaml:3:19: users[0].permissions[0]: a password rule does not belong in"
                        + " permissions (not shown); use password_hashes, password_file or password", "for \(rule)")
        }
    }

    /// `&events.*` or `%R~x` unquoted is YAML syntax (an anchor, a directive): the message says to quote it.
    @Test func anUnquotedRuleIsExplained() {
        let hint = "; quote a text that starts with one of & * % @ ` (\"&events.*\")"
        #expect(loadError("users:\n  - name: a\n    permissions:\n      - &events.*\n")?.description
                == "phoenix.yaml:4:16: invalid YAML: did not find expected alphabetic or numeric character"
                    + " (while scanning an anchor at line 4, column 9)" + hint)
        #expect(loadError("users:\n  - name: a\n    permissions:\n      - &events\n")?.description
                == "phoenix.yaml:4:9: users[0].permissions[0]: anchors are not supported (found '&events'); write the value out,"
                    + " or quote a text that starts with '&' (\"&events\")")
        #expect(loadError("users:\n  - name: a\n    permissions: [%R~logs.*]\n")?.description
                == "phoenix.yaml:3:19: invalid YAML: found character that cannot start any token"
                    + " (while scanning for the next token at line 3, column 19)" + hint)
        // Another character that cannot start a token (a tab) gets no such hint.
        let tab = loadError("kernel:\n\tport: 1\n")?.description
        #expect(tab?.contains("found character that cannot start any token") == true && tab?.hasSuffix(hint) == false)
    }

    @Test func limitsAreRangeChecked() {
        let head = "users:\n  - name: a\n    limits:\n"
        #expect(loadError(head + "      connections: 0\n")?.description
                == "phoenix.yaml:4:20: users[0].limits.connections: expected an integer from 1 to 1000000, got '0'")
        #expect(loadError(head + "      publish_rate: 100000001\n")?.description
                == "phoenix.yaml:4:21: users[0].limits.publish_rate: expected an integer from 1 to 100000000, got '100000001'")
        #expect(loadError(head + "      publish_bytes: 17GiB\n")?.description
                == "phoenix.yaml:4:22: users[0].limits.publish_bytes: expected a size from 1 to 16GiB (like 64KiB or 65536), got '17GiB'")
        #expect(loadError(head + "      publish_bytes: 0\n")?.description
                == "phoenix.yaml:4:22: users[0].limits.publish_bytes: expected a size from 1 to 16GiB (like 64KiB or 65536), got '0'")
        #expect(loadError(head + "      publish_rate: fast\n")?.description
                == "phoenix.yaml:4:21: users[0].limits.publish_rate: expected an integer from 1 to 100000000, got 'fast'")
        #expect(loadError(head + "      connections: -1\n")?.description
                == "phoenix.yaml:4:20: users[0].limits.connections: expected an integer from 1 to 1000000, got '-1'")
        #expect(loadError(head + "      publish_bytes: 1TiB\n")?.description
                == "phoenix.yaml:4:22: users[0].limits.publish_bytes: expected a size from 1 to 16GiB (like 64KiB or 65536), got '1TiB'")
        #expect(loadError("users:\n  - name: a\n    limits: 5\n")?.description.hasPrefix("phoenix.yaml:3:13: ") == true)
        #expect(loadError(head + "      bandwidth: 1\n")?.description
                == "phoenix.yaml:4:7: unknown key 'bandwidth' in users[0].limits (expected one of: connections, publish_rate, publish_bytes)")
    }

    @Test func anAgentsUserMustBeDeclared() {
        #expect(loadError("agents:\n  - id: a\n    subscribes: t\n    user: bob\n")?.description
                == "phoenix.yaml:4:11: agents[0].user: unknown user 'bob' (declare it under users:)")
        // Declared after the agents in the file: still declared.
        #expect(loadError("agents:\n  - id: a\n    subscribes: t\n    user: bob\nusers:\n  - name: bob\n") == nil)
        #expect(loadError("agents:\n  - id: a\n    subscribes: t\n    user: [bob]\n")?.description
                == "phoenix.yaml:4:11: agents[0].user: expected the name of a user declared under users: (or default), got a sequence")
    }

    // MARK: - Rendered

    @Test func usersRenderWithoutTheirHashes() throws {
        let text = try loaded(usersFile).render()
        #expect(text.contains("""
            users:
              - name: alice
                enabled: false
                # password_hashes: 2 (not shown)
                nopass: false
                permissions: ["+@pubsub", "-@admin", "+xadd", "+config|get", "-config|set", "~tasks.*", "&events.*", \
            "%R~logs.*", "%rw~x", "allchannels", "AllKeys", "resetkeys", "resetchannels", "allcommands", "nocommands"]
                limits:
                  connections: 10
                  publish_rate: 1000
                  publish_bytes: 1MiB
              - name: bob
                enabled: true
                nopass: true
                permissions: ["+@all"]
                limits:
                  connections: ~
                  publish_rate: ~
                  publish_bytes: ~
              - name: "x@y|z\\"é"
            """))
        #expect(!text.contains(passwordDigest) && !text.contains(secretDigest) && !text.contains("5E88"))
        #expect(text.contains("    user: bob\n") && text.contains("    user: default\n"))
    }

    @Test func theWiringNamesTheAgentsUser() throws {
        #expect(try loaded(usersFile).wiringDescription() == """
            # wiring
            # agent a (external, enabled): subscribes t; ack_wait 30s, max_deliver 5, prefetch 1, start new; user bob; \
            no command: instances connect with AGENT JOIN a
            # agent b (external, enabled): subscribes t; ack_wait 30s, max_deliver 5, prefetch 1, start new; user default; \
            no command: instances connect with AGENT JOIN b

            """)
    }

    @Test func renderedUsersLoadBackEqualButForTheirHashes() throws {
        let original = try loaded(usersFile)
        var reloaded = try loaded(original.render())
        #expect(reloaded.users[0].passwordHashes.isEmpty)
        reloaded.users[0].passwordHashes = original.users[0].passwordHashes
        #expect(reloaded == original)
    }
}

/// Plain passwords: a user's `password` and the lines of its `password_file`.
@Suite struct UserPasswordTests {
    static let plain = "s3cret-Plain-9x"
    static let plainDigest = "938a494abf4fd461360c3175df2547e268c6fbdf8cd63adb34c9a1ac2760863d"
    static let lineTwoDigest = "28aa0b51c1d6ae9197514f0320a19ae1dcf9d554457243f06eb7f0b930bfe3e6"  // "line-two pass"
    static let hashLikeDigest = "cbd9d36e715ff602b79359f1f90b1d1fd7556c0abe3ddc0e79f82b8af088856f"  // "#not-a-comment"

    // MARK: - password

    @Test func aPlainPasswordIsKeptOnlyAsItsDigestAndWarnedAbout() throws {
        let config = try loaded("users:\n  - name: alice\n    password: \(Self.plain)\n")
        #expect(config.users[0].passwordHashes == [Self.plainDigest])
        #expect(config.warnings.map(\.description) == [
            "phoenix.yaml:3:15: warning: users[0].password: user 'alice' has a plain password in the configuration file;"
                + " use password_hashes (its SHA-256, as `echo -n PASSWORD | sha256sum` prints it) or password_file",
        ])
        // Nowhere in the configuration, its rendering or its warnings; the digest only in the configuration.
        #expect(!String(reflecting: config).contains(Self.plain))
        for text in [config.render(), config.wiringDescription(), config.warnings.map(\.description).joined()] {
            #expect(!text.contains(Self.plain))
            #expect(!text.contains(Self.plainDigest))
        }
    }

    @Test func aPlainPasswordFollowsKernelPasswordsRule() throws {
        let head = "users:\n  - name: alice\n    password: "
        let rule = "a string of 1 to 512 bytes without control characters"
        #expect(loadError(head + "\"\"\n")?.description == "phoenix.yaml:3:15: users[0].password: expected \(rule)")
        #expect(loadError(head + "\"ab\\x01cd\"\n")?.description == "phoenix.yaml:3:15: users[0].password: expected \(rule)")
        #expect(loadError(head + String(repeating: "x", count: 513) + "\n")?.description
                == "phoenix.yaml:3:15: users[0].password: expected \(rule)")
        #expect(loadError(head + "[a]\n")?.description
                == "phoenix.yaml:3:15: users[0].password: expected \(rule), got a sequence")
        #expect(loadError(head + "CHANGE-ME\n")?.description
                == "phoenix.yaml:3:15: users[0].password: replace the placeholder CHANGE-ME with a secret of your own")
        // The same digest given twice is kept once.
        #expect(try loaded(head + "password\n    password_hashes: \(passwordDigest)\n").users[0].passwordHashes == [passwordDigest])
        #expect(try loaded(head + "~\n").users[0].passwordHashes.isEmpty)
    }

    @Test func aPlainPasswordConflictsWithNopassAndKernelPassword() {
        #expect(loadError("users:\n  - name: a\n    password: \(Self.plain)\n    nopass: on\n")?.description
                == "phoenix.yaml:4:13: users[0].nopass: true accepts any password, but this user also has"
                    + " password (line 3, column 5); keep one of the two")
        #expect(loadError("kernel:\n  password: k\nusers:\n  - name: default\n    password: \(Self.plain)\n")?.description
                == "phoenix.yaml:5:5: users[0].password: the default user's password is also set by"
                    + " kernel.password (line 2, column 3); keep one of the two")
    }

    // MARK: - password_file

    /// A scratch directory with `phoenix.yaml`'s path in it; files are written with an exact mode.
    struct Directory {
        let path: String
        init() {
            var template = Array("/tmp/vimana-users-test-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { $0.baseAddress.flatMap { mkdtemp($0) } }
            path = made.map { String(cString: $0) } ?? "/nonexistent"
        }
        var config: String { path + "/phoenix.yaml" }
        @discardableResult
        func write(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
            let file = path + "/" + name
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, mode)  // not subject to the umask
            close(fd)
            return file
        }
        func remove() {
            _ = try? FileManager.default.removeItem(atPath: path)
        }
    }

    func load(_ yaml: String, in dir: Directory) throws(ConfigError) -> Configuration {
        try ConfigLoader.load(yaml: yaml, path: dir.config)
    }

    func error(_ yaml: String, in dir: Directory) -> String? {
        do throws(ConfigError) {
            _ = try load(yaml, in: dir)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aPasswordFileHoldsOnePasswordPerLine() throws {
        let dir = Directory()
        defer { dir.remove() }
        mkdir(dir.path + "/secrets", 0o700)
        let file = dir.write("secrets/alice", "\(Self.plain)\n\nline-two pass\n#not-a-comment")
        dir.write("group", "line-two pass\n", mode: 0o640)
        let relative = try load("users:\n  - name: alice\n    password_file: secrets/alice\n", in: dir)
        #expect(relative.users[0].passwordHashes == [Self.plainDigest, Self.lineTwoDigest, Self.hashLikeDigest])
        #expect(relative.warnings.isEmpty)
        #expect(!relative.render().contains(Self.plain) && !String(reflecting: relative).contains(Self.plain))
        let absolute = try load("users:\n  - name: alice\n    password_file: \(file)\n"
                                + "    password_hashes: [\(Self.lineTwoDigest)]\n", in: dir)
        #expect(absolute.users[0].passwordHashes == [Self.lineTwoDigest, Self.plainDigest, Self.hashLikeDigest])
        #expect(try load("users:\n  - name: b\n    password_file: group\n", in: dir).users[0].passwordHashes
                == [Self.lineTwoDigest])
        // A bare configuration name: relative to the current directory.
        #expect(Schema.directory(of: "phoenix.yaml") == "" && Schema.directory(of: "/etc/vimana/phoenix.yaml") == "/etc/vimana/")
    }

    @Test func anUnusablePasswordFileIsRefusedAtItsPosition() throws {
        let dir = Directory()
        defer { dir.remove() }
        let head = "users:\n  - name: alice\n    password_file: "
        let at = "\(dir.config):3:20: users[0].password_file: cannot use '\(dir.path)/"
        #expect(error(head + "missing\n", in: dir) == at + "missing': No such file or directory")
        dir.write("open", "\(Self.plain)\n", mode: 0o644)
        #expect(error(head + "open\n", in: dir) == at + "open': its mode 0644 lets other users read or change it;"
                    + " chmod 600 (or 640) it")
        dir.write("groupwrite", "\(Self.plain)\n", mode: 0o620)
        #expect(error(head + "groupwrite\n", in: dir)?.hasSuffix("its mode 0620 lets other users read or change it; chmod 600 (or 640) it") == true)
        mkdir(dir.path + "/sub", 0o700)
        #expect(error(head + "sub\n", in: dir) == at + "sub': not a regular file")
        dir.write("big", String(repeating: "x\n", count: 32 << 10 + 1))
        #expect(error(head + "big\n", in: dir) == at + "big': larger than 64KiB")
        dir.write("empty", "\n\n")
        #expect(error(head + "empty\n", in: dir) == "\(dir.config):3:20: users[0].password_file: '\(dir.path)/empty'"
                    + " holds no password (one per line)")
        dir.write("crlf", "ok-line\n\(Self.plain)\r\n")
        let crlf = error(head + "crlf\n", in: dir)
        #expect(crlf == "\(dir.config):3:20: users[0].password_file: line 2 of '\(dir.path)/crlf': expected a password"
                    + " of 1 to 512 bytes without control characters (CR included)")
        #expect(crlf?.contains(Self.plain) == false)
        #expect(error(head + "\"\"\n", in: dir) == "\(dir.config):3:20: users[0].password_file: expected a non-empty"
                    + " path without NUL bytes, got ''")
    }
}
