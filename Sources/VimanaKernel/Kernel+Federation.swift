import VimanaCore
import VimanaConfig
import VimanaLedger
import VimanaFederation
import VimanaAgents

/// A value that belongs to the loop thread, carried through another
/// thread's closure to be used only in work the loop runs (`execute`).
struct LoopOnly<Value>: @unchecked Sendable {
    let value: Value
}

/// The kernel's side of federation (Protocol/FEDERATION.md): starting the
/// mirror and the reader, telling them how far the ledger is confirmed,
/// appending and delivering what other kernels published, and the ledger's
/// retention hold. The cluster is reached only by VimanaFederation's threads.
extension Kernel {
    /// Before the agents are wired: their groups on federated topics take
    /// tasks claimed in the cluster (Protocol/FEDERATION.md §6).
    func prepareFederatedAgents() {
        guard let fc = config.federation else { return }
        let topics = FederatedTopics(fc.topics)
        agents.isFederatedTopic = { topics.contains($0) }
        agents.federationSink = self
    }

    /// Starts federation once the ledger is open (no-op without `federation:`).
    func startFederation() throws(KernelStartError) {
        guard let fc = config.federation else { return }
        guard let ledger else { throw KernelStartError("federation needs the ledger: set ledger.enabled: true") }
        let waker = loop.waker
        let me = LoopOnly(value: self)
        let federation = Federation(
            config: fc, ledgerDirectory: ledger.config.dir, log: log,
            deliver: { batch, done in
                waker.execute { done(me.value.appendImported(batch)) }
            },
            claim: { batch, done in
                waker.execute { done(me.value.takeClaims(batch)) }
            },
            holdRetention: { sequence in
                waker.execute { me.value.ledger?.retentionHold = sequence }
            })
        switch federation.start(confirmed: ledger.confirmedSequence) {
        case .success(let hold):
            ledger.retentionHold = hold
        case .failure(let error):
            throw KernelStartError(error.description)
        }
        self.federation = federation
        agents.retellFederatedDemand()
        log.info("federation started", ["node": .string(fc.node), "seeds": .int(fc.cluster.count),
                                        "topics": .int(fc.topics.count), "mirror_cursor": .int(Int(clamping: ledger.retentionHold ?? 0))])
    }

    /// The ledger confirmed records up to `sequence`: the mirror may send them.
    func federationConfirmed(_ sequence: UInt64) {
        federation?.confirmed(sequence)
    }

    /// Appends entries other kernels published, each with its origin, and
    /// delivers them as an XADD's: to subscribers, blocked readers, agents
    /// and WATCH (the reader's batch, on the loop thread).
    func appendImported(_ batch: ImportBatch) -> ImportOutcome {
        guard let ledger else { return .refused("no ledger") }
        if let error = ledger.writeError { return .refused(error.description) }
        var last: UInt64 = 0
        var ids: [StreamID] = []
        ids.reserveCapacity(batch.entries.count)
        let refused: ImportOutcome? = batch.topic.withUnsafeBytes { t -> ImportOutcome? in
            guard let base = t.baseAddress ?? UnsafeRawPointer(bitPattern: 1) else { return .refused("topic") }
            guard ledger.records(base, t.count) else { return .notRecorded }
            let channel = base.assumingMemoryBound(to: UInt8.self)
            for entry in batch.entries {
                let appended = entry.origin.withUnsafeBytes { origin in
                    entry.publisher.withUnsafeBytes { user in
                        ledger.append(topic: t, id: .auto,
                                      client: .federated(origin: origin, originSequence: entry.sequence, user: user),
                                      nowMillis: UInt64(s.pointee.nowMillis), nowMicros: entry.timestampMicros) { fields in
                            var k = 0
                            while k + 1 < entry.fields.count {
                                entry.fields[k].withUnsafeBytes { n in entry.fields[k + 1].withUnsafeBytes { v in fields.add(name: n, value: v) } }
                                k += 2
                            }
                        }
                    }
                }
                guard case .success(let done) = appended else { return .refused("the topic's stream refused an ID") }
                last = done.sequence
                ids.append(done.id)
                let listened = s.pointee.channels.subscribers(channel, t.count) != nil || s.pointee.patterns.count > 0
                if listened {
                    var pairs: [LedgerRecord.Field] = []
                    var k = 0
                    while k + 1 < entry.fields.count {
                        pairs.append(.init(name: entry.fields[k], value: entry.fields[k + 1]))
                        k += 2
                    }
                    let payload = EntryPayload.bytes(pairs)
                    payload.withUnsafeBufferPointer { p in
                        entry.publisher.withUnsafeBytes { user in
                            _ = publish(channel, t.count, p.baseAddress ?? channel, p.count, from: MessagePublisher(named: user))
                        }
                    }
                }
            }
            wakeReaders(t)
            agents.notice(t)
            if !s.pointee.watches.isEmpty { touchWatched(t) }
            return nil
        }
        if let refused { return refused }
        return .appended(lastSequence: last, ids: ids)
    }

    /// Tasks claimed in the cluster for this kernel's instances: queued for them.
    func takeClaims(_ batch: ClaimBatch) -> ClaimOutcome {
        let claims = batch.claims.map {
            FederatedClaim(clusterID: $0.clusterID, local: $0.local, origin: $0.origin, originSequence: $0.originSequence)
        }
        return ClaimOutcome(released: agents.claimed(group: batch.group, topic: batch.topic, claims: claims))
    }
}

extension Kernel: FederatedTaskSink {
    public func taskDemand(_ demand: [FederatedTaskDemand]) {
        federation?.taskDemand(demand.map {
            TaskDemand(group: $0.group, topic: $0.topic, ackWaitMillis: $0.ackWaitMillis, capacity: $0.capacity, startID: $0.startID)
        })
    }

    public func tasksAnswered(group: [UInt8], topic: [UInt8], clusterIDs: [[UInt8]], released: [[UInt8]]) {
        federation?.tasksAnswered(group: group, topic: topic, clusterIDs: clusterIDs, released: released)
    }
}
