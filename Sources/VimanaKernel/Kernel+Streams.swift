import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents

/// XADD, XLEN, XRANGE, XREVRANGE, XREAD, XINFO STREAM over the ledger, with
/// Redis Streams' reply shapes (XDEL and XTRIM: Kernel+Removals.swift).
extension Kernel {
    /// The reply to every stream command without a ledger, naming what turned
    /// it off: `--no-ledger` (see `Configuration.flags`) or phoenix.yaml.
    var disabledError: String {
        "ERR the ledger is disabled (\(config.flags["ledger.enabled"] ?? "ledger.enabled: false in phoenix.yaml"))"
    }
    static let invalidID = ErrorReply.invalidStreamID

    /// A read that would cross records the ledger cannot read (Protocol/PROTOCOL.md §8).
    static func damagedError(_ damage: LedgerDamageError) -> String { "DAMAGED " + damage.message }

    func xaddCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        // Its reply could never be confirmed: refuse rather than hold it.
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        if c.pointee.flags.contains(.agentInstance), !agentMayPublish(c, args.buffer(1)) { return }
        // The common case, `XADD key * …`, skips the options' parse.
        var trim = TrimArguments()
        if args.length(2) != 1 || args.pointer(2).pointee != UInt8(ascii: "*") {
            switch TrimArguments.parse(args, xadd: true, s.pointee.streamOptions) {
            case .success(let t): trim = t
            case .failure(let e):
                c.pointee.output.tail.writeError(e.message)
                return
            }
        } else {
            trim.idIndex = 2
        }
        let i = trim.idIndex, noMakeStream = trim.noMakeStream
        // As Redis: the ID is read before the arity is checked, and 0-0 is
        // refused before the stream is looked up (NOMKSTREAM).
        guard i < args.count else {
            c.pointee.output.tail.writeError(ErrorReply.wrongArity("xadd"))
            return
        }
        guard let request = StreamID.parseRequest(args.buffer(i)) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        let fieldArgs = args.count - i - 1
        guard fieldArgs >= 2, fieldArgs % 2 == 0 else {
            c.pointee.output.tail.writeError(ErrorReply.wrongArity("xadd"))
            return
        }
        if case .explicit(let id) = request, id.ms == 0 && id.seq == 0 {
            c.pointee.output.tail.writeError(StreamIDError.notGreaterThanZero.message)
            return
        }
        if Self.namesPublisherField(args, fieldsFrom: i + 1) {
            c.pointee.output.tail.writeError(Self.publisherFieldReserved)
            return
        }
        let topic = UnsafeRawBufferPointer(args.buffer(1))
        guard let topicBase = topic.baseAddress ?? UnsafeRawPointer(bitPattern: 1) else { return }
        guard ledger.records(topicBase, topic.count) else {
            c.pointee.output.tail.writeError(
                "ERR topic '\(args.string(1))' is not recorded (see ledger.record and ledger.exclude in phoenix.yaml)")
            return
        }
        if noMakeStream && ledger.stream(topicBase, topic.count) == nil {
            c.pointee.output.tail.writeNull(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        // Its trimming may remove entries readers woken in this pass have not been given yet.
        if trim.strategy != nil { serveReadersBeforeRemoval(c) }
        // Redis's `new` event (class `n`, not in `A`): only looked for when asked.
        let isNew = s.pointee.notifyMask & KeyspaceEvents.new.rawValue != 0 && ledger.stream(topicBase, topic.count) == nil
        let name = clientInfo(c.pointee.fd)?.name ?? []
        let appended = withPublisherName(c) { user in
            name.withUnsafeBytes { nameBytes in
                ledger.append(topic: topic, id: request, client: RecordClient(id: c.pointee.id, name: nameBytes, user: user),
                              nowMillis: UInt64(s.pointee.nowMillis), nowMicros: Clock.wallMicros()) { fields in
                    var k = i + 1
                    while k < args.count {
                        fields.add(name: UnsafeRawBufferPointer(args.buffer(k)), value: UnsafeRawBufferPointer(args.buffer(k + 1)))
                        k += 2
                    }
                }
            }
        }
        let record: (sequence: UInt64, id: StreamID)
        switch appended {
        case .success(let r): record = r
        case .failure(let e):
            c.pointee.output.tail.writeError(e.message)
            return
        }
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeBulk(id: record.id)
        deliverEntry(args, topic: topic, firstField: i + 1, from: c)
        if isNew { notifyKeyspaceEvent(.new, "new", key: topic) }
        notifyKeyspaceEvent(.stream, "xadd", key: topic)
        wakeReaders(topic)
        agents.notice(topic)
        if !s.pointee.watches.isEmpty { touchWatched(topic) }
        var confirm = record.sequence
        if let strategy = trim.strategy,
           let marker = ledger.trim(topic: Array(topic), strategy, approximate: trim.approximate, limit: trim.limit,
                                    nowMillis: UInt64(s.pointee.nowMillis), nowMicros: Clock.wallMicros()).marker {
            confirm = marker
            notifyKeyspaceEvent(.stream, "xtrim", key: topic)
        }
        holdReply(c, untilConfirmed: confirm, replyStart: replyStart)
        stallIfBehind(c)
        if c.pointee.flags.contains(.publishLimited) {
            // The entry's payload: its field names and values.
            var payload = 0
            for k in (i + 1)..<args.count { payload &+= args.length(k) }
            chargePublish(c, payload: payload)
        }
    }

    /// Delivers the entry to the topic's live subscribers (EntryPayload).
    private func deliverEntry(_ args: Arguments, topic: UnsafeRawBufferPointer, firstField: Int,
                              from c: UnsafeMutablePointer<ClientState>) {
        guard let base = topic.baseAddress ?? UnsafeRawPointer(bitPattern: 1) else { return }
        let channel = base.assumingMemoryBound(to: UInt8.self)
        let fieldCount = (args.count - firstField) / 2
        if EntryPayload.isRaw(fieldCount: fieldCount, firstName: UnsafeRawBufferPointer(args.buffer(firstField))) {
            _ = publish(channel, topic.count, args.pointer(firstField + 1), args.length(firstField + 1), from: MessagePublisher(c))
            return
        }
        let bytes = EntryPayload.json(fieldCount: fieldCount, name: { args.string(firstField + 2 * $0) },
                                      value: { args.string(firstField + 2 * $0 + 1) })
        bytes.withUnsafeBufferPointer { b in
            _ = publish(channel, topic.count, b.baseAddress ?? channel, b.count, from: MessagePublisher(c))
        }
    }

    func xlenCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        let length = ledger.stream(args.bytes(1))?.length ?? 0
        c.pointee.output.tail.writeInteger(Int(clamping: length))
    }

