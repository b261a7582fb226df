import Dispatch
import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents
import VimanaConfig
#if canImport(Glibc)
import Glibc
#endif

/// Agents on the bus: wiring them to their topics' consumer groups,
/// delivering tasks to instances with acknowledgements, redelivery and
/// dead-lettering (Protocol/AGENTS.md).
extension Kernel {
    static let agentJournalPrefix: [UInt8] = Array("_vimana.".utf8)

    // MARK: - Boot

    /// Rebuilds consumer groups from the ledger's journal (those of Redis
    /// clients as much as agents') and wires every enabled agent.
    func setUpAgents() throws(KernelStartError) {
        // Agents without the ledger were refused before (configurationProblems).
        guard let ledger else { return }
        restoreGroups(ledger)
        for (index, config) in config.agents.enumerated() {
            let runtime = AgentRuntime(config: config)
            agents.append(runtime)
            agentIndex[config.id] = index
            guard config.enabled else { continue }
            for topic in ledger.topicNames where !topic.starts(with: Self.agentJournalPrefix) && runtime.subscribes(to: topic) {
                let start = config.start == .all ? StreamID.zero : (ledger.stream(topic)?.lastID ?? .zero)
                attachGroup(runtime, topic: topic, start: start)
            }
            if config.kind == .builtin { startBuiltin(runtime) }
        }
        for a in agents {
            log.info("agent wired", ["agent": .string(a.id), "kind": .string(a.config.kind.rawValue),
                                     "enabled": .bool(a.config.enabled), "topics": .int(a.groups.count),
                                     "pending": .int(a.pendingCount)])
        }
    }

    /// Replays the journal, then journals every change from now on.
    ///
    /// What a start reads is bounded by the groups' state, not the ledger's
    /// size: it replays from the latest snapshot (found through the pointer
    /// file, else searched backwards), reads only the index stretches that
    /// can hold journal records (Ledger.range), and a snapshot is written at
    /// every seal, every `snapshotInterval`, at a clean stop, and at the
    /// start itself when the journal goes on after the latest one.
    private func restoreGroups(_ ledger: Ledger) {
        let journalTopic = GroupStore.journalTopic
        if ledger.stream(journalTopic) != nil {
            let framesBefore = ledger.stats.framesRead
            // From the latest complete snapshot on (the whole journal when there is none),
            // a bounded chunk at a time.
            let start = latestSnapshot(ledger)
            var from = start ?? .zero
            var replayed = 0
            var endsWithSnapshot = false
            while true {
                let chunk = ledger.range(topic: journalTopic, from: from, to: .max, count: Self.replayChunk)
                groups.replay(chunk, nowMillis: Clock.wallMillis())
                replayed += chunk.count
                if let last = chunk.last { endsWithSnapshot = last.fields.first(where: { $0.name == Self.opField })?.value == Self.snapshotEnd }
                guard chunk.count == Self.replayChunk, let next = chunk.last?.id.successor else { break }
                from = next
            }
            log.info("consumer groups restored", ["groups": .int(groups.all.count), "journal_records": .int(replayed),
                                                  "from_snapshot": .string(start?.description ?? "none"),
                                                  "frames_read": .int(ledger.stats.framesRead - framesBefore),
                                                  "segments": .int(ledger.segmentCount)])
            // The next start replays from here, not from the snapshot this one
            // used (or none), whatever this run writes before it ends.
            if !groups.all.isEmpty && !endsWithSnapshot { groupSnapshotDue = true }
        }
        // A group's topic is a stream even with no entries (XGROUP CREATE … MKSTREAM):
        // the ledger's files know only topics with records.
        for g in groups.all { ledger.makeStream(g.topic) }
        groups.streamState = { [unowned ledger] topic in ledger.stream(topic) }
        ledger.onRolled = { [unowned self] in groupSnapshotDue = true }
        groups.journal = { [unowned self] record in writeJournal(record) }
    }

    static let replayChunk = 10_000

    // MARK: - Snapshots

