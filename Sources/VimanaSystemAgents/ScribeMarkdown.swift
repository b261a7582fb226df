import VimanaCore

/// scribe's documents as Markdown (GitHub's tables), deterministic: the same
/// wiring, statuses and observation give the same bytes (everything sorted
/// by its bytes; no clock). Text from outside is escaped (`text`, `code`):
/// no `|` or line break can end a table cell, no backtick a code span.
public enum ScribeMarkdown {
    typealias Live = Result<[String: (status: String, instances: String)], Unanswered>

    /// Why the kernel's AGENTS gave no statuses (its error text, or no answer).
    struct Unanswered: Error {
        var reason: String
    }

    // MARK: - AGENTS.md

    /// Each agent (by id): its kind, status and instances (the kernel's
    /// AGENTS), user, topics, capabilities, actions (system agents'), then
    /// the descriptions.
    static func agents(_ declared: [DeclaredAgent], live: Live, actions: [String: [String]]) -> String {
        let agents = sorted(declared)
        let system = agents.filter(\.system).count
        var out = "# Agents\n\n"
        out += "\(agents.count) \(agents.count == 1 ? "agent is" : "agents are") declared: \(system) system"
            + " \(system == 1 ? "agent" : "agents") and \(agents.count - system) \(agents.count - system == 1 ? "other" : "others"). "
        let statuses: [String: (status: String, instances: String)]
        switch live {
        case .success(let s):
            statuses = s
            out += "Status and instances are the kernel's (AGENTS) when this was written.\n\n"
        case .failure(let e):
            statuses = [:]
            out += "The kernel's AGENTS did not answer (\(text(e.reason))): every status is unknown.\n\n"
        }
        out += "| agent | kind | status | instances | user | subscribes | publishes | capabilities | actions |\n"
        out += "|---|---|---|---|---|---|---|---|---|\n"
        for a in agents {
            let l = statuses[a.id]
            let acts = a.system ? (actions[a.id] ?? []) : []
            out += row([code(a.id), a.system ? "system" : text(a.kind), text(l?.status ?? "unknown"), text(l?.instances ?? "0"),
                        code(a.user), codes(a.subscribes.sorted(by: bytewise)),
                        a.publishes.map { codes($0.sorted(by: bytewise)) } ?? "any topic",
                        a.capabilities.isEmpty ? "—" : a.capabilities.sorted(by: bytewise).map(text).joined(separator: ", "),
                        acts.isEmpty ? "—" : codes(acts.sorted(by: bytewise))])
        }
        out += "\n## Descriptions\n\n"
        for a in agents {
            out += "- **\(text(a.id))**: \(a.description.isEmpty ? "no description." : text(a.description))\n"
        }
        return out
    }

    // MARK: - CITYMAP.md

