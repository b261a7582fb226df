import Dispatch
import Synchronization
import VimanaCore
import VimanaConfig
import VimanaLedger
import VimanaRESP
import VimanaCluster

/// The mirror (out): reads the local ledger forward from its journaled
/// cursor and appends every federated entry published on this kernel to
/// the cluster (Protocol/FEDERATION.md §3). The ledger is the outbox: what
/// the cluster has not acknowledged waits there, and the cursor says how
/// far the cluster has it.
///
/// Promises: entries of a topic reach the cluster in ledger order; the
/// cursor passes an entry only after the cluster appended it and WAIT
/// answered `wait_replicas`; an entry is never stored twice (the script's
/// high mark); records with an origin (received from the cluster) are
/// never mirrored. Runs on its own thread; the loop only tells it how far
/// the ledger is confirmed (`confirmed`).
final class Mirror: @unchecked Sendable {
    private let shared: FederationShared
    /// Told (on the loop thread's behalf) each cursor journaled: the ledger's retention hold.
    private let onCursor: @Sendable (UInt64) -> Void

    let thread = FederationThread()
    /// The ledger's confirmed sequence, as the loop last told it.
    private let confirmedSequence = Atomic<UInt64>(0)

    // The thread's own state from here on.
    private var cursor: UInt64 = 1
    private var journaled: UInt64 = 0
    private var lastJournalNanos: Int64 = 0
    private var readUpTo: UInt64 = 1
    private var pending: [LedgerRecord] = []
    private var pendingHead = 0
    private var registered: Set<[UInt8]> = []
    /// Per topic, the highest sequence WAIT acknowledged in this run: the
    /// script's `expected` (MirrorScript).
    private var acknowledged: [[UInt8]: UInt64] = [:]
    /// Cursors journaled, with when: the retention hold is the last one at
    /// least `rewindSeconds` old, so that a rewind finds its records.
    private var journalHistory: [(nanos: Int64, cursor: UInt64)] = []
    private var client: ClusterClient?

    init(_ shared: FederationShared, onCursor: @escaping @Sendable (UInt64) -> Void) {
        self.shared = shared
        self.onCursor = onCursor
    }

    /// The cursor the mirror starts from (its file, else the ledger's start:
    /// the script skips what the cluster has). Read before the thread starts,
    /// so that the retention hold is in place before any segment can go.
    func loadCursor() -> UInt64 {
        cursor = shared.files.readMirror() ?? 1
        journaled = cursor
        readUpTo = cursor
        journalHistory = [(Clock.monotonicNanos(), cursor)]
        return cursor
    }

    /// Called on the loop thread whenever the ledger's confirmed sequence advances.
    func confirmed(_ sequence: UInt64) {
        let old = confirmedSequence.load(ordering: .relaxed)
        guard sequence > old else { return }
        confirmedSequence.store(sequence, ordering: .releasing)
        thread.wakeup.signal()
    }

    func start() -> Int32? { thread.start(name: "vimana-mirror") { [self] in run() } }


    // MARK: - The thread

    private func run() {
        let reader: OfflineReader
        do {
            try shared.files.prepare()
            reader = try OfflineReader(directory: shared.ledgerDirectory)
            try reader.refresh()
        } catch {
            shared.log.error("federation mirror cannot start", ["error": .string("\(error)")])
            shared.status.failed("mirror start", error)
            return
        }
        reader.seek(to: cursor)
        client = ClusterClient(shared.clusterSettings)
        shared.status.update { $0.mirrorCursor = cursor }
        claimNode()
        while !thread.isStopping {
            let limit = confirmedSequence.load(ordering: .acquiring)
            shared.status.update { $0.confirmed = limit }
            fill(reader, upTo: limit)
            let (window, end) = takeWindow(below: limit)
            if end <= cursor {
                // Idle: the cursor is written once it has not been for
                // `cursorWriteMillis`, not after every batch (at 1,000
                // entries a second, each its own batch, that was two fsyncs
                // per entry on the mirror's path).
                journalIfDue(force: false)
                idle()
                continue
            }
            switch send(window) {
            case .done:
                dropSent(upTo: end)
                cursor = end
                shared.status.update { $0.mirrorCursor = end }
                journalIfDue(force: false)
            case .failed:
                pause()
            case .gap(let high):
                rewind(reader, after: high)
            }
        }
        journalIfDue(force: true)
        client?.close()
    }

