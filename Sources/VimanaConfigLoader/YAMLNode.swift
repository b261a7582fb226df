/// One node of a parsed YAML document, with the 1-based line and column
/// where it starts in the source.
///
/// Promises (made by `YAMLReader`): mapping keys are scalars, unique within
/// their mapping, in source order; there are no aliases or anchors.
struct YAMLNode: Sendable {
    enum Content: Sendable {
        /// `plain` is false for quoted and block scalars: only a plain scalar can mean null.
        case scalar(String, plain: Bool)
        case mapping([YAMLEntry])
        case sequence([YAMLNode])
    }

    let content: Content
    let line: Int
    let column: Int

    /// YAML's null (`~`, `null`, or nothing at all): a configuration value
    /// that is null keeps its default.
    var isNull: Bool {
        guard case .scalar(let text, plain: true) = content else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// What was found, for "expected …, got …" messages: `'text'`, `a mapping`, `a sequence`.
    var summary: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .scalar(let text, _):
            let short = text.count > 40 ? String(text.prefix(40)) + "…" : text
            let shown = short.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
            return "'\(shown)'"
        }
    }
}

/// A `key: value` pair of a mapping; the position is the key's.
struct YAMLEntry: Sendable {
    let key: String
    let line: Int
    let column: Int
    let value: YAMLNode
}
