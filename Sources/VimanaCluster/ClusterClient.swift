#if canImport(Glibc)
import Glibc
#endif
import VimanaCore
import VimanaRESP

/// Counters of what a client has had to do, for INFO and /metrics.
public struct ClusterStats: Sendable, Equatable {
    /// Slot maps fetched.
    public var refreshes = 0
    /// MOVED replies followed.
    public var moved = 0
    /// ASK replies followed.
    public var asked = 0
    /// Commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN or a lost connection.
    public var retries = 0
    /// Connections opened (the first to each node included).
    public var connects = 0
}

/// A blocking client of a Redis Cluster: routes each command to the master
/// of its key's slot, following the cluster's redirects.
///
/// Promises: one owner thread (not thread-safe, not shared); one connection
/// per node, made when first needed, authenticated, closed on any I/O error
/// and made again on next use; the slot map comes from CLUSTER SHARDS (or
/// CLUSTER SLOTS), is patched by every MOVED reply, and is fetched again
/// after a node could not be reached. Never logs or
/// reports a payload or the password.
public final class ClusterClient {
    public let settings: ClusterSettings
    /// The current map (nil until the first refresh).
    public private(set) var slotMap: SlotMap?
    public private(set) var stats = ClusterStats()
    private var connections: [ClusterNode: NodeConnection] = [:]
    /// A MOVED reply patched the map: fetch it whole before the next command.
    private var refreshBeforeNextCall = false

    public init(_ settings: ClusterSettings) {
        self.settings = settings
    }

    deinit { close() }

    /// Closes every connection; the next call opens them again.
    public func close() {
        for c in connections.values { c.close() }
        connections.removeAll()
    }

    // MARK: - The slot map

    /// Slot map from CLUSTER SHARDS (fallback CLUSTER SLOTS), asked of any
    /// reachable known node or seed: the map's masters, then its replicas,
    /// then the seeds, the first that answers with at least one served slot.
    /// Throws `.protocolError` when a node's reply was malformed and none
    /// gave a map, `.noSlotMap` when nodes answered without one (an error
    /// reply, no slot assigned), `.unreachable` when none answered,
    /// `.auth` at once when a node refused the credentials.
    public func refreshSlots() throws(ClusterError) {
        try refreshSlots(until: nil)
    }

    /// `refreshSlots()` giving up at `deadline` (monotonic nanoseconds):
    /// each connect and read waits at most what is left, and no node is
    /// asked after it, so a partition costs a call its own deadline, not a
    /// connect timeout per known node.
    private func refreshSlots(until deadline: Int64?) throws(ClusterError) {
        var candidates: [ClusterNode] = []
        var seen = Set<ClusterNode>()
        for node in (slotMap?.nodes ?? []) + settings.seeds where seen.insert(node).inserted { candidates.append(node) }
        var malformed: ClusterError?
        var refusal: String?
        var last = candidates.isEmpty ? "no seeds given" : "the deadline passed"
        var tried: [ClusterNode] = []
        for node in candidates {
            var connectTimeout = settings.connectTimeout, readTimeout = settings.commandTimeout
            if let deadline {
                let left = Double(deadline &- Clock.monotonicNanos()) / 1e9
                if left <= 0 { break }
                connectTimeout = min(connectTimeout, left)
                readTimeout = min(readTimeout, left)
            }
            tried.append(node)
            do {
                let map = try fetchMap(from: node, connectTimeout: connectTimeout, readTimeout: readTimeout)
                guard map.servedSlots > 0 else {
                    refusal = "\(node) knows no master serving a slot (is the cluster formed?)"
                    continue
                }
                slotMap = map
                refreshBeforeNextCall = false
                stats.refreshes += 1
                return
            } catch {
                switch error {
                case .auth: throw error
                case .protocolError: malformed = error
                case .noSlotMap(let why): refusal = why
                default: last = error.description
                }
            }
        }
        if let malformed { throw malformed }
        if let refusal { throw .noSlotMap(refusal) }
        throw .unreachable(tried: tried, last: last)
    }

    /// One node's view of the slots.
    private func fetchMap(from node: ClusterNode, connectTimeout: Double, readTimeout: Double) throws(ClusterError) -> SlotMap {
        let c = try connection(node, connectTimeout: connectTimeout)
        let reply = try c.call([Array("CLUSTER".utf8), Array("SHARDS".utf8)], readTimeout: readTimeout)
        guard case .error(let refusal) = reply else { return try SlotMap.fromShards(reply, askedHost: node.host) }
        // Before 7.0: "ERR Unknown subcommand or wrong number of arguments for 'SHARDS'…".
        guard refusal.lowercased().contains("subcommand") else { throw .noSlotMap("\(node): \(refusal)") }
        let slots = try c.call([Array("CLUSTER".utf8), Array("SLOTS".utf8)], readTimeout: readTimeout)
        if case .error(let e) = slots { throw .noSlotMap("\(node): \(e)") }
        return try SlotMap.fromSlots(slots, askedHost: node.host)
    }