    /// Every topic the wiring names (subscribes and publishes patterns, as
    /// written) or science observed, by name: who subscribes (a pattern that
    /// names or matches it), who may publish (an explicit `publishes`), who
    /// did (science's publishers with their messages); then each agent's wiring.
    static func citymap(_ declared: [DeclaredAgent], _ o: ScribeObservation) -> String {
        let agents = sorted(declared)
        var observed: [String: ScribeObservation.Topic] = [:]
        for t in o.topics ?? [] { observed[t.topic] = t }
        var names = Set(observed.keys)
        for a in agents {
            names.formUnion(a.subscribes)
            names.formUnion(a.publishes ?? [])
        }
        var out = "# City map\n\n"
        out += "Who subscribes to and publishes on each topic: the wiring (the agents declared and the system agents)"
            + " and what the ledger recorded. Observed: \(text(o.note))\n\n"
        out += "## Topics\n\n"
        out += "| topic | subscribers | may publish | published by | messages | bytes |\n"
        out += "|---|---|---|---|---|---|\n"
        // Each pattern compiled once: a literal compares, a glob matches bytes.
        let subscribes = agents.map { $0.subscribes.map(Pattern.init) }
        let publishes = agents.map { ($0.publishes ?? []).map(Pattern.init) }
        let ids = agents.map { code($0.id) }
        for name in names.sorted(by: bytewise) {
            let topic = Array(name.utf8)
            let subscribers = agents.indices.filter { i in subscribes[i].contains { $0.covers(topic) } }.map { ids[$0] }
            let publishers = agents.indices.filter { i in publishes[i].contains { $0.covers(topic) } }.map { ids[$0] }
            let seen = observed[name]
            let by = seen.map { t in
                t.publishers.sorted { $0.messages != $1.messages ? $0.messages > $1.messages : bytewise($0.publisher, $1.publisher) }
                    .map { "\(code($0.publisher)) (\($0.messages))" }.joined(separator: ", ")
            }
            out += row([code(name), subscribers.isEmpty ? "—" : subscribers.joined(separator: ", "),
                        publishers.isEmpty ? "—" : publishers.joined(separator: ", "),
                        by.flatMap { $0.isEmpty ? nil : $0 } ?? "—",
                        seen.map { String($0.messages) } ?? "—", seen.map { String($0.bytes) } ?? "—"])
        }
        let anywhere = agents.filter { $0.publishes == nil }.map(\.id)
        if !anywhere.isEmpty {
            out += "\nMay publish on any topic (declared without `publishes`): \(codes(anywhere)).\n"
        }
        out += "\n## Agents\n\n"
        out += "| agent | user | subscribes | publishes |\n"
        out += "|---|---|---|---|\n"
        for a in agents {
            out += row([code(a.id), code(a.user), codes(a.subscribes.sorted(by: bytewise)),
                        a.publishes.map { codes($0.sorted(by: bytewise)) } ?? "any topic"])
        }
        return out
    }

    /// A wiring pattern: it names a topic that is the same text, or that it matches as a glob.
    struct Pattern {
        let bytes: [UInt8]
        let literal: Bool
        init(_ text: String) {
            bytes = Array(text.utf8)
            literal = Glob.isLiteral(bytes)
        }
        func covers(_ topic: [UInt8]) -> Bool {
            bytes == topic || (!literal && Glob.matches(bytes, topic))
        }
    }

    // MARK: - Escaping

    /// Ordering by bytes (not by Unicode collation): the same on every machine.
    static func bytewise(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    static func sorted(_ agents: [DeclaredAgent]) -> [DeclaredAgent] { agents.sorted { bytewise($0.id, $1.id) } }

    static func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |\n" }

    /// Text on one line: each control character (a line break included) a
    /// space, and every character Markdown or a table reads specially
    /// (`` \ ` * _ [ ] < > | # ~ & ! ``) escaped with a backslash.
    public static func text(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7f || u.value == 0x2028 || u.value == 0x2029 || u.value == 0x85 {
                out.append(" ")
            } else if "\\`*_[]<>|#~&!".unicodeScalars.contains(u) {
                out.append("\\")
                out.unicodeScalars.append(u)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// A code span in a table cell: fenced with one more backtick than the
    /// longest run inside (padded with spaces when it starts or ends with
    /// one), control characters as spaces, `|` as `\|` (a table's rule,
    /// which applies inside code spans too).
    public static func code(_ s: String) -> String {
        var body = ""
        var run = 0, longest = 0
        for u in s.unicodeScalars {
            run = u == "`" ? run + 1 : 0
            longest = max(longest, run)
            if u.value < 0x20 || u.value == 0x7f || u.value == 0x2028 || u.value == 0x2029 || u.value == 0x85 {
                body.append(" ")
            } else if u == "|" {
                body.append("\\|")
            } else {
                body.unicodeScalars.append(u)
            }
        }
        if body.isEmpty { return "—" }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = body.hasPrefix("`") || body.hasSuffix("`") || (body.hasPrefix(" ") && body.hasSuffix(" ")) ? " " : ""
        return fence + pad + body + pad + fence
    }

    static func codes(_ items: [String]) -> String {
        items.isEmpty ? "—" : items.map(code).joined(separator: ", ")
    }

    /// Seconds as written in a note: whole when whole (`2`), else to the millisecond (`0.05`).
    static func seconds(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return ms % 1000 == 0 ? String(ms / 1000) : String(Double(ms) / 1000)
    }
}
