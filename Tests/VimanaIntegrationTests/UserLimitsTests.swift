import Foundation
import Testing
import VimanaTestSupport

/// Per-user limits (phoenix.yaml `users[].limits`, Protocol/PROTOCOL.md §4.2):
/// connections refused with the documented error and counted, and a
/// publisher over its rate paused, never refused: everything it sent
/// arrives, in order, while other users are not slowed.
@Suite struct UserLimitsTests {
    static func users(_ alice: String, default limits: String = "") -> String {
        """
        users:
          - name: default
            nopass: true
            permissions: ["+@all", "~*", "&*"]
        \(limits.isEmpty ? "" : "    limits: {\(limits)}")
          - name: alice
            nopass: true
            permissions: ["+@all", "~*", "&*"]
            limits: {\(alice)}
          - name: bob
            nopass: true
            permissions: ["+@all", "~*", "&*"]
            limits: {publish_rate: 100000}
        """
    }

    /// `user_<name>`'s fields from INFO users.
    static func figures(_ c: RawClient, _ user: String) -> [String: Double] {
        c.send("INFO users\r\n")
        guard case .bulk(let text)? = RESPReader(c).next(timeout: 10) else { return [:] }
        guard let line = text.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("user_\(user):") }) else { return [:] }
        var out: [String: Double] = [:]
        for pair in line.dropFirst("user_\(user):".count).split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Double(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    /// Polls INFO until `condition` holds for `user`'s figures (10 s at most).
    static func waitFor(_ c: RawClient, _ user: String, _ condition: ([String: Double]) -> Bool) -> [String: Double] {
        let deadline = Date().addingTimeInterval(10)
        var f = figures(c, user)
        while !condition(f) && Date() < deadline {
            c.send("PING\r\n")
            _ = c.readReplies()
            f = figures(c, user)
        }
        return f
    }

    static func limitError(_ user: String) -> String { "-ERR max number of connections reached for user '\(user)'\r\n" }

    // MARK: - Connections

    @Test func authBeyondTheConnectionLimitIsRefusedAndTheCountRecovers() throws {
        let server = try ServerProcess(config: Self.users("connections: 2"), logLevel: "info")
        let admin = try RawClient(port: server.port)
        let a = try RawClient(port: server.port), b = try RawClient(port: server.port), c = try RawClient(port: server.port)
        a.send("AUTH alice x\r\n")
        #expect(a.readReplies() == "+OK\r\n")
        b.send("HELLO 2 AUTH alice x\r\n")
        #expect(b.readReplies().hasPrefix("*14\r\n"))
        // The third: refused with the documented error, still `default`.
        c.send("AUTH alice x\r\nACL WHOAMI\r\nHELLO 3 AUTH alice x\r\nACL WHOAMI\r\n")
        #expect(c.readReplies(4) == Self.limitError("alice") + "$7\r\ndefault\r\n" + Self.limitError("alice") + "$7\r\ndefault\r\n")
        // An AUTH as the user it is already is not another connection.
        a.send("AUTH alice x\r\n")
        #expect(a.readReplies() == "+OK\r\n")
        var f = Self.figures(admin, "alice")
        #expect(f["connections"] == 2 && f["connections_refused"] == 2, "\(f)")
        // One leaves (its close), one moves to another user: two places free.
        a.send("QUIT\r\n")
        #expect(a.isClosedByPeer())
        b.send("AUTH bob x\r\n")
        #expect(b.readReplies() == "+OK\r\n")
        f = Self.waitFor(admin, "alice") { $0["connections"] == 0 }
        #expect(f["connections"] == 0, "\(f)")
        c.send("AUTH alice x\r\nACL WHOAMI\r\n")
        #expect(c.readReplies(2) == "+OK\r\n$5\r\nalice\r\n")
        // ACL DELUSER closes its connections and the count goes with them;
        // made again, the user has its configured limit again.
        admin.send("ACL DELUSER alice\r\nACL SETUSER alice on nopass +@all\r\n")
        #expect(admin.readReplies(2) == ":1\r\n+OK\r\n")
        #expect(c.isClosedByPeer())
        let d = try RawClient(port: server.port), e = try RawClient(port: server.port), g = try RawClient(port: server.port)
        d.send("AUTH alice x\r\n"); e.send("AUTH alice x\r\n")
        #expect(d.readReplies() == "+OK\r\n" && e.readReplies() == "+OK\r\n")
        g.send("AUTH alice x\r\n")
        #expect(g.readReplies() == Self.limitError("alice"))
        f = Self.figures(admin, "alice")
        #expect(f["connections"] == 2 && f["connections_refused"] == 1, "\(f)")
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        #expect(metrics.contains("vimana_user_connections{user=\"alice\"} 2\n"), "\(metrics)")
        #expect(metrics.contains("vimana_user_connections_refused_total{user=\"alice\"} 1\n"))
    }

    /// A connection of a deleted user (closing after its reply) does not
    /// count in the account of a user made again under the name: ACL
    /// SETUSER changes only the connections counted in the user's account,
    /// and none enters an account but past its `connections` limit.
    @Test func aUserMadeAgainDoesNotTakeInTheDeletedUsersConnection() throws {
        let server = try ServerProcess(config: Self.users("connections: 1"), logLevel: "info")
        let a = try RawClient(port: server.port)
        a.send("AUTH alice x\r\n")
        #expect(a.readReplies() == "+OK\r\n")
        a.send("MULTI\r\nACL DELUSER alice\r\nACL SETUSER alice on nopass +@all ~* &*\r\nINFO users\r\nEXEC\r\n")
        #expect(a.readReplies(4) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n")
        guard case .array(let results)? = RESPReader(a).next(timeout: 10), results.count == 3,
              case .bulk(let info) = results[2] else {
            Issue.record("EXEC gave no array of three")
            return
        }
        #expect(results[0] == .integer(1) && results[1] == .simple("OK"), "\(results)")
        #expect(info.contains("user_alice:connections=0,"), "\(visible(info))")
        #expect(a.isClosedByPeer())
        let b = try RawClient(port: server.port)
        b.send("AUTH alice x\r\nACL WHOAMI\r\n")
        #expect(b.readReplies(2) == "+OK\r\n$5\r\nalice\r\n")
    }

    /// `default`'s limit: a connection beyond it is accepted but acts as no
    /// user, so an agent or an admin still gets in as its own: it may AUTH
    /// or HELLO AUTH as another user, QUIT or RESET, and any other command
    /// gets the limit error until `default` has room. RESET of a connection
    /// that cannot be `default` leaves it acting as no user.
    @Test func aConnectionBeyondTheDefaultUsersLimitMayAuthenticateAsAnother() throws {
        let server = try ServerProcess(config: Self.users("connections: 5", default: "connections: 1"), logLevel: "info")
        let limit = Self.limitError("default")
        let first = try RawClient(port: server.port)
        first.send("PING\r\n")
        #expect(first.readReplies() == "+PONG\r\n")
        let second = try RawClient(port: server.port)
        second.send("PING\r\nACL WHOAMI\r\nHELLO 3\r\nAUTH alice x\r\nPING\r\nACL WHOAMI\r\n")
        #expect(second.readReplies(6) == limit + limit + limit + "+OK\r\n+PONG\r\n$5\r\nalice\r\n")
        let third = try RawClient(port: server.port)
        third.send("HELLO 2 AUTH alice x\r\n")
        #expect(third.readReplies().hasPrefix("*14\r\n"))
        let fourth = try RawClient(port: server.port)
        fourth.send("SUBSCRIBE news\r\nQUIT\r\n")
        #expect(fourth.readToEnd() == limit + "+OK\r\n")
        var f = Self.figures(first, "default")
        #expect(f["connections"] == 1 && f["connections_refused"] == 3, "\(f)")
        // RESET would make `second` a second `default`: it acts as no user.
        second.send("RESET\r\nPING\r\n")
        #expect(second.readReplies(2) == "+RESET\r\n" + limit)
        f = Self.figures(first, "alice")
        #expect(f["connections"] == 1, "\(f)")
        // A change of `default` does not take it in either.
        first.send("ACL SETUSER default on\r\nPING\r\n")
        #expect(first.readReplies(2) == "+OK\r\n+PONG\r\n")
        second.send("PING\r\n")
        #expect(second.readReplies() == limit)
        f = Self.figures(first, "default")
        #expect(f["connections"] == 1, "\(f)")
        // `first` becomes alice: the next command of `second` acts as `default`.
        first.send("AUTH alice x\r\n")
        #expect(first.readReplies() == "+OK\r\n")
        second.send("PING\r\nACL WHOAMI\r\n")
        #expect(second.readReplies(2) == "+PONG\r\n$7\r\ndefault\r\n")
        // RESET of a connection that is `default` already is as usual.
        second.send("RESET\r\n")
        #expect(second.readReplies() == "+RESET\r\n")
        f = Self.figures(second, "default")
        #expect(f["connections"] == 1 && f["connections_refused"] == 4, "\(f)")
    }

    /// A connection beyond `default`'s limit that gets no user is closed
    /// after the grace (10 s), so the limit bounds anonymous sockets; one
    /// that authenticated as another user in time is not.
    @Test func aConnectionThatGetsNoUserIsClosedAfterTheGrace() throws {
        let server = try ServerProcess(config: Self.users("connections: 5", default: "connections: 1"), logLevel: "info")
        let first = try RawClient(port: server.port)
        first.send("PING\r\n")
        #expect(first.readReplies() == "+PONG\r\n")
        let started = Date()
        let idle = try RawClient(port: server.port)
        let authed = try RawClient(port: server.port)
        idle.send("PING\r\n")
        #expect(idle.readReplies() == Self.limitError("default"))
        authed.send("AUTH alice x\r\n")
        #expect(authed.readReplies() == "+OK\r\n")
        #expect(idle.isClosedByPeer(timeout: 60), "the connection with no user was not closed")
        #expect(Date().timeIntervalSince(started) >= 9.5, "closed before its grace")
        authed.send("PING\r\n")
        #expect(authed.readReplies() == "+PONG\r\n")
        first.send("PING\r\n")
        #expect(first.readReplies() == "+PONG\r\n")
    }

    /// With a password on `default`, a connection beyond its limit gets the
    /// limit error before NOAUTH, and AUTH as `default` the limit error too.
    @Test func aConnectionBeyondAPasswordDefaultsLimitGetsTheLimitError() throws {
        let config = """
            users:
              - name: default
                password_hashes: ["#\(String(repeating: "ab", count: 32))"]
                permissions: ["+@all", "~*", "&*"]
                limits: {connections: 1}
              - name: alice
                nopass: true
                permissions: ["+@all", "~*", "&*"]
            """
        let server = try ServerProcess(config: config, logLevel: "info")
        let first = try RawClient(port: server.port)
        first.send("PING\r\n")
        #expect(first.readReplies() == "-NOAUTH Authentication required.\r\n")
        let second = try RawClient(port: server.port)
        second.send("PING\r\nAUTH default wrong\r\nAUTH alice x\r\nPING\r\n")
        #expect(second.readReplies(4) == Self.limitError("default")
                + "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n")
    }

    // MARK: - Publish rate

    /// 2000 pipelined PUBLISHes at 500 a second: all answered, all delivered
    /// and recorded in order, no sooner than the rate allows after the
    /// one-second burst; the pause shows in INFO and /metrics; bob, publishing
    /// meanwhile under a limit it does not reach, is never paused.
    @Test func aPublisherOverItsRateIsPausedAndLosesNothing() throws {
        let count = 2000, rate = 500
        let server = try ServerProcess(config: Self.users("publish_rate: \(rate)"), logLevel: "info")
        let subscriber = try RawClient(port: server.port, timeout: 30)
        subscriber.send("SUBSCRIBE rated\r\n")
        #expect(subscriber.readReplies() == "*3\r\n$9\r\nsubscribe\r\n$5\r\nrated\r\n:1\r\n")
        let alice = try RawClient(port: server.port, timeout: 30)
        alice.send("AUTH alice x\r\n")
        #expect(alice.readReplies() == "+OK\r\n")
        let bob = try RawClient(port: server.port, timeout: 30)
        bob.send("AUTH bob x\r\n")
        #expect(bob.readReplies() == "+OK\r\n")
        let admin = try RawClient(port: server.port)

        let started = Date()
        alice.send((0..<count).map { RawClient.command(["PUBLISH", "rated", "m\($0)"]) }.joined())
        // Once alice is paused, bob publishes 1000 and is answered in full
        // while alice is still short of her 2000 (counters, not clocks).
        var f = Self.waitFor(admin, "alice") { ($0["publish_pauses"] ?? 0) >= 1 }
        #expect((f["publish_pauses"] ?? 0) >= 1, "\(f)")
        bob.send(String(repeating: RawClient.command(["PUBLISH", "other", "b"]), count: 1000))
        #expect(bob.read(count: 4 * 1000) == Array(String(repeating: ":0\r\n", count: 1000).utf8))
        let aliceMeanwhile = Self.figures(admin, "alice")["messages_published"] ?? 0
        #expect(aliceMeanwhile < Double(count), "alice had published \(aliceMeanwhile) when bob was done")
        let bobs = Self.figures(admin, "bob")
        #expect(bobs["publish_pauses"] == 0 && bobs["messages_published"] == 1000, "\(bobs)")

        // Every publish answered (one subscriber each), none refused.
        #expect(alice.read(count: 4 * count) == Array(String(repeating: ":1\r\n", count: count).utf8))
        let elapsed = Date().timeIntervalSince(started)
        // After the burst (one second's worth), the rest at the rate.
        let least = Double(count - rate) / Double(rate) - 0.1
        #expect(elapsed >= least, "2000 messages at 500/s took \(elapsed) s")
        // Delivered in order.
        let r = RESPReader(subscriber)
        for i in 0..<count {
            guard let m = r.next(timeout: 10) else { Issue.record("message \(i) never arrived"); return }
            if m.strings != ["message", "rated", "m\(i)"] { Issue.record("message \(i): \(m)"); return }
        }
        // Recorded in order.
        admin.send("XRANGE rated - +\r\n")
        guard case .array(let entries)? = RESPReader(admin).next(timeout: 10) else { Issue.record("XRANGE gave no array"); return }
        #expect(entries.count == count)
        let payloads = entries.compactMap { e -> String? in
            guard case .array(let pair) = e, pair.count == 2 else { return nil }
            return pair[1].strings.last
        }
        #expect(payloads == (0..<count).map { "m\($0)" })
        f = Self.figures(admin, "alice")
        #expect(f["messages_published"] == Double(count) && f["bytes_published"] == Double((0..<count).map { "m\($0)".utf8.count }.reduce(0, +)), "\(f)")
        // Paused for most of the run (between pauses it only runs what it had sent).
        #expect((f["publish_paused_seconds"] ?? 0) >= least / 2, "\(f)")
        let metrics = RawClient.httpGet(port: server.httpPort, path: "/metrics")
        let pauses = metrics.components(separatedBy: "\n").first { $0.hasPrefix("vimana_user_publish_pauses_total{user=\"alice\"} ") }
        #expect(pauses.map { Double($0.split(separator: " ").last ?? "0") ?? 0 } ?? 0 >= 1, "\(pauses ?? "no series")")
        #expect(metrics.contains("vimana_user_publish_pauses_total{user=\"bob\"} 0\n"))
        #expect(metrics.contains("vimana_user_published_messages_total{user=\"alice\"} \(count)\n"))
        #expect(server.waitForLog("publisher paused: user over its publish limit"))
    }

    /// A connection paused at its user's rate that stops acting as the user
    /// (AUTH as bob inside the EXEC whose PUBLISH paused it) is released as
    /// a pause that ends by itself: what it sent meanwhile runs now, not
    /// when alice's allowance is back (99 s away), and alice's pause goes on.
    @Test func aPausedConnectionThatLeavesItsUserRunsWhatItSent() throws {
        let server = try ServerProcess(config: Self.users("publish_bytes: 10"), logLevel: "info")
        let a = try RawClient(port: server.port)
        a.send("AUTH alice x\r\n")
        #expect(a.readReplies() == "+OK\r\n")
        let payload = String(repeating: "p", count: 1000)
        a.send("MULTI\r\n" + RawClient.command(["PUBLISH", "t", payload]) + "AUTH bob x\r\nEXEC\r\nPING\r\nACL WHOAMI\r\n")
        #expect(a.readReplies(6) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:0\r\n+OK\r\n+PONG\r\n$3\r\nbob\r\n")
        // Bob's commands are not held by alice's debt.
        a.send(String(repeating: RawClient.command(["PUBLISH", "t", "b"]), count: 100))
        #expect(a.read(count: 4 * 100) == Array(String(repeating: ":0\r\n", count: 100).utf8))
        let admin = try RawClient(port: server.port)
        let f = Self.figures(admin, "alice")
        #expect(f["publish_pauses"] == 1 && f["messages_published"] == 1 && f["connections"] == 0, "\(f)")
    }

    /// `publish_bytes` alone, through XADD (the entry's names and values):
    /// 60 entries of 501 bytes at 10000 bytes a second.
    @Test func aByteRateSlowsXADDAndLosesNothing() throws {
        let count = 60, value = String(repeating: "v", count: 500), rate = 10_000
        let server = try ServerProcess(config: Self.users("publish_bytes: \(rate)"), logLevel: "info")
        let alice = try RawClient(port: server.port, timeout: 30)
        alice.send("AUTH alice x\r\n")
        #expect(alice.readReplies() == "+OK\r\n")
        let started = Date()
        alice.send((0..<count).map { RawClient.command(["XADD", "bytes", "\($0 + 1)-0", "f", value]) }.joined())
        let expected = (0..<count).map { "$\("\($0 + 1)-0".count)\r\n\($0 + 1)-0\r\n" }.joined()
        #expect(alice.read(matching: expected) == expected)
        let elapsed = Date().timeIntervalSince(started)
        let least = Double(count * 501 - rate) / Double(rate) - 0.1
        #expect(elapsed >= least, "\(count * 501) bytes at \(rate)/s took \(elapsed) s")
        let admin = try RawClient(port: server.port)
        admin.send("XLEN bytes\r\n")
        #expect(admin.readReplies() == ":\(count)\r\n")
        let f = Self.figures(admin, "alice")
        #expect(f["bytes_published"] == Double(count * 501) && (f["publish_pauses"] ?? 0) >= 1, "\(f)")
    }
}
