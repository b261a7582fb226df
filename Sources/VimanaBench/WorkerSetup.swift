import VimanaClient

/// What every worker thread needs to open its connection.
struct WorkerSetup: Sendable {
    let host: String
    let port: Int
    let topic: [UInt8]
    let protocolVersion: Int
    let timeout: Double

    init(_ options: BenchOptions) {
        host = options.host
        port = options.port
        topic = Array(options.topic.utf8)
        protocolVersion = options.protocolVersion
        timeout = options.setupTimeoutSeconds
    }

    /// Connects and, for RESP3, sends `HELLO 3`.
    func connect() throws(ClientError) -> RESPConnection {
        let connection = try RESPConnection(host: host, port: port, timeout: timeout)
        connection.setReadTimeout(timeout)
        if protocolVersion == 3 { try connection.hello(3) }
        return connection
    }
}
