import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// Every recipe of examples/jq-recipes.md, run as written (with `.batchd` pointing at the test's
/// state directory) against a history the real daemon made: successes, failures, and a
/// docker-hub-pull run that found an image moved behind its tag on a real registry.
@Suite("The jq recipes of examples/jq-recipes.md")
struct JQRecipeTests {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/jq-recipes.md")

    /// The recipes: each `### title` and the shell block under it.
    static func recipes() throws -> [(title: String, script: String)] {
        let text = try String(contentsOf: page, encoding: .utf8)
        var recipes: [(String, String)] = []
        var title: String?
        var block: [String]?
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("### ") { title = String(line.dropFirst(4)) }
            if line == "```sh" { block = [] } else if line == "```", let lines = block, let current = title {
                recipes.append((current, lines.joined(separator: "\n")))
                block = nil
                title = nil
            } else if block != nil {
                block!.append(line)
            }
        }
        return recipes
    }

    func run(_ script: String, in folder: URL) throws -> [JSONValue] {
        let outcome = try BatchdProcess.runTool("/bin/sh", ["-c", "cd '\(folder.path)' && \(script)"])
        #expect(outcome.status == 0, "\(script): \(outcome.stderr)")
        return outcome.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
    }

    @Test func everyRecipeAnswersFromARealHistory() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/jq"), "jq is installed by scripts/install-deps --test")
        try #require(LocalRegistry.isInstalled, "docker-registry is installed by scripts/install-deps --test")
        let registry = try await OffPool.run { try LocalRegistry() }
        let first = try await registry.pushed("team/web", tag: "1", content: "one")
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        history: { fsync: false }
        jobs:
          ok: { type: command, enabled: true, every: 1s, shell: 'echo "{\\"itemsChecked\\": 2, \\"itemsUpdated\\": 0}"' }
          bad: { type: command, enabled: true, every: 1s, retry: { maxAttempts: 1 }, shell: 'echo about to fail; exit 3' }
          docker-hub-pull: { enabled: true, every: 1s, registry: '\(registry.baseURL)', images: [team/web:1] }
        """)
        let daemon = try DaemonProcess(folder: folder)
        let seen = try await OffPool.run { daemon.waitForLine("first sighting", "job=docker-hub-pull") ?? 0 }
        let moved = try await registry.pushed("team/web", tag: "1", content: "two")
        try await OffPool.run {
            daemon.waitForLine("new image behind the tag", "job=docker-hub-pull", after: seen)
            let updated = daemon.waitForLine("run recorded", "job=docker-hub-pull", after: seen) ?? 0
            daemon.waitForLine("run recorded", "job=bad", after: updated)
            daemon.signal(SIGTERM)
            _ = daemon.exitStatus()
        }
        let runs = try ["ok", "bad", "docker-hub-pull"].flatMap { try daemon.records($0) }
        let recipes = try Self.recipes()
        #expect(recipes.map(\.title) == ["Failures of the last day", "Mean duration per job", "Images updated this week", "Failure rate per job",
                                         "The latest run of each job", "Runs slower than ten seconds", "Every log line of one run"])
        var answers: [String: [JSONValue]] = [:]
        for (title, script) in recipes where title != "Every log line of one run" { answers[title] = try run(script, in: folder.url) }

        let failures = try #require(answers["Failures of the last day"])
        #expect(failures.count == runs.filter { $0["status"] as? String != "completed" }.count && !failures.isEmpty)
        #expect(failures.allSatisfy { $0["jobType"] == "bad" && $0["status"] == "failed" && $0["error"] == "/bin/sh exited with status 3" })

        let means = try #require(answers["Mean duration per job"])
        #expect(Set(means.compactMap { $0["job"]?.stringValue }) == ["ok", "bad", "docker-hub-pull"])
        #expect(means.first { $0["job"] == "ok" }?["runs"]?.intValue == Int64(runs.filter { $0["jobType"] as? String == "ok" }.count))

        #expect(answers["Images updated this week"] == [["image": "team/web:1", "old": .string(first), "new": .string(moved)]])

        let rates = try #require(answers["Failure rate per job"])
        #expect(rates.first { $0["job"] == "bad" }?["failed"] == rates.first { $0["job"] == "bad" }?["runs"])
        #expect(rates.first { $0["job"] == "ok" }?["failed"] == 0)

        let latest = try #require(answers["The latest run of each job"])
        #expect(latest.count == 3)
        for answer in latest {
            let job = try #require(answer["jobType"]?.stringValue)
            #expect(answer["id"]?.intValue == Int64(try daemon.records(job).last?["id"] as? Int ?? -1))
        }
        #expect(answers["Runs slower than ten seconds"] == [])

        // The log lines of one run: the failing job's, with its output.
        let badRun = try #require(try daemon.records("bad").first?["id"] as? Int)
        let script = try #require(recipes.last?.script).replacingOccurrences(of: "--argjson id 3", with: "--argjson id \(badRun)")
        let lines = try BatchdProcess.runTool("/bin/sh", ["-c", "cd '\(folder.url.path)' && \(script)"]).stdout
        #expect(lines.contains(" info about to fail\n") && lines.contains(" error run failed: /bin/sh exited with status 3"))
    }
}
