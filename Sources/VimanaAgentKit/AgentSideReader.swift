import Foundation
import Synchronization
import VimanaClient
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// The runtime's second connection, for the reads that may outlast
/// `ack_wait` (`KernelRead.mayBeSlow`). The kernel runs no further command
/// on a connection until such a read is answered (LEDGER's disk work, a
/// background XRANGE, a blocked XREAD): a PROGRESS sent after it on the
/// task connection would wait behind it. So each such read goes out here,
/// from a worker thread, one at a time in order, while the task thread
/// sends PROGRESS for the task in hand.
///
/// Made at the first such read, authenticated as the runtime's settings
/// say, speaking RESP3 and with `CLIENT PUBLISHER ON` like the task
/// connection (entries carry `_publisher`), never joined. A kept
/// connection found closed (a restarted kernel) is made anew and the read
/// sent on it; any other failure is the read's answer, an error reply, and
/// the connection is made anew at the next read.
final class AgentSideReader: @unchecked Sendable {
    private let settings: AgentSettings
    /// The worker: one read at a time, in the order asked.
    private let queue = DispatchQueue(label: "vimana.agentkit.side-reader")
    /// Touched only on `queue`.
    private var connection: RESPConnection?
    /// Reads are numbered as started; `abandon` ends every read started
    /// so far. `socket` is the one a read is outstanding on (-1: none), set
    /// and cleared by the worker before the connection may be closed.
    private let state = Mutex((started: 0, abandonedThrough: 0, socket: Int32(-1)))

    init(settings: AgentSettings) {
        self.settings = settings
    }

    /// Sends `arguments` from the worker; the reply, or an error reply
    /// saying why there is none, comes to the returned read.
    func start(_ arguments: [[UInt8]]) -> SideRead {
        let read = SideRead()
        let number = state.withLock { s in
            s.started += 1
            return s.started
        }
        queue.async { read.finish(self.send(arguments, number)) }
        return read
    }

    /// Ends every read started so far: one not yet sent is not sent, one
    /// outstanding has its socket shut down, so the worker's wait ends
    /// with an error (its answer, which nobody reads now) and the
    /// connection is made anew at the next read. The kernel drops the
    /// reply it was preparing.
    func abandon() {
        state.withLock { s in
            s.abandonedThrough = s.started
            if s.socket >= 0 { _ = shutdown(s.socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Read `number`, on the worker. A kept connection that turns out
    /// closed (a kernel that restarted, or closed it while idle: the idle
    /// check can race the close) is made anew and the read sent once more,
    /// unless it was abandoned meanwhile — but a command that changes the
    /// kernel (`changesKernel`) only when it was not yet written: LEDGER
    /// SEAL or RESTORE would run twice.
    private func send(_ arguments: [[UInt8]], _ number: Int) -> RESPValue {
        var attempt = 0
        while true {
            attempt += 1
            var sent = false
            let reused = connection != nil
            do throws(AgentKitError) {
                if let c = connection, Self.unusable(c.fd) { drop() }
                if connection == nil { connection = try open() }
                guard let c = connection else { throw .unexpected("no side connection") }
                let abandoned = state.withLock { s in
                    if number <= s.abandonedThrough { return true }
                    s.socket = c.fd
                    return false
                }
                if abandoned { return Self.failure("the read was abandoned before it was sent") }
                defer { state.withLock { $0.socket = -1 } }
                do {
                    try c.send(arguments)
                    sent = true
                    while true {
                        let v = try c.readValue()
                        if case .push = v { continue }  // none is expected: it is neither joined nor subscribed
                        return v
                    }
                } catch { throw .client(error) }
            } catch {
                drop()
                if case .client(.closed) = error, !sent || !Self.changesKernel(arguments), reused, attempt == 1,
                   state.withLock({ number > $0.abandonedThrough }) { continue }
                return Self.failure(error.description)
            }
        }
    }

    /// LEDGER SEAL, RETAIN and RESTORE, and XREADGROUP (it moves the
    /// group's pending list): never sent twice. Every other side read only reads.
    static func changesKernel(_ arguments: [[UInt8]]) -> Bool {
        guard let first = arguments.first.map({ String(decoding: $0, as: UTF8.self).uppercased() }) else { return false }
        if first == "XREADGROUP" { return true }
        guard first == "LEDGER", arguments.count >= 2 else { return false }
        return ["SEAL", "RETAIN", "RESTORE"].contains(String(decoding: arguments[1], as: UTF8.self).uppercased())
    }

    /// A read's answer when the side connection could not give the kernel's (PROTOCOL.md §8).
    static func failure(_ reason: String) -> RESPValue {
        .error("ERR the agent kit's side connection failed: \(reason)")
    }

    private func open() throws(AgentKitError) -> RESPConnection {
        let c = try settings.connect()
        let reply: RESPValue
        do { reply = try c.call(["CLIENT", "PUBLISHER", "ON"].map { Array($0.utf8) }) } catch {
            c.close()
            throw .client(error)
        }
        if case .error(let m) = reply {
            c.close()
            throw .refused("CLIENT PUBLISHER ON: \(m)")
        }
        return c
    }

    private func drop() {
        connection?.close()
        connection = nil
    }

    /// Whether an idle connection can take no request: readable (the
    /// kernel closed it, or sent what nobody asked for) or in error.
    static func unusable(_ fd: Int32) -> Bool {
        guard fd >= 0 else { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) != 0
    }
}

/// One read sent by `AgentSideReader`: its reply once it came.
final class SideRead: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let reply = Mutex<RESPValue?>(nil)

    func finish(_ v: RESPValue) {
        reply.withLock { $0 = v }
        done.signal()
    }

    /// The reply, or nil when it did not come within `seconds`. Once it
    /// returned the reply it is not to be asked again.
    func wait(seconds: Double) -> RESPValue? {
        done.wait(timeout: .now() + max(0, seconds)) == .success ? reply.withLock { $0 } : nil
    }
}
