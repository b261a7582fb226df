import VimanaCore
import VimanaRESP

/// One delivered pub/sub message, from a RESP2 array or a RESP3 push:
/// `message topic payload`, `pmessage pattern topic payload`, or the
/// sharded `smessage topic payload`.
public struct PubSubMessage: Sendable, Equatable {
    /// The pattern that matched, for PSUBSCRIBE deliveries.
    public var pattern: [UInt8]?
    public var topic: [UInt8]
    public var payload: [UInt8]

    public init(pattern: [UInt8]? = nil, topic: [UInt8], payload: [UInt8]) {
        self.pattern = pattern
        self.topic = topic
        self.payload = payload
    }

    /// The message in `reply`, or nil when the reply is something else
    /// (a subscribe confirmation, a pong).
    public init?(_ reply: RESPValue) {
        guard let items = reply.elements, let kind = items.first?.bytes else { return nil }
        let kindText = String(decoding: kind, as: UTF8.self).lowercased()
        switch (kindText, items.count) {
        case ("message", 3), ("smessage", 3):
            guard let t = items[1].bytes, let p = items[2].bytes else { return nil }
            self.init(topic: t, payload: p)
        case ("pmessage", 4):
            guard let pat = items[1].bytes, let t = items[2].bytes, let p = items[3].bytes else { return nil }
            self.init(pattern: pat, topic: t, payload: p)
        default:
            return nil
        }
    }

    /// `topic payload`: both escaped as `RESPValue.escaped` does (control
    /// bytes, backslashes and invalid UTF-8 as `\n`, `\\`, `\xNN`; spaces in
    /// the topic as `\x20`), so one message is always exactly one line.
    public func textLine() -> String {
        RESPValue.escaped(topic, escapeSpace: true) + " " + RESPValue.escaped(payload)
    }

    /// `{"topic":…,"pattern":…,"payload":…}` (pattern null for plain
    /// subscriptions). Text that is valid UTF-8 is a plain JSON string; text
    /// that is not is rendered as `textLine` does and flagged `"escaped":true`.
    public func jsonLine() -> String {
        let (topicJSON, topicEscaped) = JSONText.string(topic)
        let (payloadJSON, payloadEscaped) = JSONText.string(payload)
        var line = "{\"topic\":" + topicJSON + ",\"pattern\":"
        if let pattern {
            let (patternJSON, patternEscaped) = JSONText.string(pattern)
            line += patternJSON
            if patternEscaped { line += ",\"pattern_escaped\":true" }
        } else {
            line += "null"
        }
        line += ",\"payload\":" + payloadJSON
        if topicEscaped { line += ",\"topic_escaped\":true" }
        if payloadEscaped { line += ",\"escaped\":true" }
        return line + "}"
    }
}

/// JSON string literals from bytes that may not be UTF-8.
enum JSONText {
    /// The JSON literal, and whether the bytes had to be escaped first
    /// because they were not valid UTF-8.
    static func string(_ bytes: [UInt8]) -> (String, Bool) {
        if UTF8Check.isValid(bytes) {
            return (Log.jsonString(String(decoding: bytes, as: UTF8.self)), false)
        }
        return (Log.jsonString(RESPValue.escaped(bytes)), true)
    }
}
