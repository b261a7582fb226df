#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, on what, and errno's text.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32
    public let context: String

    public init(_ call: String, context: String = "", errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
        self.context = context
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return context.isEmpty ? "\(call): \(reason)" : "\(call) \(context): \(reason)"
    }
}
