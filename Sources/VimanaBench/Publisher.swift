#if canImport(Glibc)
import Glibc
#endif
import VimanaClient
import VimanaCore

/// What one publisher connection measured.
public struct PublisherStats: Sendable {
    /// PUBLISH commands acknowledged with an integer reply.
    public var acknowledged = 0
    /// PUBLISH commands answered with an error reply.
    public var errors = 0
    /// Monotonic nanoseconds when the last reply arrived.
    public var endNanos: Int64 = 0
    /// Why the publisher stopped early, if it did.
    public var failure: String?
}

/// One publisher thread: up to `pipeline` pre-encoded PUBLISH commands in
/// flight, written in batches with one `send` each, replies counted by
/// scanning for line ends.
///
/// The hot loop allocates nothing and decodes nothing: a PUBLISH reply is a
/// single line (`:N` or `-ERR …`), so counting `\n`s counts replies.
enum Publisher {
    /// Reply bytes read per `recv`.
    static let readCapacity = 64 << 10

    static func run(setup: WorkerSetup, messages: Int, payloadSize: Int, pipeline: Int,
                    control: BenchControl) -> PublisherStats {
        var stats = PublisherStats()
        let connection: RESPConnection
        do {
            connection = try setup.connect()
        } catch {
            stats.failure = error.description
            control.setupFailures.add(1, ordering: .releasing)
            return stats
        }
        defer { connection.close() }
        control.publishersReady.add(1, ordering: .releasing)
        guard control.waitForStart() else { return stats }
        TCPSocket.setReceiveTimeout(connection.fd, seconds: 0.2)

        // One batch of `pipeline` identical commands; each payload's first
        // 8 bytes are overwritten with the send time just before the write.
        var command = Array("*3\r\n$7\r\nPUBLISH\r\n$\(setup.topic.count)\r\n".utf8) + setup.topic
        command += Array("\r\n$\(payloadSize)\r\n".utf8)
        let stampOffset = command.count
        command += [UInt8](repeating: 120, count: payloadSize) + [13, 10]  // 'x'…
        let commandLength = command.count
        let batch = UnsafeMutableRawPointer.allocate(byteCount: commandLength * pipeline, alignment: 8)
        defer { batch.deallocate() }
        command.withUnsafeBytes { c in
            guard let source = c.baseAddress else { return }
            for i in 0..<pipeline { (batch + i * commandLength).copyMemory(from: source, byteCount: c.count) }
        }
        let replies = UnsafeMutablePointer<UInt8>.allocate(capacity: readCapacity)
        defer { replies.deallocate() }

        let fd = connection.fd
        let stamped = payloadSize >= 8
        var unsent = messages
        var inFlight = 0
        // Refill once half the window is acknowledged: the server always has
        // commands queued while this thread counts replies, and writes stay
        // batched (pipeline 1 degenerates to strict request/response).
        let refillAt = pipeline / 2
        var buffered = 0  // bytes of an incomplete reply line kept at the front of `replies`
        sending: while unsent > 0 || inFlight > 0 {
            if unsent > 0 && inFlight <= refillAt {
                let count = min(pipeline - inFlight, unsent)
                if stamped {
                    let now = Clock.monotonicNanos()
                    var i = 0
                    while i < count {
                        batch.storeBytes(of: now.littleEndian, toByteOffset: i &* commandLength &+ stampOffset, as: Int64.self)
                        i &+= 1
                    }
                }
                let e = TCPSocket.writeAll(fd, batch, count &* commandLength)
                if e != 0 {
                    stats.failure = ClientError.io(operation: "write", errno: e).description
                    break
                }
                inFlight &+= count
                unsent &-= count
            }
            let n = TCPSocket.read(fd, replies + buffered, readCapacity - buffered)
            if n <= 0 {
                if n == -Int(EAGAIN) {
                    if control.abort.load(ordering: .relaxed) { stats.failure = "aborted"; break }
                    continue
                }
                stats.failure = n == 0 ? "connection closed by server"
                    : ClientError.io(operation: "read", errno: Int32(-n)).description
                break
            }
            let end = buffered &+ n
            var lineStart = 0
            while let nl = memchr(replies + lineStart, 10, end &- lineStart) {
                let lineEnd = replies.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                let marker = replies[lineStart]
                if marker == 58 {  // ':'
                    stats.acknowledged &+= 1
                } else if marker == 45 {  // '-'
                    stats.errors &+= 1
                } else {
                    let shown = UnsafeBufferPointer(start: replies + lineStart, count: min(lineEnd - lineStart, 60))
                    stats.failure = "unexpected reply to PUBLISH: " + String(decoding: shown, as: UTF8.self)
                    break sending
                }
                inFlight &-= 1
                lineStart = lineEnd &+ 1
            }
            buffered = end &- lineStart
            if buffered == readCapacity { stats.failure = "reply line too long"; break }
            if buffered > 0 && lineStart > 0 { memmove(replies, replies + lineStart, buffered) }
        }
        stats.endNanos = Clock.monotonicNanos()
        return stats
    }
}
