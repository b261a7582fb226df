#if canImport(Glibc)
import Glibc
#endif
import VimanaClient
import VimanaCore

/// What one worker connection measured.
public struct TaskWorkerStats: Sendable {
    /// Tasks received (redeliveries included).
    public var received = 0
    /// Tasks whose acknowledgement the server confirmed.
    public var acknowledged = 0
    /// Monotonic nanoseconds of the last confirmed acknowledgement.
    public var lastNanos: Int64 = 0
    /// Round trips in nanoseconds: submission sent → acknowledgement confirmed.
    public var latencies: [Int64] = []
    public var failure: String?
}

/// One worker thread: takes tasks the way its peer hands them out and
/// acknowledges each, writing every acknowledgement (and the next request
/// for work) produced by one read in a single `send`.
///
/// A task's send time travels in its payload; it waits in a FIFO until the
/// server confirms the acknowledgement, which servers do in order.
struct TaskWorker {
    let peer: TaskPeer
    let setup: WorkerSetup
    let name: [UInt8]
    let agent: [UInt8]
    let prefetch: Int
    let expected: Int
    let control: BenchControl

    static let readChunk = 256 << 10

    private var stats = TaskWorkerStats()
    private var input = ByteBuffer(capacity: readChunk * 2)
    private var output = ByteBuffer(capacity: 64 << 10)
    private var scan = RESPScan()
    /// Send times of tasks acknowledged and not yet confirmed (a ring).
    private var stamps: UnsafeMutablePointer<Int64>
    private let stampMask: Int
    private var stampHead = 0, stampTail = 0
    /// Redis: the IDs carried by each XACK awaiting its reply (a ring).
    private var ackSizes: [Int]
    private var ackHead = 0, ackTail = 0
    private var latencies: UnsafeMutablePointer<Int64>
    private var latencyCount = 0
    /// Redis: the XREADGROUP asking for the next batch, encoded once.
    private var readRequest: [UInt8] = []

    init(peer: TaskPeer, setup: WorkerSetup, index: Int, agent: String, prefetch: Int, expected: Int, control: BenchControl) {
        self.peer = peer
        self.setup = setup
        name = Array("w\(index)".utf8)
        self.agent = Array(agent.utf8)
        self.prefetch = prefetch
        self.expected = expected
        self.control = control
        var size = 16
        while size < prefetch * 4 { size <<= 1 }
        stamps = .allocate(capacity: size)
        stampMask = size - 1
        ackSizes = Array(repeating: 0, count: size)
        latencies = .allocate(capacity: expected)
    }

    mutating func run() -> TaskWorkerStats {
        defer {
            input.release()
            output.release()
            stamps.deallocate()
            latencies.deallocate()
        }
        let fd: Int32
        do {
            fd = try connect()
        } catch {
            stats.failure = "worker setup: \(error)"
            control.setupFailures.add(1, ordering: .releasing)
            return stats
        }
        defer { Glibc.close(fd) }
        TCPSocket.setReceiveTimeout(fd, seconds: 0.1)
        control.subscribersReady.add(1, ordering: .releasing)
        guard control.waitForStart() else { return stats }
        askForWork()
        var lastProgress = Clock.monotonicNanos()

        working: while control.tasksAcknowledged.load(ordering: .relaxed) < expected {
            while input.readableBytes > 0 {
                let used = handleOne()
                if used == 0 { break }
                if used < 0 { break working }
                input.consume(used)
            }
            if output.readableBytes > 0 {
                let e = TCPSocket.writeAll(fd, output.readPointer, output.readableBytes)
                if e != 0 { stats.failure = ClientError.io(operation: "write", errno: e).description; break }
                output.clear()
            }
            input.reserve(max(Self.readChunk, input.readableBytes))
            let n = TCPSocket.read(fd, input.writePointer, input.writableBytes)
            if n > 0 {
                input.writeIndex &+= n
                lastProgress = Clock.monotonicNanos()
                continue
            }
            if n == -Int(EAGAIN) {
                if control.abort.load(ordering: .relaxed) { break }
                if control.publishersDone.load(ordering: .acquiring)
                    && Clock.monotonicNanos() - lastProgress > 3_000_000_000 { break }
                continue
            }
            stats.failure = n == 0 ? "connection closed by server" : ClientError.io(operation: "read", errno: Int32(-n)).description
            break
        }
        stats.latencies = Array(UnsafeBufferPointer(start: latencies, count: latencyCount))
        return stats
    }