    /// The master now serving `key`'s slot (refreshes the map if it has
    /// none, or if it is suspect: each node asked may take a connect and a
    /// reply timeout).
    public func master(forKey key: [UInt8]) throws(ClusterError) -> ClusterNode {
        try master(forKey: key, until: nil)
    }

    /// `master(forKey:)` giving up a refresh after `seconds` (monotonic, from
    /// now): nodes that accept connections and answer nothing (a partition)
    /// cost a caller its own deadline, not a reply timeout per node.
    public func master(forKey key: [UInt8], within seconds: Double) throws(ClusterError) -> ClusterNode {
        try master(forKey: key, until: Clock.monotonicNanos() &+ Self.nanos(seconds))
    }

    private func master(forKey key: [UInt8], until deadline: Int64?) throws(ClusterError) -> ClusterNode {
        if slotMap == nil || refreshBeforeNextCall { try refreshSlots(until: deadline) }
        let slot = HashSlot.of(key)
        guard let node = slotMap?.master(forSlot: slot) else {
            throw .clusterDown("slot \(slot) has no master in the map")
        }
        return node
    }

    /// The masters of the current map, in the order of their first slot.
    public var masters: [ClusterNode] { slotMap?.shards.map(\.master) ?? [] }

    /// The masters with their replicas and slot ranges.
    public var shards: [ClusterShard] { slotMap?.shards ?? [] }

    // MARK: - Commands

    /// `call(key:_:within:)` retrying for `settings.commandTimeout` ×
    /// `ClusterLimits.retryWindowPerCommandTimeout` seconds.
    public func call(key: [UInt8], _ args: [[UInt8]]) throws(ClusterError) -> (reply: RESPValue, node: ClusterNode) {
        try call(key: key, args, within: settings.commandTimeout * ClusterLimits.retryWindowPerCommandTimeout)
    }

    /// Sends `args` to the master of `key`'s slot and returns its reply and
    /// the node that answered.
    ///
    /// Follows MOVED (patches the map at once; the whole map is fetched
    /// again before the next call) and ASK (`ASKING` then the command, on
    /// the named node, in one write); after TRYAGAIN, CLUSTERDOWN, LOADING,
    /// MASTERDOWN, a refused or closed connection or a read timeout it
    /// pauses (10 ms doubling to 250 ms), fetches the map again and resends,
    /// until `seconds` (monotonic, from now) have passed — then throws the
    /// last failure. More than `ClusterLimits.maxRedirects` redirects throw
    /// `.tooManyRedirects`; a refused AUTH throws `.auth` at once. Other
    /// error replies come back as `.error` values.
    ///
    /// A retried command may have been executed once already (its reply was
    /// lost): send only commands that are safe to repeat.
    public func call(key: [UInt8], _ args: [[UInt8]], within seconds: Double) throws(ClusterError) -> (reply: RESPValue, node: ClusterNode) {
        let deadline = Clock.monotonicNanos() &+ Self.nanos(seconds)
        func remaining() -> Double { Double(deadline &- Clock.monotonicNanos()) / 1e9 }
        if refreshBeforeNextCall { try? refreshSlots(until: deadline) }
        let slot = HashSlot.of(key)
        var askTarget: ClusterNode?
        var needsRefresh = slotMap == nil
        var redirects = 0
        var pause = ClusterLimits.retryPauseMin
        var last = ClusterError.clusterDown("no attempt within \(seconds) s")
        var first = true
        while true {
            if !first {
                let left = remaining()
                guard left > 0 else { throw last }
                if pause > 0 {
                    usleep(UInt32(min(pause, left) * 1e6))
                    pause = min(pause * 2, ClusterLimits.retryPauseMax)
                }
                guard remaining() > 0 else { throw last }
            }
            first = false
            let node: ClusterNode
            if let target = askTarget {
                node = target
            } else {
                if needsRefresh {
                    do {
                        try refreshSlots(until: deadline)
                        needsRefresh = false
                    } catch {
                        if case .auth = error { throw error }
                        last = error
                        // The map we have (if any) may still be right: try it.
                        if slotMap == nil { continue }
                    }
                }
                guard let owner = slotMap?.master(forSlot: slot) else {
                    last = .clusterDown("slot \(slot) has no master in the map")
                    needsRefresh = true
                    continue
                }
                node = owner
            }
            do throws(ClusterError) {
                let wait = min(settings.commandTimeout, remaining())
                let c = try connection(node, connectTimeout: min(settings.connectTimeout, remaining()))
                let reply: RESPValue
                if askTarget != nil {
                    askTarget = nil
                    let replies = try c.pipeline([[Array("ASKING".utf8)], args], readTimeout: wait)
                    reply = replies[1]
                } else {
                    reply = try c.call(args, readTimeout: wait)
                }
                switch try ClusterReply.classify(reply, from: node) {
                case .answer:
                    return (reply, node)
                case .moved(let movedSlot, let to):
                    redirects += 1
                    stats.moved += 1
                    guard redirects <= ClusterLimits.maxRedirects else { throw ClusterError.tooManyRedirects(key: key) }
                    if slotMap == nil { slotMap = SlotMap() }
                    slotMap?.assign(slot: movedSlot, to: to)
                    refreshBeforeNextCall = true
                    last = .clusterDown("\(node) answered MOVED \(movedSlot) \(to)")
                    // The first redirect is followed at once; a second one
                    // means nodes disagree for now: pause before the next.
                    pause = redirects == 1 ? 0 : max(pause, ClusterLimits.retryPauseMin)
                case .ask(let askedSlot, let to):
                    redirects += 1
                    stats.asked += 1
                    guard redirects <= ClusterLimits.maxRedirects else { throw ClusterError.tooManyRedirects(key: key) }
                    askTarget = to
                    last = .clusterDown("\(node) answered ASK \(askedSlot) \(to)")
                    pause = 0
                case .retry(let why):
                    last = .clusterDown("\(node): \(why)")
                    stats.retries += 1
                    if why.hasPrefix("CLUSTERDOWN") || why.hasPrefix("MASTERDOWN") { needsRefresh = true }
                    pause = max(pause, ClusterLimits.retryPauseMin)
                }
            } catch {
                if case .auth = error { throw error }
                if case .tooManyRedirects = error { throw error }
                last = error
                stats.retries += 1
                needsRefresh = true
                pause = max(pause, ClusterLimits.retryPauseMin)
            }
        }
    }

