import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// What the libyaml layer rejects before the schema sees anything.
@Suite struct YAMLReaderTests {
    @Test func syntaxErrorCarriesLibyamlProblemAndPosition() throws {
        let error = try #require(loadError("kernel:\n  port: 1\n bind: 0.0.0.0\n"))
        #expect(error.line == 3)
        #expect(error.column == 2)
        #expect(error.description == "phoenix.yaml:3:2: invalid YAML: did not find expected key"
                + " (while parsing a block mapping at line 1, column 1)")
    }

    @Test func unterminatedFlowMappingIsASyntaxError() {
        #expect(loadError("kernel: {port: 1\n")?.description
                == "phoenix.yaml:2:1: invalid YAML: did not find expected ',' or '}'"
                + " (while parsing a flow mapping at line 1, column 9)")
    }

    @Test func tabIndentationIsASyntaxError() {
        #expect(loadError("kernel:\n\tport: 1\n")?.description
                == "phoenix.yaml:2:1: invalid YAML: found character that cannot start any token"
                + " (while scanning for the next token at line 2, column 1)")
    }

    @Test func controlCharacterIsRejectedAtItsPosition() {
        #expect(loadError("kernel:\n  bind: \u{7}\n")?.description
                == "phoenix.yaml:2:9: invalid YAML input: control characters are not allowed (0x07)")
    }

    @Test func duplicateKeyIsRejectedAtTheSecondOccurrence() {
        #expect(loadError("kernel:\n  port: 1\n  bind: 0.0.0.0\n  port: 2\n")?.description
                == "phoenix.yaml:4:3: duplicate key 'port' in kernel (first at line 2, column 3)")
        #expect(loadError("kernel: {}\nlogging: {}\nkernel: {}\n")?.description
                == "phoenix.yaml:3:1: duplicate key 'kernel' at the top level (first at line 1, column 1)")
    }

    @Test func aliasIsRejected() {
        #expect(loadError("kernel:\n  port: *p\n")?.description
                == "phoenix.yaml:2:9: kernel.port: aliases are not supported (found '*p'); write the value out, or quote a text that starts with '*' (\"*p\")")
    }

    @Test func anchorIsRejected() {
        #expect(loadError("kernel:\n  limits: &l\n    max_clients: 5\n")?.description
                == "phoenix.yaml:2:11: kernel.limits: anchors are not supported (found '&l'); write the value out, or quote a text that starts with '&' (\"&l\")")
        #expect(loadError("kernel:\n  port: &p 1\n")?.description
                == "phoenix.yaml:2:9: kernel.port: anchors are not supported (found '&p'); write the value out, or quote a text that starts with '&' (\"&p\")")
    }

    /// An unquoted secret that starts with `*` or `&` is read as an alias or
    /// an anchor: the message names the file, line, column and key, never
    /// the text (nor any other value of a key that may hold a secret).
    @Test func anAliasOrAnchorWhereASecretGoesIsNotEchoed() {
        let hidden = " are not supported; write the value out, or quote a text that starts with"
        let cases: [(yaml: String, secret: String, expected: String)] = [
            ("kernel:\n  password: *hunter2\n", "hunter2", "phoenix.yaml:2:13: kernel.password: aliases\(hidden) '*' (not shown: it may be a secret)"),
            ("kernel:\n  http_token: &tok3n\n", "tok3n", "phoenix.yaml:2:15: kernel.http_token: anchors\(hidden) '&' (not shown: it may be a secret)"),
            ("users:\n  - name: a\n    password: &s3cret rest\n", "s3cret",
             "phoenix.yaml:3:15: users[0].password: anchors\(hidden) '&' (not shown: it may be a secret)"),
            ("users:\n  - name: a\n    password_hashes: [*d1gest]\n", "d1gest",
             "phoenix.yaml:3:23: users[0].password_hashes[0]: aliases\(hidden) '*' (not shown: it may be a secret)"),
            ("agents:\n  - id: x\n    subscribes: [t]\n    command: [\"/bin/true\"]\n    env:\n      API_KEY: *k3y\n", "k3y",
             "phoenix.yaml:6:16: agents[0].env.API_KEY: aliases\(hidden) '*' (not shown: it may be a secret)"),
            ("agents:\n  - id: x\n    subscribes: [t]\n    command: [\"/bin/true\"]\n    env:\n      API_KEY: \"k3y\\0\"\n", "k3y",
             "phoenix.yaml:6:16: agents[0].env.API_KEY: expected a string without NUL bytes (quote it: \"\" for empty),"
                + " got a value not shown (it may be a secret)"),
        ]
        for (yaml, secret, expected) in cases {
            let message = loadError(yaml)?.description ?? ""
            #expect(message == expected, "for \(yaml)")
            #expect(!message.contains(secret), "for \(yaml)")
        }
    }

    @Test func secondDocumentIsRejected() {
        #expect(loadError("kernel: {}\n---\nlogging: {}\n")?.description
                == "phoenix.yaml:2:1: only one YAML document is allowed in a configuration file")
    }

    @Test func nonScalarKeyIsRejected() {
        #expect(loadError("? [kernel]\n: 1\n")?.description
                == "phoenix.yaml:1:3: mapping keys must be scalars at the top level")
    }

    @Test func deepNestingIsRejected() {
        let deep = "kernel: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
        #expect(loadError(deep)?.message == "nesting is deeper than 64 levels")
    }

    @Test func missingFileNamesPathAndReason() {
        let path = "/nonexistent/vimana/phoenix.yaml"
        do throws(ConfigError) {
            _ = try ConfigLoader.load(path: path)
            Issue.record("loaded a file that does not exist")
        } catch {
            #expect(error.description == "\(path): cannot open configuration file: No such file or directory")
            #expect(error.line == 0)
            #expect(error.column == 0)
        }
    }

    @Test func directoryIsAnUnreadableFile() {
        do throws(ConfigError) {
            _ = try ConfigLoader.load(path: "/tmp")
            Issue.record("loaded a directory")
        } catch {
            #expect(error.description == "/tmp: cannot read configuration file: Is a directory")
        }
    }

    @Test func invalidUTF8InAFileIsRejectedWithPosition() throws {
        let file = TemporaryFile(Array("kernel:\n  bind: ".utf8) + [0xFF] + Array("\n".utf8))
        defer { file.remove() }
        do throws(ConfigError) {
            _ = try ConfigLoader.load(path: file.path)
            Issue.record("loaded invalid UTF-8")
        } catch {
            #expect(error.line == 2)
            #expect(error.column == 9)
            #expect(error.message.hasPrefix("invalid YAML input: "))
        }
    }
}
