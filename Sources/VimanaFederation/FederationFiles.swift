import VimanaCore
import VimanaLedger
#if canImport(Glibc)
import Glibc
#endif

/// Where a remote topic's reading stands: the last cluster ID read and,
/// for each origin, the highest origin sequence this kernel holds.
public struct TopicCursor: Sendable, Equatable {
    public var lastID: [UInt8] = Array("0-0".utf8)
    public var high: [[UInt8]: UInt64] = [:]
    public init() {}
}

/// The reader's state as of a ledger sequence: every record with an origin
/// below `asOf` is counted in `topics`; those after it are found at the
/// next start by reading the ledger from `asOf` (Protocol/FEDERATION.md §5).
public struct ImportState: Sendable, Equatable {
    public var asOf: UInt64 = 1
    public var topics: [[UInt8]: TopicCursor] = [:]
    public init() {}

    /// Counts a record held in the ledger (read back at start).
    mutating func hold(topic: [UInt8], origin: [UInt8], sequence: UInt64) {
        if topics[topic, default: TopicCursor()].high[origin, default: 0] < sequence {
            topics[topic, default: TopicCursor()].high[origin] = sequence
        }
    }
}

/// The two cursor files in `<ledger dir>/federation/` (Protocol/FEDERATION.md
/// §5): written to a temporary file, fsynced, renamed. Both are hints for
/// a fast start; a missing or unreadable one costs a longer start, never
/// a lost or doubled entry.
struct FederationFiles {
    let directory: String
    var mirrorPath: String { directory + "/mirror" }
    var identityPath: String { directory + "/identity" }
    var importPath: String { directory + "/import" }

    init(ledgerDirectory: String) { directory = ledgerDirectory + "/federation" }

    func prepare() throws(LedgerIOError) { try FileIO.makeDirectories(directory) }

    /// The mirror's cursor, or nil when the file is missing or not one decimal and a newline.
    func readMirror() -> UInt64? {
        guard let text = FileIO.readSmallFile(mirrorPath), text.hasSuffix("\n") else { return nil }
        return FederatedEntry.parseUnsigned(Array(text.utf8.dropLast()))
    }

    func writeMirror(_ cursor: UInt64) throws(LedgerIOError) {
        try replace(mirrorPath, with: Array("\(cursor)\n".utf8))
    }

    /// Writes `bytes` to `path` through a fsynced temporary file and a rename.
    private func replace(_ path: String, with bytes: [UInt8]) throws(LedgerIOError) {
        let failure: LedgerIOError? = bytes.withUnsafeBytes { b in
            do throws(LedgerIOError) {
                try FileIO.replace(path, with: b, durable: true, directory: directory)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// This ledger's identity (Protocol/FEDERATION.md §1, `P:nodes`): 32
    /// random hex digits made the first time, then read back; nil when it
    /// can be neither read nor made.
    func identity() -> String? {
        if let text = FileIO.readSmallFile(identityPath), text.hasSuffix("\n") {
            let id = String(text.dropLast())
            if id.utf8.count == 32, id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) { return id }
        }
        var id = ""
        for _ in 0..<4 { id += String(String(UInt32.random(in: 0...UInt32.max), radix: 16).leftPadded(to: 8)) }
        guard (try? replace(identityPath, with: Array((id + "\n").utf8))) != nil else { return nil }
        return id
    }

    // MARK: - The reader's file

    /// `as-of <L>\n`, then per topic `<length> <topic> <last id>` and ` <node>=<seq>` per origin, `\n`.
    static func encode(_ state: ImportState) -> [UInt8] {
        var out = Array("as-of \(state.asOf)\n".utf8)
        for (topic, cursor) in state.topics.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            out += Array("\(topic.count) ".utf8) + topic + [UInt8(ascii: " ")] + cursor.lastID
            for (origin, seq) in cursor.high.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                out += [UInt8(ascii: " ")] + origin + Array("=\(seq)".utf8)
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// The state in `bytes`, or nil when anything in it is not as `encode` writes it.
    static func decode(_ bytes: [UInt8]) -> ImportState? {
        var state = ImportState()
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
        guard bytes.last == UInt8(ascii: "\n"), let first = lines.popFirst(), first.starts(with: Array("as-of ".utf8)),
              let asOf = FederatedEntry.parseUnsigned(Array(first.dropFirst(6))) else { return nil }
        state.asOf = asOf
        // Topics may hold newlines: read by length from the bytes after the first line.
        var i = first.count + 1
        let end = bytes.count
        while i < end {
            guard let space = bytes[i...].firstIndex(of: UInt8(ascii: " ")),
                  let length = FederatedEntry.parseUnsigned(Array(bytes[i..<space])),
                  length <= UInt64(end - space - 1) else { return nil }
            let topicStart = space + 1
            let topicEnd = topicStart + Int(length)
            guard topicEnd < end, bytes[topicEnd] == UInt8(ascii: " "),
                  let newline = bytes[(topicEnd + 1)...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let words = bytes[(topicEnd + 1)..<newline].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard let id = words.first, !id.isEmpty else { return nil }
            var cursor = TopicCursor()
            cursor.lastID = Array(id)
            for word in words.dropFirst() {
                guard let eq = word.lastIndex(of: UInt8(ascii: "=")),
                      let seq = FederatedEntry.parseUnsigned(Array(word[(eq + 1)...])) else { return nil }
                cursor.high[Array(word[word.startIndex..<eq])] = seq
            }
            state.topics[Array(bytes[topicStart..<topicEnd])] = cursor
            i = newline + 1
        }
        return state
    }

    func readImport() -> ImportState? {
        let fd = open(importPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = FileIO.size(fd)
        guard size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let n = bytes.withUnsafeMutableBytes { b in b.baseAddress.map { FileIO.pread(fd, $0, size, at: 0) } ?? 0 }
        guard n == size else { return nil }
        return Self.decode(bytes)
    }

    func writeImport(_ state: ImportState) throws(LedgerIOError) {
        try replace(importPath, with: Self.encode(state))
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
