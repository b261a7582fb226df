import VimanaLedger

/// What the agents need from the server they run in, and all they may ask
/// of it: the kernel implements it; a test implements it without a server.
/// Every call is made on the loop thread, except that `execute` may be
/// called from any thread.
public protocol AgentHost: AnyObject {
    /// The wall clock of this loop pass, in ms: what journal records are stamped with.
    var passMillis: Int64 { get }
    /// Sends a task to the connection `fd` of an agent instance (AGENT JOIN)
    /// as a `task` push frame (Protocol/AGENTS.md §3), its publisher
    /// (`record.publisher`) included.
    func pushTask(fd: Int32, topic: [UInt8], record: LedgerRecord, deliveries: Int)
    /// The payload a task for an entry with `fields` carries: the
    /// server's one single-`payload` rule (Protocol/AGENTS.md §3).
    func taskPayload(_ fields: [LedgerRecord.Field]) -> [UInt8]
    /// Appends an entry as the server (a dead letter, a built-in's result)
    /// on behalf of `publisher` (a dead letter: its task's; a built-in's
    /// result: `publisherName(agent:)`), and delivers it as an XADD would.
    /// It is recorded when the topic is (`ledger.record`, `ledger.exclude`),
    /// or whatever they say with `alwaysRecorded`.
    func appendEntry(topic: [UInt8], fields: [([UInt8], [UInt8])], alwaysRecorded: Bool, publisher: [UInt8])
    /// The user a built-in agent publishes as (LEDGER.md §3).
    func publisherName(agent id: String) -> [UInt8]
    /// Asks for another loop pass at once, after the events already waiting:
    /// an agent with more work than one pass may take goes on there.
    func passAgain()
    /// Runs `work` on the loop thread (a built-in's result comes back so).
    func execute(_ work: @escaping @Sendable () -> Void)
}
