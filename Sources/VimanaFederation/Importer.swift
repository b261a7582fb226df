import Dispatch
import Synchronization
import VimanaCore
import VimanaConfig
import VimanaLedger
import VimanaRESP
import VimanaCluster

/// Entries of other kernels for one topic, handed to the loop to append.
public struct ImportBatch: Sendable {
    public var topic: [UInt8]
    public var entries: [FederatedEntry]
}

/// What the loop did with a batch.
public enum ImportOutcome: Sendable {
    /// Appended; the ledger sequence of the last entry, and each entry's local ID.
    case appended(lastSequence: UInt64, ids: [StreamID])
    /// This kernel does not record the topic (`ledger.record`/`exclude`): not federated here.
    case notRecorded
    /// The ledger refused (it cannot be written): try again later.
    case refused(String)
}

/// The reader (in): reads every federated topic in the cluster and hands
/// what other kernels published to the loop, which appends it to the local
/// ledger with its origin (Protocol/FEDERATION.md §4).
///
/// Promises: per topic, entries are handed in the cluster's order; an entry
/// of this kernel's own origin, or one whose (origin, sequence) this ledger
/// holds already, is never handed; the cursor file is written only once the
/// records it counts are confirmed in the ledger.
final class Importer: @unchecked Sendable {
    private let shared: FederationShared
    /// Where the entries appended here are (for the task claimer).
    private let index: ImportIndex
    /// Told of topics with news: a doorbell, or entries appended here.
    private let poke: @Sendable ([UInt8]) -> Void
    /// Hands a batch to the loop; calls back (on the loop thread) with what it did.
    private let deliver: @Sendable (ImportBatch, @escaping @Sendable (ImportOutcome) -> Void) -> Void

    let thread = FederationThread()
    private let confirmedSequence = Atomic<UInt64>(0)

    // The thread's own state.
    private var state = ImportState()
    /// A state to write once the ledger confirms `lastLocal`.
    private var unwritten: (state: ImportState, lastLocal: UInt64)?
    private var topics: [[UInt8]] = []
    private var skippedTopics: Set<[UInt8]> = []
    private var dirty: Set<[UInt8]> = []
    private var lastPollNanos: Int64 = 0
    private var lastWriteNanos: Int64 = 0
    private var client: ClusterClient?
    private var subscriber: ClusterSubscriber?

    init(_ shared: FederationShared, index: ImportIndex, poke: @escaping @Sendable ([UInt8]) -> Void,
         deliver: @escaping @Sendable (ImportBatch, @escaping @Sendable (ImportOutcome) -> Void) -> Void) {
        self.shared = shared
        self.index = index
        self.poke = poke
        self.deliver = deliver
    }

    func confirmed(_ sequence: UInt64) {
        guard sequence > confirmedSequence.load(ordering: .relaxed) else { return }
        confirmedSequence.store(sequence, ordering: .releasing)
    }

    func start() -> Int32? { thread.start(name: "vimana-import") { [self] in run() } }


    // MARK: - The thread

    private func run() {
        recover()
        // Entries of "our" origin are another kernel's while the node id is not ours.
        while !thread.isStopping && !shared.claim.isConfirmed { pause() }
        client = ClusterClient(shared.clusterSettings)
        while !thread.isStopping {
            writeIfConfirmed(force: false)
            let now = Clock.monotonicNanos()
            if now - lastPollNanos >= Int64(FederationLimits.idleMillis) * 1_000_000 {
                lastPollNanos = now
                if refreshTopics() { dirty.formUnion(topics) }
            }
            if dirty.isEmpty {
                waitForDoorbell(seconds: Double(FederationLimits.idleMillis) / 1000)
                continue
            }
            for topic in topics where dirty.contains(topic) {
                if thread.isStopping { break }
                let more = read(topic)
                if more != true { dirty.remove(topic) }
                if more == nil { pause(); break }
            }
            takeDoorbells()
        }
        writeIfConfirmed(force: true)
        subscriber?.close()
        client?.close()
    }