    /// Connects and, on Vimana, joins the agent; bytes that came after the
    /// join's reply (the first pushes) go to `input`.
    private mutating func connect() throws(ClientError) -> Int32 {
        if peer == .beanstalkd {
            return try TCPSocket.connect(host: setup.host, port: setup.port, timeout: setup.timeout)
        }
        let connection = try setup.connect()
        if peer == .vimana {
            let reply = try connection.call([Array("AGENT".utf8), Array("JOIN".utf8), agent])
            guard case .simpleString("OK") = reply else { throw .unexpectedReply("AGENT JOIN: \(reply.description)") }
        }
        let (fd, buffered) = connection.detach()
        input.append(contentsOf: buffered)
        return fd
    }

    /// The first requests for work: Redis's first XREADGROUP, beanstalkd's reserves.
    private mutating func askForWork() {
        switch peer {
        case .vimana:
            break  // tasks are pushed
        case .redis:
            readRequest = RESPCommand.command(["XREADGROUP", "GROUP", agent, name, "COUNT", String(prefetch),
                                               "BLOCK", "100", "STREAMS", setup.topic, ">"])
            output.append(contentsOf: readRequest)
        case .beanstalkd:
            // One reserve at a time: beanstalkd answers a connection's commands
            // in order, so a delete queued behind a reserve that waits for a job
            // would wait too. A beanstalkd worker holds one job (no prefetch).
            output.append("reserve\r\n")
        }
    }

    // MARK: - Frames

    /// Handles the frame at the front of `input`: its length, 0 when
    /// incomplete, -1 on a failure (recorded).
    private mutating func handleOne() -> Int {
        if peer == .beanstalkd { return handleBeanstalk() }
        let p = UnsafePointer(input.readPointer)
        let used = scan.scan(p, input.readableBytes)
        if used <= 0 {
            if used < 0 { stats.failure = "unexpected bytes from the server: not RESP" }
            return used
        }
        switch scan.marker {
        case 58:  // ':' ACK / XACK confirmed
            let confirmed = peer == .redis ? popAckSize() : 1
            if peer == .vimana && scan.integer != 1 { stats.failure = "ACK answered :\(scan.integer)"; return -1 }
            confirm(confirmed)
        case 42, 62:  // '*' or '>': a pushed task, or an XREADGROUP reply
            if peer == .vimana { taskPushed(p) } else { batchRead(p) }
            if stats.failure != nil { return -1 }
        case 45:  // '-'
            let shown = UnsafeBufferPointer(start: p, count: min(max(used - 2, 0), 120))
            stats.failure = "server error: " + String(decoding: shown, as: UTF8.self)
            return -1
        default:
            if peer == .redis { output.append(contentsOf: readRequest) }  // a null reply: BLOCK timed out
        }
        return used
    }

    /// Vimana: `[task, topic, id, deliveries, payload, publisher]` (the
    /// bulks but the count; any after the payload ignored, AGENTS.md §3);
    /// answered `ACK topic id`.
    private mutating func taskPushed(_ p: UnsafePointer<UInt8>) {
        guard scan.bulks.count >= 4 else { return }
        let topic = scan.bulks[1], id = scan.bulks[2], payload = scan.bulks[3]
        received(p + payload.offset, payload.length)
        output.append("*3\r\n$3\r\nACK\r\n")
        appendBulk(p + topic.offset, topic.length)
        appendBulk(p + id.offset, id.length)
    }

