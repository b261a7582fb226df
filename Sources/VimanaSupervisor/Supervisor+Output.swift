// Children's stdout and stderr: non-blocking reads, lines to the log.
#if canImport(Glibc)
import Glibc
#endif
import VimanaCore

/// The parent's read end of one child's stdout or stderr.
final class OutputPipe {
    let fd: Int32
    let child: Child
    let stream: String
    var lines = LineSplitter()

    init(fd: Int32, child: Child, stream: String) {
        self.fd = fd
        self.child = child
        self.stream = stream
    }
}

extension Supervisor {
    /// Reads what is waiting on `fd` (a member of `outputFDs`) without
    /// blocking and logs each complete line at info as `agent output`, with
    /// fields agent, stream and line (`truncated` when cut at 4 KiB). At EOF
    /// the partial last line is logged and the fd closed. `onLine` must not
    /// call back into the supervisor.
    public func readOutput(fd: Int32) {
        guard let pipe = pipes[fd] else { return }
        drain(pipe, budget: SupervisorLimits.readBudget)
    }

    /// Reads up to `budget` bytes; closes the pipe at EOF or on an error.
    func drain(_ pipe: OutputPipe, budget: Int) {
        var total = 0
        while total < budget {
            let n = readBuffer.withUnsafeMutableBytes { read(pipe.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                total += n
                readBuffer.withUnsafeBytes { bytes in
                    pipe.lines.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<n])) { line, cut in
                        emitLine(pipe, line, truncated: cut)
                    }
                }
                continue
            }
            if n == 0 { closePipe(pipe); return }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return }
            errors += 1
            log.warn("agent output read failed", ["agent": .string(pipe.child.id), "stream": .string(pipe.stream),
                                                  "error": .string(errorText(e))])
            closePipe(pipe)
            return
        }
    }

    /// After an exit: logs what the child wrote before dying, then closes its
    /// pipes even if a grandchild still holds them open.
    func closePipes(of child: Child) {
        for fd in child.pipeFDs {
            guard let pipe = pipes[fd] else { continue }
            drain(pipe, budget: SupervisorLimits.finalReadBudget)
            if pipes[fd] != nil { closePipe(pipe) }
        }
        child.pipeFDs.removeAll()
    }

    func closePipe(_ pipe: OutputPipe) {
        pipe.lines.finish { line, cut in emitLine(pipe, line, truncated: cut) }
        close(pipe.fd)
        pipes[pipe.fd] = nil
        pipe.child.pipeFDs.removeAll { $0 == pipe.fd }
    }

    func emitLine(_ pipe: OutputPipe, _ line: String, truncated: Bool) {
        if truncated {
            log.info("agent output", ["agent": .string(pipe.child.id), "stream": .string(pipe.stream),
                                      "line": .string(line), "truncated": .bool(true)])
        } else {
            log.info("agent output", ["agent": .string(pipe.child.id), "stream": .string(pipe.stream), "line": .string(line)])
        }
        onLine?(pipe.child.id, pipe.stream, line)
    }

    /// Waits up to `timeoutMillis` for output and reads it: used while
    /// `stopAll` waits, when the event loop is no longer turning.
    func pollOutput(timeoutMillis: Int32) {
        var fds = pipes.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if fds.isEmpty {
            usleep(UInt32(timeoutMillis) * 1000)
            return
        }
        guard poll(&fds, nfds_t(fds.count), timeoutMillis) > 0 else { return }
        for p in fds where p.revents != 0 { readOutput(fd: p.fd) }
    }
}
