import Foundation
import Testing

/// README.md's examples, run as written by tools/compat/readme_examples.py:
/// every shell command of its ```sh blocks (against servers it starts the
/// way the README does, on free ports instead of 7379: the script's header
/// says exactly how the port is substituted), its Python snippet, its YAML
/// snippet through `vimana check`, and its netcat sessions byte for byte.
/// Extracted from README.md itself, so the test breaks when the README drifts.
@Suite struct ReadmeExamplesTests {
    @Test func readmeExamplesRunAsWritten() throws {
        try CompatibilityTests.requirePythonRedis()
        for tool in ["redis-cli", "nc"] where CompatibilityTests.executableInPath(tool) == nil {
            throw TestFailure("\(tool) is not installed: run `make test` (tools/install-deps.sh test installs it)")
        }
        let script = CompatibilityTests.packageRoot.appendingPathComponent("tools/compat/readme_examples.py").path
        let run = try CompatibilityTests.runTool(["python3", script, "--vimana", ServerProcess.binaryPath], timeout: 900)
        #expect(run.status == 0 && !run.timedOut, """
            readme_examples.py \(run.timedOut ? "timed out" : "exited with status \(run.status)"); its output:
            \(run.output)
            """)
        #expect(run.output.contains("readme_examples: OK: "), "\(run.output)")
    }
}
