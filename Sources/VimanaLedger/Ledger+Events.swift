import VimanaCore
import VimanaConfig

/// Writer and maintenance reports, applied on the loop thread; retention.
extension Ledger {
    /// Queues a writer event (any thread; the writer posts under its state
    /// lock, so the queue is in the order things happened); the first of a
    /// run asks the loop to drain them, unless `wakeLoop` is false (an
    /// inline write: the loop drains them itself next).
    func post(_ event: WriterEvent, wakeLoop: Bool, notify: (@escaping @Sendable () -> Void) -> Void) {
        let first = writerEvents.withLock { q -> Bool in
            q.append(event)
            return q.count == 1
        }
        if first && wakeLoop { notify { [unowned self] in drainWriterEvents() } }
    }

    /// Applies the queued writer events (loop thread).
    func drainWriterEvents() {
        let events = writerEvents.withLock { q -> [WriterEvent] in
            let all = q
            q.removeAll(keepingCapacity: true)
            return all
        }
        for event in events { handle(event) }
    }

    func handle(_ event: WriterEvent) {
        switch event {
        case .written(let sequence, let segment, let frames, let bytes):
            writtenSequence = max(writtenSequence, sequence)
            let wasOver = isOverPendingLimit
            pendingBytes -= bytes
            // Batches are written in order: the unwritten ones are at the end of `tail`.
            var unwritten = 0
            for b in tail.live.reversed() {
                if b.nextSequence <= writtenSequence { break }
                unwritten += 1
            }
            pendingBatches = unwritten
            if let view = segments.last, view.name == segment {
                for f in frames {
                    view.index.addWritten(f)
                    view.size = f.offset + f.header.frameLength
                    stats.recordsWritten += UInt64(f.header.recordCount)
                    stats.rawBytesWritten += Int(f.header.uncompressedLength)
                    stats.compressedBytesWritten += f.header.frameLength
                }
            }
            trimTail()
            if config.fsync != .always { onConfirmed?(writtenSequence) }
            if wasOver && !isOverPendingLimit { onDrained?() }
        case .durable(let sequence, let latency):
            if latency > 0 {
                stats.fsyncs += 1
                stats.fsyncNanosTotal += latency
                stats.fsyncNanosLast = latency
                stats.lastFsyncMillis = Clock.wallMillis()
                onFsync?(latency)
            }
            guard sequence > durableSequence else { return }
            durableSequence = sequence
            if config.fsync == .always { onConfirmed?(sequence) }
            onDurable?(sequence)
        case .rolled(let sealed, let index, let size, let next, let first):
            sealedIndexPending.insert(sealed)
            if let view = segments.first(where: { $0.name == sealed }) {
                view.index = index
                view.size = size
                view.reopen()
            }
            segments.append(SegmentView(name: next, path: config.dir + "/" + next,
                                        index: SegmentIndex(firstSequence: first), size: 0))
            log.info("ledger segment sealed", ["segment": .string(sealed), "bytes": .int(size),
                                                "records": .int(Int(clamping: index.recordCount))])
            if !removalsInUse.isEmpty { removalsSnapshotDue = true }
            onRolled?()
            onSealed?(sealed)
        case .sealed(let name):
            sealedIndexPending.remove(name)
            maintenance?.submit(.compact(name))
        case .failed(let error):
            stats.writeErrors += 1
            let message = error.description
            // Once per distinct error, not once per retry.
            if writeError?.description != message {
                log.error("ledger write failed: appends are refused until it recovers",
                          ["error": .string(message), "unwritten_bytes": .int(pendingBytes)])
            }
            writeError = error
            stats.lastError = message
        case .recovered:
            log.info("ledger writes recovered", ["failed_attempts_so_far": .int(stats.writeErrors),
                                                  "written_sequence": .int(Int(writtenSequence))])
            writeError = nil
        case .indexFailed(let error):
            stats.writeErrors += 1
            let message = error.description
            if stats.lastError != message { log.warn("ledger index not written", ["error": .string(message)]) }
            stats.lastError = message
        }
    }

    func handle(_ event: MaintenanceEvent) {
        switch event {
        case .compacted(let name, let index, let size, let before):
            guard let view = segments.first(where: { $0.name == name }) else { return }
            view.index = index
            view.size = size
            view.reopen()
            log.info("ledger segment compacted", ["segment": .string(name), "bytes_before": .int(before),
                                                   "bytes_after": .int(size)])
        case .damaged(let name, let offset):
            log.warn("ledger compaction skipped: damaged frame", ["segment": .string(name), "offset": .int(offset)])
            if let view = segments.first(where: { $0.name == name }) { examine(view) }
        case .retired(let name, let archived):
            if let archived {
                log.info("ledger segment archived", ["segment": .string(name), "to": .string(archived)])
            } else {
                log.info("ledger segment deleted", ["segment": .string(name)])
            }
        case .failed(let message):
            log.warn("ledger maintenance failed", ["error": .string(message)])
        case .answered(let id, let answer):
            housekeepingReplies.removeValue(forKey: id)?(answer)
        }
    }

    /// Drops written batches from memory beyond the tail budget.
    func trimTail() {
        while tailBytes > tailBytesLimit, let first = tail.first, first.nextSequence <= writtenSequence {
            tail.removeFirst()
            tailBytes -= first.footprint
        }
    }

