import CYAML

/// Reads YAML text into a `YAMLNode` tree with libyaml's event parser.
///
/// Promises: returns the single document's root node (nil when the text holds
/// no document: empty, or only comments), or throws a `ConfigError` at the
/// 1-based position of the problem: a libyaml syntax error (with libyaml's own
/// wording), an alias or anchor, a duplicate or non-scalar key, a second
/// document, or nesting deeper than `ConfigLimits.maxDepth`. Every libyaml event and the
/// parser itself are freed on every path.
enum YAMLReader {
    static func read(_ bytes: [UInt8], path: String) throws(ConfigError) -> YAMLNode? {
        // libyaml keeps this pointer, not a copy: it must outlive the parser,
        // so it is freed after yaml_parser_delete (defers run in reverse).
        let input = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        defer { input.deallocate() }
        _ = UnsafeMutableBufferPointer(start: input, count: bytes.count).initialize(from: bytes)

        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        let initialized = yaml_parser_initialize(parser)
        // Safe even after a failed initialize: libyaml zeroes the struct first.
        defer { yaml_parser_delete(parser) }
        guard initialized != 0 else {
            throw ConfigError(path: path, message: "cannot initialize the YAML parser (out of memory)")
        }
        yaml_parser_set_input_string(parser, input, bytes.count)

        var builder = TreeBuilder(path: path)
        while true {
            var event = yaml_event_t()
            let ok = yaml_parser_parse(parser, &event)
            defer { yaml_event_delete(&event) }  // a failed parse leaves a zeroed event: still safe
            guard ok != 0 else { throw syntaxError(parser.pointee, bytes, path: path) }
            if event.type == YAML_STREAM_END_EVENT { break }
            try builder.consume(event)
        }
        return builder.root
    }

    /// libyaml's problem text at its problem mark, with its context when it gives one.
    private static func syntaxError(_ p: yaml_parser_t, _ bytes: [UInt8], path: String) -> ConfigError {
        let problem = p.problem.map { String(cString: $0) } ?? "unknown error"
        switch p.error {
        case YAML_MEMORY_ERROR:
            return ConfigError(path: path, message: "out of memory while parsing YAML")
        case YAML_READER_ERROR:
            // Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark.
            let (line, column) = position(ofByte: p.problem_offset, in: bytes)
            var message = "invalid YAML input: \(problem)"
            if p.problem_value != -1 {
                let hex = String(p.problem_value, radix: 16, uppercase: true)
                message += " (0x\(hex.count < 2 ? "0" + hex : hex))"
            }
            return ConfigError(path: path, line: line, column: column, message: message)
        default:
            var message = "invalid YAML: \(problem)"
            let context = p.context.map { String(cString: $0) }
            if let context {
                message += " (\(context) at line \(p.context_mark.line + 1), column \(p.context_mark.column + 1))"
            }
            // ACL rules (`&events.*`, `%R~logs.*`) start with YAML indicators: say what to do.
            let found = scalar(atLine: Int(p.problem_mark.line), column: Int(p.problem_mark.column), in: bytes)
            if context == "while scanning an anchor" || context == "while scanning an alias"
                || (found.map { "&*%@`".unicodeScalars.contains($0) } ?? false) {
                message += "; quote a text that starts with one of & * % @ ` (\"&events.*\")"
            }
            return ConfigError(path: path, line: p.problem_mark.line + 1,
                               column: p.problem_mark.column + 1, message: message)
        }
    }

    /// The character at a 0-based line and column (in characters, as libyaml counts), if any.
    private static func scalar(atLine line: Int, column: Int, in bytes: [UInt8]) -> Unicode.Scalar? {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard line >= 0, line < lines.count, column >= 0 else { return nil }
        let scalars = String(decoding: lines[line], as: UTF8.self).unicodeScalars
        guard column < scalars.count else { return nil }
        return scalars[scalars.index(scalars.startIndex, offsetBy: column)]
    }

    /// 1-based line and column (in characters, as libyaml counts) of a byte offset.
    private static func position(ofByte offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {  // not a UTF-8 continuation byte
                column += 1
            }
        }
        return (line, column)
    }
}

// MARK: - Tree building

/// Turns libyaml's event stream into nested `YAMLNode`s with an explicit
/// stack, so that input depth never becomes call depth.
private struct TreeBuilder {
    let path: String
    private(set) var root: YAMLNode?
    private var stack: [Frame] = []
    private var documents = 0

    /// An open mapping or sequence. `location` names it in messages (`kernel.limits`).
    private struct Frame {
        let isMapping: Bool
        let line: Int
        let column: Int
        let location: String
        var entries: [YAMLEntry] = []
        var items: [YAMLNode] = []
        var pendingKey: (text: String, line: Int, column: Int)?
    }

    init(path: String) {
        self.path = path
    }

