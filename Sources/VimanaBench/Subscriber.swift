#if canImport(Glibc)
import Glibc
#endif
import VimanaClient
import VimanaCore
import VimanaRESP

/// What one subscriber connection measured.
public struct SubscriberStats: Sendable {
    public var received = 0
    /// Monotonic nanoseconds when the last message arrived (0: none did).
    public var lastNanos: Int64 = 0
    /// Sampled delivery latencies in nanoseconds (every `BenchOptions.sampleEvery`-th message).
    public var latencies: [Int64] = []
    /// The server closed the connection before every message arrived
    /// (a slow subscriber cut off at its output-buffer limit).
    public var disconnected = false
    /// Why the subscriber stopped early, if it did.
    public var failure: String?
}

/// One subscriber thread: SUBSCRIBE, then scan message frames in place.
///
/// The hot loop parses `*3\r\n$7\r\nmessage\r\n$L\r\nTOPIC\r\n$L\r\nPAYLOAD\r\n`
/// (`>3` in RESP3) directly in the read buffer: no values built, no
/// allocation, one clock read per sampled message.
enum Subscriber {
    /// Free bytes asked for before each `recv`.
    static let readChunk = 256 << 10
    /// Poll interval for the stop conditions while no data arrives.
    static let receiveTimeout = 0.1

    static func run(setup: WorkerSetup, expected: Int, drainIdleSeconds: Double,
                    control: BenchControl) -> SubscriberStats {
        var stats = SubscriberStats()
        let connection: RESPConnection
        let leftover: [UInt8]
        do {
            connection = try setup.connect()
            try connection.send([Array("SUBSCRIBE".utf8), setup.topic])
            let reply = try connection.readValue()
            guard reply.elements?.first?.bytes == Array("subscribe".utf8) else {
                throw ClientError.unexpectedReply(reply.description)
            }
            leftover = connection.takeBuffered()
        } catch {
            stats.failure = "subscriber setup: \(error)"
            control.setupFailures.add(1, ordering: .releasing)
            return stats
        }
        defer { connection.close() }
        let fd = connection.fd
        TCPSocket.setReceiveTimeout(fd, seconds: receiveTimeout)
        control.subscribersReady.add(1, ordering: .releasing)

        var buffer = ByteBuffer(capacity: readChunk * 2)
        defer { buffer.release() }
        buffer.append(contentsOf: leftover)
        let sampleCapacity = expected / BenchOptions.sampleEvery + 2
        let samples = UnsafeMutablePointer<Int64>.allocate(capacity: sampleCapacity)
        defer { samples.deallocate() }
        var sampleCount = 0
        var received = 0
        var lastProgress = Clock.monotonicNanos()
        let drainNanos = Int64(drainIdleSeconds * 1e9)
        let sampleMask = BenchOptions.sampleEvery - 1

        reading: while received < expected {
            // Scan every complete frame in the buffer.
            var payload = 0
            var payloadLength = 0
            while buffer.readableBytes > 0 {
                let used = MessageFrame.scan(buffer.readPointer, buffer.readableBytes, &payload, &payloadLength)
                if used == 0 { break }
                if used < 0 {
                    stats.failure = MessageFrame.describeUnexpected(buffer.readPointer, buffer.readableBytes)
                    break reading
                }
                received &+= 1
                if received & sampleMask == 0 && payloadLength >= 8 && sampleCount < sampleCapacity {
                    let sent = Int64(littleEndian: UnsafeRawPointer(buffer.readPointer + payload).loadUnaligned(as: Int64.self))
                    samples[sampleCount] = Clock.monotonicNanos() &- sent
                    sampleCount &+= 1
                }
                buffer.consume(used)
            }
            if received >= expected { break }
            // Room for at least the unread bytes again, so a large frame always fits.
            buffer.reserve(max(readChunk, buffer.readableBytes))
            let n = TCPSocket.read(fd, buffer.writePointer, buffer.writableBytes)
            if n > 0 {
                buffer.writeIndex &+= n
                lastProgress = Clock.monotonicNanos()
                stats.lastNanos = lastProgress
                continue
            }
            if n == -Int(EAGAIN) {
                if control.abort.load(ordering: .relaxed) { break }
                if control.publishersDone.load(ordering: .acquiring)
                    && Clock.monotonicNanos() - lastProgress > drainNanos { break }
                continue
            }
            if n == 0 || n == -Int(ECONNRESET) {
                stats.disconnected = true
            } else {
                stats.failure = ClientError.io(operation: "read", errno: Int32(-n)).description
            }
            break
        }
        stats.received = min(received, expected)
        stats.latencies = Array(UnsafeBufferPointer(start: samples, count: sampleCount))
        return stats
    }
}
