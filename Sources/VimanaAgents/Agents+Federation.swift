import VimanaCore
import VimanaLedger

/// Tasks across kernels (Protocol/FEDERATION.md §6): an agent's group on a
/// federated topic takes its new tasks from the claims the federation
/// makes for this kernel in the cluster, not from the topic's new entries
/// (which every kernel holds), so that a task goes to one instance across
/// all kernels; what the group answers is acknowledged there.
extension Agents {
    /// Makes `g` (an agent's group on `topic`) a federated one when the
    /// topic is. The cluster's group, when this kernel makes it, starts
    /// where `g` stands: at 0 when `g` does (start: all, a topic that first
    /// appeared here after the kernel started, and such a group after a
    /// restart), at the wall clock now for a group `made` now at the
    /// topic's end (start: new), else at the millisecond of the ID it stands at.
    func federateIfShared(_ g: ConsumerGroup, topic: [UInt8], made: Bool) {
        guard let isFederated = isFederatedTopic, isFederated(topic), g.federated == nil else { return }
        let ms = g.lastDelivered == .zero ? nil : made ? UInt64(clamping: Clock.wallMillis()) : g.lastDelivered.ms
        g.federated = FederatedQueue(startID: Array((ms.map { "\($0)-0" } ?? "0").utf8),
                                     restored: g.pending.map(\.id))
        federatedGroups.append(g)
    }

    /// The next task of a federated group: the oldest claim whose entry is
    /// here (one that is not, removed since, is left to other kernels).
    func nextClaimed(_ f: FederatedQueue, _ g: ConsumerGroup, ledger: Ledger) -> LedgerRecord? {
        while let id = f.next() {
            if g.entry(id) != nil { continue }
            if let record = ledger.range(topic: g.topic, from: id, to: id, count: 1).first { return record }
            f.release(id)
        }
        return nil
    }

    /// Tasks claimed for this kernel in the cluster for the agent named
    /// `group` on `topic`: queued for its instances. Returns the cluster IDs
    /// of those whose entries are not in this ledger (given up here).
    public func claimed(group: [UInt8], topic: [UInt8], claims: [FederatedClaim]) -> [[UInt8]] {
        guard let a = agent(named: group), let g = a.group(for: topic), let f = g.federated, let ledger else {
            return claims.map(\.clusterID)
        }
        var released: [[UInt8]] = []
        // The last entry found per origin: a batch's claims are mostly in order.
        var found: [[UInt8]: (sequence: UInt64, id: StreamID)] = [:]
        for c in claims {
            let id: StreamID
            if let known = c.local {
                id = known
            } else if let seen = findImported(ledger, topic: topic, origin: c.origin, sequence: c.originSequence,
                                              near: found[c.origin]) {
                id = seen
                found[c.origin] = (c.originSequence, seen)
            } else {
                released.append(c.clusterID)
                continue
            }
            if f.answeredBeforeClaim(id, clusterID: c.clusterID) { continue }
            if g.entry(id) != nil {
                f.adopt(id, clusterID: c.clusterID)
            } else if !f.claimed(id, clusterID: c.clusterID) {
                continue
            }
        }
        a.dirty = true
        return released
    }

    /// The local ID of `origin`'s entry `sequence` of `topic` (a claim the
    /// federation's import index no longer names), nil when the ledger does
    /// not hold it. One origin's entries are appended here in the order of
    /// their sequences (the reader imports them in order), so the topic is
    /// bisected by local ID: each probe reads forward from a point to the
    /// origin's next entry there, whose sequence says on which side the
    /// entry lies. `near`, an entry of the origin found before, narrows the
    /// search first. At most `importSearchPages` pages are read.
    private func findImported(_ ledger: Ledger, topic: [UInt8], origin: [UInt8], sequence: UInt64,
                              near: (sequence: UInt64, id: StreamID)?) -> StreamID? {
        guard let last = ledger.stream(topic)?.lastID,
              var lo = ledger.range(topic: topic, from: .zero, to: last, count: 1).first?.id else { return nil }
        var hi = last
        var fromLo = false
        if let near {
            if near.sequence == sequence { return near.id }
            if near.sequence < sequence {
                guard let after = near.id.successor else { return nil }
                lo = max(lo, after)
                fromLo = true
            } else {
                guard let before = near.id.predecessor else { return nil }
                hi = min(hi, before)
            }
        }
        var budget = Self.importSearchPages
        while budget > 0 && lo <= hi {
            // From the middle of [lo, hi] by millisecond; from lo when they are a millisecond apart.
            let from = fromLo || hi.ms - lo.ms <= 1 ? lo : StreamID(ms: lo.ms + (hi.ms - lo.ms) / 2, seq: 0)
            fromLo = false
            // Forward from `from` to the origin's first entry there.
            var cursor = from
            var first: LedgerRecord?
            var page: [LedgerRecord] = []
            while budget > 0 {
                budget -= 1
                page = ledger.range(topic: topic, from: cursor, to: hi, count: Self.importSearchPage)
                first = page.first { $0.origin == origin }
                guard first == nil, page.count == Self.importSearchPage, let end = page.last?.id.successor else { break }
                cursor = end
            }
            guard let first else {
                // None of the origin's from `from` to `hi` (or the budget ran out): it lies before `from`.
                if page.count == Self.importSearchPage { break }
                guard from > lo, let before = from.predecessor else { return nil }
                hi = before
                continue
            }
            if first.originSequence > sequence {
                // None of the origin's between `from` and `first`: it lies before `from`.
                guard from > lo, let before = from.predecessor else { return nil }
                hi = before
                continue
            }
            // The origin's entries in this page, from `first` on, in sequence order.
            for r in page where r.origin == origin && r.id >= first.id {
                if r.originSequence == sequence { return r.id }
                if r.originSequence > sequence { return nil }
            }
            // Above every entry of the origin in the page: after the page.
            guard page.count == Self.importSearchPage, let end = page.last?.id.successor else { return nil }
            lo = end
        }
        if budget == 0 {
            log.warn("federation: a claimed task's entry was not found within the search's pages",
                     ["topic": .string(String(decoding: topic, as: UTF8.self)),
                      "pages": .int(Self.importSearchPages), "page": .int(Self.importSearchPage)])
        }
        return nil
    }

