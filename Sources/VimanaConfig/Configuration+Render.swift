extension Configuration {
    /// The configuration as phoenix.yaml text, in the documented layout, after
    /// a first line `# effective configuration (source: …)`. Sizes are printed
    /// in the largest exact binary unit (`1MiB`, `64KiB`, or plain bytes) and a
    /// disabled HTTP port as `off`.
    ///
    /// Promises: loading the text gives a `Configuration` equal to this one
    /// except for `source` and `kernel.password` (a secret: only its presence is shown). Used by `vimana serve --dry-run` and `vimana check`.
    public func render() -> String {
        let l = kernel.limits
        let lines = [
            "# effective configuration (source: \(Self.oneLine(source)))",
            "kernel:",
            "  bind: \(Self.yamlString(kernel.bind))",
            "  port: \(kernel.port)",
            "  http_port: \(kernel.httpPort == -1 ? "off" : String(kernel.httpPort))",
        ] + (kernel.password == nil ? [] : ["  # password: set (not shown)"]) + [
            "  limits:",
            "    max_clients: \(l.maxClients)",
            "    max_payload: \(Units.formatSize(l.maxPayload))",
            "    max_inline: \(Units.formatSize(l.maxInline))",
            "    query_buffer_before_auth: \(Units.formatSize(l.queryBufferBeforeAuth))",
            "    pubsub_output:",
            "      hard: \(Units.formatSize(l.pubsubOutputHard))",
            "      soft: \(Units.formatSize(l.pubsubOutputSoft))",
            "      soft_seconds: \(l.pubsubOutputSoftSeconds)",
            "logging:",
            "  level: \(logging.level.name)",
            "  format: \(logging.format.rawValue)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A comment must stay on its line whatever the source path contains.
    private static func oneLine(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }

    /// Plain for a dotted quad (a validated address always is one), double-quoted otherwise,
    /// so that no other text can be read back as a number, null or a mapping.
    private static func yamlString(_ text: String) -> String {
        let plain = text.utf8.contains(UInt8(ascii: ".")) && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".")
        }
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20: quoted += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
