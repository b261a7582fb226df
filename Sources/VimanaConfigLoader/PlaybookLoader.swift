import Foundation
import VimanaConfig

/// Reads envoy's playbooks (docs/SYSTEM-AGENTS.md, "envoy", the schema):
/// every `*.yaml` of a directory, each one playbook, every problem a
/// `ConfigError` at its file:line:column.
public enum PlaybookLoader {
    /// The playbooks of `directory`'s `*.yaml` files, in file name order;
    /// none when the directory does not exist. Two with one name: an error.
    public static func load(directory: String) throws(ConfigError) -> [Playbook] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else { return [] }
        guard isDir.boolValue else { throw ConfigError(path: directory, message: "playbooks: expected a directory") }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ConfigError(path: directory, message: "playbooks: cannot list the directory: \(error.localizedDescription)")
        }
        var out: [Playbook] = []
        for name in names.filter({ $0.hasSuffix(".yaml") }).sorted() {
            let file = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigError(path: file, message: "cannot read the playbook")
            }
            let book = try parse(Array(data), path: file)
            if let other = out.first(where: { $0.name == book.name }) {
                throw ConfigError(path: file, message: "playbook '\(book.name)' is also defined in \(other.file)")
            }
            out.append(book)
        }
        return out
    }

    /// One playbook from `yaml`, as if it were the file `path`.
    public static func parse(yaml: String, path: String) throws(ConfigError) -> Playbook {
        try parse(Array(yaml.utf8), path: path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> Playbook {
        guard let root = try YAMLReader.read(bytes, path: path) else {
            throw ConfigError(path: path, message: "a playbook needs name and phases; the file is empty")
        }
        return try PlaybookSchema(schema: Schema(path: path), path: path).playbook(root)
    }
}

struct PlaybookSchema {
    let schema: Schema
    let path: String

    func playbook(_ root: YAMLNode) throws(ConfigError) -> Playbook {
        let s = try schema.section(root, "", keys: ["name", "description", "args", "phases", "on_success", "on_failure"])
        guard let nameNode = s["name"], let name = try schema.scalar(nameNode, "name", "a playbook name"),
              Self.isName(name, Playbook.nameBytes) else {
            throw schema.fail(s["name"] ?? root, "name: expected a playbook name of 1 to \(Playbook.nameBytes) characters"
                                  + " from a-z, A-Z, 0-9, '_', '-'")
        }
        var book = Playbook(name: name, file: path)
        if let n = s["description"] { book.description = try schema.scalar(n, "description", "a string") ?? "" }
        if let n = s["args"] { book.args = try args(n) }
        guard let phasesNode = s["phases"], case .sequence(let items) = phasesNode.content, !items.isEmpty else {
            throw schema.fail(s["phases"] ?? root, "phases: expected a non-empty list of {name, steps}")
        }
        var ids: Set<String> = []
        for item in items {
            let p = try schema.section(item, "phases[]", keys: ["name", "steps"])
            guard let pn = p["name"], let pname = try schema.scalar(pn, "phases[].name", "a phase name"),
                  Self.isName(pname, Playbook.nameBytes) else {
                throw schema.fail(p["name"] ?? item, "phases[].name: expected a phase name of 1 to \(Playbook.nameBytes)"
                                      + " characters from a-z, A-Z, 0-9, '_', '-'")
            }
            let steps = try stepList(p["steps"] ?? item, "phases[\(pname)].steps", prefix: pname, ids: &ids, book: book)
            book.phases.append(PlaybookPhase(name: pname, steps: steps))
        }
        if let n = s["on_success"] { book.onSuccess = try stepList(n, "on_success", prefix: "on_success", ids: &ids, book: book) }
        if let n = s["on_failure"] { book.onFailure = try stepList(n, "on_failure", prefix: "on_failure", ids: &ids, book: book) }
        let count = book.steps.count + book.onSuccess.count + book.onFailure.count
        guard count <= Playbook.maxSteps else {
            throw schema.fail(root, "a playbook has at most \(Playbook.maxSteps) steps (this one \(count))")
        }
        return book
    }

    static func isName(_ s: String, _ max: Int) -> Bool {
        !s.isEmpty && s.utf8.count <= max && s.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D
        }
    }

    func args(_ node: YAMLNode) throws(ConfigError) -> [PlaybookArg] {
        if node.isNull { return [] }
        guard case .mapping(let entries) = node.content, entries.count <= Playbook.maxArgs else {
            throw schema.mismatch(node, "args", "a mapping of at most \(Playbook.maxArgs) names to {required: true|false}")
        }
        var out: [PlaybookArg] = []
        for e in entries {
            guard Self.isName(e.key, Playbook.nameBytes) else {
                throw ConfigError(path: path, line: e.line, column: e.column, message: "args: '\(e.key)' is not a name (a-z, A-Z, 0-9, '_', '-')")
            }
            let a = try schema.section(e.value, "args.\(e.key)", keys: ["required"])
            var required = false
            if let r = a["required"], let v = try schema.boolean(r, "args.\(e.key).required") { required = v }
            out.append(PlaybookArg(name: e.key, required: required))
        }
        return out
    }

    func stepList(_ node: YAMLNode, _ key: String, prefix: String, ids: inout Set<String>, book: Playbook) throws(ConfigError)
        -> [PlaybookStep] {
        if node.isNull { return [] }
        guard case .sequence(let items) = node.content else { throw schema.mismatch(node, key, "a list of steps") }
        var out: [PlaybookStep] = []
        for (i, item) in items.enumerated() {
            let s = try schema.section(item, "\(key)[\(i)]", keys: ["id", "call", "check", "emit", "wait"])
            var id = "\(prefix).\(i + 1)"
            if let n = s["id"] {
                guard let text = try schema.scalar(n, "\(key)[\(i)].id", "a step id"), Self.isName(text, Playbook.nameBytes) else {
                    throw schema.mismatch(n, "\(key)[\(i)].id", "a step id of 1 to \(Playbook.nameBytes) characters from a-z, A-Z, 0-9, '_', '-'")
                }
                id = text
            }
            guard !ids.contains(id) else { throw schema.fail(s["id"] ?? item, "\(key)[\(i)]: step id '\(id)' is used twice") }
            let kinds = ["call", "check", "emit", "wait"].filter { s[$0] != nil }
            guard kinds.count == 1, let kindName = kinds.first, let body = s[kindName] else {
                throw schema.fail(item, "\(key)[\(i)]: expected exactly one of call, check, emit, wait (got \(kinds.isEmpty ? "none" : kinds.joined(separator: ", ")))")
            }
            let where_ = "\(key)[\(i)].\(kindName)"
            let kind: PlaybookStep.Kind
            switch kindName {
            case "call":
                let c = try schema.section(body, where_, keys: ["agent", "action", "args", "timeout", "until", "every", "tries"])
                guard let an = c["agent"], let agent = try schema.scalar(an, "\(where_).agent", "an agent id"), Self.isName(agent, 64) else {
                    throw schema.fail(c["agent"] ?? body, "\(where_).agent: expected an agent id")
                }
                guard let acn = c["action"], let action = try schema.scalar(acn, "\(where_).action", "an action"), !action.isEmpty else {
                    throw schema.fail(c["action"] ?? body, "\(where_).action: expected an action name")
                }
                var callArgs: [String: PlaybookValue] = [:]
                if let n = c["args"], !n.isNull {
                    guard case .map(let m) = try value(n) else { throw schema.mismatch(n, "\(where_).args", "a mapping") }
                    try references(n, book: book, known: ids)
                    callArgs = m
                }
                let timeout = try duration(c["timeout"], "\(where_).timeout") ?? 5_000
                var until: PlaybookCondition?
                if let n = c["until"] { until = try condition(n, "\(where_).until", step: false).condition }
                let every = try duration(c["every"], "\(where_).every") ?? 1_000
                var tries = 1
                if let n = c["tries"], let t = try schema.integer(n, "\(where_).tries", Playbook.triesRange) { tries = t }
                if until == nil, c["every"] != nil || c["tries"] != nil {
                    throw schema.fail(c["every"] ?? c["tries"] ?? body, "\(where_): every and tries are for a call with until")
                }
                if until != nil, c["tries"] == nil { tries = 60 }
                kind = .call(agent: agent, action: action, args: callArgs, timeoutMillis: timeout, until: until,
                             everyMillis: every, tries: tries)
            case "check":
                let (step, cond) = try condition(body, where_, step: true)
                guard let step, ids.contains(step) else {
                    throw schema.fail(body, "\(where_).step: expected the id of an earlier step (got '\(step ?? "")')")
                }
                kind = .check(step: step, condition: cond)
            case "emit":
                let e = try schema.section(body, where_, keys: ["type", "fields"])
                guard let tn = e["type"], let type = try schema.scalar(tn, "\(where_).type", "an event type"), Self.isName(type, 64),
                      !Playbook.reservedTypes.contains(type) else {
                    throw schema.fail(e["type"] ?? body, "\(where_).type: expected an event type (a name, not one of"
                                          + " \(Playbook.reservedTypes.sorted().joined(separator: ", ")))")
                }
                var fields: [String: PlaybookValue] = [:]
                if let n = e["fields"], !n.isNull {
                    guard case .map(let m) = try value(n) else { throw schema.mismatch(n, "\(where_).fields", "a mapping") }
                    try references(n, book: book, known: ids)
                    fields = m
                }
                kind = .emit(type: type, fields: fields)
            default:
                guard let ms = try duration(body, where_) else { throw schema.mismatch(body, where_, "a duration (250ms, 2s, 1m)") }
                kind = .wait(millis: ms)
            }
            ids.insert(id)
            out.append(PlaybookStep(id: id, kind: kind))
        }
        return out
    }

    func duration(_ node: YAMLNode?, _ key: String) throws(ConfigError) -> Int? {
        guard let node, let text = try schema.scalar(node, key, "a duration") else { return nil }
        let r = Playbook.durationRange
        guard let d = try? Units.parseDuration(text) else { throw schema.mismatch(node, key, "a duration (250ms, 2s, 1m)") }
        let ms = Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000)
        guard r.contains(ms) else { throw schema.mismatch(node, key, "a duration from 1ms to 24h") }
        return ms
    }

    func condition(_ node: YAMLNode, _ key: String, step: Bool) throws(ConfigError) -> (step: String?, condition: PlaybookCondition) {
        let c = try schema.section(node, key, keys: step ? ["step", "path", "equals", "in"] : ["path", "equals", "in"])
        var stepID: String?
        if step, let n = c["step"] { stepID = try schema.scalar(n, "\(key).step", "a step id") }
        guard let pn = c["path"], let p = try schema.scalar(pn, "\(key).path", "a path"), !p.isEmpty else {
            throw schema.fail(c["path"] ?? node, "\(key).path: expected a path into the result (a.b.0)")
        }
        var values: [PlaybookValue] = []
        switch (c["equals"], c["in"]) {
        case (let e?, nil): values = [try value(e)]
        case (nil, let i?):
            guard case .list(let l) = try value(i), !l.isEmpty else { throw schema.mismatch(i, "\(key).in", "a non-empty list") }
            values = l
        default: throw schema.fail(node, "\(key): expected exactly one of equals, in")
        }
        return (stepID, PlaybookCondition(path: p, values: values))
    }

    /// Every `${…}` in `node`'s strings names an arg of the playbook, `run`,
    /// or an earlier step's result.
    func references(_ node: YAMLNode, book: Playbook, known: Set<String>) throws(ConfigError) {
        switch node.content {
        case .scalar(let text, _):
            guard let refs = PlaybookReference.all(in: text) else {
                throw schema.fail(node, "an unclosed or empty ${…} in '\(text.prefix(60))'")
            }
            for r in refs {
                switch r {
                case .run: break
                case .arg(let a):
                    guard book.args.contains(where: { $0.name == a }) else {
                        throw schema.fail(node, "${args.\(a)}: the playbook declares no arg '\(a)'")
                    }
                case .step(let s, _):
                    guard known.contains(s) else { throw schema.fail(node, "${steps.\(s)…}: no earlier step has id '\(s)'") }
                case .bad(let t):
                    throw schema.fail(node, "${\(t)}: expected ${run}, ${args.<name>} or ${steps.<id>.result[.path]}")
                }
            }
        case .mapping(let entries):
            for e in entries { try references(e.value, book: book, known: known) }
        case .sequence(let items):
            for i in items { try references(i, book: book, known: known) }
        }
    }

    func value(_ node: YAMLNode) throws(ConfigError) -> PlaybookValue {
        switch node.content {
        case .scalar(let text, let plain):
            if plain {
                if node.isNull { return .null }
                if text == "true" { return .bool(true) }
                if text == "false" { return .bool(false) }
                if let n = Int64(text) { return .int(n) }
            }
            return .string(text)
        case .sequence(let items):
            var out: [PlaybookValue] = []
            for i in items { out.append(try value(i)) }
            return .list(out)
        case .mapping(let entries):
            var out: [String: PlaybookValue] = [:]
            for e in entries { out[e.key] = try value(e.value) }
            return .map(out)
        }
    }
}
