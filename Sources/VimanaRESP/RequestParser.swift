import VimanaCore

/// What one call to `RequestParser.next` found.
public enum ParseOutcome: Equatable {
    /// A complete command is ready: read it with `arguments(in:)`, then call
    /// `next` again. An empty inline line or `*0` yields no command.
    case command
    /// The buffer holds no complete command; read more bytes and call again.
    case needMore
    /// The input is malformed; reply with the error and close the connection.
    case error(ProtocolError)
}

/// An incremental parser of client requests: RESP multibulk (`*N\r\n$L\r\n…`)
/// and inline commands (a line of words with Redis's quoting rules).
///
/// Promises: resumable at any byte boundary without rescanning what it has
/// already accepted (bulk payloads are waited for by length, lines are
/// scanned once); arguments are offsets into the caller's buffer, so a
/// command costs no allocation; the limits (`maxBulk`, `maxInline`) bound
/// the memory any request can make the server hold.
///
/// The parser consumes from `buffer.readIndex` only when a command is
/// complete, so a partial command always starts at `readIndex`. When the
/// caller moves the unread bytes (compaction), it must call `rebase(by:)`
/// with the distance they moved.
///
/// Owns its argument table: `~Copyable`, so one value holds it, and
/// `deinit` frees it.
public struct RequestParser: ~Copyable {
    // MARK: - Limits

    /// Largest bulk length accepted (Redis's proto-max-bulk-len).
    public var maxBulk: Int
    /// Longest inline line, and longest `*`/`$` header line (Redis: 64 KiB).
    public var maxInline: Int

    // MARK: - State kept between calls

    /// Absolute index in the buffer of the next byte not yet parsed.
    @usableFromInline var position: Int = 0
    /// Elements still expected in the current multibulk; 0 when between commands.
    @usableFromInline var multibulkRemaining: Int = 0
    /// Length of the bulk being waited for, or -1 when its `$` header is next.
    @usableFromInline var bulkLength: Int = -1
    /// For inline commands: how far the search for `\n` has already looked.
    @usableFromInline var inlineScanned: Int = 0
    /// Arguments of the current command as (start, length) pairs.
    @usableFromInline var slots: UnsafeMutablePointer<Int>
    @usableFromInline var slotCapacity: Int
    public private(set) var argumentCount: Int = 0

    public init(maxBulk: Int = 1 << 20, maxInline: Int = 64 << 10) {
        self.maxBulk = maxBulk
        self.maxInline = maxInline
        slotCapacity = Self.initialSlots
        slots = UnsafeMutablePointer<Int>.allocate(capacity: 2 * slotCapacity)
    }

    deinit { slots.deallocate() }

    /// Bytes of the argument table: with the input buffer, what an
    /// unfinished command holds (16 bytes per argument, whatever its size,
    /// so a command of many empty arguments holds more here than it sent).
    public var argumentTableBytes: Int { 2 * MemoryLayout<Int>.stride * slotCapacity }

    /// Returns a table grown past `retainedSlots` to the allocator; call only
    /// between commands (no arguments in use), like the input buffer's shrink.
    public mutating func shrinkArguments() {
        guard slotCapacity > Self.retainedSlots, multibulkRemaining == 0 else { return }
        slots.deallocate()
        slotCapacity = Self.initialSlots
        slots = UnsafeMutablePointer<Int>.allocate(capacity: 2 * slotCapacity)
        argumentCount = 0
    }

    /// Slots allocated at first; a table larger than `retainedSlots` (16 KiB)
    /// is freed once its command is done.
    static let initialSlots = 16
    static let retainedSlots = 1024

    /// Forgets any partial command (after RESET or when a buffer is discarded).
    public mutating func reset() {
        position = 0
        multibulkRemaining = 0
        bulkLength = -1
        inlineScanned = 0
        argumentCount = 0
    }