    /// Sends to one node exactly, no redirect followed, no retry (errors
    /// thrown, error replies returned), waiting `settings.commandTimeout` for
    /// the reply: for WAIT after a write on that node.
    public func call(node: ClusterNode, _ args: [[UInt8]]) throws(ClusterError) -> RESPValue {
        try call(node: node, args, readTimeout: settings.commandTimeout)
    }

    /// `call(node:_:)` waiting `readTimeout` seconds for the reply (a WAIT or
    /// a blocking read that may take longer than `settings.commandTimeout`).
    public func call(node: ClusterNode, _ args: [[UInt8]], readTimeout: Double) throws(ClusterError) -> RESPValue {
        let reply: RESPValue
        do throws(ClusterError) {
            reply = try connection(node, connectTimeout: settings.connectTimeout).call(args, readTimeout: readTimeout)
        } catch {
            refreshBeforeNextCall = true
            throw error
        }
        noteRedirect(reply, from: node)
        return reply
    }

    /// Several commands to one node in one write, replies in order; a MOVED
    /// reply among them patches the map (and is returned as is).
    public func pipeline(node: ClusterNode, _ commands: [[[UInt8]]]) throws(ClusterError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let replies: [RESPValue]
        do throws(ClusterError) {
            replies = try connection(node, connectTimeout: settings.connectTimeout)
                .pipeline(commands, readTimeout: settings.commandTimeout)
        } catch {
            refreshBeforeNextCall = true
            throw error
        }
        for r in replies { noteRedirect(r, from: node) }
        return replies
    }

    /// A MOVED reply outside `call(key:)` still says where a slot lives; a
    /// CLUSTERDOWN or MASTERDOWN says the map may be out of date. (A node
    /// that cannot be reached makes it suspect too: the callers above fetch
    /// it again before the next `master(forKey:)`, or a master that died for
    /// good would be asked for ever instead of the replica promoted in its place.)
    private func noteRedirect(_ reply: RESPValue, from node: ClusterNode) {
        switch try? ClusterReply.classify(reply, from: node) {
        case .moved(let slot, let to)?:
            if slotMap == nil { slotMap = SlotMap() }
            slotMap?.assign(slot: slot, to: to)
            refreshBeforeNextCall = true
        case .retry(let why)? where why.hasPrefix("CLUSTERDOWN") || why.hasPrefix("MASTERDOWN"):
            refreshBeforeNextCall = true
        default:
            break
        }
    }

    // MARK: - Connections

    /// The open connection to `node`, made (and authenticated) when there is none.
    private func connection(_ node: ClusterNode, connectTimeout: Double) throws(ClusterError) -> NodeConnection {
        if let c = connections[node], c.isOpen { return c }
        connections[node] = nil
        let c = try NodeConnection(node, settings: settings, connectTimeout: connectTimeout)
        stats.connects += 1
        connections[node] = c
        return c
    }

    static func nanos(_ seconds: Double) -> Int64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return seconds >= 1e9 ? Int64(1e18) : Int64(seconds * 1e9)
    }
}
