import Foundation
import VimanaConfig

/// `echo`: replies to a task's `reply_to` topic with the task's payload.
/// For tests, docs and checking a deployment end to end.
public struct EchoAgent: BuiltinAgent {
    public static let manifest = AgentManifest(
        id: "echo", name: "Echo", version: "1.0.0",
        description: "Publishes each task's payload to the task's reply_to topic",
        capabilities: ["reply_to"])

    public init() {}

    /// A request whose `reply_to` cannot be a topic: the sender made a
    /// mistake that no retry mends, so it ends in `dead.echo` with this text.
    public struct BadReplyTo: Error, CustomStringConvertible {
        public let description: String
    }

    public func handle(_ task: AgentTask) throws -> AgentResult {
        guard let object = try? JSONSerialization.jsonObject(with: Data(task.payload)) as? [String: Any],
              let value = object["reply_to"] else {
            return AgentResult()  // not a request with a reply topic: nothing to do
        }
        guard let replyTo = value as? String, !replyTo.isEmpty else {
            throw BadReplyTo(description: "reply_to must be a non-empty string (a topic)")
        }
        // Published as agent:echo: never into another agent's tasks, events or dead letters.
        guard !AgentConfig.isReservedReply(replyTo) else {
            throw BadReplyTo(description: "reply_to must not be a topic in tasks.*, events.*, dead.* or _vimana.*")
        }
        return AgentResult(publish: [(Array(replyTo.utf8), task.payload)])
    }
}
