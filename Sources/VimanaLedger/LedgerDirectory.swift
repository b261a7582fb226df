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

    /// Segment file names in sequence order.
    public static func segments(in directory: String) throws(LedgerIOError) -> [String] {
        try FileIO.list(directory).filter { firstSequence(ofSegment: $0) != nil }.sorted()
    }
}
