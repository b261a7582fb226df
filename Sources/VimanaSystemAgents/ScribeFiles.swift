import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// scribe's documents in a directory, each replaced atomically: written to
/// a temporary file of its own (`.<name>.<pid>.<random>.tmp`, made new:
/// never a file or link already there), fsynced, renamed over `<name>`,
/// the directory fsynced; a
/// reader sees the old document or the new one, never a part. Only the
/// names scribe makes (AGENTS.md, CITYMAP.md) are written: nothing outside
/// the directory.
public struct ScribeFiles: DocumentSink {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func write(_ name: String, _ bytes: [UInt8]) -> Result<String, DocumentSinkError> {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            return .failure(DocumentSinkError("'\(name)' is not a document name"))
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(DocumentSinkError("cannot make \(directory): \(Self.reason(error))"))
        }
        let path = directory + "/" + name
        let tmp = directory + "/." + name + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(DocumentSinkError("open \(tmp): \(String(cString: strerror(errno)))")) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.write(fd, base + done, raw.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return fail(fd, tmp, "write \(tmp): \(String(cString: strerror(errno)))") }
            done += n
        }
        guard fsync(fd) == 0 else { return fail(fd, tmp, "fsync \(tmp): \(String(cString: strerror(errno)))") }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let m = String(cString: strerror(errno))
            unlink(tmp)
            return .failure(DocumentSinkError("rename \(tmp) to \(path): \(m)"))
        }
        // The new name durable too, before the event says it was written.
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return .failure(DocumentSinkError("open \(directory): \(String(cString: strerror(errno)))")) }
        defer { close(dir) }
        guard fsync(dir) == 0 else { return .failure(DocumentSinkError("fsync \(directory): \(String(cString: strerror(errno)))")) }
        return .success(path)
    }

    private func fail(_ fd: Int32, _ tmp: String, _ reason: String) -> Result<String, DocumentSinkError> {
        close(fd)
        unlink(tmp)
        return .failure(DocumentSinkError(reason))
    }

    private static func reason(_ error: any Error) -> String {
        if let e = error as? CocoaError, let u = e.userInfo[NSUnderlyingErrorKey] as? NSError,
           let code = Int32(exactly: u.code), let m = strerror(code) { return String(cString: m) }
        return "\(error)"
    }
}