    /// Writes a snapshot of every group to the journal (see GroupStore).
    func writeGroupSnapshot() {
        groupSnapshotDue = false
        rawBytesAtSnapshot = ledger?.stats.rawBytesWritten ?? 0
        let all = groups.all
        // About what the snapshot's records hold: a few fields per group,
        // an ID and a count per pending task.
        let estimate = all.reduce(0) { $0 + Self.snapshotBytesPerGroup + $1.pending.count * Self.snapshotBytesPerPending }
        snapshotInterval = max(Self.minRawBytesPerSnapshot, estimate * Self.snapshotCostFactor)
        if let begin = groups.writeSnapshot(nowMillis: Clock.wallMillis()) {
            snapshotsAwaitingDurability.append((begin, lastJournalSequence))
        }
        journalSequenceAtSnapshot = lastJournalSequence
    }

    static let snapshotBytesPerGroup = 256, snapshotBytesPerPending = 48

    static let snapshotPointerFile = "groups.snapshot"

    /// Records where the latest durable snapshot begins (everything below
    /// `sequence` is durable; also called after the ledger's final fsync).
    func noteDurableSnapshot(upTo sequence: UInt64) {
        guard let k = snapshotsAwaitingDurability.lastIndex(where: { $0.sequence < sequence }), let ledger else { return }
        let pending = snapshotsAwaitingDurability[k]
        snapshotsAwaitingDurability.removeFirst(k + 1)
        writeSnapshotPointer(pending.begin, ledger)
    }

    /// Writes `groups.snapshot`. A lost or stale pointer only means a
    /// longer search at the next start.
    private func writeSnapshotPointer(_ begin: StreamID, _ ledger: Ledger) {
        let path = ledger.config.dir + "/" + Self.snapshotPointerFile
        if !FileIO.writeSmallFile(path, begin.description + "\n") {
            log.warn("cannot record the group snapshot's position", ["path": .string(path)])
        }
    }

    /// Where the latest complete group snapshot begins: the position in
    /// `groups.snapshot` when that record is a `snapshot-begin` still in the
    /// ledger, else found by `searchSnapshot`.
    func latestSnapshot(_ ledger: Ledger) -> StreamID? {
        let path = ledger.config.dir + "/" + Self.snapshotPointerFile
        if let text = FileIO.readSmallFile(path),
           let id = Array(text.utf8.prefix { $0 != 10 }).withUnsafeBufferPointer({ Self.parseID($0, missingSeq: 0) }),
           let r = ledger.range(topic: GroupStore.journalTopic, from: id, to: id, count: 1).first,
           r.fields.first(where: { $0.name == Self.opField })?.value == Self.snapshotBegin {
            return id
        }
        // Not recorded as found: a snapshot read here may not be durable yet
        // (the previous run crashed), and the pointer must name a durable one.
        return searchSnapshot(ledger)
    }

    /// The ID of the `snapshot-begin` of the latest complete group snapshot
    /// in the journal (one whose `snapshot-end` was written); nil when there
    /// is none. Read backwards from the journal's end, a bounded chunk at a
    /// time, so what is read is what was journaled since that snapshot.
    func searchSnapshot(_ ledger: Ledger) -> StreamID? {
        // A read stops only once it has `count` records: start with one and
        // double, so a sparse journal is not read back to its start for
        // records after the snapshot that are not there.
        var count = 1
        for span in ledger.topicSpans(GroupStore.journalTopic).reversed() {
            var to = span.last
            while true {
                let chunk = ledger.range(topic: GroupStore.journalTopic, from: span.first, to: to, count: count, reverse: true)
                for r in chunk {
                    guard r.fields.first(where: { $0.name == Self.opField })?.value == Self.snapshotEnd,
                          let id = r.fields.first(where: { $0.name == Self.idField })?.value
                            .withUnsafeBufferPointer({ Self.parseID($0, missingSeq: 0) }) else { continue }
                    return id
                }
                guard chunk.count == count, let previous = chunk.last?.id.predecessor, previous >= span.first else { break }
                to = previous
                count = min(count * 2, Self.replayChunk)
            }
        }
        return nil
    }

    private static let opField = Array("op".utf8), idField = Array("id".utf8), snapshotEnd = Array("snapshot-end".utf8)
    private static let snapshotBegin = Array("snapshot-begin".utf8)

