import VimanaCore
#if canImport(Glibc)
import Glibc
#endif

/// Bytes waiting to be written to one socket, in order.
///
/// Replies are appended to `tail`, one contiguous buffer: the common case is
/// one `write` of everything a loop pass produced. A large message shared by
/// many subscribers (`SharedBytes`) is queued by reference; the bytes before
/// it move to `segments` and all go out with one `writev`.
///
/// Promises: order preserved; `pendingBytes` is exact (it drives the
/// slow-subscriber limits); a write never exceeds `maxBytes`, so one
/// subscriber's backlog cannot starve the rest of the loop.
///
/// Owns its buffers: `~Copyable`, so one value holds them, and `deinit`
/// frees them (the tail and every owned segment).
public struct OutputQueue: ~Copyable {
    public var tail: ByteBuffer
    @usableFromInline var segments: [Segment] = []
    public private(set) var queuedBytes: Int = 0

    @usableFromInline enum Segment {
        case owned(ByteBuffer)
        case shared(SharedBytes, Int)  // bytes, offset already written

        var remaining: Int {
            switch self {
            case .owned(let b): b.readableBytes
            case .shared(let s, let off): s.count - off
            }
        }
    }

    public init(capacity: Int = EventLoopLimits.outputCapacity) {
        tail = ByteBuffer(capacity: capacity)
    }

    deinit {
        tail.release()
        for case .owned(let b) in segments { b.release() }
    }

    /// Everything not yet written.
    @inlinable @inline(__always)
    public var pendingBytes: Int { queuedBytes &+ tail.readableBytes }

    @inlinable @inline(__always)
    public var isEmpty: Bool { queuedBytes == 0 && tail.readableBytes == 0 }

    /// Queues `bytes` by reference after everything already queued.
    public mutating func append(shared bytes: SharedBytes) {
        if tail.readableBytes > 0 {
            let previous = tail
            tail = ByteBuffer(capacity: EventLoopLimits.outputTailCapacity)
            queuedBytes += previous.readableBytes
            segments.append(.owned(previous))
        }
        segments.append(.shared(bytes, 0))
        queuedBytes += bytes.count
    }

    /// Queues `bytes` after everything already queued; the queue owns
    /// (and frees) them from now on. For a large reply built elsewhere.
    public mutating func append(owned bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { bytes.release(); return }
        if tail.readableBytes > 0 {
            let previous = tail
            tail = ByteBuffer(capacity: EventLoopLimits.outputTailCapacity)
            queuedBytes += previous.readableBytes
            segments.append(.owned(previous))
        }
        queuedBytes += bytes.readableBytes
        segments.append(.owned(bytes))
    }

    /// Takes back the last `count` bytes queued (not yet written), newest
    /// first: CLIENT REPLY OFF|SKIP drops replies this way. A shared
    /// segment cut in the middle keeps its first part as a copy of its own.
    /// Asking for more than is pending drops everything pending.
    public mutating func dropLast(_ count: Int) {
        var left = count
        let fromTail = min(left, tail.readableBytes)
        tail.writeIndex -= fromTail
        left -= fromTail
        while left > 0, let last = segments.last {
            let remaining = last.remaining
            if left >= remaining {
                if case .owned(let b) = last { b.release() }
                segments.removeLast()
                queuedBytes -= remaining
                left -= remaining
                continue
            }
            switch last {
            case .owned(var b):
                b.writeIndex -= left
                segments[segments.count - 1] = .owned(b)
            case .shared(let s, let off):
                var copy = ByteBuffer(capacity: remaining - left)
                copy.append(s.base + off, remaining - left)
                segments[segments.count - 1] = .owned(copy)
            }
            queuedBytes -= left
            left = 0
        }
    }

    /// Drops everything queued (the connection is going away).
    public mutating func discardAll() {
        for case .owned(let b) in segments { b.release() }
        segments.removeAll()
        queuedBytes = 0
        tail.clear()
    }

    public enum WriteOutcome {
        /// Everything was written.
        case drained
        /// Bytes remain: the socket is full or `maxBytes` was reached.
        case pending
        /// The peer is gone or the socket failed (errno).
        case failed(Int32)
    }

    /// Writes as much as the socket takes, up to `maxBytes`; returns what is
    /// left and how many bytes went out.
    public mutating func write(to fd: Int32, maxBytes: Int) -> (WriteOutcome, Int) {
        if segments.isEmpty { return writeTail(fd, maxBytes) }
        return writeSegments(fd, maxBytes)
    }

    private mutating func writeTail(_ fd: Int32, _ maxBytes: Int) -> (WriteOutcome, Int) {
        var total = 0
        while tail.readableBytes > 0 {
            let want = min(tail.readableBytes, maxBytes - total)
            if want <= 0 { return (.pending, total) }
            let n = Glibc.write(fd, tail.readPointer, want)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return (.pending, total) }
                return (.failed(e), total)
            }
            tail.consume(n)
            total += n
            // A short write means the socket buffer is full: the next call would
            // only return EAGAIN, so save the system call.
            if n < want { return (.pending, total) }
        }
        return (.drained, total)
    }

    private mutating func writeSegments(_ fd: Int32, _ maxBytes: Int) -> (WriteOutcome, Int) {
        var total = 0
        let maxVectors = EventLoopLimits.writevVectors
        var vectors = [iovec](repeating: iovec(), count: maxVectors)
        while !isEmpty {
            var count = 0
            var planned = 0
            for segment in segments {
                if count == maxVectors || planned >= maxBytes - total { break }
                let take = min(segment.remaining, maxBytes - total - planned)
                switch segment {
                case .owned(let b): vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(b.readPointer), iov_len: take)
                case .shared(let s, let off): vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(s.base + off), iov_len: take)
                }
                count += 1
                planned += take
            }
            if count < maxVectors && planned < maxBytes - total && tail.readableBytes > 0 {
                let take = min(tail.readableBytes, maxBytes - total - planned)
                vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(tail.readPointer), iov_len: take)
                count += 1
                planned += take
            }
            if planned == 0 { return (.pending, total) }
            let n = vectors.withUnsafeBufferPointer { writev(fd, $0.baseAddress, Int32(count)) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return (.pending, total) }
                return (.failed(e), total)
            }
            consume(n)
            total += n
            if n < planned { return (.pending, total) }
        }
        return (.drained, total)
    }

    /// Marks `count` written bytes as gone, front first.
    private mutating func consume(_ count: Int) {
        var left = count
        while left > 0, let first = segments.first {
            let remaining = first.remaining
            if left >= remaining {
                if case .owned(let b) = first { b.release() }
                segments.removeFirst()
                queuedBytes -= remaining
                left -= remaining
            } else {
                switch first {
                case .owned(var b):
                    b.consume(left)
                    segments[0] = .owned(b)
                case .shared(let s, let off):
                    segments[0] = .shared(s, off + left)
                }
                queuedBytes -= left
                left = 0
            }
        }
        if left > 0 { tail.consume(left) }
    }
}
