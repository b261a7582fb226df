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
        let logic = CivicLogic(operators: operators, grant: Int64(grant), scan: scan, systemAgents: SystemAgents.ids)
        Thread { mirror(settings, logic: logic) }.start()
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Until `stop()` (forever in the process): civic's registry as the
    /// runtime rebuilds it (`OwnEvents.follow`), and after each catch-up
    /// `LICENSE SET <user> <state> [reason]` for every licence the kernel
    /// does not hold as civic's events say (read with LICENSE LIST at each
    /// (re)connect: the licences that are not active), so
    /// a kernel restarted, or a change whose telling a crash cut short, ends
    /// as civic's events say; a refused one (its user not found) is told
    /// again after each wait. `told` (a test's) sees each licence the kernel accepted.
    static func mirror(_ settings: AgentSettings, logic: CivicLogic, stop: @Sendable @escaping () -> Bool = { false },
                       told: @Sendable @escaping (String, String) -> Void = { _, _ in }) {
        final class Told: @unchecked Sendable {
            var kernel: [String: String] = [:]
            var refused: Set<String> = []
        }
        var memo = Told()
        var primed = false
        OwnEvents.follow(settings, logic: logic, stop: stop, connected: { memo = Told(); primed = false }) { (state, c) throws(AgentKitError) in
            if !primed {
                // What the kernel holds already (LICENSE LIST: the licences
                // that are not active) is not told again: a restart of civic
                // appends nothing to the kernel's journal for licences in force.
                primed = true
                let r: RESPValue
                do throws(ClientError) { r = try c.call([Array("LICENSE".utf8), Array("LIST".utf8)]) } catch { throw AgentKitError.client(error) }
                var held: [String: String] = [:]
                for row in KernelView([.command(["LICENSE", "LIST"]): r]).records(.command(["LICENSE", "LIST"])) ?? [] {
                    let f = Dictionary(row.map { ($0.0, $0.1 ?? "") }, uniquingKeysWith: { a, _ in a })
                    if let user = f["user"], let st = f["state"] { held[user] = st + "\n" + (f["reason"] ?? "") }
                }
                if case .error = r { held = [:] }
                for record in state.agents.values {
                    let want = record.state + "\n" + record.reason
                    // Active: the kernel lists it not at all (an active licence's reason is the journal's only).
                    if record.state == "active" ? held[record.user] == nil : held[record.user] == want {
                        memo.kernel[record.user] = want
                    }
                }
            }
            for record in state.agents.values.sorted(by: { $0.agent < $1.agent }) {
                let want = record.state + "\n" + record.reason
                guard memo.kernel[record.user] != want || memo.refused.contains(record.user) else { continue }
                var command = ["LICENSE", "SET", record.user, record.state.uppercased()]
                if !record.reason.isEmpty { command.append(record.reason) }
                let r: RESPValue
                do throws(ClientError) { r = try c.call(command.map { Array($0.utf8) }) } catch { throw AgentKitError.client(error) }
                if case .error(let m) = r {
                    // Said once per licence; told again after each wait (the user may come).
                    if !memo.refused.contains(record.user) || memo.kernel[record.user] != want {
                        say("LICENSE SET \(record.user) \(record.state.uppercased()): \(m); told again every \(OwnEvents.blockMillis / 1000) s")
                    }
                    memo.refused.insert(record.user)
                } else {
                    memo.refused.remove(record.user)
                    told(record.user, record.state)
                }
                memo.kernel[record.user] = want
            }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("civic: " + line + "\n").utf8))
    }
}

/// A system agent's thread that keeps its own agent's state as the
/// runtime does — from the latest snapshot on `snapshots.<id>`, then every
/// entry of `events.<id>` its own user appended, folded with the same
/// logic — on a connection of its own (CLIENT PUBLISHER ON), and acts on it
/// after each catch-up and after each wait of at most `blockMillis`: civic
/// tells the kernel its licences, supreme_court publishes the enactment
/// of a mercy. A lost connection is retried; every connect starts again
/// from the snapshot (`connected` is called then).
enum OwnEvents {
    static let blockMillis = 5000
    static let readCount = 1000

