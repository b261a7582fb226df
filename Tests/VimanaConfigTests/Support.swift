#if canImport(Glibc)
import Glibc
#endif
import VimanaConfig
@testable import VimanaConfigLoader

/// The error `ConfigLoader.load(yaml:path:)` throws for `yaml`, or nil if it loads.
func loadError(_ yaml: String, path: String = "phoenix.yaml") -> ConfigError? {
    do throws(ConfigError) {
        _ = try ConfigLoader.load(yaml: yaml, path: path)
        return nil
    } catch {
        return error
    }
}

/// The configuration `yaml` loads to, or nil (with the error recorded by the caller's #expect).
func loaded(_ yaml: String, path: String = "phoenix.yaml") throws(ConfigError) -> Configuration {
    try ConfigLoader.load(yaml: yaml, path: path)
}

/// A scratch file holding `bytes`, removed by `remove()`.
struct TemporaryFile {
    let path: String

    init(_ bytes: [UInt8]) {
        var template = Array("/tmp/vimana-config-test-XXXXXX.yaml".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemps(base, 5)
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if fd >= 0 {
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }

    func remove() { unlink(path) }
}
