import Testing
import VimanaACL
import VimanaConfig
@testable import VimanaKernel

/// The parts of agents' identities that need no server: start secrets, who
/// is an admin, the rules of an agent's made user.
@Suite struct AgentIdentityUnitTests {
    @Test func aStartSecretOpensOnlyItsUser() {
        let secrets = AgentSecrets()
        let secret = secrets.issue(for: "agent:civic")
        #expect(secret.utf8.count == 2 * KernelConstants.agentSecretBytes)
        #expect(secret.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }, "lower-case hex")
        #expect(secrets.accepts("agent:civic", password: Array(secret.utf8)))
        #expect(!secrets.accepts("agent:tax", password: Array(secret.utf8)))
        #expect(!secrets.accepts("agent:civic", password: Array(secret.utf8.dropLast())))
        #expect(!secrets.accepts("agent:civic", password: Array(secret.utf8) + [0]))
        #expect(!secrets.accepts("agent:civic", password: []))
        #expect(!secrets.accepts("agent:civic", password: Array(secret.uppercased().utf8)))
    }

    @Test func eachStartGetsAnotherSecretAndSeveralAgentsMayShareAUser() {
        let secrets = AgentSecrets()
        let a = secrets.issue(for: "bot"), b = secrets.issue(for: "bot")
        #expect(a != b)
        #expect(secrets.accepts("bot", password: Array(a.utf8)) && secrets.accepts("bot", password: Array(b.utf8)))
        #expect(AgentSecrets().accepts("bot", password: Array(a.utf8)) == false, "a new kernel knows no old secret")
    }

    @Test func anAdminIsAllowedEveryAdminCommand() throws {
        let users = Users(config: Configuration())
        let catalogue = users.catalogue
        func user(_ rules: String) throws -> ACLUser {
            var u = ACLUser(name: "u", catalogue: catalogue)
            for rule in rules.split(separator: " ") { try u.apply(Array(rule.utf8), catalogue: catalogue) }
            return u
        }
        #expect(!users.adminCommandIDs.isEmpty)
        #expect(users.isAdmin(users.defaultUser))
        #expect(users.isAdmin(try user("+@all")))
        #expect(users.isAdmin(try user("+@admin")))
        #expect(!users.isAdmin(try user("+@all -@admin")))
        #expect(!users.isAdmin(try user("+@all -acl|setuser")))
        #expect(!users.isAdmin(try user("-@all")))
    }

    @Test func aMadeUserHasItsAgentsTopicsAndNoAdminCommand() {
        var agent = AgentConfig(id: "civic", subscribes: ["tasks.civic", "tasks.civic.*"])
        agent.publishes = ["results.*", "tasks.civic"]
        let rules = Users.agentRules(agent)
        #expect(rules.prefix(3) == ["on", "resetchannels", "-@all"])
        #expect(rules.suffix(6) == ["~tasks.civic", "~tasks.civic.*", "~results.*", "&tasks.civic", "&tasks.civic.*", "&results.*"])
        agent.publishes = nil
        #expect(Users.agentRules(agent).suffix(2) == ["allkeys", "allchannels"])

        var config = Configuration()
        config.agents = [agent, AgentConfig(id: "named", subscribes: ["x"])]
        config.agents[1].user = "default"
        let users = Users(config: config)
        let made = users.byName["agent:civic"]
        #expect(made?.enabled == true && made?.nopass == false && made?.passwordHashes.isEmpty == true)
        #expect(made.map(users.isAdmin) == false)
        #expect(users.byName["agent:named"] == nil, "an agent with user: has no made user")
        #expect(users.names == ["agent:civic", "default"])
    }
}
