import Foundation
import VimanaAgentKit
import VimanaClient
import VimanaConfig
import VimanaRESP
#if canImport(Glibc)
import Glibc
#endif

/// civic's process: the kit's runtime for `CivicLogic` (operators, grant
/// and scan from `system.civic`), and a mirror thread on its own
/// connection that tells the kernel the licences civic's events set.
enum Civic {
    /// The longest XREAD BLOCK of the mirror; a licence the kernel refused
    /// (its user not found) is told again after each.
    static let blockMillis = 5000
    static let readCount = 1000

    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "civic") } catch {
            say("\(error)")
            exit(2)
        }
        let defaults = CivicConfig()
        var operators = defaults.operators
        if let text = env["VIMANA_CIVIC_OPERATORS"] {
            guard case .array(let items)? = JSON.parse(text), items.allSatisfy({ $0.string != nil }) else {
                say("VIMANA_CIVIC_OPERATORS is not a JSON array of user names")
                exit(2)
            }
            operators = items.compactMap(\.string)
        }
        let grant = env["VIMANA_CIVIC_GRANT"].flatMap(Int.init).map { min(max($0, CivicConfig.grantRange.lowerBound),
                                                                        CivicConfig.grantRange.upperBound) } ?? defaults.grant
        let range = CivicConfig.scanEntriesRange
        let scan = env["VIMANA_CIVIC_SCAN"].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) }
            ?? defaults.scanEntries
        let logic = CivicLogic(operators: operators, grant: Int64(grant), scan: scan)
        Thread { mirror(settings, logic: logic) }.start()
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Until `stop()` (forever in the process): connect, rebuild civic's
    /// registry as the runtime does (the latest snapshot, then the events
    /// after it, only civic's own entries), and tell the kernel `LICENSE SET
    /// <user> <state> [reason]` for every registered agent; then follow
    /// `events.civic` and tell each licence that changed. Every licence is
    /// told again on each new connection, so a kernel restarted, or a
    /// change whose telling a crash cut short, ends as civic's events say.
    /// `told` (a test's) sees each licence the kernel accepted.
    static func mirror(_ settings: AgentSettings, logic: CivicLogic, stop: @Sendable () -> Bool = { false },
                       told: @Sendable (String, String) -> Void = { _, _ in }) {
        while !stop() {
            do throws(AgentKitError) {
                let c = try settings.connect()
                defer { c.close() }
                let call: AgentSnapshots.Call = { (args: [[UInt8]]) throws(AgentKitError) -> RESPValue in
                    do throws(ClientError) { return try c.call(args) } catch { throw AgentKitError.client(error) }
                }
                _ = try Auditor.call(c, ["CLIENT", "PUBLISHER", "ON"])
                var book = AgentBook(logic: logic)
                var last = "0-0"
                if let loaded = try AgentSnapshots.load(logic: logic, settings: settings, call: call) {
                    book = loaded.book
                    last = loaded.upto
                }
                // What the kernel was told on this connection, by user; the refused ones are told again.
                var kernel: [String: String] = [:]
                var refused: Set<String> = []
                while !stop() {
                    let reply = try Auditor.call(c, ["XREAD", "COUNT", String(readCount), "BLOCK", String(blockMillis),
                                                     "STREAMS", settings.eventsTopic, last])
                    let entries = Auditor.entries(reply)
                    for (id, fields) in entries {
                        last = id
                        guard let own = Auditor.ownFields(fields, identity: settings.identity) else { continue }
                        book.replay(own, id: id)
                    }
                    if entries.count == readCount { continue }
                    for record in book.state.agents.values.sorted(by: { $0.agent < $1.agent }) {
                        let want = record.state + "\n" + record.reason
                        guard kernel[record.user] != want || refused.contains(record.user) else { continue }
                        var command = ["LICENSE", "SET", record.user, record.state.uppercased()]
                        if !record.reason.isEmpty { command.append(record.reason) }
                        let r: RESPValue
                        do { r = try c.call(command.map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
                        if case .error(let m) = r {
                            // Said once per licence; told again after each wait (the user may come).
                            if !refused.contains(record.user) || kernel[record.user] != want {
                                say("LICENSE SET \(record.user) \(record.state.uppercased()): \(m); told again every \(blockMillis / 1000) s")
                            }
                            refused.insert(record.user)
                        } else {
                            refused.remove(record.user)
                            told(record.user, record.state)
                        }
                        kernel[record.user] = want
                    }
                }
            } catch {
                say("licence mirror: \(error); retrying")
            }
            if !stop() { usleep(500_000) }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("civic: " + line + "\n").utf8))
    }
}
