/// A server the task bench drives, each with its own commands for the same
/// round trip: a producer submits tasks, workers take them and acknowledge.
public enum TaskPeer: String, Sendable, CaseIterable {
    /// PUBLISH to a recorded topic; workers are instances of a declared
    /// agent (AGENT JOIN), take pushed tasks and ACK them.
    case vimana
    /// XADD to a stream; workers XREADGROUP (COUNT prefetch, BLOCK) and XACK
    /// each batch, the XACK and the next read written together.
    case redis
    /// put; each worker reserves one job at a time and deletes it (beanstalkd
    /// has no prefetch: a reserve waiting for a job holds up the commands
    /// behind it on its connection).
    case beanstalkd

    /// One task submission, split around the payload.
    func submission(topic: [UInt8], payloadSize: Int) -> (head: [UInt8], tail: [UInt8]) {
        switch self {
        case .vimana:
            return (RESPCommand.head(["PUBLISH", topic]) + Array("$\(payloadSize)\r\n".utf8), [13, 10])
        case .redis:
            return (RESPCommand.head(["XADD", topic, "*", "payload"]) + Array("$\(payloadSize)\r\n".utf8), [13, 10])
        case .beanstalkd:
            return (Array("put 0 0 120 \(payloadSize)\r\n".utf8), [13, 10])
        }
    }
}

/// RESP arrays of bulk strings, encoded once before a run.
enum RESPCommand {
    /// The array header for `args` plus one more argument, and `args` encoded.
    static func head(_ args: [RESPArgument]) -> [UInt8] {
        var out = Array("*\(args.count + 1)\r\n".utf8)
        for a in args { out += encode(a.bytes) }
        return out
    }

    static func encode(_ arg: [UInt8]) -> [UInt8] { Array("$\(arg.count)\r\n".utf8) + arg + [13, 10] }

    static func command(_ args: [RESPArgument]) -> [UInt8] {
        var out = Array("*\(args.count)\r\n".utf8)
        for a in args { out += encode(a.bytes) }
        return out
    }
}

/// A command argument: text or bytes.
protocol RESPArgument { var bytes: [UInt8] { get } }
extension String: RESPArgument { var bytes: [UInt8] { Array(utf8) } }
extension Array: RESPArgument where Element == UInt8 { var bytes: [UInt8] { self } }