    /// The state to start from: the cursor file, then every record with an
    /// origin the ledger holds after it (appended before the file was written).
    private func recover() {
        if let saved = shared.files.readImport() { state = saved }
        guard let reader = try? OfflineReader(directory: shared.ledgerDirectory), (try? reader.refresh()) != nil else { return }
        reader.seek(to: state.asOf)
        var next = state.asOf
        while !thread.isStopping {
            let stop = reader.read { records in
                for r in records where r.sequence >= state.asOf && !r.origin.isEmpty {
                    state.hold(topic: r.topic, origin: r.origin, sequence: r.originSequence)
                    index.found(topic: r.topic, origin: r.origin, sequence: r.originSequence, id: r.id)
                }
                if let last = records.last { next = max(next, last.sequence &+ 1) }
            }
            if case .problem = stop, reader.skipDamage() { continue }
            break
        }
        state.asOf = next
        for (topic, cursor) in state.topics {
            for (origin, high) in cursor.high { index.held(topic: topic, origin: origin, upTo: high) }
        }
        shared.status.update { $0.importTopics = state.topics.count }
    }

    /// Lists the cluster's federated topics; true when the call succeeded.
    private func refreshTopics() -> Bool {
        guard let client else { return false }
        do throws(ClusterError) {
            let (reply, _) = try client.call(key: shared.keys.topics, [Array("SMEMBERS".utf8), shared.keys.topics], within: FederationLimits.callSeconds)
            guard let members = reply.bulkStrings else { throw ClusterError.protocolError("SMEMBERS: unexpected reply") }
            topics = members.filter { shared.federated.contains($0) && !skippedTopics.contains($0) }
                .sorted { $0.lexicographicallyPrecedes($1) }
            shared.status.update { $0.importTopics = topics.count }
            shared.status.succeeded()
            return true
        } catch {
            shared.status.failed("import", error)
            return false
        }
    }

    /// Reads the next entries of `topic` and has the loop append the
    /// others'; true when there may be more, false when it read them all,
    /// nil on a cluster or ledger error.
    private func read(_ topic: [UInt8]) -> Bool? {
        guard let client else { return nil }
        var cursor = state.topics[topic] ?? TopicCursor()
        let reply: RESPValue
        do throws(ClusterError) {
            (reply, _) = try client.call(key: shared.keys.stream(topic),
                                         [Array("XREAD".utf8), Array("COUNT".utf8), .decimal(UInt64(shared.config.batchEntries)),
                                          Array("STREAMS".utf8), shared.keys.stream(topic), cursor.lastID],
                                         within: FederationLimits.callSeconds)
        } catch {
            shared.status.failed("import", error)
            return nil
        }
        if case .error(let message) = reply {
            shared.status.failed("import", ClusterError.protocolError("XREAD: \(message)"))
            return nil
        }
        shared.status.succeeded()
        let entries = Self.streamEntries(reply)
        guard !entries.isEmpty else { return false }
        var batch = ImportBatch(topic: topic, entries: [])
        var malformed = 0
        for (id, flat) in entries {
            cursor.lastID = id
            guard let entry = FederatedEntry.decode(flat) else { malformed += 1; continue }
            if entry.origin == shared.node || entry.sequence <= cursor.high[entry.origin, default: 0] { continue }
            cursor.high[entry.origin] = entry.sequence
            batch.entries.append(entry)
        }
        if malformed > 0 {
            shared.status.update { $0.malformedEntries &+= UInt64(malformed) }
            shared.log.warn("federation: cluster entries not in the federation's form passed over",
                     ["topic": .string(String(decoding: topic, as: UTF8.self)), "count": .int(malformed)])
        }
        if !batch.entries.isEmpty {
            switch handOver(batch) {
            case .appended(let last, let ids)?:
                index.appended(topic: topic, entries: batch.entries, ids: ids)
                poke(topic)
                shared.status.update { $0.importedEntries &+= UInt64(batch.entries.count) }
                state.topics[topic] = cursor
                unwritten = (state, last)
            case .notRecorded?:
                shared.log.warn("federation: topic not recorded here, so not shared.federated here",
                         ["topic": .string(String(decoding: topic, as: UTF8.self))])
                skippedTopics.insert(topic)
                topics.removeAll { $0 == topic }
                return false
            case .refused(let reason)?:
                shared.status.failed("import", ClusterError.protocolError("ledger: \(reason)"))
                return nil
            case nil:
                return nil
            }
        } else {
            state.topics[topic] = cursor
            if unwritten == nil { unwritten = (state, 0) } else { unwritten?.state = state }
        }
        return entries.count >= shared.config.batchEntries
    }