    mutating func consume(_ event: yaml_event_t) throws(ConfigError) {
        let line = event.start_mark.line + 1
        let column = event.start_mark.column + 1
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw fail("only one YAML document is allowed in a configuration file", line, column)
            }
        case YAML_ALIAS_EVENT:
            let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
            throw unsupported("aliases", "*", name, line, column)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            try rejectAnchor(s.anchor, line, column)
            let text = s.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: s.length), as: UTF8.self) } ?? ""
            try add(YAMLNode(content: .scalar(text, plain: s.style == YAML_PLAIN_SCALAR_STYLE),
                             line: line, column: column))
        case YAML_MAPPING_START_EVENT:
            try rejectAnchor(event.data.mapping_start.anchor, line, column)
            try open(isMapping: true, line, column)
        case YAML_SEQUENCE_START_EVENT:
            try rejectAnchor(event.data.sequence_start.anchor, line, column)
            try open(isMapping: false, line, column)
        case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
            guard let frame = stack.popLast() else { return }
            let content: YAMLNode.Content = frame.isMapping ? .mapping(frame.entries) : .sequence(frame.items)
            try add(YAMLNode(content: content, line: frame.line, column: frame.column))
        default:
            break  // stream start, document end
        }
    }

    private func rejectAnchor(_ anchor: UnsafeMutablePointer<yaml_char_t>?, _ line: Int, _ column: Int) throws(ConfigError) {
        guard let anchor else { return }
        // `- &events.*` in a user's permissions is an anchor on nothing: say how to write the rule.
        throw unsupported("anchors", "&", String(cString: anchor), line, column)
    }

    /// An alias or anchor at the key the next node belongs to: its name is
    /// shown (and how to quote it) unless that key may hold a secret (an
    /// unquoted `password: *xyz` is the password).
    private func unsupported(_ what: String, _ indicator: String, _ name: String, _ line: Int, _ column: Int) -> ConfigError {
        let key = nextKey
        let prefix = key.isEmpty ? "" : key + ": "
        if Schema.holdsSecret(key) {
            return fail(prefix + "\(what) are not supported; write the value out, or quote a text that starts with"
                        + " '\(indicator)' (not shown: it may be a secret)", line, column)
        }
        return fail(prefix + "\(what) are not supported (found '\(indicator)\(name)'); write the value out,"
                    + " or quote a text that starts with '\(indicator)' (\"\(indicator)\(name)\")", line, column)
    }

    /// The key the next node is the value of, as the loader names keys
    /// (`users[0].password`); a mapping's own name for one of its keys.
    private var nextKey: String {
        guard let top = stack.last else { return "" }
        guard top.isMapping else { return "\(top.location)[\(top.items.count)]" }
        guard let key = top.pendingKey else { return top.location }
        return top.location.isEmpty ? key.text : "\(top.location).\(key.text)"
    }

    private mutating func open(isMapping: Bool, _ line: Int, _ column: Int) throws(ConfigError) {
        var location = ""
        if let top = stack.last {
            if top.isMapping {
                guard let key = top.pendingKey else {
                    throw fail("mapping keys must be scalars \(Self.describe(top.location))", line, column)
                }
                location = top.location.isEmpty ? key.text : "\(top.location).\(key.text)"
            } else {
                location = "\(top.location)[\(top.items.count)]"
            }
        }
        guard stack.count < ConfigLimits.maxDepth else {
            throw fail("nesting is deeper than \(ConfigLimits.maxDepth) levels", line, column)
        }
        stack.append(Frame(isMapping: isMapping, line: line, column: column, location: location))
    }

    /// Attaches a finished node to the open container (or makes it the root).
    private mutating func add(_ node: YAMLNode) throws(ConfigError) {
        let i = stack.count - 1
        guard i >= 0 else {
            root = node
            return
        }
        guard stack[i].isMapping else {
            stack[i].items.append(node)
            return
        }
        if let key = stack[i].pendingKey {
            stack[i].entries.append(YAMLEntry(key: key.text, line: key.line, column: key.column, value: node))
            stack[i].pendingKey = nil
            return
        }
        guard case .scalar(let text, _) = node.content else {
            throw fail("mapping keys must be scalars \(Self.describe(stack[i].location))", node.line, node.column)
        }
        if let first = stack[i].entries.first(where: { $0.key == text }) {
            throw fail("duplicate key '\(text)' \(Self.describe(stack[i].location))"
                       + " (first at line \(first.line), column \(first.column))", node.line, node.column)
        }
        stack[i].pendingKey = (text, node.line, node.column)
    }

    private static func describe(_ location: String) -> String {
        location.isEmpty ? "at the top level" : "in \(location)"
    }

    private func fail(_ message: String, _ line: Int, _ column: Int) -> ConfigError {
        ConfigError(path: path, line: line, column: column, message: message)
    }
}
