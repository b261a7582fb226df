#if canImport(Glibc)
import Glibc
#endif

/// A failed file operation: what, on which path, and errno's text.
public struct LedgerIOError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(operation) \(path): \(reason)" }
    /// errno's text alone ("No space left on device").
    public var reason: String { String(cString: strerror(errno)) }
}

/// The few file system calls the ledger makes, retrying EINTR and short
/// reads and writes.
public enum FileIO {
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(LedgerIOError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw LedgerIOError("open", path) }
        }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer at end of file.
    public static func pread(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ count: Int, at offset: Int) -> Int {
        var done = 0
        while done < count {
            let n = Glibc.pread(fd, p + done, count - done, off_t(offset + done))
            if n > 0 { done += n; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            return done > 0 ? done : -1
        }
        return done
    }

    /// Writes all of `count` bytes (appending, for an O_APPEND fd).
    public static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, path: String) throws(LedgerIOError) {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, p + done, count - done)
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            throw LedgerIOError("write", path)
        }
    }

    /// Writes all of `count` bytes at `offset` (never on an O_APPEND fd:
    /// Linux appends there whatever the offset).
    public static func pwriteAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, at offset: Int,
                                 path: String) throws(LedgerIOError) {
        var done = 0
        while done < count {
            let n = Glibc.pwrite(fd, p + done, count - done, off_t(offset + done))
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            throw LedgerIOError("write", path, errno: n == 0 ? EIO : errno)
        }
    }

    public static func fsync(_ fd: Int32, path: String) throws(LedgerIOError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw LedgerIOError("fsync", path) }
        }
    }

    /// fsync on the directory, so a rename or a new file's entry is durable.
    public static func fsyncDirectory(_ dir: String) throws(LedgerIOError) {
        let fd = try open(dir, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        try fsync(fd, path: dir)
    }

    public static func size(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    public static func size(path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func truncate(_ fd: Int32, to length: Int, path: String) throws(LedgerIOError) {
        if ftruncate(fd, off_t(length)) != 0 { throw LedgerIOError("truncate", path) }
    }

    public static func rename(_ from: String, _ to: String) throws(LedgerIOError) {
        if Glibc.rename(from, to) != 0 { throw LedgerIOError("rename", "\(from) -> \(to)") }
    }

    /// Replaces `path` with `text` (written to `path.tmp`, then renamed):
    /// a reader sees the old contents or the new, never a mix.
    public static func writeSmallFile(_ path: String, _ text: String) -> Bool {
        let tmp = path + ".tmp"
        guard let fd = try? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC) else { return false }
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { b in
            b.baseAddress.map { (try? writeAll(fd, $0, b.count, path: tmp)) != nil } ?? true
        }
        Glibc.close(fd)
        return ok && (try? rename(tmp, path)) != nil
    }

    /// Up to 4 KiB of `path` as text, or nil when it cannot be read.
    public static func readSmallFile(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: LedgerLimits.smallFileBytes)
        let n = buffer.withUnsafeMutableBytes { b in b.baseAddress.map { pread(fd, $0, b.count, at: 0) } ?? 0 }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    public static func unlink(_ path: String) throws(LedgerIOError) {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw LedgerIOError("unlink", path) }
    }

    /// Creates `path` and its parents (mode 0755).
    public static func makeDirectories(_ path: String) throws(LedgerIOError) {
        var current = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            current += (current.isEmpty || current.hasSuffix("/") ? "" : "/") + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw LedgerIOError("mkdir", current) }
        }
    }

    /// Names in a directory (not `.`/`..`).
    public static func list(_ dir: String) throws(LedgerIOError) -> [String] {
        guard let d = opendir(dir) else { throw LedgerIOError("opendir", dir) }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `bytes` to `path` atomically: a temporary file, optionally
    /// fsynced, renamed over `path`, and the directory fsynced when `durable`.
    public static func replace(_ path: String, with bytes: UnsafeRawBufferPointer, durable: Bool,
                               directory: String) throws(LedgerIOError) {
        let tmp = path + ".tmp"
        let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            if let base = bytes.baseAddress { try writeAll(fd, base, bytes.count, path: tmp) }
            if durable { try fsync(fd, path: tmp) }
        } catch {
            Glibc.close(fd)
            try? unlink(tmp)
            throw error
        }
        Glibc.close(fd)
        do {
            try rename(tmp, path)
        } catch {
            try? unlink(tmp)
            throw error
        }
        if durable { try fsyncDirectory(directory) }
    }
}