    /// Redis: `[[topic, [[id, [payload, data]], …]]]`; answered with one XACK
    /// for the batch and the next XREADGROUP, written together.
    private mutating func batchRead(_ p: UnsafePointer<UInt8>) {
        let entries = (scan.bulks.count - 1) / 3
        guard entries > 0 else { output.append(contentsOf: readRequest); return }
        let topic = scan.bulks[0]
        output.append(string: "*\(3 + entries)\r\n$4\r\nXACK\r\n")
        appendBulk(p + topic.offset, topic.length)
        appendBulk(agent)
        for k in 0..<entries {
            let id = scan.bulks[1 + 3 * k], payload = scan.bulks[3 + 3 * k]
            received(p + payload.offset, payload.length)
            appendBulk(p + id.offset, id.length)
        }
        ackSizes[ackTail & stampMask] = entries
        ackTail &+= 1
        output.append(contentsOf: readRequest)
    }

    /// beanstalkd: `RESERVED id bytes\r\n<body>\r\n` answered `delete id` and
    /// another `reserve`; `DELETED` confirms.
    private mutating func handleBeanstalk() -> Int {
        let p = UnsafePointer(input.readPointer)
        let count = input.readableBytes
        guard let nl = memchr(p, 10, count) else { return 0 }
        let lineLength = UnsafeRawPointer(p).distance(to: nl) &+ 1
        if lineLength == 9 && p[0] == 68 && p[1] == 69 {  // DELETED\r\n
            confirm(1)
            return lineLength
        }
        guard lineLength > 9, p[0] == 82, p[1] == 69, p[2] == 83 else {  // RES(ERVED)
            stats.failure = "beanstalkd answered: " + String(decoding: UnsafeBufferPointer(start: p, count: min(lineLength, 80)), as: UTF8.self)
            return -1
        }
        // "RESERVED <id> <bytes>"
        var i = 9, idStart = 9
        while i < lineLength && p[i] != 32 { i &+= 1 }
        let idLength = i &- idStart
        var bytes = 0
        i &+= 1
        while i < lineLength && p[i] >= 48 && p[i] <= 57 { bytes = bytes &* 10 &+ Int(p[i] &- 48); i &+= 1 }
        let total = lineLength &+ bytes &+ 2
        guard total <= count else { return 0 }
        received(p + lineLength, bytes)
        output.append("delete ")
        output.append(p + idStart, idLength)
        output.append("\r\nreserve\r\n")
        idStart = 0
        return total
    }

    // MARK: - Bookkeeping

    private mutating func received(_ payload: UnsafePointer<UInt8>, _ length: Int) {
        stats.received &+= 1
        if stampTail &- stampHead > stampMask {
            // The server hands out more than --prefetch allows: the agent is
            // declared with a larger prefetch, and latencies would be wrong.
            stats.failure = "more tasks in flight than --prefetch \(prefetch): declare the agent with prefetch: \(prefetch)"
            return
        }
        stamps[stampTail & stampMask] = length >= 8 ? Int64(littleEndian: UnsafeRawPointer(payload).loadUnaligned(as: Int64.self)) : 0
        stampTail &+= 1
    }

    private mutating func confirm(_ count: Int) {
        let now = Clock.monotonicNanos()
        for _ in 0..<count where stampHead != stampTail {
            let sent = stamps[stampHead & stampMask]
            stampHead &+= 1
            if sent != 0 && latencyCount < expected {
                latencies[latencyCount] = now &- sent
                latencyCount &+= 1
            }
        }
        stats.acknowledged &+= count
        stats.lastNanos = now
        control.tasksAcknowledged.add(count, ordering: .relaxed)
    }

    private mutating func popAckSize() -> Int {
        guard ackHead != ackTail else { return 0 }
        let n = ackSizes[ackHead & stampMask]
        ackHead &+= 1
        return n
    }

    private mutating func appendBulk(_ p: UnsafePointer<UInt8>, _ length: Int) {
        output.append(string: "$\(length)\r\n")
        output.append(p, length)
        output.append("\r\n")
    }

    private mutating func appendBulk(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { b in if let base = b.baseAddress { appendBulk(base, b.count) } }
    }
}
