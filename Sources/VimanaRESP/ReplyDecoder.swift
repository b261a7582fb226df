import VimanaCore

/// Why a server's reply stream could not be decoded. After any of these the
/// stream has lost its framing: the decoder keeps failing and the connection
/// should be closed.
public enum ReplyDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first byte of a reply is not a RESP2/RESP3 type marker.
    case unknownType(UInt8)
    /// A bulk or aggregate length that is not a decimal in range.
    case invalidLength
    /// An `:` reply that is not a 64-bit decimal integer.
    case invalidInteger
    /// A `,` reply that is not a number, `inf`, `-inf` or `nan`.
    case invalidDouble
    /// A `#` reply other than `t` or `f`.
    case invalidBoolean
    /// A `(` reply with characters other than an optional sign and digits.
    case invalidBigNumber
    /// A `=` reply shorter than `fmt:` or without the colon.
    case invalidVerbatim
    /// A `_` reply with content.
    case invalidNull
    /// A line or bulk payload not followed by `\r\n`.
    case expectedCRLF
    /// A line longer than `ReplyDecoder.maxLine`.
    case lineTooLong
    /// A bulk longer than the decoder's `maxBulk`.
    case bulkTooLong(Int)
    /// Aggregates nested deeper than the decoder's `maxDepth`.
    case tooDeep(Int)
    /// RESP3 streamed strings or aggregates (`$?`, `*?`), which Redis never sends.
    case streamedTypeUnsupported

    public var description: String {
        switch self {
        case .unknownType(let b): "unknown reply type byte 0x" + String(b, radix: 16)
        case .invalidLength: "invalid length"
        case .invalidInteger: "invalid integer reply"
        case .invalidDouble: "invalid double reply"
        case .invalidBoolean: "invalid boolean reply"
        case .invalidBigNumber: "invalid big number reply"
        case .invalidVerbatim: "invalid verbatim string reply"
        case .invalidNull: "invalid null reply"
        case .expectedCRLF: "expected CRLF"
        case .lineTooLong: "reply line too long"
        case .bulkTooLong(let n): "bulk reply of \(n) bytes exceeds the limit"
        case .tooDeep(let n): "reply nested deeper than \(n) levels"
        case .streamedTypeUnsupported: "streamed RESP3 types are not supported"
        }
    }
}

/// An incremental decoder of server replies (RESP2 and RESP3).
///
/// Feed it bytes as they arrive and pull complete values with `next()`.
/// Promises: resumable at any byte boundary — each header line and bulk
/// payload is consumed once, partially built aggregates wait on an explicit
/// stack, so nothing is decoded twice and hostile nesting cannot overflow
/// the call stack (it is rejected past `maxDepth`); memory is bounded by
/// `maxBulk` per bulk and by the bytes actually received (declared aggregate
/// sizes are never trusted for allocation; the raw bytes of a value in
/// progress are kept until it completes, so `takeBuffered` can hand them
/// over whole). RESP3 attributes (`|`) are parsed and dropped.
public struct ReplyDecoder: Sendable {
    /// What `next()` found.
    public enum Outcome: Equatable, Sendable {
        case value(RESPValue)
        /// No complete value yet: feed more bytes and call again.
        case needMore
    }

    // MARK: - Limits

    /// Deepest aggregate nesting accepted. Redis replies nest a few levels
    /// (COMMAND DOCS is the deepest, about 6); 128 leaves room and stays tiny.
    public let maxDepth: Int
    /// Largest bulk accepted: Redis's `proto-max-bulk-len` default, 512 MiB.
    public let maxBulk: Int
    /// Longest header or simple line. Redis error and status lines are short;
    /// 1 MiB bounds what a broken stream can make us buffer before failing.
    public static let maxLine = 1 << 20
    /// Elements reserved up front for an aggregate, however large it claims to be.
    static let maxReserve = 1024

    // MARK: - State kept between calls

    /// Received bytes; `start..<end` is unconsumed.
    private var storage: [UInt8] = []
    private var start = 0
    private var end = 0
    /// Where the top-level value being decoded began. Its bytes are kept
    /// until it completes so that `takeBuffered` can hand them over whole.
    private var valueStart = 0
    /// The first byte that must be kept: the start of a value in progress.
    private var keepFrom: Int { stack.isEmpty && pendingBulk == nil ? start : valueStart }
    /// An aggregate being filled.
    private struct Frame: Sendable {
        enum Kind: Sendable { case array, set, push, map, attribute }
        var kind: Kind
        /// Elements still expected (a map of N pairs expects 2N).
        var remaining: Int
        var items: [RESPValue]
    }
    private var stack: [Frame] = []
    /// A bulk-like payload whose header was consumed: its marker and length.
    private var pendingBulk: (marker: UInt8, length: Int)?
    /// Set once framing is lost; every later call rethrows it.
    private var failure: ReplyDecodingError?

