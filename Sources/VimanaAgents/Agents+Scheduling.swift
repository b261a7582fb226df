import VimanaCore
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// The scheduler: which agent has work (`notice`, `tick`), which task goes
/// to which instance (`pump`), and when a task is given up (dead letters).
extension Agents {
    // MARK: - New entries

    /// An entry was appended to `topic`: agents subscribed to it have work.
    public func notice(_ topic: UnsafeRawBufferPointer) {
        guard !isEmpty, let base = topic.baseAddress, topic.count > 0 else { return }
        if topic.count >= Self.internalTopicPrefix.count
            && memcmp(base, Self.internalTopicPrefix, Self.internalTopicPrefix.count) == 0 { return }
        // Bursts on one topic: no copy of the name, no group search, no glob match.
        if let cache = noticeCache, cache.topic.count == topic.count,
           cache.topic.withUnsafeBytes({ c in c.baseAddress.map { memcmp($0, base, topic.count) == 0 } ?? false }) {
            for a in cache.agents { a.dirty = true }
            return
        }
        let name = Array(topic)
        var interested: [AgentRuntime] = []
        for a in all where a.config.enabled && a.status != .failed {
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

    /// An agent with a task whose ack_wait ran out, or whose NACK delay
    /// ended, is pumped in the next pass: a look at its earliest timers, so
    /// ack_wait and NACK delays are kept to within a tick (0.1 s).
    public func tick() {
        guard !isEmpty else { return }
        let now = AgentRuntime.monotonicMillis()
        for a in all where a.config.enabled && !a.instances.isEmpty && a.hasDue(now: now) {
            a.dirty = true
        }
    }

    // MARK: - Delivery

    /// Delivers what can be delivered for every agent with news (each pass).
    public func pump() {
        for a in all where a.dirty {
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
            a.countExpired()
            if p.deliveries >= a.config.maxDeliver {
                dead.append(deadLetter(a, g, p, ackWaitOver: true))
                if dead.count == Self.deadLetterBatch { return resumeNextPass(a) }
            } else {
                groups.giveBack(g, p.id, atMillis: wall, journaled: false)
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
    /// Tasks given back that are dead-lettered or gone are passed over in
    /// the loop, never by recursion: 100,000 due at once must not deepen the
    /// stack. Tasks given up are added to `dead`; when it is full the search
    /// ends for this pass (nil) and goes on in the next.
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
            if let f = g.federated {
                if let record = nextClaimed(f, g, ledger: ledger) { return (g, record, nil) }
                continue
            }
            let after = a.lastSequence[g.topic] ?? 0
            if let record = ledger.entries(topic: g.topic, after: g.lastDelivered, afterSequence: after, count: 1).first {
                return (g, record, nil)
            }
        }
        return nil
    }

    /// Sends a task to an instance: a push frame on its connection (through
    /// the host), or a job for a built-in worker (a negative "fd").
    private func push(_ a: AgentRuntime, fd: Int32, topic: [UInt8], record: LedgerRecord, deliveries: Int) {
        if fd < 0 {
            runBuiltin(a, AgentTask(topic: topic, id: record.id, deliveries: deliveries, fields: record.fields,
                                    payload: host.taskPayload(record.fields), publisher: record.publisher))
            return
        }
        host.pushTask(fd: fd, topic: topic, record: record, deliveries: deliveries)
    }

    // MARK: - Dead letters

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
        host.passAgain()
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
            let task = records[ObjectIdentifier(d.group)]?[d.id]
            for f in task?.fields ?? [] { fields.append((f.name, f.value)) }
            // Recorded whatever ledger.record and ledger.exclude say: a dead letter
            // is the only trace of a task that has left the pending list. It
            // keeps the task's publisher: who asked, not the kernel that gave up.
            host.appendEntry(topic: topic, fields: fields, alwaysRecorded: true, publisher: task?.publisher ?? [])
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
}

/// A task to dead-letter, with the reason fixed when it was given up.
struct DeadLetter {
    let group: ConsumerGroup
    let id: StreamID
    let deliveries: Int
    let reason: String
}

/// A pending task, as a set element.
struct TaskKey: Hashable {
    let group: ObjectIdentifier
    let id: StreamID
}
