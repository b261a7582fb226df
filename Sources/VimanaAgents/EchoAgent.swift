import Foundation

/// `echo`: replies to a task's `reply_to` topic with the task's payload.
/// For tests, docs and checking a deployment end to end.
public struct EchoAgent: BuiltinAgent {
    public static let manifest = AgentManifest(
        id: "echo", name: "Echo", version: "1.0.0",
        description: "Publishes each task's payload to the task's reply_to topic",
        capabilities: ["reply_to"])

    public init() {}

    public func handle(_ task: AgentTask) throws -> AgentResult {
        guard let object = try? JSONSerialization.jsonObject(with: Data(task.payload)) as? [String: Any],
              let replyTo = object["reply_to"] as? String, !replyTo.isEmpty else {
            return AgentResult()  // nothing to reply to: done
        }
        return AgentResult(publish: [(Array(replyTo.utf8), task.payload)])
    }
}
