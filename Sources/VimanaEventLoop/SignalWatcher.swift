import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGHUP as a readable fd in the event loop (signalfd),
/// so the shutdown path runs on the loop thread like everything else (and
/// SIGHUP reaches the handler instead of killing the process, or staying
/// pending unseen when a parent left it blocked), and SIGPIPE ignored so a
/// vanished peer is an EPIPE error, not a dead process.
///
/// Must be created on the main thread before any other thread starts: the
/// signals are blocked in the creating thread and inherited by later ones.
public struct SignalWatcher {
    public let fd: Int32

    public init() throws(SystemError) {
        vimana_ignore_sigpipe()
        let s = vimana_signalfd_watched()
        if s < 0 { throw SystemError("signalfd") }
        fd = s
    }

    /// Reads one pending signal number, or nil.
    public func next() -> Int32? {
        var info = signalfd_siginfo()
        let n = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
        return n == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}