    func xrangeCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, reverse: Bool) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        // XRANGE key start end / XREVRANGE key end start
        let startArg = reverse ? 3 : 2, endArg = reverse ? 2 : 3
        // As Redis: each bound is read and checked in turn, then COUNT.
        guard let start = StreamID.parseBound(args.buffer(startArg), missingSequence: 0) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        guard let from = start.asStart else {
            c.pointee.output.tail.writeError(ErrorReply.invalidStartID)
            return
        }
        guard let end = StreamID.parseBound(args.buffer(endArg), missingSequence: .max) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        guard let to = end.asEnd else {
            c.pointee.output.tail.writeError(ErrorReply.invalidEndID)
            return
        }
        // As Redis: COUNT may repeat (the last one counts), each checked in turn.
        var count = Int.max
        var j = 4
        while j < args.count {
            guard args.keyword(j, in: s.pointee.streamOptions.xrange) == .count, j + 1 < args.count else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            guard let n = args.integer(j + 1) else {
                c.pointee.output.tail.writeError(ErrorReply.notInteger)
                return
            }
            count = n
            j += 2
        }
        let topic = args.bytes(1)
        if count <= 0 {
            // As Redis: no stream is an empty array before COUNT 0 is a null one.
            if ledger.stream(topic) == nil { c.pointee.output.tail.writeArrayHeader(0) }
            else { c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3)) }
            return
        }
        if readInBackground(c, ledger, topic, from, to, count, reverse) { return }
        replyRange(c, ledger.readRange(topic: topic, from: from, to: to, count: count, reverse: reverse))
    }

    private func replyRange(_ c: UnsafeMutablePointer<ClientState>, _ read: Result<[LedgerRecord], LedgerDamageError>) {
        switch read {
        case .success(let entries): writeEntries(c, entries)
        case .failure(let damage): c.pointee.output.tail.writeError(Self.damagedError(damage))
        }
    }

    /// Hands a range read that must go to the disk (or is large) to the
    /// ledger's reader thread, which encodes the entries as it reads them;
    /// the client runs no further commands until the reply is queued, and
    /// every other client is served meanwhile. False: read it now.
    private func readInBackground(_ c: UnsafeMutablePointer<ClientState>, _ ledger: Ledger, _ topic: [UInt8],
                                  _ from: StreamID, _ to: StreamID, _ count: Int, _ reverse: Bool) -> Bool {
        let reply = EncodedEntries(publisher: c.pointee.flags.contains(.showPublisher))
        let fd = c.pointee.fd, id = c.pointee.id
        // A reply past the client's hard output limit would only be thrown
        // away with the client (checkReplyLimit): stop building it there.
        let limits = s.pointee.limits
        let hard = c.pointee.isSubscribed ? limits.pubsubOutputHard : limits.normalOutputHard
        let most = hard == 0 ? Int.max : hard
        let started = ledger.readInBackground(topic: topic, from: from, to: to, count: count, reverse: reverse,
                                              visit: { reply.add($0) <= most }) { [unowned self] result in
            guard let c = resumable(fd, id) else {
                reply.release()
                return
            }
            switch result {
            case .done(let returned):
                c.pointee.output.tail.writeArrayHeader(returned)
                c.pointee.output.append(owned: reply.take())
            case .damaged(let damage):
                reply.release()
                c.pointee.output.tail.writeError(Self.damagedError(damage))
            case .redo:
                reply.release()
                replyRange(c, ledger.readRange(topic: topic, from: from, to: to, count: count, reverse: reverse))
            }
            resume(c)
        }
        if started { c.pointee.flags.insert(.reading) }
        return started
    }

    /// Reads up to `count` entries of `topic` for `c` and runs `then` with
    /// them: at once when they are in memory, or when the reader thread hands
    /// them back (`c` runs no other command meanwhile). What cannot be read
    /// in a damaged segment is left out, not reported (XINFO's view).
    private func readEntries(_ c: UnsafeMutablePointer<ClientState>, _ ledger: Ledger, _ topic: [UInt8],
                             _ from: StreamID, _ to: StreamID, _ count: Int, reverse: Bool,
                             then: @escaping (UnsafeMutablePointer<ClientState>, [LedgerRecord]) -> Void) {
        let found = FoundEntries()
        let fd = c.pointee.fd, id = c.pointee.id
        let started = ledger.readInBackground(topic: topic, from: from, to: to, count: count, reverse: reverse,
                                              visit: { found.add($0) }) { [unowned self] result in
            guard let c = resumable(fd, id) else { return }
            if case .redo = result {
                then(c, ledger.range(topic: topic, from: from, to: to, count: count, reverse: reverse))
            } else {
                then(c, found.take())
            }
            resume(c)
        }
        if started {
            c.pointee.flags.insert(.reading)
        } else {
            then(c, ledger.range(topic: topic, from: from, to: to, count: count, reverse: reverse))
        }
    }

    /// The client a background read was for, if it is still there waiting
    /// (not closed, its fd not reused); no longer `reading`.
    func resumable(_ fd: Int32, _ id: Int) -> UnsafeMutablePointer<ClientState>? {
        guard let c = s.pointee.client(fd), c.pointee.id == id, c.pointee.flags.contains(.reading),
              !c.pointee.flags.contains(.closing) else { return nil }
        c.pointee.flags.remove(.reading)
        return c
    }

    /// After a background read's reply: the client's waiting commands run,
    /// unless the reply started another read.
    func resume(_ c: UnsafeMutablePointer<ClientState>) {
        if !c.pointee.flags.isDisjoint(with: .replyControlled) { finishReplyControl(c) }
        checkReplyLimit(c)
        markPending(c)
        if !c.pointee.flags.contains(.reading) { processInput(c) }
    }

    /// Entries in a reply to `c`: as Redis's, or with their publisher after
    /// CLIENT PUBLISHER ON.
    func writeEntries(_ c: UnsafeMutablePointer<ClientState>, _ entries: [LedgerRecord]) {
        let publisher = c.pointee.flags.contains(.showPublisher)
        c.pointee.output.tail.writeArrayHeader(entries.count)
        for e in entries {
            if e.sequence == Self.removedEntry {
                // A pending entry no longer in the stream (XDEL, XTRIM): its ID and a nil, as Redis.
                c.pointee.output.tail.writeArrayHeader(2)
                c.pointee.output.tail.writeBulk(id: e.id)
                c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            } else {
                Self.encodeEntry(&c.pointee.output.tail, e, publisher: publisher)
            }
        }
    }

    /// The sequence of a stand-in for a pending entry that was removed (an
    /// XREADGROUP of a consumer's history lists its ID): no record has it.
    static let removedEntry: UInt64 = 0

    static func removed(_ id: StreamID) -> LedgerRecord {
        LedgerRecord(sequence: removedEntry, id: id, timestampMicros: 0, clientID: 0, topic: [], clientName: [], fields: [])
    }

    /// XREAD's and XREADGROUP's reply: RESP3 a map of topic → entries, RESP2
    /// an array of [topic, entries].
    func writeStreamsReply(_ c: UnsafeMutablePointer<ClientState>, _ found: [([UInt8], [LedgerRecord])]) {
        let resp3 = c.pointee.flags.contains(.resp3)
        if resp3 { c.pointee.output.tail.writeMapHeader(found.count, resp3: true) }
        else { c.pointee.output.tail.writeArrayHeader(found.count) }
        for (topic, entries) in found {
            if !resp3 { c.pointee.output.tail.writeArrayHeader(2) }
            c.pointee.output.tail.writeBulk(bytes: topic)
            writeEntries(c, entries)
        }
    }

    /// XREAD's and XREADGROUP's options, read as Redis reads both (one loop,
    /// in any order, up to STREAMS): the first wrong word decides the error.
    /// nil: the error is written. `group`: XREADGROUP, which takes GROUP and
    /// NOACK (and needs GROUP); XREAD refuses them by name. Inlined: as a
    /// call its optional result cost XREAD ~110 instructions (callgrind).
    @inline(__always)
    func readOptions(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments, group: Bool) -> XReadOptions? {
        func refuse(_ error: String) -> XReadOptions? {
            c.pointee.output.tail.writeError(error)
            return nil
        }
        var o = XReadOptions()
        var i = 1
        scan: while i < args.count {
            let more = args.count - i - 1
            switch args.keyword(i, in: s.pointee.streamOptions.xread) {
            case .count where more > 0:
                guard let n = args.integer(i + 1) else { return refuse(ErrorReply.notInteger) }
                o.count = max(n, 0)
                i += 2
            case .block where more > 0:
                guard let n = args.integer(i + 1) else { return refuse(ErrorReply.timeoutNotInteger) }
                guard n >= 0 else { return refuse(ErrorReply.timeoutNegative) }
                o.blockMillis = n
                i += 2
            case .streams where more > 0:
                guard more % 2 == 0 else { return refuse(ErrorReply.unbalancedXRead) }
                o.streamsAt = i + 1
                break scan
            case .group where more >= 2:
                guard group else { return refuse(ErrorReply.groupOutsideXReadGroup) }
                o.group = (i + 1, i + 2)
                i += 3
            case .noack:
                guard group else { return refuse(ErrorReply.noAckOutsideXReadGroup) }
                o.noAck = true
                i += 1
            default:
                return refuse(ErrorReply.syntax)
            }
        }
        guard o.streamsAt > 0 else { return refuse(ErrorReply.syntax) }
        if group && o.group == nil { return refuse(ErrorReply.missingGroup) }
        return o
    }

    func xreadCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        guard let options = readOptions(c, args, group: false) else { return }
        let streamsAt = options.streamsAt
        let n = (args.count - streamsAt) / 2
        var topics: [[UInt8]] = []
        var after: [StreamID] = []
        for k in 0..<n {
            let topic = args.bytes(streamsAt + k)
            let idArg = streamsAt + n + k
            let id: StreamID
            switch StreamID.parsePosition(args.buffer(idArg)) {
            case .last: id = ledger.stream(topic)?.lastID ?? .zero
            case .id(let parsed): id = parsed
            case .new:
                c.pointee.output.tail.writeError(ErrorReply.newIDOutsideGroup)
                return
            case nil:
                c.pointee.output.tail.writeError(Self.invalidID)
                return
            }
            topics.append(topic)
            after.append(id)
        }
        let read = BlockedRead(topics: topics, after: after, count: options.count == 0 ? Int.max : options.count)
        xreadTopics(c, ledger, read, options.blockMillis, from: 0, found: [])
    }

    /// XREAD's first look, a topic at a time from `k`: each read that must
    /// go to the disk is done on the reader thread (the client waits, the
    /// others do not), the rest at once; then the reply, or the block.
    private func xreadTopics(_ c: UnsafeMutablePointer<ClientState>, _ ledger: Ledger, _ read: BlockedRead,
                             _ blockMillis: Int?, from k: Int, found: [([UInt8], Int, EncodedEntries)]) {
        var found = found
        var k = k
        while k < read.topics.count {
            let topic = read.topics[k], after = read.after[k]
            k += 1
            guard let first = after.successor else { continue }
            let reply = EncodedEntries(publisher: c.pointee.flags.contains(.showPublisher))
            let fd = c.pointee.fd, id = c.pointee.id
            let next = k
            let started = ledger.readInBackground(topic: topic, from: first, to: .max, count: read.count, reverse: false,
                                                  visit: { _ = reply.add($0); return true }) { [unowned self] result in
                guard let c = resumable(fd, id) else {
                    reply.release()
                    for (_, _, r) in found { r.release() }
                    return
                }
                var found = found
                switch result {
                case .done(let returned):
                    if returned > 0 { found.append((topic, returned, reply)) } else { reply.release() }
                case .damaged(let damage):
                    reply.release()
                    for (_, _, r) in found { r.release() }
                    c.pointee.output.tail.writeError(Self.damagedError(damage))
                    resume(c)
                    return
                case .redo:
                    reply.release()
                    switch ledger.readEntries(topic: topic, after: after, count: read.count) {
                    case .success(let entries) where !entries.isEmpty:
                        let again = EncodedEntries(publisher: c.pointee.flags.contains(.showPublisher))
                        for e in entries { _ = again.add(e) }
                        found.append((topic, entries.count, again))
                    case .success:
                        break
                    case .failure(let damage):
                        for (_, _, r) in found { r.release() }
                        c.pointee.output.tail.writeError(Self.damagedError(damage))
                        resume(c)
                        return
                    }
                }
                xreadTopics(c, ledger, read, blockMillis, from: next, found: found)
                resume(c)
            }
            if started {
                c.pointee.flags.insert(.reading)
                return
            }
            reply.release()
            switch ledger.readEntries(topic: topic, after: after, count: read.count) {
            case .success(let entries) where !entries.isEmpty:
                let now = EncodedEntries(publisher: c.pointee.flags.contains(.showPublisher))
                for e in entries { _ = now.add(e) }
                found.append((topic, entries.count, now))
            case .success:
                break
            case .failure(let damage):
                for (_, _, r) in found { r.release() }
                c.pointee.output.tail.writeError(Self.damagedError(damage))
                return
            }
        }
        if !found.isEmpty {
            let resp3 = c.pointee.flags.contains(.resp3)
            if resp3 { c.pointee.output.tail.writeMapHeader(found.count, resp3: true) }
            else { c.pointee.output.tail.writeArrayHeader(found.count) }
            for (topic, n, entries) in found {
                if !resp3 { c.pointee.output.tail.writeArrayHeader(2) }
                c.pointee.output.tail.writeBulk(bytes: topic)
                c.pointee.output.tail.writeArrayHeader(n)
                c.pointee.output.append(owned: entries.take())
            }
            return
        }
        guard let timeout = blockMillis else {
            c.pointee.output.tail.writeNullArray(resp3: c.pointee.flags.contains(.resp3))
            return
        }
        // Waiting after a stream's last entry (`$`, mostly): where it lies,
        // so that the read once woken starts there.
        var waiting = read
        waiting.afterSequence = zip(read.topics, read.after).map { topic, id in
            guard let state = ledger.stream(topic), state.lastID == id else { return 0 }
            return state.lastSequence
        }
        block(c, waiting, timeoutMillis: timeout)
    }

    /// Replies to an XREAD when any stream has entries after its ID; false
    /// (and nothing written) when none has.
    func replyRead(_ c: UnsafeMutablePointer<ClientState>, _ read: BlockedRead, blocking: Bool) -> Bool {
        guard let ledger else { return false }
        var found: [([UInt8], [LedgerRecord])] = []
        for (k, (topic, id)) in zip(read.topics, read.after).enumerated() {
            let hint = k < read.afterSequence.count ? read.afterSequence[k] : 0
            switch ledger.readEntries(topic: topic, after: id, afterSequence: hint, count: read.count) {
            case .success(let entries):
                if !entries.isEmpty { found.append((topic, entries)) }
            case .failure(let damage):
                c.pointee.output.tail.writeError(Self.damagedError(damage))
                return true
            }
        }
        guard !found.isEmpty else {
            // As Redis 7.0.15 serves a woken reader: when a topic's last ID went
            // past the read's though what came was removed at once (XADD MAXLEN 0,
            // an XADD and an XDEL in one EXEC), an empty answer for that topic.
            let woken = blockedReaders.woken
            guard blocking, let topic = zip(read.topics, read.after).first(where: {
                woken.contains($0.0) && (ledger.stream($0.0)?.lastID ?? .zero) > $0.1
            })?.0 else { return false }
            writeStreamsReply(c, [(topic, [])])
            return true
        }
        writeStreamsReply(c, found)
        return true
    }

    func xinfoCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let sub = subcommand(c, .xinfo, args, as: XInfoSubcommand.self) else { return }
        switch sub {
        case .groups, .consumers:
            xinfoGroups(c, args, consumers: sub == .consumers)
            return
        case .stream:
            break
        case .help:
            replyHelp(c, [
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
                "HELP",
                "    Prints this help.",
            ])
            return
        }
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        let topic = args.bytes(2)
        guard let known = ledger.stream(topic), known.exists else {
            c.pointee.output.tail.writeError(ErrorReply.noSuchKey)
            return
        }
        if args.count > 3 {
            // FULL [COUNT n], as Redis reads them: COUNT 0 is every entry, a negative one 10.
            var count = 10
            guard args.count == 4 || args.count == 6, args.string(3).lowercased() == "full",
                  args.count == 4 || args.string(4).lowercased() == "count" else {
                c.pointee.output.tail.writeError(ErrorReply.unknownSubcommandOrArity("STREAM", container: "XINFO"))
                return
            }
            if args.count == 6 {
                guard let n = args.integer(5) else { c.pointee.output.tail.writeError(ErrorReply.notInteger); return }
                count = n < 0 ? 10 : n
            }
            readEntries(c, ledger, topic, .zero, .max, count == 0 ? Int.max : count, reverse: false) { [unowned self] c, entries in
                writeFullStreamInfo(c, topic, ledger.stream(topic) ?? known, entries, count: count)
            }
            return
        }
        // First and last entries that can be read (a damaged segment's lost
        // ones are not counted in `length` either). The stream's own first
        // and last IDs point the index at the one frame holding each.
        readEntries(c, ledger, topic, known.first ?? .zero, .max, 1, reverse: false) { [unowned self] c, first in
            readEntries(c, ledger, topic, .zero, known.lastID, 1, reverse: true) { [unowned self] c, last in
                // Read after those reads: one that finds a damaged segment lowers `length`.
                writeStreamInfo(&c.pointee.output.tail, topic, ledger.stream(topic) ?? known, first: first.first,
                                last: last.first, resp3: c.pointee.flags.contains(.resp3),
                                publisher: c.pointee.flags.contains(.showPublisher))
            }
        }
    }

    /// XINFO STREAM … FULL: the stream's figures, its first `count` entries
    /// (0: all), and each group with its pending entries and consumers (each
    /// list at most `count` long), in Redis 7.0.15's shape.
    private func writeFullStreamInfo(_ c: UnsafeMutablePointer<ClientState>, _ topic: [UInt8], _ state: StreamState,
                                     _ entries: [LedgerRecord], count: Int) {
        let resp3 = c.pointee.flags.contains(.resp3)
        let limit = count == 0 ? Int.max : count
        c.pointee.output.tail.writeMapHeader(9, resp3: resp3)
        c.pointee.output.tail.writeBulk("length"); c.pointee.output.tail.writeInteger(Int(clamping: state.length))
        c.pointee.output.tail.writeBulk("radix-tree-keys"); c.pointee.output.tail.writeInteger(state.length > 0 ? 1 : 0)
        c.pointee.output.tail.writeBulk("radix-tree-nodes"); c.pointee.output.tail.writeInteger(state.length > 0 ? 2 : 1)
        c.pointee.output.tail.writeBulk("last-generated-id"); c.pointee.output.tail.writeBulk(id: state.lastID)
        c.pointee.output.tail.writeBulk("max-deleted-entry-id"); c.pointee.output.tail.writeBulk(id: state.maxDeleted)
        c.pointee.output.tail.writeBulk("entries-added"); c.pointee.output.tail.writeInteger(Int(clamping: state.entriesAdded))
        c.pointee.output.tail.writeBulk("recorded-first-entry-id"); c.pointee.output.tail.writeBulk(id: state.first ?? .zero)
        c.pointee.output.tail.writeBulk("entries"); writeEntries(c, entries)
        c.pointee.output.tail.writeBulk("groups")
        let groups = agents.groups.groups(of: topic).sorted { $0.name.lexicographicallyPrecedes($1.name) }
        c.pointee.output.tail.writeArrayHeader(groups.count)
        for g in groups {
            c.pointee.output.tail.writeMapHeader(7, resp3: resp3)
            c.pointee.output.tail.writeBulk("name"); c.pointee.output.tail.writeBulk(bytes: g.name)
            c.pointee.output.tail.writeBulk("last-delivered-id"); c.pointee.output.tail.writeBulk(id: g.lastDelivered)
            c.pointee.output.tail.writeBulk("entries-read")
            if g.entriesRead == ConsumerGroup.entriesReadUnknown { c.pointee.output.tail.writeNull(resp3: resp3) }
            else { c.pointee.output.tail.writeInteger(Int(g.entriesRead)) }
            c.pointee.output.tail.writeBulk("lag")
            if let lag = g.lag(in: state) { c.pointee.output.tail.writeInteger(Int(lag)) } else { c.pointee.output.tail.writeNull(resp3: resp3) }
            c.pointee.output.tail.writeBulk("pel-count"); c.pointee.output.tail.writeInteger(g.pending.count)
            c.pointee.output.tail.writeBulk("pending")
            let pel = g.pending.prefix(limit)
            c.pointee.output.tail.writeArrayHeader(pel.count)
            for p in pel {
                c.pointee.output.tail.writeArrayHeader(4)
                c.pointee.output.tail.writeBulk(id: p.id)
                c.pointee.output.tail.writeBulk(bytes: g.consumerName(p.consumer))
                c.pointee.output.tail.writeInteger(Int(p.deliveredAtMillis))
                c.pointee.output.tail.writeInteger(p.deliveries)
            }
            c.pointee.output.tail.writeBulk("consumers")
            let consumers = g.liveConsumers.sorted { $0.name.lexicographicallyPrecedes($1.name) }
            c.pointee.output.tail.writeArrayHeader(consumers.count)
            for consumer in consumers {
                c.pointee.output.tail.writeMapHeader(4, resp3: resp3)
                c.pointee.output.tail.writeBulk("name"); c.pointee.output.tail.writeBulk(bytes: consumer.name)
                c.pointee.output.tail.writeBulk("seen-time"); c.pointee.output.tail.writeInteger(Int(consumer.seenMillis))
                c.pointee.output.tail.writeBulk("pel-count"); c.pointee.output.tail.writeInteger(consumer.pending)
                c.pointee.output.tail.writeBulk("pending")
                let ci = g.index(ofConsumer: consumer.name)
                let mine = g.pending.lazy.filter { $0.consumer == ci }.prefix(limit)
                c.pointee.output.tail.writeArrayHeader(mine.count)
                for p in mine {
                    c.pointee.output.tail.writeArrayHeader(3)
                    c.pointee.output.tail.writeBulk(id: p.id)
                    c.pointee.output.tail.writeInteger(Int(p.deliveredAtMillis))
                    c.pointee.output.tail.writeInteger(p.deliveries)
                }
            }
        }
    }

    private func writeStreamInfo(_ b: inout ByteBuffer, _ topic: [UInt8], _ state: StreamState,
                                 first: LedgerRecord?, last: LedgerRecord?, resp3: Bool, publisher: Bool) {
        b.writeMapHeader(10, resp3: resp3)
        b.writeBulk("length"); b.writeInteger(Int(clamping: state.length))
        b.writeBulk("radix-tree-keys"); b.writeInteger(state.length > 0 ? 1 : 0)
        b.writeBulk("radix-tree-nodes"); b.writeInteger(state.length > 0 ? 2 : 1)
        b.writeBulk("last-generated-id"); b.writeBulk(id: state.lastID)
        b.writeBulk("max-deleted-entry-id"); b.writeBulk(id: state.maxDeleted)
        b.writeBulk("entries-added"); b.writeInteger(Int(clamping: state.entriesAdded))
        b.writeBulk("recorded-first-entry-id"); b.writeBulk(id: state.first ?? .zero)
        b.writeBulk("groups"); writeGroupCount(&b, topic)
        b.writeBulk("first-entry")
        if let first { Self.encodeEntry(&b, first, publisher: publisher) } else { b.writeNull(resp3: resp3) }
        b.writeBulk("last-entry")
        if let last { Self.encodeEntry(&b, last, publisher: publisher) } else { b.writeNull(resp3: resp3) }
    }

    func writeGroupCount(_ b: inout ByteBuffer, _ topic: [UInt8]) { b.writeInteger(agents.groups.groups(of: topic).count) }

    /// One stream entry as Redis replies it: [id, [field, value, …]];
    /// with `publisher` (CLIENT PUBLISHER ON) one more pair at the end,
    /// `_publisher` and the entry's publisher, whatever fields it has.
    static func encodeEntry(_ b: inout ByteBuffer, _ e: LedgerRecord, publisher: Bool) {
        b.writeArrayHeader(2)
        b.writeBulk(id: e.id)
        b.writeArrayHeader(e.fields.count * 2 + (publisher ? 2 : 0))
        for f in e.fields {
            b.writeBulk(bytes: f.name)
            b.writeBulk(bytes: f.value)
        }
        if publisher {
            b.writeBulk(bytes: publisherField)
            b.writeBulk(bytes: e.publisher)
        }
    }

}

