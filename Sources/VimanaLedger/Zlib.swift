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

/// A zlib stream of stored (uncompressed) deflate blocks, written directly:
/// what deflate at level 0 produces, without its per-stream reset, which
/// clears a 64 KiB hash table (the fixed cost of a small frame).
public enum StoredZlib {
    /// Bytes in one stored block, at most (RFC 1951 §3.2.4: LEN is 16 bits).
    static let blockBytes = 65_535

    /// The exact length of `count` bytes stored: the 2-byte header, a 5-byte
    /// header per block (one empty block when `count` is 0), the Adler-32.
    public static func length(_ count: Int) -> Int {
        2 + count + 5 * max(1, (count + blockBytes - 1) / blockBytes) + 4
    }

    /// Writes `count` bytes at `input` as one zlib stream at `output`, which
    /// has at least `length(count)` bytes; returns that length.
    public static func encode(_ input: UnsafeRawPointer, _ count: Int, into output: UnsafeMutableRawPointer) -> Int {
        // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: FLEVEL 0, no
        // dictionary, and 0x7801 is a multiple of 31 (RFC 1950 §2.2).
        output.storeBytes(of: 0x78, toByteOffset: 0, as: UInt8.self)
        output.storeBytes(of: 0x01, toByteOffset: 1, as: UInt8.self)
        var at = 2, done = 0
        repeat {
            let n = min(blockBytes, count - done)
            let last = done + n == count
            output.storeBytes(of: last ? 1 : 0, toByteOffset: at, as: UInt8.self)  // BFINAL, BTYPE 00
            output.storeBytes(of: UInt16(n).littleEndian, toByteOffset: at + 1, as: UInt16.self)
            output.storeBytes(of: (~UInt16(n)).littleEndian, toByteOffset: at + 3, as: UInt16.self)
            if n > 0 { (output + at + 5).copyMemory(from: input + done, byteCount: n) }
            at += 5 + n
            done += n
        } while done < count
        let adler = count == 0 ? 1 : UInt32(adler32(1, input.assumingMemoryBound(to: Bytef.self), UInt32(count)))
        output.storeBytes(of: adler.bigEndian, toByteOffset: at, as: UInt32.self)
        return at + 4
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

    /// Inflates the zlib stream that `input` begins with, wherever it ends
    /// (a stream marks its own end; the bytes after it are ignored). Returns
    /// the inflated bytes and how many input bytes the stream took, or nil
    /// when `input` holds no complete stream or it inflates to more than
    /// `limit` bytes. Recovery uses it on a frame whose header is damaged.
    public func inflatePrefix(_ input: UnsafeRawPointer, _ count: Int, limit: Int) -> (consumed: Int, output: [UInt8])? {
        inflateReset(stream)
        let available = min(count, Int(UInt32.max))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(available)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: LedgerLimits.inflateChunk)
        while true {
            let rc = chunk.withUnsafeMutableBytes { b -> Int32 in
                stream.pointee.next_out = b.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(b.count)
                return inflate(stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.pointee.avail_out)
            guard output.count + produced <= limit else { return nil }
            output.append(contentsOf: chunk[0..<produced])
            if rc == Z_STREAM_END { return (available - Int(stream.pointee.avail_in), output) }
            // Z_BUF_ERROR: the input ended inside the stream; anything else: not zlib.
            guard rc == Z_OK, produced > 0 || stream.pointee.avail_in > 0 else { return nil }
        }
    }
}
