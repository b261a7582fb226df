import VimanaAgentKit
import VimanaRESP

// archivist: the ledger's housekeeper (docs/SYSTEM-AGENTS.md). Each action
// but export is one kernel command LEDGER … (Protocol/PROTOCOL.md §6),
// sent through the kit's reads as the caller could send it
// (`KernelRead.command(_:asIf:)`): a caller may ask archivist only for what
// the kernel would let it do itself. export reads a topic with XRANGE (as the
// caller may) and writes a compressed file (`ExportFile`).

/// archivist's limits, each with its reason.
public enum ArchivistLimits {
    /// export's `limit` when absent, and its largest: one XRANGE page read
    /// through the kit's reads; a file of up to 10,000 entries is written in
    /// one piece in memory. A longer range is exported in several files,
    /// each call resuming at the previous reply's `next`.
    public static let exportDefault = 1000
    public static let exportMax = 10_000
    /// An export file name: short enough for any file system.
    public static let fileNameBytes = 128
}

/// What archivist did, rebuilt from `events.archivist`.
public struct ArchivistState: Sendable, Equatable, Codable {
    /// Segments sealed at a caller's request, in order.
    public var sealed: [String] = []
    /// Segments retired by archive_now, in order.
    public var archived: [String] = []
    /// Restored segments and their copies' paths.
    public var restored: [String: String] = [:]
    /// Export files written, in order.
    public var exported: [String] = []

    public init() {}
}

/// Writes an export file; `ArchivistFiles` on disk, a dictionary in unit tests.
public protocol ExportSink: Sendable {
    /// Writes `bytes` as the new file `name` of the output directory and
    /// returns its path; a file already there with the same bytes is the same
    /// export (a redelivered task) and its path is returned; with other bytes
    /// it is refused (`ExportSinkError.exists`): nothing is overwritten.
    func write(_ name: String, _ bytes: [UInt8]) -> Result<String, ExportSinkError>
}

public enum ExportSinkError: Error, Equatable {
    case exists(String)
    case failed(String)
}

public struct ArchivistLogic: AgentLogic {
    public let sink: any ExportSink

    public init(sink: any ExportSink) { self.sink = sink }

    /// Its actions, as a caller sends them (scribe lists them in AGENTS.md).
    public static let actions = ["seal_now", "archive_now", "list_archives", "verify_archive", "restore", "export"]

    public var initialState: ArchivistState { ArchivistState() }

    public func apply(_ event: AgentEvent, to state: inout ArchivistState) {
        switch event.type {
        case "sealed": if let s = event.data["segment"] { state.sealed.append(s) }
        case "archived": state.archived += (event.data["segments"] ?? "").split(separator: ",").map(String.init)
        case "restored": if let s = event.data["segment"], let p = event.data["path"] { state.restored[s] = p }
        case "exported": if let p = event.data["path"] { state.exported.append(p) }
        default: break
        }
    }

    public func handle(_ request: AgentRequest, caller: String, state: ArchivistState) -> AgentOutcome {
        handle(request, caller: caller, state: state, kernel: KernelView())
    }

    // MARK: - Reads, then answers

    /// The kernel command each action is, as the caller.
    func command(_ request: AgentRequest) -> [String]? {
        switch request.action {
        case "seal_now": ["LEDGER", "SEAL"]
        case "archive_now": ["LEDGER", "RETAIN"]
        case "list_archives": ["LEDGER", "ARCHIVES"]
        case "verify_archive": (try? segmentArgument(request.args)).map { ["LEDGER", "VERIFY", $0] }
        case "restore": (try? segmentArgument(request.args)).map { ["LEDGER", "RESTORE", $0] }
        default: nil
        }
    }

    public func reads(for request: AgentRequest, caller: String, state: ArchivistState) -> [KernelRead] {
        if request.action == "export" {
            guard let e = try? exportArguments(request.args) else { return [] }
            return exportReads(e, caller: caller)
        }
        guard (try? Arguments.only(request.action == "verify_archive" || request.action == "restore" ? ["segment"] : [],
                              request.args)) != nil,
              let command = command(request) else { return [] }
        return [.command(command, asIf: caller)]
    }

