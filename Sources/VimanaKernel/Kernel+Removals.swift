import VimanaCore
import VimanaRESP
import VimanaLedger

/// XADD's and XTRIM's trimming arguments, as Redis 7.0.15 reads them
/// (streamParseAddOrTrimArgsOrReply): options in any order, the last of
/// MAXLEN/MINID wins only if the other was not given, LIMIT only with `~`.
struct TrimArguments {
    var strategy: TrimStrategy?
    var approximate = false
    /// Entries removed at most (0: no limit): `~`'s default is Redis's
    /// 100 × stream-node-max-entries.
    var limit = 0
    var noMakeStream = false
    /// XADD: the index of the ID (the options end there).
    var idIndex = 0

    static let defaultApproximateLimit = 100 * Int(Ledger.trimBlockEntries)

    /// Reads the options from argument 2 on; XADD's end at its ID (`xadd`).
    /// An error is Redis's reply.
    static func parse(_ args: Arguments, xadd: Bool, _ tables: StreamOptionTables) -> Result<TrimArguments, TrimArgumentError> {
        var out = TrimArguments()
        var limitGiven = false
        var strategyGiven = false
        var i = 2
        while i < args.count {
            let more = args.count - 1 - i
            let opt = args.buffer(i)
            if xadd && opt.count == 1 && opt[0] == UInt8(ascii: "*") { break }
            let word = args.keyword(i, in: tables.xadd)
            if (word == .maxlen || word == .minid) && more > 0 {
                if strategyGiven { return .failure(.both) }
                out.approximate = false
                let next = args.buffer(i + 1)
                if more >= 2 && next.count == 1 && (next[0] == UInt8(ascii: "~") || next[0] == UInt8(ascii: "=")) {
                    out.approximate = next[0] == UInt8(ascii: "~")
                    i += 1
                }
                if word == .maxlen {
                    guard let n = args.integer(i + 1) else { return .failure(.notInteger) }
                    guard n >= 0 else { return .failure(.negativeMaxLength) }
                    out.strategy = .maxLength(UInt64(n))
                } else {
                    guard let id = StreamID.parse(args.buffer(i + 1), missingSequence: 0, strict: true) else {
                        return .failure(.invalidID)
                    }
                    out.strategy = .minID(id)
                }
                strategyGiven = true
                i += 2
            } else if word == .limit && more > 0 {
                guard let n = args.integer(i + 1) else { return .failure(.notInteger) }
                guard n >= 0 else { return .failure(.negativeLimit) }
                out.limit = n
                limitGiven = true
                i += 2
            } else if xadd && word == .nomkstream {
                out.noMakeStream = true
                i += 1
            } else if xadd {
                break
            } else {
                return .failure(.syntax)
            }
        }
        out.idIndex = i
        if out.limit != 0 && !strategyGiven { return .failure(.limitWithoutStrategy) }
        if !xadd && !strategyGiven { return .failure(.noStrategy) }
        if limitGiven {
            if !out.approximate { return .failure(.limitWithoutApproximation) }
        } else if out.approximate {
            out.limit = defaultApproximateLimit
        }
        return .success(out)
    }
}

/// Redis's replies to bad trimming arguments.
enum TrimArgumentError: Error {
    case both, notInteger, negativeMaxLength, invalidID, negativeLimit, syntax
    case limitWithoutStrategy, noStrategy, limitWithoutApproximation

    var message: String {
        switch self {
        case .both: "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
        case .notInteger: ErrorReply.notInteger
        case .negativeMaxLength: "ERR The MAXLEN argument must be >= 0."
        case .invalidID: ErrorReply.invalidStreamID
        case .negativeLimit: "ERR The LIMIT argument must be >= 0."
        case .syntax: ErrorReply.syntax
        case .limitWithoutStrategy: "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
        case .noStrategy: "ERR syntax error, XTRIM must be called with a trimming strategy"
        case .limitWithoutApproximation: "ERR syntax error, LIMIT cannot be used without the special ~ option"
        }
    }
}

