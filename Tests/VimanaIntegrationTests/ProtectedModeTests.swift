import Foundation
import Testing

/// Redis's protected mode, seen from a client beyond loopback. The server
/// runs in a network namespace of its own (`unshare --net`, as root: tests
/// run as root) whose loopback interface also carries `stranger`, an address
/// from a documentation range (RFC 5737): a client in that namespace
/// connecting to it arrives from it, a non-loopback address, and the traffic
/// never leaves the namespace, which disappears with the server.
@Suite struct ProtectedModeTests {
    static let stranger = "198.51.100.7"

    /// Redis 7.0.15's reply to such a client (networking.c), seen with the
    /// Debian redis-server; `deniedTextIsRedisOwn` checks it against one.
    static let denied = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"

    /// Sets up the namespace's interfaces, then runs its last arguments.
    static let namespaceSetup = "ip link set lo up && ip addr add \(stranger)/32 dev lo"

    /// `vimana serve --bind 0.0.0.0` in a new network namespace.
    static func isolatedServer(config: String? = nil) throws -> ServerProcess {
        try ServerProcess(arguments: ["--bind", "0.0.0.0"], config: config, logLevel: "info",
                          launcher: ["unshare", "--net", "sh", "-c", namespaceSetup + " && exec \"$0\" \"$@\""])
    }

    /// What a client connecting from `source` (in `server`'s namespace, to
    /// the address it comes from) reads until the server closes, after
    /// sending `input` and closing its side.
    static func exchange(_ server: ServerProcess, from source: String, port: Int, input: String) throws -> String {
        let script = "printf '%s' \"$1\" | nsenter --net=/proc/$2/ns/net nc -N -w 10 \"$3\" \"$4\""
        let run = try CompatibilityTests.runTool(
            ["sh", "-c", script, "sh", input, String(server.process.processIdentifier), source, String(port)], timeout: 30)
        #expect(run.status == 0 && !run.timedOut, "nc: \(run.output)")
        return run.output
    }

    @Test func aClientBeyondLoopbackGetsRedisDeniedTextAndIsClosed() throws {
        let server = try Self.isolatedServer()
        // Nothing sent: Redis answers at accept, before reading.
        #expect(try Self.exchange(server, from: Self.stranger, port: server.port, input: "") == Self.denied)
        #expect(try Self.exchange(server, from: "127.0.0.1", port: server.port, input: "PING\r\n") == "+PONG\r\n")
        // Counted as Redis counts it; and the loopback client above was served.
        let stats = try Self.exchange(server, from: "127.0.0.1", port: server.port, input: "INFO stats\r\n")
        #expect(stats.contains("\r\nrejected_connections:1\r\n"), "\(stats)")
        #expect(server.waitForLog(#""event":"listening beyond loopback without a password","bind":"0.0.0.0","protected_mode":"yes""#),
                "log:\n\(server.log)")
    }

    @Test func protectedModeOffServesClientsBeyondLoopback() throws {
        let server = try Self.isolatedServer(config: "kernel:\n  protected_mode: no\n")
        #expect(try Self.exchange(server, from: Self.stranger, port: server.port, input: "PING\r\n") == "+PONG\r\n")
        #expect(server.waitForLog(#""protected_mode":"no","hint":"anyone who can connect"#), "log:\n\(server.log)")
    }

    /// With a password the stranger is served: it must authenticate, as any client.
    @Test func aPasswordLetsClientsBeyondLoopbackAuthenticate() throws {
        let server = try Self.isolatedServer(config: "kernel:\n  password: s3cret\n")
        #expect(try Self.exchange(server, from: Self.stranger, port: server.port, input: "PING\r\nAUTH s3cret\r\nPING\r\n")
                == "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n")
        #expect(!server.log.contains("without a password"), "log:\n\(server.log)")
    }

    /// The text above is redis-server 7.0.15's own: one started the same way
    /// (its defaults: protected mode on, no password) answers a stranger with it.
    @Test func deniedTextIsRedisOwn() throws {
        let script = """
            \(Self.namespaceSetup) || exit 1
            dir=$(mktemp -d)
            redis-server --port 6379 --save '' --appendonly no --daemonize yes --dir "$dir" --pidfile "$dir/pid" \
                --logfile "$dir/log" || exit 1
            i=0
            until redis-cli -p 6379 ping >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 500 ] || exit 1; sleep 0.02; done
            nc -N -w 10 \(Self.stranger) 6379 </dev/null
            redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || kill "$(cat "$dir/pid")"
            rm -rf "$dir"
            """
        let run = try CompatibilityTests.runTool(["unshare", "--net", "sh", "-c", script], timeout: 60)
        #expect(run.status == 0 && !run.timedOut, "\(run.output)")
        #expect(run.output == Self.denied)
    }
}