    public func handle(_ request: AgentRequest, caller: String, state: ArchivistState, kernel: KernelView) -> AgentOutcome {
        do throws(Refusal) {
            switch request.action {
            case "seal_now":
                try Arguments.only([], request.args)
                let name = try Self.bulk(try reply(request, caller, kernel))
                return .ok(["segment": .string(name)], events: [AgentEvent("sealed", ["segment": name])])
            case "archive_now":
                try Arguments.only([], request.args)
                guard let items = try reply(request, caller, kernel).elements else { throw Self.odd }
                var names: [String] = []
                for item in items { names.append(try Self.bulk(item)) }
                let events = names.isEmpty ? [] : [AgentEvent("archived", ["segments": names.joined(separator: ",")])]
                return .ok(["segments": .array(names.map(JSON.string))], events: events)
            case "list_archives":
                try Arguments.only([], request.args)
                guard let list = try reply(request, caller, kernel).elements else { throw Self.odd }
                return .ok(["archives": .array(list.map { Self.object($0) })])
            case "verify_archive":
                try Arguments.only(["segment"], request.args)
                _ = try segmentArgument(request.args)
                var result = Self.object(try reply(request, caller, kernel))
                let errors = result["errors"].flatMap { if case .array(let a) = $0 { a } else { nil } } ?? []
                if case .object(var o) = result {
                    o["whole"] = .bool(errors.isEmpty)
                    result = .object(o)
                }
                return .ok(result)
            case "restore":
                try Arguments.only(["segment"], request.args)
                let segment = try segmentArgument(request.args)
                let path = try Self.bulk(try reply(request, caller, kernel))
                return .ok(["segment": .string(segment), "path": .string(path)],
                           events: [AgentEvent("restored", ["segment": segment, "path": path])])
            case "export":
                return try export(try exportArguments(request.args), request, caller: caller, kernel)
            default:
                return .error(AgentErrorCode.unknownAction, "unknown action '\(request.action)' (\(Self.actions.joined(separator: ", ")))")
            }
        } catch {
            return .error(error.code, error.message)
        }
    }

    /// The kernel's reply to the action's command: a refusal of the caller is
    /// `forbidden`, another error reply the kernel's own code.
    func reply(_ request: AgentRequest, _ caller: String, _ kernel: KernelView) throws(Refusal) -> RESPReply {
        guard let command = command(request) else { throw Refusal("internal", "no command for \(request.action)") }
        return try Self.reply(kernel, .command(command, asIf: caller))
    }

    static func reply(_ kernel: KernelView, _ read: KernelRead) throws(Refusal) -> RESPReply {
        guard let r = kernel.reply(read) else {
            throw Refusal("unavailable", "no answer to \(read.description) from the kernel")
        }
        if let m = kernel.error(read) { throw refusal(m, read) }
        return RESPReply(r)
    }

    /// An error reply as archivist's error: `forbidden` for a refused caller,
    /// `empty`, `not_found`, `exists`, `no_archive` for the kernel's LEDGER errors.
    static func refusal(_ message: String, _ read: KernelRead) -> Refusal {
        if message.hasPrefix("NOPERM") { return Refusal(AgentErrorCode.forbidden, "the caller may not run \(read.description): \(message)") }
        let text = message.hasPrefix("ERR ") ? String(message.dropFirst(4)) : message
        let code = message.contains("active segment is empty") ? "empty"
            : message.contains("no archived segment") ? "not_found"
            : message.contains("already restored") ? "exists"
            : message.contains("has no archive") ? "no_archive"
            : "unavailable"
        return Refusal(code, text)
    }

    // MARK: - export

    struct ExportArguments: Equatable {
        var topic: String
        var from: StreamPosition
        var to: StreamPosition
        var limit: Int
        var file: String?
    }

    func exportArguments(_ args: [String: JSON]) throws(Refusal) -> ExportArguments {
        try Arguments.only(["topic", "from", "to", "limit", "file"], args)
        guard let topic = args["topic"]?.string, !topic.isEmpty else {
            throw Refusal(AgentErrorCode.badArgument, "topic must be a non-empty string")
        }
        let from = try OracleLogic.position(args["from"], "from", end: false)
        let to = try OracleLogic.position(args["to"], "to", end: true)
        guard from <= to else { throw Refusal(AgentErrorCode.badArgument, "from must not be after to") }
        var limit = ArchivistLimits.exportDefault
        if let v = args["limit"] {
            guard let n = v.int, n >= 1, n <= Int64(ArchivistLimits.exportMax) else {
                throw Refusal(AgentErrorCode.badArgument, "limit must be an integer from 1 to \(ArchivistLimits.exportMax)")
            }
            limit = Int(n)
        }
        var file: String?
        if let v = args["file"] {
            guard let name = v.string, Self.isFileName(name) else {
                throw Refusal(AgentErrorCode.badArgument, "file must be a file name: 1 to \(ArchivistLimits.fileNameBytes)"
                                       + " characters from A-Z, a-z, 0-9, '_', '.', '-', not starting with '.'")
            }
            file = name
        }
        return ExportArguments(topic: topic, from: from, to: to, limit: limit, file: file)
    }