/// XDEL, XTRIM, DEL and UNLINK of topics: removals recorded in the ledger
/// as markers (Ledger+Removals.swift); a reply waits until its marker is
/// confirmed, as an XADD's waits for its entry.
extension Kernel {
    func xdelCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        // As Redis: a missing key answers 0 before the IDs are read; then
        // every ID is checked before any is removed.
        let topic = args.bytes(1)
        if refusedAsInternal(c, topic) { return }
        guard ledger.stream(topic)?.exists == true else { c.pointee.output.tail.writeInteger(0); return }
        var ids: [StreamID] = []
        for i in 2..<args.count {
            guard let id = StreamID.parse(args.buffer(i), missingSequence: 0, strict: true) else {
                c.pointee.output.tail.writeError(Self.invalidID)
                return
            }
            ids.append(id)
        }
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        serveReadersBeforeRemoval(c)
        let (removed, marker) = ledger.delete(topic: topic, ids: ids, nowMillis: UInt64(s.pointee.nowMillis),
                                              nowMicros: Clock.wallMicros())
        replyAfterRemoval(c, removed, marker, topic)
        if marker != nil { notifyKeyspaceEvent(.stream, "xdel", key: topic) }
    }

    func xtrimCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        let topic = args.bytes(1)
        if refusedAsInternal(c, topic) { return }
        // As Redis 7.0.15's xtrimCommand: the arguments are read before the
        // key is looked up, so bad ones are refused on a missing key too.
        let trim: TrimArguments
        switch TrimArguments.parse(args, xadd: false, s.pointee.streamOptions) {
        case .success(let t): trim = t
        case .failure(let e):
            c.pointee.output.tail.writeError(e.message)
            return
        }
        guard let strategy = trim.strategy else { return }
        guard ledger.stream(topic)?.exists == true else { c.pointee.output.tail.writeInteger(0); return }
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        serveReadersBeforeRemoval(c)
        let (removed, marker) = ledger.trim(topic: topic, strategy, approximate: trim.approximate, limit: trim.limit,
                                            nowMillis: UInt64(s.pointee.nowMillis), nowMicros: Clock.wallMicros())
        replyAfterRemoval(c, removed, marker, topic)
        if marker != nil { notifyKeyspaceEvent(.stream, "xtrim", key: topic) }
    }

    /// The server's own topics (the journals, the markers) lose nothing to
    /// a client, an admin included: a journal's records are trusted at the next start.
    private func refusedAsInternal(_ c: UnsafeMutablePointer<ClientState>, _ topic: [UInt8]) -> Bool {
        guard topic.starts(with: Ledger.internalTopicPrefix) else { return false }
        c.pointee.output.tail.writeError("ERR topic '\(String(decoding: topic, as: UTF8.self))' is the server's own: nothing is removed from it")
        return true
    }

    /// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]: Redis 7.0.15's
    /// checks in its order (the arguments, then the key, then the stream's
    /// figures), recorded as a marker (LEDGER.md §9).
    func xsetidCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeError(disabledError); return }
        guard let id = StreamID.parse(args.buffer(2), missingSequence: 0, strict: true) else {
            c.pointee.output.tail.writeError(Self.invalidID)
            return
        }
        var entriesAdded: UInt64?, maxDeleted: StreamID?
        var i = 3
        while i < args.count {
            let word = args.string(i).lowercased()
            if word == "entriesadded" && i + 1 < args.count {
                guard let n = args.integer(i + 1) else { c.pointee.output.tail.writeError(ErrorReply.notInteger); return }
                guard n >= 0 else { c.pointee.output.tail.writeError("ERR entries_added must be positive"); return }
                entriesAdded = UInt64(n)
            } else if word == "maxdeletedid" && i + 1 < args.count {
                guard let m = StreamID.parse(args.buffer(i + 1), missingSequence: 0, strict: true) else {
                    c.pointee.output.tail.writeError(Self.invalidID)
                    return
                }
                guard id >= m else {
                    c.pointee.output.tail.writeError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                    return
                }
                maxDeleted = m
            } else {
                c.pointee.output.tail.writeError(ErrorReply.syntax)
                return
            }
            i += 2
        }
        let topic = args.bytes(1)
        if refusedAsInternal(c, topic) { return }
        guard let state = ledger.stream(topic) else { c.pointee.output.tail.writeError(ErrorReply.noSuchKey); return }
        if state.length > 0 {
            if let top = ledger.lastEntryID(topic: topic), id < top {
                c.pointee.output.tail.writeError("ERR The ID specified in XSETID is smaller than the target stream top item")
                return
            }
            if let entriesAdded, state.length > entriesAdded {
                c.pointee.output.tail.writeError("ERR The entries_added specified in XSETID is smaller than the target stream length")
                return
            }
        }
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        let marker = ledger.setStreamID(topic: topic, lastID: id, entriesAdded: entriesAdded, maxDeleted: maxDeleted,
                                        nowMillis: UInt64(s.pointee.nowMillis), nowMicros: Clock.wallMicros())
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeSimple("OK")
        topicChanged(topic)
        notifyKeyspaceEvent(.stream, "xsetid", key: topic)
        if let marker { holdReply(c, untilConfirmed: marker, replyStart: replyStart) }
    }

    /// `:n`, held until the marker is confirmed; watchers of the topic see it change.
    private func replyAfterRemoval(_ c: UnsafeMutablePointer<ClientState>, _ removed: Int, _ marker: UInt64?, _ topic: [UInt8]) {
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeInteger(removed)
        guard let marker else { return }
        topicChanged(topic)
        holdReply(c, untilConfirmed: marker, replyStart: replyStart)
    }

    /// A removal changed `topic`: WATCH sees it, as Redis's signalModifiedKey.
    func topicChanged(_ topic: [UInt8]) {
        guard !s.pointee.watches.isEmpty else { return }
        topic.withUnsafeBytes { touchWatched($0) }
    }

    /// FLUSHALL and FLUSHDB [ASYNC|SYNC] (one database: the same): every
    /// topic a client made is deleted as DEL deletes it, except those of
    /// the agents declared in phoenix.yaml (a topic one of their groups is
    /// on, their `events.<id>` and `dead.<id>`): agents are configuration,
    /// not data, and go on working. The server's own topics stay.
    func flushCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        if args.count > 2 || (args.count == 2 && !["async", "sync"].contains(args.string(1).lowercased())) {
            c.pointee.output.tail.writeError(ErrorReply.syntax)
            return
        }
        guard let ledger else { c.pointee.output.tail.writeSimple("OK"); return }
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        serveReadersBeforeRemoval(c)
        var kept: [String] = []
        var last: UInt64?
        for i in 0..<ledger.topicNames.count where ledger.isListedKey(at: i) {
            let topic = ledger.topicNames[i]
            if heldByAgent(topic) {
                kept.append(String(decoding: topic, as: UTF8.self))
                continue
            }
            guard let marker = ledger.deleteStream(topic: topic, nowMillis: UInt64(s.pointee.nowMillis),
                                                   nowMicros: Clock.wallMicros()) else { continue }
            for g in agents.groups.groups(of: topic) { _ = agents.destroyGroup(topic: topic, name: g.name) }
            last = marker
            topicChanged(topic)
            topicDeleted(topic)
        }
        if !kept.isEmpty {
            log.info("flush kept the agents' topics", ["count": .int(kept.count), "topics": .string(kept.prefix(20).joined(separator: " "))])
        }
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeSimple("OK")
        if let last { holdReply(c, untilConfirmed: last, replyStart: replyStart) }
    }

    /// A topic an agent declared in phoenix.yaml holds: one of its groups
    /// is on it, or it is its events or dead letters.
    private func heldByAgent(_ topic: [UInt8]) -> Bool {
        for g in agents.groups.groups(of: topic) where agents.agent(named: g.name) != nil { return true }
        for prefix in ["events.", "dead."] where topic.starts(with: prefix.utf8) {
            if agents.agent(id: String(decoding: topic.dropFirst(prefix.utf8.count), as: UTF8.self)) != nil { return true }
        }
        return false
    }

    /// DEL and UNLINK: each topic named that exists is deleted with its
    /// consumer groups (an agent's group too: its instances stop reading
    /// the topic, as Redis's consumers would find no group); `:n`.
    func delCommand(_ c: UnsafeMutablePointer<ClientState>, _ args: Arguments) {
        guard let ledger else { c.pointee.output.tail.writeInteger(0); return }
        if let error = ledger.writeError { c.pointee.output.tail.writeError(Self.ledgerWriteRefusal(error)); return }
        for i in 1..<args.count where refusedAsInternal(c, args.bytes(i)) { return }
        serveReadersBeforeRemoval(c)
        var deleted = 0
        var last: UInt64?
        for i in 1..<args.count {
            let topic = args.bytes(i)
            guard let marker = ledger.deleteStream(topic: topic, nowMillis: UInt64(s.pointee.nowMillis),
                                                   nowMicros: Clock.wallMicros()) else { continue }
            for g in agents.groups.groups(of: topic) { _ = agents.destroyGroup(topic: topic, name: g.name) }
            deleted += 1
            last = marker
            topicChanged(topic)
            topicDeleted(topic)
            notifyKeyspaceEvent(.generic, "del", key: topic)
        }
        let replyStart = c.pointee.flushedBytes + c.pointee.output.pendingBytes
        c.pointee.output.tail.writeInteger(deleted)
        if let last { holdReply(c, untilConfirmed: last, replyStart: replyStart) }
    }
}