    /// Adjusts saved offsets after the caller moved unread bytes `shift` bytes
    /// towards the start of the buffer.
    public mutating func rebase(by shift: Int) {
        guard shift != 0 else { return }
        position -= shift
        if inlineScanned > 0 { inlineScanned -= shift }
        var i = 0
        while i < argumentCount { slots[2 * i] -= shift; i += 1 }
    }

    /// The total buffer size the parser knows it will need for the command in
    /// progress (a bulk whose header arrived), so the caller can reserve it
    /// once instead of growing the buffer repeatedly. 0 when unknown.
    public func bytesWanted(readIndex: Int) -> Int {
        guard multibulkRemaining > 0, bulkLength >= 0 else { return 0 }
        return position - readIndex + bulkLength + 2
    }

    /// The arguments of the command just returned by `.command`.
    @inlinable @inline(__always)
    public func arguments(in buffer: ByteBuffer) -> Arguments {
        Arguments(base: buffer.base, slots: UnsafePointer(slots), count: argumentCount)
    }

    // MARK: - Parsing

    /// Parses the next command from `buffer`. On `.command` the command's bytes
    /// are consumed from the buffer (its arguments stay readable in place until
    /// the buffer is next written or compacted).
    public mutating func next(_ buffer: inout ByteBuffer) -> ParseOutcome {
        while true {
            if multibulkRemaining == 0 {
                // Between commands: everything before `position` is consumed.
                if position < buffer.readIndex { position = buffer.readIndex }
                if buffer.readIndex == buffer.writeIndex {
                    // Everything handled: start the next read at the front.
                    buffer.clear()
                    position = 0
                    return .needMore
                }
                argumentCount = 0
                if buffer.base[buffer.readIndex] == 42 {  // '*'
                    switch readMultibulkHeader(&buffer) {
                    case .command: continue  // *0 or *-1: an empty command, skipped as Redis does
                    case .needMore: if multibulkRemaining == 0 { return .needMore }  // else: header read, go on
                    case .error(let e): return .error(e)
                    }
                } else {
                    let outcome = readInline(&buffer)
                    if outcome == .command && argumentCount == 0 { continue }  // blank line
                    return outcome
                }
            }
            let outcome = readBulks(&buffer)
            return outcome
        }
    }

    /// Finds `\r` at or after `from`, within the header-line limit.
    /// Returns the index of `\r`, -1 when more bytes are needed, -2 when too long.
    @inline(__always)
    private func findHeaderEnd(_ buffer: borrowing ByteBuffer, from: Int) -> Int {
        // `from` is just past the `*` or `$`: the limit counts from that byte, as Redis.
        let lineStart = from - 1
        let end = buffer.writeIndex
        var i = from
        let base = buffer.base
        while i < end {
            if base[i] == 13 {
                // Redis requires the byte after '\r' to be present (it skips 2).
                return i + 1 < end ? i : -1
            }
            i &+= 1
        }
        return end - lineStart > maxInline ? -2 : -1
    }

    /// The common header: 1 to 18 digits (no sign, no leading zero unless
    /// "0") then CR and one more byte. Returns (value, index of CR), or nil
    /// when the header is anything else (incomplete, negative, malformed,
    /// huge) so the careful path can decide.
    @inline(__always)
    private static func quickLength(_ base: UnsafeMutablePointer<UInt8>, _ from: Int, _ end: Int) -> (Int, Int)? {
        var i = from
        guard i < end else { return nil }
        let first = base[i] &- 48
        guard first <= 9 else { return nil }
        var value = Int(first)
        i &+= 1
        if first == 0 {
            return i &+ 1 < end && base[i] == 13 ? (0, i) : nil
        }
        let limit = min(end, from &+ 18)
        while i < limit {
            let d = base[i] &- 48
            if d > 9 { break }
            value = value &* 10 &+ Int(d)
            i &+= 1
        }
        return i &+ 1 < end && base[i] == 13 ? (value, i) : nil
    }

