/// An operator's housekeeping (LEDGER SEAL, RETAIN, ARCHIVES, VERIFY,
/// RESTORE; Protocol/LEDGER.md §7), from the loop thread: nothing here
/// touches the disk on the loop.
extension Ledger {
    /// Asks the writer to seal the active segment as soon as it holds a
    /// record; `onSealed` reports it. False (nothing asked) when the active
    /// segment holds no record and none is on its way to it.
    public func requestSeal() -> Bool {
        guard let writer, let active = segments.last, nextSequence > active.index.firstSequence else { return false }
        writer.requestSeal()
        return true
    }

    /// Applies retention now; the names of the segments it retires (moved to
    /// the archive, or deleted without one, by the maintenance thread).
    public func retainNow(nowMicros: Int64) -> [String] {
        enforceRetention(nowMicros: nowMicros)
    }

    /// The ledger's segments and the bytes of whole frames written to each,
    /// oldest first (the last is the active one): what LEDGER CHECK checks.
    public var liveSegments: [LiveSegment] {
        segments.map { LiveSegment(name: $0.name, bytes: $0.size, indexPending: sealedIndexPending.contains($0.name)) }
    }

    /// The archive directory (`ledger.archive_dir`), if any.
    public var archiveDirectory: String? { config.archiveDir }

    /// Runs `request` on the maintenance thread; `then` gets the answer on
    /// the loop thread.
    public func housekeeping(_ request: HousekeepingRequest, then: @escaping (HousekeepingAnswer) -> Void) {
        guard let maintenance else {
            then(.refused(HousekeepingRefusal.notOpen))
            return
        }
        let id = nextHousekeepingID
        nextHousekeepingID &+= 1
        housekeepingReplies[id] = then
        maintenance.submit(.housekeeping(id, request))
    }
}