    /// Entries read at a time while searching for a claimed task's entry,
    /// and at most that many pages per search: a bisection of a topic
    /// spanning a year takes about 35 probes, each mostly one page; an
    /// entry that is not here costs at most 16,384 records read.
    static let importSearchPage = 256
    static let importSearchPages = 64

    /// At the end of a pass: what the federated groups answered, and the
    /// agents' demand when it changed, told to the sink.
    func endFederatedPass() {
        guard let sink = federationSink else { return }
        var demandChanged = false
        for g in federatedGroups {
            guard let f = g.federated, let a = g.agent else { continue }
            let slots = a.config.enabled && a.status != .failed ? a.instances.count.multipliedReportingOverflow(by: a.config.prefetch).partialValue : 0
            if slots == 0 && (f.queued > 0 || f.toldCapacity != 0) { releaseUnheld(f, g) }
            let capacity = slots == 0 ? 0 : slots.addingReportingOverflow(unheldClaims(f, g, a)).partialValue
            if capacity != f.toldCapacity {
                f.toldCapacity = capacity
                demandChanged = true
            }
            if f.hasNews {
                let news = f.takeNews()
                sink.tasksAnswered(group: g.name, topic: g.topic, clusterIDs: news.answered, released: news.released)
            }
        }
        if demandChanged {
            sink.taskDemand(federatedGroups.compactMap { g in
                guard let f = g.federated, let a = g.agent else { return nil }
                return FederatedTaskDemand(group: g.name, topic: g.topic, ackWaitMillis: a.config.ackWaitMillis,
                                           capacity: max(f.toldCapacity, 0), startID: f.startID)
            })
        }
    }

    /// Claims pending here that hold no prefetch slot (given back: a NACK's
    /// delay running, a redelivery due): the claimer counts every claim not
    /// answered against the demand, and these must not take the instances'
    /// room (Protocol/AGENTS.md §2: a task waiting out a NACK delay holds no slot).
    private func unheldClaims(_ f: FederatedQueue, _ g: ConsumerGroup, _ a: AgentRuntime) -> Int {
        var held = 0
        for i in a.instances {
            if a.groups.count == 1 { held += i.inFlight } else { for t in i.held.all where t.group === g { held += 1 } }
        }
        return max(0, f.clusterIDs.count - f.queued - held)
    }

    /// No instance here: what was claimed for one goes back to the others —
    /// the queued claims, and the tasks instances that left gave back
    /// (pending here, held by none). Those leave this kernel's group too
    /// (released first, so the store's ack does not acknowledge them in the
    /// cluster): an instance joining here later must not do them again
    /// after another kernel did (Protocol/FEDERATION.md §6). The cluster
    /// keeps them pending as this kernel's, unrefreshed, until one takes them.
    private func releaseUnheld(_ f: FederatedQueue, _ g: ConsumerGroup) {
        f.releaseQueued()
        let unheld = g.pending.compactMap { p in !p.isHeld && f.clusterIDs[p.id] != nil ? p.id : nil }
        guard !unheld.isEmpty else { return }
        for id in unheld { f.release(id) }
        groups.ack(g, unheld)
    }

    /// The sink lost what it was told (it started after the agents): told again at the pass's end.
    public func retellFederatedDemand() {
        for g in federatedGroups { g.federated?.toldCapacity = -1 }
    }

    /// The group stops being fed (XGROUP DESTROY): its claims, queued or
    /// pending, go back to the others.
    func unfederate(_ g: ConsumerGroup) {
        guard let f = g.federated else { return }
        f.releaseAll()
        let news = f.takeNews()
        federationSink?.tasksAnswered(group: g.name, topic: g.topic, clusterIDs: news.answered, released: news.released)
        g.federated = nil
        federatedGroups.removeAll { $0 === g }
        federationSink?.taskDemand(federatedGroups.compactMap { g in
            guard let f = g.federated, let a = g.agent else { return nil }
            return FederatedTaskDemand(group: g.name, topic: g.topic, ackWaitMillis: a.config.ackWaitMillis,
                                       capacity: max(f.toldCapacity, 0), startID: f.startID)
        })
    }
}
