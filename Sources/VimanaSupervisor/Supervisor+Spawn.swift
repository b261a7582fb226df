// Starting a child: pipes, posix_spawn attributes, argv and environment.
//
// Why the attributes: the kernel blocks SIGINT and SIGTERM in every thread
// (they arrive through a signalfd) and ignores SIGPIPE. A signal mask and
// ignored dispositions survive exec, so without POSIX_SPAWN_SETSIGMASK and
// POSIX_SPAWN_SETSIGDEF a child could not be stopped with SIGTERM and would
// get EPIPE instead of dying on a closed pipe.
//
// Children stay in the kernel's process group, so a Ctrl-C at a terminal
// reaches them as well as the kernel; they die or handle it, and the kernel's
// shutdown (`stopAll`) reaps them either way. Grandchildren are not tracked:
// an agent that forks must stop its own children on SIGTERM.
#if canImport(Glibc)
import Glibc
import CLinuxShim
#endif
import VimanaCore

/// An errno from one of the steps of a spawn.
struct SpawnError: Error {
    let code: Int32
}

extension Supervisor {
    /// Signals reset to their default action in the child: those the kernel
    /// ignores or blocks, and the other terminal ones it might.
    static let defaultedSignals: [Int32] = [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Starts one run of the child. A spawn that fails counts as a failed
    /// exit: it is logged with the reason and the restart policy applies.
    func spawn(_ child: Child, nowNanos: Int64) {
        do {
            let pid = try spawnProcess(child)
            child.pid = pid
            child.state = .running
            child.startedAtNanos = nowNanos
            child.startedAtMillis = Clock.wallMillis()
            child.everStarted = true
            log.info("agent started", ["agent": .string(child.id), "pid": .int(Int(pid)),
                                       "command": .string(child.command.first ?? ""), "restarts": .int(child.restarts)])
        } catch {
            log.error("agent spawn failed", ["agent": .string(child.id), "command": .string(child.command.first ?? ""),
                                             "error": .string(errorText(error.code))])
            child.pid = nil
            exited(child, .spawnFailed(errno: error.code), nowNanos: nowNanos)
        }
    }

    /// Pipes, `posix_spawnp`, and the parent's ends of the pipes registered.
    private func spawnProcess(_ child: Child) throws(SpawnError) -> Int32 {
        guard let program = child.command.first, !program.isEmpty else { throw SpawnError(code: EINVAL) }
        let out = try Self.makePipe()
        let err: (read: Int32, write: Int32)
        do { err = try Self.makePipe() } catch {
            close(out.read); close(out.write)
            throw error
        }

        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attr)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attr)
        }
        var empty = sigset_t()
        var defaulted = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaulted)
        for sig in Self.defaultedSignals { sigaddset(&defaulted, sig) }
        // The write ends are close-on-exec in the parent; dup2 gives the child
        // copies without the flag.
        var rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if rc == 0 { rc = posix_spawn_file_actions_adddup2(&actions, out.write, 1) }
        if rc == 0 { rc = posix_spawn_file_actions_adddup2(&actions, err.write, 2) }
        // Nothing else: descriptors the server itself inherited without
        // close-on-exec (a shell's redirections, a parent's sockets) are not
        // the agent's to hold open.
        if rc == 0 { rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3) }
        if rc == 0 { rc = posix_spawnattr_setsigmask(&attr, &empty) }
        if rc == 0 { rc = posix_spawnattr_setsigdefault(&attr, &defaulted) }
        if rc == 0 { rc = posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) }

        var pid: pid_t = 0
        if rc == 0 {
            let environment = Self.environment(overlaying: child.environment)
            rc = Self.withCStrings(child.command) { argv in
                Self.withCStrings(environment) { envp in
                    posix_spawnp(&pid, program, &actions, &attr, argv, envp)
                }
            }
        }
        close(out.write)
        close(err.write)
        guard rc == 0 else {
            close(out.read)
            close(err.read)
            throw SpawnError(code: rc)
        }
        for (fd, stream) in [(out.read, "stdout"), (err.read, "stderr")] {
            pipes[fd] = OutputPipe(fd: fd, child: child, stream: stream)
            child.pipeFDs.append(fd)
            opened.append(fd)
        }
        return pid
    }

    /// A pipe with both ends close-on-exec and the read end non-blocking.
    /// (`pipe2` is not visible from Swift's Glibc; the window between `pipe`
    /// and `fcntl` only matters if another thread forks, and none does.)
    static func makePipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SpawnError(code: errno) }
        let ok = fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0
            && fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0
            && fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) == 0
        guard ok else {
            let e = errno
            close(fds[0]); close(fds[1])
            throw SpawnError(code: e)
        }
        return (fds[0], fds[1])
    }

    /// This process's environment as `KEY=value` strings, with `overlay` laid over it.
    static func environment(overlaying overlay: [String: String]) -> [String] {
        var result: [String] = []
        // Read through an optional: `environ` is NULL after clearenv(3),
        // though Swift imports it as non-optional.
        if var entry = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>(bitPattern: Int(bitPattern: environ)) {
            while let cString = entry.pointee {
                let pair = String(cString: cString)
                let key = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? pair
                if overlay[key] == nil { result.append(pair) }
                entry += 1
            }
        }
        for (key, value) in overlay.sorted(by: { $0.key < $1.key }) { result.append("\(key)=\(value)") }
        return result
    }

    /// Calls `body` with a NULL-terminated array of C strings; ENOMEM if one
    /// could not be copied.
    static func withCStrings(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Int32) -> Int32 {
        var pointers = strings.map { strdup($0) }
        defer { for p in pointers { free(p) } }
        if pointers.contains(where: { $0 == nil }) { return ENOMEM }
        pointers.append(nil)
        return body(pointers)
    }
}
