/// Names and listing of a ledger directory (Protocol/LEDGER.md §1).
public enum LedgerDirectory {
    /// `00000000000000000001.seg` for first sequence 1.
    public static func segmentName(_ firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    public static func indexName(forSegment name: String) -> String {
        String(name.dropLast(4)) + ".idx"
    }

    /// The first sequence a segment file name encodes, or nil if it is not one.
    public static func firstSequence(ofSegment name: String) -> UInt64? {
        guard name.count == 24, name.hasSuffix(".seg") else { return nil }
        let digits = name.prefix(20)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let first = UInt64(digits),
              first <= FrameHeader.maxSequence else { return nil }
        return first
    }

    /// True when a directory holding `names` is a ledger directory (perhaps
    /// with no records yet): it holds a segment file or the lock file.
    public static func isLedger(listing names: [String]) -> Bool {
        names.contains { $0 == LedgerLock.fileName || firstSequence(ofSegment: $0) != nil }
    }

    /// Segment file names in sequence order.
    public static func segments(in directory: String) throws(LedgerIOError) -> [String] {
        try FileIO.list(directory).filter { firstSequence(ofSegment: $0) != nil }.sorted()
    }
}

/// Sequences missing between two segments: `first` up to, not including, `next`.
public struct SequenceGap: Hashable, Sendable, CustomStringConvertible {
    public var first: UInt64
    public var next: UInt64
    public init(first: UInt64, next: UInt64) {
        self.first = first
        self.next = next
    }

    /// `sequence 21`, `sequences 21-30`, or `no sequence` when empty.
    public var description: String {
        next <= first ? "no sequence" : next - first == 1 ? "sequence \(first)" : "sequences \(first)-\(next - 1)"
    }
}

extension LedgerDirectory {
    /// Where `vimana ledger repair` keeps the bytes it removes (LEDGER.md §6).
    public static let damagedDirectory = "damaged"

    /// `EEEEEEEEEEEEEEEEEEEE-FFFFFFFFFFFFFFFFFFFF.<segment>.<offset>.damaged`:
    /// the bytes removed from `segment` at `offset`, which held the records
    /// with sequences `first` up to, not including, `next`.
    public static func damagedName(_ gap: SequenceGap, segment: String, offset: Int) -> String {
        "\(digits(gap.first))-\(digits(gap.next)).\(segment).\(offset).damaged"
    }

    /// The gaps a repair left, read from the names in `directory/damaged`
    /// (LEDGER.md §1): a gap between two segments is legitimate when one of
    /// them names it.
    public static func repairedGaps(in directory: String) -> Set<SequenceGap> {
        guard let names = try? FileIO.list(directory + "/" + damagedDirectory) else { return [] }
        var gaps: Set<SequenceGap> = []
        for name in names where name.hasSuffix(".damaged") {
            let bytes = Array(name.utf8)
            guard bytes.count > 42, bytes[20] == UInt8(ascii: "-"), bytes[41] == UInt8(ascii: "."),
                  let first = UInt64(String(decoding: bytes[0..<20], as: UTF8.self)),
                  let next = UInt64(String(decoding: bytes[21..<41], as: UTF8.self)),
                  bytes[0..<20].allSatisfy({ $0 >= 48 && $0 <= 57 }), bytes[21..<41].allSatisfy({ $0 >= 48 && $0 <= 57 })
            else { continue }
            gaps.insert(SequenceGap(first: first, next: next))
        }
        return gaps
    }

    private static func digits(_ n: UInt64) -> String { String(segmentName(n).dropLast(4)) }
}
