import VimanaCore

/// Keyspace notifications (`notify-keyspace-events`), as Redis 7.0's
/// notify.c: an event on a topic is published on `__keyspace@0__:<topic>`
/// with the event's name as the message (`K`) and on `__keyevent@0__:<event>`
/// with the topic as the message (`E`), to SUBSCRIBE and PSUBSCRIBE
/// subscribers alike, RESP3 ones as pushes. A pure delivery, as SPUBLISH's:
/// never recorded in the ledger, whatever `ledger.record` says, since a
/// notification is about a topic, not a message of one.
extension Kernel {
    /// Publishes the keyspace event `event` of class `type` (`.stream` for
    /// XADD and the XGROUP family, `.generic` for DEL) on `key`, when
    /// `notify-keyspace-events` asks for it. Call it after the change, once
    /// per change, as Redis does. Costs one branch while notifications are off.
    @inline(__always)
    func notifyKeyspaceEvent(_ type: KeyspaceEvents, _ event: StaticString, key: UnsafeRawBufferPointer) {
        guard s.pointee.notifyMask & type.rawValue != 0 else { return }
        publishKeyspaceEvent(event, key: key)
    }

    /// `notifyKeyspaceEvent` for a key held as bytes.
    @inline(__always)
    func notifyKeyspaceEvent(_ type: KeyspaceEvents, _ event: StaticString, key: [UInt8]) {
        guard s.pointee.notifyMask & type.rawValue != 0 else { return }
        key.withUnsafeBytes { publishKeyspaceEvent(event, key: $0) }
    }

    /// The two publications, keyspace first (Redis's order); the publisher
    /// subscribers with CLIENT PUBLISHER ON see is the kernel (an empty name).
    private func publishKeyspaceEvent(_ event: StaticString, key: UnsafeRawBufferPointer) {
        let events = s.pointee.settings.keyspaceEvents
        let publisher = MessagePublisher(named: UnsafeRawBufferPointer(start: nil, count: 0))
        let eventBytes = UnsafeBufferPointer(start: event.utf8Start, count: event.utf8CodeUnitCount)
        let keyBytes = UnsafeBufferPointer(start: key.baseAddress?.assumingMemoryBound(to: UInt8.self), count: key.count)
        if events.contains(.keyspace) {
            let channel = Array("__keyspace@0__:".utf8) + keyBytes
            channel.withUnsafeBufferPointer { c in
                guard let base = c.baseAddress, let message = eventBytes.baseAddress else { return }
                _ = publish(base, c.count, message, eventBytes.count, from: publisher)
            }
        }
        if events.contains(.keyevent) {
            let channel = Array("__keyevent@0__:".utf8) + eventBytes
            let message = Array(keyBytes)
            channel.withUnsafeBufferPointer { c in
                message.withUnsafeBufferPointer { m in
                    var none: UInt8 = 0
                    withUnsafePointer(to: &none) { empty in
                        guard let base = c.baseAddress else { return }
                        _ = publish(base, c.count, m.baseAddress ?? empty, m.count, from: publisher)
                    }
                }
            }
        }
    }
}
