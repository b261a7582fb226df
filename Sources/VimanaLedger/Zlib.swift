import CZlib

/// CRC-32 as zlib computes it (ISO-HDLC), the checksum of LEDGER.md.
public enum CRC32 {
    @inlinable
    public static func checksum(_ p: UnsafeRawPointer, _ count: Int, seed: UInt32 = 0) -> UInt32 {
        var crc = UInt(seed)
        var offset = 0
        // zlib takes a 32-bit length: feed large buffers in pieces.
        while offset < count {
            let n = min(count - offset, 1 << 30)
            crc = UInt(crc32(UInt(crc), (p + offset).assumingMemoryBound(to: Bytef.self), UInt32(n)))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
    }
}

/// Errors from zlib, with its code and message.
public struct ZlibError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let operation: String
    public var description: String { "zlib \(operation) failed (code \(code))" }
}

/// A reusable deflate stream producing zlib (RFC 1950) streams.
///
/// A `z_stream` must not move after init (zlib checks its address), so it
/// lives in allocated memory owned by this class; `deflateReset` reuses its
/// ~256 KiB of state for every frame instead of allocating it again.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    public let level: Int32

    public init(level: Int) throws(ZlibError) {
        self.level = Int32(max(0, min(9, level)))
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = vimana_deflate_init(stream, self.level)
        if rc != Z_OK {
            stream.deallocate()
            throw ZlibError(code: rc, operation: "deflateInit")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// An upper bound on the compressed size of `count` bytes.
    public func bound(_ count: Int) -> Int { Int(deflateBound(stream, UInt(count))) }

    /// Compresses `count` bytes at `input` into `output` (at least `bound(count)`
    /// bytes) as one complete zlib stream; returns the compressed length.
    public func compress(_ input: UnsafeRawPointer, _ count: Int,
                         into output: UnsafeMutableRawPointer, capacity: Int) throws(ZlibError) -> Int {
        deflateReset(stream)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(count)
        stream.pointee.next_out = output.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(capacity)
        let rc = deflate(stream, Z_FINISH)
        guard rc == Z_STREAM_END else { throw ZlibError(code: rc, operation: "deflate") }
        return capacity - Int(stream.pointee.avail_out)
    }
}

/// A reusable inflate stream for zlib (RFC 1950) streams.
public final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>

    public init() throws(ZlibError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = vimana_inflate_init(stream)
        if rc != Z_OK {
            stream.deallocate()
            throw ZlibError(code: rc, operation: "inflateInit")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates one complete zlib stream of `count` bytes into exactly
    /// `expected` bytes at `output`. Fails on corrupt data, on a stream that
    /// ends early or late, and on trailing bytes.
    public func decompress(_ input: UnsafeRawPointer, _ count: Int,
                           into output: UnsafeMutableRawPointer, expected: Int) throws(ZlibError) {
        inflateReset(stream)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(count)
        stream.pointee.next_out = output.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(expected)
        let rc = inflate(stream, Z_FINISH)
        guard rc == Z_STREAM_END else { throw ZlibError(code: rc, operation: "inflate") }
        guard stream.pointee.avail_out == 0, stream.pointee.avail_in == 0 else {
            throw ZlibError(code: Z_DATA_ERROR, operation: "inflate (length mismatch)")
        }
    }
}
