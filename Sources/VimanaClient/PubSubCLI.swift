import VimanaRESP

/// The work behind `vimana pub` and `vimana sub`, without argument parsing:
/// the CLI parses flags and prints; these talk to the server.
public enum PubSubCLI {
    /// True when `name` contains glob characters (`*`, `?`, `[`) and so is
    /// subscribed with PSUBSCRIBE rather than SUBSCRIBE.
    public static func isPattern(_ name: String) -> Bool {
        name.utf8.contains { $0 == 42 || $0 == 63 || $0 == 91 }
    }

    /// PUBLISH `message` to `topic`; returns the number of receivers the
    /// server reports.
    public static func publish(host: String, port: Int, topic: String, message: [UInt8],
                               timeout: Double = 5) throws(ClientError) -> Int {
        let connection = try RESPConnection(host: host, port: port, timeout: timeout)
        defer { connection.close() }
        connection.setReadTimeout(timeout)
        let reply = try connection.call([Array("PUBLISH".utf8), Array(topic.utf8), message])
        switch reply {
        case .integer(let receivers): return receivers
        case .error(let message): throw .server(message)
        default: throw .unexpectedReply(reply.description)
        }
    }

    /// PUBLISH with a text message.
    public static func publish(host: String, port: Int, topic: String, message: String) throws(ClientError) -> Int {
        try publish(host: host, port: port, topic: topic, message: Array(message.utf8))
    }

    /// Subscribes to `patterns` (SUBSCRIBE for plain names, PSUBSCRIBE for
    /// globs) and calls `onMessage` with one rendered line per message —
    /// `PubSubMessage.textLine()` or, with `json`, `jsonLine()` — without a
    /// trailing newline. `onReady` runs once every subscription is confirmed.
    /// Returns only by throwing: `.closed` when the server ends the
    /// connection, `.server` when it refuses a subscription.
    public static func subscribe(host: String, port: Int, patterns: [String], json: Bool,
                                 onReady: (() -> Void)? = nil,
                                 onMessage: (String) -> Void) throws(ClientError) {
        try subscribe(host: host, port: port, patterns: patterns, onReady: onReady) { message in
            onMessage(json ? message.jsonLine() : message.textLine())
        }
    }

    /// As `subscribe(host:port:patterns:json:onReady:onMessage:)`, handing
    /// over decoded messages instead of lines.
    public static func subscribe(host: String, port: Int, patterns: [String],
                                 onReady: (() -> Void)? = nil,
                                 onMessage: (PubSubMessage) -> Void) throws(ClientError) {
        let connection = try RESPConnection(host: host, port: port)
        defer { connection.close() }
        let plain = patterns.filter { !isPattern($0) }
        let globs = patterns.filter { isPattern($0) }
        if !plain.isEmpty { try connection.send([Array("SUBSCRIBE".utf8)] + plain.map { Array($0.utf8) }) }
        if !globs.isEmpty { try connection.send([Array("PSUBSCRIBE".utf8)] + globs.map { Array($0.utf8) }) }
        var unconfirmed = plain.count + globs.count
        while true {
            let reply = try connection.readValue()
            if let message = PubSubMessage(reply) {
                onMessage(message)
                continue
            }
            if case .error(let text) = reply { throw .server(text) }
            if unconfirmed > 0, let kind = reply.elements?.first?.bytes,
               kind == Array("subscribe".utf8) || kind == Array("psubscribe".utf8) {
                unconfirmed -= 1
                if unconfirmed == 0 { onReady?() }
            }
        }
    }
}
