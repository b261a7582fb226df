import VimanaCore
import VimanaConfig

/// Who appended an entry: a client's ID and name (as CLIENT SETNAME set it)
/// and the user its connection is authenticated as (the publisher), or the
/// kernel itself (ID 0, no name; the publisher is the one the kernel acts
/// for: none for the group journal, the task's for a dead letter, the
/// agent's for a built-in's result); and where the entry was first
/// published: here (no origin), or another kernel of a federation.
public struct RecordClient {
    public var id: Int
    public var name: UnsafeRawBufferPointer
    /// The publisher (LEDGER.md §3): given by the kernel, never by a client.
    public var user: UnsafeRawBufferPointer
    /// The node id of the kernel the entry was first published on, when it
    /// came from the cluster (LEDGER.md §3, Protocol/FEDERATION.md §4);
    /// empty for an entry published on this kernel.
    public var origin: UnsafeRawBufferPointer
    /// The entry's sequence in its origin's ledger (0 with no origin).
    public var originSequence: UInt64

    @inlinable
    public init(id: Int, name: UnsafeRawBufferPointer, user: UnsafeRawBufferPointer,
                origin: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), originSequence: UInt64 = 0) {
        self.id = id
        self.name = name
        self.user = user
        self.origin = origin
        self.originSequence = originSequence
    }

    /// The kernel writing on behalf of `user` (empty: of no one, the journal).
    @inlinable
    public static func kernel(user: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> RecordClient {
        RecordClient(id: 0, name: UnsafeRawBufferPointer(start: nil, count: 0), user: user)
    }

    /// An entry another kernel published, received through the cluster
    /// (Protocol/FEDERATION.md §4): its origin's node id and the entry's
    /// sequence in that kernel's ledger, and `user`, the publisher that
    /// kernel recorded. No client of this kernel sent it: client id 0, no
    /// name. The caller checks the origin (a node id, FEDERATION.md) and
    /// that the sequence is at least 1; the ledger writes them as given.
    @inlinable
    public static func federated(origin: UnsafeRawBufferPointer, originSequence: UInt64,
                                 user: UnsafeRawBufferPointer) -> RecordClient {
        RecordClient(id: 0, name: UnsafeRawBufferPointer(start: nil, count: 0), user: user,
                     origin: origin, originSequence: originSequence)
    }
}

/// Writes an entry's fields, in order, straight into the batch being
/// filled: `Ledger.append` hands one to its `fields` closure, which calls
/// `add` once per field with bytes from wherever they already are (the
/// request buffer), so nothing is copied on the way.
public struct RecordFields {
    @usableFromInline let bytes: UnsafeMutablePointer<ByteBuffer>
    @usableFromInline var added = 0
    /// Fields added so far (the record's field count).
    public var count: Int { added }

    @usableFromInline
    init(_ bytes: UnsafeMutablePointer<ByteBuffer>) { self.bytes = bytes }

    @inlinable @inline(__always)
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        RecordCodec.appendField(&bytes.pointee, name: name, value: value)
        added &+= 1
    }

    @inlinable @inline(__always)
    public mutating func add(name: StaticString, value: UnsafeRawBufferPointer) {
        add(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value)
    }
}

/// Appending records: the hot path of a recorded PUBLISH or an XADD.
extension Ledger {
    /// Appends an entry on `topic` with the ID `request` asks for, written
    /// by `client` at `nowMicros` (`nowMillis` is the clock of `*` IDs);
    /// `fields` writes its fields. Returns the entry's sequence and ID, or
    /// Redis's error for an unacceptable explicit ID (then nothing is
    /// appended and `fields` is not called). The record is committed with
    /// the loop pass's other records (`commit`). `fields` must not call into
    /// the ledger: the batch it writes into is held for the whole call.
    @inline(__always)
    public func append(topic: UnsafeRawBufferPointer, id request: IDRequest, client: RecordClient,
                       nowMillis: UInt64, nowMicros: Int64,
                       fields: (inout RecordFields) -> Void) -> Result<(sequence: UInt64, id: StreamID), StreamIDError> {
        let base = topic.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        let s = streamIndex(base, topic.count)
        let id: StreamID
        switch streams[s].nextID(request, nowMillis: nowMillis) {
        case .success(let next): id = next
        case .failure(let error): return .failure(error)
        }
        streams[s].lastID = id
        streams[s].length &+= 1
        if streams[s].entriesAdded == 0 && !streams[s].made { comesIntoBeing(s) }
        streams[s].entriesAdded &+= 1
        if streams[s].first == nil { streams[s].first = id }
        let sequence = nextSequence
        nextSequence &+= 1
        noteEntry(s, sequence)
        let batch: Batch
        if let current { batch = current } else {
            batch = Batch(firstSequence: sequence)
            current = batch
        }
        batch.offsets.append(batch.bytes.writeIndex)
        batch.count &+= 1
        withUnsafeMutablePointer(to: &batch.bytes) { bytes in
            let mark = RecordCodec.begin(&bytes.pointee, sequence: sequence, id: id, timestampMicros: nowMicros,
                                         clientID: UInt64(client.id), topic: topic, clientName: client.name,
                                         publisher: client.user, origin: client.origin,
                                         originSequence: client.originSequence)
            var writer = RecordFields(bytes)
            fields(&writer)
            RecordCodec.end(&bytes.pointee, mark, fieldCount: writer.count)
        }
        return .success((sequence, id))
    }

    /// A PUBLISH on a recorded topic: one field, `payload`, auto ID.
    @inline(__always)
    public func recordPublish(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, client: RecordClient,
                              nowMillis: UInt64, nowMicros: Int64) {
        _ = append(topic: topic, id: .auto, client: client, nowMillis: nowMillis, nowMicros: nowMicros) {
            $0.add(name: "payload", value: payload)
        }
    }

    /// Hands the records of this loop pass to the writer (one group commit).
    /// `urgent`: a reply waits for them to be confirmed. Under `everysec`
    /// and `no` a small urgent commit is written on this thread when the
    /// writer is free (its events are applied before this returns), as
    /// Redis writes its AOF before replying; otherwise the writer thread
    /// writes it without pausing to gather more.
    public func commit(urgent: Bool = false) {
        if removalsSnapshotDue { writeRemovalsSnapshotIfDue() }
        guard let batch = current, batch.count > 0 else { return }
        current = nil
        pendingBytes += batch.byteCount
        pendingBatches += 1
        tail.append(batch)
        tailBytes += batch.footprint
        guard let writer else { return }
        let inline = urgent && config.fsync != .always && pendingBytes <= LedgerLimits.inlineWriteMaxBytes
        writer.submit(batch, urgent: urgent, wake: !inline)
        if inline {
            if writer.writeInline() { writer.wake() }
            // Its events, with the writer thread's, in the order they happened.
            drainWriterEvents()
        }
    }

    /// Whether records are waiting for the next `commit`.
    public var hasUncommitted: Bool { (current?.count ?? 0) > 0 }
}
