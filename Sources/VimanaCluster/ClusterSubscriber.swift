import VimanaCore
import VimanaRESP

/// One pub/sub connection to any reachable node of the cluster (PUBLISH
/// in a cluster reaches every node, so any one will do), subscribed to one
/// channel.
///
/// Promises: one owner thread; `init` returns only once the node confirmed
/// the subscription, so a message published after it returns is delivered
/// unless the connection is lost; a lost connection is thrown, never
/// hidden (messages published meanwhile are gone: make a new subscriber
/// and read what they announced some other way).
public final class ClusterSubscriber {
    public let channel: [UInt8]
    /// The node this subscriber is connected to.
    public let node: ClusterNode
    private let connection: NodeConnection

    /// Connects to the first seed that answers, AUTHs, SUBSCRIBEs and waits
    /// (`settings.commandTimeout`) for the confirmation. Throws `.unreachable`
    /// when no seed answered, `.auth` when one refused the credentials.
    /// To try more than the seeds, give it the nodes a `ClusterClient` knows
    /// (`slotMap.nodes`) as seeds.
    public init(_ settings: ClusterSettings, channel: [UInt8]) throws(ClusterError) {
        self.channel = channel
        var last = "no seeds given"
        for node in settings.seeds {
            do {
                let c = try NodeConnection(node, settings: settings, connectTimeout: settings.connectTimeout)
                try Self.subscribe(c, channel: channel, timeout: settings.commandTimeout)
                self.node = node
                connection = c
                return
            } catch {
                if case .auth = error { throw error }
                last = error.description
            }
        }
        throw .unreachable(tried: settings.seeds, last: last)
    }

    deinit { close() }

    /// Sends SUBSCRIBE and reads until its confirmation.
    private static func subscribe(_ c: NodeConnection, channel: [UInt8], timeout: Double) throws(ClusterError) {
        let deadline = Clock.monotonicNanos() &+ ClusterClient.nanos(timeout)
        do {
            try c.connection.send([Array("SUBSCRIBE".utf8), channel])
        } catch {
            c.close()
            throw .connection(node: c.node, error.description)
        }
        while true {
            let left = Double(deadline &- Clock.monotonicNanos()) / 1e9
            guard left > 0, let reply = try c.next(readTimeout: left) else {
                c.close()
                throw .connection(node: c.node, "no SUBSCRIBE confirmation within \(timeout) s")
            }
            if case .error(let refusal) = reply {
                c.close()
                throw .connection(node: c.node, "SUBSCRIBE refused: \(refusal)")
            }
            if let e = reply.elements, e.count == 3, e[0].bytes.map(lowercased) == Array("subscribe".utf8),
               e[1].bytes == channel {
                return
            }
        }
    }

    /// The next message's payload, or nil when `seconds` pass without one
    /// (0: a message already received, or nil at once); throws
    /// `.connection` when the connection is lost (make a new subscriber).
    public func next(timeout seconds: Double) throws(ClusterError) -> [UInt8]? {
        guard connection.isOpen else { throw .connection(node: node, "subscriber closed") }
        let deadline = Clock.monotonicNanos() &+ ClusterClient.nanos(seconds)
        var first = true
        while true {
            let left = Double(deadline &- Clock.monotonicNanos()) / 1e9
            // Read at least once: what is already received is handed even when no time is left.
            guard left > 0 || first, let value = try connection.next(readTimeout: max(left, 0)) else { return nil }
            first = false
            // RESP2 `*3 message channel payload`; a RESP3 push has the same elements.
            if let e = value.elements, e.count == 3, e[0].bytes == Array("message".utf8), e[1].bytes == channel,
               let payload = e[2].bytes {
                return payload
            }
        }
    }

    public func close() { connection.close() }
}

private func lowercased(_ b: [UInt8]) -> [UInt8] {
    b.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
}
