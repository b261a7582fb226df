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
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: ConfigLimits.readChunk)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ConfigError(path: path, message: "cannot read \(what): \(errnoText(code))")
            }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= limit else {
                throw ConfigError(path: path, message: "\(what) is larger than \(Units.formatSize(limit))")
            }
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
