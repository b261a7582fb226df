import Testing
import VimanaConfig
@testable import VimanaConfigLoader

/// The user each agent runs as (Protocol/AGENTS.md §9): the one its `user:`
/// names, or `agent:<id>`, a name no `users:` entry may take.
@Suite struct AgentUserConfigTests {
    @Test func aDeclaredUserMayNotTakeTheNameOfAnAgentsOwnUser() {
        #expect(loadError("users:\n  - name: \"agent:civic\"\n")?.description
                == "phoenix.yaml:2:11: users[0].name: 'agent:civic': names beginning with 'agent:' are the users"
                    + " the kernel makes for agents; name this user otherwise and give it to the agent with user:")
        #expect(loadError("users:\n  - name: \"agent:\"\n") != nil)
        // Only the prefix is reserved.
        #expect(loadError("users:\n  - name: my-agent:civic\n    nopass: true\n") == nil)
        #expect(loadError("users:\n  - name: Agent:civic\n    nopass: true\n") == nil)
    }

    @Test func anAgentRunsAsItsDeclaredUserOrItsOwn() throws {
        let config = try loaded("""
            users:
              - name: bot
                nopass: true
            agents:
              - id: civic
                subscribes: ["tasks.civic"]
                user: bot
              - id: tax
                subscribes: ["tasks.tax"]
              - id: fallback
                subscribes: ["tasks.fallback"]
                user: default
            """)
        #expect(config.agents.map(\.runsAs) == ["bot", "agent:tax", "default"])
    }
}
