import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real Redis Cluster on loopback: `masters` × (1 + `replicas`)
/// redis-server nodes, each in its own directory, formed with
/// `redis-cli --cluster create`, for the federation's tests.
///
/// Each node listens on a port P whose cluster-bus port P+10000 was free
/// too. The servers never outlive the test process: `stop()` (and
/// `deinit`) kill them; an exit handler kills the ones still running when
/// the process exits (the shared cluster's); and a watchdog shell per
/// cluster kills what is left and removes the directories once the test
/// process is gone, however it ended.
package final class RedisCluster: @unchecked Sendable {
    /// Each node's port, in the order given to `redis-cli --cluster create`.
    package let ports: [Int]
    package let password: String?
    /// The temporary directory holding one directory per node (named by port).
    package let root: String
    /// Seconds from the first node's start to a healthy cluster.
    package private(set) var formationSeconds = 0.0
    private var processes: [Int: Process] = [:]
    private let lock = NSLock()
    private var watchdog: Process?

    /// `cluster-node-timeout` of every node, in milliseconds: with 5000 a
    /// killed master is replaced in 6–10 s (NOTES.md).
    package static let nodeTimeoutMillis = 5000
    /// How long forming a cluster or a start may take before the test fails:
    /// only a failing start waits it out, and a loaded machine is slow.
    package static let startTimeout: TimeInterval = 90

    package static var cliBinary: String? {
        ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts and forms the cluster; returns once every node says
    /// `cluster_state:ok`, knows every other node, and every replica's link
    /// to its master is up.
    package init(masters: Int = 3, replicas: Int = 2, password: String? = nil) throws {
        guard RedisProcess.binary != nil, Self.cliBinary != nil else {
            throw TestFailure("redis-server or redis-cli is not installed: run `make test` (it installs redis-server and redis-tools)")
        }
        self.password = password
        ports = try Self.clusterPorts(masters * (1 + replicas))
        root = NSTemporaryDirectory() + "vimana-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let began = Date()
        do {
            try startWatchdog()
            for port in ports {
                try FileManager.default.createDirectory(atPath: directory(port), withIntermediateDirectories: true)
                try launch(port)
            }
            for port in ports { try waitForPong(port) }
            try create(replicas: replicas)
            try waitHealthy(timeout: Self.startTimeout, formation: true)
        } catch {
            stop()
            throw error
        }
        formationSeconds = Date().timeIntervalSince(began)
    }

    deinit { stop() }

    // MARK: - The shared cluster

    private static let sharedCluster = Mutex<RedisCluster?>(nil)

    /// One 3 × (1+2) cluster per test process, formed on first use, for
    /// tests that neither kill nodes nor move slots (they must use keys of
    /// their own). Its servers end with the process.
    package static func shared() throws -> RedisCluster {
        try sharedCluster.withLock { (cluster: inout RedisCluster?) throws -> RedisCluster in
            if let cluster, cluster.liveCount == cluster.ports.count { return cluster }
            cluster?.stop()
            let made = try RedisCluster()
            cluster = made
            return made
        }
    }

    // MARK: - Addresses

    /// `127.0.0.1:P` of every node.
    package var seeds: [String] { ports.map { "127.0.0.1:\($0)" } }

    /// The ports of the nodes running now.
    package var livePorts: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return ports.filter { processes[$0]?.isRunning == true }
    }

    private var liveCount: Int { livePorts.count }

    /// The port of the master serving `key`'s slot, as a live node's
    /// CLUSTER KEYSLOT and CLUSTER SLOTS say.
    package func masterPort(forKey key: String) throws -> Int {
        try masterPort(forKeyBytes: Array(key.utf8))
    }

    package func masterPort(forKeyBytes key: [UInt8]) throws -> Int {
        guard let port = livePorts.first else { throw TestFailure("no node is running") }
        guard case .integer(let slot)? = command(port: port, [Array("CLUSTER".utf8), Array("KEYSLOT".utf8), key]) else {
            throw TestFailure("CLUSTER KEYSLOT failed on \(port)")
        }
        return try masterPort(forSlot: slot)
    }

    /// The port of the master serving `slot` in a live node's CLUSTER SLOTS.
    package func masterPort(forSlot slot: Int) throws -> Int {
        guard let port = livePorts.first else { throw TestFailure("no node is running") }
        guard let entries = slots(port: port) else { throw TestFailure("CLUSTER SLOTS failed on \(port)") }
        guard let owner = entries.first(where: { $0.range.contains(slot) }) else {
            throw TestFailure("slot \(slot) is not served (node \(port))")
        }
        return owner.master
    }

    /// A node's CLUSTER SLOTS: each range with its master's and replicas' ports.
    package func slots(port: Int) -> [(range: ClosedRange<Int>, master: Int, replicas: [Int])]? {
        guard case .array(let entries)? = command(port: port, ["CLUSTER", "SLOTS"]) else { return nil }
        var out: [(ClosedRange<Int>, Int, [Int])] = []
        for entry in entries {
            guard case .array(let e) = entry, e.count >= 3, case .integer(let a) = e[0], case .integer(let b) = e[1],
                  a <= b else { return nil }
            var nodePorts: [Int] = []
            for n in e.dropFirst(2) {
                guard case .array(let parts) = n, parts.count >= 2, case .integer(let p) = parts[1] else { return nil }
                nodePorts.append(p)
            }
            out.append((a...b, nodePorts[0], Array(nodePorts.dropFirst())))
        }
        return out
    }

    // MARK: - Talking to one node

    /// Sends one command to a node (after AUTH when the cluster has a
    /// password) and returns its reply, nil when it does not answer.
    package func command(port: Int, _ args: [String], timeout: TimeInterval = 10) -> RESP? {
        command(port: port, args.map { Array($0.utf8) }, timeout: timeout)
    }

    package func command(port: Int, _ args: [[UInt8]], timeout: TimeInterval = 10) -> RESP? {
        guard let c = try? RawClient(port: port, timeout: timeout) else { return nil }
        let reader = RESPReader(c)
        if let password {
            c.send(command: "AUTH", password)
            guard reader.next(timeout: timeout) == .simple("OK") else { return nil }
        }
        var bytes = Array("*\(args.count)\r\n".utf8)
        for a in args { bytes += Array("$\(a.count)\r\n".utf8) + a + [13, 10] }
        c.send(bytes)
        return reader.next(timeout: timeout)
    }

    /// A field of a node's INFO section or CLUSTER INFO text (`name:value` lines).
    package func infoField(port: Int, _ args: [String], _ name: String) -> String? {
        guard case .bulk(let text)? = command(port: port, args) else { return nil }
        // `\r\n` is one Character: split on newlines, not on "\r" or "\n".
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    // MARK: - Faults

    /// SIGKILL: the node dies as a crashed host's would (its AOF may miss the last second).
    package func kill(port: Int) {
        lock.lock()
        let p = processes[port]
        lock.unlock()
        guard let p, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        forget(port, p)
    }

    /// SIGSTOP: the node keeps its sockets (the kernel still accepts
    /// connections for it) but answers nothing, as a host cut off by a
    /// partition looks to its clients. `thaw` (SIGCONT) ends it.
    package func freeze(port: Int) { signal(port, SIGSTOP) }

    package func thaw(port: Int) { signal(port, SIGCONT) }

    private func signal(_ port: Int, _ sig: Int32) {
        lock.lock()
        let p = processes[port]
        lock.unlock()
        if let p, p.isRunning { Glibc.kill(p.processIdentifier, sig) }
    }

    /// Starts a node again from its own directory (its nodes.conf and AOF)
    /// and waits until it answers PING.
    package func restart(port: Int) throws {
        guard ports.contains(port) else { throw TestFailure("\(port) is not a node of this cluster") }
        guard !livePorts.contains(port) else { return }
        try launch(port)
        try waitForPong(port)
    }

    /// Stops every node with `SHUTDOWN NOW` (each flushes its AOF and
    /// nodes.conf, as an orderly outage would, without waiting for its
    /// replicas, which are stopping too) and waits until they have exited.
    /// Not SIGTERM: the test runner's children inherit a blocked SIGTERM.
    package func stopAll() {
        lock.lock()
        let running = processes.filter { $0.value.isRunning }
        lock.unlock()
        // A replica still writing its first AOF after a full sync refuses
        // ("Writing initial AOF, can't exit"): ask again until it is written,
        // then with FORCE.
        var refusing = running.map(\.key)
        let patience = Date().addingTimeInterval(10)
        while !refusing.isEmpty {
            let force = Date() > patience
            refusing = refusing.filter { port in
                if case .error? = command(port: port, ["SHUTDOWN", "NOW"] + (force ? ["FORCE"] : []), timeout: 5) { return !force }
                return false
            }
            if !refusing.isEmpty { usleep(100_000) }
        }
        let deadline = Date().addingTimeInterval(30)
        for (port, p) in running {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            forget(port, p)
        }
    }

    /// Starts every node that is not running and waits until the cluster is healthy.
    package func startAll() throws {
        let stopped = ports.filter { !livePorts.contains($0) }
        for port in stopped { try launch(port) }
        for port in stopped { try waitForPong(port) }
        try waitHealthy(timeout: Self.startTimeout)
    }

    /// Waits until every live node says `cluster_state:ok` and, in its
    /// CLUSTER SLOTS, every slot is served by a live master (and, with
    /// `replicasLinked`, every live replica's link to its master is up).
    package func waitHealthy(timeout: TimeInterval = 60, replicasLinked: Bool = false) throws {
        try waitHealthy(timeout: timeout, formation: false, replicasLinked: replicasLinked)
    }

    private func waitHealthy(timeout: TimeInterval, formation: Bool, replicasLinked: Bool = true) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var problem = "not checked"
        while Date() < deadline {
            if let p = healthProblem(formation: formation, replicasLinked: replicasLinked || formation) {
                problem = p
                usleep(50_000)
                continue
            }
            return
        }
        throw TestFailure("cluster not healthy after \(timeout) s: \(problem)")
    }

    /// What is not healthy yet, nil when nothing.
    private func healthProblem(formation: Bool, replicasLinked: Bool) -> String? {
        let live = Set(livePorts)
        guard !live.isEmpty else { return "no node is running" }
        for port in live.sorted() {
            guard infoField(port: port, ["CLUSTER", "INFO"], "cluster_state") == "ok" else {
                return "\(port): cluster_state is not ok"
            }
            if formation, infoField(port: port, ["CLUSTER", "INFO"], "cluster_known_nodes") != String(ports.count) {
                return "\(port) does not know every node yet"
            }
            guard let entries = slots(port: port) else { return "\(port): no CLUSTER SLOTS" }
            var served = 0
            for e in entries {
                guard live.contains(e.master) else { return "\(port) says \(e.master), which is down, serves \(e.range)" }
                served += e.range.count
            }
            guard served == 16384 else { return "\(port) sees \(served) of 16384 slots served" }
            if replicasLinked, infoField(port: port, ["INFO", "replication"], "role") == "slave",
               infoField(port: port, ["INFO", "replication"], "master_link_status") != "up" {
                return "\(port): replica's master link is not up"
            }
        }
        return nil
    }

    /// Kills every node and the watchdog, and removes the directories.
    package func stop() {
        lock.lock()
        let all = processes
        lock.unlock()
        for (port, p) in all {
            if p.isRunning {
                Glibc.kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
            forget(port, p)
        }
        if let w = watchdog, w.isRunning {
            Glibc.kill(w.processIdentifier, SIGKILL)
            w.waitUntilExit()
        }
        watchdog = nil
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: - Starting

    private func directory(_ port: Int) -> String { root + "/" + String(port) }

    /// Starts one node in its directory, records its pid (in the exit
    /// handler's list and in `redis.pid` for the watchdog).
    private func launch(_ port: Int) throws {
        guard let binary = RedisProcess.binary else { throw TestFailure("redis-server is not installed") }
        let dir = directory(port)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        var args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", String(Self.nodeTimeoutMillis),
                    "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", dir + "/redis.log"]
        if let password { args += ["--requirepass", password, "--masterauth", password] }
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let pid = p.processIdentifier
        ClusterExitGuard.add(pid)
        try? String(pid).write(toFile: dir + "/redis.pid", atomically: true, encoding: .utf8)
        lock.lock()
        processes[port] = p
        lock.unlock()
    }

    /// Drops a node that has exited from the lists that would kill it.
    private func forget(_ port: Int, _ p: Process) {
        ClusterExitGuard.remove(p.processIdentifier)
        try? FileManager.default.removeItem(atPath: directory(port) + "/redis.pid")
    }

    /// Waits until a node answers PING with PONG (not LOADING).
    private func waitForPong(_ port: Int) throws {
        let deadline = Date().addingTimeInterval(Self.startTimeout)
        while Date() < deadline {
            if command(port: port, ["PING"], timeout: 1) == .simple("PONG") { return }
            guard livePorts.contains(port) else {
                throw TestFailure("redis-server on \(port) exited; log: \(directory(port))/redis.log")
            }
            usleep(20_000)
        }
        throw TestFailure("redis-server on \(port) did not answer PING")
    }

    /// `redis-cli --cluster create … --cluster-replicas N --cluster-yes`.
    private func create(replicas: Int) throws {
        guard let cli = Self.cliBinary else { throw TestFailure("redis-cli is not installed") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cli)
        let args = ["--cluster", "create"] + seeds + ["--cluster-replicas", String(replicas), "--cluster-yes"]
        // The password through the environment (REDISCLI_AUTH), not the command line.
        if let password {
            var env = ProcessInfo.processInfo.environment
            env["REDISCLI_AUTH"] = password
            p.environment = env
        }
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestFailure("redis-cli --cluster create failed (\(p.terminationStatus)):\n\(text)")
        }
    }

    /// The watchdog: a shell that polls this process and, once it is gone,
    /// kills the nodes whose `redis.pid` is still there (only if that pid is
    /// still a redis-server) and removes the directories.
    private func startWatchdog() throws {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            for f in "$2"/*/redis.pid; do
              [ -f "$f" ] || continue
              p=$(cat "$f")
              case "$(tr '\\0' ' ' < /proc/"$p"/cmdline 2>/dev/null)" in *redis-server*) kill -9 "$p";; esac
            done
            rm -rf "$2"
            """
        let w = Process()
        w.executableURL = URL(fileURLWithPath: "/bin/sh")
        w.arguments = ["-c", script, "redis-cluster-watchdog", String(getpid()), root]
        w.standardOutput = FileHandle.nullDevice
        w.standardError = FileHandle.nullDevice
        try w.run()
        watchdog = w
    }

    /// Ports P with P and P+10000 free (bind succeeds on both), all distinct
    /// from each other's bus ports.
    private static func clusterPorts(_ count: Int) throws -> [Int] {
        var chosen: [Int] = []
        var taken = Set<Int>()
        var attempts = 0
        while chosen.count < count {
            attempts += 1
            guard attempts < 10_000 else { throw TestFailure("no \(count) free port pairs P, P+10000") }
            let p = try freePort()
            guard p + 10000 <= 65535, !taken.contains(p), !taken.contains(p + 10000), portIsFree(p + 10000) else { continue }
            chosen.append(p)
            taken.formUnion([p, p + 10000])
        }
        return chosen
    }

    /// True when 127.0.0.1:`port` can be bound now.
    private static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// The pids of every cluster node still running, killed by an exit
/// handler when the test process exits (a static's `deinit` never runs).
enum ClusterExitGuard {
    private static let pids = Mutex<Set<Int32>>([])
    private static let installed = Mutex(false)

    static func add(_ pid: Int32) {
        installed.withLock { done in
            if !done {
                atexit { ClusterExitGuard.killAll() }
                done = true
            }
        }
        pids.withLock { _ = $0.insert(pid) }
    }

    static func remove(_ pid: Int32) {
        pids.withLock { _ = $0.remove(pid) }
    }

    static func killAll() {
        let all = pids.withLock { $0 }
        for pid in all { kill(pid, SIGKILL) }
    }
}