extension ByteBuffer {
    /// An ID as a bulk string, written in place (StreamID.write).
    mutating func writeBulk(id: StreamID) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: StreamID.maxTextLength) { t in
            guard let p = t.baseAddress else { return }
            writeBulk(p, id.write(to: p))
        }
    }
}

/// Entries encoded by the reader thread for one reply, handed to the loop
/// when the read is done (touched by one thread at a time: the reader's
/// until the read comes back, then the loop's).
final class EncodedEntries: @unchecked Sendable {
    private var buffer = ByteBuffer(capacity: 16 << 10)
    private var taken = false
    /// The client asked for publishers (CLIENT PUBLISHER ON).
    private let publisher: Bool

    init(publisher: Bool) { self.publisher = publisher }

    /// Encodes `e`; returns the bytes encoded so far.
    func add(_ e: LedgerRecord) -> Int {
        Kernel.encodeEntry(&buffer, e, publisher: publisher)
        return buffer.readableBytes
    }

    /// The bytes, now owned by the caller.
    func take() -> ByteBuffer {
        taken = true
        return buffer
    }

    func release() {
        if !taken { buffer.release() }
        taken = true
    }

    deinit { release() }
}

/// Entries found by the reader thread for a command that needs them
/// decoded (XINFO STREAM); one thread at a time, as `EncodedEntries`.
final class FoundEntries: @unchecked Sendable {
    private var records: [LedgerRecord] = []