    /// Hands `batch` to the loop and waits for its answer (nil when stopping).
    private func handOver(_ batch: ImportBatch) -> ImportOutcome? {
        thread.handOver(batch, deliver)
    }

    /// Writes the state once the records it counts are confirmed, at most
    /// every `FederationLimits.cursorWriteMillis` unless `force`d (a stop).
    private func writeIfConfirmed(force: Bool) {
        guard var pending = unwritten, confirmedSequence.load(ordering: .acquiring) > pending.lastLocal else { return }
        let now = Clock.monotonicNanos()
        guard force || now - lastWriteNanos >= Int64(FederationLimits.cursorWriteMillis) * 1_000_000 else { return }
        lastWriteNanos = now
        if pending.lastLocal > 0 { pending.state.asOf = max(pending.state.asOf, pending.lastLocal &+ 1) }
        do {
            try shared.files.prepare()
            try shared.files.writeImport(pending.state)
            state.asOf = pending.state.asOf
            unwritten = nil
        } catch {
            shared.log.error("federation reader cannot write its cursor", ["error": .string("\(error)")])
            shared.status.failed("cursor file", error)
        }
    }

    // MARK: - Doorbells

    private func waitForDoorbell(seconds: Double) {
        do throws(ClusterError) {
            if subscriber == nil { subscriber = try ClusterSubscriber(shared.clusterSettings, channel: shared.keys.doorbell) }
            if let topic = try subscriber?.next(timeout: seconds) { ring(topic) }
        } catch {
            subscriber?.close()
            subscriber = nil
            pause()
        }
    }

    /// Takes the doorbells that arrived while reading, for at most
    /// `FederationLimits.doorbellDrainMillis`: each read waits a little for
    /// the next one, and doorbells a millisecond apart (a kernel mirroring
    /// 1,000 one-entry batches a second) kept the reader here for as long as
    /// they came, reading nothing. A dirty topic's read covers every
    /// doorbell of it, so what is left is taken after that read.
    private func takeDoorbells() {
        guard let subscriber else { return }
        let deadline = Clock.monotonicNanos() &+ Int64(FederationLimits.doorbellDrainMillis) * 1_000_000
        do throws(ClusterError) {
            while Clock.monotonicNanos() < deadline, let topic = try subscriber.next(timeout: 0) { ring(topic) }
        } catch {
            subscriber.close()
            self.subscriber = nil
        }
    }

    /// A doorbell is `<node> <topic>` (Protocol/FEDERATION.md §1). This
    /// kernel's own are passed over: its entries in the cluster are only
    /// read to be skipped, which the next poll does in one batch instead of
    /// an XREAD per append. A message without a node id is taken as a topic.
    private func ring(_ message: [UInt8]) {
        var topic = message
        if let space = message.firstIndex(of: UInt8(ascii: " ")), FederatedEntry.isNodeID(Array(message[..<space])) {
            topic = Array(message[(space + 1)...])
            // Our own entries may be tasks for agents here: the claimer looks.
            if message[..<space].elementsEqual(shared.node) {
                if shared.federated.contains(topic) { poke(topic) }
                return
            }
        }
        guard shared.federated.contains(topic), !skippedTopics.contains(topic) else { return }
        poke(topic)
        if !topics.contains(topic) {
            topics.append(topic)
            shared.status.update { $0.importTopics = topics.count }
        }
        dirty.insert(topic)
    }

    private func pause() {
        _ = thread.wakeup.wait(timeout: .now() + .milliseconds(FederationLimits.retryMillis))
    }

    // MARK: - Replies

    /// The (ID, flat fields) of an XREAD reply for one stream, in order; empty for a null or anything else.
    static func streamEntries(_ reply: RESPValue) -> [([UInt8], [[UInt8]])] {
        Claimer.historyEntries(reply).compactMap { id, fields in fields.map { (id, $0) } }
    }
}

extension RESPValue {
    /// A bulk string's text (for messages).
    var bulkText: String? {
        if case .bulkString(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// The elements of an array or set of bulk strings; nil for anything else.
    var bulkStrings: [[UInt8]]? {
        let items: [RESPValue]
        switch self {
        case .array(let a), .set(let a): items = a
        default: return nil
        }
        var out: [[UInt8]] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .bulkString(let b) = item else { return nil }
            out.append(b)
        }
        return out
    }
}
