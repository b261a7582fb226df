/// Where one topic's entries lie in the ledger, in sequence numbers, so that
/// a read of a sparse topic (four entries among 32,000 others) looks at the
/// frames and batches that hold them and not at everything between its
/// first and last entry (issue: XRANGE of a 4-entry stream took 7 ms).
///
/// Kept in memory only, as the loop appends (`Ledger.append`): sequences
/// never change (compaction keeps them), so a run stays true while its
/// records exist. Records on disk before the ledger opened are not
/// described (finding them would mean inflating every segment at start):
/// below `Ledger.runsFrom` a read is planned as before, from the segment
/// indexes' per-topic and per-stretch summaries.

/// Sequences `first...last` (both of the topic's entries; those between
/// may be other topics').
struct SequenceRun: Sendable, Equatable {
    var first: UInt64
    var last: UInt64
}

/// A topic's closed runs, oldest first. The run being extended lives in
/// `StreamState` (`runFirst` ... `lastSequence`): the append path touches
/// only plain values, and this array only when a run closes.
///
/// Bounded: past `LedgerLimits.topicRunsMax` runs the two closest are
/// merged (the gap between them is then read with them), so a topic costs
/// at most that many runs of 16 bytes, whatever its history.
struct TopicRuns: Sendable {
    private(set) var runs: [SequenceRun] = []

    mutating func close(_ run: SequenceRun) {
        runs.append(run)
        guard runs.count > LedgerLimits.topicRunsMax else { return }
        // Merge across the smallest gap: the fewest other records are added to reads.
        var best = 1
        var bestGap = UInt64.max
        for k in 1..<runs.count {
            let gap = runs[k].first &- runs[k - 1].last
            if gap < bestGap { bestGap = gap; best = k }
        }
        runs[best - 1].last = runs[best].last
        runs.remove(at: best)
    }

    /// Forgets runs that end before `sequence` (retention removed their records).
    mutating func drop(below sequence: UInt64) {
        if let k = runs.firstIndex(where: { $0.last >= sequence }) {
            if k > 0 { runs.removeFirst(k) }
        } else {
            runs.removeAll()
        }
    }
}

/// What a read knows of where its topic's entries are: every entry at or
/// after `knownFrom` lies in one of `runs` (ascending, disjoint); below
/// `knownFrom` any sequence may hold one.
struct TopicPlaces: Sendable {
    let knownFrom: UInt64
    let runs: [SequenceRun]

    /// Knows nothing: every sequence may hold the topic.
    static let anywhere = TopicPlaces(knownFrom: .max, runs: [])

    /// Whether sequences `first..<next` may hold an entry of the topic.
    func mayHold(_ first: UInt64, _ next: UInt64) -> Bool {
        guard first < next else { return false }
        if first < knownFrom { return true }
        // The first run that does not end before `first`.
        var lo = 0, hi = runs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if runs[mid].last < first { lo = mid + 1 } else { hi = mid }
        }
        return lo < runs.count && runs[lo].first < next
    }

    /// The sequence ranges within `lo..<hi` that may hold the topic, ascending.
    func spans(_ lo: UInt64, _ hi: UInt64) -> [Range<UInt64>] {
        guard lo < hi else { return [] }
        var out: [Range<UInt64>] = []
        if lo < knownFrom { out.append(lo..<min(hi, knownFrom)) }
        for r in runs where r.last >= lo {
            if r.first >= hi { break }
            let span = max(r.first, lo)..<min(r.last &+ 1, hi)
            if let last = out.last, last.upperBound >= span.lowerBound {
                out[out.count - 1] = last.lowerBound..<max(last.upperBound, span.upperBound)
            } else {
                out.append(span)
            }
        }
        return out
    }
}

extension Ledger {
    /// Where `topic`'s entries are, for a read.
    func places(_ topic: [UInt8]) -> TopicPlaces {
        guard let i = topic.withUnsafeBytes({ topics.find($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) })
        else { return TopicPlaces(knownFrom: runsFrom, runs: []) }
        var runs = topicRuns[i].runs
        let s = streams[i]
        if s.lastSequence != 0 { runs.append(SequenceRun(first: s.runFirst, last: s.lastSequence)) }
        return TopicPlaces(knownFrom: runsFrom, runs: runs)
    }

    /// Notes the entry of stream `s` at `sequence` (the append path): the
    /// current run grows unless more than `topicRunGap` other records came
    /// since the topic's last entry.
    @inline(__always)
    func noteEntry(_ s: Int, _ sequence: UInt64) {
        let previous = streams[s].lastSequence
        if previous == 0 || sequence &- previous > LedgerLimits.topicRunGap {
            if previous != 0 { closeRun(s, SequenceRun(first: streams[s].runFirst, last: previous)) }
            streams[s].runFirst = sequence
        }
        streams[s].lastSequence = sequence
    }

    private func closeRun(_ s: Int, _ run: SequenceRun) {
        topicRuns[s].close(run)
    }
}
