#if canImport(Glibc)
import Glibc
#endif

extension ConfigLoader {
    /// The file's bytes, unchanged (libyaml checks the encoding), or a
    /// `ConfigError` naming the path and the system's reason.
    static func readFile(_ path: String, what: String = "configuration file",
                         limit: Int = ConfigLimits.maxFileSize) throws(ConfigError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ConfigError(path: path, message: "cannot open \(what): \(errnoText(errno))")
        }
        defer { close(fd) }
        do throws(ReadStop) {
            return try readAll(fd, limit: limit)
        } catch {
            switch error {
            case .failed(let code): throw ConfigError(path: path, message: "cannot read \(what): \(errnoText(code))")
            case .tooLarge: throw ConfigError(path: path, message: "\(what) is larger than \(Units.formatSize(limit))")
            }
        }
    }

    /// Why `readAll` stopped short.
    enum ReadStop: Error {
        case failed(Int32)
        case tooLarge
    }

    /// Every byte of the open file `fd`, at most `limit`: the one read
    /// loop of the loader's files (the configuration, secret files).
    static func readAll(_ fd: Int32, limit: Int) throws(ReadStop) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ConfigLimits.readChunk)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .failed(code)
            }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= limit else { throw .tooLarge }
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
