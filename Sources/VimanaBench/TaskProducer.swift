#if canImport(Glibc)
import Glibc
#endif
import VimanaClient
import VimanaCore

/// What the task producer measured.
public struct TaskProducerStats: Sendable {
    /// Submissions the server accepted.
    public var accepted = 0
    /// Submissions answered with an error.
    public var errors = 0
    public var endNanos: Int64 = 0
    public var failure: String?
}

/// The producer thread: up to `pipeline` submissions in flight, pre-encoded
/// in one batch whose payloads carry the send time (first 8 bytes) and the
/// task's number (next 8, when the payload has room).
enum TaskProducer {
    static let readCapacity = 64 << 10

    static func run(peer: TaskPeer, setup: WorkerSetup, messages: Int, payloadSize: Int, pipeline: Int,
                    control: BenchControl) -> TaskProducerStats {
        var stats = TaskProducerStats()
        let fd: Int32
        do {
            fd = try TCPSocket.connect(host: setup.host, port: setup.port, timeout: setup.timeout)
        } catch {
            stats.failure = error.description
            control.setupFailures.add(1, ordering: .releasing)
            return stats
        }
        defer { Glibc.close(fd) }
        control.publishersReady.add(1, ordering: .releasing)
        guard control.waitForStart() else { return stats }
        TCPSocket.setReceiveTimeout(fd, seconds: 0.2)

        let (head, tail) = peer.submission(topic: setup.topic, payloadSize: payloadSize)
        let one = head + [UInt8](repeating: 120, count: payloadSize) + tail
        let length = one.count
        let stampAt = head.count
        let batch = UnsafeMutableRawPointer.allocate(byteCount: length * pipeline, alignment: 8)
        defer { batch.deallocate() }
        one.withUnsafeBytes { c in
            guard let source = c.baseAddress else { return }
            for i in 0..<pipeline { (batch + i * length).copyMemory(from: source, byteCount: c.count) }
        }
        var input = ByteBuffer(capacity: readCapacity)
        defer { input.release() }
        var scan = RESPScan()

        var unsent = messages, inFlight = 0, number = 0
        let refillAt = pipeline / 2
        sending: while unsent > 0 || inFlight > 0 {
            if unsent > 0 && inFlight <= refillAt {
                let count = min(pipeline - inFlight, unsent)
                let now = Clock.monotonicNanos()
                for i in 0..<count {
                    if payloadSize >= 8 { batch.storeBytes(of: now.littleEndian, toByteOffset: i &* length &+ stampAt, as: Int64.self) }
                    if payloadSize >= 16 {
                        batch.storeBytes(of: Int64(number).littleEndian, toByteOffset: i &* length &+ stampAt &+ 8, as: Int64.self)
                    }
                    number &+= 1
                }
                let e = TCPSocket.writeAll(fd, batch, count &* length)
                if e != 0 { stats.failure = ClientError.io(operation: "write", errno: e).description; break }
                inFlight &+= count
                unsent &-= count
            }
            input.reserve(readCapacity / 2)
            let n = TCPSocket.read(fd, input.writePointer, input.writableBytes)
            if n <= 0 {
                if n == -Int(EAGAIN) {
                    if control.abort.load(ordering: .relaxed) { stats.failure = "aborted"; break }
                    continue
                }
                stats.failure = n == 0 ? "connection closed by server" : ClientError.io(operation: "read", errno: Int32(-n)).description
                break
            }
            input.writeIndex &+= n
            while input.readableBytes > 0 {
                let p = UnsafePointer(input.readPointer)
                var used = 0
                var ok = true
                if peer == .beanstalkd {
                    guard let nl = memchr(p, 10, input.readableBytes) else { break }
                    used = UnsafeRawPointer(p).distance(to: nl) &+ 1
                    ok = used > 8 && p[0] == 73 && p[1] == 78 && p[2] == 83  // "INS"ERTED
                } else {
                    used = scan.scan(p, input.readableBytes)
                    if used == 0 { break }
                    if used < 0 { stats.failure = "unexpected reply: not RESP"; break sending }
                    ok = scan.marker != 45  // '-'
                }
                if ok { stats.accepted &+= 1 } else {
                    stats.errors &+= 1
                    if stats.failure == nil {
                        let shown = UnsafeBufferPointer(start: p, count: min(max(used - 2, 0), 80))
                        stats.failure = "submission refused: " + String(decoding: shown, as: UTF8.self)
                    }
                }
                inFlight &-= 1
                input.consume(used)
            }
        }
        stats.endNanos = Clock.monotonicNanos()
        return stats
    }
}