    /// The range, one entry more than the limit (to know whether more
    /// follow), as the caller may read it; and whether the caller may make
    /// the server write files (as LEDGER RESTORE does).
    func exportReads(_ e: ExportArguments, caller: String) -> [KernelRead] {
        [Self.mayWriteFiles(caller), .command(["XRANGE", e.topic, e.from.start, e.to.end, "COUNT", String(e.limit + 1)], asIf: caller)]
    }

    static func mayWriteFiles(_ caller: String) -> KernelRead {
        .command(["ACL", "DRYRUN", caller, "LEDGER", "RESTORE", "00000000000000000001.seg"])
    }

    func export(_ e: ExportArguments, _ request: AgentRequest, caller: String, _ kernel: KernelView) throws(Refusal) -> AgentOutcome {
        let reads = exportReads(e, caller: caller)
        let may = try Self.reply(kernel, reads[0])
        guard case .simple("OK") = may else {
            throw Refusal(AgentErrorCode.forbidden, "export writes a file where the server runs: only a caller"
                                   + " that may run LEDGER RESTORE may ask it (\(may.text ?? "refused"))")
        }
        if let m = kernel.error(reads[1]) { throw Self.refusal(m, reads[1]) }
        guard let all = kernel.entries(reads[1]) else {
            throw Refusal("unavailable", "no answer to \(reads[1].description) from the kernel")
        }
        let entries = Array(all.prefix(e.limit))
        let next: String? = all.count > e.limit ? all[e.limit].id : nil
        let bytes = ExportFile.encode(topic: e.topic, entries: entries)
        guard let compressed = Deflate.compress(bytes) else { throw Refusal("internal", "zlib failed to compress the export") }
        let name = e.file ?? "export-\(request.entryID).vxz"
        let path: String
        switch sink.write(name, compressed) {
        case .success(let p): path = p
        case .failure(.exists(let p)): throw Refusal("exists", "\(p) exists with other content: choose another file")
        case .failure(.failed(let m)): throw Refusal("unavailable", "cannot write the export: \(m)")
        }
        let first = entries.first.map { JSON.string($0.id) } ?? .null, last = entries.last.map { JSON.string($0.id) } ?? .null
        return .ok(["topic": .string(e.topic), "path": .string(path), "entries": .int(Int64(entries.count)),
                    "first": first, "last": last, "next": next.map(JSON.string) ?? .null, "bytes": .int(Int64(compressed.count))],
                   events: [AgentEvent("exported", ["topic": e.topic, "path": path, "entries": String(entries.count),
                                                    "first": entries.first?.id ?? "", "last": entries.last?.id ?? ""])])
    }

    static func isFileName(_ s: String) -> Bool {
        guard let first = s.utf8.first, first != UInt8(ascii: "."), s.utf8.count <= ArchivistLimits.fileNameBytes else { return false }
        return s.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 46 || $0 == 45 }
    }

    // MARK: - Arguments and replies

    /// `segment`: a segment file name (20 digits and `.seg`).
    func segmentArgument(_ args: [String: JSON]) throws(Refusal) -> String {
        guard let s = args["segment"]?.string, s.utf8.count == 24, s.hasSuffix(".seg"),
              s.utf8.prefix(20).allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw Refusal(AgentErrorCode.badArgument, "segment must be a segment file name: 20 digits and .seg, as list_archives names them")
        }
        return s
    }

    static let odd = Refusal("unavailable", "an unexpected reply from the kernel")

    static func bulk(_ r: RESPReply) throws(Refusal) -> String {
        guard let t = r.text else { throw odd }
        return t
    }

    /// A map reply (RESP3 map or RESP2 flat array) as a JSON object: integers
    /// as numbers, arrays of texts as arrays, keys with `-` as `_`.
    static func object(_ r: RESPReply) -> JSON {
        var o: [String: JSON] = [:]
        let flat = r.pairs
        for (k, v) in flat { o[k.replacingOccurrences(of: "-", with: "_")] = json(v) }
        return .object(o)
    }

    static func json(_ r: RESPReply) -> JSON {
        switch r {
        case .integer(let n): .int(n)
        case .simple(let s), .bulk(let s): .string(s)
        case .array(let a): .array(a.map(json))
        case .null, .other: .null
        }
    }
}
