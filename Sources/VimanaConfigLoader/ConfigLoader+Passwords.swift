import VimanaCore
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Plain passwords in the configuration: `kernel.password`, a user's
/// `password`, the lines of a user's `password_file`. Each is checked by one
/// rule, and a user's is kept only as its SHA-256 digest. None is ever echoed.
extension Schema {
    /// What a plain password must be, wherever it is given.
    static let passwordExpected = "a string of \(ConfigLimits.passwordBytes.lowerBound) to"
        + " \(ConfigLimits.passwordBytes.upperBound) bytes without control characters"

    /// The keys whose values may be secrets (`password`, `password_hashes`,
    /// `http_token`, an agent's `env` values), at any depth (`users[0].password`,
    /// `agents[1].env.API_KEY`): no message about one shows its value.
    static func holdsSecret(_ key: String) -> Bool {
        let names = key.split(separator: ".").map { String($0.prefix { $0 != "[" }) }
        return names.contains { ["password", "password_hashes", "http_token"].contains($0) } || names.dropLast().contains("env")
    }

    static func isValidPassword<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        ConfigLimits.passwordBytes.contains(bytes.count) && !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F })
    }

    /// A plain password's text, checked; nil for null. Never echoed in a message.
    func plainPasswordText(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        guard let text = try scalar(node, key, Self.passwordExpected) else { return nil }
        guard Self.isValidPassword(text.utf8) else { throw fail(node, "\(key): expected \(Self.passwordExpected)") }
        guard text != KernelConfig.passwordPlaceholder else {
            throw fail(node, "\(key): replace the placeholder \(KernelConfig.passwordPlaceholder) with a secret of your own")
        }
        return text
    }

    /// A user's `password`: its digest (the text is dropped here); nil for null.
    func plainPassword(_ node: YAMLNode, _ key: String) throws(ConfigError) -> String? {
        try plainPasswordText(node, key).map { Self.digest(Array($0.utf8)) }
    }

    /// SHA-256 as Redis's `#<hex>` shows it, without the `#`: 64 lower-case hex digits.
    static func digest(_ password: [UInt8]) -> String { SHA256.hexDigest(password) }

    /// A user's `password_file`: the digests of its passwords, one per line.
    ///
    /// The file is read at load; a relative path is taken against the
    /// directory of the configuration file. Each line (ended by LF, the last
    /// one may lack it) is one password, byte for byte, under the same rule as
    /// a `password`; empty lines are skipped; there are no comments (a
    /// password may start with `#`). Refused: a file that is missing,
    /// unreadable, not a regular file, larger than 64KiB, with no password, or
    /// that other users may read or write, or its group may write (mode 0600
    /// or 0640, as a private key's).
    func passwordFile(_ node: YAMLNode, _ key: String) throws(ConfigError) -> [String] {
        guard let name = try path(node, key) else { return [] }
        let (full, bytes) = try secretFile(node, key, name, limit: ConfigLimits.passwordFileSize)
        var digests: [String] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
            where !line.isEmpty {
            guard Self.isValidPassword(line) else {
                throw fail(node, "\(key): line \(index + 1) of '\(full)': expected a password of"
                               + " \(ConfigLimits.passwordBytes.lowerBound) to \(ConfigLimits.passwordBytes.upperBound)"
                               + " bytes without control characters (CR included)")
            }
            digests.append(Self.digest(Array(line)))
        }
        guard !digests.isEmpty else { throw fail(node, "\(key): '\(full)' holds no password (one per line)") }
        return digests
    }

    /// A secret file named at `key` (`name`, relative to the configuration
    /// file's directory unless absolute): its full path and its bytes,
    /// refused as `readSecretFile` says.
    func secretFile(_ node: YAMLNode, _ key: String, _ name: String, limit: Int) throws(ConfigError) -> (String, [UInt8]) {
        let full = name.hasPrefix("/") ? name : Self.directory(of: path) + name
        do throws(FileProblem) {
            return (full, try ConfigLoader.readSecretFile(full, limit: limit))
        } catch {
            throw fail(node, "\(key): cannot use '\(full)': \(error.reason)")
        }
    }

    /// `dir/` of `dir/phoenix.yaml`, or empty for a bare file name (the current directory).
    static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "" }
        return String(file[...slash])
    }
}

/// Why a secret file cannot be used, as a phrase for a message.
struct FileProblem: Error {
    let reason: String
}

extension ConfigLoader {
    /// The bytes of a file that holds secrets (`password_file`,
    /// `http_token_file`), after checking that it is a regular file of at
    /// most `limit` bytes that no other user may read or write and its
    /// group may not write.
    static func readSecretFile(_ path: String, limit: Int) throws(FileProblem) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileProblem(reason: errnoText(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileProblem(reason: errnoText(errno)) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw FileProblem(reason: "not a regular file") }
        let mode = st.st_mode & 0o777
        guard mode & 0o027 == 0 else {
            throw FileProblem(reason: "its mode \(octal(mode)) lets other users read or change it;"
                              + " chmod 600 (or 640) it")
        }
        do throws(ReadStop) {
            return try readAll(fd, limit: limit)
        } catch {
            switch error {
            case .failed(let code): throw FileProblem(reason: errnoText(code))
            case .tooLarge: throw FileProblem(reason: "larger than \(Units.formatSize(limit))")
            }
        }
    }

    /// `0644`.
    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
