import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents

/// Redis Streams consumer groups over the same groups agents use: XGROUP,
/// XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS|CONSUMERS,
/// with Redis 7.0's replies.
extension Kernel {
    func xgroupCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .xgroup, args, as: XGroupSubcommand.self) else { return }
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        if sub == .help {
            replyHelp(c, ["XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                          "CREATE <key> <groupname> <id|$> [option]", "    Create a new consumer group. Options are:",
                          "    * MKSTREAM", "      Create the empty stream if it does not exist.",
                          "CREATECONSUMER <key> <groupname> <consumer>", "    Create a new consumer in the specified group.",
                          "DELCONSUMER <key> <groupname> <consumer>", "    Remove the specified consumer.",
                          "DESTROY <key> <groupname>", "    Remove the specified group.",
                          "SETID <key> <groupname> <id|$>", "    Set the current group ID.", "HELP", "    Prints this help."])
            return
        }
        if refusedAgentGroup(c, args, group: 3, command: "xgroup|" + sub.rawValue) { return }
        // Redis 7.0's order: CREATE's and SETID's options, then the key, then
        // the group, then the argument count, then the ID.
        let syntaxError = ErrorReply.unknownSubcommandOrArity(args.string(1), container: "XGROUP")
        var makeStream = false
        var entriesRead: Int64?
        if sub == .create || sub == .setid {
            var i = 5
            while i < args.count {
                switch args.keyword(i, as: XGroupOption.self) {
                case .mkstream where sub == .create:
                    makeStream = true; i += 1
                case .entriesread where i + 1 < args.count:
                    guard let n = entriesReadArgument(c, args, i + 1) else { return }
                    entriesRead = n; i += 2
                default:
                    c.pointee.output.tail.writeError(syntaxError); return
                }
            }
        }
        let topic = args.bytes(2), name = args.bytes(3)
        let exists = ledger.stream(topic) != nil
        var group: ConsumerGroup?
        if !makeStream {
            guard exists else { c.pointee.output.tail.writeError(ErrorReply.xgroupNeedsKey); return }
            group = agents.groups.group(topic, name)
            if group == nil && sub != .create && sub != .destroy {
                c.pointee.output.tail.writeError(ErrorReply.noSuchGroup(args.string(3), key: args.string(2)))
                return
            }
        }
        let now = Clock.wallMillis()
        switch sub {
        case .create:
            guard args.count <= XGroupSubcommand.createMaxArguments else { c.pointee.output.tail.writeError(syntaxError); return }
            let start: StreamID
            switch StreamID.parsePosition(args.buffer(4)) {
            case .last: start = ledger.stream(topic)?.lastID ?? .zero
            case .id(let id): start = id
            case .new, nil: c.pointee.output.tail.writeError(Self.invalidID); return
            }
            guard agents.groups.create(topic: topic, name: name, lastDelivered: start,
                                       entriesRead: entriesRead ?? ConsumerGroup.entriesReadUnknown) != nil else {
                c.pointee.output.tail.writeError(ErrorReply.busyGroup)
                return
            }
            // After the group: a BUSYGROUP changes nothing, as in Redis.
            if !exists {
                ledger.makeStream(topic)
                // MKSTREAM creates the stream: Redis signals the key as modified.
                if !s.pointee.watches.isEmpty { topic.withUnsafeBytes { touchWatched($0) } }
                notifyKeyspaceEvent(.new, "new", key: topic)
            }
            c.pointee.output.tail.append("+OK\r\n")
            notifyKeyspaceEvent(.stream, "xgroup-create", key: topic)
        case .destroy:
            let destroyed = agents.destroyGroup(topic: topic, name: name)
            c.pointee.output.tail.writeInteger(destroyed ? 1 : 0)
            if destroyed { notifyKeyspaceEvent(.stream, "xgroup-destroy", key: topic) }
        case .setid:
            // SETID key group id [ENTRIESREAD n], nothing else (Redis 7.0).
            guard args.count == 5 || args.count == 7, let g = group else { c.pointee.output.tail.writeError(syntaxError); return }
            // Unlike CREATE, SETID takes `-` and `+` (Redis 7.0).
            let id: StreamID
            switch StreamID.parsePosition(args.buffer(4), strict: false) {
            case .last: id = ledger.stream(topic)?.lastID ?? .zero
            case .id(let parsed): id = parsed
            case .new, nil: c.pointee.output.tail.writeError(Self.invalidID); return
            }
            agents.setGroupID(g, id, entriesRead: entriesRead)
            c.pointee.output.tail.append("+OK\r\n")
            notifyKeyspaceEvent(.stream, "xgroup-setid", key: topic)
        case .createconsumer:
            guard let g = group else {
                c.pointee.output.tail.writeError(ErrorReply.noSuchGroup(args.string(3), key: args.string(2)))
                return
            }
            let consumer = args.bytes(4)
            let existed = g.index(ofConsumer: consumer) != nil
            if !existed { groupConsumer(g, consumer, nowMillis: now) }
            c.pointee.output.tail.writeInteger(existed ? 0 : 1)
        case .delconsumer:
            guard let g = group else {
                c.pointee.output.tail.writeError(ErrorReply.noSuchGroup(args.string(3), key: args.string(2)))
                return
            }
            let consumer = args.bytes(4)
            let existed = g.index(ofConsumer: consumer) != nil
            c.pointee.output.tail.writeInteger(agents.groups.deleteConsumer(g, consumer))
            if existed { notifyKeyspaceEvent(.stream, "xgroup-delconsumer", key: topic) }
        case .help:
            break
        }
    }

    /// The consumer's index in `g`, created (and journaled) when missing,
    /// with Redis's `xgroup-createconsumer` keyspace event then.
    @discardableResult
    func groupConsumer(_ g: ConsumerGroup, _ name: [UInt8], nowMillis: Int64) -> Int {
        if s.pointee.notifyMask & KeyspaceEvents.stream.rawValue != 0 && g.index(ofConsumer: name) == nil {
            let i = agents.groups.consumer(g, name, nowMillis: nowMillis)
            notifyKeyspaceEvent(.stream, "xgroup-createconsumer", key: g.topic)
            return i
        }
        return agents.groups.consumer(g, name, nowMillis: nowMillis)
    }

    /// ENTRIESREAD's value at `i`, checked as Redis 7.0 does; nil (and the
    /// error replied) when it is not an integer or is below -1.
    private func entriesReadArgument(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, _ i: Int) -> Int64? {
        guard let n = args.integer(i) else {
            c.pointee.output.tail.writeError(ErrorReply.notInteger)
            return nil
        }
        guard ConsumerGroup.entriesReadRange.contains(Int64(n)) else {
            c.pointee.output.tail.writeError(ErrorReply.entriesReadRange)
            return nil
        }
        return Int64(n)
    }

    /// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS topic… id…, the options in any order (readOptions).
    func xreadgroupCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        guard let options = readOptions(c, args, group: true), let names = options.group else { return }
        if refusedAgentGroup(c, args, group: names.name, command: "xreadgroup") { return }
        let group = args.bytes(names.name), consumer = args.bytes(names.consumer)
        let streamsAt = options.streamsAt
        let n = (args.count - streamsAt) / 2
        var topics: [[UInt8]] = [], after: [StreamID?] = []
        for k in 0..<n {
            let topic = args.bytes(streamsAt + k)
            guard ledger.stream(topic) != nil, agents.groups.group(topic, group) != nil else {
                c.pointee.output.tail.writeError(ErrorReply.noSuchKeyOrGroup(args.string(streamsAt + k), group: args.string(names.name),
                                                                             in: "XREADGROUP with GROUP option"))
                return
            }
            let idArg = streamsAt + n + k
            switch StreamID.parsePosition(args.buffer(idArg)) {
            case .new: after.append(nil)
            case .id(let id): after.append(id)
            case .last: c.pointee.output.tail.writeError(ErrorReply.lastIDInGroup); return
            case nil: c.pointee.output.tail.writeError(Self.invalidID); return
            }
            topics.append(topic)
        }
        let read = GroupRead(group: group, consumer: consumer, topics: topics, after: after,
                             count: options.count == 0 ? Int.max : options.count, noAck: options.noAck)
        if replyGroupRead(c, read) { return }
        guard let timeout = options.blockMillis, after.contains(where: { $0 == nil }) else {
            c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        block(c, BlockedRead(topics: topics, after: [], count: read.count, group: read), timeoutMillis: timeout)
    }

    /// Delivers and replies for an XREADGROUP; false (nothing written) when
    /// a `>` read finds nothing new. `blocked`: a woken reader, which first
    /// checks in O(1) whether its group has anything new on its topics, since
    /// one append wakes every reader of the topic and, in a group, all but
    /// the first find that another consumer took the entry.
    func replyGroupRead(_ c: UnsafeMutablePointer<ClientState>, _ read: GroupRead, blocked: Bool = false) -> Bool {
        guard let ledger else { return false }
        if blocked && !read.topics.contains(where: { topic in
            guard let g = agents.groups.group(topic, read.group), let last = ledger.stream(topic)?.lastID else { return false }
            return last > g.lastDelivered
        }) { return false }
        let now = Clock.wallMillis()
        var found: [([UInt8], [LedgerRecord])] = []
        var history = false
        for (k, topic) in read.topics.enumerated() {
            guard let g = agents.groups.group(topic, read.group) else { continue }
            if let from = read.after[k] {
                // As Redis 7.0.15: a history read makes the consumer; a `>` read
                // only once it has something to give (a blocked one when served).
                let ci = groupConsumer(g, read.consumer, nowMillis: now)
                // History: this consumer's own pending entries after `from`,
                // read a COUNT's worth at a time (see `Ledger.records`);
                // those removed or past reading are listed by ID with a nil, as
                // Redis lists an entry deleted from its stream.
                history = true
                var entries: [LedgerRecord] = []
                var next = from.successor.map { g.position($0).0 } ?? g.pending.count
                while entries.count < read.count && next < g.pending.count {
                    var ids: [StreamID] = []
                    while next < g.pending.count && ids.count < read.count - entries.count {
                        if g.pending[next].consumer == ci { ids.append(g.pending[next].id) }
                        next += 1
                    }
                    for (id, r) in zip(ids, ledger.records(topic: topic, ids: ids)) {
                        guard let r else {
                            entries.append(Self.removed(id))
                            continue
                        }
                        entries.append(r)
                        agents.groups.deliver(g, r.id, to: ci, nowMillis: now)
                    }
                }
                found.append((topic, entries))
            } else {
                // Where the last delivered entry lies, when this group last read it here: the read skips what is before it.
                let hint = g.lastDeliveredSequence.flatMap { $0.id == g.lastDelivered ? $0.sequence : nil } ?? 0
                let entries = ledger.entries(topic: topic, after: g.lastDelivered, afterSequence: hint, count: read.count)
                let ci = entries.isEmpty ? 0 : groupConsumer(g, read.consumer, nowMillis: now)
                for r in entries {
                    if read.noAck { agents.groups.advance(g, to: r.id) } else { agents.groups.deliver(g, r.id, to: ci, nowMillis: now) }
                }
                if let last = entries.last { agents.groups.noteRead(g, upTo: last.id, sequence: last.sequence) }
                if !entries.isEmpty { found.append((topic, entries)) }
            }
        }
        if !agents.isEmpty {
            agents.noteGroupRead(group: read.group, consumer: read.consumer, delivered: found.reduce(0) { $0 + $1.1.count },
                                 noAck: read.noAck, nowMillis: now)
        }
        guard history || !found.isEmpty else {
            // As Redis 7.0.15 serves a woken group reader: when a topic's last ID went
            // past the group's though what came was removed at once, an empty answer
            // for that topic (the consumer made, as by any read that serves it).
            guard blocked else { return false }
            for topic in read.topics where blockedReaders.woken.contains(topic) {
                guard let g = agents.groups.group(topic, read.group), let last = ledger.stream(topic)?.lastID,
                      last > g.lastDelivered else { continue }
                groupConsumer(g, read.consumer, nowMillis: now)
                writeStreamsReply(c, [(topic, [])])
                return true
            }
            return false
        }
        writeStreamsReply(c, found)
        return true
    }

    func xackCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard ledger != nil else { c.pointee.output.tail.writeError(disabledError); return }
        if refusedAgentGroup(c, args, group: 2, command: "xack") { return }
        // As Redis: no group is 0 whatever the IDs; then all of them are read before any is acknowledged.
        guard let g = agents.groups.group(args.bytes(1), args.bytes(2)) else { c.pointee.output.tail.writeInteger(0); return }
        var ids: [StreamID] = []
        for i in 3..<args.count {
            guard let id = StreamID.parse(args.buffer(i)) else { c.pointee.output.tail.writeError(Self.invalidID); return }
            ids.append(id)
        }
        replyOnceCommitted(c, agents.xack(g, ids))
    }

    func xpendingCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        let resp3 = c.pointee.flags.contains(.resp3)
        let now = Clock.wallMillis()
        if args.count == 3 {
            // Summary.
            guard let g = pendingGroup(c, args) else { return }
            c.pointee.output.tail.writeArrayHeader(4)
            c.pointee.output.tail.writeInteger(g.pending.count)
            if let first = g.pending.first, let last = g.pending.last {
                c.pointee.output.tail.writeBulk(id: first.id)
                c.pointee.output.tail.writeBulk(id: last.id)
                let owners = g.consumers.enumerated().filter { !$0.element.deleted && $0.element.pending > 0 }
                c.pointee.output.tail.writeArrayHeader(owners.count)
                for (_, consumer) in owners {
                    c.pointee.output.tail.writeArrayHeader(2)
                    c.pointee.output.tail.writeBulk(bytes: consumer.name)
                    c.pointee.output.tail.writeBulk(string: String(consumer.pending))
                }
            } else {
                c.pointee.output.tail.writeNull(resp3: resp3)
                c.pointee.output.tail.writeNull(resp3: resp3)
                c.pointee.output.tail.writeNullArray(resp3: resp3)
            }
            return
        }
        // Extended: [IDLE ms] start end count [consumer], read as Redis 7.0
        // does: 6 to 9 arguments, anything after the consumer ignored.
        guard (6...9).contains(args.count) else { c.pointee.output.tail.writeError(ErrorReply.syntax); return }
        var i = 3
        var minIdle: Int64 = 0
        if args.keyword(i, as: XPendingOption.self) == .idle {
            guard let n = args.integer(i + 1) else { c.pointee.output.tail.writeError(ErrorReply.notInteger); return }
            guard args.count >= 8 else { c.pointee.output.tail.writeError(ErrorReply.syntax); return }
            minIdle = Int64(n); i += 2
        }
        // As Redis: count, then each bound in turn.
        guard let count = args.integer(i + 2) else { c.pointee.output.tail.writeError(ErrorReply.notInteger); return }
        guard let startBound = StreamID.parseBound(args.buffer(i), missingSequence: 0) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        guard let start = startBound.asStart else { c.pointee.output.tail.writeError(ErrorReply.invalidStartID); return }
        guard let endBound = StreamID.parseBound(args.buffer(i + 1), missingSequence: .max) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        guard let end = endBound.asEnd else { c.pointee.output.tail.writeError(ErrorReply.invalidEndID); return }
        // As Redis: the arguments are read before the group is looked up.
        guard let g = pendingGroup(c, args) else { return }
        let consumer = i + 3 < args.count ? args.bytes(i + 3) : nil
        var rows: [PendingEntry] = []
        for p in g.pending where p.id >= start && p.id <= end && rows.count < max(count, 0) {
            if let consumer, g.consumerName(p.consumer) != consumer { continue }
            if now.subtractingSaturating(p.deliveredAtMillis) < minIdle { continue }
            rows.append(p)
        }
        c.pointee.output.tail.writeArrayHeader(rows.count)
        for p in rows {
            c.pointee.output.tail.writeArrayHeader(4)
            c.pointee.output.tail.writeBulk(id: p.id)
            c.pointee.output.tail.writeBulk(bytes: g.consumerName(p.consumer))
            c.pointee.output.tail.writeInteger(Int(now.subtractingSaturating(p.deliveredAtMillis)))
            c.pointee.output.tail.writeInteger(p.deliveries)
        }
    }

    /// XPENDING's group; nil, and NOGROUP replied, when there is none.
    private func pendingGroup(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) -> ConsumerGroup? {
        guard ledger?.stream(args.bytes(1)) != nil, let g = agents.groups.group(args.bytes(1), args.bytes(2)) else {
            c.pointee.output.tail.writeError(ErrorReply.noSuchKeyOrGroup(args.string(1), group: args.string(2)))
            return nil
        }
        return g
    }

    /// XCLAIM topic group consumer min-idle id… [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
    func xclaimCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if refusedAgentGroup(c, args, group: 2, command: "xclaim") { return }
        guard let ledger, ledger.stream(args.bytes(1)) != nil, let g = agents.groups.group(args.bytes(1), args.bytes(2)) else {
            c.pointee.output.tail.writeError(ErrorReply.noSuchKeyOrGroup(args.string(1), group: args.string(2)))
            return
        }
        guard let minIdle = args.integer(4) else { c.pointee.output.tail.writeError(ErrorReply.invalidArgument("min-idle-time", of: "XCLAIM")); return }
        var ids: [StreamID] = []
        var i = 5
        // IDs up to the first argument that is not one (the options).
        while i < args.count, let id = StreamID.parse(args.buffer(i)) { ids.append(id); i += 1 }
        let now = Clock.wallMillis()
        var justID = false, retry: Int?, deliveryTime: Int64?
        while i < args.count {
            let more = i + 1 < args.count
            switch args.keyword(i, as: XClaimOption.self) {
            case .justid:
                justID = true; i += 1
            case .force:
                i += 1
            case .retrycount where more:
                guard let n = args.integer(i + 1) else { c.pointee.output.tail.writeError(ErrorReply.invalidArgument("RETRYCOUNT option", of: "XCLAIM")); return }
                retry = n; i += 2
            case .idle where more:
                guard let n = args.integer(i + 1) else { c.pointee.output.tail.writeError(ErrorReply.invalidArgument("IDLE option", of: "XCLAIM")); return }
                deliveryTime = now.subtractingSaturating(Int64(n)); i += 2
            case .time where more:
                guard let n = args.integer(i + 1) else { c.pointee.output.tail.writeError(ErrorReply.invalidArgument("TIME option", of: "XCLAIM")); return }
                deliveryTime = Int64(n); i += 2
            case .lastid where more:
                // Checked as Redis does; the group's last ID is not moved (Vimana's groups follow the ledger).
                guard StreamID.parse(args.buffer(i + 1)) != nil else { c.pointee.output.tail.writeError(Self.invalidID); return }
                i += 2
            default:
                // Redis formats the option as a C string: up to its first NUL (an ID cut short there is still not one).
                let option = String(decoding: args.buffer(i).prefix { $0 != 0 }, as: UTF8.self)
                c.pointee.output.tail.writeError(ErrorReply.unrecognizedXClaimOption(option))
                return
            }
        }
        // As Redis: a delivery time before the epoch or in the future is now.
        if let t = deliveryTime, t < 0 || t > now { deliveryTime = now }
        // As Redis 7.0.15: the consumer is made by its first claim, not before.
        var consumer: Int?
        func ci() -> Int {
            if let consumer { return consumer }
            let made = groupConsumer(g, args.bytes(3), nowMillis: now)
            consumer = made
            return made
        }
        // The pending ones read in one go (see `Ledger.records`).
        let wanted = Array(Set(ids.filter { g.entry($0) != nil })).sorted()
        let found = ledger.records(topic: g.topic, ids: wanted)
        var records: [StreamID: LedgerRecord] = [:]
        for case let r? in found { records[r.id] = r }
        var claimed: [LedgerRecord] = [], claimedIDs: [StreamID] = []
        for id in ids {
            guard let p = g.entry(id), now.subtractingSaturating(p.deliveredAtMillis) >= Int64(minIdle) else { continue }
            guard let r = records[id] else { agents.groups.ack(g, id); continue }
            agents.groups.deliver(g, id, to: ci(), nowMillis: now, deliveries: retry ?? (justID ? p.deliveries : p.deliveries.addingSaturating(1)))
            if let deliveryTime { agents.groups.touch(g, id, nowMillis: deliveryTime) }
            claimed.append(r)
            claimedIDs.append(id)
        }
        if justID {
            c.pointee.output.tail.writeArrayHeader(claimedIDs.count)
            for id in claimedIDs { c.pointee.output.tail.writeBulk(id: id) }
        } else {
            writeEntries(c, claimed)
        }
    }

    /// XAUTOCLAIM topic group consumer min-idle start [COUNT n] [JUSTID]
    func xautoclaimCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if refusedAgentGroup(c, args, group: 2, command: "xautoclaim") { return }
        // As Redis: every argument is read before the group is looked up.
        guard let minIdle = args.integer(4) else { c.pointee.output.tail.writeError(ErrorReply.invalidArgument("min-idle-time", of: "XAUTOCLAIM")); return }
        guard let startBound = StreamID.parseBound(args.buffer(5), missingSequence: 0) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        guard let start = startBound.asStart else { c.pointee.output.tail.writeError(ErrorReply.invalidStartID); return }
        var count = 100, justID = false, i = 6
        while i < args.count {
            switch args.keyword(i, as: XAutoclaimOption.self) {
            case .count where i + 1 < args.count:
                guard let n = args.integer(i + 1), (1...KernelConstants.maxAutoclaimCount).contains(n) else {
                    c.pointee.output.tail.writeError(ErrorReply.autoclaimCount)
                    return
                }
                count = n; i += 2
            case .justid:
                justID = true; i += 1
            default:
                c.pointee.output.tail.writeError(ErrorReply.syntax); return
            }
        }
        guard let ledger, ledger.stream(args.bytes(1)) != nil, let g = agents.groups.group(args.bytes(1), args.bytes(2)) else {
            c.pointee.output.tail.writeError(ErrorReply.noSuchKeyOrGroup(args.string(1), group: args.string(2)))
            return
        }
        let now = Clock.wallMillis()
        // As Redis 7.0.15: the consumer is made by its first claim, not before.
        var consumer: Int?
        func ci() -> Int {
            if let consumer { return consumer }
            let made = groupConsumer(g, args.bytes(3), nowMillis: now)
            consumer = made
            return made
        }
        // As Redis 7.0: up to COUNT entries claimed or found deleted, out of at
        // most COUNT × 10 pending entries looked at; an entry is deleted when
        // retention has cut it (IDs below the topic's first kept entry).
        let firstKept = ledger.stream(g.topic)?.first
        var attempts = count * KernelConstants.autoclaimAttemptsFactor
        var left = count
        var k = g.position(start).0
        var candidates: [PendingEntry] = [], deleted: [StreamID] = []
        while attempts > 0 && left > 0 && k < g.pending.count {
            attempts -= 1
            let p = g.pending[k]
            k += 1
            if firstKept.map({ p.id < $0 }) ?? true {
                deleted.append(p.id)
                left -= 1
            } else if now.subtractingSaturating(p.deliveredAtMillis) >= Int64(minIdle) {
                candidates.append(p)
                left -= 1
            }
        }
        let next = k < g.pending.count ? g.pending[k].id : .zero
        // One read for all of them (pending IDs ascend): one by one, each
        // lookup walked the ledger's tail.
        let records = ledger.records(topic: g.topic, ids: candidates.map(\.id))
        var claimed: [LedgerRecord] = [], claimedIDs: [StreamID] = []
        for (p, record) in zip(candidates, records) {
            // Unreadable (a damaged stretch): as good as deleted.
            guard let record else { deleted.append(p.id); continue }
            agents.groups.deliver(g, p.id, to: ci(), nowMillis: now, deliveries: justID ? p.deliveries : p.deliveries.addingSaturating(1))
            claimed.append(record)
            claimedIDs.append(p.id)
        }
        agents.groups.ack(g, deleted)
        c.pointee.output.tail.writeArrayHeader(3)
        c.pointee.output.tail.writeBulk(id: next)
        if justID {
            c.pointee.output.tail.writeArrayHeader(claimedIDs.count)
            for id in claimedIDs { c.pointee.output.tail.writeBulk(id: id) }
        } else {
            writeEntries(c, claimed)
        }
        c.pointee.output.tail.writeArrayHeader(deleted.count)
        for id in deleted { c.pointee.output.tail.writeBulk(id: id) }
    }

    /// XINFO GROUPS topic / XINFO CONSUMERS topic group.
    func xinfoGroups(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, consumers: Bool) {
        let resp3 = c.pointee.flags.contains(.resp3)
        let topic = args.bytes(2)
        guard let ledger, let state = ledger.stream(topic) else { c.pointee.output.tail.writeError(ErrorReply.noSuchKey); return }
        let now = Clock.wallMillis()
        if !consumers {
            // In name order, as Redis keeps them (a radix tree), whatever the order they were made or restored in.
            let list = agents.groups.groups(of: topic).sorted { $0.name.lexicographicallyPrecedes($1.name) }
            c.pointee.output.tail.writeArrayHeader(list.count)
            for g in list {
                c.pointee.output.tail.writeMapHeader(6, resp3: resp3)
                c.pointee.output.tail.writeBulk("name"); c.pointee.output.tail.writeBulk(bytes: g.name)
                c.pointee.output.tail.writeBulk("consumers"); c.pointee.output.tail.writeInteger(g.liveConsumers.count)
                c.pointee.output.tail.writeBulk("pending"); c.pointee.output.tail.writeInteger(g.pending.count)
                c.pointee.output.tail.writeBulk("last-delivered-id"); c.pointee.output.tail.writeBulk(id: g.lastDelivered)
                c.pointee.output.tail.writeBulk("entries-read")
                if g.entriesRead == ConsumerGroup.entriesReadUnknown { c.pointee.output.tail.writeNull(resp3: resp3) }
                else { c.pointee.output.tail.writeInteger(Int(g.entriesRead)) }
                // Redis's arithmetic: negative when ENTRIESREAD claimed more than was added.
                c.pointee.output.tail.writeBulk("lag")
                if let lag = g.lag(in: state) { c.pointee.output.tail.writeInteger(Int(lag)) }
                else { c.pointee.output.tail.writeNull(resp3: resp3) }
            }
            return
        }
        guard args.count == 4, let g = agents.groups.group(topic, args.bytes(3)) else {
            c.pointee.output.tail.writeError(ErrorReply.noSuchGroup(args.count > 3 ? args.string(3) : "", key: args.string(2)))
            return
        }
        let list = g.liveConsumers.sorted { $0.name.lexicographicallyPrecedes($1.name) }  // name order, as Redis
        c.pointee.output.tail.writeArrayHeader(list.count)
        for consumer in list {
            c.pointee.output.tail.writeMapHeader(3, resp3: resp3)
            c.pointee.output.tail.writeBulk("name"); c.pointee.output.tail.writeBulk(bytes: consumer.name)
            c.pointee.output.tail.writeBulk("pending"); c.pointee.output.tail.writeInteger(consumer.pending)
            c.pointee.output.tail.writeBulk("idle"); c.pointee.output.tail.writeInteger(Int(now.subtractingSaturating(consumer.seenMillis)))
        }
    }
}

/// An XREADGROUP waiting in BLOCK.
struct GroupRead {
    var group: [UInt8]
    var consumer: [UInt8]
    var topics: [[UInt8]]
    /// nil: `>` (new entries); an ID: this consumer's history after it.
    var after: [StreamID?]
    var count: Int
    var noAck: Bool
}

/// XGROUP's subcommands (the table's names after `xgroup|`).
enum XGroupSubcommand: String, Keyword {
    case create, createconsumer, delconsumer, destroy, setid, help

    /// CREATE key group id [MKSTREAM] [ENTRIESREAD n]: at most 8 arguments (Redis 7.0).
    static let createMaxArguments = 8
}

/// XGROUP CREATE's options (SETID takes only ENTRIESREAD).
enum XGroupOption: String, Keyword {
    case mkstream, entriesread
}

enum XPendingOption: String, Keyword {
    case idle
}

enum XClaimOption: String, Keyword {
    case justid, force, retrycount, idle, time, lastid
}

enum XAutoclaimOption: String, Keyword {
    case count, justid
}
