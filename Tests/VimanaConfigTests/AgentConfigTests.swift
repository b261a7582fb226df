import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// The example of Protocol/AGENTS.md §1, comments and all, followed by a
/// built-in and a disabled agent written in the other accepted spellings.
let agentsFile = """
    agents:
      - id: civic                  # unique; also the consumer group's name
        name: Civic registry
        description: Issues licences
        kind: external             # external | builtin
        enabled: true
        subscribes: ["tasks.civic", "tasks.civic.*"]   # Redis glob patterns, at least one
        publishes: ["results.*"]   # optional: topics it may publish to (absent: any)
        ack_wait: 30s              # redelivered when not acknowledged within this
        max_deliver: 5             # after this many deliveries: dead-lettered
        prefetch: 1                # tasks in flight per instance
        start: new                 # new: only tasks published after the group exists; all: from the start of the ledger
        required: false            # /ready is 503 while a required agent has no live instance
        command: ["python3", "tools/agents/python_agent.py"]   # optional: the kernel starts and supervises it
        env: {LOG_LEVEL: info}
        restart: on-failure        # always | on-failure | never
        max_restarts: 5            # within a minute; more and the agent is marked failed
      - id: echo
        kind: Builtin
        subscribes: tasks.echo
        ack_wait: 250ms
        start: all
        required: yes
      - id: batch.v2-1_x
        enabled: off
        subscribes:
          - jobs.*
          - "batch"
        publishes: []
        command: ./batch  --fast -v
        env:
          EMPTY: ""
          PATH: /usr/bin
        restart: never
        max_restarts: 0
        prefetch: 10000
        max_deliver: 1000
        ack_wait: 24h

    """

/// The `agents:` section: every key, its defaults, every refusal with the text
/// `vimana check` prints, the rendered block reading back, and the wiring lines.
@Suite struct AgentConfigTests {
    // MARK: - Accepted

    @Test func documentedExampleAndOtherSpellingsLoad() throws {
        let agents = try loaded(agentsFile).agents
        try #require(agents.count == 3)

        var civic = AgentConfig(id: "civic", name: "Civic registry", subscribes: ["tasks.civic", "tasks.civic.*"])
        civic.description = "Issues licences"
        civic.publishes = ["results.*"]
        civic.command = ["python3", "tools/agents/python_agent.py"]
        civic.env = ["LOG_LEVEL": "info"]
        #expect(agents[0] == civic)
        #expect(agents[0].line == 2)
        #expect(agents[0].column == 5)

        var echo = AgentConfig(id: "echo", subscribes: ["tasks.echo"])
        echo.kind = .builtin
        echo.ackWaitMillis = 250
        echo.start = .all
        echo.required = true
        #expect(agents[1] == echo)
        #expect((agents[1].line, agents[1].column) == (18, 5))

        var batch = AgentConfig(id: "batch.v2-1_x", subscribes: ["jobs.*", "batch"])
        batch.enabled = false
        batch.publishes = []
        batch.command = ["./batch", "--fast", "-v"]
        batch.env = ["EMPTY": "", "PATH": "/usr/bin"]
        batch.restart = .never
        batch.maxRestarts = 0
        batch.prefetch = 10_000
        batch.maxDeliver = 1_000
        batch.ackWaitMillis = 86_400_000
        #expect(agents[2] == batch)
        #expect((agents[2].line, agents[2].column) == (24, 5))
    }

    @Test func onlyIDAndSubscribesAreNeededAndTheRestTakesItsDefaults() throws {
        let agents = try loaded("agents:\n  - {id: w, subscribes: t}\n").agents
        try #require(agents.count == 1)
        let a = agents[0]
        #expect(a.id == "w")
        #expect(a.name == "w")
        #expect(a.description == "")
        #expect(a.kind == .external)
        #expect(a.enabled == true)
        #expect(a.subscribes == ["t"])
        #expect(a.publishes == nil)
        #expect(a.ackWaitMillis == 30_000)
        #expect(a.maxDeliver == 5)
        #expect(a.prefetch == 1)
        #expect(a.start == .new)
        #expect(a.required == false)
        #expect(a.command == nil)
        #expect(a.env == [:])
        #expect(a.restart == .onFailure)
        #expect(a.maxRestarts == 5)
        #expect((a.line, a.column) == (2, 5))
    }