    /// The first sequence still held in memory (reads below it go to disk).
    var tailFirstSequence: UInt64 { tail.first?.firstSequence ?? current?.firstSequence ?? nextSequence }

    // MARK: - Retention

    /// Changes retention from the next `enforceRetention` on (the kernel's
    /// timer, within a second). `maxAgeSeconds` within
    /// `LedgerConfig.retentionSecondsRange`, `maxBytes` at least 0; 0 is no limit.
    public func setRetention(maxAgeSeconds: Int, maxBytes: Int) {
        retentionMaxAgeSeconds = min(max(0, maxAgeSeconds), LedgerConfig.retentionSecondsRange.upperBound)
        retentionMaxBytes = max(0, maxBytes)
    }

    /// Retires sealed segments past `retention.max_age` or beyond
    /// `retention.max_bytes` (oldest first). The active segment never is,
    /// nor one holding a sequence at or above `retentionHold`.
    /// Returns the names of the segments retired.
    @discardableResult
    public func enforceRetention(nowMicros: Int64) -> [String] {
        reclaimRemoved()
        if retentionWaitsForRemovals { return [] }
        let maxAge = Int64(retentionMaxAgeSeconds) * 1_000_000
        let maxBytes = retentionOverride ?? retentionMaxBytes
        guard maxAge > 0 || maxBytes > 0 else { return [] }
        var retired: [String] = []
        var total = segments.reduce(0) { $0 + $1.size }
        while segments.count > 1 {
            let oldest = segments[0]
            let tooOld = maxAge > 0 && oldest.index.recordCount > 0 && oldest.index.maxTimestamp < nowMicros - maxAge
            let tooBig = maxBytes > 0 && total > maxBytes
            guard tooOld || tooBig else { break }
            // Not yet mirrored to the cluster: kept, and so are the segments after it.
            if let hold = retentionHold, oldest.index.nextSequence > hold { break }
            segments.removeFirst()
            total -= oldest.size
            // Its records are gone for readers too: the batches of it still
            // in memory go before the streams' first entries are recomputed.
            let kept = segments.first?.index.firstSequence ?? nextSequence
            while let first = tail.first, first.nextSequence <= kept {
                tail.removeFirst()
                tailBytes -= first.footprint
            }
            sealedIndexPending.remove(oldest.name)
            forget(oldest)
            maintenance?.submit(.retire(oldest.name))
            retired.append(oldest.name)
        }
        return retired
    }

    /// Removes a retired segment's records from the stream states.
    private func forget(_ view: SegmentView) {
        damagedViews.removeAll { $0 === view }
        suspects.removeAll { $0 === view }
        for (topic, t) in view.index.topics where t.count > 0 {
            guard let i = topic.withUnsafeBytes({ topics.find($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }) else { continue }
            // Its entries removed already (Ledger+Removals.swift) are not counted twice.
            let removed = removalsInUse.contains(i) ? removedCount(i, in: view) : 0
            let live = t.count - min(t.count, removed)
            streams[i].length -= min(streams[i].length, live)
            if removalsInUse.contains(i) {
                var cut = removals[i]
                cut.deleted = cut.deleted.filter { $0 >= view.index.nextSequence }
                setRemovals(i, cut)
            }
            // Retention is a trim by age or size: as Redis's trims, it leaves
            // max-deleted-entry-id (XDEL's and XSETID's) alone, so the figure
            // is the same before and after a restart.
            streams[i].first = removalsInUse.contains(i) ? range(topic: topic, from: .zero, to: .max, count: 1).first?.id
                : segments.lazy.compactMap { $0.index.topics[topic]?.first }.first ?? firstInMemory(topic)
            topicRuns[i].drop(below: segments.first?.index.firstSequence ?? nextSequence)
        }
        view.reopen()
    }

    func firstInMemory(_ topic: [UInt8]) -> StreamID? {
        for batch in tail.live + (current.map { [$0] } ?? []) {
            var s = batch.firstSequence
            while s < batch.nextSequence {
                if let r = batch.summary(s), r.topic == topic { return r.id }
                s += 1
            }
        }
        return nil
    }
}

extension SegmentIndex {
    /// Accounts for a frame the writer reports (the loop's view of the active segment).
    mutating func addWritten(_ f: WrittenFrame) {
        minTimestamp = min(minTimestamp, f.minTimestamp)
        maxTimestamp = max(maxTimestamp, f.maxTimestamp)
        for (topic, t) in f.topics {
            if var existing = topics[topic] {
                existing.count += t.count
                existing.last = t.last
                topics[topic] = existing
            } else {
                topics[topic] = t
            }
        }
        if let last = entries.last, UInt64(f.offset) - last.offset < LedgerLimits.indexEntrySpacing {
            entries[entries.count - 1].minMs = min(last.minMs, f.minMs)
            entries[entries.count - 1].maxMs = max(last.maxMs, f.maxMs)
        } else {
            entries.append(Entry(firstSequence: f.header.firstSequence, offset: UInt64(f.offset), minMs: f.minMs, maxMs: f.maxMs))
        }
        coveredBytes = UInt64(f.offset + f.header.frameLength)
        nextSequence = f.header.nextSequence
    }
}