    /// Reads records from the ledger into `pending`, a segment at a time,
    /// while some below `limit` are unread and the read-ahead has room.
    private func fill(_ reader: OfflineReader, upTo limit: UInt64) {
        var rounds = 0
        while readUpTo < limit && pending.count - pendingHead < FederationLimits.readAheadRecords && rounds < 4 {
            rounds += 1
            let before = readUpTo
            let stop = reader.read(oneSegment: true) { records in
                for r in records where r.sequence >= readUpTo {
                    pending.append(r)
                    readUpTo = r.sequence &+ 1
                }
            }
            switch stop {
            case .end, .endOfSegment:
                // At a segment's end: when the writer has started another
                // since (or one follows after a gap), go on in it.
                guard readUpTo < limit else { return }
                try? reader.refresh()
                let current = reader.position?.segment ?? ""
                guard let next = reader.segments.first(where: { $0.name > current && $0.firstSequence >= readUpTo }) else { return }
                reader.seek(to: next.firstSequence)
                readUpTo = next.firstSequence
                continue
            case .problem(let problem):
                // The frame being written (its end not there yet) is read again
                // later; a damaged frame below what is confirmed is passed over.
                if problem.active && readUpTo >= limit { return }
                if problem.active && problem.tornTail { return }
                shared.log.error("federation mirror passes over a damaged frame", ["detail": .string(problem.description)])
                shared.status.failed("ledger", problem)
                if !reader.skipDamage() { return }
                if let p = reader.position, p.sequence > readUpTo { readUpTo = p.sequence }
            case .unreadable(let error):
                // A segment renamed by compaction or gone: list again, find the sequence again.
                try? reader.refresh()
                reader.seek(to: readUpTo)
                if readUpTo == before { shared.status.failed("ledger", error); return }
            }
            if readUpTo == before { return }
        }
    }

    /// The records from the cursor up to what is confirmed, at most a
    /// batch's worth, and the sequence after the last of them.
    private func takeWindow(below limit: UInt64) -> ([LedgerRecord], UInt64) {
        var window: [LedgerRecord] = []
        var end = cursor
        var bytes = 0
        var federatedCount = 0
        var k = pendingHead
        while k < pending.count {
            let r = pending[k]
            guard r.sequence < limit else { break }
            if r.origin.isEmpty && shared.federated.contains(r.topic) {
                let size = r.fields.reduce(64) { $0 + $1.name.count + $1.value.count }
                if federatedCount > 0 && (federatedCount >= shared.config.batchEntries || bytes + size > FederationLimits.batchBytes) { break }
                window.append(r)
                federatedCount += 1
                bytes += size
            }
            end = r.sequence &+ 1
            k += 1
        }
        if end <= cursor && limit > cursor && pendingHead >= pending.count && readUpTo >= limit {
            // Everything below `limit` was read and none is pending: nothing federated there.
            end = limit
        }
        return (window, end)
    }

