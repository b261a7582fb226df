/// A configuration problem, located in its source.
///
/// Promises: `description` is `path:line:column: message` when the position
/// is known (1-based, the offending key or value), else `path: message`
/// (`--port 99999: expected …` for a flag); the
/// message says what was expected and what was found, so that it can be
/// printed as is by `vimana check` and `vimana serve`.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration file (or the name given for in-memory text), or the
    /// command-line flag with its value (`--port 99999`) when a flag was refused.
    public let path: String
    /// 1-based line of the offending key or value; 0 when unknown.
    public let line: Int
    /// 1-based column of the offending key or value; 0 when unknown.
    public let column: Int
    /// What was expected and what was found, without the location prefix.
    public let message: String

    public init(path: String, line: Int = 0, column: Int = 0, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(path):\(line):\(column): \(message)" : "\(path): \(message)"
    }
}
