import Foundation
import VimanaAgentKit
import VimanaConfig
import VimanaConfigLoader

/// envoy's process: the kit's runtime for `EnvoyLogic` (the playbooks of
/// `VIMANA_ENVOY_PLAYBOOKS`, read at start), and a follower thread that
/// keeps envoy's own state from its events (`OwnEvents.follow`) and
/// publishes `step {run, at}` to tasks.envoy, as envoy's user, for each
/// run not finished: at once for a step due, when its time has come for a
/// recorded wait, and again after `resend` seconds while the run stays at
/// that step (a step task lost with a crash). envoy takes its tasks one at
/// a time, so a step sent twice is applied once: the second finds the run
/// moved on (`stale`).
enum Envoy {
    /// How often the follower looks again when nothing is appended: a wait's granularity.
    static let blockMillis = 250

    static func main() -> Never {
        let env = ProcessInfo.processInfo.environment
        let settings: AgentSettings
        do { settings = try AgentSettings.fromEnvironment(agentID: "envoy") } catch {
            say("\(error)")
            exit(2)
        }
        var books: [Playbook] = []
        if let dir = env["VIMANA_ENVOY_PLAYBOOKS"] {
            do throws(ConfigError) { books = try PlaybookLoader.load(directory: dir) } catch {
                say("\(error)")
                exit(2)
            }
        }
        let stepper: String? = settings.password != nil ? settings.identity : nil
        if stepper == nil { say("no VIMANA_PASSWORD: no step is taken (a step task would be anyone's); runs do not move") }
        let logic = EnvoyLogic(playbooks: books, stepper: stepper)
        if stepper != nil { Thread { follower(settings, logic: logic) }.start() }
        AgentRuntime.main(logic: logic, agentID: settings.agentID)
    }

    /// Publishes the step each open run is at (see the type's comment).
    static func follower(_ settings: AgentSettings, logic: EnvoyLogic, stop: @Sendable @escaping () -> Bool = { false }) {
        final class Sent: @unchecked Sendable { var at: [String: Double] = [:] }
        let sent = Sent()
        OwnEvents.follow(settings, logic: logic, stop: stop, block: blockMillis) { (state, c) throws(AgentKitError) in
            let now = Date().timeIntervalSince1970
            let nowMillis = Int64(now * 1000)
            for run in state.open {
                let pos = logic.position(run)
                var key = run.run + " " + pos.key
                var resend = 10.0
                if case .step(_, _, let step) = pos, case .call(_, _, _, let timeout, _, _, _) = step.kind {
                    resend = Double(timeout) / 1000 + 10
                }
                if run.waitingAt == pos.key, let until = run.waitingUntil {
                    if nowMillis < until { continue }
                    key += " " + String(until)
                }
                if let last = sent.at[key], now - last < resend { continue }
                let task: JSON = ["action": "step", "id": .string("step-\(run.run)-\(pos.key)-\(nowMillis)"),
                                  "args": ["run": .string(run.run), "at": .string(pos.key)]]
                _ = try Auditor.call(c, ["PUBLISH", settings.tasksTopic, task.text])
                sent.at[key] = now
            }
        }
    }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data(("envoy: " + line + "\n").utf8))
    }
}
