#if canImport(Glibc)
import Glibc
#endif

/// One thing `vimana ledger verify` found.
public struct OfflineFinding: Sendable, CustomStringConvertible {
    public enum Severity: Sendable {
        /// The segments do not hold what the format promises.
        case error
        /// An index file is wrong; harmless, the server rebuilds indexes.
        case warning
    }

    public var severity: Severity
    public var segment: String
    public var frame: Int?
    public var offset: Int?
    public var message: String

    /// `segment NAME: frame F at offset O: MESSAGE`, or `segment NAME: MESSAGE`
    /// for what belongs to no frame.
    public var description: String {
        guard let offset else { return "segment \(segment): \(message)" }
        return "segment \(segment): frame \(frame.map(String.init) ?? "?") at offset \(offset): \(message)"
    }
}

/// The outcome of checking a whole ledger directory.
public struct OfflineVerification: Sendable {
    public var segments = 0
    public var frames = 0
    /// Records in valid frames.
    public var records: UInt64 = 0
    public var findings: [OfflineFinding] = []
    /// Each segment's own frames and records, in the order checked.
    public var bySegment: [(name: String, frames: Int, records: UInt64)] = []

    public var errors: [OfflineFinding] { findings.filter { $0.severity == .error } }
    public var warnings: [OfflineFinding] { findings.filter { $0.severity == .warning } }
}

/// Checks every frame of every segment (Protocol/LEDGER.md §2–3), that
/// segments follow each other, that each topic's stream IDs increase in
/// sequence order, and that each index (§4) describes its segment.
public enum OfflineVerifier {

    public static func verify(directory: String) throws(LedgerError) -> OfflineVerification {
        let segments: [OfflineSegment]
        do throws(LedgerIOError) { segments = try OfflineSegment.list(directory) } catch { throw LedgerError("\(error)") }
        return try verify(segments, repaired: LedgerDirectory.repairedGaps(in: directory))
    }

    /// Checks `segments` of one directory, in sequence order (the last may be
    /// the active one), as `verify(directory:)` does; `repaired`: the gaps
    /// `vimana ledger repair` recorded (a warning, not an error). Also what
    /// LEDGER CHECK runs on a live ledger, each segment cut at what was written.
    public static func verify(_ segments: [OfflineSegment], repaired: Set<SequenceGap>) throws(LedgerError) -> OfflineVerification {
        let scanner: SegmentScanner
        do throws(ZlibError) { scanner = try SegmentScanner() } catch { throw LedgerError("zlib initialisation failed") }
        var result = OfflineVerification()
        var lastIDs: [[UInt8]: (id: StreamID, sequence: UInt64)] = [:]
        /// The previous segment's name and the sequence after its last record, when its end is known.
        var previous: (name: String, next: UInt64)?
        for segment in segments {
            result.segments += 1
            if let previous, segment.firstSequence != previous.next {
                let gap = SequenceGap(first: previous.next, next: segment.firstSequence)
                if segment.firstSequence > previous.next && repaired.contains(gap) {
                    result.findings.append(OfflineFinding(
                        severity: .warning, segment: segment.name,
                        message: "\(gap) lost to damage before it "
                            + "(vimana ledger repair moved their bytes to \(LedgerDirectory.damagedDirectory)/)"))
                } else {
                    let kind = segment.firstSequence > previous.next ? "sequence gap" : "sequence overlap"
                    result.findings.append(OfflineFinding(
                        severity: .error, segment: segment.name, frame: 0, offset: 0,
                        message: "\(kind): the segment starts at sequence \(segment.firstSequence), "
                            + "\(previous.name) ends before \(previous.next)"))
                }
            }
            let next = check(segment, scanner: scanner, lastIDs: &lastIDs, into: &result)
            previous = next.map { (segment.name, $0) }
        }
        return result
    }

    /// Checks one segment alone (an archived one: LEDGER VERIFY): every
    /// frame, its stream IDs among themselves, and its index.
    public static func verify(segment: OfflineSegment) throws(LedgerError) -> OfflineVerification {
        let scanner: SegmentScanner
        do throws(ZlibError) { scanner = try SegmentScanner() } catch { throw LedgerError("zlib initialisation failed") }
        var result = OfflineVerification()
        var lastIDs: [[UInt8]: (id: StreamID, sequence: UInt64)] = [:]
        result.segments = 1
        _ = check(segment, scanner: scanner, lastIDs: &lastIDs, into: &result)
        return result
    }