    public init(maxDepth: Int = 128, maxBulk: Int = 512 << 20) {
        self.maxDepth = maxDepth
        self.maxBulk = maxBulk
    }

    /// Bytes received but not yet consumed by a complete token.
    public var bufferedCount: Int { end - start }

    // MARK: - Feeding

    /// Appends received bytes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        let free = makeRoom(bytes.count)
        storage.withUnsafeMutableBytes { dst in
            dst.baseAddress.map { ($0 + free).copyMemory(from: source, byteCount: bytes.count) }
        }
        end += bytes.count
    }

    /// Appends received bytes.
    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Lets `body` write up to `capacity` bytes straight into the decoder's
    /// storage (a socket read without an intermediate copy); `body` returns
    /// how many it wrote, or ≤ 0 for none. Returns what `body` returned.
    public mutating func fill(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        let at = makeRoom(capacity)
        let n = storage.withUnsafeMutableBytes { raw in
            body(UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + capacity)]))
        }
        if n > 0 { end += min(n, capacity) }
        return n
    }

    /// Removes and returns the bytes not yet returned as values, from the
    /// start of a partially decoded value if there is one (for a caller that
    /// switches to scanning the stream itself), and resets the decoder.
    public mutating func takeBuffered() -> [UInt8] {
        let rest = Array(storage[keepFrom..<end])
        start = 0
        end = 0
        valueStart = 0
        stack.removeAll()
        pendingBulk = nil
        return rest
    }

    /// Ensures `count` writable bytes after `end`, compacting or growing;
    /// returns the index where they start.
    private mutating func makeRoom(_ count: Int) -> Int {
        let keep = keepFrom
        if keep == end { start = 0; end = 0; valueStart = 0 }
        if storage.count - end >= count { return end }
        if keep > 0 {
            let live = end - keep
            storage.withUnsafeMutableBufferPointer { b in
                if let p = b.baseAddress { p.update(from: p + keep, count: live) }
            }
            start -= keep
            valueStart = max(0, valueStart - keep)
            end = live
            if storage.count - end >= count { return end }
        }
        var size = max(storage.count, 4096)
        while size - end < count { size *= 2 }
        storage.append(contentsOf: repeatElement(0, count: size - storage.count))
        return end
    }

    // MARK: - Decoding

    /// Decodes the next complete value, or `.needMore`.
    public mutating func next() throws(ReplyDecodingError) -> Outcome {
        if let failure { throw failure }
        do {
            return try decode()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decode() throws(ReplyDecodingError) -> Outcome {
        while true {
            var scalar: RESPValue
            if stack.isEmpty && pendingBulk == nil { valueStart = start }
            if let pending = pendingBulk {
                guard end - start >= pending.length + 2 else { return .needMore }
                guard storage[start + pending.length] == 13, storage[start + pending.length + 1] == 10 else {
                    throw .expectedCRLF
                }
                scalar = try bulkValue(marker: pending.marker, storage[start..<(start + pending.length)])
                start += pending.length + 2
                pendingBulk = nil
            } else {
                guard let lineEnd = try findLine() else { return .needMore }
                let marker = storage[start]
                let body = (start + 1)..<lineEnd
                start = lineEnd + 2
                switch try header(marker, body) {
                case .value(let v): scalar = v
                case .bulk(let length):
                    pendingBulk = (marker, length)
                    continue
                case .aggregate(let kind, let count):
                    if count == 0 {
                        if kind == .attribute { continue }
                        scalar = Self.aggregate(kind, [])
                    } else {
                        guard stack.count < maxDepth else { throw .tooDeep(maxDepth) }
                        var items: [RESPValue] = []
                        items.reserveCapacity(min(count, Self.maxReserve))
                        stack.append(Frame(kind: kind, remaining: count, items: items))
                        continue
                    }
                }
            }
            // Attach the completed value to its parent, closing every aggregate it completes.
            while true {
                guard !stack.isEmpty else { return .value(scalar) }
                let top = stack.count - 1
                stack[top].items.append(scalar)
                stack[top].remaining -= 1
                if stack[top].remaining > 0 { break }
                let done = stack.removeLast()
                if done.kind == .attribute { break }  // metadata for the next value: dropped
                scalar = Self.aggregate(done.kind, done.items)
            }
        }
    }

    /// The index of the `\r` ending the line at `start`, or nil when it has
    /// not fully arrived.
    private func findLine() throws(ReplyDecodingError) -> Int? {
        var i = start
        let limit = min(end, start + Self.maxLine)
        while i < limit {
            if storage[i] == 13 {
                guard i + 1 < end else { return nil }
                guard storage[i + 1] == 10 else { throw .expectedCRLF }
                return i
            }
            i += 1
        }
        if end - start >= Self.maxLine { throw .lineTooLong }
        return nil
    }

    private enum Header {
        case value(RESPValue)
        case bulk(Int)
        case aggregate(Frame.Kind, Int)
    }

    /// Interprets one header line: a complete scalar, or the length of the
    /// bulk or aggregate that follows.
    private func header(_ marker: UInt8, _ body: Range<Int>) throws(ReplyDecodingError) -> Header {
        let text = storage[body]
        switch marker {
        case 43: return .value(.simpleString(String(decoding: text, as: UTF8.self)))  // +
        case 45: return .value(.error(String(decoding: text, as: UTF8.self)))  // -
        case 58:  // :
            guard let n = parseInt(body) else { throw .invalidInteger }
            return .value(.integer(n))
        case 36, 33, 61:  // $ ! =
            if text.first == 63 { throw .streamedTypeUnsupported }  // '?'
            guard let n = parseInt(body), n >= -1 else { throw .invalidLength }
            if n == -1 {
                guard marker == 36 else { throw .invalidLength }
                return .value(.null)
            }
            guard n <= maxBulk else { throw .bulkTooLong(n) }
            return .bulk(n)
        case 42, 126, 62, 37, 124:  // * ~ > % |
            if text.first == 63 { throw .streamedTypeUnsupported }
            guard let n = parseInt(body), n >= -1 else { throw .invalidLength }
            if n == -1 {
                guard marker == 42 else { throw .invalidLength }
                return .value(.null)  // RESP2 null array
            }
            switch marker {
            case 42: return .aggregate(.array, n)
            case 126: return .aggregate(.set, n)
            case 62: return .aggregate(.push, n)
            default:
                let (pairs, overflow) = n.multipliedReportingOverflow(by: 2)
                guard !overflow else { throw .invalidLength }
                return .aggregate(marker == 37 ? .map : .attribute, pairs)
            }
        case 95:  // _
            guard text.isEmpty else { throw .invalidNull }
            return .value(.null)
        case 35:  // #
            guard text.count == 1 else { throw .invalidBoolean }
            switch text.first {
            case 116: return .value(.boolean(true))
            case 102: return .value(.boolean(false))
            default: throw .invalidBoolean
            }
        case 44:  // ,
            return .value(.double(try Self.parseDouble(text)))
        case 40:  // (
            var digits = text[...]
            if let sign = digits.first, sign == 45 || sign == 43 { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw .invalidBigNumber }
            return .value(.bigNumber(String(decoding: text, as: UTF8.self)))
        case 59, 46:  // ; .  (streamed string chunk, streamed aggregate end)
            throw .streamedTypeUnsupported
        default:
            throw .unknownType(marker)
        }
    }

    private func parseInt(_ body: Range<Int>) -> Int? {
        storage.withUnsafeBufferPointer { b -> Int? in
            guard let p = b.baseAddress else { return nil }
            return Decimal.parse(p + body.lowerBound, body.count)
        }
    }

    /// Redis sends `%.17g` output, `inf`, `-inf` or `nan`; Swift's parser
    /// also takes hex floats and `infinity`, so the characters are checked first.
    private static func parseDouble(_ text: ArraySlice<UInt8>) throws(ReplyDecodingError) -> Double {
        let s = String(decoding: text, as: UTF8.self)
        switch s {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: break
        }
        let numeric = text.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 101 || $0 == 69 || $0 == 43 || $0 == 45 }
        guard !text.isEmpty, text.count <= 400, numeric, let d = Double(s) else { throw .invalidDouble }
        return d
    }

    private func bulkValue(marker: UInt8, _ payload: ArraySlice<UInt8>) throws(ReplyDecodingError) -> RESPValue {
        switch marker {
        case 33: return .error(String(decoding: payload, as: UTF8.self))  // !
        case 61:  // =
            guard payload.count >= 4, payload[payload.startIndex + 3] == 58 else { throw .invalidVerbatim }
            let format = String(decoding: payload.prefix(3), as: UTF8.self)
            return .verbatim(format: format, text: Array(payload.dropFirst(4)))
        default: return .bulkString(Array(payload))
        }
    }

    private static func aggregate(_ kind: Frame.Kind, _ items: [RESPValue]) -> RESPValue {
        switch kind {
        case .array: return .array(items)
        case .set: return .set(items)
        case .push: return .push(items)
        case .map, .attribute:
            var pairs: [(RESPValue, RESPValue)] = []
            pairs.reserveCapacity(items.count / 2)
            var i = 0
            while i + 1 < items.count { pairs.append((items[i], items[i + 1])); i += 2 }
            return .map(pairs)
        }
    }
}
