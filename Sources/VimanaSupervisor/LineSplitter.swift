// Splits a child's output stream into lines, bounded in memory.

/// Bytes in, whole lines out. A partial last line is kept until its newline
/// (or `finish` at EOF); a line longer than `SupervisorLimits.maxLine` is cut there, emitted at
/// once, and the rest of it up to the next newline is dropped, so a child that
/// writes megabytes without a newline costs at most `SupervisorLimits.maxLine` bytes here.
struct LineSplitter {
    private var partial: [UInt8] = []
    /// After a cut: skipping the rest of an overlong line.
    private var discarding = false

    /// Feeds bytes; calls `emit(line, truncated)` for each completed line,
    /// without its newline (and without a trailing `\r`).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (String, Bool) -> Void) {
        var start = 0
        let count = bytes.count
        while start < count {
            var end = start
            while end < count && bytes[end] != 0x0A { end += 1 }
            let hasNewline = end < count
            if discarding {
                if hasNewline { discarding = false }
            } else {
                let room = SupervisorLimits.maxLine - partial.count
                let length = end - start
                partial.append(contentsOf: bytes[start..<start + min(length, room)])
                if length > room {
                    cutAtCharacterBoundary(firstDropped: bytes[start + room])
                    emit(String(decoding: partial, as: UTF8.self), true)
                    partial.removeAll(keepingCapacity: true)
                    discarding = !hasNewline
                } else if hasNewline {
                    emitLine(emit)
                }
            }
            start = end + 1
        }
    }

    /// At EOF: emits a partial last line, if any.
    mutating func finish(_ emit: (String, Bool) -> Void) {
        if !discarding && !partial.isEmpty { emitLine(emit) }
        partial.removeAll()
        discarding = false
    }

    private mutating func emitLine(_ emit: (String, Bool) -> Void) {
        if partial.last == 0x0D { partial.removeLast() }
        emit(String(decoding: partial, as: UTF8.self), false)
        partial.removeAll(keepingCapacity: true)
    }

    /// Drops a multi-byte UTF-8 character split by the cut, so the log gets
    /// a shorter line rather than a replacement character.
    private mutating func cutAtCharacterBoundary(firstDropped: UInt8) {
        guard firstDropped & 0xC0 == 0x80 else { return }
        while let last = partial.last, last & 0xC0 == 0x80 { partial.removeLast() }
        if !partial.isEmpty { partial.removeLast() }
    }
}