    private mutating func readMultibulkHeader(_ buffer: inout ByteBuffer) -> ParseOutcome {
        let start = buffer.readIndex
        let count: Int
        let cr: Int
        if let (v, at) = Self.quickLength(buffer.base, start + 1, buffer.writeIndex) {
            count = v
            cr = at
        } else {
            cr = findHeaderEnd(buffer, from: start + 1)
            if cr == -2 { return .error(.tooBigMultibulkCountString) }
            if cr == -1 { return .needMore }
            guard let v = Decimal.parse(buffer.base + start + 1, cr - start - 1) else {
                return .error(.invalidMultibulkLength)
            }
            count = v
        }
        guard count <= Int(Int32.max) else { return .error(.invalidMultibulkLength) }
        position = cr + 2
        if count <= 0 {
            buffer.consume(position - start)
            position = buffer.readIndex
            return .command
        }
        multibulkRemaining = count
        bulkLength = -1
        // Preallocate up to 1024 slots only: a hostile `*2147483647` must not
        // make the server allocate gigabytes before any argument arrives.
        if count > slotCapacity { growSlots(to: min(count, Self.retainedSlots)) }
        return .needMore
    }

    private mutating func readBulks(_ buffer: inout ByteBuffer) -> ParseOutcome {
        // Work on locals and store back once: the compiler cannot prove that
        // writes through `slots` leave `self` alone.
        let base = buffer.base
        let end = buffer.writeIndex
        var position = self.position
        var bulkLength = self.bulkLength
        var remaining = multibulkRemaining
        var count = argumentCount
        var outcome = ParseOutcome.command
        while remaining > 0 {
            if bulkLength < 0 {
                if position >= end { outcome = .needMore; break }
                if base[position] != 36 {  // '$'
                    outcome = .error(.expectedDollar(base[position]))
                    break
                }
                if let (length, cr) = Self.quickLength(base, position + 1, end), length <= maxBulk {
                    bulkLength = length
                    position = cr &+ 2
                } else {
                    let cr = findHeaderEnd(buffer, from: position + 1)
                    if cr == -2 { outcome = .error(.tooBigBulkCountString); break }
                    if cr == -1 { outcome = .needMore; break }
                    guard let length = Decimal.parse(base + position + 1, cr - position - 1), length >= 0 else {
                        outcome = .error(.invalidBulkLength)
                        break
                    }
                    if length > maxBulk {
                        outcome = .error(.bulkOverLimit(length: length, limit: maxBulk))
                        break
                    }
                    bulkLength = length
                    position = cr + 2
                }
            }
            if end &- position < bulkLength &+ 2 { outcome = .needMore; break }
            if base[position &+ bulkLength] != 13 || base[position &+ bulkLength &+ 1] != 10 {
                outcome = .error(.expectedCRLF)
                break
            }
            if count == slotCapacity {
                argumentCount = count
                growSlots(to: slotCapacity * 2)
            }
            slots[2 &* count] = position
            slots[2 &* count &+ 1] = bulkLength
            count &+= 1
            position &+= bulkLength &+ 2
            bulkLength = -1
            remaining &-= 1
        }
        self.position = position
        self.bulkLength = bulkLength
        multibulkRemaining = remaining
        argumentCount = count
        if case .command = outcome { buffer.consumeKeepingIndices(upTo: position) }
        return outcome
    }

    private mutating func growSlots(to capacity: Int) {
        guard capacity > slotCapacity else { return }
        let fresh = UnsafeMutablePointer<Int>.allocate(capacity: 2 * capacity)
        fresh.update(from: slots, count: 2 * argumentCount)
        slots.deallocate()
        slots = fresh
        slotCapacity = capacity
    }

    // MARK: - Inline commands

