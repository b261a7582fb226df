import Testing
import Synchronization
import VimanaCore
@testable import VimanaEventLoop
#if canImport(Glibc)
import Glibc
#endif

/// A connected pair of non-blocking sockets.
func socketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
    for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return (fds[0], fds[1])
}

func drain(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buf, buf.count)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

@Suite struct OutputQueueTests {
    @Test func bytesAndSharedChunksGoOutInOrder() {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        var q = OutputQueue(capacity: 16)
        q.tail.append("one,")
        let big = [UInt8](repeating: 120, count: 10_000)
        let shared = big.withUnsafeBytes { SharedBytes(copying: $0.baseAddress!, count: $0.count) }
        q.append(shared: shared)
        q.tail.append(",two")
        #expect(q.pendingBytes == 4 + 10_000 + 4)
        var received: [UInt8] = []
        while !q.isEmpty {
            let (outcome, _) = q.write(to: a, maxBytes: 3000)
            if case .failed = outcome { Issue.record("write failed"); return }
            received += drain(b)
        }
        #expect(received == Array("one,".utf8) + big + Array(",two".utf8))
    }

    /// CLIENT REPLY's taking back: from the tail, then from the segments
    /// newest first, a shared one cut in the middle kept as a copy.
    @Test func dropLastTakesBackTheNewestBytesAcrossSegments() {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        var q = OutputQueue(capacity: 16)
        q.tail.append("keep,")
        let shared = Array("shared-bytes".utf8).withUnsafeBytes { SharedBytes(copying: $0.baseAddress!, count: $0.count) }
        q.append(shared: shared)
        q.tail.append("tail")
        q.dropLast(4)
        #expect(q.pendingBytes == 5 + 12)
        q.dropLast(6)  // "-bytes" out of the shared segment
        #expect(q.pendingBytes == 5 + 6)
        q.tail.append("+more")
        q.dropLast(3)
        #expect(q.pendingBytes == 5 + 6 + 2)
        _ = q.write(to: a, maxBytes: 1 << 20)
        #expect(drain(b) == Array("keep,shared+m".utf8))
        #expect(shared.count == 12, "the shared bytes themselves are not changed")
        q.tail.append("x")
        q.dropLast(100)
        let empty = q.isEmpty
        #expect(empty)
    }

    @Test func writeStopsAtTheCapAndReportsPending() {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        var q = OutputQueue(capacity: 16)
        q.tail.append(contentsOf: [UInt8](repeating: 1, count: 5000))
        let (outcome, written) = q.write(to: a, maxBytes: 1000)
        #expect(written == 1000)
        if case .pending = outcome {} else { Issue.record("expected pending") }
        #expect(q.pendingBytes == 4000)
    }

    @Test func aClosedPeerIsAFailureNotACrash() {
        let (a, b) = socketPair()
        close(b)
        defer { close(a) }
        signal(SIGPIPE, SIG_IGN)
        var q = OutputQueue(capacity: 16)
        q.tail.append("x")
        let (outcome, _) = q.write(to: a, maxBytes: 100)
        if case .failed(let e) = outcome { #expect(e == EPIPE) } else { Issue.record("expected failure") }
    }
}

final class CountingHandler: EventLoopHandler {
    let loop: EventLoop
    var ticks = 0
    var passes = 0
    init(_ loop: EventLoop) { self.loop = loop }
    func handle(fd: Int32, events: UInt32) {}
    func beforeSleep() { passes += 1 }
    func tick(nowNanos: Int64) { ticks += 1 }
    func signalReceived(_ signal: Int32) {}
}

@Suite struct WakerTests {
    @Test func workFromAnotherThreadRunsOnTheLoopInOrder() throws {
        let loop = try EventLoop(watchSignals: false, tickMillis: 10)
        let handler = CountingHandler(loop)
        let seen = Mutex<[Int]>([])
        let waker = loop.waker
        let thread = Thread {
            for i in 0..<100 { waker.execute { seen.withLock { $0.append(i) } } }
            waker.execute { [unowned loop] in loop.stop() }
        }
        thread.start()
        loop.run(handler)
        #expect(seen.withLock { $0 } == Array(0..<100))
    }
}

import Foundation
extension EventLoop: @unchecked Sendable {}