    @Test func nullOptionalKeysKeepTheirDefaults() throws {
        let a = try loaded("""
            agents:
              - id: w
                subscribes: t
                name: ~
                description:
                kind: null
                publishes: ~
                ack_wait: ~
                command: ~
                env: ~
                restart: ~
            """).agents
        #expect(a == [AgentConfig(id: "w", subscribes: ["t"])])
    }

    @Test func emptyOrAbsentListMeansNoAgents() throws {
        for text in ["agents: []\n", "agents:\n", "agents: ~\n", "kernel:\n  port: 1\n"] {
            #expect(try loaded(text).agents.isEmpty, "for \(text.debugDescription)")
        }
        #expect(Configuration().agents.isEmpty)
    }

    @Test func idsAcceptTheirWholeAlphabetUpTo64Characters() throws {
        let longest = String(repeating: "a", count: 64)
        for id in ["0", "a", "9lives", "a.b_c-d", longest] {
            #expect(try loaded("agents:\n  - {id: \(id), subscribes: t}\n").agents.first?.id == id)
        }
        // A quoted id is the same id: the schema, not the quoting, decides the type.
        #expect(try loaded("agents:\n  - {id: \"123\", subscribes: t}\n").agents.first?.id == "123")
    }

    @Test(arguments: [("1ms", 1), ("999ms", 999), ("1", 1_000), ("2m", 120_000), ("1h", 3_600_000), ("24h", 86_400_000)])
    func ackWaitReadsEveryUnit(text: String, millis: Int) throws {
        #expect(try loaded("agents:\n  - {id: w, subscribes: t, ack_wait: \(text)}\n").agents.first?.ackWaitMillis == millis)
    }

    @Test func everyBuiltinIDIsAccepted() throws {
        for id in AgentConfig.builtinIDs {
            let a = try loaded("agents:\n  - {id: \(id), kind: builtin, subscribes: t}\n").agents
            #expect(a.first?.kind == .builtin)
        }
    }

    // MARK: - Refused

    static let entryKeys = "id, name, description, kind, enabled, subscribes, publishes, ack_wait, max_deliver, "
        + "prefetch, start, required, user, capabilities, command, env, restart, max_restarts"
    static let idRule = "an id of 1 to 64 characters from a-z, 0-9, '_', '.', '-', starting with a letter or digit"
    static let ackWaitRule = "a duration from 1ms to 24h (like 500ms, 30s, 2m or 1h)"
    static let commandRule = "a command line or a sequence of strings, starting with a non-empty program name"
    static let builtinOnly = "not allowed on a built-in agent (it runs inside the kernel; only external agents are started as processes)"