    private mutating func readInline(_ buffer: inout ByteBuffer) -> ParseOutcome {
        let base = buffer.base
        let start = buffer.readIndex
        var i = max(inlineScanned, start)
        let end = buffer.writeIndex
        while i < end && base[i] != 10 { i &+= 1 }
        if i == end {
            inlineScanned = end
            if end - start > maxInline { return .error(.tooBigInlineRequest) }
            return .needMore
        }
        inlineScanned = 0
        let newline = i
        if newline - start > maxInline { return .error(.tooBigInlineRequest) }
        var lineEnd = newline
        if lineEnd > start && base[lineEnd - 1] == 13 { lineEnd -= 1 }
        guard splitInline(base, start, lineEnd) else { return .error(.unbalancedQuotes) }
        position = newline + 1
        buffer.consumeKeepingIndices(upTo: position)
        return .command
    }

    /// Splits `base[start..<end]` into arguments with Redis's `sdssplitargs`
    /// rules, unescaping in place (the unescaped form is never longer).
    /// Returns false on unbalanced quotes.
    private mutating func splitInline(_ base: UnsafeMutablePointer<UInt8>, _ start: Int, _ lineEnd: Int) -> Bool {
        // Redis splits a C string: a NUL byte ends the line.
        var end = start
        while end < lineEnd && base[end] != 0 { end += 1 }
        var p = start
        var out = start  // write cursor for unescaped bytes; out <= p always
        @inline(__always) func at(_ i: Int) -> UInt8 { i < end ? base[i] : 0 }
        while true {
            while p < end && isSpace(base[p]) { p += 1 }
            if p >= end { return true }
            var inDouble = false, inSingle = false, done = false
            let argStart = out
            while !done {
                let c = at(p)
                if inDouble {
                    if c == 92 && at(p + 1) == 120 && isHex(at(p + 2)) && isHex(at(p + 3)) {  // \xHH
                        base[out] = hexValue(at(p + 2)) << 4 | hexValue(at(p + 3))
                        out += 1
                        p += 3
                    } else if c == 92 && p + 1 < end {
                        p += 1
                        switch base[p] {
                        case 110: base[out] = 10   // \n
                        case 114: base[out] = 13   // \r
                        case 116: base[out] = 9    // \t
                        case 98: base[out] = 8     // \b
                        case 97: base[out] = 7     // \a
                        default: base[out] = base[p]
                        }
                        out += 1
                    } else if c == 34 {  // closing "
                        // The closing quote must be followed by a space or the end.
                        if p + 1 < end && !isSpace(base[p + 1]) { return false }
                        done = true
                    } else if p >= end {
                        return false
                    } else {
                        base[out] = c
                        out += 1
                    }
                } else if inSingle {
                    if c == 92 && at(p + 1) == 39 {  // \'
                        p += 1
                        base[out] = 39
                        out += 1
                    } else if c == 39 {
                        if p + 1 < end && !isSpace(base[p + 1]) { return false }
                        done = true
                    } else if p >= end {
                        return false
                    } else {
                        base[out] = c
                        out += 1
                    }
                } else {
                    switch c {
                    case 32, 10, 13, 9, 0: done = true  // 0: past the end
                    case 34: inDouble = true
                    case 39: inSingle = true
                    default:
                        base[out] = c
                        out += 1
                    }
                }
                if p < end { p += 1 }
            }
            if argumentCount == slotCapacity { growSlots(to: slotCapacity * 2) }
            slots[2 * argumentCount] = argStart
            slots[2 * argumentCount + 1] = out - argStart
            argumentCount += 1
        }
    }

    @inline(__always) private func isSpace(_ c: UInt8) -> Bool {
        c == 32 || (c >= 9 && c <= 13)
    }
    @inline(__always) private func isHex(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
    }
    @inline(__always) private func hexValue(_ c: UInt8) -> UInt8 {
        if c <= 57 { return c - 48 }
        return (c | 0x20) - 87
    }
}

extension ByteBuffer {
    /// Consumes up to absolute index `end` without resetting the indices to 0
    /// when empty: the arguments of the command just parsed still point into
    /// the buffer and must stay valid until the command has been handled.
    @inlinable @inline(__always)
    mutating func consumeKeepingIndices(upTo end: Int) {
        readIndex = end
    }
}
