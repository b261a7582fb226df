import VimanaCore
import VimanaRESP
import VimanaLedger

/// The publisher: the user whose connection published or appended an
/// entry, kept in its ledger record (Protocol/LEDGER.md §3), pushed with
/// every task (Protocol/AGENTS.md §3). Only the kernel names it:
/// nothing a client sends (a field, a client name) can.
extension Kernel {
    /// The user every connection is today: Redis's `default`.
    static let defaultUser: StaticString = "default"

    /// Calls `body` with the name of the user connection `c` is
    /// authenticated as: what its PUBLISH and XADD records carry.
    ///
    /// ISSUE 11 HOOKUP (users): every connection is the `default` user
    /// until the users concern gives each connection its authenticated
    /// user; then the one line below passes that user's name instead.
    @inline(__always)
    func withPublisherName<R>(_ c: UnsafeMutablePointer<ClientState>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: Self.defaultUser.utf8Start, count: Self.defaultUser.utf8CodeUnitCount))
    }

    /// The user a built-in agent publishes its results as: the agent's id,
    /// the user Protocol/AGENTS.md §8 says it runs as.
    ///
    /// ISSUE 11 HOOKUP (agents' identities): when agents run as declared
    /// users, this returns the agent's user's name.
    public func publisherName(agent id: String) -> [UInt8] { Array(id.utf8) }
}
