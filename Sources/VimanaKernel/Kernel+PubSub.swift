import VimanaCore
import VimanaRESP
import VimanaBus
import VimanaEventLoop
import VimanaLedger

/// PUBLISH and the (P)(UN)SUBSCRIBE family, the bus's hot path; SPUBLISH
/// and S(UN)SUBSCRIBE, the same over a namespace of their own.
extension Kernel {
    // MARK: - Publish and deliver

    func publishCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if c.pointee.flags.contains(.agentInstance), !agentMayPublish(c, args.buffer(1)) { return }
        if let ledger, ledger.records(args.pointer(1), args.length(1)) {
            let topic = UnsafeRawBufferPointer(args.buffer(1))
            let payload = UnsafeRawBufferPointer(args.buffer(2))
            let now = s.pointee.nowMillis
            withPublisherName(c) { user in
                if c.pointee.flags.contains(.named), let name = clientInfo(c.pointee.fd)?.name {
                    name.withUnsafeBytes { nameBytes in
                        ledger.recordPublish(topic: topic, payload: payload,
                                             client: RecordClient(id: c.pointee.id, name: nameBytes, user: user),
                                             nowMillis: UInt64(now), nowMicros: now &* 1000)
                    }
                } else {
                    ledger.recordPublish(topic: topic, payload: payload,
                                         client: RecordClient(id: c.pointee.id, name: UnsafeRawBufferPointer(start: nil, count: 0),
                                                              user: user),
                                         nowMillis: UInt64(now), nowMicros: now &* 1000)
                }
            }
            if !blockedReaders.isEmpty { wakeReaders(topic) }
            if !agents.isEmpty { agents.notice(topic) }
            // A recorded publish appends an entry: the stream changed.
            if !s.pointee.watches.isEmpty { touchWatched(topic) }
            stallIfBehind(c)
        }
        let receivers = publish(args.pointer(1), args.length(1), args.pointer(2), args.length(2), from: MessagePublisher(c))
        c.pointee.output.tail.writeInteger(receivers)
        if c.pointee.flags.contains(.publishLimited) { chargePublish(c, payload: args.length(2)) }
    }

    /// Delivers `message` on `channel` to every subscriber of the channel and
    /// of every matching pattern; returns how many deliveries were made (a
    /// client matching both a channel and a pattern counts, and receives, twice
    /// — as in Redis).
    ///
    /// The message is framed once per (channel | pattern) into a scratch
    /// buffer; each subscriber gets a copy of those bytes in its output buffer,
    /// or for large messages a reference to one shared copy. A subscriber
    /// with CLIENT PUBLISHER ON gets one element more, `publisher`'s name
    /// (Kernel+Publisher.swift).
    func publish(_ channel: UnsafePointer<UInt8>, _ channelLength: Int,
                 _ message: UnsafePointer<UInt8>, _ messageLength: Int, from publisher: MessagePublisher) -> Int {
        let state = s
        state.pointee.metrics.messagesPublished &+= 1
        var receivers = 0
        state.pointee.delivering = true
        defer {
            state.pointee.delivering = false
            if !state.pointee.detachLater.isEmpty { endDeferredSubscriptions() }
        }
        if let (ids, count) = state.pointee.channels.subscribers(channel, channelLength) {
            state.pointee.scratch.clear()
            state.pointee.scratch.append("*3\r\n$7\r\nmessage\r\n")
            state.pointee.scratch.writeBulk(channel, channelLength)
            state.pointee.scratch.writeBulk(message, messageLength)
            deliver(ids, count, publisher)
            receivers &+= count
        }
        if state.pointee.patterns.count > 0 {
            state.pointee.patterns.forEachMatch(channel, channelLength) { pattern, ids, count in
                state.pointee.scratch.clear()
                state.pointee.scratch.append("*4\r\n$8\r\npmessage\r\n")
                state.pointee.scratch.writeBulk(pattern.baseAddress ?? channel, pattern.count)
                state.pointee.scratch.writeBulk(channel, channelLength)
                state.pointee.scratch.writeBulk(message, messageLength)
                deliver(ids, count, publisher)
                receivers &+= count
            }
        }
        state.pointee.metrics.messagesDelivered &+= receivers
        return receivers
    }

    /// SPUBLISH: a pure delivery to the shard channel's subscribers. Never
    /// recorded in the ledger, whatever `ledger.record` says: a shard
    /// channel is not a key, in Redis or here (PROTOCOL.md, Sharded
    /// pub/sub). An agent instance's `publishes`, a licence and a publish
    /// limit apply as to PUBLISH.
    func spublishCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if c.pointee.flags.contains(.agentInstance), !agentMayPublish(c, args.buffer(1)) { return }
        let receivers = shardPublish(args.pointer(1), args.length(1), args.pointer(2), args.length(2), from: MessagePublisher(c))
        c.pointee.output.tail.writeInteger(receivers)
        if c.pointee.flags.contains(.publishLimited) { chargePublish(c, payload: args.length(2)) }
    }

    /// Delivers `message` on shard channel `channel` as `smessage` to its
    /// subscribers (no pattern matches a shard channel, as in Redis);
    /// returns how many. The same delivery as `publish`'s (`deliver`:
    /// RESP3 pushes, PUBLISHER ON, output limits), from the shard table.
    func shardPublish(_ channel: UnsafePointer<UInt8>, _ channelLength: Int,
                      _ message: UnsafePointer<UInt8>, _ messageLength: Int, from publisher: MessagePublisher) -> Int {
        let state = s
        state.pointee.metrics.messagesPublished &+= 1
        guard let (ids, count) = state.pointee.shardChannels.subscribers(channel, channelLength) else { return 0 }
        state.pointee.delivering = true
        defer {
            state.pointee.delivering = false
            if !state.pointee.detachLater.isEmpty { endDeferredSubscriptions() }
        }
        state.pointee.scratch.clear()
        state.pointee.scratch.append("*3\r\n$8\r\nsmessage\r\n")
        state.pointee.scratch.writeBulk(channel, channelLength)
        state.pointee.scratch.writeBulk(message, messageLength)
        deliver(ids, count, publisher)
        state.pointee.metrics.messagesDelivered &+= count
        return count
    }

    /// Ends the subscriptions of subscribers cut off during the last walk.
    private func endDeferredSubscriptions() {
        for fd in s.pointee.detachLater {
            if let c = s.pointee.client(fd) { endSubscriptions(c) }
        }
        s.pointee.detachLater.removeAll(keepingCapacity: true)
    }

    /// Appends the frame in `scratch` to each subscriber's output. RESP3
    /// subscribers get the same bytes with `>` (push) in place of `*`;
    /// subscribers with CLIENT PUBLISHER ON one element more, the publisher.
    @inline(__always)
    private func deliver(_ ids: UnsafePointer<SubscriberID>, _ count: Int, _ publisher: MessagePublisher) {
        let state = s
        let frame = UnsafePointer(state.pointee.scratch.readPointer)
        let length = state.pointee.scratch.readableBytes
        if length >= KernelConstants.sharedMessageThreshold {
            deliverShared(ids, count, frame, length, publisher)
            return
        }
        let soft = state.pointee.limits.pubsubOutputSoft
        let hard = state.pointee.limits.pubsubOutputHard
        // The smaller non-zero limit: below it no limit check is needed.
        let check = soft > 0 ? (hard > 0 ? min(soft, hard) : soft) : (hard > 0 ? hard : Int.max)
        var i = 0
        while i < count {
            let fd = ids[i]
            i &+= 1
            guard let sub = state.pointee.connections.client(known: fd), !sub.pointee.flags.contains(.closing) else { continue }
            sub.pointee.output.tail.append(frame, length)
            // One flag test for a RESP2 subscriber, as before PUBLISHER ON
            // existed, one more for a RESP3 one; the rest only the
            // subscribers that asked for the publisher pay. Measured with
            // callgrind (1 publisher, 10 subscribers, 16-byte messages,
            // pipeline 16): 200 instructions per delivery before, +1 in
            // RESP2 (the publisher handed down, per PUBLISH), +4 in RESP3.
            let flags = sub.pointee.flags
            if !flags.isDisjoint(with: Self.rareSubscriber) {
                // CLIENT REPLY OFF|SKIP: the replies before the frame go, the frame stays.
                let dropping = !flags.isDisjoint(with: .repliesDropped)
                if dropping {
                    sub.pointee.output.tail.writeIndex &-= length
                    beginPush(sub)
                    sub.pointee.output.tail.append(frame, length)
                }
                if !flags.isDisjoint(with: Self.reframedMessage) {
                    let start = sub.pointee.output.tail.writeIndex &- length
                    if !flags.contains(.showPublisher) {
                        sub.pointee.output.tail.base[start] = 62  // '>': RESP3
                    } else {
                        appendPublisher(sub, frameStart: start, push: flags.contains(.resp3), publisher)
                    }
                }
                if dropping { endPush(sub) }
            }
            if !sub.pointee.flags.contains(.pendingWrite) {
                sub.pointee.flags.insert(.pendingWrite)
                state.pointee.pendingWrites.append(fd)
            }
            if sub.pointee.output.pendingBytes > check || sub.pointee.softLimitSince != 0 {
                checkOutputLimit(sub)
            }
        }
    }

    private func deliverShared(_ ids: UnsafePointer<SubscriberID>, _ count: Int,
                               _ frame: UnsafePointer<UInt8>, _ length: Int, _ publisher: MessagePublisher) {
        var resp2: SharedBytes?
        var resp3: SharedBytes?
        var withPublisher: [SharedBytes?] = [nil, nil]  // RESP2, RESP3: made at the first subscriber that asked
        for i in 0..<count {
            guard let sub = s.pointee.client(ids[i]), !sub.pointee.flags.contains(.closing) else { continue }
            let bytes: SharedBytes
            if sub.pointee.flags.contains(.showPublisher) {
                let k = sub.pointee.flags.contains(.resp3) ? 1 : 0
                if let shared = withPublisher[k] {
                    bytes = shared
                } else {
                    bytes = framedWithPublisher(frame, length, publisher, push: k == 1)
                    withPublisher[k] = bytes
                }
            } else if sub.pointee.flags.contains(.resp3) {
                if let shared = resp3 {
                    bytes = shared
                } else {
                    bytes = SharedBytes(copying: frame, count: length)
                    bytes.base[0] = 62  // '>': a RESP3 push
                    resp3 = bytes
                }
            } else if let shared = resp2 {
                bytes = shared
            } else {
                bytes = SharedBytes(copying: frame, count: length)
                resp2 = bytes
            }
            let dropping = !sub.pointee.flags.isDisjoint(with: .repliesDropped)
            if dropping { beginPush(sub) }
            sub.pointee.output.append(shared: bytes)
            if dropping { endPush(sub) }
            markPending(sub)
            checkOutputLimit(sub)
        }
    }

    /// The flags that change a message frame for a subscriber.
    static let reframedMessage: ClientFlags = [.resp3, .showPublisher]
    /// The flags that send a delivery off the plain path: a changed frame,
    /// or replies being dropped (CLIENT REPLY OFF|SKIP).
    static let rareSubscriber: ClientFlags = reframedMessage.union(.repliesDropped)

    /// Makes the frame just appended at `frameStart` one element longer
    /// (`*3` → `*4`, `*4` → `*5`: a frame has at most four), a push when
    /// `push`, and appends the publisher's name as its last element.
    @inline(never)
    private func appendPublisher(_ sub: UnsafeMutablePointer<ClientState>, frameStart: Int, push: Bool,
                                 _ publisher: MessagePublisher) {
        if push { sub.pointee.output.tail.base[frameStart] = 62 }  // '>'
        sub.pointee.output.tail.base[frameStart &+ 1] &+= 1
        publisher.withName { name, count in sub.pointee.output.tail.writeBulk(name, count) }
    }

    /// A large frame with the publisher's name as one element more, shared
    /// by every subscriber with PUBLISHER ON in the same protocol.
    private func framedWithPublisher(_ frame: UnsafePointer<UInt8>, _ length: Int, _ publisher: MessagePublisher,
                                     push: Bool) -> SharedBytes {
        var b = ByteBuffer(capacity: length &+ 64)
        defer { b.release() }
        b.append(frame, length)
        b.base[b.readIndex &+ 1] &+= 1
        if push { b.base[b.readIndex] = 62 }  // '>'
        publisher.withName { name, count in b.writeBulk(name, count) }
        return SharedBytes(copying: b.readPointer, count: b.readableBytes)
    }

    // MARK: - Subscribe and unsubscribe

    /// `[p|s]subscribe|[p|s]unsubscribe <name> <count>` as a push (RESP3) or
    /// array. The count is Redis 7.0's: channels and patterns for the first
    /// two kinds, shard channels alone for the shard kinds.
    private func replySubscription(_ c: UnsafeMutablePointer<ClientState>, _ kind: StaticString, _ name: [UInt8]?,
                                   count: Int) {
        let resp3 = c.pointee.flags.contains(.resp3)
        // A push, as in Redis: sent even while CLIENT REPLY drops replies.
        let dropping = !c.pointee.flags.isDisjoint(with: .repliesDropped)
        if dropping { beginPush(c) }
        c.pointee.output.tail.writePushHeader(3, resp3: resp3)
        c.pointee.output.tail.writeBulk(kind)
        if let name { c.pointee.output.tail.writeBulk(bytes: name) } else { c.pointee.output.tail.writeNull(resp3: resp3) }
        c.pointee.output.tail.writeInteger(count)
        if dropping { endPush(c) }
    }

    private func replySubscription(_ c: UnsafeMutablePointer<ClientState>, _ kind: StaticString, _ name: [UInt8]?) {
        replySubscription(c, kind, name, count: c.pointee.channelCount + c.pointee.patternCount)
    }

    /// The count a reply in `namespace` carries.
    private func subscriptionCount(_ c: UnsafeMutablePointer<ClientState>, _ namespace: ChannelNamespace) -> Int {
        switch namespace {
        case .plain: c.pointee.channelCount + c.pointee.patternCount
        case .shard: c.pointee.shardChannelCount
        }
    }

    /// Runs `body` on the server's table of `namespace`.
    private func withTable<R>(_ namespace: ChannelNamespace, _ body: (inout ChannelTable) -> R) -> R {
        switch namespace {
        case .plain: body(&s.pointee.channels)
        case .shard: body(&s.pointee.shardChannels)
        }
    }

    /// Adds `delta` to the client's count of channels in `namespace`.
    private func countSubscriptions(_ c: UnsafeMutablePointer<ClientState>, _ namespace: ChannelNamespace, _ delta: Int) {
        switch namespace {
        case .plain: c.pointee.channelCount += delta
        case .shard: c.pointee.shardChannelCount += delta
        }
    }

    /// SUBSCRIBE and SSUBSCRIBE: each name joined (once) and replied in order.
    private func subscribe(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ namespace: ChannelNamespace) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        let own = namespace.subscriptions
        for i in 1..<args.count {
            let name = args.bytes(i)
            if info[keyPath: own].insert(name) {
                _ = withTable(namespace) { $0.insert(c.pointee.fd, name) }
                countSubscriptions(c, namespace, 1)
            }
            replySubscription(c, namespace.subscribed, name, count: subscriptionCount(c, namespace))
        }
    }

    /// UNSUBSCRIBE and SUNSUBSCRIBE: the names given, or every one of the
    /// namespace (a nil name and the count when there is none).
    private func unsubscribe(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ namespace: ChannelNamespace) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        if args.count == 1 {
            if info[keyPath: namespace.subscriptions].isEmpty {
                replySubscription(c, namespace.unsubscribed, nil, count: subscriptionCount(c, namespace))
                return
            }
            dropAll(c, info, namespace, reply: true)
            return
        }
        for i in 1..<args.count { unsubscribe(c, info, namespace, channel: args.bytes(i), reply: true) }
    }

    func subscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        subscribe(c, args, .plain)
    }

    /// SSUBSCRIBE: as SUBSCRIBE in the shard namespace, but refused inside
    /// a transaction, as Redis 7.0 refuses it (SUBSCRIBE is not).
    func ssubscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if c.pointee.flags.contains(.multi) {
            c.pointee.output.tail.writeError(ErrorReply.shardSubscribeInTransaction)
            return
        }
        subscribe(c, args, .shard)
    }

    func psubscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        for i in 1..<args.count {
            let pattern = args.bytes(i)
            if info.patterns.insert(pattern) {
                _ = s.pointee.patterns.insert(c.pointee.fd, pattern)
                c.pointee.patternCount += 1
            }
            replySubscription(c, "psubscribe", pattern)
        }
    }

    func unsubscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        unsubscribe(c, args, .plain)
    }

    func sunsubscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        unsubscribe(c, args, .shard)
    }

    func punsubscribeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        if args.count == 1 {
            if info.patterns.isEmpty { replySubscription(c, "punsubscribe", nil); return }
            dropAllPatterns(c, info, reply: true)
            return
        }
        for i in 1..<args.count { unsubscribe(c, info, pattern: args.bytes(i), reply: true) }
    }

    /// Leaves `channel` of `namespace` (if joined), with the reply when `reply`.
    func unsubscribe(_ c: UnsafeMutablePointer<ClientState>, _ info: ClientInfo, _ namespace: ChannelNamespace,
                     channel: [UInt8], reply: Bool) {
        if info[keyPath: namespace.subscriptions].remove(channel) {
            _ = withTable(namespace) { $0.remove(c.pointee.fd, channel) }
            countSubscriptions(c, namespace, -1)
        }
        if reply { replySubscription(c, namespace.unsubscribed, channel, count: subscriptionCount(c, namespace)) }
    }

    func unsubscribe(_ c: UnsafeMutablePointer<ClientState>, _ info: ClientInfo, pattern: [UInt8], reply: Bool) {
        if info.patterns.remove(pattern) {
            _ = s.pointee.patterns.remove(c.pointee.fd, pattern)
            c.pointee.patternCount -= 1
        }
        if reply { replySubscription(c, "punsubscribe", pattern) }
    }

    /// Drops every subscription without replies (RESET).
    func unsubscribeAll(_ c: UnsafeMutablePointer<ClientState>) {
        guard let info = clientInfo(c.pointee.fd) else { return }
        dropAll(c, info, .plain, reply: false)
        dropAllPatterns(c, info, reply: false)
        dropAll(c, info, .shard, reply: false)
    }

    /// Unsubscribes from every channel of `namespace` in one pass (linear,
    /// not one list search per channel), replying per channel as Redis does
    /// (in subscription order; Redis's is its hash table's).
    private func dropAll(_ c: UnsafeMutablePointer<ClientState>, _ info: ClientInfo, _ namespace: ChannelNamespace,
                         reply: Bool) {
        for name in info[keyPath: namespace.subscriptions].removeAll() {
            _ = withTable(namespace) { $0.remove(c.pointee.fd, name) }
            countSubscriptions(c, namespace, -1)
            if reply { replySubscription(c, namespace.unsubscribed, name, count: subscriptionCount(c, namespace)) }
        }
    }

    private func dropAllPatterns(_ c: UnsafeMutablePointer<ClientState>, _ info: ClientInfo, reply: Bool) {
        for pattern in info.patterns.removeAll() {
            _ = s.pointee.patterns.remove(c.pointee.fd, pattern)
            c.pointee.patternCount -= 1
            if reply { replySubscription(c, "punsubscribe", pattern) }
        }
    }

    // MARK: - PUBSUB

    func pubsubCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .pubsub, args, as: PubSubSubcommand.self) else { return }
        switch sub {
        case .channels:
            pubsubChannels(c, args, .plain)
        case .shardchannels:
            pubsubChannels(c, args, .shard)
        case .numsub:
            pubsubNumsub(c, args, .plain)
        case .shardnumsub:
            pubsubNumsub(c, args, .shard)
        case .numpat:
            c.pointee.output.tail.writeInteger(s.pointee.patterns.count)
        case .help:
            replyHelp(c, [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ])
        }
    }

    /// PUBSUB CHANNELS and SHARDCHANNELS: the channels of `namespace` with
    /// a subscriber, those matching the pattern when one is given.
    private func pubsubChannels(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ namespace: ChannelNamespace) {
        guard args.count <= 3 else {
            c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity(args.string(1), container: "PUBSUB"))
            return
        }
        var names: [[UInt8]] = []
        let pattern = args.count > 2 ? args.bytes(2) : nil
        withTable(namespace) { table in
            table.forEach { name, _ in
                let bytes = Array(name)
                if let pattern, !Glob.matches(pattern, bytes) { return }
                names.append(bytes)
            }
        }
        c.pointee.output.tail.writeArrayHeader(names.count)
        for n in names { c.pointee.output.tail.writeBulk(bytes: n) }
    }

    /// PUBSUB NUMSUB and SHARDNUMSUB: an array of name, count pairs in both
    /// protocols, as Redis 7.0.
    private func pubsubNumsub(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ namespace: ChannelNamespace) {
        c.pointee.output.tail.writeArrayHeader((args.count - 2) * 2)
        var i = 2
        while i < args.count {
            let name = args.bytes(i)
            c.pointee.output.tail.writeBulk(bytes: name)
            c.pointee.output.tail.writeInteger(withTable(namespace) { $0.subscriberCount(name) })
            i += 1
        }
    }
}

/// PUBSUB's subcommands, as in the table (`pubsub|channels` …).
enum PubSubSubcommand: String, Keyword {
    case channels, numsub, numpat, shardchannels, shardnumsub, help
}

/// SUBSCRIBE's channels or SSUBSCRIBE's shard channels: two namespaces of
/// exact names served by the same functions over their own tables (a name
/// in one is not in the other: PUBLISH reaches only the first, SPUBLISH
/// only the second). What differs between them is said here and in
/// `Kernel`'s `withTable`, `countSubscriptions` and `subscriptionCount`.
enum ChannelNamespace {
    case plain, shard

    /// The client's own set of names in this namespace.
    var subscriptions: ReferenceWritableKeyPath<ClientInfo, SubscriptionSet> {
        switch self {
        case .plain: \.channels
        case .shard: \.shardChannels
        }
    }

    /// The kind of a subscribe reply.
    var subscribed: StaticString { self == .plain ? "subscribe" : "ssubscribe" }
    /// The kind of an unsubscribe reply.
    var unsubscribed: StaticString { self == .plain ? "unsubscribe" : "sunsubscribe" }
}
