import VimanaRESP

/// What an error reply from a cluster node asks the client to do.
public enum ClusterReply: Equatable, Sendable {
    /// `MOVED slot host:port`: the slot lives there now (update the map).
    case moved(slot: Int, node: ClusterNode)
    /// `ASK slot host:port`: this once, send `ASKING` and the command there.
    case ask(slot: Int, node: ClusterNode)
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`: a passing state; retry after a pause.
    case retry(String)
    /// Anything else: the command's own answer (an error reply included).
    case answer

    /// Classifies `reply`, which came from `from` (whose host stands in for
    /// an empty host in a redirect, as Redis writes `MOVED 3999 :6380` when a
    /// node's endpoint is unknown). A MOVED or ASK whose slot or address is
    /// not valid is a protocol error.
    public static func classify(_ reply: RESPValue, from: ClusterNode) throws(ClusterError) -> ClusterReply {
        guard case .error(let text) = reply else { return .answer }
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        guard let code = words.first else { return .answer }
        switch code {
        case "MOVED", "ASK":
            guard words.count == 3, let slot = slotNumber(words[1]) else {
                throw .protocolError("malformed redirect from \(from): \(text.prefix(200))")
            }
            let address = words[2]
            let node: ClusterNode?
            if address.hasPrefix(":") {
                node = ClusterNode.parsePort(address.dropFirst()).map { ClusterNode(host: from.host, port: $0) }
            } else {
                node = ClusterNode.parse(String(address))
            }
            guard let node else { throw .protocolError("malformed redirect from \(from): \(text.prefix(200))") }
            return code == "MOVED" ? .moved(slot: slot, node: node) : .ask(slot: slot, node: node)
        case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN":
            return .retry(String(text.prefix(200)))
        default:
            return .answer
        }
    }

    /// A decimal 0…16383.
    static func slotNumber(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let n = Int(text), n < HashSlot.count else { return nil }
        return n
    }
}
