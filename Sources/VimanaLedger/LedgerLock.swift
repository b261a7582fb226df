import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// The exclusive lock a server holds on its ledger directory (and archive
/// directory) for as long as it runs (Protocol/LEDGER.md §1): the file
/// `ledger.lock`, locked with `flock(LOCK_EX)`, holding the server's pid as
/// decimal text so that a second server can name it.
///
/// flock rather than a pid file: the kernel drops the lock when its holder
/// dies, kill -9 included, so the file left behind never blocks the next
/// start (its pid is only text for messages). The fd is close-on-exec, so
/// supervised agents never inherit, and never keep, the lock.
public final class LedgerLock {
    /// The lock file's name in a ledger directory.
    public static let fileName = "ledger.lock"

    /// A lock that cannot be taken.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Another process holds it (its pid when the file names one).
        case inUse(what: String, directory: String, pid: Int32?)
        /// The lock file cannot be created, locked or written.
        case io(what: String, LedgerIOError)

        public var description: String {
            switch self {
            case .inUse(let what, let directory, let pid):
                "\(what) \(directory) is in use by " + (pid.map { "process \($0)" } ?? "another process")
            case .io(let what, let error):
                "cannot lock \(what): \(error)"
            }
        }
    }

    /// A server holding a directory's lock, as a reader finds it.
    public struct Holder: Sendable, Equatable {
        /// The pid its lock file names (nil when it names none yet).
        public var pid: Int32?
    }

    public let directory: String
    /// The directory's name in messages.
    let what: String
    private let fd: Int32
    /// The lock file's device and inode: the same directory under another name has the same lock file.
    let identity: (dev: UInt64, ino: UInt64)

    private init(directory: String, what: String, fd: Int32, identity: (dev: UInt64, ino: UInt64)) {
        self.directory = directory
        self.what = what
        self.fd = fd
        self.identity = identity
    }

    /// Releases the lock (closing its only fd).
    deinit { Glibc.close(fd) }

    /// Takes the lock on `directory` (which must exist), or throws `.inUse`
    /// naming the holder. `what` names the directory in messages ("ledger
    /// directory"). Nothing is written until `recordPid`.
    public static func acquire(_ directory: String, what: String) throws(Failure) -> LedgerLock {
        let path = directory + "/" + fileName
        let fd: Int32
        do throws(LedgerIOError) { fd = try FileIO.open(path, O_RDWR | O_CREAT) } catch { throw .io(what: what, error) }
        let deadline = Clock.monotonicNanos() + LedgerLimits.lockRetryNanos
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && Clock.monotonicNanos() < deadline {
                usleep(LedgerLimits.lockRetryPauseMicros)
                continue
            }
            let pid = code == EWOULDBLOCK ? readPid(fd) : nil
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw .inUse(what: what, directory: directory, pid: pid) }
            throw .io(what: what, LedgerIOError("flock", path, errno: code))
        }
        var st = stat()
        fstat(fd, &st)
        return LedgerLock(directory: directory, what: what, fd: fd, identity: (UInt64(st.st_dev), UInt64(st.st_ino)))
    }

    /// Replaces the lock file's content with this process's pid (a previous
    /// holder's, left by a kill -9, included).
    public func recordPid() throws(Failure) {
        let path = directory + "/" + Self.fileName
        let text = "\(getpid())\n"
        do throws(LedgerIOError) {
            try FileIO.truncate(fd, to: 0, path: path)
            if Glibc.pwrite(fd, text, text.utf8.count, 0) != text.utf8.count { throw LedgerIOError("write", path) }
        } catch {
            throw .io(what: what, error)
        }
    }

    /// True when `directory` is the one this lock is on (another path to it included).
    public func covers(_ directory: String) -> Bool {
        var st = stat()
        guard stat(directory + "/" + Self.fileName, &st) == 0 else { return false }
        return UInt64(st.st_dev) == identity.dev && UInt64(st.st_ino) == identity.ino
    }

    /// For readers: the server holding `directory`'s lock, or nil when none
    /// does. Changes nothing: the lock file is opened read-only (never
    /// created), and a shared lock is taken and dropped at once to find out.
    public static func holder(of directory: String) -> Holder? {
        let fd = Glibc.open(directory + "/" + fileName, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        while flock(fd, LOCK_SH | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return errno == EWOULDBLOCK ? Holder(pid: readPid(fd)) : nil
        }
        flock(fd, LOCK_UN)
        return nil
    }

    /// The pid the lock file names: decimal digits, then a newline.
    static func readPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: LedgerLimits.lockPidTextBytes)
        let n = buffer.withUnsafeMutableBytes { b in b.baseAddress.map { FileIO.pread(fd, $0, b.count, at: 0) } ?? 0 }
        guard n > 0 else { return nil }
        let digits = buffer[0..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty, digits.count < n, buffer[digits.count] == 0x0A,
              let pid = Int32(String(decoding: digits, as: UTF8.self)), pid > 0 else { return nil }
        return pid
    }
}
