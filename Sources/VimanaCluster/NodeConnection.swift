import VimanaClient
import VimanaRESP

/// One authenticated connection to one node, and the read timeout last set
/// on it (so that a call does not pay a setsockopt when it is unchanged).
final class NodeConnection {
    let node: ClusterNode
    let connection: RESPConnection
    private var readTimeout = -1.0

    /// Connects, then `AUTH` (with `user` when given) and `CLIENT SETNAME`
    /// when the settings ask for them. A refused AUTH or SETNAME is `.auth`;
    /// anything else that fails is `.connection`. Neither error text holds
    /// the password: the server's refusal is quoted, never the command.
    init(_ node: ClusterNode, settings: ClusterSettings, connectTimeout: Double) throws(ClusterError) {
        self.node = node
        do {
            connection = try RESPConnection(host: node.host, port: node.port, timeout: max(connectTimeout, Self.shortest))
        } catch {
            throw .connection(node: node, error.description)
        }
        if let password = settings.password {
            var args: [[UInt8]] = [Array("AUTH".utf8)]
            if let user = settings.user { args.append(Array(user.utf8)) }
            args.append(Array(password.utf8))
            if case .error(let refusal) = try call(args, readTimeout: settings.commandTimeout) {
                connection.close()
                throw .auth(node: node, refusal)
            }
        }
        if let name = settings.clientName {
            if case .error(let refusal) = try call([Array("CLIENT".utf8), Array("SETNAME".utf8), Array(name.utf8)],
                                                   readTimeout: settings.commandTimeout) {
                connection.close()
                throw .auth(node: node, "CLIENT SETNAME: " + refusal)
            }
        }
    }

    /// A zero timeout means "wait forever" to the socket: never ask for less than this.
    static let shortest = 0.001

    func setReadTimeout(_ seconds: Double) {
        let s = max(seconds, Self.shortest)
        if s != readTimeout {
            connection.setReadTimeout(s)
            readTimeout = s
        }
    }

    /// Sends one command and reads its reply. On any failure the connection
    /// is closed (a late reply would be taken for the next command's).
    func call(_ args: [[UInt8]], readTimeout: Double) throws(ClusterError) -> RESPValue {
        setReadTimeout(readTimeout)
        do {
            return try connection.call(args)
        } catch {
            throw failed(error)
        }
    }

    /// Sends `commands` in one write and reads their replies in order.
    func pipeline(_ commands: [[[UInt8]]], readTimeout: Double) throws(ClusterError) -> [RESPValue] {
        setReadTimeout(readTimeout)
        var bytes: [UInt8] = []
        for c in commands { CommandEncoding.append(c, to: &bytes) }
        do {
            try connection.write(bytes)
            var replies: [RESPValue] = []
            replies.reserveCapacity(commands.count)
            for _ in commands { replies.append(try connection.readValue()) }
            return replies
        } catch {
            throw failed(error)
        }
    }

    /// Waits for the next value (pub/sub); a read timeout leaves the
    /// connection usable (the decoder keeps a partial value) and is nil.
    func next(readTimeout: Double) throws(ClusterError) -> RESPValue? {
        setReadTimeout(readTimeout)
        do {
            return try connection.readValue()
        } catch {
            if case .readTimeout = error { return nil }
            throw failed(error)
        }
    }

    var isOpen: Bool { connection.fd >= 0 }

    func close() { connection.close() }

    private func failed(_ error: ClientError) -> ClusterError {
        connection.close()
        if case .protocolError(let e) = error { return .protocolError("\(node): \(e)") }
        return .connection(node: node, error.description)
    }
}
