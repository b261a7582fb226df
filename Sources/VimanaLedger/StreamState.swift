/// What the ledger knows of one topic as a Redis stream: XLEN, XINFO STREAM
/// and ID generation read it; every append updates it.
///
/// Plain values only (no arrays): it is read and written on every append,
/// and copying it must not touch reference counts.
public struct StreamState: Sendable, Equatable {
    /// Entries currently kept (retention lowers it).
    public var length: UInt64 = 0
    /// ID of the oldest entry kept, if any.
    public var first: StreamID?
    /// Highest ID ever generated or given (XADD's floor).
    public var lastID = StreamID.zero
    /// Entries ever appended (`entries-added`).
    public var entriesAdded: UInt64 = 0
    /// Highest ID removed by retention (`max-deleted-entry-id`).
    public var maxDeleted = StreamID.zero
    /// Made empty by XGROUP CREATE … MKSTREAM (`Ledger.makeStream`): a
    /// stream even before its first entry. Not in the ledger's files: the
    /// kernel makes it again on start for every topic a group is on.
    public var made = false
    /// Ledger sequence of the entry with `lastID` when it was appended since
    /// the ledger opened, else 0: a reader waiting after `lastID` starts
    /// there (`Ledger.entries(afterSequence:)`) instead of at the tail's start.
    public var lastSequence: UInt64 = 0
    /// Sequence of the first entry of the topic's current run (TopicRuns.swift):
    /// its entries since then are all within `runFirst...lastSequence`.
    var runFirst: UInt64 = 0

    public init() {}

    /// A stream as Redis would have it, a key (EXISTS, TYPE, KEYS, XINFO
    /// STREAM): one that has had entries, or was made by MKSTREAM. A stream
    /// emptied by retention stays one, as a Redis stream emptied by XDEL.
    public var exists: Bool { entriesAdded > 0 || made }
}

/// Why an explicit XADD ID is refused (Redis's texts).
public enum StreamIDError: Error, Equatable, Sendable {
    case notGreaterThanZero
    case notGreaterThanTop
    case exhausted

    public var message: String {
        switch self {
        case .notGreaterThanZero: "ERR The ID specified in XADD must be greater than 0-0"
        case .notGreaterThanTop: "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        case .exhausted: "ERR The stream has exhausted the last possible ID, unable to add more items"
        }
    }
}

/// How XADD asked for an ID.
public enum IDRequest: Sendable, Equatable {
    /// `*`: time-based.
    case auto
    /// `ms-*`: given milliseconds, next sequence.
    case partial(ms: UInt64)
    /// `ms-seq`.
    case explicit(StreamID)
}

extension StreamState {
    /// The ID the next entry gets, as Redis 7 computes it.
    public func nextID(_ request: IDRequest, nowMillis: UInt64) -> Result<StreamID, StreamIDError> {
        // Redis checks this first, whatever the request.
        if lastID == .max { return .failure(.exhausted) }
        switch request {
        case .auto:
            if nowMillis > lastID.ms { return .success(StreamID(ms: nowMillis, seq: 0)) }
            guard let next = lastID.successor else { return .failure(.exhausted) }
            return .success(next)
        case .partial(let ms):
            if ms == lastID.ms {
                guard lastID.seq < .max else { return .failure(.notGreaterThanTop) }
                return .success(StreamID(ms: ms, seq: lastID.seq + 1))
            }
            if ms < lastID.ms { return .failure(.notGreaterThanTop) }
            return .success(StreamID(ms: ms, seq: ms == 0 ? 1 : 0))
        case .explicit(let id):
            if id == .zero { return .failure(.notGreaterThanZero) }
            if id <= lastID { return .failure(.notGreaterThanTop) }
            return .success(id)
        }
    }
}