    /// The agent's group on `topic`, created (journaled) when missing.
    @discardableResult
    func attachGroup(_ a: AgentRuntime, topic: [UInt8], start: StreamID) -> ConsumerGroup {
        if let g = a.group(for: topic) { return g }
        let name = a.groupName
        // Starting at the stream's end has read all it holds, as XGROUP CREATE $
        // does in Redis: its lag counts from there.
        let read = start == .zero ? 0 : Int64(clamping: ledger?.stream(topic)?.entriesAdded ?? 0)
        let g = groups.group(topic, name) ?? groups.create(topic: topic, name: name, lastDelivered: start, entriesRead: read)
            ?? ConsumerGroup(topic: topic, name: name, lastDelivered: start, entriesRead: read)
        a.attach(g, wallMillis: Clock.wallMillis())
        return g
    }

    /// Appends a group change to the journal topic, encoding it in place:
    /// this runs for every delivery and acknowledgement.
    private func writeJournal(_ record: JournalRecord) -> StreamID? {
        guard let ledger else { return nil }
        return GroupStore.journalTopic.withUnsafeBytes { t -> StreamID? in
            guard case .success(let r) = ledger.beginRecord(topic: t, request: .auto, nowMillis: UInt64(s.pointee.nowMillis),
                                                            nowMicros: Clock.wallMicros(), clientID: 0,
                                                            clientName: UnsafeRawBufferPointer(start: nil, count: 0)) else { return nil }
            lastJournalSequence = r.sequence
            func field(_ name: StaticString, _ value: UnsafeRawBufferPointer) {
                ledger.appendField(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value)
            }
            field("op", UnsafeRawBufferPointer(start: record.op.utf8Start, count: record.op.utf8CodeUnitCount))
            /// A field of `items` written as text, separated by spaces;
            /// `write` puts one item (at most `width` bytes) at a pointer.
            func list<T>(_ name: StaticString, _ items: [T], width: Int, _ write: (T, UnsafeMutablePointer<UInt8>) -> Int) {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: items.count * (width + 1)) { buffer in
                    guard let p = buffer.baseAddress else { return }
                    var n = 0
                    for item in items {
                        if n > 0 { p[n] = 32; n += 1 }
                        n += write(item, p + n)
                    }
                    field(name, UnsafeRawBufferPointer(start: p, count: n))
                }
            }
            record.topic.withUnsafeBytes { field("topic", $0) }
            record.group.withUnsafeBytes { field("group", $0) }
            if let consumer = record.consumer { consumer.withUnsafeBytes { field("consumer", $0) } }
            if let id = record.id { list("id", [id], width: 41) { Self.writeID($0, to: $1) } }
            if let name = record.countName {
                list(name, [record.count], width: 21) { v, p in
                    if v < 0 { p[0] = 45 }
                    return Self.writeDecimal(v.magnitude, to: p + (v < 0 ? 1 : 0)) + (v < 0 ? 1 : 0)
                }
            }
            if let ids = record.ids { list("ids", ids, width: 41) { Self.writeID($0, to: $1) } }
            if let counts = record.counts { list("counts", counts, width: 20) { Self.writeDecimal(UInt64(max($0, 0)), to: $1) } }
            ledger.finishRecord(r.mark, fieldCount: record.fieldCount)
            return r.id
        }
    }

    /// Writes `ms-seq` at `p` (at most 41 bytes); returns the length.
    static func writeID(_ id: StreamID, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var n = writeDecimal(id.ms, to: p)
        p[n] = 45  // '-'
        n += 1
        return n + writeDecimal(id.seq, to: p + n)
    }

    /// Writes `value` in decimal at `p` (at most 20 bytes); returns the length.
    static func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        v = value
        var i = digits
        repeat {
            i -= 1
            p[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
            v /= 10
        } while i > 0
        return digits
    }

    // MARK: - New entries

    /// An entry was appended to `topic`: agents subscribed to it have work.
    func agentsNotice(_ topic: UnsafeRawBufferPointer) {
        guard !agents.isEmpty, let base = topic.baseAddress, topic.count > 0 else { return }
        if topic.count >= Self.agentJournalPrefix.count
            && memcmp(base, Self.agentJournalPrefix, Self.agentJournalPrefix.count) == 0 { return }
        // Bursts on one topic: no copy of the name, no group search, no glob match.
        if let cache = noticeCache, cache.topic.count == topic.count,
           cache.topic.withUnsafeBytes({ c in c.baseAddress.map { memcmp($0, base, topic.count) == 0 } ?? false }) {
            for a in cache.agents { a.dirty = true }
            return
        }
        let name = Array(topic)
        var interested: [AgentRuntime] = []
        for a in agents where a.config.enabled && a.status != .failed {
            if a.group(for: name) != nil {
                a.dirty = true
                interested.append(a)
            } else if a.subscribes(to: name) {
                attachGroup(a, topic: name, start: .zero)
                interested.append(a)
            }
        }
        noticeCache = (name, interested)
    }

    // MARK: - Delivery

    /// Delivers what can be delivered for every agent with news (each pass).
    func pumpAgents() {
        for a in agents where a.dirty {
            a.dirty = false
            pump(a)
        }
    }

    func pump(_ a: AgentRuntime) {
        guard a.config.enabled, a.status != .failed, !a.instances.isEmpty, let ledger else { return }
        let wall = Clock.wallMillis(), now = AgentRuntime.monotonicMillis()
        // Deliveries past ack_wait leave their instance, whether or not any
        // instance has room: given back (their slots free; not journaled, as
        // after a restart every pending task is due at once anyway), or
        // dead-lettered after max_deliver deliveries.
        // Dead letters decided in this pass, written at its end.
        var dead: [DeadLetter] = []
        defer { deadLetter(a, &dead) }
        while let (g, p) = a.nextExpired(now: now) {
            if p.deliveries >= a.config.maxDeliver {
                dead.append(deadLetter(a, g, p, ackWaitOver: true))
                if dead.count == Self.deadLetterBatch { return resumeNextPass(a) }
            } else {
                g.setEligible(p.id, atMillis: wall)
            }
        }
        while var i = a.instanceWithRoom() {
            guard let (g, record, previous) = nextTask(a, ledger: ledger, now: now, dead: &dead) else { break }
            if let previous, a.instances[i].consumer == previous, let other = a.instanceWithRoom(avoiding: previous) {
                i = other
            }
            // Not a copy of the instance: it would share, and so copy on write,
            // the `held` list the delivery appends to.
            let fd = a.instances[i].fd
            let c = groups.consumer(g, a.instances[i].consumer, nowMillis: wall)
            let deliveries = groups.deliver(g, record.id, to: c, nowMillis: wall)
            if previous == nil { a.lastSequence[g.topic] = record.sequence }
            a.delivered(to: i)
            a.countDelivery()
            push(a, fd: fd, topic: g.topic, record: record, deliveries: deliveries)
        }
    }

    /// The next task for `a`: a task given back whose time came first (with
    /// the consumer it was last delivered to), else the next new entry.
    /// Tasks given up are added to `dead`; when it is full the search ends
    /// for this pass (nil) and goes on in the next.
    private func nextTask(_ a: AgentRuntime, ledger: Ledger, now: Int64,
                          dead: inout [DeadLetter]) -> (ConsumerGroup, LedgerRecord, [UInt8]?)? {
        while let (g, p) = a.nextGivenBack(now: now) {
            if p.deliveries >= a.config.maxDeliver {
                dead.append(deadLetter(a, g, p, ackWaitOver: false))
                if dead.count == Self.deadLetterBatch {
                    resumeNextPass(a)
                    return nil
                }
                continue
            }
            if let record = ledger.range(topic: g.topic, from: p.id, to: p.id, count: 1).first {
                return (g, record, g.consumerName(p.consumer))
            }
            // The entry is gone (retention): nothing left to deliver.
            groups.ack(g, p.id)
        }
        for k in 0..<a.groups.count {
            let g = a.groups[(a.nextInstance + k) % a.groups.count]
            let after = a.lastSequence[g.topic] ?? 0
            if let record = ledger.entries(topic: g.topic, after: g.lastDelivered, afterSequence: after, count: 1).first {
                return (g, record, nil)
            }
        }
        return nil
    }

    /// Sends a task to an instance: a push frame on its connection, or a job
    /// for a built-in worker.
    private func push(_ a: AgentRuntime, fd: Int32, topic: [UInt8], record: LedgerRecord, deliveries: Int) {
        let payload = EntryPayload.bytes(record.fields)
        if fd < 0 {
            runBuiltin(a, AgentTask(topic: topic, id: record.id, deliveries: deliveries, fields: record.fields, payload: payload))
            return
        }
        guard let c = s.pointee.client(fd) else { return }
        let resp3 = c.pointee.flags.contains(.resp3)
        c.pointee.output.tail.writePushHeader(5, resp3: resp3)
        c.pointee.output.tail.writeBulk("task")
        c.pointee.output.tail.writeBulk(bytes: topic)
        c.pointee.output.tail.writeBulk(string: record.id.description)
        c.pointee.output.tail.writeInteger(deliveries)
        c.pointee.output.tail.writeBulk(bytes: payload)
        markPending(c)
    }

    /// At most this many dead letters are decided in one pass of the loop
    /// and looked up in the ledger together: one pass over their stretch
    /// instead of one index stretch inflated per task (100,000 due at once
    /// after a restart took minutes one by one), and the other clients are
    /// served between batches rather than after the whole backlog.
    static let deadLetterBatch = 1024
    /// Up to this many dead letters in a batch get a log line each; more get
    /// one line for the batch (each is in `dead.<agent>` with its reason).
    static let deadLettersLoggedOneByOne = 16

    /// The agent has more to do than one pass may take: pumped again in the
    /// next pass, which comes at once (other clients' events first).
    private func resumeNextPass(_ a: AgentRuntime) {
        a.dirty = true
        loop.waker.wake()
    }

    /// Gives up on a task delivered max_deliver times, when its last
    /// ack_wait ran out (`ackWaitOver`) or it was given back. The reason is
    /// fixed now; the dead letter itself is written by `deadLetter(_:_:)`.
    private func deadLetter(_ a: AgentRuntime, _ g: ConsumerGroup, _ p: PendingEntry, ackWaitOver: Bool) -> DeadLetter {
        let reason = a.lastFailure.removeValue(forKey: p.id).map { "failed \(p.deliveries) times: \($0)" }
            ?? (ackWaitOver ? "not acknowledged within ack_wait \(p.deliveries) times"
            : a.isLive(g.consumerName(p.consumer)) ? "rejected (NACK) \(p.deliveries) times"
            : "instance gone, delivered \(p.deliveries) times")
        return DeadLetter(group: g, id: p.id, deliveries: p.deliveries, reason: reason)
    }

    /// Writes the dead letters of `batch`, in order, and empties it: each is
    /// appended to `dead.<agent>` with the task's fields (Protocol/AGENTS.md
    /// §2), then acknowledged so it leaves the pending list — in that order,
    /// so a crash between the two leaves the task pending, never untraced.
    private func deadLetter(_ a: AgentRuntime, _ batch: inout [DeadLetter]) {
        guard !batch.isEmpty else { return }
        defer { batch.removeAll(keepingCapacity: true) }
        // The tasks' entries, one ledger pass per group.
        var records: [ObjectIdentifier: [StreamID: LedgerRecord]] = [:]
        if let ledger {
            var ids: [ObjectIdentifier: (ConsumerGroup, [StreamID])] = [:]
            for d in batch { ids[ObjectIdentifier(d.group), default: (d.group, [])].1.append(d.id) }
            for (key, (g, wanted)) in ids {
                let sorted = Array(Set(wanted)).sorted()
                var found: [StreamID: LedgerRecord] = [:]
                for case let r? in ledger.records(topic: g.topic, ids: sorted) { found[r.id] = r }
                records[key] = found
            }
        }
        let topic = Array("dead.\(a.id)".utf8)
        var written: [ObjectIdentifier: (ConsumerGroup, [StreamID])] = [:]
        var seen = Set<TaskKey>()
        for d in batch {
            // One dead letter per task (a second timer for the same task, or one already gone).
            guard seen.insert(TaskKey(group: ObjectIdentifier(d.group), id: d.id)).inserted,
                  d.group.entry(d.id) != nil else { continue }
            var fields: [([UInt8], [UInt8])] = [
                (Array("topic".utf8), d.group.topic), (Array("id".utf8), Array(d.id.description.utf8)),
                (Array("deliveries".utf8), Array(String(d.deliveries).utf8)), (Array("reason".utf8), Array(d.reason.utf8)),
            ]
            for f in records[ObjectIdentifier(d.group)]?[d.id]?.fields ?? [] { fields.append((f.name, f.value)) }
            // Recorded whatever ledger.record and ledger.exclude say: a dead letter
            // is the only trace of a task that has left the pending list.
            appendEntry(topic: topic, fields: fields, alwaysRecorded: true)
            written[ObjectIdentifier(d.group), default: (d.group, [])].1.append(d.id)
            a.countDeadLettered()
            if batch.count <= Self.deadLettersLoggedOneByOne {
                log.warn("task dead-lettered", ["agent": .string(a.id), "topic": .string(String(decoding: d.group.topic, as: UTF8.self)),
                                                "id": .string(d.id.description), "deliveries": .int(d.deliveries),
                                                "reason": .string(d.reason)])
            }
        }
        // One pass over each group's pending list (one ack each moves the rest of it every time).
        var count = 0
        for (g, ids) in written.values {
            count += groups.ack(g, ids).count
        }
        if batch.count > Self.deadLettersLoggedOneByOne {
            log.warn("tasks dead-lettered", ["agent": .string(a.id), "count": .int(count),
                                             "first_id": .string(batch.first?.id.description ?? ""),
                                             "last_id": .string(batch.last?.id.description ?? ""),
                                             "reasons": .string("see dead.\(a.id)")])
        }
    }

    /// Appends an entry as the kernel (dead letters, built-in results when
    /// published as entries) and delivers it like an XADD. It is recorded
    /// when the topic is (`ledger.record`, `ledger.exclude`), or whatever
    /// they say with `alwaysRecorded`.
    func appendEntry(topic: [UInt8], fields: [([UInt8], [UInt8])], alwaysRecorded: Bool = false) {
        topic.withUnsafeBytes { t in
            guard let base = t.baseAddress else { return }
            if let ledger, alwaysRecorded || ledger.records(base, t.count),
               case .success(let r) = ledger.beginRecord(topic: t, request: .auto, nowMillis: UInt64(s.pointee.nowMillis),
                                                         nowMicros: Clock.wallMicros(), clientID: 0,
                                                         clientName: UnsafeRawBufferPointer(start: nil, count: 0)) {
                for (n, v) in fields {
                    n.withUnsafeBytes { nb in v.withUnsafeBytes { vb in ledger.appendField(name: nb, value: vb) } }
                }
                ledger.finishRecord(r.mark, fieldCount: fields.count)
            }
            let channel = base.assumingMemoryBound(to: UInt8.self)
            // Encoded only for someone to receive it (a backlog of dead letters
            // spent a fifth of its time on JSON nobody read); counted either way.
            let listened = s.pointee.channels.subscribers(channel, t.count) != nil || s.pointee.patterns.count > 0
            let payload = listened ? EntryPayload.bytes(fields.map { LedgerRecord.Field(name: $0.0, value: $0.1) }) : []
            payload.withUnsafeBufferPointer { p in
                _ = publish(base.assumingMemoryBound(to: UInt8.self), t.count, p.baseAddress ?? base.assumingMemoryBound(to: UInt8.self), p.count)
            }
            wakeReaders(t)
            agentsNotice(t)
            if !s.pointee.watches.isEmpty { touchWatched(t) }
        }
    }

    // MARK: - Timers

    /// An agent with a task whose ack_wait ran out, or whose NACK delay
    /// ended, is pumped in this pass: a look at its two earliest timers, so
    /// ack_wait and NACK delays are kept to within a tick (0.1 s).
    func agentsTick() {
        guard !agents.isEmpty else { return }
        let now = AgentRuntime.monotonicMillis()
        for a in agents where a.config.enabled && !a.instances.isEmpty && a.hasDue(now: now) {
            a.dirty = true
        }
    }
}

/// A task to dead-letter, with the reason fixed when it was given up.
private struct DeadLetter {
    let group: ConsumerGroup
    let id: StreamID
    let deliveries: Int
    let reason: String
}

/// A pending task, as a set element.
private struct TaskKey: Hashable {
    let group: ObjectIdentifier
    let id: StreamID
}