    @Test(arguments: [
        // shape of the section and of an entry
        ("agents: {id: a}\n",
         "phoenix.yaml:1:9: agents: expected a sequence of agent mappings (- id: …), got a mapping"),
        ("agents: civic\n",
         "phoenix.yaml:1:9: agents: expected a sequence of agent mappings (- id: …), got 'civic'"),
        ("agents:\n  - civic\n",
         "phoenix.yaml:2:5: agents[0]: expected a mapping with keys \(entryKeys), got 'civic'"),
        ("agents:\n  - {id: a, subscribes: t}\n  -\n",
         "phoenix.yaml:3:4: agents[1]: expected a mapping with keys \(entryKeys), got ''"),
        ("agents:\n  - id: a\n    subscribes: t\n    ack_timeout: 5s\n",
         "phoenix.yaml:4:5: unknown key 'ack_timeout' in agents[0] (expected one of: \(entryKeys))"),
        ("agents:\n  - id: a\n    subscribes: t\n    id: b\n",
         "phoenix.yaml:4:5: duplicate key 'id' in agents[0] (first at line 2, column 5)"),
        // required keys
        ("agents:\n  - subscribes: t\n",
         "phoenix.yaml:2:5: agents[0]: missing required key 'id'"),
        ("agents:\n  - {id: a, subscribes: t}\n  - name: b\n    id: b\n",
         "phoenix.yaml:3:5: agents[1]: missing required key 'subscribes'"),
        // id
        ("agents:\n  - id: Civic\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got 'Civic'"),
        ("agents:\n  - id: _civic\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got '_civic'"),
        ("agents:\n  - id: \"civic registry\"\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got 'civic registry'"),
        ("agents:\n  - id: \"\"\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got ''"),
        ("agents:\n  - id: ~\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got '~' (null)"),
        ("agents:\n  - id: [a]\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got a sequence"),
        ("agents:\n  - id: \(String(repeating: "a", count: 65))\n    subscribes: t\n",
         "phoenix.yaml:2:9: agents[0].id: expected \(idRule), got '\(String(repeating: "a", count: 40))…'"),
        // duplicate ids: at the second, naming the first
        ("agents:\n  - id: a\n    subscribes: t\n  - id: b\n    subscribes: t\n  - subscribes: u\n    id: a\n",
         "phoenix.yaml:7:9: agents[2].id: duplicate agent id 'a' (first at line 2, column 9)"),
        // subscribes and publishes
        ("agents:\n  - id: a\n    subscribes: []\n",
         "phoenix.yaml:3:17: agents[0].subscribes: expected a non-empty string or a non-empty sequence of non-empty strings, got a sequence"),
        ("agents:\n  - id: a\n    subscribes: ~\n",
         "phoenix.yaml:3:17: agents[0].subscribes: expected a non-empty string or a non-empty sequence of non-empty strings, got '~' (null)"),
        ("agents:\n  - id: a\n    subscribes: ''\n",
         "phoenix.yaml:3:17: agents[0].subscribes: expected a non-empty string or a sequence of non-empty strings, got ''"),
        ("agents:\n  - id: a\n    subscribes: {t: 1}\n",
         "phoenix.yaml:3:17: agents[0].subscribes: expected a non-empty string or a sequence of non-empty strings, got a mapping"),
        ("agents:\n  - id: a\n    subscribes: [t, \"\"]\n",
         "phoenix.yaml:3:21: agents[0].subscribes[1]: expected a non-empty string, got ''"),
        ("agents:\n  - id: a\n    subscribes: t\n    publishes: [r, ~]\n",
         "phoenix.yaml:4:20: agents[0].publishes[1]: expected a non-empty string, got '~' (null)"),
        // built-ins
        ("agents:\n  - id: x\n    kind: builtin\n    subscribes: t\n",
         "phoenix.yaml:2:9: unknown built-in agent 'x' (built-ins: echo)"),
        ("agents:\n  - id: echo\n    kind: builtin\n    subscribes: t\n    command: [echo]\n",
         "phoenix.yaml:5:5: agents[0].command: \(builtinOnly)"),
        ("agents:\n  - id: echo\n    kind: builtin\n    subscribes: t\n    env: {A: b}\n",
         "phoenix.yaml:5:5: agents[0].env: \(builtinOnly)"),
        ("agents:\n  - id: echo\n    restart: never\n    kind: builtin\n    subscribes: t\n",
         "phoenix.yaml:3:5: agents[0].restart: \(builtinOnly)"),
        ("agents:\n  - id: echo\n    kind: builtin\n    subscribes: t\n    max_restarts: 0\n    command: ~\n",
         "phoenix.yaml:5:5: agents[0].max_restarts: \(builtinOnly)"),
        // durations
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 0}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '0'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 0ms}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '0ms'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 25h}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '25h'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 86400001ms}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '86400001ms'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 1.5s}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '1.5s'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 1d}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '1d'"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: 99999999999999999999h}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got '99999999999999999999h' (too large)"),
        ("agents:\n  - {id: a, subscribes: t, ack_wait: [1s]}\n",
         "phoenix.yaml:2:38: agents[0].ack_wait: expected \(ackWaitRule), got a sequence"),
        // integers, enumerations and booleans
        ("agents:\n  - {id: a, subscribes: t, max_deliver: 0}\n",
         "phoenix.yaml:2:41: agents[0].max_deliver: expected an integer from 1 to 1000, got '0'"),
        ("agents:\n  - {id: a, subscribes: t, max_deliver: 1001}\n",
         "phoenix.yaml:2:41: agents[0].max_deliver: expected an integer from 1 to 1000, got '1001'"),
        ("agents:\n  - {id: a, subscribes: t, prefetch: 0}\n",
         "phoenix.yaml:2:38: agents[0].prefetch: expected an integer from 1 to 10000, got '0'"),
        ("agents:\n  - {id: a, subscribes: t, prefetch: 10001}\n",
         "phoenix.yaml:2:38: agents[0].prefetch: expected an integer from 1 to 10000, got '10001'"),
        ("agents:\n  - {id: a, subscribes: t, max_restarts: -1}\n",
         "phoenix.yaml:2:42: agents[0].max_restarts: expected an integer from 0 to 1000, got '-1'"),
        ("agents:\n  - {id: a, subscribes: t, max_restarts: 1001}\n",
         "phoenix.yaml:2:42: agents[0].max_restarts: expected an integer from 0 to 1000, got '1001'"),
        ("agents:\n  - {id: a, subscribes: t, kind: internal}\n",
         "phoenix.yaml:2:34: agents[0].kind: expected one of builtin, external, got 'internal'"),
        ("agents:\n  - {id: a, subscribes: t, start: latest}\n",
         "phoenix.yaml:2:35: agents[0].start: expected one of new, all, got 'latest'"),
        ("agents:\n  - {id: a, subscribes: t, restart: sometimes}\n",
         "phoenix.yaml:2:37: agents[0].restart: expected one of always, on-failure, never, got 'sometimes'"),
        ("agents:\n  - {id: a, subscribes: t, enabled: maybe}\n",
         "phoenix.yaml:2:37: agents[0].enabled: expected true or false (or yes/no, on/off), got 'maybe'"),
        ("agents:\n  - {id: a, subscribes: t, required: 2}\n",
         "phoenix.yaml:2:38: agents[0].required: expected true or false (or yes/no, on/off), got '2'"),
        // strings
        ("agents:\n  - {id: a, subscribes: t, name: \"\"}\n",
         "phoenix.yaml:2:34: agents[0].name: expected a non-empty string, got ''"),
        ("agents:\n  - {id: a, subscribes: t, description: [x]}\n",
         "phoenix.yaml:2:41: agents[0].description: expected a string, got a sequence"),
        // command
        ("agents:\n  - {id: a, subscribes: t, command: []}\n",
         "phoenix.yaml:2:37: agents[0].command: expected \(commandRule), got a sequence"),
        ("agents:\n  - {id: a, subscribes: t, command: \"  \"}\n",
         "phoenix.yaml:2:37: agents[0].command: expected \(commandRule), got '  '"),
        ("agents:\n  - {id: a, subscribes: t, command: [\"\", x]}\n",
         "phoenix.yaml:2:37: agents[0].command: expected \(commandRule), got a sequence"),
        ("agents:\n  - {id: a, subscribes: t, command: {run: x}}\n",
         "phoenix.yaml:2:37: agents[0].command: expected \(commandRule), got a mapping"),
        ("agents:\n  - {id: a, subscribes: t, command: [x, ~]}\n",
         "phoenix.yaml:2:41: agents[0].command[1]: expected a string without NUL bytes, got '~' (null)"),
        ("agents:\n  - {id: a, subscribes: t, command: [x, \"a\\0b\"]}\n",
         "phoenix.yaml:2:41: agents[0].command[1]: expected a string without NUL bytes, got 'a\u{0}b'"),
        // env
        ("agents:\n  - {id: a, subscribes: t, env: [A]}\n",
         "phoenix.yaml:2:33: agents[0].env: expected a mapping of variable names to strings, got a sequence"),
        ("agents:\n  - id: a\n    subscribes: t\n    env:\n      A: 1\n      \"B=C\": 2\n",
         "phoenix.yaml:6:7: agents[0].env: expected a variable name without '=' or NUL bytes, got 'B=C'"),
        ("agents:\n  - id: a\n    subscribes: t\n    env:\n      A:\n",
         "phoenix.yaml:5:9: agents[0].env.A: expected a string without NUL bytes (quote it: \"\" for empty), got '' (null)"),
        ("agents:\n  - id: a\n    subscribes: t\n    env: {A: {b: c}}\n",
         "phoenix.yaml:4:14: agents[0].env.A: expected a string without NUL bytes (quote it: \"\" for empty), got a mapping"),
    ])
    func errorNamesPositionAndExpectation(yaml: String, expected: String) {
        #expect(loadError(yaml)?.description == expected)
    }

    /// The first mistake in the file stops loading: a later entry is not looked at.
    @Test func anEarlierEntryIsReportedFirst() {
        let yaml = "agents:\n  - id: Bad\n    subscribes: t\n  - id: a\n"
        #expect(loadError(yaml)?.description == "phoenix.yaml:2:9: agents[0].id: expected \(Self.idRule), got 'Bad'")
    }

    // MARK: - Rendered

    @Test func agentsRenderAsBlockMappingsWithEveryKey() throws {
        let config = try loaded(agentsFile)
        #expect(config.render().hasSuffix("""
            agents:
              - id: civic
                name: "Civic registry"
                description: "Issues licences"
                kind: external
                enabled: true
                subscribes: ["tasks.civic", "tasks.civic.*"]
                publishes: ["results.*"]
                ack_wait: 30s
                max_deliver: 5
                prefetch: 1
                start: new
                required: false
                user: ~
                capabilities: []
                command: ["python3", "tools/agents/python_agent.py"]
                env: {LOG_LEVEL: info}
                restart: on-failure
                max_restarts: 5
              - id: echo
                name: echo
                description: ""
                kind: builtin
                enabled: true
                subscribes: ["tasks.echo"]
                publishes: ~
                ack_wait: 250ms
                max_deliver: 5
                prefetch: 1
                start: all
                required: true
                user: ~
                capabilities: []
              - id: batch.v2-1_x
                name: batch.v2-1_x
                description: ""
                kind: external
                enabled: false
                subscribes: ["jobs.*", "batch"]
                publishes: []
                ack_wait: 24h
                max_deliver: 1000
                prefetch: 10000
                start: new
                required: false
                user: ~
                capabilities: []
                command: ["./batch", "--fast", "-v"]
                env: {EMPTY: "", PATH: /usr/bin}
                restart: never
                max_restarts: 0
            \(renderedDefaultSystem)

            """))
    }

    @Test func noAgentsRendersAnEmptyList() {
        #expect(Configuration().render().contains("\nusers: []\nagents: []\nsystem:\n"))
    }

    @Test func renderedAgentsLoadBackEqual() throws {
        var odd = AgentConfig(id: "null", name: "~", subscribes: ["*", "a,b", "[x]", "#c", "-x"])
        odd.description = "line\nbreak \"quoted\" tab\t: colon # hash"
        odd.publishes = ["ls\u{2028}", "é"]
        odd.ackWaitMillis = 1_500
        odd.maxDeliver = 1
        odd.prefetch = 3
        odd.start = .all
        odd.required = true
        odd.command = ["/bin/sh", "-c", "echo \"$X\"", ""]
        odd.env = ["null": "~", "X": "a b", "Y": "", "Z": "{}", "W": "-"]
        odd.restart = .always
        odd.maxRestarts = 1_000
        var minutes = AgentConfig(id: "m", subscribes: ["t"])
        minutes.ackWaitMillis = 120_000
        minutes.enabled = false

        var withAgents = Configuration(source: "odd")
        withAgents.agents = [odd, minutes]
        for original in [try loaded(agentsFile), withAgents, Configuration()] {
            // The wiring comment printed after the configuration must not change what it loads to.
            var reloaded = try loaded(original.render() + original.wiringDescription(), path: "rendered.yaml")
            reloaded.source = original.source
            #expect(reloaded == original)
        }
    }

    // MARK: - Wiring

    @Test func wiringListsEachAgentInFileOrder() throws {
        #expect(try loaded(agentsFile).wiringDescription() == """
            # wiring
            # agent civic (external, enabled): subscribes tasks.civic, tasks.civic.*; ack_wait 30s, max_deliver 5, prefetch 1, start new; user agent:civic; command python3 tools/agents/python_agent.py, restart on-failure, max_restarts 5
            # agent echo (builtin, enabled): subscribes tasks.echo; ack_wait 250ms, max_deliver 5, prefetch 1, start all, required
            # agent batch.v2-1_x (external, disabled: not wired)

            """)
    }

    @Test func externalAgentWithoutCommandWaitsForInstancesToJoin() throws {
        let config = try loaded("agents:\n  - {id: w, subscribes: [a, b*], ack_wait: 2m}\n")
        #expect(config.wiringDescription() == """
            # wiring
            # agent w (external, enabled): subscribes a, b*; ack_wait 2m, max_deliver 5, prefetch 1, start new; user agent:w; no command: instances connect with AGENT JOIN w

            """)
    }

    @Test func wiringQuotesAwkwardArgumentsAndKeepsEachAgentOnOneLine() {
        var a = AgentConfig(id: "w", subscribes: ["new\nline"])
        a.command = ["sh", "-c", "echo \"hi there\"", ""]
        var config = Configuration()
        config.agents = [a]
        #expect(config.wiringDescription() == """
            # wiring
            # agent w (external, enabled): subscribes new?line; ack_wait 30s, max_deliver 5, prefetch 1, start new; user agent:w; command sh -c "echo \\"hi there\\"" "", restart on-failure, max_restarts 5

            """)
    }

    @Test func noAgentsIsSaid() {
        #expect(Configuration().wiringDescription() == "# wiring\n# no agents\n")
    }
}
