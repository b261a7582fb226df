import VimanaCore
import VimanaRESP
import VimanaLedger
import VimanaAgents

/// What the agents (VimanaAgents.Agents) may ask of the kernel: the pass's
/// clock, a task pushed to an instance's connection, an entry appended and
/// delivered, work run on the loop thread.
extension Kernel: AgentHost {
    public var passMillis: Int64 { s.pointee.nowMillis }

    /// A `task` push frame on an instance's connection (Protocol/AGENTS.md
    /// §3): its publisher comes last, after the five elements agents
    /// written before it read.
    public func pushTask(fd: Int32, topic: [UInt8], record: LedgerRecord, deliveries: Int) {
        guard let c = s.pointee.client(fd) else { return }
        let payload = EntryPayload.bytes(record.fields)
        let resp3 = c.pointee.flags.contains(.resp3)
        c.pointee.output.tail.writePushHeader(6, resp3: resp3)
        c.pointee.output.tail.writeBulk("task")
        c.pointee.output.tail.writeBulk(bytes: topic)
        c.pointee.output.tail.writeBulk(id: record.id)
        c.pointee.output.tail.writeInteger(deliveries)
        c.pointee.output.tail.writeBulk(bytes: payload)
        c.pointee.output.tail.writeBulk(bytes: record.publisher)
        markPending(c)
    }

    /// Another loop pass at once (other clients' events first).
    public func passAgain() { loop.waker.wake() }

    public func taskPayload(_ fields: [LedgerRecord.Field]) -> [UInt8] { EntryPayload.bytes(fields) }

    /// Appends an entry as the kernel on behalf of `publisher` (dead
    /// letters, built-in results when published as entries) and delivers it
    /// like an XADD.
    public func appendEntry(topic: [UInt8], fields: [([UInt8], [UInt8])], alwaysRecorded: Bool, publisher: [UInt8]) {
        topic.withUnsafeBytes { t in
            guard let base = t.baseAddress else { return }
            if let ledger, alwaysRecorded || ledger.records(base, t.count) {
                publisher.withUnsafeBytes { user in
                    _ = ledger.append(topic: t, id: .auto, client: .kernel(user: user), nowMillis: UInt64(s.pointee.nowMillis),
                                      nowMicros: Clock.wallMicros()) { entry in
                        for (n, v) in fields {
                            n.withUnsafeBytes { nb in v.withUnsafeBytes { vb in entry.add(name: nb, value: vb) } }
                        }
                    }
                }
            }
            let channel = base.assumingMemoryBound(to: UInt8.self)
            // Encoded only for someone to receive it (a backlog of dead letters
            // spent a fifth of its time on JSON nobody read); counted either way.
            let listened = s.pointee.channels.subscribers(channel, t.count) != nil || s.pointee.patterns.count > 0
            let payload = listened ? EntryPayload.bytes(fields.map { LedgerRecord.Field(name: $0.0, value: $0.1) }) : []
            payload.withUnsafeBufferPointer { p in
                publisher.withUnsafeBytes { user in
                    _ = publish(base.assumingMemoryBound(to: UInt8.self), t.count, p.baseAddress ?? base.assumingMemoryBound(to: UInt8.self),
                                p.count, from: MessagePublisher(named: user))
                }
            }
            wakeReaders(t)
            agents.notice(t)
            if !s.pointee.watches.isEmpty { touchWatched(t) }
        }
    }
}
