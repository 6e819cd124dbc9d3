import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Testing

/// The example in examples/custom-job-type, compiled here, registered with one line and run.
@Suite("A custom job type, as examples/ shows it")
struct CustomJobTypeTests {
    let registry = JobTypeRegistry(Array(BuiltInJobTypes.registry.types.values) + [DiskSpaceJob.self])

    @Test func itsKeysAreValidatedLikeBuiltInOnes() {
        let result = ConfigLoader(registry: registry).load(bytes: Array("""
        jobs:
          disk-space: { paths: [/], minimumFreePercnt: 5 }
        """.utf8), path: "batch.yaml")
        guard case .failure(let invalid) = result else {
            Issue.record("expected an error")
            return
        }
        #expect(invalid.diagnostics.map(\.description) == [
            "batch.yaml:2:29: error: jobs.disk-space.minimumFreePercnt: unknown key 'minimumFreePercnt' (did you mean 'minimumFreePercent'?)",
        ])
    }

    @Test func itRunsAndReports() async throws {
        let config = try ConfigLoader(registry: registry).load(bytes: Array("""
        jobs:
          disk-space: { paths: [/, /tmp], minimumFreePercent: 0 }
        """.utf8), path: "/tmp/batch.yaml").get()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let record = try await Engine.runOnce(try #require(config.job(named: "disk-space")), config: config,
                                              history: InMemoryHistoryStore(), logger: logger)
        #expect(record.status == .completed && record.itemsChecked == 2 && record.displayName == "Disk Space Check")
        #expect(record.logs.first?.message.hasPrefix("/: ") == true)
    }
}