    private func dropSent(upTo end: UInt64) {
        while pendingHead < pending.count && pending[pendingHead].sequence < end { pendingHead += 1 }
        if pendingHead > 4096 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Reads the ledger again from the record after `high` (an origin's
    /// sequence is its ledger sequence): the cluster lost what WAIT had
    /// acknowledged after it. The script skips what the other topics' masters
    /// still have. The cursor file goes back with it at once: a crash now
    /// must not start past the lost entries.
    private func rewind(_ reader: OfflineReader, after high: UInt64) {
        let target = high &+ 1
        guard target < cursor else { return }
        shared.log.warn("federation: the cluster lost entries WAIT had acknowledged (a failover); sending them again",
                 ["from_sequence": .int(Int(clamping: target)), "cursor": .int(Int(clamping: cursor))])
        shared.status.update { $0.rewinds &+= 1 }
        cursor = target
        readUpTo = target
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
        try? reader.refresh()
        reader.seek(to: target)
        shared.status.update { $0.mirrorCursor = target }
        journalIfDue(force: true)
    }

    private func journalIfDue(force: Bool) {
        guard cursor != journaled else { return }
        let now = Clock.monotonicNanos()
        guard force || now - lastJournalNanos >= Int64(FederationLimits.cursorWriteMillis) * 1_000_000 else { return }
        do {
            try shared.files.writeMirror(cursor)
            journaled = cursor
            lastJournalNanos = now
            onCursor(retentionHold(now: now))
        } catch {
            shared.log.error("federation mirror cannot write its cursor", ["error": .string("\(error)")])
            shared.status.failed("cursor file", error)
        }
    }

    /// The cursor journaled at least `rewindSeconds` ago (the oldest of
    /// this run before then), never above the cursor: what the ledger must keep.
    private func retentionHold(now: Int64) -> UInt64 {
        journalHistory.append((now, cursor))
        let age = FederationLimits.rewindSeconds * 1_000_000_000
        var k = 0
        while k + 1 < journalHistory.count && now - journalHistory[k + 1].nanos >= age { k += 1 }
        journalHistory.removeFirst(k)
        return min(journalHistory[0].cursor, cursor)
    }

    // MARK: - The node id

    /// Makes sure no other kernel's ledger federates under this node id:
    /// two would share high marks, and each would skip the other's entries
    /// as its own. `HSETNX P:nodes <node> <this ledger's identity>`, then
    /// `HGET`: another identity there is an error that stops federation
    /// until an operator removes it (docs/FEDERATION.md). A kernel restarted
    /// on its own ledger finds its own identity.
    private func claimNode() {
        guard let client else { return }
        guard let identity = shared.files.identity() else {
            shared.log.error("federation cannot make its identity file", ["path": .string(shared.files.identityPath)])
            shared.status.failed("identity", ClusterError.protocolError("cannot write \(shared.files.identityPath)"))
            return
        }
        var logged = false
        while !thread.isStopping {
            do throws(ClusterError) {
                let nodes = shared.keys.nodes
                _ = try client.call(key: nodes, [Array("HSETNX".utf8), nodes, shared.node, Array(identity.utf8)], within: FederationLimits.callSeconds)
                let (held, _) = try client.call(key: nodes, [Array("HGET".utf8), nodes, shared.node], within: FederationLimits.callSeconds)
                if case .bulkString(let owner) = held, owner == Array(identity.utf8) {
                    shared.claim.confirm()
                    shared.status.succeeded()
                    if logged { shared.log.info("federation node id claimed", ["node": .string(shared.config.node)]) }
                    return
                }
                let problem = "node id '\(shared.config.node)' belongs to another kernel's ledger (\(String(decoding: shared.keys.nodes, as: UTF8.self)) "
                    + "holds \(held.bulkText ?? "nothing") for it; this ledger is \(identity)): nothing is shared.federated"
                shared.status.failed("node id", ClusterError.protocolError(problem))
                if !logged { shared.log.error("federation refused", ["detail": .string(problem)]) }
                logged = true
            } catch {
                shared.status.failed("node id", error)
            }
            _ = thread.wakeup.wait(timeout: .now() + .milliseconds(FederationLimits.idleMillis))
        }
    }

    // MARK: - Sending

    /// Appends `window`'s entries, topic by topic, each acknowledged by
    /// WAIT; false when the cluster failed (the same window is sent again).
    private func send(_ window: [LedgerRecord]) -> SendOutcome {
        guard !window.isEmpty else { return .done }
        var order: [[UInt8]] = []
        var byTopic: [[UInt8]: [LedgerRecord]] = [:]
        for r in window {
            if byTopic[r.topic] == nil { order.append(r.topic) }
            byTopic[r.topic, default: []].append(r)
        }
        for topic in order {
            guard let records = byTopic[topic] else { continue }
            switch appendAcknowledged(topic, records) {
            case .done: continue
            case .failed: return .failed
            case .gap(let high):
                acknowledged[topic] = high
                return .gap(high)
            }
        }
        ringDoorbells(order)
        return .done
    }

    /// What sending a batch came to.
    enum SendOutcome {
        case done
        /// A cluster error: the same window is sent again after a pause.
        case failed
        /// The topic's master has a high mark below what WAIT acknowledged:
        /// it lost entries in a failover; they are sent again from the
        /// ledger after this mark.
        case gap(UInt64)
    }

    /// The script call and its WAIT for one topic, until WAIT answers
    /// enough replicas; false on a cluster error (the caller retries later).
    private func appendAcknowledged(_ topic: [UInt8], _ records: [LedgerRecord]) -> SendOutcome {
        guard let client else { return .failed }
        let stream = shared.keys.stream(topic)
        var script: [[UInt8]] = [Array("EVAL".utf8), MirrorScript.bytes, Array("2".utf8), stream, shared.keys.origins(topic), shared.node,
                                 .decimal(acknowledged[topic] ?? 0)]
        var sent: [LedgerRecord] = []
        for r in records {
            if r.fields.count > MirrorScript.maxFields {
                shared.status.update { $0.skippedEntries &+= 1 }
                shared.log.error("federation mirror skips an entry with too many fields",
                          ["topic": .string(String(decoding: topic, as: UTF8.self)), "sequence": .int(Int(clamping: r.sequence)),
                           "fields": .int(r.fields.count)])
                continue
            }
            sent.append(r)
        }
        guard let last = sent.last?.sequence else { return .done }
        script.append(.decimal(UInt64(sent.count)))
        for r in sent {
            script.append(.decimal(r.sequence))
            script.append(Array("\(r.id.ms)-\(r.id.seq)".utf8))
            script.append(.decimal(UInt64(max(0, r.timestampMicros))))
            script.append(r.publisher)
            script.append(.decimal(UInt64(r.fields.count)))
            for f in r.fields {
                script.append(f.name)
                script.append(f.value)
            }
        }
        let wait: [[UInt8]] = [Array("WAIT".utf8), .decimal(UInt64(shared.config.waitReplicas)), .decimal(UInt64(shared.config.waitTimeoutMillis))]
        do throws(ClusterError) {
            if !registered.contains(topic) {
                let (reply, _) = try client.call(key: shared.keys.topics, [Array("SADD".utf8), shared.keys.topics, topic],
                                                 within: FederationLimits.callSeconds)
                if case .error(let e) = reply { throw ClusterError.protocolError("SADD: \(e)") }
                registered.insert(topic)
            }
            var target = try client.master(forKey: stream, within: FederationLimits.callSeconds)
            var asking = false
            // Redirects and passing states are followed until callSeconds
            // have gone by; then the call has failed (reported, retried).
            // WAIT's shortfalls are not failures: they have their own count.
            let deadline = Clock.monotonicNanos() &+ Int64(FederationLimits.callSeconds * 1e9)
            while !thread.isStopping {
                let commands = asking ? [[Array("ASKING".utf8)], script, wait] : [script, wait]
                let replies = try client.pipeline(node: target, commands)
                let scriptReply = asking ? replies[1] : replies[0]
                let waitReply = replies[replies.count - 1]
                asking = false
                switch scriptReply {
                case .integer(let appended):
                    // An error in WAIT's place (an ACL without WAIT, a node
                    // that is not a master any more) is a failed call: sent
                    // again at once, it would fail again at once, forever.
                    guard case .integer(let acks) = waitReply else {
                        if case .error(let message) = waitReply { throw ClusterError.protocolError("WAIT: \(message)") }
                        throw ClusterError.protocolError("WAIT: unexpected reply")
                    }
                    // Counted as appended whatever WAIT answers: the same batch
                    // sent again after a shortfall appends none of it twice.
                    shared.status.update { $0.mirroredEntries &+= UInt64(max(0, appended)) }
                    if acks >= shared.config.waitReplicas {
                        shared.status.succeeded()
                        acknowledged[topic] = last
                        return .done
                    }
                    // Fewer replicas than asked: ask again with the same batch
                    // (the script appends nothing twice, and its write makes
                    // the next WAIT cover everything before it).
                    shared.status.update { $0.waitShortfalls &+= 1 }
                case .error(let message) where message.hasPrefix(MirrorScript.gapPrefix):
                    guard let high = FederatedEntry.parseUnsigned(Array(message.utf8.dropFirst(MirrorScript.gapPrefix.utf8.count))) else {
                        throw ClusterError.protocolError("script: \(message)")
                    }
                    return .gap(high)
                case .error(let message):
                    if Clock.monotonicNanos() > deadline { throw ClusterError.clusterDown("script: \(message)") }
                    switch try ClusterReply.classify(scriptReply, from: target) {
                    case .ask(_, let node):
                        target = node
                        asking = true
                    case .moved, .retry:
                        pause()
                        target = try client.master(forKey: stream, within: FederationLimits.callSeconds)
                    case .answer where Self.isTransient(message):
                        pause()
                        target = try client.master(forKey: stream, within: FederationLimits.callSeconds)
                    case .answer:
                        throw ClusterError.protocolError("script: \(message)")
                    }
                default:
                    throw ClusterError.protocolError("script: unexpected reply")
                }
            }
            return .failed
        } catch {
            shared.log.warn("federation mirror: cluster call failed", ["error": .string("\(error)")])
            shared.status.failed("mirror", error)
            return .failed
        }
    }

    /// Tells the other kernels there is something to read (a hint: lost
    /// messages are made up by their polling).
    private func ringDoorbells(_ topics: [[UInt8]]) {
        guard let client else { return }
        for topic in topics {
            _ = try? client.call(key: topic, [Array("PUBLISH".utf8), shared.keys.doorbell, shared.node + [UInt8(ascii: " ")] + topic], within: 1)
        }
    }

    // MARK: - Waiting

    // `wakeup` counts: the loop signals it once per confirmation, many while
    // a round is in progress. A wait that took one signal would end at once
    // for each of the others: after a failure that is a round per
    // confirmation against a cluster that is down, not one per pause.

    /// Waits for a confirmation (or a stop), at most `FederationLimits.idleMillis`;
    /// takes the signals that piled up (the next round reads the confirmed sequence anew).
    private func idle() {
        var millis = FederationLimits.idleMillis
        if cursor != journaled {
            let due = lastJournalNanos + Int64(FederationLimits.cursorWriteMillis) * 1_000_000 - Clock.monotonicNanos()
            millis = max(1, min(millis, Int(max(0, due) / 1_000_000) + 1))
        }
        _ = thread.wakeup.wait(timeout: .now() + .milliseconds(millis))
        while thread.wakeup.wait(timeout: .now()) == .success {}
    }

    /// Waits `FederationLimits.retryMillis` after a failed call, whatever is
    /// confirmed meanwhile; only a stop ends it sooner.
    private func pause() {
        let deadline = DispatchTime.now() + .milliseconds(FederationLimits.retryMillis)
        while !thread.isStopping && thread.wakeup.wait(timeout: deadline) == .success {}
    }

    /// Errors besides ClusterReply's (MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
    /// LOADING, MASTERDOWN) after which the same call may succeed shortly.
    static func isTransient(_ message: String) -> Bool {
        ["BUSY", "NOREPLICAS", "READONLY"].contains { message.hasPrefix($0) }
    }
}
