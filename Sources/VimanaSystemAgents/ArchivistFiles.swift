import Foundation
import CZlib
import VimanaAgentKit
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// A kernel reply as archivist reads it: texts, integers, arrays (a RESP3
/// map as its flat key/value array, as RESP2 sends it).
indirect enum RESPReply: Equatable {
    case simple(String)
    case bulk(String)
    case integer(Int64)
    case array([RESPReply])
    case null
    case other

    init(_ v: RESPValue) {
        switch v {
        case .simpleString(let s): self = .simple(s)
        case .bulkString(let b), .verbatim(_, let b): self = .bulk(String(decoding: b, as: UTF8.self))
        case .integer(let n): self = .integer(Int64(n))
        case .array(let a), .set(let a), .push(let a): self = .array(a.map(RESPReply.init))
        case .map(let m): self = .array(m.flatMap { [RESPReply($0.0), RESPReply($0.1)] })
        case .null: self = .null
        default: self = .other
        }
    }

    var text: String? {
        switch self {
        case .simple(let s), .bulk(let s): s
        default: nil
        }
    }

    var elements: [RESPReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// A flat key/value array's pairs (keys as text).
    var pairs: [(String, RESPReply)] {
        let a = elements ?? []
        var out: [(String, RESPReply)] = []
        var i = 0
        while i + 1 < a.count {
            out.append((a[i].text ?? "", a[i + 1]))
            i += 2
        }
        return out
    }
}

/// An export file (docs/SYSTEM-AGENTS.md, archivist, "The export file"):
/// one zlib stream (RFC 1950) whose content is UTF-8 JSON lines: a header
/// line, then one line per entry, each ending in `\n`.
public enum ExportFile {
    public static let format = "vimana-export"
    public static let version = 1

    /// The uncompressed content.
    public static func encode(topic: String, entries: [StreamEntry]) -> [UInt8] {
        let header: JSON = ["format": .string(format), "version": .int(Int64(version)), "topic": .string(topic),
                            "entries": .int(Int64(entries.count)),
                            "first": entries.first.map { .string($0.id) } ?? .null,
                            "last": entries.last.map { .string($0.id) } ?? .null]
        var out = Array(header.text.utf8)
        out.append(10)
        for e in entries {
            let fields = e.fields.filter { $0.0 != "_publisher" || e.publisher == nil }
            let line: JSON = ["id": .string(e.id),
                              "fields": .array(fields.map { .array([.string($0.0), .string($0.1)]) }),
                              "publisher": e.publisher.map(JSON.string) ?? .null]
            out += Array(line.text.utf8)
            out.append(10)
        }
        return out
    }
}

/// zlib's one-shot compression (RFC 1950, level 6).
enum Deflate {
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let rc = out.withUnsafeMutableBufferPointer { o in
            input.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &bound, i.baseAddress, uLong(i.count), 6)
            }
        }
        guard rc == Z_OK else { return nil }
        return Array(out.prefix(Int(bound)))
    }

    /// For tests and readers: the content of a zlib stream.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) -> [UInt8]? {
        var size = max(1024, input.count * 4)
        while size <= limit {
            var length = uLong(size)
            var out = [UInt8](repeating: 0, count: size)
            let rc = out.withUnsafeMutableBufferPointer { o in
                input.withUnsafeBufferPointer { i in uncompress(o.baseAddress, &length, i.baseAddress, uLong(i.count)) }
            }
            if rc == Z_OK { return Array(out.prefix(Int(length))) }
            guard rc == Z_BUF_ERROR else { return nil }
            size *= 4
        }
        return nil
    }
}

/// Export files in a directory: each written to `<name>.tmp`, fsynced,
/// then linked to its name (link(2) never replaces a file).
public struct ArchivistFiles: ExportSink {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func write(_ name: String, _ bytes: [UInt8]) -> Result<String, ExportSinkError> {
        let path = directory + "/" + name
        if let existing = FileManager.default.contents(atPath: path) {
            return Array(existing) == bytes ? .success(path) : .failure(.exists(path))
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(.failed("cannot make \(directory): \(error)"))
        }
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(.failed("open \(tmp): \(String(cString: strerror(errno)))")) }
        defer { unlink(tmp) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.write(fd, base + done, raw.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let m = String(cString: strerror(errno))
                close(fd)
                return .failure(.failed("write \(tmp): \(m)"))
            }
            done += n
        }
        guard fsync(fd) == 0 else {
            let m = String(cString: strerror(errno))
            close(fd)
            return .failure(.failed("fsync \(tmp): \(m)"))
        }
        close(fd)
        if link(tmp, path) != 0 {
            if errno == EEXIST, let existing = FileManager.default.contents(atPath: path) {
                return Array(existing) == bytes ? .success(path) : .failure(.exists(path))
            }
            return .failure(.failed("link \(path): \(String(cString: strerror(errno)))"))
        }
        // The new name durable too, before the event says it exists.
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
        return .success(path)
    }
}
