import VimanaCore
import VimanaConfig

/// Appending records: the hot path of a recorded PUBLISH or an XADD.
extension Ledger {
    /// Starts an entry on `topic` with the given ID request; returns its
    /// sequence and ID, or Redis's error for an unacceptable explicit ID.
    /// Fields follow with `appendField`, then `finishRecord`.
    @inline(__always)
    public func beginRecord(topic: UnsafeRawBufferPointer, request: IDRequest, nowMillis: UInt64, nowMicros: Int64,
                            clientID: Int, clientName: UnsafeRawBufferPointer)
        -> Result<(sequence: UInt64, id: StreamID, mark: RecordCodec.Mark), StreamIDError> {
        let base = topic.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        let s = streamIndex(base, topic.count)
        let id: StreamID
        switch streams[s].nextID(request, nowMillis: nowMillis) {
        case .success(let next): id = next
        case .failure(let error): return .failure(error)
        }
        streams[s].lastID = id
        streams[s].length &+= 1
        streams[s].entriesAdded &+= 1
        if streams[s].first == nil { streams[s].first = id }
        let sequence = nextSequence
        nextSequence &+= 1
        streams[s].lastSequence = sequence
        if current == nil { current = Batch(firstSequence: sequence) }
        let batch = current!
        batch.offsets.append(batch.bytes.writeIndex)
        batch.count &+= 1
        let mark = RecordCodec.begin(&batch.bytes, sequence: sequence, id: id, timestampMicros: nowMicros,
                                     clientID: UInt64(clientID), topic: topic, clientName: clientName)
        return .success((sequence, id, mark))
    }

    @inline(__always)
    public func appendField(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let batch = current else { return }
        RecordCodec.appendField(&batch.bytes, name: name, value: value)
    }

    @inline(__always)
    public func finishRecord(_ mark: RecordCodec.Mark, fieldCount: Int) {
        guard let batch = current else { return }
        RecordCodec.end(&batch.bytes, mark, fieldCount: fieldCount)
    }

    /// A PUBLISH on a recorded topic: one field, `payload`, auto ID.
    @inline(__always)
    public func recordPublish(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, nowMillis: UInt64,
                              nowMicros: Int64, clientID: Int, clientName: UnsafeRawBufferPointer) {
        guard case .success(let r) = beginRecord(topic: topic, request: .auto, nowMillis: nowMillis, nowMicros: nowMicros,
                                                  clientID: clientID, clientName: clientName) else { return }
        let name: StaticString = "payload"
        appendField(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: payload)
        finishRecord(r.mark, fieldCount: 1)
    }

    /// Hands the records of this loop pass to the writer (one group commit).
    /// `urgent`: a reply waits for them to be confirmed. Under `everysec`
    /// and `no` a small urgent commit is written on this thread when the
    /// writer is free (its events are applied before this returns), as
    /// Redis writes its AOF before replying; otherwise the writer thread
    /// writes it without pausing to gather more.
    public func commit(urgent: Bool = false) {
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
            let (events, wakeWriter) = writer.writeInline()
            if wakeWriter { writer.wake() }
            // Earlier events first: everything the writer thread did before.
            drainWriterEvents()
            for event in events { handle(event) }
        }
    }

    /// Whether records are waiting for the next `commit`.
    public var hasUncommitted: Bool { (current?.count ?? 0) > 0 }
}
