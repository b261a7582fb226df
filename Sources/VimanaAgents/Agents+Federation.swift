import VimanaCore
import VimanaLedger

/// Tasks across kernels (Protocol/FEDERATION.md §6): an agent's group on a
/// federated topic takes its new tasks from the claims the federation
/// makes for this kernel in the cluster, not from the topic's new entries
/// (which every kernel holds), so that a task goes to one instance across
/// all kernels; what the group answers is acknowledged there.
extension Agents {
    /// Makes `g` (an agent's group on `topic`) a federated one when the topic is.
    func federateIfShared(_ g: ConsumerGroup, topic: [UInt8], fromStart: Bool) {
        guard let isFederated = isFederatedTopic, isFederated(topic), g.federated == nil else { return }
        g.federated = FederatedQueue(startID: Array((fromStart ? "0" : "\(Clock.wallMillis())-0").utf8),
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
        for c in claims {
            guard let id = c.local ?? findImported(ledger, topic: topic, origin: c.origin, sequence: c.originSequence) else {
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

    /// The local ID of `origin`'s entry `sequence` of `topic`, searched
    /// from the newest (a claim older than the federation's import index).
    private func findImported(_ ledger: Ledger, topic: [UInt8], origin: [UInt8], sequence: UInt64) -> StreamID? {
        var upper = StreamID.max
        for _ in 0..<Self.importSearchPages {
            let page = ledger.range(topic: topic, from: .zero, to: upper, count: Self.importSearchPage, reverse: true)
            for r in page where r.origin == origin && r.originSequence == sequence { return r.id }
            guard page.count == Self.importSearchPage, let last = page.last, last.id > .zero else { return nil }
            upper = last.id.seq > 0 ? StreamID(ms: last.id.ms, seq: last.id.seq - 1) : StreamID(ms: last.id.ms - 1, seq: .max)
        }
        log.warn("federation: a claimed task's entry was not found among the topic's latest entries",
                 ["topic": .string(String(decoding: topic, as: UTF8.self)),
                  "searched": .int(Self.importSearchPages * Self.importSearchPage)])
        return nil
    }

    static let importSearchPage = 1000
    static let importSearchPages = 20

    /// At the end of a pass: what the federated groups answered, and the
    /// agents' demand when it changed, told to the sink.
    func endFederatedPass() {
        guard let sink = federationSink else { return }
        var demandChanged = false
        for g in federatedGroups {
            guard let f = g.federated, let a = g.agent else { continue }
            let capacity = a.config.enabled && a.status != .failed ? a.instances.count.multipliedReportingOverflow(by: a.config.prefetch).partialValue : 0
            if capacity == 0 && (f.queued > 0 || f.toldCapacity != 0) { releaseUnheld(f, g) }
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

    /// The group stops being fed (XGROUP DESTROY): its queued claims go back to the others.
    func unfederate(_ g: ConsumerGroup) {
        guard let f = g.federated else { return }
        f.releaseQueued()
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
