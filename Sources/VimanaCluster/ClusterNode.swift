/// One node of a cluster, by the address clients connect to.
public struct ClusterNode: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, or `[v6]:port` when the host holds a colon (Redis's form in MOVED and redis-cli).
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `host:port` or `[v6]:port` (the port 1…65535, decimal without
    /// sign; the host non-empty and without spaces); nil for anything else.
    /// A bare IPv6 address is split at its last colon, as Redis's MOVED
    /// replies write it (`MOVED 3999 ::1:6380`).
    public static func parse(_ s: String) -> ClusterNode? {
        let host: Substring
        let portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            host = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard !host.isEmpty, host.utf8.count <= ClusterLimits.maxHostLength,
              !host.contains(" "), let port = parsePort(portText) else { return nil }
        return ClusterNode(host: String(host), port: port)
    }

    /// A decimal 1…65535 with at most five digits and no sign.
    static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5 else { return nil }
        var n = 0
        for c in text.utf8 {
            guard c >= 48 && c <= 57 else { return nil }
            n = n * 10 + Int(c - 48)
        }
        return (1...65535).contains(n) ? n : nil
    }
}
