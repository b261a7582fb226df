import VimanaCore
import VimanaRESP

/// PING, QUIT, RESET, HELLO, AUTH, SELECT: the connection group.
extension Kernel {
    func pingCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.count > 2 {
            c.pointee.output.tail.writeError(ErrorReply.wrongArity("ping"))
            return
        }
        // RESP2 subscribers get a two-element array, as Redis does, because
        // their connection only carries pub/sub frames.
        if c.pointee.isSubscribed && !c.pointee.flags.contains(.resp3) {
            c.pointee.output.tail.append("*2\r\n$4\r\npong\r\n")
            if args.count == 2 { c.pointee.output.tail.writeBulk(args.pointer(1), args.length(1)) }
            else { c.pointee.output.tail.append("$0\r\n\r\n") }
            return
        }
        if args.count == 2 { c.pointee.output.tail.writeBulk(args.pointer(1), args.length(1)) }
        else { c.pointee.output.tail.append("+PONG\r\n") }
    }

    func quitCommand(_ c: UnsafeMutablePointer<ClientState>) {
        c.pointee.output.tail.append("+OK\r\n")
        c.pointee.flags.insert(.closeAfterReply)
    }

    /// RESET: back to a fresh connection (RESP2, no subscriptions, no name,
    /// the `default` user).
    func resetCommand(_ c: UnsafeMutablePointer<ClientState>) {
        discardTransaction(c)
        unsubscribeAll(c)
        stopMonitoring(c)
        // As Redis's clearClientConnectionState: replies on again (a SKIP
        // in effect still drops RESET's own).
        c.pointee.flags.remove([.resp3, .showPublisher])
        setReplyFlags(c) { $0.remove([.replyOff, .replySkipNext]) }
        // As Redis: back to the default user, authenticated only if it needs
        // no password; at `default`'s `connections` limit, as a connection
        // accepted then: acting as no user.
        // Counted as refused once: not again for one acting as no user already.
        let admitted = c.pointee.flags.contains(.overUserLimit) ? admitAsDefault(c) : actAsDefault(c)
        if !admitted { actAsNoUser(c) }
        if let info = clientInfo(c.pointee.fd) {
            info.name = []
            c.pointee.flags.remove(.named)
        }
        c.pointee.output.tail.append("+RESET\r\n")
    }

    /// HELLO [protover [AUTH user pass] [SETNAME name]], with Redis 7's
    /// validation order and reply map.
    func helloCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        var version = c.pointee.flags.contains(.resp3) ? 3 : 2
        if args.count >= 2 {
            guard let v = args.integer(1) else {
                c.pointee.output.tail.writeError(ErrorReply.protocolVersionNotInteger)
                return
            }
            if v < 2 || v > 3 {
                c.pointee.output.tail.writeError(ErrorReply.unsupportedProtocol)
                return
            }
            version = v
        }
        var user: [UInt8]?
        var passwordIndex = 0
        var name: [UInt8]?
        var j = 2
        while j < args.count {
            let more = args.count - 1 - j
            let option = args.keyword(j, as: HelloOption.self)
            if option == .auth && more >= 2 {
                user = args.bytes(j + 1)
                passwordIndex = j + 2
                j += 2
            } else if option == .setname && more >= 1 {
                let candidate = args.bytes(j + 1)
                // Validated as soon as it is read, as Redis: before later options.
                guard Self.validClientName(candidate) else {
                    c.pointee.output.tail.writeError(ErrorReply.invalidClientName)
                    return
                }
                name = candidate
                j += 1
            } else {
                c.pointee.output.tail.writeError(ErrorReply.helloOptionSyntax(args.string(j)))
                return
            }
            j += 1
        }
        if let user {
            guard authenticate(c, user: user, password: args.bytes(passwordIndex), command: "HELLO") else { return }
        } else if c.pointee.flags.contains(.overUserLimit) && !admitAsDefault(c) {
            c.pointee.output.tail.writeError(Self.userConnectionLimitError(Users.defaultName))
            return
        } else if !c.pointee.flags.contains(.authenticated) {
            c.pointee.output.tail.writeError(ErrorReply.helloBeforeAuth)
            return
        }
        if let name {
            clientInfo(c.pointee.fd)?.name = name
            if name.isEmpty { c.pointee.flags.remove(.named) } else { c.pointee.flags.insert(.named) }
        }
        if version == 3 { c.pointee.flags.insert(.resp3) } else { c.pointee.flags.remove(.resp3) }
        writeHelloReply(&c.pointee.output.tail, id: c.pointee.id, version: version)
    }

    private func writeHelloReply(_ b: inout ByteBuffer, id: Int, version: Int) {
        b.writeMapHeader(7, resp3: version == 3)
        b.writeBulk("server"); b.writeBulk("vimana")
        b.writeBulk("version"); b.writeBulk(Self.redisCompatibilityVersion)
        b.writeBulk("proto"); b.writeInteger(version)
        b.writeBulk("id"); b.writeInteger(id)
        b.writeBulk("mode"); b.writeBulk("standalone")
        b.writeBulk("role"); b.writeBulk("master")
        b.writeBulk("modules"); b.writeArrayHeader(0)
    }

    /// The Redis version whose behaviour we mirror, reported where clients
    /// look for one (HELLO, INFO `redis_version`); clients gate features on it.
    static let redisCompatibilityVersion: StaticString = "7.0.15"

    /// AUTH [user] password: Redis's. `AUTH password` is the `default`
    /// user's (`kernel.password`, Redis's `requirepass`), refused while that
    /// user needs none.
    func authCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.count > 3 {
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        if args.count == 2 && users.defaultUser.nopass {
            c.pointee.output.tail.writeError(ErrorReply.authWithoutPassword)
            return
        }
        let user = args.count == 3 ? args.bytes(1) : Array(Users.defaultName.utf8)
        if authenticate(c, user: user, password: args.bytes(args.count - 1), command: "AUTH") {
            c.pointee.output.tail.append("+OK\r\n")
        }
    }

    /// Makes the connection act as `user` when it exists, is on and accepts
    /// the password (compared in constant time by the ACL model); otherwise
    /// replies WRONGPASS, the same text whatever was wrong, as Redis, and
    /// logs the failure in ACL LOG (never the password).
    private func authenticate(_ c: UnsafeMutablePointer<ClientState>, user name: [UInt8], password: [UInt8], command: String) -> Bool {
        if let user = users.authenticate(String(decoding: name, as: UTF8.self), password: password) {
            // At the user's `connections` limit the connection keeps its user.
            guard actAs(c, user) else {
                log.debug("auth refused: user connection limit", ["id": .int(c.pointee.id), "user": .string(user.name)])
                c.pointee.output.tail.writeError(Self.userConnectionLimitError(user.name))
                return false
            }
            c.pointee.flags.insert(.authenticated)
            return true
        }
        log.debug("auth failed", ["id": .int(c.pointee.id)])
        logAuthFailure(c, command: command, username: name)
        c.pointee.output.tail.writeError(ErrorReply.wrongPass)
        return false
    }

    /// True when `given` is exactly `expected`, in a time that depends only
    /// on `given`'s length (which its sender knows), not on where they first
    /// differ. The lengths are compared at full width: folded into a byte,
    /// a difference of 256 vanished, and the password followed by 256 NULs
    /// was accepted.
    static func constantTimeEqual(_ expected: [UInt8], _ given: [UInt8]) -> Bool {
        var diff = UInt(bitPattern: expected.count ^ given.count)
        for i in 0..<given.count {
            diff |= UInt((i < expected.count ? expected[i] : 0) ^ given[i])
        }
        return diff == 0
    }

    func selectCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let index = args.integer(1) else {
            c.pointee.output.tail.writeError(ErrorReply.notInteger)
            return
        }
        guard index >= Int(Int32.min), index <= Int(Int32.max) else {
            c.pointee.output.tail.writeError(ErrorReply.notInt32)
            return
        }
        if index != 0 {
            c.pointee.output.tail.writeError(ErrorReply.dbIndexOutOfRange)
            return
        }
        c.pointee.output.tail.append("+OK\r\n")
    }

    /// Redis's rule: printable ASCII without spaces (33...126).
    static func validClientName(_ name: [UInt8]) -> Bool {
        name.allSatisfy { $0 >= 33 && $0 <= 126 }
    }
}

/// HELLO's options after the protocol version.
enum HelloOption: String, Keyword {
    case auth, setname
}
