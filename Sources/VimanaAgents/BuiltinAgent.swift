import VimanaLedger

/// What a built-in agent declares about itself.
public struct AgentManifest: Sendable {
    public var id: String
    public var name: String
    public var version: String
    public var description: String
    public var capabilities: [String]

    public init(id: String, name: String, version: String, description: String, capabilities: [String]) {
        self.id = id
        self.name = name
        self.version = version
        self.description = description
        self.capabilities = capabilities
    }
}

/// A task handed to a built-in agent.
public struct AgentTask: Sendable {
    public var topic: [UInt8]
    public var id: StreamID
    public var deliveries: Int
    /// The entry's fields (a PUBLISH has one, `payload`).
    public var fields: [LedgerRecord.Field]
    /// The payload as the agent protocol shows it: the `payload` field when
    /// it is the only one, else a JSON object of the fields.
    public var payload: [UInt8]
    /// The user who published or appended the entry (LEDGER.md §3; empty:
    /// the kernel, or an entry of a version 1 ledger).
    public var publisher: [UInt8]

    public init(topic: [UInt8], id: StreamID, deliveries: Int, fields: [LedgerRecord.Field], payload: [UInt8],
                publisher: [UInt8] = []) {
        self.topic = topic
        self.id = id
        self.deliveries = deliveries
        self.fields = fields
        self.payload = payload
        self.publisher = publisher
    }
}

/// What a built-in agent asks the kernel to do with a task.
public struct AgentResult: Sendable {
    /// Messages to publish (topic, payload), e.g. the reply to `reply_to`.
    public var publish: [([UInt8], [UInt8])] = []
    /// Acknowledge the task (true), or give it back for redelivery (false).
    public var ack = true

    public init(publish: [([UInt8], [UInt8])] = [], ack: Bool = true) {
        self.publish = publish
        self.ack = ack
    }
}

/// A built-in agent: Swift code in the kernel that handles tasks.
///
/// Promises the kernel relies on: `handle` runs on a worker thread, never
/// the event loop (a slow handler cannot stall the bus); a thrown error
/// counts as a failed delivery (the task is redelivered, and dead-lettered
/// after `max_deliver`), never as a crash.
public protocol BuiltinAgent: Sendable {
    static var manifest: AgentManifest { get }
    init()
    func handle(_ task: AgentTask) throws -> AgentResult
}

/// The registry of built-in agents: the one place a new one is added.
/// phoenix.yaml enables them by id (`kind: builtin`).
public enum BuiltinAgents {
    public static let all: [any BuiltinAgent.Type] = [EchoAgent.self]

    public static func type(for id: String) -> (any BuiltinAgent.Type)? {
        all.first { $0.manifest.id == id }
    }
}