    /// Checks one segment, past any damage; returns the sequence after its
    /// last record when its end is known (no damage runs to its end).
    private static func check(_ segment: OfflineSegment, scanner: SegmentScanner,
                              lastIDs: inout [[UInt8]: (id: StreamID, sequence: UInt64)],
                              into result: inout OfflineVerification) -> UInt64? {
        let fd: Int32
        do throws(LedgerIOError) { fd = try FileIO.open(segment.path, O_RDONLY) } catch {
            result.findings.append(OfflineFinding(severity: .error, segment: segment.name, message: "\(error)"))
            return nil
        }
        defer { close(fd) }
        let size = min(FileIO.size(fd), segment.size)
        var frames = SegmentFrames()
        let covered = segment.index.map { Int($0.coveredBytes) } ?? 0
        var streamIDFindings = 0
        let survey = scanner.survey(fd: fd, path: segment.path, size: size, sequence: segment.firstSequence,
                                    active: segment.active) { location, records in
            frames.add(location)
            for r in records ?? [] {
                if location.offset + location.header.frameLength <= covered {
                    frames.coveredTopics[r.topic, default: 0] += 1
                }
                if let before = lastIDs[r.topic], r.id <= before.id {
                    streamIDFindings += 1
                    if streamIDFindings <= LedgerLimits.streamIDFindingsPerSegment {
                        result.findings.append(OfflineFinding(
                            severity: .error, segment: segment.name, frame: location.frame, offset: location.offset,
                            message: "stream ID \(r.id) of topic \(quoted(r.topic)) (sequence \(r.sequence)) "
                                + "is not after \(before.id) (sequence \(before.sequence))"))
                    }
                }
                lastIDs[r.topic] = (r.id, r.sequence)
                // A DEL starts the topic afresh, IDs included; an XSETID sets the ID
                // the next entry must be above, lower than a removed entry's too (LEDGER.md §9).
                if r.topic == Ledger.removalsTopic, let deleted = Self.deletedTopic(r) { lastIDs[deleted] = nil }
                if r.topic == Ledger.removalsTopic, let (topic, id) = Self.setID(r) { lastIDs[topic] = (id, r.sequence) }
            }
        }
        if streamIDFindings > LedgerLimits.streamIDFindingsPerSegment {
            result.findings.append(OfflineFinding(
                severity: .error, segment: segment.name,
                message: "\(streamIDFindings - LedgerLimits.streamIDFindingsPerSegment) more stream IDs out of order"))
        }
        result.frames += survey.frames
        result.records += survey.records
        result.bySegment.append((segment.name, survey.frames, survey.records))
        for damage in survey.damage {
            result.findings.append(OfflineFinding(severity: .error, segment: segment.name, frame: damage.frame,
                                                  offset: damage.offset, message: describe(damage, active: segment.active)))
        }
        checkIndex(segment, frames: frames, damageAt: survey.damage.first?.offset, into: &result)
        if let last = survey.damage.last, last.resumeSequence == nil { return nil }
        return survey.nextSequence
    }

    /// What a damaged stretch is and what the server does with it (LEDGER.md §5).
    static func describe(_ d: SegmentDamage, active: Bool) -> String {
        let bytes = d.end - d.offset
        switch d.kind {
        case .tornTail(let records, let exact):
            return "torn tail: \(d.error) (the server truncates these \(bytes) bytes on start, dropping "
                + "\(records)\(exact ? "" : " or more") records)"
        case .followed(let next):
            let lost = "\(SequenceGap(first: d.firstSequence, next: next)) in the \(bytes) damaged bytes"
            return "\(d.error); \(d.framesAfter) valid frames (\(d.recordsAfter) records) follow, so this is corruption, "
                + "not a torn tail: \(lost); " + (active ? "the server refuses to start" : "reads across it answer an error")
                + " (run vimana ledger repair)"
        case .trailing(let whole?) where active:
            return "\(d.error); the frame was written whole (\(whole) records) but is damaged, so this is corruption, "
                + "not a torn tail: the server refuses to start (run vimana ledger repair)"
        case .trailing:
            return "\(d.error) (the server does not serve the \(bytes) bytes from here; run vimana ledger repair)"
        }
    }

    // MARK: - Index files

    /// Where a segment's valid frames start and end, and the topic counts of
    /// the records an index covers.
    struct SegmentFrames {
        var starts: [Int: UInt64] = [:]
        var ends: [Int: UInt64] = [:]
        var coveredTopics: [[UInt8]: UInt64] = [:]