    static func follow<Logic: AgentLogic>(_ settings: AgentSettings, logic: Logic, stop: @Sendable () -> Bool,
                                          connected: () -> Void = {}, block: Int = blockMillis,
                                          after: (Logic.State, RESPConnection) throws(AgentKitError) -> Void) {
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
                connected()
                while !stop() {
                    let reply = try Auditor.call(c, ["XREAD", "COUNT", String(readCount), "BLOCK", String(block),
                                                     "STREAMS", settings.eventsTopic, last])
                    let entries = Auditor.entries(reply)
                    for (id, fields) in entries {
                        last = id
                        guard let own = Auditor.ownFields(fields, identity: settings.identity) else { continue }
                        book.replay(own, id: id)
                    }
                    if entries.count == readCount { continue }
                    try after(book.state, c)
                }
            } catch {
                FileHandle.standardError.write(Data("\(settings.agentID): following \(settings.eventsTopic): \(error); retrying\n".utf8))
            }
            if !stop() { usleep(500_000) }
        }
    }
}

/// supreme_court's process: the kit's runtime for `SupremeCourtLogic`
/// (judges, offence window and limit from `system.supreme_court`), and a
/// thread that follows its own events and publishes `enact {appeal}` to
/// tasks.supreme_court, as the court's user, for each mercy verdict civic
/// has not answered (again after 11 s, then twice as long each time, up to 5 minutes).
enum SupremeCourt {
    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "supreme_court") } catch {
            FileHandle.standardError.write(Data("supreme_court: \(error)\n".utf8))
            exit(2)
        }
        let d = SupremeCourtConfig()
        var judges = d.judges
        if let text = env["VIMANA_COURT_JUDGES"] {
            guard case .array(let items)? = JSON.parse(text), items.allSatisfy({ $0.string != nil }) else {
                FileHandle.standardError.write(Data("supreme_court: VIMANA_COURT_JUDGES is not a JSON array of user names\n".utf8))
                exit(2)
            }
            judges = items.compactMap(\.string)
        }
        func number(_ name: String, _ range: ClosedRange<Int>, _ fallback: Int) -> Int {
            env[name].flatMap(Int.init).map { min(max($0, range.lowerBound), range.upperBound) } ?? fallback
        }
        let window = number("VIMANA_COURT_WINDOW_S", SupremeCourtConfig.offenceWindowSecondsRange, d.offenceWindowSeconds)
        let logic = SupremeCourtLogic(judges: judges, offenceWindowMillis: Int64(window) * 1000,
                                      maxOffences: number("VIMANA_COURT_MAX_OFFENCES", SupremeCourtConfig.maxOffencesRange, d.maxOffences),
                                      scan: number("VIMANA_COURT_SCAN", SupremeCourtConfig.scanEntriesRange, d.scanEntries))
        if settings.password != nil {
            Thread { enactor(settings, logic: logic) }.start()
        } else {
            FileHandle.standardError.write(Data("supreme_court: no VIMANA_PASSWORD: mercy verdicts are not enacted by the court (its enact task would be anyone's)\n".utf8))
        }
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Publishes `enact` for each mercy not yet enacted, at most once per
    /// `OwnEvents.blockMillis` each (the task asks civic, up to its timeout).
    static func enactor(_ settings: AgentSettings, logic: SupremeCourtLogic, stop: @Sendable @escaping () -> Bool = { false }) {
        final class Sent: @unchecked Sendable {
            var at: [String: Double] = [:]
            var wait: [String: Double] = [:]
        }
        let sent = Sent()
        OwnEvents.follow(settings, logic: logic, stop: stop) { (state, c) throws(AgentKitError) in
            let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            // Again after civic's timeout and a second, then twice as long
            // each time up to 5 minutes: while civic is down, the court's
            // queue does not fill with enactments that each wait for it.
            for a in state.unenacted where now - (sent.at[a.appeal] ?? -1e9) >= (sent.wait[a.appeal] ?? 0) {
                let task: JSON = ["action": "enact", "id": .string("enact-\(a.appeal)"), "args": ["appeal": .string(a.appeal)]]
                _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text])
                sent.at[a.appeal] = now
                sent.wait[a.appeal] = min(300, max(logic.civicTimeout + 1, 2 * (sent.wait[a.appeal] ?? 0)))
            }
        }
    }
}