    func add(_ r: LedgerRecord) -> Bool {
        records.append(r)
        return true
    }

    func take() -> [LedgerRecord] { records }
}

/// XINFO's subcommands, as in the table (`xinfo|stream` …).
enum XInfoSubcommand: String, Keyword {
    case stream, groups, consumers, help
}

/// XADD's options before the ID (TrimArguments), and XTRIM's.
enum XAddOption: String, Keyword {
    case nomkstream, maxlen, minid, limit
}

/// XREAD's and XREADGROUP's options; STREAMS ends them. The usual ones first:
/// the scan tries the cases in this order.
enum XReadOption: String, Keyword {
    case count, block, streams, group, noack
}

/// What `readOptions` read.
struct XReadOptions {
    /// COUNT; 0: no limit.
    var count = 0
    var blockMillis: Int?
    var noAck = false
    /// The arguments naming the group and the consumer (XREADGROUP).
    var group: (name: Int, consumer: Int)?
    /// The first topic's argument; as many IDs follow the topics.
    var streamsAt = 0
}

/// XRANGE's and XREVRANGE's one option.
enum XRangeOption: String, Keyword {
    case count
}

/// The options XADD, XREAD (and XREADGROUP) and XRANGE scan on every
/// request, packed once (KernelState.streamOptions).
struct StreamOptionTables {
    let xadd = KeywordTable<XAddOption>()
    let xread = KeywordTable<XReadOption>()
    let xrange = KeywordTable<XRangeOption>()
}