        mutating func add(_ location: FrameLocation) {
            starts[location.offset] = location.header.firstSequence
            ends[location.offset + location.header.frameLength] = location.header.nextSequence
        }
    }

    private static func checkIndex(_ segment: OfflineSegment, frames: SegmentFrames, damageAt: Int?,
                                   into result: inout OfflineVerification) {
        let name = LedgerDirectory.indexName(forSegment: segment.name)
        func warn(_ message: String) {
            result.findings.append(OfflineFinding(severity: .warning, segment: segment.name,
                                                  message: "index \(name): \(message)"))
        }
        switch segment.indexState {
        case .missing:
            // The active segment has none until its first checkpoint.
            if !segment.active && !segment.indexMayLag { warn("missing (the server rebuilds it on start)") }
            return
        case .corrupt:
            warn("corrupt: bad CRC or not a version-1 index (the server ignores it and rebuilds it)")
            return
        case .stale(let why):
            warn("stale: \(why) (the server ignores it and rebuilds it)")
        case .valid:
            break
        }
        guard let index = segment.index, index.firstSequence == segment.firstSequence,
              index.coveredBytes <= UInt64(segment.size) else { return }
        let covered = Int(index.coveredBytes)
        if let damageAt, covered > damageAt {
            warn("covers \(covered) bytes, past the invalid frame at offset \(damageAt)")
            return
        }
        if covered == 0 {
            if index.nextSequence != segment.firstSequence || !index.entries.isEmpty || !index.topics.isEmpty {
                warn("covers no bytes but describes records")
            }
            return
        }
        guard let next = frames.ends[covered] else {
            warn("covers \(covered) bytes, which is not the end of a valid frame")
            return
        }
        if index.nextSequence != next {
            warn("next sequence \(index.nextSequence), the frames it covers end before \(next)")
        }
        for (k, entry) in index.entries.enumerated() {
            let offset = Int(clamping: entry.offset)
            if offset >= covered {
                warn("entry \(k): offset \(entry.offset) is beyond the \(covered) covered bytes")
            } else if let first = frames.starts[offset] {
                if first != entry.firstSequence {
                    warn("entry \(k): the frame at offset \(offset) starts at sequence \(first), the index says \(entry.firstSequence)")
                }
            } else {
                warn("entry \(k): offset \(offset) is not the start of a frame")
            }
        }
        if index.entries.first?.offset != 0 { warn("no entry for the first frame") }
        var differences = 0
        let names = Set(index.topics.keys).union(frames.coveredTopics.keys).sorted { $0.lexicographicallyPrecedes($1) }
        for topic in names {
            let said = index.topics[topic]?.count ?? 0, found = frames.coveredTopics[topic] ?? 0
            guard said != found else { continue }
            differences += 1
            if differences <= LedgerLimits.topicFindingsPerIndex {
                warn("topic \(quoted(topic)): the index counts \(said) records, the segment has \(found)")
            }
        }
        if differences > LedgerLimits.topicFindingsPerIndex {
            warn("\(differences - LedgerLimits.topicFindingsPerIndex) more topic counts differ")
        }
        if segment.active && index.sealed { warn("marked sealed, but this is the active (last) segment") }
    }

    /// A topic for a message: as is when printable ASCII, else with `\xHH` escapes, quoted.
    static func quoted(_ bytes: [UInt8]) -> String {
        var out = "\""
        for b in bytes {
            switch b {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out + "\""
    }

    /// The topic a `del` marker deleted (LEDGER.md §9), nil for any other record.
    /// The topic and last ID of an XSETID's marker (`op` `setid`).
    static func setID(_ marker: LedgerRecord) -> ([UInt8], StreamID)? {
        guard marker.fields.contains(where: { $0.name == Array("op".utf8) && $0.value == Array("setid".utf8) }),
              let topic = marker.fields.first(where: { $0.name == Array("topic".utf8) })?.value,
              let id = marker.fields.first(where: { $0.name == Array("last-id".utf8) }).flatMap({ StreamID.parse(bytes: $0.value) })
        else { return nil }
        return (topic, id)
    }

    static func deletedTopic(_ marker: LedgerRecord) -> [UInt8]? {
        guard marker.fields.contains(where: { $0.name == Array("op".utf8) && $0.value == Array("del".utf8) }) else { return nil }
        return marker.fields.first { $0.name == Array("topic".utf8) }?.value
    }

}
