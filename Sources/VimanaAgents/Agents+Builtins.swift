import VimanaCore
import VimanaLedger

/// Built-in agents: Swift workers run on their own queue, whose results
/// come back to the loop through the host.
extension Agents {
    /// Delay before a task a built-in failed may be delivered again.
    static let builtinRetryMillis: Int64 = 100

    /// A built-in gets `prefetch` worker instances, each a negative "fd".
    func startBuiltin(_ a: AgentRuntime) {
        guard let type = BuiltinAgents.type(for: a.id) else {
            a.status = .failed
            log.error("built-in agent not found", ["agent": .string(a.id)])
            return
        }
        builtinWorkers[a.id] = type.init()
        for k in 0..<max(1, a.config.prefetch) {
            a.join(fd: -Int32(1 + k), consumer: Array("\(a.id)-builtin-\(k)".utf8))
        }
        a.status = .running
    }

    /// Runs a task on the built-ins' queue; the result comes back through
    /// the host's `execute` (publishes, then ACK or NACK).
    func runBuiltin(_ a: AgentRuntime, _ task: AgentTask) {
        guard let worker = builtinWorkers[a.id] else { return }
        let me = AgentsRef(self)
        let back = HostRef(host)
        let id = a.id
        builtinQueue.async {
            let outcome: Result<AgentResult, Error>
            do { outcome = .success(try worker.handle(task)) } catch { outcome = .failure(error) }
            back.host.execute { me.agents.finishBuiltin(agent: id, task: task, outcome: outcome) }
        }
    }

    func finishBuiltin(agent id: String, task: AgentTask, outcome: Result<AgentResult, Error>) {
        guard let a = agent(id: id) else { return }
        guard let g = a.group(for: task.topic), g.entry(task.id) != nil else { return }
        var outcome = outcome
        // A built-in declared with `publishes` is held to it like an external agent.
        if case .success(let result) = outcome,
           let refused = result.publish.first(where: { topic, _ in !topic.withUnsafeBufferPointer { a.mayPublish(to: $0) } }) {
            outcome = .failure(PublishRefused(description: refused.0.withUnsafeBufferPointer { a.publishRefusal($0) }))
        }
        switch outcome {
        case .success(let result):
            for (topic, payload) in result.publish {
                host.appendEntry(topic: topic, fields: [(Array("payload".utf8), payload)], alwaysRecorded: false,
                                 publisher: host.publisherName(agent: id))
            }
            if result.ack {
                groups.ack(g, task.id)
                a.countAcknowledged()
                a.lastFailure[task.id] = nil
            } else {
                groups.giveBack(g, task.id, atMillis: Clock.wallMillis(), journaled: false)
            }
        case .failure(let error):
            log.warn("built-in agent failed a task", ["agent": .string(id), "id": .string(task.id.description),
                                                      "error": .string("\(error)")])
            a.lastFailure[task.id] = "\(error)"
            groups.giveBack(g, task.id, atMillis: Clock.wallMillis() + Self.builtinRetryMillis, journaled: false)
        }
    }
}

/// The host, for a worker thread to reach its `execute`.
struct HostRef: @unchecked Sendable {
    unowned let host: any AgentHost
    init(_ host: any AgentHost) { self.host = host }
}

/// A built-in's result that would publish outside its `publishes` patterns.
struct PublishRefused: Error, CustomStringConvertible {
    let description: String
}
