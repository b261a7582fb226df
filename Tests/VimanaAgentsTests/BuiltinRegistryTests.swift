import Testing
import VimanaConfig
@testable import VimanaAgents

/// The loader (VimanaConfig, which cannot see VimanaAgents) accepts
/// `kind: builtin` for the ids in `AgentConfig.builtinIDs`; the kernel runs
/// the types in `BuiltinAgents.all`. The two lists name the same agents.
@Suite struct BuiltinRegistryTests {
    @Test func theLoadersBuiltinIDsAreTheRegistrysAgents() {
        let registered = BuiltinAgents.all.map { $0.manifest.id }
        #expect(Set(registered) == AgentConfig.builtinIDs)
        #expect(Set(registered).count == registered.count, "one type per id")
        for id in registered { #expect(BuiltinAgents.type(for: id) != nil) }
    }
}
