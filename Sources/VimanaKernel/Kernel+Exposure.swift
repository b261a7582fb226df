import VimanaCore
import VimanaEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// Who may reach the server from where: Redis's protected mode on the RESP
/// port, the bearer token on the HTTP port, and the warnings at start about
/// listeners open beyond loopback. TLS is not here: docs/OPERATIONS.md puts
/// stunnel in front.
extension Kernel {
    // MARK: - The default user

    /// Whether the `default` user has a password: the one question protected
    /// mode and the start warning ask. Evaluated at each accept, as Redis
    /// reads `DefaultUser->flags` then, so that a password given at run time
    /// takes effect for the next connection: Redis's test, the default
    /// user is not `nopass` (`kernel.password`, a declared `default`, or ACL
    /// SETUSER default gave it a password or left it without any).
    var defaultUserHasPassword: Bool { !users.defaultUser.nopass }

    // MARK: - Protected mode (RESP port)

    /// 127.0.0.1, in host byte order.
    static let loopbackPeer: UInt32 = 0x7F00_0001

    /// Redis 7.0.15's rule (networking.c, clientAcceptHandler): with
    /// protected mode on and no password for the default user, a client is
    /// refused unless its address is exactly 127.0.0.1 or ::1. Only those
    /// two: redis-server 7.0.15 refuses a client from 127.0.0.2 as well, and
    /// one whose address cannot be read. Vimana listens on IPv4 only, so ::1
    /// never arrives. The bind address plays no part, as in Redis 7.0.
    static func protectedModeRefuses(peer: UInt32?, protectedMode: Bool, defaultUserHasPassword: Bool) -> Bool {
        protectedMode && !defaultUserHasPassword && peer != loopbackPeer
    }

    /// At accept, before the connection gets a slot: writes Redis's DENIED
    /// text and closes it, counted as Redis counts it (`rejected_connections`).
    /// True when the connection was refused.
    func refusedByProtectedMode(_ fd: Int32) -> Bool {
        guard s.pointee.settings.protectedMode, !defaultUserHasPassword else { return false }
        let peer = Socket.peerIPv4(fd)
        guard Self.protectedModeRefuses(peer: peer, protectedMode: true, defaultUserHasPassword: false) else {
            return false
        }
        let text = ErrorReply.protectedModeDenied
        // A new socket's send buffer takes the whole text; a peer gone
        // already is closed all the same.
        _ = send(fd, text.utf8Start, text.utf8CodeUnitCount, Int32(MSG_NOSIGNAL))
        Socket.close(fd)
        s.pointee.metrics.connectionsRejected += 1
        if log.enabled(.debug) {
            log.debug("connection rejected", ["reason": "protected_mode", "addr": .string(peer.map(Self.dottedQuad) ?? "?")])
        }
        return true
    }

    static func dottedQuad(_ address: UInt32) -> String {
        "\(address >> 24).\((address >> 16) & 0xFF).\((address >> 8) & 0xFF).\(address & 0xFF)"
    }

    // MARK: - Bearer token (HTTP port)

    /// True when `head` (an HTTP request head, request line first) may be
    /// served: no `kernel.http_token` is set, or its `Authorization` header
    /// is `Bearer <token>` with exactly that token. The scheme is matched in
    /// any letter case (RFC 9110 §11.1); the token is compared in a time
    /// that does not depend on where it differs, and is never logged.
    static func httpAuthorized(head: ArraySlice<UInt8>, token: String?) -> Bool {
        guard let token else { return true }
        guard let given = bearerCredential(head) else { return false }
        return constantTimeEqual(Array(token.utf8), given)
    }

    /// The credential of the first `Authorization: Bearer …` header of
    /// `head`, without the surrounding spaces; nil when there is none.
    static func bearerCredential(_ head: ArraySlice<UInt8>) -> [UInt8]? {
        let name = Array("authorization".utf8)
        let scheme = Array("bearer".utf8)
        for rawLine in head.split(separator: 10).dropFirst() {
            let line = rawLine.last == 13 ? rawLine.dropLast() : rawLine
            guard let colon = line.firstIndex(of: 58), lowered(line[..<colon]) == name else { continue }
            let value = trimmed(line[(colon + 1)...])
            guard value.count > scheme.count, lowered(value.prefix(scheme.count)) == scheme,
                  let space = value.dropFirst(scheme.count).first, space == 32 || space == 9 else { return nil }
            let credential = trimmed(value.dropFirst(scheme.count))
            return credential.isEmpty ? nil : Array(credential)
        }
        return nil
    }

    private static func lowered(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var b = bytes
        while let f = b.first, f == 32 || f == 9 { b = b.dropFirst() }
        while let l = b.last, l == 32 || l == 9 { b = b.dropLast() }
        return b
    }

    // MARK: - At start

    /// One warning line per listener open beyond loopback without its
    /// credential: the RESP port without a default-user password (whether
    /// protected mode refuses strangers or not), the HTTP port without a token.
    func warnAboutExposure() {
        let k = config.kernel
        guard !k.bind.hasPrefix("127.") else { return }
        if !defaultUserHasPassword {
            let hint = k.protectedMode
                ? "protected mode refuses clients beyond loopback; set kernel.password (clients then AUTH), "
                    + "or kernel.protected_mode: no to serve them without one"
                : "anyone who can connect may publish, read the ledger and ACK tasks; set kernel.password, or bind 127.0.0.1"
            log.warn("listening beyond loopback without a password", [
                "bind": .string(k.bind), "protected_mode": .string(k.protectedMode ? "yes" : "no"), "hint": .string(hint)])
        }
        if httpPort >= 0 && k.httpToken == nil {
            log.warn("HTTP port listening beyond loopback without a token", [
                "bind": .string(k.bind), "http_port": .int(httpPort),
                "hint": .string("anyone who can connect may read /health and /metrics; set kernel.http_token "
                    + "(or http_token_file), or http_port: off")])
        }
    }
}
